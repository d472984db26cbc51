"""Resampling with soxr: the one engine the audio readers and ``Audio.resample`` use."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import soxr
from numpy.typing import NDArray

from opso.domain.errors import ParameterError

#: The spec's (librosa/resampy) resample types mapped onto soxr qualities, plus soxr's own names.
#: See docs/decisions/0004-resampling-with-soxr.md.
RESAMPLE_QUALITY: dict[str, str] = {
    "kaiser_best": "VHQ",
    "kaiser_fast": "HQ",
    "soxr_vhq": "VHQ",
    "soxr_hq": "HQ",
    "soxr_mq": "MQ",
    "soxr_lq": "LQ",
    "soxr_qq": "QQ",
}


def check_resample_type(resample_type: str) -> None:
    """Raise ParameterError unless ``resample_type`` is a key of :data:`RESAMPLE_QUALITY`."""
    if resample_type not in RESAMPLE_QUALITY:
        raise ParameterError(
            f"unknown resample_type {resample_type!r}; use one of {sorted(RESAMPLE_QUALITY)}"
        )


def resample_chunks(
    chunks: Iterable[NDArray[np.float32]], native: int, target: int, resample_type: str
) -> NDArray[np.float32]:
    """Resample consecutive chunks of one signal (soxr stream), so memory stays near the output."""
    stream = soxr.ResampleStream(
        native, target, 1, dtype="float32", quality=RESAMPLE_QUALITY[resample_type]
    )
    out = [np.asarray(stream.resample_chunk(c), dtype=np.float32) for c in chunks]
    out.append(np.asarray(stream.resample_chunk(np.zeros(0, np.float32), last=True)))
    return np.concatenate(out)


def resample_samples(
    samples: NDArray[np.float32], sample_rate: int, target: int, resample_type: str
) -> NDArray[np.float32]:
    """Return ``samples`` at ``sample_rate`` Hz resampled to ``target`` Hz, read-only float32.

    The readers' own path (:func:`resample_chunks`, ``docs/decisions/0004``), so resampling a
    decoded file gives the samples a resampling read gives.

    Raises
    ------
    ParameterError
        If ``target`` is not a positive integer or ``resample_type`` is unknown.
    """
    if isinstance(target, bool) or not isinstance(target, int | np.integer) or target <= 0:
        raise ParameterError(f"sample_rate must be a positive integer, got {target!r}")
    check_resample_type(resample_type)
    out = resample_chunks(
        [np.asarray(samples, dtype=np.float32)], sample_rate, int(target), resample_type
    )
    out.flags.writeable = False
    return out
