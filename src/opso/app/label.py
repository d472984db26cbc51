"""Use-case: split recordings with their annotation tables into clips and one label table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from opso.app.files import AudioJob, FileFailure, find_audio_files
from opso.app.split import SplitAudio, clip_path
from opso.app.start_times import BEGIN_DATETIME, StartTimes, read_start_times
from opso.domain.annotations import AnnotationSet, ClipLabels
from opso.domain.audio import FinalClip, clip_times
from opso.domain.errors import AnnotationError, OpsoError, ParameterError
from opso.ports.annotation_store import AnnotationStore
from opso.ports.audio_io import AudioReader, AudioWriter
from opso.ports.metadata import MetadataReader
from opso.ports.progress import Progress, no_progress
from opso.ports.tables import TableWriter

#: Columns of the label table before the one column per class.
LABEL_TABLE_COLUMNS = ("clip", "source", "begin_time", "end_time")


def recording_key(path: Path) -> str:
    """Return the name shared by a recording and its tables: the file name up to its first dot.

    ``site1.wav`` and ``site1.Table.1.selections.txt`` share ``site1`` (Raven's own naming).
    """
    return path.name.split(".")[0]


@dataclass(frozen=True, slots=True)
class ClipRecord:
    """One clip: where it lies in its recording and the file it was written to (if any)."""

    source: Path
    begin_time: float
    end_time: float
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class RecordingPair:
    """A recording and the annotation table that goes with it."""

    audio: Path
    table: Path
    name: str


@dataclass(frozen=True, slots=True)
class BoxesPastEnd:
    """Boxes of a table that begin at or after the end of their recording: no clip holds them.

    Often a table made for another (longer) recording, or a recording cut short.
    """

    table: Path
    recording: Path
    duration: float
    boxes: AnnotationSet

    def __str__(self) -> str:
        """Name the table, the recording's duration and the first few boxes."""
        shown = [
            f"{'unlabelled' if a.label is None else repr(a.label)} at "
            f"{a.begin_time:g}-{a.end_time:g} s"
            for a in list(self.boxes)[:3]
        ]
        more = f" and {len(self.boxes) - 3} more" if len(self.boxes) > 3 else ""
        return (
            f"{self.table}: {len(self.boxes)} box(es) begin after the end of {self.recording} "
            f"({self.duration:.3f} s), so no clip holds them: {', '.join(shown)}{more}"
        )


@dataclass
class LabelReport:
    """What a labelling run found, labelled and wrote.

    Attributes
    ----------
    clips
        The labelled clips, in recording then time order; ``labels.matrix`` rows match them.
    labels
        Multi-hot labels of ``clips``.
    pairs
        The recordings that had a table.
    unmatched_audio, unmatched_tables
        Recordings without a table and tables without a recording (both left out).
    unlabelled
        Tables holding boxes without a label, with how many.
    failures
        Recordings (or their tables) that could not be read; the rest still ran.
    unmatched_classes
        Requested classes that no box of the tables read is labelled with (in any case):
        their columns are all 0.
    past_end
        Per table, the boxes that begin at or after the end of their recording (no clip
        holds them).
    time_note
        Set when the recordings were in several time zones (``begin_datetime`` is in UTC).
    """

    clips: list[ClipRecord] = field(default_factory=list)
    labels: ClipLabels = field(
        default_factory=lambda: ClipLabels(np.zeros((0, 0), dtype=np.uint8), ())
    )
    pairs: list[RecordingPair] = field(default_factory=list)
    unmatched_audio: list[Path] = field(default_factory=list)
    unmatched_tables: list[Path] = field(default_factory=list)
    unlabelled: dict[Path, int] = field(default_factory=dict)
    failures: list[FileFailure] = field(default_factory=list)
    unmatched_classes: list[str] = field(default_factory=list)
    past_end: list[BoxesPastEnd] = field(default_factory=list)
    time_note: str | None = None


def _spelling_by_folded_name(classes: Sequence[str]) -> dict[str, str]:
    """Map each class's case-folded name to its spelling, in order; repeats raise ValueError."""
    spelling: dict[str, str] = {}
    for c in classes:
        if c.casefold() in spelling:
            raise ParameterError(
                f"classes repeats a name (ignoring case): {spelling[c.casefold()]!r} and {c!r}"
            )
        spelling[c.casefold()] = c
    return spelling


def _respell(annotations: AnnotationSet, spelling: dict[str, str]) -> AnnotationSet:
    """Rename labels that equal a wanted class ignoring case to that class's spelling."""
    renames = {c: spelling[c.casefold()] for c in annotations.classes if c.casefold() in spelling}
    return annotations.relabel(renames)


def pair_recordings(
    audio: Sequence[AudioJob], tables: Sequence[Path]
) -> tuple[list[RecordingPair], list[Path], list[Path]]:
    """Match recordings to tables by :func:`recording_key`.

    Returns
    -------
    pairs, unmatched_audio, unmatched_tables

    Raises
    ------
    ValueError
        If two recordings, or two tables, share a key (the match would be ambiguous).
    """

    def by_key(paths: Sequence[Path], what: str) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for p in paths:
            k = recording_key(p)
            if k in out:
                raise ParameterError(f"two {what} share the name {k!r}: {out[k]} and {p}")
            out[k] = p
        return out

    jobs = {j.source: j for j in audio}
    audio_by_key = by_key([j.source for j in audio], "recordings")
    table_by_key = by_key(list(tables), "annotation tables")
    keys = sorted(audio_by_key.keys() & table_by_key.keys())
    pairs = [
        RecordingPair(audio_by_key[k], table_by_key[k], jobs[audio_by_key[k]].name) for k in keys
    ]
    unmatched_audio = sorted(p for k, p in audio_by_key.items() if k not in table_by_key)
    unmatched_tables = sorted(p for k, p in table_by_key.items() if k not in audio_by_key)
    return pairs, unmatched_audio, unmatched_tables


@dataclass(frozen=True)
class LabelRecordings:
    """Split recordings with their Raven tables into clips and write one multi-hot label table.

    With a ``metadata`` reader, the table gives the moment each clip begins
    (``begin_datetime``) when its recording's start time is known.
    """

    reader: AudioReader
    writer: AudioWriter
    annotations: AnnotationStore
    tables: TableWriter
    metadata: MetadataReader | None = None

    def run(
        self,
        *,
        annotation_dir: Path,
        audio: Sequence[Path],
        clip_duration: float,
        clip_overlap: float = 0,
        final_clip: FinalClip = None,
        min_overlap: float = 0.0,
        classes: Sequence[str] | None = None,
        label_column: str | None = None,
        table_pattern: str = "*.selections.txt",
        unlabelled_as: str | None = None,
        sample_rate: int | None = None,
        clips_dir: Path | None = None,
        labeled_clips_only: bool = False,
        labels_path: Path | None = None,
        dry_run: bool = False,
        timezone: tzinfo | None = None,
        progress: Progress = no_progress,
    ) -> LabelReport:
        """Label every clip of every recording that has a table.

        Parameters
        ----------
        annotation_dir
            Folder searched (recursively) for tables matching ``table_pattern``.
        audio
            Recordings: files or folders (searched recursively).
        clip_duration, clip_overlap, final_clip
            How recordings are cut, as :meth:`opso.Audio.split`.
        min_overlap
            Least time (s) a box must share with a clip to label it.
        classes
            Label columns, in this order; None takes every label of the matched tables. A
            class takes the boxes whose label equals it ignoring case (``WOTH`` takes
            ``woth`` and ``Woth`` boxes) and keeps the spelling given here.
        label_column
            The tables' label column; None takes the first of class/species/annotation.
        unlabelled_as
            Label given to boxes without one; None leaves them out (they are still counted
            in ``LabelReport.unlabelled``).
        sample_rate
            Resample written clips to this rate (Hz).
        clips_dir
            Write clip files here (named as ``opso split`` names them); None writes no audio
            and labels clips by their place in the recording.
        labeled_clips_only
            Keep only clips holding at least one of ``classes``.
        labels_path
            Write the label table here (columns ``clip`` (when clips are written), ``source``,
            ``begin_time``, ``end_time``, ``begin_datetime`` when a start time is known,
            then one 0/1 column per class).
        dry_run
            Write nothing; only return what would be written.
        timezone
            Zone of start times written without one (file names); None reads them as UTC.

        Raises
        ------
        FileNotFoundError
            If ``annotation_dir`` or an audio path does not exist.
        AnnotationError
            If no recording pairs with a table (nothing is written then).
        ValueError
            If the clip settings are invalid, names are ambiguous, ``classes`` repeats a name
            (ignoring case), or a class is named like a fixed column of the label table.
        """
        clip_times(clip_duration, clip_duration, clip_overlap, final_clip)  # validate up front
        if min_overlap < 0:
            raise ParameterError(f"min_overlap must be >= 0 seconds, got {min_overlap!r}")
        spelling = None if classes is None else _spelling_by_folded_name(classes)
        report = LabelReport()
        tables = self.annotations.find(annotation_dir, pattern=table_pattern)
        jobs = find_audio_files(audio)
        report.pairs, report.unmatched_audio, report.unmatched_tables = pair_recordings(
            jobs, tables
        )
        if not report.pairs:
            raise AnnotationError(
                f"no recording pairs with a table: {len(jobs)} recording(s) and {len(tables)} "
                f"table(s) under {annotation_dir}, and a recording pairs with the table whose "
                "name before the first dot is its own (site1.wav with "
                "site1.Table.1.selections.txt); nothing was written"
            )
        sets: dict[Path, AnnotationSet] = {}
        for pair in report.pairs:
            try:
                found = self.annotations.read(
                    pair.table, label_column=label_column, source=str(pair.audio)
                )
            except (OpsoError, OSError) as e:
                report.failures.append(FileFailure(pair.audio, str(e)))
                continue
            if found.n_unlabelled:
                report.unlabelled[pair.table] = found.n_unlabelled
                if unlabelled_as is not None:
                    found = found.relabel({}, unlabelled=unlabelled_as)
            sets[pair.audio] = found
        found_classes = sorted({c for a in sets.values() for c in a.classes})
        if spelling is None:
            cols = tuple(found_classes)
        else:
            cols = tuple(spelling.values())
            sets = {k: _respell(a, spelling) for k, a in sets.items()}
            found_folded = {c.casefold() for c in found_classes}
            report.unmatched_classes = [c for c in cols if c.casefold() not in found_folded]
        clash = set(cols) & set(LABEL_TABLE_COLUMNS)
        if clash:
            raise ParameterError(f"class names clash with label table columns: {sorted(clash)}")
        matrices: list[NDArray[np.uint8]] = []
        splitter = SplitAudio(self.writer)
        write_clips = clips_dir is not None and not dry_run
        for i, pair in enumerate(report.pairs, start=1):
            if pair.audio in sets:
                try:
                    clips, rows, duration = self._label_one(
                        pair,
                        sets[pair.audio],
                        splitter,
                        cols=cols,
                        clip_duration=clip_duration,
                        clip_overlap=clip_overlap,
                        final_clip=final_clip,
                        min_overlap=min_overlap,
                        sample_rate=sample_rate,
                        clips_dir=clips_dir,
                        write_clips=write_clips,
                        labeled_clips_only=labeled_clips_only,
                        timezone=timezone,
                    )
                    report.clips.extend(clips)
                    matrices.append(rows)
                    past = sets[pair.audio].select(sets[pair.audio].begin_time >= duration)
                    if len(past):
                        report.past_end.append(BoxesPastEnd(pair.table, pair.audio, duration, past))
                except (OpsoError, OSError, ValueError) as e:
                    report.failures.append(FileFailure(pair.audio, str(e)))
            progress(i, len(report.pairs), str(pair.audio))
        matrix = np.concatenate(matrices) if matrices else np.zeros((0, len(cols)), np.uint8)
        matrix.flags.writeable = False
        report.labels = ClipLabels(matrix, cols)
        if labels_path is not None and not dry_run:
            sources = [pair.audio for pair in report.pairs]
            starts = read_start_times(self.metadata, sources, timezone=timezone)
            report.time_note = starts.note
            self._write_table(report, labels_path, clips_dir, starts)
        return report

    def _label_one(
        self,
        pair: RecordingPair,
        annotations: AnnotationSet,
        splitter: SplitAudio,
        *,
        cols: tuple[str, ...],
        clip_duration: float,
        clip_overlap: float,
        final_clip: FinalClip,
        min_overlap: float,
        sample_rate: int | None,
        clips_dir: Path | None,
        write_clips: bool,
        labeled_clips_only: bool,
        timezone: tzinfo | None,
    ) -> tuple[list[ClipRecord], NDArray[np.uint8], float]:
        """Cut one recording into clips, label them, and write the kept clips if asked.

        Written clips carry the recording's metadata with their own start time.
        Returns the clips, their labels and the recording's duration in seconds.
        """
        audio = None
        paths: list[Path | None]
        if write_clips and clips_dir is not None:
            audio = self.reader.read(pair.audio, sample_rate=sample_rate)
            if self.metadata is not None:
                info = self.metadata.read(pair.audio, timezone=timezone)
                audio = replace(audio, metadata=info)
            duration = audio.duration()
            records = splitter.run(
                audio=audio,
                destination=clips_dir,
                prefix=pair.name,
                clip_duration=clip_duration,
                clip_overlap=clip_overlap,
                final_clip=final_clip,
                dry_run=labeled_clips_only,  # else written below, once labels are known
                source=pair.audio,
            )
            times = [(r.begin_time, r.end_time) for r in records]
            paths = [r.path for r in records]
        else:
            duration = self.reader.info(pair.audio).duration
            times = clip_times(duration, clip_duration, clip_overlap, final_clip)
            paths = [
                None if clips_dir is None else clip_path(clips_dir, pair.name, b, e)
                for b, e in times
            ]
        labels = annotations.clip_labels(
            sources=str(pair.audio),
            begin_time=[b for b, _ in times],
            end_time=[e for _, e in times],
            min_overlap=min_overlap,
            classes=cols,
        ).matrix
        has_label = labels.sum(axis=1) > 0
        keep = np.asarray(has_label if labeled_clips_only else np.ones(len(times)), dtype=bool)
        wanted_rows: list[bool] = keep.tolist()
        if audio is not None and labeled_clips_only:
            pieces = audio.split(clip_duration, clip_overlap, final_clip)
            for piece, path, wanted in zip(pieces, paths, wanted_rows, strict=True):
                if wanted and path is not None:
                    self.writer.write(piece["audio"], path)
        clips = [
            ClipRecord(pair.audio, b, e, p)
            for (b, e), p, wanted in zip(times, paths, wanted_rows, strict=True)
            if wanted
        ]
        return clips, labels[keep], duration

    def _write_table(
        self, report: LabelReport, path: Path, clips_dir: Path | None, starts: StartTimes
    ) -> None:
        columns = list(LABEL_TABLE_COLUMNS if clips_dir is not None else LABEL_TABLE_COLUMNS[1:])
        columns += [BEGIN_DATETIME] if starts.known else []
        columns += report.labels.classes
        rows: list[dict[str, object]] = []
        for clip, values in zip(report.clips, report.labels.matrix.tolist(), strict=True):
            row: dict[str, object] = dict(zip(report.labels.classes, values, strict=True))
            row["source"] = str(clip.source)
            row["begin_time"] = clip.begin_time
            row["end_time"] = clip.end_time
            if starts.known:
                row[BEGIN_DATETIME] = starts.at(clip.source, clip.begin_time)
            if clips_dir is not None and clip.path is not None:
                row["clip"] = clip.path.relative_to(clips_dir).as_posix()
            rows.append(row)
        self.tables.write(rows, path, columns=columns)
