"""Annotations: labelled time-frequency boxes, held as column arrays, with vectorised clip queries.

An :class:`AnnotationSet` keeps one array per column (begin and end times in seconds, low and
high frequencies in Hz, integer codes for the source recording and the label), so that asking
"which boxes overlap which clips" for a whole season of recordings is a handful of numpy
operations rather than a Python loop per clip.

Overlap rule (see ``docs/decisions/0020-annotations-spanning-a-clip-overlap-it.md``): a box
``[b, e]`` overlaps a clip ``[cb, ce]`` when they share time, ``b < ce and e > cb``, so a box
that starts before a clip and ends after it counts. A zero-length box (a point event) overlaps
the clip it falls in, ``cb <= b < ce``. With ``min_overlap > 0`` the shared time must also be at
least ``min_overlap`` seconds.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from opso.domain.errors import AnnotationError, ParameterError

#: Tolerance (s) when comparing an overlap with ``min_overlap``, for float noise in times.
_TOL = 1e-9
#: Most candidate (clip, annotation) pairs held in memory at once by :func:`overlapping_pairs`.
_MAX_PAIRS = 1 << 22

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
#: A numeric column: a float array, or a sequence of numbers with None where missing.
FloatColumn = Sequence[float | None] | NDArray[Any]


def _frozen(arr: NDArray[Any]) -> NDArray[Any]:
    if arr.flags.writeable:
        arr = arr.copy()
        arr.flags.writeable = False
    return arr


def _float_column(values: FloatColumn | None, n: int | None, name: str) -> FloatArray:
    if values is None:
        return np.full(n or 0, np.nan)
    try:
        if isinstance(values, np.ndarray):
            arr = values.astype(np.float64)
        else:
            arr = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise AnnotationError(f"{name} must hold numbers: {e}") from e
    if arr.ndim != 1 or (n is not None and len(arr) != n):
        raise AnnotationError(f"{name} has shape {arr.shape}, expected ({n},)")
    return arr


def _check_boxes(begin: FloatArray, end: FloatArray, low: FloatArray, high: FloatArray) -> None:
    """Raise :class:`AnnotationError` naming the first annotation whose box is invalid."""

    def first(mask: BoolArray) -> int | None:
        idx = np.flatnonzero(mask)
        return int(idx[0]) if idx.size else None

    checks: list[tuple[BoolArray, str]] = [
        (~np.isfinite(begin), "begin_time is not a finite number"),
        (~np.isfinite(end), "end_time is not a finite number"),
        (begin < 0, "begin_time is negative"),
        (end < begin, "end_time is before begin_time"),
        (np.isinf(low) | (low < 0), "low_f is not a non-negative finite number"),
        (np.isinf(high) | (high < 0), "high_f is not a non-negative finite number"),
        (high < low, "high_f is below low_f"),
    ]
    for mask, what in checks:
        i = first(mask)
        if i is not None:
            raise AnnotationError(
                f"annotation {i}: {what} (begin_time={begin[i]!r}, "
                f"end_time={end[i]!r}, low_f={low[i]!r}, high_f={high[i]!r})"
            )


def _label(value: object) -> str | None:
    """Return a label as text, None for a missing one (None, NaN or an empty string)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return text or None


def _codes(values: Sequence[str | None]) -> tuple[tuple[str, ...], IntArray]:
    """Return sorted distinct non-None values and each value's index into them (-1 for None)."""
    names = tuple(sorted({v for v in values if v is not None}))
    index = {name: i for i, name in enumerate(names)}
    codes = np.fromiter((-1 if v is None else index[v] for v in values), np.int64, len(values))
    return names, codes


@dataclass(frozen=True, slots=True)
class Annotation:
    """One labelled box: a time span in a source recording, optionally a frequency band.

    Parameters
    ----------
    source
        The recording (or table) the box belongs to, e.g. an audio file path.
    begin_time, end_time
        Start and end of the box in seconds from the start of the recording,
        ``0 <= begin_time <= end_time``.
    label
        The class, e.g. ``"WOTH"``; None for a box nobody labelled.
    low_f, high_f
        Frequency band in Hz, ``0 <= low_f <= high_f``; None where unknown.

    Raises
    ------
    AnnotationError
        If the times or frequencies are not finite, negative or out of order.
    """

    source: str
    begin_time: float
    end_time: float
    label: str | None = None
    low_f: float | None = None
    high_f: float | None = None

    def __post_init__(self) -> None:
        def arr(v: float | None) -> FloatArray:
            return np.array([np.nan if v is None else v], dtype=np.float64)

        _check_boxes(arr(self.begin_time), arr(self.end_time), arr(self.low_f), arr(self.high_f))

    @property
    def duration(self) -> float:
        """Length of the box in seconds."""
        return self.end_time - self.begin_time


@dataclass(frozen=True, slots=True, eq=False)
class ClipLabels:
    """Multi-hot labels of clips: ``matrix[i, j] == 1`` when clip ``i`` holds class ``j``.

    Attributes
    ----------
    matrix
        uint8 0/1 values [shape=(n_clips, n_classes)], read-only.
    classes
        Class names, one per column.
    """

    matrix: NDArray[np.uint8]
    classes: tuple[str, ...]

    def counts(self) -> dict[str, int]:
        """Return how many clips hold each class."""
        totals = self.matrix.sum(axis=0, dtype=np.int64)
        return {c: int(n) for c, n in zip(self.classes, totals, strict=True)}


@dataclass(frozen=True, slots=True, eq=False)
class AnnotationSet:
    """Many annotations as read-only column arrays [shape=(n,)] (build with :meth:`from_columns`).

    Attributes
    ----------
    source_names
        Distinct source recordings, sorted; ``source_codes`` index into them.
    source_codes
        int64, the source of each annotation.
    begin_time, end_time
        float64 seconds.
    low_f, high_f
        float64 Hz, NaN where unknown.
    class_names
        Distinct labels, sorted; ``label_codes`` index into them.
    label_codes
        int64, the label of each annotation, -1 where unlabelled.
    extra
        Further per-annotation text columns kept from the file (e.g. ``"distance"``), by name.
    label_name
        What the labels are called in the files they came from (e.g. ``"Species"``).

    Raises
    ------
    AnnotationError
        If columns differ in length, a code is out of range, or a box is invalid.
    """

    source_names: tuple[str, ...]
    source_codes: IntArray
    begin_time: FloatArray
    end_time: FloatArray
    low_f: FloatArray
    high_f: FloatArray
    class_names: tuple[str, ...]
    label_codes: IntArray
    extra: Mapping[str, NDArray[np.object_]] = field(default_factory=dict)
    label_name: str = "Annotation"

    def __post_init__(self) -> None:
        n = len(self.begin_time)
        columns = {
            "source_codes": np.asarray(self.source_codes, dtype=np.int64),
            "begin_time": np.asarray(self.begin_time, dtype=np.float64),
            "end_time": np.asarray(self.end_time, dtype=np.float64),
            "low_f": np.asarray(self.low_f, dtype=np.float64),
            "high_f": np.asarray(self.high_f, dtype=np.float64),
            "label_codes": np.asarray(self.label_codes, dtype=np.int64),
        }
        for name, col in columns.items():
            if col.shape != (n,):
                raise AnnotationError(f"column {name} has shape {col.shape}, expected ({n},)")
            object.__setattr__(self, name, _frozen(col))
        extra: dict[str, NDArray[np.object_]] = {}
        for name, values in self.extra.items():
            col = np.asarray(values, dtype=object)
            if col.shape != (n,):
                raise AnnotationError(
                    f"extra column {name!r} has shape {col.shape}, expected ({n},)"
                )
            extra[name] = _frozen(col)
        object.__setattr__(self, "extra", MappingProxyType(extra))
        object.__setattr__(self, "source_names", tuple(self.source_names))
        object.__setattr__(self, "class_names", tuple(self.class_names))
        if n and (self.source_codes.min() < 0 or self.source_codes.max() >= len(self.source_names)):
            raise AnnotationError("source_codes must index source_names")
        if n and (self.label_codes.min() < -1 or self.label_codes.max() >= len(self.class_names)):
            raise AnnotationError("label_codes must index class_names (or be -1 for no label)")
        _check_boxes(self.begin_time, self.end_time, self.low_f, self.high_f)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_columns(
        cls,
        *,
        source: Sequence[str] | str,
        begin_time: FloatColumn,
        end_time: FloatColumn,
        label: Sequence[object] | None = None,
        low_f: FloatColumn | None = None,
        high_f: FloatColumn | None = None,
        extra: Mapping[str, Sequence[object] | NDArray[Any]] | None = None,
        label_name: str = "Annotation",
    ) -> AnnotationSet:
        """Build a set from one sequence per column.

        Parameters
        ----------
        source
            The source of each annotation, or one source for all of them.
        begin_time, end_time
            Seconds [shape=(n,)].
        label
            Label of each annotation (as text); None, NaN or "" marks an unlabelled box.
            None for the whole argument means no box is labelled.
        low_f, high_f
            Hz [shape=(n,)]; None or NaN where unknown.
        extra
            Further text columns by name, each of length n.
        label_name
            What the labels are called (the label column's header when written to a table).

        Raises
        ------
        AnnotationError
            If the columns differ in length or a box is invalid (naming its index).
        """
        begin = _float_column(begin_time, None, "begin_time")
        n = len(begin)
        end = _float_column(end_time, n, "end_time")
        low = _float_column(low_f, n, "low_f")
        high = _float_column(high_f, n, "high_f")
        sources = [source] * n if isinstance(source, str) else [str(s) for s in source]
        if len(sources) != n:
            raise AnnotationError(f"source has {len(sources)} values, expected {n}")
        labels = [None] * n if label is None else [_label(v) for v in label]
        if len(labels) != n:
            raise AnnotationError(f"label has {len(labels)} values, expected {n}")
        source_names, source_codes = _codes(sources)
        class_names, label_codes = _codes(labels)
        return cls(
            source_names=source_names,
            source_codes=source_codes,
            begin_time=begin,
            end_time=end,
            low_f=low,
            high_f=high,
            class_names=class_names,
            label_codes=label_codes,
            extra={k: np.asarray(list(v), dtype=object) for k, v in (extra or {}).items()},
            label_name=label_name,
        )

    @classmethod
    def from_annotations(
        cls, annotations: Iterable[Annotation], *, label_name: str = "Annotation"
    ) -> AnnotationSet:
        """Build a set from :class:`Annotation` objects."""
        items = list(annotations)
        return cls.from_columns(
            source=[a.source for a in items],
            begin_time=[a.begin_time for a in items],
            end_time=[a.end_time for a in items],
            label=[a.label for a in items],
            low_f=[a.low_f for a in items],
            high_f=[a.high_f for a in items],
            label_name=label_name,
        )

    @classmethod
    def empty(cls, *, label_name: str = "Annotation") -> AnnotationSet:
        """Return a set with no annotations."""
        return cls.from_columns(source=[], begin_time=[], end_time=[], label_name=label_name)

    @classmethod
    def concat(cls, sets: Iterable[AnnotationSet]) -> AnnotationSet:
        """Join sets end to end; extra columns missing from a set are filled with ``""``.

        The result is called by the first set's ``label_name``.
        """
        parts = list(sets)
        if not parts:
            return cls.empty()
        n_total = sum(len(p) for p in parts)
        extra_names = list(dict.fromkeys(k for p in parts for k in p.extra))
        extra = {
            k: np.concatenate(
                [p.extra[k] if k in p.extra else np.full(len(p), "", dtype=object) for p in parts]
            )
            if n_total
            else np.empty(0, dtype=object)
            for k in extra_names
        }
        return cls.from_columns(
            source=[s for p in parts for s in p.sources],
            begin_time=np.concatenate([p.begin_time for p in parts]),
            end_time=np.concatenate([p.end_time for p in parts]),
            label=[v for p in parts for v in p.labels],
            low_f=np.concatenate([p.low_f for p in parts]),
            high_f=np.concatenate([p.high_f for p in parts]),
            extra=extra,
            label_name=parts[0].label_name,
        )

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.begin_time)

    def __repr__(self) -> str:
        return (
            f"<AnnotationSet(n={len(self)}, sources={len(self.source_names)}, "
            f"classes={len(self.class_names)}, unlabelled={self.n_unlabelled})>"
        )

    def __iter__(self) -> Iterator[Annotation]:
        labels = self.labels
        sources = self.sources
        for i in range(len(self)):
            low, high = self.low_f[i], self.high_f[i]
            yield Annotation(
                source=sources[i],
                begin_time=float(self.begin_time[i]),
                end_time=float(self.end_time[i]),
                label=labels[i],
                low_f=None if math.isnan(low) else float(low),
                high_f=None if math.isnan(high) else float(high),
            )

    @property
    def labels(self) -> list[str | None]:
        """The label of each annotation, None where unlabelled."""
        names = self.class_names
        return [names[c] if c >= 0 else None for c in self.label_codes.tolist()]

    @property
    def sources(self) -> list[str]:
        """The source of each annotation."""
        names = self.source_names
        return [names[c] for c in self.source_codes.tolist()]

    @property
    def classes(self) -> tuple[str, ...]:
        """The distinct labels in use, sorted."""
        used = np.unique(self.label_codes[self.label_codes >= 0])
        return tuple(self.class_names[i] for i in used.tolist())

    @property
    def is_labelled(self) -> BoolArray:
        """Whether each annotation has a label [shape=(n,)]."""
        return self.label_codes >= 0

    @property
    def n_unlabelled(self) -> int:
        """How many annotations have no label."""
        return int(np.count_nonzero(self.label_codes < 0))

    def label_counts(self) -> dict[str, int]:
        """Return the number of annotations per label (unlabelled ones are not counted)."""
        labelled = self.label_codes[self.label_codes >= 0]
        counts = np.bincount(labelled, minlength=len(self.class_names))
        return {c: int(k) for c, k in zip(self.class_names, counts, strict=True) if k}

    # ------------------------------------------------------------------ subsets and edits
    def select(self, rows: ArrayLike) -> AnnotationSet:
        """Return the annotations picked by a boolean mask or an index array, in that order."""
        idx = np.asarray(rows)
        if idx.dtype == np.bool_:
            if idx.shape != (len(self),):
                raise ParameterError(f"mask has shape {idx.shape}, expected ({len(self)},)")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64, copy=False)
        return _compact(
            self,
            source_codes=self.source_codes[idx],
            label_codes=self.label_codes[idx],
            begin_time=self.begin_time[idx],
            end_time=self.end_time[idx],
            low_f=self.low_f[idx],
            high_f=self.high_f[idx],
            extra={k: v[idx] for k, v in self.extra.items()},
        )

    def subset(
        self,
        *,
        labels: Iterable[str] | None = None,
        sources: Iterable[str] | None = None,
        time_range: tuple[float, float] | None = None,
        freq_range: tuple[float, float] | None = None,
        labelled: bool | None = None,
    ) -> AnnotationSet:
        """Return the annotations that pass every filter given.

        Parameters
        ----------
        labels
            Keep annotations with one of these labels.
        sources
            Keep annotations of these sources.
        time_range
            ``(begin, end)`` in seconds: keep annotations overlapping it (the clip rule).
        freq_range
            ``(low, high)`` in Hz: keep annotations whose band shares frequencies with it;
            annotations without a known band are dropped.
        labelled
            True keeps labelled annotations only, False unlabelled ones only.
        """
        keep = np.ones(len(self), dtype=np.bool_)
        if labels is not None:
            wanted = set(labels)
            codes = [i for i, c in enumerate(self.class_names) if c in wanted]
            keep &= np.isin(self.label_codes, codes)
        if sources is not None:
            wanted = set(sources)
            codes = [i for i, s in enumerate(self.source_names) if s in wanted]
            keep &= np.isin(self.source_codes, codes)
        if time_range is not None:
            keep &= self.overlaps(*time_range)
        if freq_range is not None:
            low, high = freq_range
            if high < low:
                raise ParameterError(f"freq_range must be (low, high), low <= high: {freq_range}")
            keep &= (self.low_f <= high) & (self.high_f >= low)
        if labelled is not None:
            keep &= self.is_labelled if labelled else ~self.is_labelled
        return self.select(keep)

    def relabel(
        self, corrections: Mapping[str, str], *, unlabelled: str | None = None
    ) -> AnnotationSet:
        """Return the set with labels renamed by a raw -> corrected map.

        Parameters
        ----------
        corrections
            Corrected label for each raw label; labels not in the map stay as they are. An
            empty corrected label makes the box unlabelled.
        unlabelled
            If given, unlabelled boxes first get this label (then corrections apply to it
            too, as with the spec's ``"unknown"``).
        """
        names = [corrections.get(c, c) or None for c in self.class_names]
        fill = None if unlabelled is None else corrections.get(unlabelled, unlabelled) or None
        new_labels = [names[c] if c >= 0 else fill for c in self.label_codes.tolist()]
        class_names, label_codes = _codes(new_labels)
        return _replace(self, class_names=class_names, label_codes=label_codes)

    def lowercase(self) -> AnnotationSet:
        """Return the set with every label in lower case."""
        return self.relabel({c: c.lower() for c in self.class_names})

    def with_source(self, source: str) -> AnnotationSet:
        """Return the set with every annotation assigned to ``source``."""
        return _replace(
            self,
            source_names=(source,) if len(self) else (),
            source_codes=np.zeros(len(self), dtype=np.int64),
        )

    def sorted(self) -> AnnotationSet:
        """Return the set ordered by source, then begin time, then end time."""
        order = np.lexsort((self.end_time, self.begin_time, self.source_codes))
        return self.select(order)

    # ------------------------------------------------------------------ clip queries
    def overlaps(
        self,
        begin_time: float,
        end_time: float,
        *,
        source: str | None = None,
        min_overlap: float = 0.0,
    ) -> BoolArray:
        """Return which annotations overlap the clip ``[begin_time, end_time]`` [shape=(n,)].

        Parameters
        ----------
        begin_time, end_time
            The clip in seconds.
        source
            Only annotations of this source can overlap; None ignores sources.
        min_overlap
            Least shared time in seconds for an annotation to count.

        Raises
        ------
        ValueError
            If the clip ends before it begins or ``min_overlap`` is negative.
        """
        _check_clip_args(begin_time, end_time, min_overlap)
        keep = overlap_mask(self.begin_time, self.end_time, begin_time, end_time, min_overlap)
        if source is not None:
            code = self.source_names.index(source) if source in self.source_names else -1
            keep &= self.source_codes == code
        return keep

    def clip_labels(
        self,
        *,
        sources: Sequence[str] | str,
        begin_time: ArrayLike,
        end_time: ArrayLike,
        min_overlap: float = 0.0,
        classes: Sequence[str] | None = None,
    ) -> ClipLabels:
        """Return multi-hot labels for clips: which classes each clip holds.

        Parameters
        ----------
        sources
            The source recording of each clip (or one source for all); clips of sources
            without annotations get all-zero rows.
        begin_time, end_time
            The clips in seconds [shape=(n_clips,)].
        min_overlap
            Least time in seconds an annotation must share with a clip to label it.
        classes
            Columns of the result, in this order (classes without annotations give zero
            columns; labels not listed are ignored). None: every label in the set, sorted.
            Unlabelled boxes label nothing; relabel them first (``relabel(...,
            unlabelled="unknown")``) to count them, or check ``n_unlabelled``.

        Returns
        -------
        ClipLabels
            uint8 matrix [shape=(n_clips, n_classes)] and the class names.

        Raises
        ------
        ValueError
            If the clip arrays differ in length, a clip ends before it begins,
            ``min_overlap`` is negative or ``classes`` repeats a name.
        """
        c_begin = np.asarray(begin_time, dtype=np.float64).reshape(-1)
        c_end = np.asarray(end_time, dtype=np.float64).reshape(-1)
        n_clips = len(c_begin)
        names = [sources] * n_clips if isinstance(sources, str) else list(sources)
        if len(c_end) != n_clips or len(names) != n_clips:
            raise ParameterError(
                f"sources, begin_time and end_time must have equal lengths, got "
                f"{len(names)}, {n_clips} and {len(c_end)}"
            )
        if not min_overlap >= 0:
            raise ParameterError(f"min_overlap must be >= 0 seconds, got {min_overlap!r}")
        bad = np.flatnonzero(~(c_end >= c_begin))
        if bad.size:
            i = int(bad[0])
            raise ParameterError(f"clip {i} ends before it begins: [{c_begin[i]}, {c_end[i]}]")
        cols = tuple(self.classes if classes is None else classes)
        if len(set(cols)) != len(cols):
            raise ParameterError(f"classes repeats a name: {list(cols)}")
        matrix = np.zeros((n_clips, len(cols)), dtype=np.uint8)
        # Map each annotation's label to its output column (-1: not wanted or unlabelled).
        col_of = {c: j for j, c in enumerate(cols)}
        label_col = np.array([col_of.get(c, -1) for c in self.class_names] + [-1], dtype=np.int64)
        ann_col = label_col[self.label_codes]  # code -1 picks the trailing -1
        wanted = np.flatnonzero(ann_col >= 0)
        if n_clips and wanted.size:
            src_index = {s: i for i, s in enumerate(self.source_names)}
            c_src = np.fromiter((src_index.get(s, -1) for s in names), np.int64, n_clips)
            known = np.flatnonzero(c_src >= 0)
            clip_i, ann_i = overlapping_pairs(
                self.source_codes[wanted],
                self.begin_time[wanted],
                self.end_time[wanted],
                c_src[known],
                c_begin[known],
                c_end[known],
                min_overlap=min_overlap,
            )
            matrix[known[clip_i], ann_col[wanted[ann_i]]] = 1
        matrix.flags.writeable = False
        return ClipLabels(matrix=matrix, classes=cols)


def _check_clip_args(begin: float, end: float, min_overlap: float) -> None:
    if not end >= begin:
        raise ParameterError(f"clip ends before it begins: [{begin}, {end}]")
    if not min_overlap >= 0:
        raise ParameterError(f"min_overlap must be >= 0 seconds, got {min_overlap!r}")


def overlap_mask(
    a_begin: FloatArray,
    a_end: FloatArray,
    c_begin: FloatArray | float,
    c_end: FloatArray | float,
    min_overlap: float,
) -> BoolArray:
    """Return where annotations ``[a_begin, a_end]`` overlap clips ``[c_begin, c_end]``.

    Arrays broadcast against each other; the rule is the module docstring's: shared time
    (or a point event inside the clip), and at least ``min_overlap`` seconds of it if > 0.
    """
    shared = np.minimum(a_end, c_end) - np.maximum(a_begin, c_begin)
    point = (a_begin == a_end) & (a_begin >= c_begin) & (a_begin < c_end)
    hit = (shared > 0) | point
    if min_overlap > 0:
        hit &= shared >= min_overlap - _TOL
    result: BoolArray = hit
    return result


def overlapping_pairs(
    a_source: IntArray,
    a_begin: FloatArray,
    a_end: FloatArray,
    c_source: IntArray,
    c_begin: FloatArray,
    c_end: FloatArray,
    *,
    min_overlap: float = 0.0,
) -> tuple[IntArray, IntArray]:
    """Return every (clip, annotation) index pair that overlap within the same source.

    Annotations are sorted once by (source, begin time); for each clip, the candidates are the
    annotations of its source that begin between ``clip_begin - longest_annotation_of_source``
    and ``clip_end``, found by binary search, and the exact overlap rule is applied to them.
    The cost is O((n_clips + n_annotations) log n_annotations + candidates), with candidates
    processed in bounded chunks.

    Parameters
    ----------
    a_source, a_begin, a_end
        Annotations: non-negative integer source codes and times in s [shape=(n_ann,)].
    c_source, c_begin, c_end
        Clips: source codes and times in s [shape=(n_clips,)].
    min_overlap
        Least shared time in seconds.

    Returns
    -------
    clip_index, annotation_index
        int64 arrays of equal length, sorted by clip.
    """
    empty = np.empty(0, dtype=np.int64)
    if len(a_begin) == 0 or len(c_begin) == 0:
        return empty, empty
    n_src = int(max(a_source.max(), c_source.max())) + 1
    longest = np.zeros(n_src)
    np.maximum.at(longest, a_source, a_end - a_begin)
    t0 = float(min(a_begin.min(), c_begin.min()))
    span = float(max(a_end.max(), c_end.max())) - t0 + float(longest.max()) + 2.0
    a_key = a_source * span + (a_begin - t0)
    order = np.argsort(a_key, kind="stable")
    sorted_key = a_key[order]
    # Keys only narrow the search; the exact test below decides, so a little slack is safe.
    slack = 8 * float(np.spacing(n_src * span)) + _TOL
    base = c_source * span - t0
    lo = np.searchsorted(sorted_key, base + c_begin - longest[c_source] - slack, side="left")
    hi = np.searchsorted(sorted_key, base + c_end + slack, side="right")
    counts = (hi - lo).astype(np.int64)
    ends = np.cumsum(counts)
    # Chunk the clips so that at most about _MAX_PAIRS candidate pairs exist at once.
    cuts = np.searchsorted(ends, np.arange(_MAX_PAIRS, int(ends[-1]), _MAX_PAIRS), side="left")
    bounds = [0, *sorted({int(c) + 1 for c in cuts}), len(c_begin)]
    out_c: list[IntArray] = []
    out_a: list[IntArray] = []
    for s, e in itertools.pairwise(bounds):
        if e <= s:
            continue
        cnt = counts[s:e]
        total = int(cnt.sum())
        if total == 0:
            continue
        clip_i = np.repeat(np.arange(s, e, dtype=np.int64), cnt)
        first = lo[s:e] - (np.cumsum(cnt) - cnt)
        ann_i = order[np.arange(total, dtype=np.int64) + np.repeat(first, cnt)]
        hit = (a_source[ann_i] == c_source[clip_i]) & overlap_mask(
            a_begin[ann_i], a_end[ann_i], c_begin[clip_i], c_end[clip_i], min_overlap
        )
        out_c.append(clip_i[hit])
        out_a.append(ann_i[hit])
    if not out_c:
        return empty, empty
    return np.concatenate(out_c), np.concatenate(out_a)


def _replace(s: AnnotationSet, **changes: Any) -> AnnotationSet:
    values: dict[str, Any] = {
        "source_names": s.source_names,
        "source_codes": s.source_codes,
        "begin_time": s.begin_time,
        "end_time": s.end_time,
        "low_f": s.low_f,
        "high_f": s.high_f,
        "class_names": s.class_names,
        "label_codes": s.label_codes,
        "extra": s.extra,
        "label_name": s.label_name,
    }
    values.update(changes)
    return type(s)(**values)


def _compact(s: AnnotationSet, **changes: Any) -> AnnotationSet:
    """Replace columns, then drop source and class names no annotation uses any more."""
    src: IntArray = changes.pop("source_codes")
    lab: IntArray = changes.pop("label_codes")
    used_src, new_src = np.unique(src, return_inverse=True)
    used_lab = np.unique(lab[lab >= 0])
    remap = np.full(len(s.class_names) + 1, -1, dtype=np.int64)
    remap[used_lab] = np.arange(len(used_lab))
    return _replace(
        s,
        source_names=tuple(s.source_names[i] for i in used_src.tolist()),
        source_codes=new_src.astype(np.int64).reshape(-1),
        class_names=tuple(s.class_names[i] for i in used_lab.tolist()),
        label_codes=remap[lab],
        **changes,
    )
