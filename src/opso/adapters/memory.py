"""In-memory adapters: real implementations of the ports over dicts, for tests and services."""

from __future__ import annotations

import errno
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from opso.domain.annotations import AnnotationSet
from opso.domain.audio import Audio, AudioInfo
from opso.domain.errors import (
    AnnotationFormatError,
    AudioWriteError,
    OpsoLoadAudioInputError,
    OpsoLoadAudioInputTooLong,
)
from opso.domain.spectrogram import Spectrogram
from opso.ports.annotation_store import DEFAULT_LABEL_COLUMNS, AnnotationStore
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
class InMemoryAnnotationStore(AnnotationStore):
    """Annotation "tables" in a dict keyed by path, behaving like the Raven store."""

    tables: dict[Path, AnnotationSet] = field(default_factory=dict)

    def find(self, directory: Path, *, pattern: str = "*.selections.txt") -> list[Path]:
        """Return the stored tables under ``directory`` whose name matches ``pattern``, any case."""
        pat = pattern.lower()
        return sorted(
            p
            for p in self.tables
            if p.is_relative_to(directory) and fnmatch.fnmatch(p.name.lower(), pat)
        )

    def read(
        self, path: Path, *, label_column: str | None = None, source: str | None = None
    ) -> AnnotationSet:
        """Return a stored table, with labels from ``label_column`` when it names an extra one."""
        if path not in self.tables:
            raise FileNotFoundError(errno.ENOENT, f"annotation table not found: {path}", str(path))
        table = self.tables[path]
        src = str(path) if source is None else source
        names = [table.label_name, *table.extra]
        keys = [n.lower() for n in names]
        wanted = DEFAULT_LABEL_COLUMNS if label_column is None else (label_column.lower(),)
        chosen = next((keys.index(w) for w in wanted if w in keys), None)
        if chosen is None:
            raise AnnotationFormatError(
                f"{path}: no label column {label_column or list(DEFAULT_LABEL_COLUMNS)}; "
                f"columns found: {names}"
            )
        if chosen > 0:
            name = names[chosen]
            extra = {k: v for k, v in table.extra.items() if k != name}
            extra[table.label_name] = np.array(
                ["" if v is None else v for v in table.labels], dtype=object
            )
            table = AnnotationSet.from_columns(
                source=table.sources,
                begin_time=table.begin_time,
                end_time=table.end_time,
                label=[str(v) for v in table.extra[name]],
                low_f=table.low_f,
                high_f=table.high_f,
                extra=extra,
                label_name=name,
            )
        return table.with_source(src)

    def write(self, annotations: AnnotationSet, path: Path) -> None:
        """Store ``annotations`` under ``path``."""
        self.tables[path] = annotations


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
