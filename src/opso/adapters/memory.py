"""In-memory adapters: real implementations of the ports over dicts, for tests and services."""

from __future__ import annotations

import contextlib
import csv
import errno
import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import signal

from opso.app.split import AudioClips
from opso.domain.annotations import AnnotationSet
from opso.domain.audio import Audio, AudioInfo
from opso.domain.errors import (
    AnnotationFormatError,
    AudioWriteError,
    ModelFileError,
    OpsoLoadAudioInputError,
    OpsoLoadAudioInputTooLong,
    ParameterError,
    RunDirectoryError,
    TableReadError,
)
from opso.domain.recording_info import RecordingInfo, combine, parse_file_name
from opso.domain.runs import Manifest, SegmentError, Shard, ShardOutput, ShardReport
from opso.domain.spectrogram import Spectrogram
from opso.ports.annotation_store import DEFAULT_LABEL_COLUMNS, AnnotationStore
from opso.ports.audio_io import AudioReader, AudioSource, AudioWriter, ClipReader, ClipSource
from opso.ports.classifier import Classifier, ClassifierStore
from opso.ports.images import ImageMode, ImageStore, SpectrogramPlotter
from opso.ports.metadata import MetadataReader
from opso.ports.rows import RowSink, RowStream, interrupted_path
from opso.ports.runner import PartStore, RunStore
from opso.ports.tables import TableReader, TableWriter

_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff"}


@dataclass
class InMemoryAudioIO(AudioReader, AudioWriter, ClipReader):
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
            raise ParameterError(
                f"sample_rate must be a positive integer or None, got {sample_rate!r}"
            )
        if offset < 0:
            raise ParameterError(f"offset must be >= 0 seconds, got {offset!r}")
        if duration is not None and duration <= 0:
            raise ParameterError(f"duration must be > 0 seconds, got {duration!r}")
        audio = self._get(source)
        if max_duration is not None and audio.duration() > max_duration:
            raise OpsoLoadAudioInputTooLong(
                f"{source}: {audio.duration():.3f} s long, over max_duration={max_duration} s"
            )
        if offset >= audio.duration():
            raise ParameterError(f"{source}: offset {offset} s is past the end of the audio")
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

    def read_clips(self, source: AudioSource, *, sample_rate: int | None = None) -> ClipSource:
        """Read a stored recording to cut clips from; each clip is stored by :meth:`write`."""
        return AudioClips(self.read(source, sample_rate=sample_rate), self)


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

    def write_lowercase(self, source: Path, target: Path) -> None:
        """Store ``source`` under ``target`` with labels, column names and cells in lower case."""
        if source not in self.tables:
            raise FileNotFoundError(
                errno.ENOENT, f"annotation table not found: {source}", str(source)
            )
        table = self.tables[source]
        self.tables[target] = AnnotationSet.from_columns(
            source=table.sources,
            begin_time=table.begin_time,
            end_time=table.end_time,
            label=[None if v is None else v.lower() for v in table.labels],
            low_f=table.low_f,
            high_f=table.high_f,
            extra={k.lower(): [str(v).lower() for v in col] for k, col in table.extra.items()},
            label_name=table.label_name.lower(),
        )


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
    titles: dict[Path | None, str | None] = field(default_factory=dict)

    def plot(
        self,
        spectrogram: Spectrogram,
        *,
        path: Path | None = None,
        show: bool = False,
        show_colorbar: bool = False,
        title: str | None = None,
        figsize: tuple[float, float] = (8.0, 4.0),
    ) -> None:
        """Keep ``spectrogram`` (and its title) under ``path``."""
        self.plots[path] = spectrogram
        self.titles[path] = title


@dataclass
class _MemoryRun:
    settings: dict[str, Any] | None = None
    engines: list[dict[str, Any]] = field(default_factory=list)
    manifest: Manifest | None = None
    summary: dict[str, Any] | None = None
    parts: dict[int, tuple[ShardOutput, ShardReport]] = field(default_factory=dict)
    errors: dict[int | None, tuple[SegmentError, ...]] = field(default_factory=dict)


@dataclass
class InMemoryRunStore(RunStore, PartStore):
    """Run directories as dicts keyed by path (for an in-process runner only)."""

    runs: dict[Path, _MemoryRun] = field(default_factory=dict)
    #: Run directories held now, with how (``"run"`` or a job-array task's slice).
    held: dict[Path, set[str]] = field(default_factory=dict)

    def _run(self, run_dir: Path) -> _MemoryRun:
        return self.runs.setdefault(run_dir, _MemoryRun())

    @contextlib.contextmanager
    def lock(
        self, run_dir: Path, *, job_array: tuple[int, int] | None = None
    ) -> Iterator[str | None]:
        """Hold ``run_dir``: alone, or shared by the tasks of a job array (one per slice)."""
        holders = self.held.setdefault(run_dir, set())
        mine = "run" if job_array is None else f"task {job_array[0]} of {job_array[1]}"
        if "run" in holders or mine in holders or (holders and job_array is None):
            raise RunDirectoryError(f"{run_dir} is in use by another opso run ({sorted(holders)})")
        holders.add(mine)
        try:
            yield None
        finally:
            holders.discard(mine)

    def read_fingerprint(self, run_dir: Path) -> dict[str, Any] | None:
        """Return the stored settings."""
        settings = self._run(run_dir).settings
        return None if settings is None else dict(settings)

    def read_engines(self, run_dir: Path) -> list[dict[str, Any]]:
        """Return the engines used so far."""
        return [dict(e) for e in self._run(run_dir).engines]

    def write_fingerprint(
        self,
        run_dir: Path,
        settings: Mapping[str, Any],
        *,
        engines: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Store the settings and the engines used."""
        run = self._run(run_dir)
        run.settings = dict(settings)
        run.engines = [dict(e) for e in engines]

    def read_manifest(self, run_dir: Path) -> Manifest | None:
        """Return the stored plan."""
        return self._run(run_dir).manifest

    def write_manifest(self, run_dir: Path, manifest: Manifest) -> None:
        """Store the plan."""
        self._run(run_dir).manifest = manifest

    def write_summary(self, run_dir: Path, summary: Mapping[str, Any]) -> None:
        """Store the summary."""
        self._run(run_dir).summary = dict(summary)

    def reset(self, run_dir: Path) -> None:
        """Forget the run."""
        self.runs.pop(run_dir, None)

    def write_part(
        self, run_dir: Path, shard: Shard, output: ShardOutput, report: ShardReport
    ) -> None:
        """Store a finished shard's rows and errors."""
        run = self._run(run_dir)
        if output.errors:
            run.errors[shard.index] = output.errors
        else:
            run.errors.pop(shard.index, None)
        run.parts[shard.index] = (output, report)

    def write_errors(
        self, run_dir: Path, shard: int | None, errors: Sequence[SegmentError]
    ) -> None:
        """Store an errors part."""
        self._run(run_dir).errors[shard] = tuple(errors)

    def completed(self, run_dir: Path) -> set[int]:
        """Return the shards with rows."""
        return set(self._run(run_dir).parts)

    def reports(self, run_dir: Path) -> list[ShardReport]:
        """Return the reports by shard index."""
        parts = self._run(run_dir).parts
        return [parts[i][1] for i in sorted(parts)]

    def read_errors(self, run_dir: Path) -> list[SegmentError]:
        """Return planning errors, then shard errors by index."""
        errors = self._run(run_dir).errors
        shards = sorted(i for i in errors if i is not None)
        return [*errors.get(None, ()), *(e for i in shards for e in errors[i])]

    def read_parts(self, run_dir: Path) -> Iterator[ShardOutput]:
        """Yield the rows parts in shard order."""
        parts = self._run(run_dir).parts
        for i in sorted(parts):
            yield ShardOutput(parts[i][0].columns)

    def export(self, run_dir: Path, destination: Path) -> int:
        """Write all rows to a CSV file (the in-memory store exports CSV only)."""
        if destination.suffix.lower() != ".csv":
            raise ParameterError(f"{destination}: the in-memory run store exports .csv only")
        outputs = [p for p in self.read_parts(run_dir) if p.n_rows]
        names = list(outputs[0].columns) if outputs else []
        with destination.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            if names:
                writer.writerow(names)
            for out in outputs:
                writer.writerows(zip(*(out.columns[n] for n in names), strict=True))
        return sum(p.n_rows for p in outputs)

    def export_errors(self, run_dir: Path, destination: Path) -> int:
        """Write the error rows to a CSV file."""
        errors = self.read_errors(run_dir)
        with destination.open("w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
            writer = csv.writer(fh)
            writer.writerow(["shard", "file", "start", "end", "reason"])
            writer.writerows((e.shard, e.source, e.start, e.end, e.reason) for e in errors)
        return len(errors)


class InMemoryTables(TableWriter, TableReader):
    """Tables kept by path: written rows with their columns, read back as DataFrames.

    ``frames`` seeds tables to read (a user's label or coordinate tables in a test).
    """

    def __init__(self, frames: Mapping[Path, pd.DataFrame] | None = None) -> None:
        self.frames: dict[Path, pd.DataFrame] = dict(frames or {})
        self.tables: dict[Path, tuple[list[str], list[dict[str, object]]]] = {}

    def write(
        self, rows: Sequence[Mapping[str, object]], path: Path, *, columns: Sequence[str]
    ) -> None:
        """Keep ``rows`` and ``columns`` under ``path``."""
        self.tables[path] = (list(columns), [dict(r) for r in rows])

    def rows(self, path: Path) -> list[dict[str, object]]:
        """Return the rows written to ``path``."""
        return self.tables[path][1]

    def read(self, path: Path, *, what: str = "table") -> pd.DataFrame:
        """Return the seeded or written table at ``path``."""
        if path in self.frames:
            return self.frames[path].copy()
        if path in self.tables:
            columns, rows = self.tables[path]
            return pd.DataFrame(rows, columns=columns)
        raise TableReadError(f"{path}: no such {what} file")


class _RowStream(RowStream):
    def __init__(self, owner: InMemoryRowSink, rows: list[dict[str, object]]) -> None:
        self.owner = owner
        self.rows = rows
        self.complete = 0

    def write(self, rows: Sequence[Mapping[str, object]]) -> None:
        self.owner.writes += 1
        self.rows.extend(dict(r) for r in rows)

    def checkpoint(self) -> None:
        self.complete = len(self.rows)


class InMemoryRowSink(RowSink):
    """Keeps each published table's rows; a failed run publishes nothing."""

    def __init__(self) -> None:
        self.tables: dict[Path, list[dict[str, Any]]] = {}
        self.writes = 0

    @contextlib.contextmanager
    def open(self, path: Path, *, columns: Sequence[str]) -> Iterator[RowStream]:
        """Collect rows; publish them under ``path`` when the context ends normally."""
        rows: list[dict[str, object]] = []
        stream = _RowStream(self, rows)
        try:
            yield stream
        except KeyboardInterrupt:
            kept = rows[: stream.complete]
            self.tables[interrupted_path(path)] = [{c: r.get(c) for c in columns} for r in kept]
            raise
        self.tables[path] = [{c: r.get(c) for c in columns} for r in rows]


class InMemoryClassifierStore(ClassifierStore):
    """Loaded classifiers by path."""

    def __init__(self, models: Mapping[Path, Classifier] | None = None) -> None:
        self.models: dict[Path, Classifier] = dict(models or {})

    def load(self, path: Path) -> Classifier:
        """Return the classifier kept under ``path``."""
        if path not in self.models:
            raise ModelFileError(f"{path}: no such model")
        return self.models[path]


@dataclass
class InMemoryMetadataReader(MetadataReader):
    """Recording metadata in a dict keyed by path, then the file name, as the WAV reader does."""

    infos: dict[Path, RecordingInfo] = field(default_factory=dict)

    def read(self, path: Path, *, timezone: tzinfo | None = None) -> RecordingInfo:
        """Return the stored info of ``path``, its unknown fields filled from its name."""
        return combine(
            [self.infos.get(path, RecordingInfo()), parse_file_name(path.name, zone=timezone)]
        )
