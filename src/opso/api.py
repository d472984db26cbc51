"""Spec-compatible conveniences over the default adapters (``Audio.from_file``, ...)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import BinaryIO, Self

import pandas as pd

from opso.container import Container
from opso.domain import audio as _audio, dsp
from opso.domain.audio import FinalClip
from opso.ports.audio_io import AudioReader, AudioWriter


@functools.cache
def default_container() -> Container:
    """Return the process-wide default container used by the spec-style API."""
    return Container()


def _reader() -> AudioReader:
    reader: AudioReader = default_container().audio_io()
    return reader


def _writer() -> AudioWriter:
    writer: AudioWriter = default_container().audio_io()
    return writer


class Audio(_audio.Audio):
    """Mono audio with the spec's file I/O: ``from_file``, ``from_bytesio`` and ``save``.

    See :class:`opso.domain.Audio` for the samples, the validation and the time-domain methods.
    """

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        sample_rate: int | None = None,
        resample_type: str = "kaiser_fast",
        max_duration: float | None = None,
    ) -> Self:
        """Load an audio file (WAV, FLAC, OGG, MP3) as mono float32.

        Parameters
        ----------
        path
            Path to the file.
        sample_rate
            Resample to this rate in Hz; None keeps the file's rate.
        resample_type
            ``"kaiser_fast"`` (soxr HQ), ``"kaiser_best"`` (soxr VHQ) or a ``"soxr_*"`` name.
        max_duration
            Longest allowed file length in seconds, checked from the header before decoding.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        OpsoLoadAudioInputError
            If the file is not readable audio or holds no frames.
        OpsoLoadAudioInputTooLong
            If the file is longer than ``max_duration``.
        """
        a = _reader().read(
            Path(path),
            sample_rate=sample_rate,
            resample_type=resample_type,
            max_duration=max_duration,
        )
        return cls(a.samples, a.sample_rate, resample_type=resample_type, max_duration=max_duration)

    @classmethod
    def from_bytesio(
        cls,
        bytesio: BinaryIO,
        sample_rate: int | None = None,
        max_duration: float | None = None,
        resample_type: str = "kaiser_fast",
    ) -> Self:
        """Load audio from a binary file-like object (e.g. ``io.BytesIO`` of a WAV file)."""
        a = _reader().read(
            bytesio,
            sample_rate=sample_rate,
            resample_type=resample_type,
            max_duration=max_duration,
        )
        return cls(a.samples, a.sample_rate, resample_type=resample_type, max_duration=max_duration)

    def save(self, path: str | Path) -> None:
        """Write the audio to ``path`` (format from the suffix), atomically."""
        _writer().write(self, Path(path))


def split_and_save(
    audio: _audio.Audio,
    destination: str | Path,
    prefix: str,
    clip_duration: float,
    clip_overlap: float = 0,
    final_clip: FinalClip = None,
    dry_run: bool = False,
) -> pd.DataFrame:
    """Split audio into clips and write them to ``destination`` as ``{prefix}_{begin}s_{end}s.wav``.

    Parameters
    ----------
    audio
        The audio to split.
    destination
        Folder for the clips (created if missing).
    prefix
        Name put before each clip's times; it cannot lead outside ``destination``.
    clip_duration, clip_overlap, final_clip
        As :meth:`opso.Audio.split`.
    dry_run
        If True, write nothing and only return the clip table.

    Returns
    -------
    pandas.DataFrame
        Columns ``begin_time`` and ``end_time`` (s), indexed by each clip's output path.
    """
    records = (
        default_container()
        .split_audio()
        .run(
            audio=audio,
            destination=Path(destination),
            prefix=prefix,
            clip_duration=clip_duration,
            clip_overlap=clip_overlap,
            final_clip=final_clip,
            dry_run=dry_run,
        )
    )
    return pd.DataFrame(
        {"begin_time": [r.begin_time for r in records], "end_time": [r.end_time for r in records]},
        index=pd.Index([str(r.path) for r in records], name="clip"),
    )


def silence_filter(
    filename: str | Path,
    smoothing_factor: int = 10,
    window_len_samples: int = 256,
    overlap_len_samples: int = 128,
    threshold: float | None = None,
) -> float:
    """Score whether a file holds sound above its background.

    Returns the peak smoothed window energy over the mean energy, minus one, when
    ``threshold`` is None; otherwise 1 if that score exceeds ``threshold`` (sound) and 0 if not
    (silence).
    """
    samples = _reader().read(Path(filename)).samples
    score = dsp.silence_score(
        samples,
        smoothing_factor=smoothing_factor,
        window_len_samples=window_len_samples,
        overlap_len_samples=overlap_len_samples,
    )
    if threshold is None:
        return score
    return int(score > threshold)
