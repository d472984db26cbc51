"""Use-cases: detect species and embed windows of recordings with a pretrained model (BirdNET)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from opso.app.audio_windows import WindowGrid, recording_windows
from opso.app.files import AudioJob, FileFailure, failure_reason
from opso.app.start_times import (
    BEGIN_DATETIME,
    StartTimes,
    raven_clock_columns,
    read_start_times,
)
from opso.domain.annotations import AnnotationSet
from opso.domain.errors import OpsoError, OpsoLoadAudioInputError, ParameterError
from opso.domain.heads import EmbeddingSettings
from opso.domain.pretrained import (
    check_location,
    check_sensitivity,
    flat_sigmoid,
    select_species,
    split_label,
)
from opso.domain.taxa import Taxonomy
from opso.ports.annotation_store import AnnotationStore
from opso.ports.audio_io import AudioReader
from opso.ports.metadata import MetadataReader
from opso.ports.pretrained import EmbeddingWriter, PretrainedModel
from opso.ports.progress import Progress, no_progress
from opso.ports.rows import RowSink

#: Columns of the detection table, one row per (window, species) kept.
DETECTION_COLUMNS = (
    "file",
    "begin_time",
    "end_time",
    "scientific_name",
    "common_name",
    "confidence",
    "error",
)
#: Key columns of the embedding table: ``file, begin_time, end_time``, then the features as
#: float32 columns ``emb_0`` ... ``emb_<d-1>``, then ``error``.
EMBEDDING_KEYS = ("file", "begin_time", "end_time", "error")
#: Raven tables are named ``<recording name><RAVEN_SUFFIX>``.
RAVEN_SUFFIX = ".BirdNET.selections.txt"
#: Top of the box drawn for every detection in a Raven table (BirdNET hears up to 15 kHz).
RAVEN_HIGH_FREQ = 15000.0


@dataclass(frozen=True)
class SpeciesFilter:
    """Which detections to keep: confidence, sensitivity, species and top-k per window."""

    min_confidence: float = 0.1
    sensitivity: float = 1.0
    species: tuple[str, ...] | None = None
    species_source: str = "species list"
    latitude: float | None = None
    longitude: float | None = None
    week: int | None = None
    location_threshold: float = 0.03
    top_k: int | None = None

    def validate(self) -> None:
        """Check every setting before any file is read.

        Raises
        ------
        ParameterError
            If a value is out of range (the message names it).
        """
        check_sensitivity(self.sensitivity)
        check_location(self.latitude, self.longitude, self.week)
        if not 0 <= self.min_confidence <= 1:
            raise ParameterError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if not 0 <= self.location_threshold <= 1:
            raise ParameterError(
                f"location_threshold must be in [0, 1], got {self.location_threshold}"
            )
        if self.top_k is not None and self.top_k < 1:
            raise ParameterError(f"top_k must be >= 1, got {self.top_k}")

    def allowed(
        self, model: PretrainedModel, taxonomy: Taxonomy | None = None
    ) -> NDArray[np.bool_]:
        """Mask of the model's classes this filter lets through.

        ``taxonomy`` settles Alpha codes that several of the model's species share.
        """
        self.validate()
        mask = np.ones(len(model.classes), dtype=bool)
        if self.species is not None:
            mask &= select_species(
                model.classes, self.species, source=self.species_source, taxonomy=taxonomy
            )
        location = check_location(self.latitude, self.longitude, self.week)
        if location is not None:
            mask &= model.occurrence(*location) >= self.location_threshold
        return mask

    def kept(self, confidence: NDArray[np.float32]) -> NDArray[np.intp]:
        """Classes kept from one window's confidences: the confident ones, best first, top-k."""
        kept = np.flatnonzero(confidence >= self.min_confidence)
        return kept[np.argsort(-confidence[kept], kind="stable")][: self.top_k]

    def detections(
        self, logits: NDArray[np.float32], allowed: NDArray[np.bool_]
    ) -> Iterator[tuple[int, int, float]]:
        """Yield ``(window, class, confidence)`` of each detection kept from a batch's logits.

        Confidences are BirdNET's sigmoid at this filter's sensitivity, rounded to 4 decimals;
        classes outside ``allowed`` (see :meth:`allowed`) are dropped, then :meth:`kept` picks.
        """
        confidence = flat_sigmoid(logits, self.sensitivity)
        confidence[:, ~allowed] = -1.0
        for i, row in enumerate(confidence):
            for k in self.kept(row):
                yield i, int(k), round(float(row[k]), 4)


@dataclass(slots=True)
class DetectReport:
    """What a detection run found and wrote."""

    output: Path | None
    files: int = 0
    windows: int = 0
    detections: int = 0
    failures: list[FileFailure] = field(default_factory=list)
    raven_tables: list[Path] = field(default_factory=list)
    time_note: str | None = None


@dataclass(frozen=True, slots=True)
class _Batch:
    keys: list[tuple[str, float, float]]
    clips: NDArray[np.float32]


def windows(
    reader: AudioReader,
    model: PretrainedModel,
    jobs: Sequence[AudioJob],
    *,
    overlap: float = 0.0,
    batch_size: int = 16,
    progress: Progress = no_progress,
) -> Iterator[_Batch | FileFailure]:
    """Yield batches of windows of ``jobs`` in order, and a failure for each unreadable one.

    Each recording is decoded at the model's sample rate (resampled if needed) a block at a
    time, the next block meanwhile, and cut as :func:`opso.domain.pretrained.pad_windows`
    cuts it (see :mod:`opso.app.audio_windows`). Batches span recordings; a failure comes
    after the windows read before it (the earlier blocks of its own recording too).
    """
    if batch_size < 1:
        raise ParameterError(f"batch_size must be >= 1, got {batch_size}")
    grid = WindowGrid.of(model.sample_rate, model.clip_duration, overlap)
    keys: list[tuple[str, float, float]] = []
    clips: list[NDArray[np.float32]] = []

    def flush() -> Iterator[_Batch]:
        if clips:
            batch = np.zeros((len(clips), grid.size), dtype=np.float32)
            for k, clip in enumerate(clips):
                batch[k, : len(clip)] = clip
            yield _Batch(list(keys), batch)
            keys.clear()
            clips.clear()

    for i, job in enumerate(jobs, start=1):
        cut = 0
        try:
            duration = reader.info(job.source).duration
            for block in recording_windows(reader, job.source, grid, duration=duration):
                for (begin, end), window in block:
                    keys.append((str(job.source), begin, end))
                    clips.append(window)
                    cut += 1
                    if len(keys) >= batch_size:
                        yield from flush()
            if not cut:
                raise OpsoLoadAudioInputError(f"{job.source}: recording holds no audio")
        except (OpsoError, OSError, ValueError) as e:
            yield from flush()
            yield FileFailure(job.source, failure_reason(e))
        progress(i, len(jobs), str(job.source))
    yield from flush()


@dataclass(frozen=True)
class DetectSpecies:
    """Run a pretrained detector over recordings: one row per detection, Raven tables on demand."""

    reader: AudioReader
    sink: RowSink
    annotations: AnnotationStore
    metadata: MetadataReader | None = None
    taxonomy: Taxonomy | None = None

    def detections(
        self,
        model: PretrainedModel,
        jobs: Sequence[AudioJob],
        *,
        species_filter: SpeciesFilter = SpeciesFilter(),
        overlap: float = 0.0,
        batch_size: int = 16,
        progress: Progress = no_progress,
    ) -> Iterator[dict[str, object]]:
        """Yield detection rows (see :data:`DETECTION_COLUMNS`) and one error row per bad file.

        A window's confidences are BirdNET's sigmoid of its logits at the filter's
        sensitivity; classes the filter excludes are dropped, then those under
        ``min_confidence``; the rest come best first, at most ``top_k`` of them.
        """
        allowed = species_filter.allowed(model, self.taxonomy)
        names = [split_label(label) for label in model.classes]
        for item in windows(
            self.reader, model, jobs, overlap=overlap, batch_size=batch_size, progress=progress
        ):
            if isinstance(item, FileFailure):
                yield {"file": str(item.source), "error": item.reason}
                continue
            for i, k, confidence in species_filter.detections(model.scores(item.clips), allowed):
                source, begin, end = item.keys[i]
                scientific, common = names[k]
                yield {
                    "file": source,
                    "begin_time": begin,
                    "end_time": end,
                    "scientific_name": scientific,
                    "common_name": common,
                    "confidence": confidence,
                    "error": "",
                }

    def run(
        self,
        *,
        model: PretrainedModel,
        jobs: Sequence[AudioJob],
        output: Path | None,
        raven_dir: Path | None = None,
        species_filter: SpeciesFilter = SpeciesFilter(),
        overlap: float = 0.0,
        batch_size: int = 16,
        timezone: tzinfo | None = None,
        progress: Progress = no_progress,
    ) -> DetectReport:
        """Write the detections of ``jobs`` to ``output`` (CSV) and/or Raven tables.

        Parameters
        ----------
        model
            A loaded pretrained model.
        jobs
            Recordings, in output order.
        output
            Detection table (:data:`DETECTION_COLUMNS`, with ``begin_datetime`` after
            ``end_time`` when a recording's start time is known), streamed and published when
            the run ends; None writes only Raven tables.
        raven_dir
            If given, each readable recording gets ``<raven_dir>/<name>.BirdNET.selections.txt``
            (a Raven Pro selection table, possibly without rows), written after the CSV. Its
            rows carry ``Begin Date Time`` and ``Begin Clock Time`` when the start is known.
        timezone
            Zone of start times written without one (file names); None reads them as UTC.
        species_filter, overlap, batch_size, progress
            See :meth:`detections`.

        Raises
        ------
        ParameterError
            If neither output is given or a setting is invalid (before any file is read).
        """
        if output is None and raven_dir is None:
            raise ParameterError("give an output table, a Raven folder, or both")
        species_filter.validate()
        report = DetectReport(output=output)
        starts = read_start_times(self.metadata, [j.source for j in jobs], timezone=timezone)
        report.time_note = starts.note
        by_file: dict[str, list[dict[str, object]]] = {str(j.source): [] for j in jobs}
        report.files = len(jobs)
        rows = self.detections(
            model,
            jobs,
            species_filter=species_filter,
            overlap=overlap,
            batch_size=batch_size,
            progress=progress,
        )
        if starts.known:
            rows = (_with_time(row, starts) for row in rows)
        if output is None:
            for row in rows:
                self._collect(row, by_file, report)
        else:
            columns = list(DETECTION_COLUMNS)
            if starts.known:
                columns.insert(columns.index("end_time") + 1, BEGIN_DATETIME)
            with self.sink.open(output, columns=columns) as stream:
                for row in rows:
                    self._collect(row, by_file, report)
                    stream.write([row])
        if raven_dir is not None:
            failed = {str(f.source) for f in report.failures}
            for job in jobs:
                if str(job.source) in failed:
                    continue
                path = raven_dir / f"{job.name}{RAVEN_SUFFIX}"
                start = starts.starts.get(str(job.source))
                self.annotations.write(
                    raven_table(str(job.source), by_file[str(job.source)], start), path
                )
                report.raven_tables.append(path)
        return report

    @staticmethod
    def _collect(
        row: dict[str, object], by_file: dict[str, list[dict[str, object]]], report: DetectReport
    ) -> None:
        if row["error"]:
            report.failures.append(FileFailure(Path(str(row["file"])), str(row["error"])))
        else:
            report.detections += 1
            by_file[str(row["file"])].append(row)


def _with_time(row: dict[str, object], starts: StartTimes) -> dict[str, object]:
    """Add the moment a row's window begins (error rows get none)."""
    if not row["error"]:
        row[BEGIN_DATETIME] = starts.at(str(row["file"]), float(str(row["begin_time"])))
    return row


def raven_table(
    recording: str, rows: Sequence[dict[str, object]], start: datetime | None = None
) -> AnnotationSet:
    """One recording's detections as a Raven selection table (BirdNET-Analyzer's columns).

    ``rows`` hold ``begin_time, end_time, scientific_name, common_name, confidence`` (rows
    of :data:`DETECTION_COLUMNS`), in the table's order. With the recording's ``start``, rows
    also get Raven's ``Begin Date Time`` and ``Begin Clock Time`` (in the start's own zone).
    """
    extra: dict[str, list[object]] = {
        "Scientific Name": [str(r["scientific_name"]) for r in rows],
        "Confidence": [f"{float(str(r['confidence'])):.4f}" for r in rows],
        "Begin Path": [recording] * len(rows),
    }
    if start is not None:
        extra.update(raven_clock_columns(start, [float(str(r["begin_time"])) for r in rows]))
    return AnnotationSet.from_columns(
        source=recording,
        begin_time=[float(str(r["begin_time"])) for r in rows],
        end_time=[float(str(r["end_time"])) for r in rows],
        label=[str(r["common_name"]) for r in rows],
        low_f=[0.0] * len(rows),
        high_f=[RAVEN_HIGH_FREQ] * len(rows),
        extra=extra,
        label_name="Common Name",
    )


@dataclass(slots=True)
class EmbedReport:
    """What an embedding run wrote."""

    output: Path | None
    files: int = 0
    windows: int = 0
    failures: list[FileFailure] = field(default_factory=list)
    time_note: str | None = None


def embedding_settings(
    model: PretrainedModel, *, overlap: float, dimension: int
) -> EmbeddingSettings:
    """Record of the model (its file's SHA-256) and windows that made a table of embeddings."""
    return EmbeddingSettings(
        model=model.reference,
        sample_rate=model.sample_rate,
        clip_duration=model.clip_duration,
        overlap=overlap,
        dimension=dimension,
    )


@dataclass(frozen=True)
class EmbedWindows:
    """Embed every window of recordings with a pretrained model (BirdNET: 1024 features).

    With a ``metadata`` reader, rows of recordings whose start time is known also get the
    moment each window begins (``begin_datetime``).
    """

    reader: AudioReader
    writer: EmbeddingWriter
    metadata: MetadataReader | None = None

    def embeddings(
        self,
        model: PretrainedModel,
        jobs: Sequence[AudioJob],
        *,
        overlap: float = 0.0,
        batch_size: int = 16,
        progress: Progress = no_progress,
    ) -> tuple[list[dict[str, object]], NDArray[np.float32]]:
        """Return one key row (:data:`EMBEDDING_KEYS`) and one vector per window.

        A recording that cannot be read gets one row with its reason in ``error`` and a
        vector of NaN; the others are embedded as usual.
        """
        rows: list[dict[str, object]] = []
        vectors: list[NDArray[np.float32]] = []
        failed: list[int] = []
        for item in windows(
            self.reader, model, jobs, overlap=overlap, batch_size=batch_size, progress=progress
        ):
            if isinstance(item, FileFailure):
                failed.append(len(rows))
                rows.append(
                    {
                        "file": str(item.source),
                        "begin_time": np.nan,
                        "end_time": np.nan,
                        "error": item.reason,
                    }
                )
                vectors.append(np.empty((1, 0), dtype=np.float32))
                continue
            rows.extend(
                {"file": s, "begin_time": b, "end_time": e, "error": ""} for s, b, e in item.keys
            )
            vectors.append(model.embeddings(item.clips))
        width = max((v.shape[1] for v in vectors), default=0)
        out = np.full((len(rows), width), np.nan, dtype=np.float32)
        at = 0
        for v in vectors:
            if v.shape[1]:
                out[at : at + len(v)] = v
            at += max(len(v), 1)
        return rows, out

    def run(
        self,
        *,
        model: PretrainedModel,
        jobs: Sequence[AudioJob],
        output: Path,
        overlap: float = 0.0,
        batch_size: int = 16,
        timezone: tzinfo | None = None,
        progress: Progress = no_progress,
    ) -> EmbedReport:
        """Embed ``jobs`` and write the table to ``output`` (Parquet) in one atomic write.

        The table records the model (name, how to load it, its file's SHA-256) and windows;
        ``timezone`` places start times written without one (file names; None: UTC).
        """
        rows, vectors = self.embeddings(
            model, jobs, overlap=overlap, batch_size=batch_size, progress=progress
        )
        starts = read_start_times(self.metadata, [j.source for j in jobs], timezone=timezone)
        if starts.known:
            rows = [_with_time(row, starts) for row in rows]
        report = EmbedReport(output=output, files=len(jobs), time_note=starts.note)
        report.failures = [
            FileFailure(Path(str(r["file"])), str(r["error"])) for r in rows if r["error"]
        ]
        report.windows = len(rows) - len(report.failures)
        settings = embedding_settings(model, overlap=overlap, dimension=vectors.shape[1])
        self.writer.write(rows, vectors, output, settings=settings)
        return report
