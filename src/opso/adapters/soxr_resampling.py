"""Resampling of decoded samples with soxr, the engine the audio reader resamples with."""

from __future__ import annotations

import numpy as np
import soxr
from numpy.typing import NDArray

from opso.adapters.soundfile_io import RESAMPLE_QUALITY
from opso.domain.errors import ParameterError


def resample_samples(
    samples: NDArray[np.float32], sample_rate: int, target: int, resample_type: str
) -> NDArray[np.float32]:
    """Return ``samples`` at ``sample_rate`` Hz resampled to ``target`` Hz, read-only float32.

    The same soxr quality as reading a file at ``target`` (``docs/decisions/0004``), so
    resampling a decoded file gives the samples a resampling read gives.

    Raises
    ------
    ParameterError
        If ``target`` is not a positive integer or ``resample_type`` is unknown.
    """
    if isinstance(target, bool) or not isinstance(target, int | np.integer) or target <= 0:
        raise ParameterError(f"sample_rate must be a positive integer, got {target!r}")
    if resample_type not in RESAMPLE_QUALITY:
        raise ParameterError(
            f"unknown resample_type {resample_type!r}; use one of {sorted(RESAMPLE_QUALITY)}"
        )
    out = np.asarray(
        soxr.resample(samples, sample_rate, int(target), quality=RESAMPLE_QUALITY[resample_type]),
        dtype=np.float32,
    )
    out.flags.writeable = False
    return out
