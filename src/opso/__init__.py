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
    # batch runs (scale)
    "run_shards": "opso.api",
    "make_runner": "opso.api",
    "clip_levels": "opso.api",
    "read_run": "opso.api",
    "run_status": "opso.api",
    "export_run": "opso.api",
    "Shard": "opso.domain.runs",
    "Segment": "opso.domain.runs",
    "SegmentError": "opso.domain.runs",
    "ShardOutput": "opso.domain.runs",
    "RunMismatchError": "opso.domain.errors",
    "RunDirectoryError": "opso.domain.errors",
    "RunnerError": "opso.domain.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:
    from opso.api import (
        Audio as Audio,
        clip_levels as clip_levels,
        export_run as export_run,
        make_runner as make_runner,
        read_run as read_run,
        run_shards as run_shards,
        run_status as run_status,
        silence_filter as silence_filter,
        split_and_save as split_and_save,
    )
    from opso.domain.dsp import (
        bandpass_filter as bandpass_filter,
        butter_bandpass as butter_bandpass,
        clipping_detector as clipping_detector,
        window_energy as window_energy,
    )
    from opso.domain.errors import (
        AudioReadError as AudioReadError,
        AudioWriteError as AudioWriteError,
        OpsoError as OpsoError,
        OpsoLoadAudioInputError as OpsoLoadAudioInputError,
        OpsoLoadAudioInputTooLong as OpsoLoadAudioInputTooLong,
        RunDirectoryError as RunDirectoryError,
        RunMismatchError as RunMismatchError,
        RunnerError as RunnerError,
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
    from opso.domain.runs import (
        Segment as Segment,
        SegmentError as SegmentError,
        Shard as Shard,
        ShardOutput as ShardOutput,
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
