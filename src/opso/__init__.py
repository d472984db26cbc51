"""opso: a bioacoustics toolkit (audio clips, spectrograms, labels, CNN detectors, localization).

Every name of the OpenSoundscape 0.4 API is reachable from here under its spec name. Names
resolve lazily, so ``import opso`` stays light and never imports torch.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("opso")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

#: Public name -> module that defines it.
_EXPORTS: dict[str, str] = {
    # audio
    "Audio": "opso.api",
    "split_and_save": "opso.api",
    "OpsoError": "opso.domain.errors",
    "OpsoLoadAudioInputError": "opso.domain.errors",
    "OpsoLoadAudioInputTooLong": "opso.domain.errors",
    "AudioReadError": "opso.domain.errors",
    "AudioWriteError": "opso.domain.errors",
    # audio_tools
    "butter_bandpass": "opso.domain.dsp",
    "bandpass_filter": "opso.domain.dsp",
    "clipping_detector": "opso.domain.dsp",
    "window_energy": "opso.domain.dsp",
    "silence_filter": "opso.api",
    # spectrogram
    "Spectrogram": "opso.api",
    "MelSpectrogram": "opso.api",
    "Pcen": "opso.domain.spectrogram",
    "SpectrogramInputError": "opso.domain.errors",
    "SpectrogramParameterError": "opso.domain.errors",
    "ImageReadError": "opso.domain.errors",
    "ImageWriteError": "opso.domain.errors",
    # helpers
    "binarize": "opso.domain.helpers",
    "bound": "opso.domain.helpers",
    "file_name": "opso.domain.helpers",
    "hex_to_time": "opso.domain.helpers",
    "isNan": "opso.domain.helpers",
    "jitter": "opso.domain.helpers",
    "linear_scale": "opso.domain.helpers",
    "min_max_scale": "opso.domain.helpers",
    "rescale_features": "opso.domain.helpers",
    "sigmoid": "opso.domain.helpers",
    # annotations, raven, datasets (labelling), data_selection
    "Annotation": "opso.domain.annotations",
    "AnnotationSet": "opso.domain.annotations",
    "ClipLabels": "opso.domain.annotations",
    "AnnotationError": "opso.domain.errors",
    "AnnotationFormatError": "opso.domain.errors",
    "annotation_check": "opso.raven",
    "lowercase_annotations": "opso.raven",
    "generate_class_corrections": "opso.raven",
    "query_annotations": "opso.raven",
    "raven_audio_split_and_save": "opso.raven",
    "split_starts_ends": "opso.raven",
    "split_single_annotation": "opso.raven",
    "annotations_with_overlaps_with_clip": "opso.datasets_labels",
    "get_md5_digest": "opso.datasets_labels",
    "SplitterDataset": "opso.datasets_labels",
    "expand_multi_labeled": "opso.app.data_selection",
    "train_valid_split": "opso.app.data_selection",
    "add_binary_numeric_labels": "opso.app.data_selection",
    "add_numeric_labels": "opso.app.data_selection",
    "upsample": "opso.app.data_selection",
    # localization
    "calc_speed_of_sound": "opso.domain.localization",
    "localize": "opso.domain.localization",
    "lorentz_ip": "opso.domain.localization",
    "travel_time": "opso.domain.localization",
    "ReceiverArray": "opso.domain.receivers",
    "LocalizationError": "opso.domain.errors",
    # audio_tools (ffmpeg), commands, config, taxa
    "convolve_file": "opso.audio_tools",
    "mixdown_with_delays": "opso.audio_tools",
    "AudioToolError": "opso.domain.errors",
    "run_command": "opso.api",
    "run_command_return_code": "opso.api",
    "get_default_config": "opso.app.settings",
    "validate": "opso.app.settings",
    "validate_file": "opso.app.settings",
    "ConfigError": "opso.domain.errors",
    "get_species_list": "opso.taxa",
    "sci_to_bn_common": "opso.taxa",
    "sci_to_xc_common": "opso.taxa",
    "xc_common_to_sci": "opso.taxa",
    "bn_common_to_sci": "opso.taxa",
    "common_to_sci": "opso.taxa",
    "UnknownSpeciesError": "opso.domain.errors",
    # ribbit (the spec's "Pulse Finder")
    "calculate_pulse_score": "opso.pulse_finder",
    "ribbit": "opso.pulse_finder",
    "pulse_finder_species_set": "opso.pulse_finder",
    "summarize_top_scores": "opso.pulse_finder",
    # training and prediction (torch names resolve lazily: importing them imports torch)
    "SingleTargetAudioDataset": "opso.datasets",
    "Metrics": "opso.domain.metrics",
    "MultiTargetMetrics": "opso.domain.metrics",
    "ModelConfig": "opso.domain.classifier",
    "Preprocessing": "opso.domain.classifier",
    "ModelFileError": "opso.domain.errors",
    "LabelTableError": "opso.domain.errors",
    "ClassifierInputError": "opso.domain.errors",
    "train": "opso.torch.train",
    "predict": "opso.torch.predict",
    "embed": "opso.torch.predict",
    "time_warp": "opso.torch.tensor_augment",
    "time_mask": "opso.torch.tensor_augment",
    "freq_mask": "opso.torch.tensor_augment",
    "build_architecture": "opso.torch.models",
    "load_model": "opso.pretrained",
    "PretrainedDetector": "opso.pretrained",
    "HeadDetector": "opso.pretrained",
    "CnnDetector": "opso.pretrained",
    "WindowModel": "opso.pretrained",
    "train_head": "opso.pretrained",
    "BaseModelMismatchError": "opso.domain.errors",
    "MissingExtraError": "opso.domain.errors",
    "save_model": "opso.torch.models",
    "load_classifier": "opso.torch.models",
    "TorchClassifier": "opso.torch.models",
    "gradcam_region": "opso.pytorch_prediction",
    "activation_region_limits": "opso.domain.gradcam",
    "activation_region_to_box": "opso.domain.gradcam",
    "in_box": "opso.domain.gradcam",
    # batch runs (scale)
    "run_shards": "opso.api",
    "make_runner": "opso.api",
    "clip_levels": "opso.api",
    "predict_job": "opso.api",
    "read_run": "opso.api",
    "run_status": "opso.api",
    "export_run": "opso.api",
    "predict_clips": "opso.api",
    "recording_info": "opso.api",
    "recordings_covering": "opso.api",
    "StartTimeUnknownError": "opso.domain.errors",
    "PredictScores": "opso.app.predict",
    "TorchSpectrogrammer": "opso.adapters.torch_spectrogram",
    "ParameterError": "opso.domain.errors",
    "TableReadError": "opso.domain.errors",
    "OutputWriteError": "opso.domain.errors",
    "Shard": "opso.domain.runs",
    "Segment": "opso.domain.runs",
    "SegmentError": "opso.domain.runs",
    "ShardOutput": "opso.domain.runs",
    "RunMismatchError": "opso.domain.errors",
    "RunDirectoryError": "opso.domain.errors",
    "RunnerError": "opso.domain.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:  # generated from _EXPORTS; tests/unit/test_public_api.py keeps them in step
    from opso.adapters.torch_spectrogram import (
        TorchSpectrogrammer as TorchSpectrogrammer,
    )
    from opso.api import (
        Audio as Audio,
        MelSpectrogram as MelSpectrogram,
        Spectrogram as Spectrogram,
        clip_levels as clip_levels,
        export_run as export_run,
        make_runner as make_runner,
        predict_clips as predict_clips,
        predict_job as predict_job,
        read_run as read_run,
        recording_info as recording_info,
        recordings_covering as recordings_covering,
        run_command as run_command,
        run_command_return_code as run_command_return_code,
        run_shards as run_shards,
        run_status as run_status,
        silence_filter as silence_filter,
        split_and_save as split_and_save,
    )
    from opso.app.data_selection import (
        add_binary_numeric_labels as add_binary_numeric_labels,
        add_numeric_labels as add_numeric_labels,
        expand_multi_labeled as expand_multi_labeled,
        train_valid_split as train_valid_split,
        upsample as upsample,
    )
    from opso.app.predict import (
        PredictScores as PredictScores,
    )
    from opso.app.settings import (
        get_default_config as get_default_config,
        validate as validate,
        validate_file as validate_file,
    )
    from opso.audio_tools import (
        convolve_file as convolve_file,
        mixdown_with_delays as mixdown_with_delays,
    )
    from opso.datasets import (
        SingleTargetAudioDataset as SingleTargetAudioDataset,
    )
    from opso.datasets_labels import (
        SplitterDataset as SplitterDataset,
        annotations_with_overlaps_with_clip as annotations_with_overlaps_with_clip,
        get_md5_digest as get_md5_digest,
    )
    from opso.domain.annotations import (
        Annotation as Annotation,
        AnnotationSet as AnnotationSet,
        ClipLabels as ClipLabels,
    )
    from opso.domain.classifier import (
        ModelConfig as ModelConfig,
        Preprocessing as Preprocessing,
    )
    from opso.domain.dsp import (
        bandpass_filter as bandpass_filter,
        butter_bandpass as butter_bandpass,
        clipping_detector as clipping_detector,
        window_energy as window_energy,
    )
    from opso.domain.errors import (
        AnnotationError as AnnotationError,
        AnnotationFormatError as AnnotationFormatError,
        AudioReadError as AudioReadError,
        AudioToolError as AudioToolError,
        AudioWriteError as AudioWriteError,
        BaseModelMismatchError as BaseModelMismatchError,
        ClassifierInputError as ClassifierInputError,
        ConfigError as ConfigError,
        ImageReadError as ImageReadError,
        ImageWriteError as ImageWriteError,
        LabelTableError as LabelTableError,
        LocalizationError as LocalizationError,
        MissingExtraError as MissingExtraError,
        ModelFileError as ModelFileError,
        OpsoError as OpsoError,
        OpsoLoadAudioInputError as OpsoLoadAudioInputError,
        OpsoLoadAudioInputTooLong as OpsoLoadAudioInputTooLong,
        OutputWriteError as OutputWriteError,
        ParameterError as ParameterError,
        RunDirectoryError as RunDirectoryError,
        RunMismatchError as RunMismatchError,
        RunnerError as RunnerError,
        SpectrogramInputError as SpectrogramInputError,
        SpectrogramParameterError as SpectrogramParameterError,
        StartTimeUnknownError as StartTimeUnknownError,
        TableReadError as TableReadError,
        UnknownSpeciesError as UnknownSpeciesError,
    )
    from opso.domain.gradcam import (
        activation_region_limits as activation_region_limits,
        activation_region_to_box as activation_region_to_box,
        in_box as in_box,
    )
    from opso.domain.helpers import (
        binarize as binarize,
        bound as bound,
        file_name as file_name,
        hex_to_time as hex_to_time,
        isNan as isNan,
        jitter as jitter,
        linear_scale as linear_scale,
        min_max_scale as min_max_scale,
        rescale_features as rescale_features,
        sigmoid as sigmoid,
    )
    from opso.domain.localization import (
        calc_speed_of_sound as calc_speed_of_sound,
        localize as localize,
        lorentz_ip as lorentz_ip,
        travel_time as travel_time,
    )
    from opso.domain.metrics import (
        Metrics as Metrics,
        MultiTargetMetrics as MultiTargetMetrics,
    )
    from opso.domain.receivers import (
        ReceiverArray as ReceiverArray,
    )
    from opso.domain.runs import (
        Segment as Segment,
        SegmentError as SegmentError,
        Shard as Shard,
        ShardOutput as ShardOutput,
    )
    from opso.domain.spectrogram import (
        Pcen as Pcen,
    )
    from opso.pretrained import (
        CnnDetector as CnnDetector,
        HeadDetector as HeadDetector,
        PretrainedDetector as PretrainedDetector,
        WindowModel as WindowModel,
        load_model as load_model,
        train_head as train_head,
    )
    from opso.pulse_finder import (
        calculate_pulse_score as calculate_pulse_score,
        pulse_finder_species_set as pulse_finder_species_set,
        ribbit as ribbit,
        summarize_top_scores as summarize_top_scores,
    )
    from opso.pytorch_prediction import (
        gradcam_region as gradcam_region,
    )
    from opso.raven import (
        annotation_check as annotation_check,
        generate_class_corrections as generate_class_corrections,
        lowercase_annotations as lowercase_annotations,
        query_annotations as query_annotations,
        raven_audio_split_and_save as raven_audio_split_and_save,
        split_single_annotation as split_single_annotation,
        split_starts_ends as split_starts_ends,
    )
    from opso.taxa import (
        bn_common_to_sci as bn_common_to_sci,
        common_to_sci as common_to_sci,
        get_species_list as get_species_list,
        sci_to_bn_common as sci_to_bn_common,
        sci_to_xc_common as sci_to_xc_common,
        xc_common_to_sci as xc_common_to_sci,
    )
    from opso.torch.models import (
        TorchClassifier as TorchClassifier,
        build_architecture as build_architecture,
        load_classifier as load_classifier,
        save_model as save_model,
    )
    from opso.torch.predict import (
        embed as embed,
        predict as predict,
    )
    from opso.torch.tensor_augment import (
        freq_mask as freq_mask,
        time_mask as time_mask,
        time_warp as time_warp,
    )
    from opso.torch.train import (
        train as train,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'opso' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
