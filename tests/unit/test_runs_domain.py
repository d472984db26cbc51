import math

import pytest
from hypothesis import given, settings, strategies as st

from opso.domain.audio import clip_times
from opso.domain.runs import (
    Segment,
    SegmentError,
    ShardOutput,
    canonical_settings,
    fingerprint,
    plan_shards,
    select_shards,
    settings_diff,
)


def test_short_files_pack_into_shards_of_at_most_the_shard_duration() -> None:
    files = [(f"f{i}.wav", 10.0) for i in range(25)]
    shards = plan_shards(files, shard_duration=60.0)
    assert [len(s.segments) for s in shards] == [6, 6, 6, 6, 1]
    assert [s.index for s in shards] == [0, 1, 2, 3, 4]
    assert all(s.audio_seconds <= 60.0 for s in shards)
    flat = [seg.source for s in shards for seg in s.segments]
    assert flat == [f for f, _ in files]  # input order kept
    assert all(
        seg.start == 0 and seg.end == 10.0 and seg.is_last for s in shards for seg in s.segments
    )


def test_max_files_caps_segments_per_shard() -> None:
    shards = plan_shards([(f"f{i}", 1.0) for i in range(10)], shard_duration=3600, max_files=4)
    assert [len(s.segments) for s in shards] == [4, 4, 2]
    assert [s.files for s in shards] == [4, 4, 2]


def test_long_file_is_cut_on_clip_starts() -> None:
    # 100 s file, 3 s clips with 1 s overlap (step 2 s), 25 s shards -> 24 s pieces
    shards = plan_shards([("long.wav", 100.0)], shard_duration=25.0, align=2.0)
    segs = [seg for s in shards for seg in s.segments]
    assert [(s.start, s.end) for s in segs] == [
        (0.0, 24.0),
        (24.0, 48.0),
        (48.0, 72.0),
        (72.0, 96.0),
        (96.0, 100.0),
    ]
    assert all(s.start % 2.0 == 0 for s in segs)
    assert [s.is_last for s in segs] == [False, False, False, False, True]
    # the last small piece shares a shard with the next file
    more = plan_shards([("long.wav", 100.0), ("b.wav", 10.0)], shard_duration=25.0, align=2.0)
    assert [seg.source for seg in more[-1].segments] == ["long.wav", "b.wav"]


def test_align_longer_than_the_shard_keeps_whole_steps() -> None:
    shards = plan_shards([("a", 30.0)], shard_duration=4.0, align=5.0)
    assert [(s.segments[0].start, s.segments[0].end) for s in shards] == [
        (0.0, 5.0),
        (5.0, 10.0),
        (10.0, 15.0),
        (15.0, 20.0),
        (20.0, 25.0),
        (25.0, 30.0),
    ]


def test_empty_and_zero_length_inputs() -> None:
    assert plan_shards([], shard_duration=10) == ()
    (shard,) = plan_shards([("empty.wav", 0.0)], shard_duration=10)
    assert shard.segments == (Segment("empty.wav", 0.0, 0.0, 0.0),)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shard_duration": 0}, "shard_duration"),
        ({"shard_duration": math.inf}, "shard_duration"),
        ({"shard_duration": 10, "align": -1.0}, "align"),
        ({"shard_duration": 10, "max_files": 0}, "max_files"),
    ],
)
def test_invalid_plans_are_rejected(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        plan_shards([("a", 1.0)], **kwargs)  # type: ignore[arg-type]


def test_negative_duration_names_the_file() -> None:
    with pytest.raises(ValueError, match=r"bad\.wav"):
        plan_shards([("bad.wav", -1.0)], shard_duration=10)


@settings(max_examples=60, deadline=None)
@given(
    durations=st.lists(st.floats(0.0, 200.0), min_size=1, max_size=6),
    clip=st.sampled_from([1.0, 2.5, 3.0, 5.0]),
    overlap_frac=st.sampled_from([0.0, 0.2, 0.5]),
    final=st.sampled_from([None, "remainder", "full", "extend"]),
    shard_duration=st.floats(1.0, 120.0),
    max_files=st.integers(1, 5),
)
def test_segments_of_any_sharding_hold_each_clip_exactly_once(
    durations: list[float],
    clip: float,
    overlap_frac: float,
    final: str | None,
    shard_duration: float,
    max_files: int,
) -> None:
    overlap = round(clip * overlap_frac, 6)
    files = [(f"f{i}", d) for i, d in enumerate(durations)]
    shards = plan_shards(
        files, shard_duration=shard_duration, max_files=max_files, align=clip - overlap
    )
    got = [
        (seg.source, t)
        for s in shards
        for seg in s.segments
        for t in seg.clip_times(clip, overlap, final)  # type: ignore[arg-type]
    ]
    want = [(f, t) for f, d in files for t in clip_times(d, clip, overlap, final)]  # type: ignore[arg-type]
    assert got == want
    assert sum(s.audio_seconds for s in shards) == pytest.approx(sum(durations))


@given(n=st.integers(0, 40), count=st.integers(1, 7))
def test_job_array_slices_partition_the_shards(n: int, count: int) -> None:
    shards = plan_shards([(f"f{i}", 1.0) for i in range(n)], shard_duration=1.0)
    slices = [select_shards(shards, index=i, count=count) for i in range(count)]
    assert sorted(s.index for sl in slices for s in sl) == list(range(len(shards)))


def test_job_array_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="index"):
        select_shards((), index=3, count=3)
    with pytest.raises(ValueError, match="count"):
        select_shards((), index=0, count=0)


def test_fingerprint_ignores_key_order_and_sees_every_value() -> None:
    a = {"model_sha256": "ab", "classes": ["x", "y"], "clip": {"duration": 5.0, "overlap": 0}}
    b = {"clip": {"overlap": 0, "duration": 5.0}, "classes": ("x", "y"), "model_sha256": "ab"}
    assert fingerprint(a) == fingerprint(b)
    assert len(fingerprint(a)) == 64
    assert fingerprint(a) != fingerprint({**a, "classes": ["y", "x"]})
    assert fingerprint(a) != fingerprint({**a, "clip": {"duration": 5.0, "overlap": 1}})


def test_fingerprint_rejects_values_that_are_not_json_like() -> None:
    with pytest.raises(ValueError, match=r"clip\.bad"):
        fingerprint({"clip": {"bad": object()}})
    with pytest.raises(ValueError, match="nan"):
        canonical_settings({"x": math.nan})


def test_settings_diff_names_the_changed_leaves() -> None:
    old = {"job": {"clip_duration": 5.0, "classes": ["a"]}, "format": 1}
    new = {"job": {"clip_duration": 3.0, "classes": ["a"]}, "format": 1, "extra": True}
    assert settings_diff(old, new) == ["extra: <missing> -> true", "job.clip_duration: 5.0 -> 3.0"]


def test_shard_output_checks_column_lengths_and_builds_from_rows() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        ShardOutput({"a": [1, 2], "b": [1]})
    out = ShardOutput.from_rows(
        [{"a": 1, "b": "x", "c": 0}, {"a": 2, "b": "y", "c": 0}],
        columns=["b", "a"],
        errors=[SegmentError("f", 0, 1, "bad")],
    )
    assert dict(out.columns) == {"b": ["x", "y"], "a": [1, 2]}
    assert out.n_rows == 2
    assert ShardOutput().n_rows == 0
