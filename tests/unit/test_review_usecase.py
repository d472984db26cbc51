from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from opso.adapters.memory import (
    InMemoryAnnotationStore,
    InMemoryAudioIO,
    InMemoryMetadataReader,
    InMemoryPlotter,
    InMemoryTables,
)
from opso.app.label import recording_key
from opso.app.review import BuildReview, SaveReviewMarks, raven_tables, top_scoring
from opso.domain.audio import Audio
from opso.domain.recording_info import RecordingInfo
from opso.ports.review import ReviewClip


class MemoryPages:
    def __init__(self) -> None:
        self.pages: dict[Path, list[ReviewClip]] = {}
        self.page_sizes: dict[Path, int] = {}

    def write(
        self, clips: Sequence[ReviewClip], path: Path, *, title: str, page_size: int = 100
    ) -> None:
        self.pages[path] = list(clips)
        self.page_sizes[path] = page_size


SCORES = pd.DataFrame(
    {
        "file": ["a.wav", "a.wav", "b.wav", "c.wav"],
        "start_time": [0.0, 5.0, 0.0, 0.0],
        "end_time": [5.0, 10.0, 5.0, 5.0],
        "owl": [0.9, 0.1, 0.5, np.nan],
        "frog": [0.2, 0.8, 0.7, 0.99],
        "error": [None, None, None, "corrupt"],
    }
)


def test_top_scoring_picks_best_per_class_and_skips_errors() -> None:
    top = top_scoring(SCORES, top_k=2)
    assert list(top["class"]) == ["owl", "owl", "frog", "frog"]
    assert list(zip(top["file"], top["start_time"], strict=True))[:2] == [
        ("a.wav", 0.0),
        ("b.wav", 0.0),
    ]
    assert list(top["score"])[2:] == [0.8, 0.7]  # c.wav's 0.99 has an error


def test_top_scoring_rejects_unknown_class_and_missing_file_column() -> None:
    with pytest.raises(ValueError, match=r"\['bat'\] are not score columns"):
        top_scoring(SCORES, classes=["bat"])
    with pytest.raises(ValueError, match="'file' column"):
        top_scoring(SCORES.drop(columns="file"))


def test_build_review_cuts_each_clip_once_and_reports_missing_files() -> None:
    rng = np.random.default_rng(0)
    io = InMemoryAudioIO({Path("/rec/a.wav"): Audio(rng.normal(size=22050 * 10) * 0.1, 22050)})
    pages, plots = MemoryPages(), InMemoryPlotter()
    result = BuildReview(io, io, plots, pages).run(
        scores=SCORES, audio_root=Path("/rec"), output=Path("/out"), top_k=2
    )
    assert [(c.file, c.label) for c in result.clips] == [("a.wav", "owl"), ("a.wav", "frog")]
    assert [f for f, _ in result.failures] == [
        "b.wav"
    ]  # reported once, though two classes picked it
    wavs = sorted(p for p in io.files if p.parent == Path("/out/clips"))
    assert len(wavs) == 2 and all(len(io.files[w].samples) == 5 * 22050 for w in wavs)
    assert set(plots.plots) == {Path("/out") / c.image for c in result.clips}
    for clip in result.clips:  # axes in seconds of the recording and Hz, a 60 dB scale per clip
        spec = plots.plots[Path("/out") / clip.image]
        assert spec.times[0] >= clip.start_time and spec.times[-1] <= clip.end_time
        assert spec.frequencies[-1] == 11025
        low, high = spec.decibel_limits
        assert high - low == 60.0
        assert plots.titles[Path("/out") / clip.image] == f"a.wav, {clip.start_time:.2f} s"
    assert pages.pages[Path("/out/index.html")] == result.clips
    assert pages.page_sizes[Path("/out/index.html")] == 100


def test_build_review_pages_by_page_size_and_refuses_zero_before_cutting() -> None:
    rng = np.random.default_rng(0)
    io = InMemoryAudioIO({Path("/rec/a.wav"): Audio(rng.normal(size=22050 * 10) * 0.1, 22050)})
    build = BuildReview(io, io, InMemoryPlotter(), pages := MemoryPages())
    build.run(scores=SCORES, audio_root=Path("/rec"), output=Path("/out"), page_size=1)
    assert pages.page_sizes[Path("/out/index.html")] == 1
    with pytest.raises(ValueError, match="page_size must be at least 1"):
        build.run(scores=SCORES, audio_root=Path("/rec"), output=Path("/new"), page_size=0)
    assert not [p for p in io.files if p.is_relative_to("/new")]


def test_build_review_records_the_recording_and_ends_open_clips_at_its_end() -> None:
    rng = np.random.default_rng(0)
    io = InMemoryAudioIO({Path("/rec/a.wav"): Audio(rng.normal(size=22050 * 7) * 0.1, 22050)})
    whole_files = pd.DataFrame({"file": ["a.wav"], "owl": [0.9]})  # no start_time, end_time
    result = BuildReview(io, io, InMemoryPlotter(), MemoryPages()).run(
        scores=whole_files, audio_root=Path("/rec"), output=Path("/out")
    )
    (clip,) = result.clips
    assert (clip.start_time, clip.end_time) == (0.0, 7.0)
    assert (clip.path, clip.sample_rate) == ("/rec/a.wav", 22050)


def clip(
    clip_id: str, path: str, start: float, label: str, *, sample_rate: int = 22050
) -> ReviewClip:
    name = Path(path).name
    return ReviewClip(
        clip_id,
        name,
        start,
        start + 5,
        label,
        0.5,
        f"clips/{clip_id}.wav",
        "i.png",
        path,
        sample_rate,
    )


TWO_RECORDINGS = [
    clip("n1-owl", "/rec/north.wav", 10.0, "owl"),
    clip("s1-owl", "/rec/south.wav", 0.0, "owl", sample_rate=48000),
    clip("n0-owl", "/rec/north.wav", 0.0, "owl"),
    clip("n0-frog", "/rec/north.wav", 0.0, "frog"),
    clip("s2-frog", "/rec/south.wav", 20.0, "frog", sample_rate=48000),
]


def test_save_marks_writes_csv_and_one_raven_table_per_recording() -> None:
    tables, store = InMemoryTables(), InMemoryAnnotationStore()
    marks = {"n1-owl": "present", "n0-frog": "present", "s1-owl": "present", "n0-owl": "absent"}
    written = SaveReviewMarks(tables, store).run(
        clips=TWO_RECORDINGS, marks=marks, output=Path("/o"), raven=True
    )
    north = Path("/o/raven/north.Table.1.selections.txt")
    south = Path("/o/raven/south.Table.1.selections.txt")
    assert written == [Path("/o/review.csv"), north, south]
    assert [r["mark"] for r in tables.rows(Path("/o/review.csv"))] == [
        "present",
        "present",
        "absent",
        "present",
        "",
    ]
    # each table holds only its recording's present boxes, in time order, over the full band
    boxes = store.tables[north]
    assert boxes.labels == ["frog", "owl"] and list(boxes.begin_time) == [0.0, 10.0]
    assert list(boxes.end_time) == [5.0, 15.0]
    assert list(boxes.low_f) == [0.0, 0.0] and list(boxes.high_f) == [11025.0, 11025.0]
    assert list(boxes.extra["Begin File"]) == ["north.wav"] * 2
    assert list(boxes.extra["Begin Path"]) == ["/rec/north.wav"] * 2
    assert store.tables[south].labels == ["owl"] and list(store.tables[south].high_f) == [24000.0]
    # and opso label pairs every table with its recording
    assert [recording_key(t) for t in written[1:]] == ["north", "south"]


def test_raven_tables_of_a_recording_with_a_known_start_carry_clock_times() -> None:
    tables, store = InMemoryTables(), InMemoryAnnotationStore()
    start = datetime(2021, 5, 2, 4, 0, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    meta = InMemoryMetadataReader({Path("/rec/north.wav"): RecordingInfo(start=start)})
    marks = {"n1-owl": "present", "n0-frog": "present", "s1-owl": "present"}
    SaveReviewMarks(tables, store, meta).run(
        clips=TWO_RECORDINGS, marks=marks, output=Path("/o"), raven=True
    )
    north = store.tables[Path("/o/raven/north.Table.1.selections.txt")]
    assert list(north.extra["Begin Date Time"]) == [
        "2021/05/02 04:00:00.000",
        "2021/05/02 04:00:10.000",
    ]
    assert list(north.extra["Begin Clock Time"]) == ["04:00:00.000", "04:00:10.000"]
    assert (
        "Begin Date Time" not in store.tables[Path("/o/raven/south.Table.1.selections.txt")].extra
    )


def test_unmarking_the_last_present_clip_of_a_recording_empties_its_table() -> None:
    tables, store = InMemoryTables(), InMemoryAnnotationStore()
    save = SaveReviewMarks(tables, store)
    save.run(clips=TWO_RECORDINGS, marks={"s1-owl": "present"}, output=Path("/o"), raven=True)
    assert len(store.tables[Path("/o/raven/south.Table.1.selections.txt")]) == 1
    save.run(clips=TWO_RECORDINGS, marks={"s1-owl": "absent"}, output=Path("/o"), raven=True)
    assert len(store.tables[Path("/o/raven/south.Table.1.selections.txt")]) == 0
    assert len(store.tables[Path("/o/raven/north.Table.1.selections.txt")]) == 0


def test_recordings_that_opso_label_could_not_tell_apart_are_refused_before_writing() -> None:
    clips = [clip("a-owl", "/site1/rec.wav", 0.0, "owl"), clip("b-owl", "/site2/rec.wav", 0, "owl")]
    tables, store = InMemoryTables(), InMemoryAnnotationStore()
    with pytest.raises(ValueError, match=r"/site1/rec.wav and /site2/rec.wav share the name 'rec'"):
        SaveReviewMarks(tables, store).run(
            clips=clips, marks={"a-owl": "present"}, output=Path("/o"), raven=True
        )
    assert tables.tables == {} and store.tables == {}
    with pytest.raises(ValueError, match="share the name 'rec'"):
        raven_tables(clips, Path("/o"))


def test_save_marks_refuses_bad_marks() -> None:
    tables, store = InMemoryTables(), InMemoryAnnotationStore()
    clips = TWO_RECORDINGS
    with pytest.raises(ValueError, match="must be one of"):
        SaveReviewMarks(tables, store).run(
            clips=clips, marks={"n1-owl": "maybe"}, output=Path("/o")
        )
    with pytest.raises(ValueError, match="unknown clip"):
        SaveReviewMarks(tables, store).run(clips=clips, marks={"zzz": "present"}, output=Path("/o"))
