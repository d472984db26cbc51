"""Use-cases behind ``opso review``: pick the top-scoring clips, build the page, save the marks."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from opso.app.label import recording_key
from opso.app.start_times import raven_clock_columns, start_of
from opso.domain.annotations import AnnotationSet
from opso.domain.errors import OpsoError, ParameterError
from opso.domain.spectrogram import Spectrogram
from opso.ports.annotation_store import AnnotationStore
from opso.ports.audio_io import AudioReader, AudioWriter
from opso.ports.images import SpectrogramPlotter
from opso.ports.metadata import MetadataReader
from opso.ports.progress import Progress, no_progress
from opso.ports.review import DEFAULT_PAGE_SIZE, MARKS, ReviewClip, ReviewPages
from opso.ports.tables import TableWriter

KEY_COLUMNS = ("file", "start_time", "end_time")
MARK_COLUMNS = ("id", "file", "start_time", "end_time", "class", "score", "mark")
#: Size of a clip's spectrogram plot in inches (100 pixels each): 400 x 220 pixels.
IMAGE_SIZE = (4.0, 2.2)
#: Folder of the review (under its output) that holds the Raven tables of present clips.
RAVEN_FOLDER = "raven"


def score_classes(scores: pd.DataFrame, classes: Sequence[str] | None = None) -> list[str]:
    """Return the class columns of a score table (numeric columns other than the keys).

    Raises
    ------
    ValueError
        If ``file`` is missing, or a requested class is not a column (listing those found).
    """
    if "file" not in scores.columns:
        raise ParameterError(f"a score table needs a 'file' column; found {list(scores.columns)}")
    numeric = [
        str(c)
        for c in scores.columns
        if c not in (*KEY_COLUMNS, "error") and pd.api.types.is_numeric_dtype(scores[c])
    ]
    if classes is None:
        return numeric
    missing = [c for c in classes if c not in numeric]
    if missing:
        raise ParameterError(f"classes {missing} are not score columns; found {numeric}")
    return list(classes)


def top_scoring(
    scores: pd.DataFrame, *, classes: Sequence[str] | None = None, top_k: int = 10
) -> pd.DataFrame:
    """Return the ``top_k`` highest-scoring clips of each class, best first.

    Rows with an ``error`` or a NaN score are left out. Without ``start_time``/``end_time``
    a row stands for its whole file.

    Returns
    -------
    pandas.DataFrame
        Columns ``file, start_time, end_time, class, score``.
    """
    if top_k < 1:
        raise ParameterError(f"top_k must be at least 1, got {top_k}")
    names = score_classes(scores, classes)
    table = scores
    if "error" in table.columns:
        table = table[table["error"].isna() | (table["error"].astype(str) == "")]
    start = table["start_time"] if "start_time" in table else pd.Series(0.0, index=table.index)
    end = table["end_time"] if "end_time" in table else pd.Series(np.nan, index=table.index)
    picked = []
    for name in names:
        col = table[name].dropna().nlargest(top_k)
        picked.append(
            pd.DataFrame(
                {
                    "file": table.loc[col.index, "file"].astype(str).to_numpy(),
                    "start_time": start.loc[col.index].astype(float).to_numpy(),
                    "end_time": end.loc[col.index].astype(float).to_numpy(),
                    "class": name,
                    "score": col.to_numpy(dtype=float),
                }
            )
        )
    if not picked:
        return pd.DataFrame(columns=["file", "start_time", "end_time", "class", "score"])
    return pd.concat(picked, ignore_index=True)


def _clip_id(file: str, start: float, end: float) -> str:
    return hashlib.sha1(f"{file}|{start:.6f}|{end:.6f}".encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class ReviewSet:
    """The clips on a review page and the rows that could not be prepared, with reasons."""

    clips: list[ReviewClip] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Cut:
    """What cutting one clip gave: its media files and the recording it came from."""

    audio: str
    image: str
    end_time: float
    path: str
    sample_rate: int


@dataclass(frozen=True)
class BuildReview:
    """Cut the top clips out of their recordings and write audio, spectrograms and the page."""

    reader: AudioReader
    writer: AudioWriter
    plotter: SpectrogramPlotter
    pages: ReviewPages

    def run(
        self,
        *,
        scores: pd.DataFrame,
        audio_root: Path,
        output: Path,
        top_k: int = 10,
        classes: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        progress: Progress = no_progress,
    ) -> ReviewSet:
        """Write ``output/index.html`` with ``clips/*.wav`` and ``images/*.png`` for each clip.

        A clip that appears for several classes is cut once. A file that cannot be read is
        reported in the result and left off the page. The page shows ``page_size`` clips at
        a time. A row without an end time stands for the rest of its recording and its clip
        gets the recording's end.

        Raises
        ------
        ValueError
            If ``top_k`` or ``page_size`` is below 1 (before any clip is cut).
        """
        if page_size < 1:
            raise ParameterError(f"page_size must be at least 1, got {page_size}")
        top = top_scoring(scores, classes=classes, top_k=top_k)
        result = ReviewSet()
        media: dict[str, _Cut | None] = {}
        rows = top.itertuples(index=False, name=None)
        for i, (file, start, end, label, score) in enumerate(rows, start=1):
            key = _clip_id(file, start, end)
            if key not in media:
                try:
                    media[key] = self._cut(audio_root, file, start, end, output, key)
                except (OpsoError, OSError, ValueError) as e:
                    media[key] = None
                    result.failures.append((file, str(e)))
            cut = media[key]
            if cut is not None:
                result.clips.append(
                    ReviewClip(
                        id=f"{key}-{label}",
                        file=file,
                        start_time=start,
                        end_time=cut.end_time,
                        label=label,
                        score=score,
                        audio=cut.audio,
                        image=cut.image,
                        path=cut.path,
                        sample_rate=cut.sample_rate,
                    )
                )
            progress(i, len(top), file)
        self.pages.write(
            result.clips,
            output / "index.html",
            title=f"Review: {len(result.clips)} clips",
            page_size=page_size,
        )
        return result

    def _cut(
        self, audio_root: Path, file: str, start: float, end: float, output: Path, key: str
    ) -> _Cut:
        path = Path(file)
        if not path.is_absolute() and not path.exists():
            path = audio_root / path
        duration = None if np.isnan(end) else end - start
        audio = self.reader.read(path, offset=start, duration=duration)
        self.writer.write(audio, output / "clips" / f"{key}.wav")
        spec = Spectrogram.from_audio(audio)
        if spec.spectrogram.shape[1] == 0:
            raise ParameterError(
                f"{file}: the clip at {start} s is shorter than one spectrogram window"
            )
        # each clip on its own 60 dB scale below its loudest part, so quiet calls still show;
        # the time axis reads seconds of the recording, the frequency axis Hz
        top = float(np.percentile(spec.spectrogram, 99.5))
        self.plotter.plot(
            replace(spec, times=spec.times + start, decibel_limits=(top - 60.0, top)),
            path=output / "images" / f"{key}.png",
            title=f"{path.name}, {start:.2f} s",
            figsize=IMAGE_SIZE,
        )
        return _Cut(
            audio=f"clips/{key}.wav",
            image=f"images/{key}.png",
            end_time=start + audio.duration() if duration is None else end,
            path=str(path.absolute()),
            sample_rate=audio.sample_rate,
        )


def raven_tables(clips: Sequence[ReviewClip], output: Path) -> dict[str, Path]:
    """Return where the Raven table of each recording of ``clips`` goes, by recording path.

    Each recording gets ``output/raven/<recording stem>.Table.1.selections.txt``, the name
    Raven Pro gives a recording's table, so ``opso label`` pairs the table with its recording
    (:func:`opso.app.label.recording_key`).

    Raises
    ------
    ValueError
        If two recordings share the name ``opso label`` pairs by (naming both).
    """
    tables: dict[str, Path] = {}
    by_key: dict[str, str] = {}
    for clip in clips:
        if clip.path in tables:
            continue
        recording = Path(clip.path)
        key = recording_key(recording)
        if key in by_key:
            raise ParameterError(
                f"recordings {by_key[key]} and {clip.path} share the name {key!r}, so their "
                "Raven tables could not be told apart; review them separately"
            )
        by_key[key] = clip.path
        tables[clip.path] = output / RAVEN_FOLDER / f"{recording.stem}.Table.1.selections.txt"
    return tables


def _raven_boxes(
    recording: str, present: Sequence[ReviewClip], start: datetime | None = None
) -> AnnotationSet:
    """Return the boxes of one recording's Raven table: full band, time order, class label.

    With the recording's ``start``, boxes also get Raven's ``Begin Date Time`` and ``Begin
    Clock Time``.
    """
    boxes = sorted(present, key=lambda c: (c.start_time, c.label))
    extra: dict[str, list[object]] = {
        "Begin File": [Path(recording).name] * len(boxes),
        "Begin Path": [recording] * len(boxes),
    }
    if start is not None:
        extra.update(raven_clock_columns(start, [c.start_time for c in boxes]))
    return AnnotationSet.from_columns(
        source=recording,
        begin_time=[c.start_time for c in boxes],
        end_time=[c.end_time for c in boxes],
        label=[c.label for c in boxes],
        low_f=[0.0] * len(boxes),
        high_f=[c.sample_rate / 2 for c in boxes],
        extra=extra,
        label_name="Species",
    )


@dataclass(frozen=True)
class SaveReviewMarks:
    """Save a person's marks: a CSV of every clip, and optionally Raven tables of present ones."""

    tables: TableWriter
    annotations: AnnotationStore
    metadata: MetadataReader | None = None

    def run(
        self,
        *,
        clips: Sequence[ReviewClip],
        marks: Mapping[str, str],
        output: Path,
        raven: bool = False,
    ) -> list[Path]:
        """Write ``output/review.csv`` and, if ``raven``, one Raven table per recording.

        Unmarked clips get an empty mark. Each recording of ``clips`` gets a selection table
        at the path :func:`raven_tables` gives, holding a full-band box (0 Hz to the
        recording's Nyquist frequency) per clip marked present, its class as the label, and
        the recording's ``Begin File`` and ``Begin Path`` (and, with a ``metadata`` reader
        and a known start, ``Begin Date Time`` and ``Begin Clock Time``); a recording with no
        clip marked present gets a table without rows, so saving again never leaves a box
        that is no longer marked.

        Returns
        -------
        list of Path
            The files written: ``review.csv`` first.

        Raises
        ------
        ValueError
            If a mark names an unknown clip or is not one of ``present``, ``absent``, ``unsure``,
            or (with ``raven``) two recordings share a table name. Nothing is written then.
        """
        known = {c.id for c in clips}
        for clip_id, mark in marks.items():
            if clip_id not in known:
                raise ParameterError(f"mark for unknown clip id {clip_id!r}")
            if mark not in MARKS:
                raise ParameterError(f"mark for {clip_id!r} must be one of {MARKS}, got {mark!r}")
        tables = raven_tables(clips, output) if raven else {}
        rows = [
            {
                "id": c.id,
                "file": c.file,
                "start_time": c.start_time,
                "end_time": c.end_time,
                "class": c.label,
                "score": c.score,
                "mark": marks.get(c.id, ""),
            }
            for c in clips
        ]
        written = [output / "review.csv"]
        self.tables.write(rows, written[0], columns=MARK_COLUMNS)
        present: dict[str, list[ReviewClip]] = {recording: [] for recording in tables}
        for c in clips:
            if c.path in present and marks.get(c.id) == "present":
                present[c.path].append(c)
        for recording, table in tables.items():
            start = start_of(self.metadata, Path(recording))
            self.annotations.write(_raven_boxes(recording, present[recording], start), table)
            written.append(table)
        return written
