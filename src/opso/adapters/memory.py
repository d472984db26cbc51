"""In-memory adapters: real implementations of the ports over dicts, for tests and services."""

from __future__ import annotations

import errno
from collections.abc import Mapping
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from opso.domain.audio import Audio, AudioInfo
from opso.domain.errors import AudioWriteError, OpsoLoadAudioInputError, OpsoLoadAudioInputTooLong
from opso.domain.spectrogram import Spectrogram
from opso.ports.audio_io import AudioReader, AudioSource, AudioWriter
from opso.ports.images import ImageMode, ImageStore, SpectrogramPlotter

_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff"}


@dataclass
class InMemoryAudioIO(AudioReader, AudioWriter):
    """Audio "files" in a dict keyed by path; resampling by ``scipy.signal.resample_poly``."""

    files: dict[Path, Audio] = field(default_factory=dict)

    def _get(self, source: AudioSource) -> Audio:
        if not isinstance(source, Path):
            raise OpsoLoadAudioInputError(f"<{type(source).__name__}>: the store reads paths only")
        if source not in self.files:
            raise FileNotFoundError(errno.ENOENT, f"audio file not found: {source}", str(source))
        audio = self.files[source]
        if len(audio.samples) == 0:
            raise OpsoLoadAudioInputError(f"{source}: holds no audio frames")
        return audio

    def info(self, source: AudioSource) -> AudioInfo:
        """Describe a stored recording as a mono float WAV."""
        audio = self._get(source)
        return AudioInfo(audio.sample_rate, 1, len(audio.samples), "WAV", "FLOAT")

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
        """Return a stored recording, windowed and resampled like the file adapters do."""
        if sample_rate is not None and sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer or None, got {sample_rate!r}")
        if offset < 0:
            raise ValueError(f"offset must be >= 0 seconds, got {offset!r}")
        if duration is not None and duration <= 0:
            raise ValueError(f"duration must be > 0 seconds, got {duration!r}")
        audio = self._get(source)
        if max_duration is not None and audio.duration() > max_duration:
            raise OpsoLoadAudioInputTooLong(
                f"{source}: {audio.duration():.3f} s long, over max_duration={max_duration} s"
            )
        if offset >= audio.duration():
            raise ValueError(f"{source}: offset {offset} s is past the end of the audio")
        end = audio.duration() if duration is None else offset + duration
        clip = audio.trim(offset, end)
        if sample_rate is None or sample_rate == clip.sample_rate:
            return Audio(clip.samples, clip.sample_rate, resample_type=resample_type)
        g = gcd(sample_rate, clip.sample_rate)
        resampled = signal.resample_poly(clip.samples, sample_rate // g, clip.sample_rate // g)
        samples = np.asarray(resampled, dtype=np.float32)
        return Audio(samples, sample_rate, resample_type=resample_type)

    def write(self, audio: Audio, path: Path) -> None:
        """Store ``audio`` under ``path``."""
        if path.suffix.lower() not in _SUFFIXES:
            raise AudioWriteError(f"{path}: cannot write audio with suffix {path.suffix!r}")
        self.files[path] = Audio(audio.samples, audio.sample_rate)


@dataclass
class InMemoryImages(ImageStore):
    """Images kept as grey-level arrays with their tags, in a dict keyed by path."""

    files: dict[Path, tuple[NDArray[np.uint8], dict[str, str]]] = field(default_factory=dict)

    def write(
        self,
        pixels: NDArray[np.uint8],
        path: Path,
        *,
        shape: tuple[int, int] | None = None,
        mode: ImageMode = "RGB",
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Store ``pixels`` (nearest-neighbour resized to ``(height, width)``) under ``path``."""
        grid = np.asarray(pixels, dtype=np.uint8)
        if shape is not None:
            rows = np.arange(shape[0]) * grid.shape[0] // shape[0]
            cols = np.arange(shape[1]) * grid.shape[1] // shape[1]
            grid = grid[rows][:, cols]
        self.files[path] = (grid.copy(), dict(metadata or {}))

    def read(self, path: Path) -> tuple[NDArray[np.uint8], dict[str, str]]:
        """Return a stored image's grey levels and tags."""
        if path not in self.files:
            raise FileNotFoundError(errno.ENOENT, f"image file not found: {path}", str(path))
        grid, tags = self.files[path]
        return grid.copy(), dict(tags)


@dataclass
class InMemoryPlotter(SpectrogramPlotter):
    """Records each plotted spectrogram with its destination, for tests and previews."""

    plots: dict[Path | None, Spectrogram] = field(default_factory=dict)

    def plot(
        self,
        spectrogram: Spectrogram,
        *,
        path: Path | None = None,
        show: bool = False,
        show_colorbar: bool = False,
        title: str | None = None,
    ) -> None:
        """Keep ``spectrogram`` under ``path``."""
        self.plots[path] = spectrogram
