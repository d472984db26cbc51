"""Ports for reading and writing audio."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Protocol

from opso.domain.audio import Audio, AudioInfo

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
        """Write ``audio`` to ``path`` (format from the suffix); a failed write leaves no file."""
        ...
