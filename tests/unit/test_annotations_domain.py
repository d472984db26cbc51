from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from opso.domain import annotations as ann_mod
from opso.domain.annotations import Annotation, AnnotationSet, overlap_mask, overlapping_pairs
from opso.domain.errors import AnnotationError, OpsoError


def _set() -> AnnotationSet:
    return AnnotationSet.from_columns(
        source=["a.wav", "a.wav", "a.wav", "b.wav", "b.wav"],
        begin_time=[0.5, 3.0, 12.0, 1.0, 7.0],
        end_time=[2.0, 14.0, 12.0, 4.0, 9.5],
        label=["WOTH", "EATO", "WOTH", None, "eato"],
        low_f=[1000, 2000, None, 500, 3000],
        high_f=[3000, 6000, None, 900, 5000],
        extra={"note": ["x", "", "y", "z", ""]},
        label_name="Species",
    )


def test_annotation_validates_box() -> None:
    a = Annotation("r.wav", 1.0, 2.5, "WOTH", 100.0, 200.0)
    assert a.duration == 1.5
    with pytest.raises(AnnotationError, match="end_time is before begin_time"):
        Annotation("r.wav", 3.0, 2.0)
    with pytest.raises(AnnotationError, match="negative"):
        Annotation("r.wav", -1.0, 2.0)
    with pytest.raises(AnnotationError, match="high_f is below low_f"):
        Annotation("r.wav", 0.0, 2.0, "x", 500.0, 100.0)
    with pytest.raises(ValueError, match="finite"):
        Annotation("r.wav", float("nan"), 2.0)
    assert issubclass(AnnotationError, OpsoError)


def test_from_columns_codes_views_and_counts() -> None:
    s = _set()
    assert len(s) == 5
    assert s.source_names == ("a.wav", "b.wav")
    assert s.classes == ("EATO", "WOTH", "eato")
    assert s.labels == ["WOTH", "EATO", "WOTH", None, "eato"]
    assert s.sources == ["a.wav", "a.wav", "a.wav", "b.wav", "b.wav"]
    assert s.n_unlabelled == 1
    assert s.label_counts() == {"EATO": 1, "WOTH": 2, "eato": 1}
    assert s.label_name == "Species"
    first = next(iter(s))
    assert first == Annotation("a.wav", 0.5, 2.0, "WOTH", 1000.0, 3000.0)
    assert list(s)[2].low_f is None
    assert not s.begin_time.flags.writeable
    assert not s.extra["note"].flags.writeable


def test_from_columns_reports_the_bad_row() -> None:
    with pytest.raises(AnnotationError, match=r"annotation 1: end_time is before begin_time"):
        AnnotationSet.from_columns(source="r", begin_time=[0, 5], end_time=[1, 4], label=["a", "b"])
    with pytest.raises(AnnotationError, match="label has 1 values, expected 2"):
        AnnotationSet.from_columns(source="r", begin_time=[0, 5], end_time=[1, 6], label=["a"])
    with pytest.raises(AnnotationError, match="must hold numbers"):
        AnnotationSet.from_columns(source="r", begin_time=["zero"], end_time=[1])  # type: ignore[list-item]


def test_empty_and_missing_labels() -> None:
    e = AnnotationSet.empty()
    assert len(e) == 0 and e.classes == () and e.n_unlabelled == 0
    s = AnnotationSet.from_columns(
        source="r", begin_time=[0, 1, 2], end_time=[1, 2, 3], label=["", float("nan"), "a"]
    )
    assert s.labels == [None, None, "a"]


def test_select_and_subset() -> None:
    s = _set()
    picked = s.select([4, 0])
    assert picked.labels == ["eato", "WOTH"]
    assert picked.extra["note"].tolist() == ["", "x"]
    assert picked.classes == ("WOTH", "eato")
    assert s.subset(labels=["WOTH"]).begin_time.tolist() == [0.5, 12.0]
    assert s.subset(sources=["b.wav"]).labels == [None, "eato"]
    assert s.subset(labelled=False).begin_time.tolist() == [1.0]
    assert s.subset(labelled=True).n_unlabelled == 0
    # time window [5, 8]: the 3-14 s box spans it, the 7-9.5 s box overlaps it
    assert s.subset(time_range=(5.0, 8.0)).begin_time.tolist() == [3.0, 7.0]
    # band 2500-2800 Hz: boxes whose band includes it; unknown bands are dropped
    assert s.subset(freq_range=(2500.0, 2800.0)).begin_time.tolist() == [0.5, 3.0]
    with pytest.raises(ValueError, match="mask has shape"):
        s.select(np.array([True, False]))


def test_relabel_lowercase_and_unlabelled() -> None:
    s = _set()
    fixed = s.relabel({"EATO": "eato", "WOTH": "woth"})
    assert fixed.labels == ["woth", "eato", "woth", None, "eato"]
    assert fixed.classes == ("eato", "woth")
    filled = s.relabel({"unknown": "noise"}, unlabelled="unknown")
    assert filled.labels[3] == "noise"
    assert s.lowercase().classes == ("eato", "woth")
    dropped = s.relabel({"WOTH": ""})
    assert dropped.n_unlabelled == 3
    # the original is unchanged
    assert s.labels == ["WOTH", "EATO", "WOTH", None, "eato"]


def test_concat_with_source_and_sorted() -> None:
    s = _set()
    other = AnnotationSet.from_columns(
        source="c.wav", begin_time=[0.0], end_time=[1.0], label=["NOCA"]
    )
    both = AnnotationSet.concat([s, other])
    assert len(both) == 6
    assert both.extra["note"].tolist() == ["x", "", "y", "z", "", ""]
    assert both.label_name == "Species"
    assert both.classes == ("EATO", "NOCA", "WOTH", "eato")
    assert s.with_source("z.wav").source_names == ("z.wav",)
    ordered = both.sorted()
    assert ordered.sources == sorted(both.sources)
    assert AnnotationSet.concat([]).classes == ()


def test_spanning_annotation_overlaps_clip() -> None:
    # The seed tested "begins in clip or ends in clip" and missed a box covering the whole clip.
    s = AnnotationSet.from_columns(source="r", begin_time=[3.0], end_time=[14.0], label=["x"])
    assert s.overlaps(5.0, 10.0).tolist() == [True]
    labels = s.clip_labels(sources="r", begin_time=[0, 5, 10, 15], end_time=[5, 10, 15, 20])
    assert labels.matrix[:, 0].tolist() == [1, 1, 1, 0]


def test_overlap_edges_points_and_min_overlap() -> None:
    s = AnnotationSet.from_columns(
        source="r",
        begin_time=[0.0, 5.0, 4.0, 2.0],
        end_time=[5.0, 5.0, 5.5, 2.0],
        label=["touch", "point_at_5", "half", "point_at_2"],
    )
    # [5, 10]: a box ending at 5 only touches it; a point at 5 lies in it; 4-5.5 shares 0.5 s
    assert s.overlaps(5.0, 10.0).tolist() == [False, True, True, False]
    assert s.overlaps(5.0, 10.0, min_overlap=0.5).tolist() == [False, False, True, False]
    assert s.overlaps(5.0, 10.0, min_overlap=0.6).tolist() == [False, False, False, False]
    assert s.overlaps(0.0, 5.0).tolist() == [True, False, True, True]
    assert s.overlaps(0.0, 5.0, source="other").tolist() == [False] * 4
    with pytest.raises(ValueError, match="min_overlap"):
        s.overlaps(0.0, 5.0, min_overlap=-1)
    with pytest.raises(ValueError, match="ends before it begins"):
        s.overlaps(5.0, 0.0)


def test_clip_labels_classes_sources_and_errors() -> None:
    s = _set()
    cl = s.clip_labels(
        sources=["a.wav", "a.wav", "a.wav", "b.wav", "nowhere.wav"],
        begin_time=[0, 5, 10, 5, 0],
        end_time=[5, 10, 15, 10, 5],
    )
    assert cl.classes == ("EATO", "WOTH", "eato")
    assert cl.matrix.tolist() == [[1, 1, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert cl.counts() == {"EATO": 3, "WOTH": 2, "eato": 1}
    assert cl.matrix.dtype == np.uint8 and not cl.matrix.flags.writeable
    sub = s.clip_labels(sources="a.wav", begin_time=[0], end_time=[5], classes=["WOTH", "NOCA"])
    assert sub.classes == ("WOTH", "NOCA") and sub.matrix.tolist() == [[1, 0]]
    strict = s.clip_labels(sources="a.wav", begin_time=[0], end_time=[5], min_overlap=1.6)
    assert strict.matrix.tolist() == [[1, 0, 0]]  # 3-14 s box shares 2 s; 0.5-2 s box 1.5 s
    with pytest.raises(ValueError, match="repeats"):
        s.clip_labels(sources="a", begin_time=[0], end_time=[1], classes=["x", "x"])
    with pytest.raises(ValueError, match="equal lengths"):
        s.clip_labels(sources=["a", "b"], begin_time=[0], end_time=[1])
    with pytest.raises(ValueError, match="clip 0 ends before it begins"):
        s.clip_labels(sources="a", begin_time=[2], end_time=[1])
    empty = AnnotationSet.empty().clip_labels(sources="a", begin_time=[0, 5], end_time=[5, 10])
    assert empty.matrix.shape == (2, 0)


def _brute_force(
    a_src: list[int],
    a_b: list[float],
    a_e: list[float],
    clips: list[tuple[int, float, float]],
    m: float,
) -> set[tuple[int, int]]:
    out = set()
    for ci, (cs, cb, ce) in enumerate(clips):
        for ai in range(len(a_src)):
            if a_src[ai] != cs:
                continue
            shared = min(a_e[ai], ce) - max(a_b[ai], cb)
            point = a_b[ai] == a_e[ai] and cb <= a_b[ai] < ce
            if (shared > 0 or point) and (m == 0 or shared >= m - 1e-9):
                out.add((ci, ai))
    return out


_times = st.integers(0, 40).map(lambda t: t / 4)


@settings(max_examples=60, deadline=None)
@given(
    boxes=st.lists(
        st.tuples(st.integers(0, 2), _times, st.integers(0, 30).map(lambda d: d / 4)), max_size=25
    ),
    clips=st.lists(
        st.tuples(st.integers(0, 3), _times, st.integers(1, 20).map(lambda d: d / 4)), max_size=25
    ),
    min_overlap=st.sampled_from([0.0, 0.25, 1.0]),
    chunk=st.sampled_from([1, 3, 1 << 22]),
)
def test_overlapping_pairs_matches_brute_force(
    boxes: list[tuple[int, float, float]],
    clips: list[tuple[int, float, float]],
    min_overlap: float,
    chunk: int,
) -> None:
    a_src = [b[0] for b in boxes]
    a_b = [b[1] for b in boxes]
    a_e = [b[1] + b[2] for b in boxes]
    c = [(s, b, b + d) for s, b, d in clips]
    old = ann_mod._MAX_PAIRS
    ann_mod._MAX_PAIRS = chunk
    try:
        ci, ai = overlapping_pairs(
            np.array(a_src, dtype=np.int64),
            np.array(a_b, dtype=np.float64),
            np.array(a_e, dtype=np.float64),
            np.array([x[0] for x in c], dtype=np.int64),
            np.array([x[1] for x in c], dtype=np.float64),
            np.array([x[2] for x in c], dtype=np.float64),
            min_overlap=min_overlap,
        )
    finally:
        ann_mod._MAX_PAIRS = old
    got = set(zip(ci.tolist(), ai.tolist(), strict=True))
    assert len(got) == len(ci)  # no pair twice
    assert got == _brute_force(a_src, a_b, a_e, c, min_overlap)


@settings(max_examples=40, deadline=None)
@given(
    begin=_times,
    length=st.integers(0, 20).map(lambda d: d / 4),
    split=st.integers(1, 39).map(lambda t: t / 4),
)
def test_a_box_overlaps_a_clip_or_both_halves_of_it(
    begin: float, length: float, split: float
) -> None:
    # Invariant: splitting a clip in two never loses a box with positive length.
    a_b = np.array([begin])
    a_e = np.array([begin + length])
    whole = overlap_mask(a_b, a_e, 0.0, 10.0, 0.0)[0]
    halves = (
        overlap_mask(a_b, a_e, 0.0, split, 0.0)[0] or overlap_mask(a_b, a_e, split, 10.0, 0.0)[0]
    )
    assert bool(whole) == bool(halves)
