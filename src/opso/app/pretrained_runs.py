"""Pretrained models as batch-run jobs: detections, embeddings or head scores of windows.

Windows are exactly those of the streaming path, with the same samples: a segment of a long
recording holds the windows that start in it, decoded by :mod:`opso.app.audio_windows`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from opso.app.audio_windows import WindowGrid, recording_windows
from opso.app.files import failure_reason, names_in_common_folder
from opso.app.heads import head_digest, head_scores, load_base
from opso.app.pretrained import RAVEN_SUFFIX, SpeciesFilter, embedding_settings, raven_table
from opso.app.start_times import BEGIN_DATETIME, iso_moment, read_start_times, start_of
from opso.domain.errors import OpsoError, ParameterError, RunDirectoryError
from opso.domain.heads import Head
from opso.domain.pretrained import (
    split_label,
    window_samples,
)
from opso.domain.recording_info import parse_timezone
from opso.domain.runs import SegmentError, Shard, ShardOutput
from opso.domain.taxa import Taxonomy
from opso.ports.annotation_store import AnnotationStore
from opso.ports.audio_io import AudioReader
from opso.ports.heads import HeadStore
from opso.ports.metadata import MetadataReader
from opso.ports.pretrained import PretrainedModel, PretrainedModelStore
from opso.ports.runner import PartStore, RunStore

#: Columns of a detection run's rows (``begin_datetime`` only with a metadata reader).
DETECTION_RUN_COLUMNS = (
    "file",
    "begin_time",
    "end_time",
    BEGIN_DATETIME,
    "scientific_name",
    "common_name",
    "confidence",
)
#: One batch of windows: ``(file, begin, end)`` per window and the windows themselves.
Windows = tuple[list[tuple[str, float, float]], NDArray[np.float32]]


@dataclass
class _WindowShards:
    """What the jobs share: the model, loaded once per process, and the shard's windows."""

    reader: AudioReader
    models: PretrainedModelStore
    model: str
    labels: Path | None = None
    overlap: float = 0.0
    batch_size: int = 16
    metadata: MetadataReader | None = None
    timezone: str | None = None
    _loaded: PretrainedModel | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ParameterError(f"batch_size must be >= 1, got {self.batch_size}")
        if not (self.overlap >= 0 and math.isfinite(self.overlap)):
            raise ParameterError(f"overlap must be >= 0 seconds, got {self.overlap}")
        if self.timezone is not None:
            parse_timezone(self.timezone)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_loaded"] = None  # a LiteRT interpreter does not pickle: each worker loads its own
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def loaded(self) -> PretrainedModel:
        """Return the model, loading it on first use in this process."""
        if self._loaded is None:
            self._loaded = self.models.load(self.model, labels=self.labels)
        return self._loaded

    @property
    def step(self) -> float:
        """Seconds between window starts (where long recordings are cut)."""
        model = self.loaded()
        _, step = window_samples(model.sample_rate, model.clip_duration, self.overlap)
        return step / model.sample_rate

    def _model_settings(self) -> dict[str, Any]:
        """Return what changes every row: the model's bytes and labels, the windows."""
        model = self.loaded()
        window_samples(model.sample_rate, model.clip_duration, self.overlap)  # validate
        labels = "\n".join(model.classes).encode("utf-8")
        return {
            "model": model.name,
            "model_sha256": model.reference.sha256,
            "labels_sha256": hashlib.sha256(labels).hexdigest(),
            "sample_rate": model.sample_rate,
            "clip_duration": model.clip_duration,
            "overlap": self.overlap,
            "clock_times": self.metadata is not None,
            "timezone": self.timezone,
        }

    def _moments(self, files: list[str], begins: list[float]) -> list[str]:
        """``begin_datetime`` of each row: in its recording's own zone, "" where unknown."""
        zone = None if self.timezone is None else parse_timezone(self.timezone)
        starts: dict[str, datetime | None] = {}
        out = []
        for source, begin in zip(files, begins, strict=True):
            if source not in starts:
                starts[source] = start_of(self.metadata, Path(source), timezone=zone)
            start = starts[source]
            out.append("" if start is None else iso_moment(start, begin))
        return out

    def _key_columns(
        self, keys: list[tuple[str, float, float]], begin: str, end: str
    ) -> dict[str, Any]:
        """Return the windows' ``file``, ``begin`` and ``end`` columns (and ``begin_datetime``)."""
        table: dict[str, Any] = {
            "file": [k[0] for k in keys],
            begin: [k[1] for k in keys],
            end: [k[2] for k in keys],
        }
        if self.metadata is not None:
            table[BEGIN_DATETIME] = self._moments(table["file"], table[begin])
        return table

    def _windows(self, shard: Shard, errors: list[SegmentError]) -> Iterator[Windows]:
        """Yield the shard's windows in batches (across segments); failed segments go to errors.

        A segment holds the windows of its recording that start in it, decoded as the
        streaming path decodes them (see :mod:`opso.app.audio_windows`).
        """
        model = self.loaded()
        grid = WindowGrid.of(model.sample_rate, model.clip_duration, self.overlap)
        keys: list[tuple[str, float, float]] = []
        clips = np.zeros((self.batch_size, grid.size), dtype=np.float32)
        for segment in shard.segments:
            blocks = recording_windows(
                self.reader,
                Path(segment.source),
                grid,
                duration=segment.duration,
                start=segment.start,
                end=None if segment.is_last else segment.end,
            )
            try:
                for block in blocks:
                    for times, window in block:
                        clips[len(keys), : len(window)] = window
                        keys.append((segment.source, *times))
                        if len(keys) == self.batch_size:
                            yield keys, clips
                            keys = []
                            clips = np.zeros((self.batch_size, grid.size), dtype=np.float32)
            except (OpsoError, OSError, ValueError) as e:
                reason = failure_reason(e)
                errors.append(SegmentError(segment.source, segment.start, segment.end, reason))
        if keys:
            yield keys, clips[: len(keys)]


@dataclass
class DetectShards(_WindowShards):
    """Detect species in every window of a shard's segments (a :class:`ShardJob`).

    One row per kept (window, species), as ``opso predict --model birdnet`` writes them: the
    same windows, confidences and filter. The model loads on the first call in each worker
    process and stays loaded; pickling the job leaves it behind.

    Parameters
    ----------
    reader, models
        Decode recordings; load the model (``"birdnet"`` or a file, with ``labels``).
    model, labels
        The model as the user named it, and the labels of a model file.
    overlap, batch_size
        Seconds shared by consecutive windows; windows per model call.
    species_filter
        Confidence, sensitivity, species list, location and top-k.
    taxonomy
        Settles Alpha codes that several of the model's species share, as
        :class:`~opso.app.pretrained.DetectSpecies` does.
    metadata, timezone
        With a metadata reader, rows get ``begin_datetime`` after ``end_time``: the moment the
        window begins, in its recording's own time zone ("" when its start is unknown);
        ``timezone`` (an IANA name) places start times written without one (file names).
    """

    species_filter: SpeciesFilter = field(default_factory=SpeciesFilter)
    taxonomy: Taxonomy | None = None
    _allowed: NDArray[np.bool_] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.species_filter.validate()

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_allowed"] = None
        return state

    def settings(self) -> dict[str, Any]:
        """Everything that changes the rows: model and labels bytes, windows, filter, clock."""
        f = self.species_filter
        species = None
        if f.species is not None:
            names = "\n".join(sorted({s.strip().lower() for s in f.species})).encode("utf-8")
            species = {"count": len(f.species), "sha256": hashlib.sha256(names).hexdigest()}
        return {
            "job": "detect",
            **self._model_settings(),
            "min_confidence": f.min_confidence,
            "sensitivity": f.sensitivity,
            "species": species,
            "location": {
                "latitude": f.latitude,
                "longitude": f.longitude,
                "week": f.week,
                "threshold": f.location_threshold,
            },
            "top_k": f.top_k,
        }

    def __call__(self, shard: Shard) -> ShardOutput:
        """Detect in the shard's windows; a segment that cannot be read becomes an error."""
        model = self.loaded()
        if self._allowed is None:
            self._allowed = self.species_filter.allowed(model, self.taxonomy)
        names = [split_label(label) for label in model.classes]
        columns = [c for c in DETECTION_RUN_COLUMNS if c != BEGIN_DATETIME or self.metadata]
        table: dict[str, list[Any]] = {c: [] for c in columns}
        errors: list[SegmentError] = []
        for keys, clips in self._windows(shard, errors):
            detections = self.species_filter.detections(model.scores(clips), self._allowed)
            for i, k, confidence in detections:
                source, begin, end = keys[i]
                table["file"].append(source)
                table["begin_time"].append(begin)
                table["end_time"].append(end)
                table["scientific_name"].append(names[k][0])
                table["common_name"].append(names[k][1])
                table["confidence"].append(confidence)
        if self.metadata is not None:
            table[BEGIN_DATETIME] = self._moments(table["file"], table["begin_time"])
        return ShardOutput(table, tuple(errors))


@dataclass
class EmbedShards(_WindowShards):
    """Embed every window of a shard's segments (a :class:`ShardJob`).

    Rows have the layout ``opso embed`` writes: ``file, begin_time, end_time``, with a metadata
    reader ``begin_datetime`` (as :class:`DetectShards`), the features ``emb_0`` ...
    ``emb_<d-1>`` (float32), then ``error`` (empty: failed segments are the run's error rows).
    :meth:`settings` records the model and windows as ``embeddings``, so an export of the run
    is a table ``opso train --embeddings`` reads.
    """

    def settings(self) -> dict[str, Any]:
        """Return the model and windows (and the dimension) as ``opso embed`` records them."""
        model = self.loaded()
        probe = np.zeros((1, round(model.clip_duration * model.sample_rate)), dtype=np.float32)
        dimension = int(model.embeddings(probe).shape[1])
        record = embedding_settings(model, overlap=self.overlap, dimension=dimension)
        return {"job": "embed", **self._model_settings(), "embeddings": record.to_dict()}

    def __call__(self, shard: Shard) -> ShardOutput:
        """Embed the shard's windows; a segment that cannot be read becomes an error."""
        model = self.loaded()
        keys: list[tuple[str, float, float]] = []
        vectors: list[NDArray[np.float32]] = []
        errors: list[SegmentError] = []
        for batch, clips in self._windows(shard, errors):
            keys += batch
            vectors.append(np.asarray(model.embeddings(clips), dtype=np.float32))
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
        table = self._key_columns(keys, "begin_time", "end_time")
        for j in range(matrix.shape[1]):
            table[f"emb_{j}"] = np.ascontiguousarray(matrix[:, j])
        table["error"] = [""] * len(keys)
        return ShardOutput(table, tuple(errors))


@dataclass
class HeadShards(_WindowShards):
    """Score every window of a shard's segments with a head (a :class:`ShardJob`).

    Rows are those ``opso predict head.opso`` writes: ``file, start_time, end_time``, with a
    metadata reader ``begin_datetime`` (as :class:`DetectShards`), a score per class, then
    ``error`` (empty: failed segments are the run's error rows). Each worker loads the head's
    base model as the streaming path does (:func:`~opso.app.heads.load_base`, which refuses a
    changed model). Build it with :meth:`for_head`; ``model`` names the head file.
    """

    head: Head = field(kw_only=True)

    @classmethod
    def for_head(
        cls,
        reader: AudioReader,
        models: PretrainedModelStore,
        heads: HeadStore,
        head: Path,
        *,
        overlap: float | None = None,
        batch_size: int = 16,
        metadata: MetadataReader | None = None,
        timezone: str | None = None,
    ) -> HeadShards:
        """Load the head file ``head``; ``overlap`` defaults to that of its embeddings."""
        loaded = heads.load(head)
        return cls(
            reader,
            models,
            str(head),
            overlap=loaded.settings.overlap if overlap is None else overlap,
            batch_size=batch_size,
            metadata=metadata,
            timezone=timezone,
            head=loaded,
        )

    def loaded(self) -> PretrainedModel:
        """Return the head's base model, loaded and checked on first use in this process."""
        if self._loaded is None:
            self._loaded = load_base(self.models, self.head, self.model)
        return self._loaded

    def _scores(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        return head_scores(self.head, self.loaded(), clips, self.model)

    def settings(self) -> dict[str, Any]:
        """Everything that changes the rows: the head, its base model's bytes, windows, clock."""
        head, model = self.head, self.loaded()
        self._scores(np.zeros((1, round(model.clip_duration * model.sample_rate)), np.float32))
        return {
            "job": "head",
            **self._model_settings(),
            "head_sha256": head_digest(head),
            "classes": list(head.classes),
        }

    def __call__(self, shard: Shard) -> ShardOutput:
        """Score the shard's windows; a segment that cannot be read becomes an error."""
        head = self.head
        keys: list[tuple[str, float, float]] = []
        scores: list[NDArray[np.float32]] = []
        errors: list[SegmentError] = []
        for batch, clips in self._windows(shard, errors):
            keys += batch
            scores.append(self._scores(clips))
        matrix = np.concatenate(scores) if scores else np.zeros((0, len(head.classes)), np.float32)
        table = self._key_columns(keys, "start_time", "end_time")
        for j, name in enumerate(head.classes):
            table[name] = np.ascontiguousarray(matrix[:, j], dtype=np.float64)
        table["error"] = [""] * len(keys)
        return ShardOutput(table, tuple(errors))


@dataclass(slots=True)
class RavenTablesReport:
    """The Raven tables written from a detection run."""

    tables: list[Path] = field(default_factory=list)
    #: Recordings left without a table: they have error rows in the run, or no audio.
    failed: list[str] = field(default_factory=list)
    time_note: str | None = None


@dataclass(frozen=True)
class RunRavenTables:
    """Write the Raven tables of a complete detection run from its stored rows (no model).

    The tables are those ``opso predict --model birdnet --raven`` writes for the same
    recordings and settings: one per recording without an error row, with the same rows,
    columns and values (start times are read again as that path reads them).
    """

    store: RunStore
    parts: PartStore
    annotations: AnnotationStore
    metadata: MetadataReader | None = None

    def run(
        self, *, run_dir: Path, raven_dir: Path, names: Mapping[str, str] | None = None
    ) -> RavenTablesReport:
        """Write ``<raven_dir>/<name>.BirdNET.selections.txt`` for each readable recording.

        Parameters
        ----------
        run_dir
            A run directory of :class:`DetectShards` (``opso predict --model ... --run-dir``).
        raven_dir
            Folder of the tables (created if missing); each is written atomically.
        names
            Table name of each recording by source path, as :func:`~opso.app.files.
            find_audio_files` named the inputs; None names each by its path relative to the
            folder that holds all the run's recordings (see :func:`run_table_names`).

        Raises
        ------
        RunDirectoryError
            If ``run_dir`` holds no run, or its run is not complete (nothing is written).
        ParameterError
            If the run is not a detection run.
        """
        settings = self.store.read_fingerprint(run_dir)
        manifest = self.store.read_manifest(run_dir)
        if settings is None or manifest is None:
            raise RunDirectoryError(f"{run_dir}: not a run directory (no fingerprint or manifest)")
        job = settings.get("job", {})
        if job.get("job") != "detect":
            raise ParameterError(
                f"{run_dir}: Raven tables come from detection runs "
                "(opso predict --model ... --run-dir); this run is not one"
            )
        done = self.parts.completed(run_dir) & {s.index for s in manifest.shards}
        if len(done) < len(manifest.shards):
            raise RunDirectoryError(
                f"{run_dir}: the run is not complete ({len(done)}/{len(manifest.shards)} "
                "shards), so no Raven tables were written; run it again to finish it"
            )
        durations: dict[str, float] = {}
        for shard in manifest.shards:
            for segment in shard.segments:
                durations[segment.source] = segment.duration
        sources = [*durations, *(e.source for e in manifest.unreadable)]
        # as the streaming path: a recording with an error row, or no audio, gets no table
        failed = {e.source for e in self.parts.read_errors(run_dir)}
        failed |= {source for source, duration in durations.items() if duration <= 0}
        zone = None if job.get("timezone") is None else parse_timezone(str(job["timezone"]))
        metadata = self.metadata if job.get("clock_times") else None
        starts = read_start_times(metadata, [Path(s) for s in sources], timezone=zone)
        found: dict[str, list[tuple[float, int, dict[str, object]]]] = {
            s: [] for s in durations if s not in failed
        }
        for part in self.parts.read_parts(run_dir):
            table = part.columns
            for i, source in enumerate(table.get("file", ())):
                if source in found:
                    begin = float(table["begin_time"][i])
                    row: dict[str, object] = {
                        "begin_time": begin,
                        "end_time": float(table["end_time"][i]),
                        "scientific_name": str(table["scientific_name"][i]),
                        "common_name": str(table["common_name"][i]),
                        "confidence": float(table["confidence"][i]),
                    }
                    found[source].append((begin, len(found[source]), row))
        names = run_table_names(sources) if names is None else names
        report = RavenTablesReport(
            failed=[s for s in sources if s not in found], time_note=starts.note
        )
        for source, keyed in found.items():
            rows = [row for *_, row in sorted(keyed, key=lambda k: k[:2])]  # window order
            path = raven_dir / f"{names[source]}{RAVEN_SUFFIX}"
            self.annotations.write(raven_table(source, rows, starts.starts.get(source)), path)
            report.tables.append(path)
        return report


def run_table_names(sources: Sequence[str]) -> dict[str, str]:
    """Name each recording by :func:`~opso.app.files.names_in_common_folder`.

    That is as :func:`~opso.app.files.find_audio_files` names the files of a folder given,
    the folder being the one that holds them all.
    """
    return dict(zip(sources, names_in_common_folder([Path(s) for s in sources]), strict=True))
