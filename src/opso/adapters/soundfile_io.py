"""Audio I/O through libsndfile (python-soundfile) with soxr resampling."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr
from numpy.typing import NDArray

from opso.adapters.atomic import atomic_path
from opso.domain.audio import Audio, AudioInfo
from opso.domain.errors import (
    AudioWriteError,
    OpsoLoadAudioInputError,
    OpsoLoadAudioInputTooLong,
    ParameterError,
)
from opso.ports.audio_io import AudioReader, AudioSource, AudioWriter

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

_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3", ".aiff": "AIFF"}
_BLOCK_FRAMES = 1 << 18


def _describe(source: AudioSource) -> str:
    return str(source) if isinstance(source, Path) else f"<{type(source).__name__}>"


def _check_path(source: AudioSource) -> None:
    if not isinstance(source, Path):
        return
    if not source.exists():
        raise FileNotFoundError(errno.ENOENT, f"audio file not found: {source}", str(source))
    if source.is_dir():
        raise OpsoLoadAudioInputError(f"{source}: is a directory, not an audio file")


class SoundfileAudioIO(AudioReader, AudioWriter):
    """Read WAV, FLAC, OGG, MP3 (libsndfile) as mono float32; write clips atomically.

    Parameters
    ----------
    subtype
        libsndfile subtype for written files (e.g. ``"PCM_16"``, ``"FLOAT"``); None uses the
        format's default (16-bit PCM for WAV and FLAC).
    """

    def __init__(self, subtype: str | None = None) -> None:
        self._subtype = subtype

    def info(self, source: AudioSource) -> AudioInfo:
        """Read sample rate, channels, frames and format from the header."""
        _check_path(source)
        try:
            with sf.SoundFile(source) as f:
                return AudioInfo(
                    sample_rate=int(f.samplerate),
                    channels=int(f.channels),
                    frames=int(f.frames),
                    format=str(f.format),
                    subtype=str(f.subtype),
                )
        except (sf.LibsndfileError, RuntimeError, TypeError) as e:
            raise OpsoLoadAudioInputError(
                f"{_describe(source)}: not a readable audio file ({e})"
            ) from e

    def read(
        self,
        source: AudioSource,
        *,
        sample_rate: int | None = None,
        resample_type: str = "kaiser_fast",
        max_duration: float | None = None,
        offset: float = 0.0,
        duration: float | None = None,
    ) -> Audio:
        """Decode mono float32 samples, optionally a window and resampled.

        Parameters
        ----------
        source
            A path or a binary file-like object (e.g. ``io.BytesIO``).
        sample_rate
            Output rate in Hz; None keeps the file's rate.
        resample_type
            A key of :data:`RESAMPLE_QUALITY`.
        max_duration
            Longest allowed length of the file in seconds, checked from the header first.
        offset, duration
            Window to decode, in seconds; only that window is read from disk.

        Raises
        ------
        FileNotFoundError
            If the path does not exist.
        OpsoLoadAudioInputError
            If the source is not decodable audio or holds no frames.
        OpsoLoadAudioInputTooLong
            If the file is longer than ``max_duration``.
        ValueError
            If ``sample_rate``, ``offset``, ``duration`` or ``resample_type`` is invalid.
        """
        if sample_rate is not None and (isinstance(sample_rate, bool) or sample_rate <= 0):
            raise ParameterError(
                f"sample_rate must be a positive integer or None, got {sample_rate!r}"
            )
        if resample_type not in RESAMPLE_QUALITY:
            raise ParameterError(
                f"unknown resample_type {resample_type!r}; use one of {sorted(RESAMPLE_QUALITY)}"
            )
        if offset < 0:
            raise ParameterError(f"offset must be >= 0 seconds, got {offset!r}")
        if duration is not None and duration <= 0:
            raise ParameterError(f"duration must be > 0 seconds, got {duration!r}")
        _check_path(source)
        name = _describe(source)
        try:
            with sf.SoundFile(source) as f:
                native = int(f.samplerate)
                if f.frames == 0:
                    raise OpsoLoadAudioInputError(f"{name}: holds no audio frames")
                if max_duration is not None and f.frames / native > max_duration:
                    raise OpsoLoadAudioInputTooLong(
                        f"{name}: {f.frames / native:.3f} s long, "
                        f"over max_duration={max_duration} s"
                    )
                start = round(offset * native)
                if start >= f.frames:
                    raise ParameterError(f"{name}: offset {offset} s is past the end of the audio")
                f.seek(start)
                n = -1 if duration is None else round(duration * native)
                if sample_rate is None or sample_rate == native:
                    samples = _read_mono(f, n)
                else:
                    quality = RESAMPLE_QUALITY[resample_type]
                    samples = _read_resampled(f, n, native, sample_rate, quality)
        except (sf.LibsndfileError, RuntimeError, TypeError) as e:
            raise OpsoLoadAudioInputError(f"{name}: not a readable audio file ({e})") from e
        if samples.size == 0:
            raise OpsoLoadAudioInputError(f"{name}: holds no decodable audio frames")
        sample_rate = sample_rate or native
        samples.flags.writeable = False
        return Audio(samples, sample_rate, resample_type=resample_type)

    def write(self, audio: Audio, path: Path) -> None:
        """Write ``audio`` to ``path`` atomically; the format comes from the suffix.

        Raises
        ------
        AudioWriteError
            If the suffix is not a writable format or libsndfile fails; no file is left.
        """
        fmt = _FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise AudioWriteError(
                f"{path}: cannot write audio with suffix {path.suffix!r}; "
                f"use one of {sorted(_FORMATS)}"
            )
        try:
            with atomic_path(path) as tmp:
                sf.write(tmp, audio.samples, audio.sample_rate, format=fmt, subtype=self._subtype)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
            raise AudioWriteError(f"{path}: could not write audio ({e})") from e


def _mono_blocks(f: Any, frames: int) -> Iterator[NDArray[np.float32]]:
    """Yield ``frames`` (-1: to the end) of an open SoundFile as mono float32 blocks."""
    total = f.frames - f.tell() if frames < 0 else min(frames, f.frames - f.tell())
    for block in f.blocks(blocksize=_BLOCK_FRAMES, frames=total, dtype="float32", always_2d=True):
        yield block[:, 0] if block.shape[1] == 1 else block.mean(axis=1, dtype=np.float32)


def _read_mono(f: Any, frames: int) -> NDArray[np.float32]:
    """Read ``frames`` (-1: to the end) mixed down to mono float32, block by block."""
    if f.channels == 1:
        return np.ascontiguousarray(f.read(frames, dtype="float32", always_2d=True)[:, 0])
    return np.concatenate([np.zeros(0, dtype=np.float32), *_mono_blocks(f, frames)])


def _read_resampled(
    f: Any, frames: int, native: int, target: int, quality: str
) -> NDArray[np.float32]:
    """Decode and resample block by block (soxr stream), so memory stays near the output size."""
    stream = soxr.ResampleStream(native, target, 1, dtype="float32", quality=quality)
    chunks = [
        np.asarray(stream.resample_chunk(b), dtype=np.float32) for b in _mono_blocks(f, frames)
    ]
    chunks.append(np.asarray(stream.resample_chunk(np.zeros(0, np.float32), last=True)))
    return np.concatenate(chunks)
