"""Use-cases: train a head on embeddings of labelled windows; score recordings with it.

A head (:class:`opso.domain.heads.Head`) is a small classifier on a pretrained model's
embeddings. Training joins a label table to an embedding table window by window; prediction
embeds recordings with the head's base model and scores every window in one pass.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from opso.app.files import AudioJob, FileFailure
from opso.app.pretrained import windows
from opso.domain.errors import (
    BaseModelMismatchError,
    LabelTableError,
    ModelFileError,
    ParameterError,
)
from opso.domain.heads import (
    DEFAULT_TRAINING,
    ClassMetrics,
    EmbeddingTable,
    Head,
    HeadTraining,
    class_metrics,
    fit_head,
    stratified_split,
)
from opso.ports.audio_io import AudioReader
from opso.ports.heads import EmbeddingReader, HeadStore
from opso.ports.pretrained import PretrainedModel, PretrainedModelStore
from opso.ports.progress import Progress, no_progress
from opso.ports.rows import RowSink
from opso.ports.tables import TableReader

if TYPE_CHECKING:
    import pandas as pd

#: Columns taken as the recording of a labelled window, in this order (``opso label`` writes
#: ``source``; its ``clip`` column names clip files, not recordings).
FILE_COLUMNS = ("file", "source", "path", "filename")
BEGIN_COLUMNS = ("begin_time", "start_time")
END_COLUMNS = ("end_time",)
#: A column of class names makes a long table (one row per window and class).
LABEL_COLUMNS = ("label", "class")
#: Columns that are never classes in a wide table (``opso label`` may add the datetimes).
KEY_COLUMNS = frozenset(
    {"clip", "error", "begin_datetime", "end_datetime", *FILE_COLUMNS, *BEGIN_COLUMNS}
    | set(END_COLUMNS)
)
#: Key columns of head scores: those of ``opso predict`` with opso's CNNs.
SCORE_KEYS = ("file", "start_time", "end_time")
#: Labelled and embedded windows match when their times agree within this many seconds.
TIME_TOLERANCE = 1e-3


@dataclass(frozen=True, slots=True, eq=False)
class LabelWindows:
    """Labelled windows: ``files[i]``, ``begin[i]``-``end[i]`` s, ``truth[i]`` per class."""

    files: tuple[str, ...]
    begin: NDArray[np.float64]
    end: NDArray[np.float64]
    truth: NDArray[np.bool_]
    classes: tuple[str, ...]


def _pick(table: pd.DataFrame, given: str | None, candidates: Sequence[str], what: str) -> str:
    if given is not None:
        if given not in table.columns:
            raise LabelTableError(f"the label table has no column {given!r}")
        return given
    for name in candidates:
        if name in table.columns:
            return name
    raise LabelTableError(
        f"the label table needs a {what} column (one of {', '.join(candidates)}); "
        f"its columns are {', '.join(map(str, table.columns))}"
    )


def _times(table: pd.DataFrame, column: str) -> NDArray[np.float64]:
    import pandas as pd

    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise LabelTableError(
            f"column {column!r}, row {bad[0] + 1}: {table[column].iloc[bad[0]]!r} is not a time "
            "in seconds"
        )
    return values


def _flags(table: pd.DataFrame, column: str) -> NDArray[np.bool_]:
    flags = np.zeros(len(table), dtype=bool)
    for i, value in enumerate(table[column].tolist()):
        text = value.strip().lower() if isinstance(value, str) else value
        if text in (1, True, "1", "1.0", "true"):
            flags[i] = True
        elif text not in (0, False, "0", "0.0", "false"):
            raise LabelTableError(f"class column {column!r}, row {i + 1}: {value!r} is not 0 or 1")
    return flags


def label_windows(
    table: pd.DataFrame,
    *,
    classes: Sequence[str] | None = None,
    file_column: str | None = None,
    label_column: str | None = None,
) -> LabelWindows:
    """Read labelled windows from a table of either layout.

    The recording is the first of :data:`FILE_COLUMNS` (or ``file_column``), the window's
    times ``begin_time`` (or ``start_time``) and ``end_time``. With a ``label`` or ``class``
    column (or ``label_column``) the table is long: each row names one class present in its
    window, and a window whose only rows have an empty label has none. Otherwise it is wide, as
    ``opso label`` writes it: every other column (but ``clip``, ``error``, ``begin_datetime``
    and ``end_datetime``) is a class of 0/1 values.

    Parameters
    ----------
    classes
        Classes to keep, in this order (default: all, in table order for wide tables and
        sorted for long ones).

    Raises
    ------
    LabelTableError
        If a column is missing, a time or 0/1 value is invalid (naming column, row and value),
        there is no class, or ``classes`` names one the table lacks.
    """
    if table.empty:
        raise LabelTableError("the label table has no rows")
    file_col = _pick(table, file_column, FILE_COLUMNS, "file")
    begin_col = _pick(table, None, BEGIN_COLUMNS, "begin time")
    end_col = _pick(table, None, END_COLUMNS, "end time")
    files = [str(f) for f in table[file_col].tolist()]
    begin, end = _times(table, begin_col), _times(table, end_col)
    long_col = label_column or next((c for c in LABEL_COLUMNS if c in table.columns), None)
    if long_col is not None:
        if long_col not in table.columns:
            raise LabelTableError(f"the label table has no column {long_col!r}")
        import pandas as pd

        names = ["" if pd.isna(v) else str(v).strip() for v in table[long_col].tolist()]
        found = sorted({n for n in names if n})
        chosen = tuple(found if classes is None else classes)
        index = {name: c for c, name in enumerate(chosen)}
        truth = np.zeros((len(table), len(chosen)), dtype=bool)
        for i, name in enumerate(names):
            if name in index:
                truth[i, index[name]] = True
        available = found
    else:
        available = [str(c) for c in table.columns if str(c) not in KEY_COLUMNS]
        chosen = tuple(available if classes is None else classes)
        truth = np.zeros((len(table), len(chosen)), dtype=bool)
        for c, name in enumerate(chosen):
            if name in available:
                truth[:, c] = _flags(table, name)
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise LabelTableError(
            f"classes not in the label table: {', '.join(map(repr, unknown))} "
            f"(it has {', '.join(map(repr, available)) or 'none'})"
        )
    if not chosen:
        raise LabelTableError(
            "the label table has no class: give 0/1 class columns, or a 'label' column"
        )
    return LabelWindows(tuple(files), begin, end, truth, chosen)


@dataclass(frozen=True, slots=True, eq=False)
class JoinedWindows:
    """Embedded windows that are labelled: row indices into the table and their truth."""

    rows: NDArray[np.intp]
    truth: NDArray[np.bool_]
    labelled: int
    unmatched: int
    example: str | None


def _file_matcher(files: Sequence[str]) -> dict[str, str]:
    """Map each label-table path to an embedded recording: as written, resolved, or by name.

    A name matches only when one embedded recording has it.
    """
    exact = {os.path.normpath(f): f for f in files}
    resolved = {str(Path(f).resolve()): f for f in files}
    by_name: dict[str, set[str]] = {}
    for f in files:
        by_name.setdefault(Path(f).name, set()).add(f)

    class Match(dict[str, str]):
        def __missing__(self, key: str) -> str:
            found = exact.get(os.path.normpath(key)) or resolved.get(str(Path(key).resolve()))
            if found is None:
                named = by_name.get(Path(key).name, set())
                found = next(iter(named)) if len(named) == 1 else ""
            self[key] = found
            return found

    return Match()


def join_windows(
    embeddings: EmbeddingTable,
    labels: LabelWindows,
    *,
    tolerance: float = TIME_TOLERANCE,
) -> JoinedWindows:
    """Match labelled windows to embedded ones by recording and times.

    Recordings match by path as written, else by resolved path, else by file name when only
    one embedded recording has it. Windows match when their begin times agree within
    ``tolerance`` and so do their end times, or the embedded window is the padded last one of
    its recording (shorter than the model's window) and the labelled one ends at or after its
    end. A window labelled in several rows gets every class of them.
    """
    if embeddings.settings is not None:
        window = embeddings.settings.clip_duration
    else:
        window = float(np.max(embeddings.end - embeddings.begin, initial=0.0))
    grouped: dict[str, list[int]] = {}
    for i in np.argsort(embeddings.begin, kind="stable").tolist():
        grouped.setdefault(embeddings.files[i], []).append(i)
    by_file = {f: np.array(rows, dtype=np.intp) for f, rows in grouped.items()}
    match = _file_matcher(list(by_file))
    truth: dict[int, NDArray[np.bool_]] = {}
    seen: set[tuple[str, float, float]] = set()
    missed: list[tuple[str, float, float]] = []
    for k, (f, b, e) in enumerate(zip(labels.files, labels.begin, labels.end, strict=True)):
        key = (f, round(float(b), 3), round(float(e), 3))
        rows = by_file.get(match[f]) if match[f] else None
        found = -1
        if rows is not None and len(rows):
            starts = embeddings.begin[rows]
            j = int(np.searchsorted(starts, b - tolerance))
            while j < len(rows) and starts[j] <= b + tolerance:
                r = int(rows[j])
                eb, ee = embeddings.begin[r], embeddings.end[r]
                padded = ee - eb < window - tolerance
                if abs(ee - e) <= tolerance or (padded and e >= ee - tolerance):
                    found = r
                    break
                j += 1
        if found < 0:
            if key not in seen:
                missed.append(key)
        else:
            truth[found] = truth.get(found, np.zeros(len(labels.classes), dtype=bool))
            truth[found] |= labels.truth[k]
        seen.add(key)
    rows_found = np.array(sorted(truth), dtype=np.intp)
    example = None
    if missed:
        f, b, e = missed[0]
        example = f"{f} {b:g}-{e:g} s"
    return JoinedWindows(
        rows=rows_found,
        truth=np.array([truth[r] for r in rows_found], dtype=bool).reshape(
            len(rows_found), len(labels.classes)
        ),
        labelled=len(seen),
        unmatched=len(missed),
        example=example,
    )


@dataclass(slots=True)
class HeadReport:
    """What training a head did: windows used, labelled windows left out, held-out metrics."""

    head: Head
    output: Path | None
    train_windows: int
    valid_windows: int
    labelled_windows: int
    unmatched_windows: int = 0
    unmatched_example: str | None = None

    @property
    def metrics(self) -> tuple[ClassMetrics, ...]:
        """Per-class average precision and ROC AUC on the validation windows."""
        return self.head.metrics


def train_head(
    embeddings: EmbeddingTable,
    labels: LabelWindows,
    *,
    training: HeadTraining = DEFAULT_TRAINING,
    valid_fraction: float = 0.2,
    tolerance: float = TIME_TOLERANCE,
) -> HeadReport:
    """Join labels to embeddings, hold out a stratified split, fit a head, measure it.

    Raises
    ------
    ParameterError
        If a setting is out of range, or the table does not say which model made it.
    LabelTableError
        If no labelled window has an embedding (the message gives an example), or a class
        has no positive or no negative window among those that do.
    """
    training.validate()
    if not 0 <= valid_fraction < 1:
        raise ParameterError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    if embeddings.settings is None:
        raise ParameterError(
            "the embeddings do not say which model made them: make them with `opso embed` or "
            "PretrainedDetector.embed, or give the base model"
        )
    joined = join_windows(embeddings, labels, tolerance=tolerance)
    if not len(joined.rows):
        s = embeddings.settings
        raise LabelTableError(
            f"none of the {joined.labelled} labelled windows has an embedding (e.g. "
            f"{joined.example}); the embeddings are {s.clip_duration:g} s windows every "
            f"{s.clip_duration - s.overlap:g} s of {len(set(embeddings.files))} recording(s), "
            f"such as {embeddings.files[0] if embeddings.files else 'none'}"
        )
    positives = joined.truth.sum(axis=0)
    degenerate = [
        f"{name!r} ({'no positive' if p == 0 else 'no negative'})"
        for name, p in zip(labels.classes, positives, strict=True)
        if p == 0 or p == len(joined.rows)
    ]
    if degenerate:
        raise LabelTableError(
            f"of {len(joined.rows)} labelled windows with embeddings, some classes have "
            f"{'; '.join(degenerate)}: a head needs both for every class"
        )
    train, valid = stratified_split(joined.truth, valid_fraction, seed=training.seed)
    vectors = embeddings.vectors[joined.rows]
    try:
        head = fit_head(
            vectors[train],
            joined.truth[train],
            classes=labels.classes,
            settings=embeddings.settings,
            training=training,
        )
    except ParameterError as e:
        raise LabelTableError(f"{e} (after holding out {len(valid)} validation windows)") from e
    if len(valid):
        scores = head.scores(vectors[valid])
        head = replace(head, metrics=class_metrics(labels.classes, joined.truth[valid], scores))
    return HeadReport(
        head=head,
        output=None,
        train_windows=len(train),
        valid_windows=len(valid),
        labelled_windows=joined.labelled,
        unmatched_windows=joined.unmatched,
        unmatched_example=joined.example,
    )


@dataclass(frozen=True)
class TrainHead:
    """Train a head from an embeddings file and a label table; save it as a head file."""

    embeddings: EmbeddingReader
    tables: TableReader
    store: HeadStore

    def run(
        self,
        *,
        embeddings: Path,
        labels: Path,
        output: Path,
        classes: Sequence[str] | None = None,
        file_column: str | None = None,
        label_column: str | None = None,
        training: HeadTraining = DEFAULT_TRAINING,
        valid_fraction: float = 0.2,
    ) -> HeadReport:
        """Train on ``embeddings`` (Parquet from ``opso embed``) and ``labels``; save ``output``.

        See :func:`label_windows` for the label layouts and :func:`train_head` for training.
        Nothing is written unless training succeeds.
        """
        training.validate()
        if not 0 <= valid_fraction < 1:
            raise ParameterError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
        table = self.tables.read(labels, what="label table")
        try:
            windows_ = label_windows(
                table, classes=classes, file_column=file_column, label_column=label_column
            )
        except LabelTableError as e:
            raise LabelTableError(f"{labels}: {e}") from e
        data = self.embeddings.read(embeddings)
        if data.settings is None:
            raise LabelTableError(
                f"{embeddings}: the table does not say which model made it; embed with "
                "`opso embed` (it records the model and its file's SHA-256)"
            )
        try:
            report = train_head(data, windows_, training=training, valid_fraction=valid_fraction)
        except LabelTableError as e:
            raise LabelTableError(f"{labels} with {embeddings}: {e}") from e
        report.output = self.store.save(report.head, output)
        return report


@dataclass(slots=True)
class HeadPredictReport:
    """What scoring recordings with a head wrote."""

    output: Path
    files: int = 0
    windows: int = 0
    failures: list[FileFailure] = field(default_factory=list)


def check_base(head: Head, model: PretrainedModel, source: Path | str) -> None:
    """Refuse a base model that is not the one the head was trained on.

    Raises
    ------
    BaseModelMismatchError
        If the model file's SHA-256, sample rate or window differs from the head's record;
        the message names the head and both model files.
    """
    want, got = head.settings.model, model.reference
    if got.sha256 != want.sha256:
        raise BaseModelMismatchError(
            f"{source}: trained on {want.name} from {want.file} (SHA-256 {want.sha256[:16]}...), "
            f"but {got.file} has SHA-256 {got.sha256[:16]}...: the base model changed; train "
            "the head again on embeddings of this model"
        )
    s = head.settings
    if model.sample_rate != s.sample_rate or abs(model.clip_duration - s.clip_duration) > 1e-9:
        raise BaseModelMismatchError(
            f"{source}: trained on {s.clip_duration:g} s windows at {s.sample_rate} Hz, but "
            f"{got.file} takes {model.clip_duration:g} s at {model.sample_rate} Hz"
        )


def load_base(models: PretrainedModelStore, head: Head, source: Path | str) -> PretrainedModel:
    """Load ``head``'s base model from ``models`` as its record says, checked by :func:`check_base`.

    ``source`` names the head in error messages.
    """
    ref = head.settings.model
    labels = None if ref.labels is None else Path(ref.labels)
    load_as: str | Path = ref.load_as if ref.labels is None else Path(ref.load_as)
    model = models.load(load_as, labels=labels)
    check_base(head, model, source)
    return model


def head_scores(
    head: Head, model: PretrainedModel, clips: NDArray[np.float32], source: str | Path
) -> NDArray[np.float32]:
    """Embed windows with the head's base ``model`` and score them with ``head``.

    Raises
    ------
    ModelFileError
        If the model's embeddings have another size than the head takes (``source`` names
        the head file).
    """
    vectors = model.embeddings(clips)
    if vectors.shape[1] != head.dimension:
        raise ModelFileError(
            f"{source}: the head takes {head.dimension} features, but {model.name} "
            f"gives {vectors.shape[1]}"
        )
    return head.scores(vectors)


def head_digest(head: Head) -> str:
    """Return the SHA-256 of what makes ``head``'s scores: kind, classes, record and weights."""
    digest = hashlib.sha256(head.kind.encode("utf-8"))
    digest.update("\n".join(head.classes).encode("utf-8"))
    digest.update(json.dumps(head.settings.to_dict(), sort_keys=True).encode("utf-8"))
    for array in (head.mean, head.scale, *(a for layer in head.layers for a in layer)):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class PredictWithHead:
    """Score recordings with a head: embed every window with its base model, apply the head."""

    reader: AudioReader
    sink: RowSink
    models: PretrainedModelStore
    heads: HeadStore

    def load(self, path: Path) -> tuple[Head, PretrainedModel]:
        """Load the head at ``path`` and its base model, checked by :func:`check_base`."""
        head = self.heads.load(path)
        return head, self.load_base(head, path)

    def load_base(self, head: Head, source: Path | str) -> PretrainedModel:
        """Load ``head``'s base model as its record says, checked by :func:`check_base`."""
        return load_base(self.models, head, source)

    def rows(
        self,
        head: Head,
        model: PretrainedModel,
        jobs: Sequence[AudioJob],
        *,
        overlap: float | None = None,
        batch_size: int = 16,
        progress: Progress = no_progress,
        source: Path | str = "head",
    ) -> Iterator[dict[str, object]]:
        """Yield one row per window (:data:`SCORE_KEYS`, a score per class, ``error``).

        ``overlap`` defaults to the overlap of the embeddings the head was trained on. A
        recording that cannot be read gets one row with empty scores and its reason.

        Raises
        ------
        ModelFileError
            If the base model's embeddings do not have the head's number of features.
        """
        overlap = head.settings.overlap if overlap is None else overlap
        empty = dict.fromkeys(head.classes, math.nan)
        for item in windows(
            self.reader, model, jobs, overlap=overlap, batch_size=batch_size, progress=progress
        ):
            if isinstance(item, FileFailure):
                yield {"file": str(item.source), **empty, "error": item.reason}
                continue
            scores = head_scores(head, model, item.clips, source)
            for (file, begin, end), row in zip(item.keys, scores.tolist(), strict=True):
                yield {
                    "file": file,
                    "start_time": begin,
                    "end_time": end,
                    **dict(zip(head.classes, row, strict=True)),
                    "error": "",
                }

    def run(
        self,
        *,
        head: Path,
        jobs: Sequence[AudioJob],
        output: Path,
        overlap: float | None = None,
        batch_size: int = 16,
        progress: Progress = no_progress,
    ) -> HeadPredictReport:
        """Write the scores of every window of ``jobs`` to ``output`` (CSV, streamed).

        The columns are those of ``opso predict`` with opso's CNNs: ``file, start_time,
        end_time``, one column per class, ``error``. If interrupted, the rows of recordings
        scored to the end are kept (see :func:`opso.ports.rows.interrupted_path`).
        """
        loaded, model = self.load(head)
        report = HeadPredictReport(output=output, files=len(jobs))
        columns = [*SCORE_KEYS, *loaded.classes, "error"]
        current: Any = None
        with self.sink.open(output, columns=columns) as stream:
            for row in self.rows(
                loaded,
                model,
                jobs,
                overlap=overlap,
                batch_size=batch_size,
                progress=progress,
                source=head,
            ):
                if row["file"] != current:  # every row before this one is of finished files
                    stream.checkpoint()
                    current = row["file"]
                if row["error"]:
                    report.failures.append(FileFailure(Path(str(row["file"])), str(row["error"])))
                else:
                    report.windows += 1
                stream.write([row])
        return report
