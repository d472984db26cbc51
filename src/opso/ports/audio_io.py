"""Ports for reading and writing audio."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Protocol

from opso.domain.audio import Audio, AudioInfo
from opso.domain.recording_info import RecordingInfo

AudioSource = Path | BinaryIO


class AudioReader(Protocol):
    """Decodes audio files (or file-like objects) into mono :class:`Audio`."""

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
        """Decode ``duration`` s from ``offset`` s, mixed to mono, resampled to ``sample_rate``."""
        ...

    def info(self, source: AudioSource) -> AudioInfo:
        """Read what the header says, without decoding samples."""
        ...


class AudioWriter(Protocol):
    """Writes :class:`Audio` to files atomically."""

    def write(self, audio: Audio, path: Path) -> None:
        """Write ``audio`` to ``path`` (format from the suffix); a failed write leaves no file.

        ``audio.metadata`` is written into the file where the format holds it.
        """
        ...


class ClipSource(Protocol):
    """One decoded recording that clip files are cut from, kept in the recording's own format."""

    def duration(self) -> float:
        """Return the length in seconds."""
        ...

    def write_clip(
        self,
        begin_time: float,
        end_time: float,
        path: Path,
        *,
        length: float | None = None,
        metadata: RecordingInfo | None = None,
    ) -> None:
        """Write the audio from ``begin_time`` to ``end_time`` s to ``path`` atomically.

        The samples are those :meth:`Audio.trim` keeps; with ``length`` they are looped to
        ``length`` s as :meth:`Audio.extend` loops them. ``metadata`` (the clip's own, its
        start at ``begin_time``) is written into the file where the format holds it.
        """
        ...


class ClipReader(Protocol):
    """Decodes a recording once, to cut clip files from it."""

    def read_clips(self, source: AudioSource, *, sample_rate: int | None = None) -> ClipSource:
        """Decode ``source``, mixed to mono and resampled to ``sample_rate`` (None: as it is)."""
        ...
