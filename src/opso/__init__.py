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
    "load_model": "opso.torch.models",
    "save_model": "opso.torch.models",
    "load_classifier": "opso.torch.models",
    "TorchClassifier": "opso.torch.models",
    "gradcam_region": "opso.pytorch_prediction",
    "activation_region_limits": "opso.domain.gradcam",
    "activation_region_to_box": "opso.domain.gradcam",
    "in_box": "opso.domain.gradcam",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:
    from opso.api import (
        Audio as Audio,
        silence_filter as silence_filter,
        split_and_save as split_and_save,
    )

    # training and prediction
    from opso.datasets import SingleTargetAudioDataset as SingleTargetAudioDataset
    from opso.domain.classifier import ModelConfig as ModelConfig, Preprocessing as Preprocessing
    from opso.domain.dsp import (
        bandpass_filter as bandpass_filter,
        butter_bandpass as butter_bandpass,
        clipping_detector as clipping_detector,
        window_energy as window_energy,
    )
    from opso.domain.errors import (
        AudioReadError as AudioReadError,
        AudioWriteError as AudioWriteError,
        ClassifierInputError as ClassifierInputError,
        LabelTableError as LabelTableError,
        ModelFileError as ModelFileError,
        OpsoError as OpsoError,
        OpsoLoadAudioInputError as OpsoLoadAudioInputError,
        OpsoLoadAudioInputTooLong as OpsoLoadAudioInputTooLong,
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
    from opso.domain.metrics import Metrics as Metrics, MultiTargetMetrics as MultiTargetMetrics
    from opso.pytorch_prediction import gradcam_region as gradcam_region
    from opso.torch.models import (
        TorchClassifier as TorchClassifier,
        build_architecture as build_architecture,
        load_classifier as load_classifier,
        load_model as load_model,
        save_model as save_model,
    )
    from opso.torch.predict import embed as embed, predict as predict
    from opso.torch.tensor_augment import (
        freq_mask as freq_mask,
        time_mask as time_mask,
        time_warp as time_warp,
    )
    from opso.torch.train import train as train


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'opso' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
