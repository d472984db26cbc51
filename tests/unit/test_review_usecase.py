from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opso.adapters.memory import (
    InMemoryAnnotationStore,
    InMemoryAudioIO,
    InMemoryImages,
    InMemoryTables,
)
from opso.app.review import BuildReview, SaveReviewMarks, top_scoring
from opso.domain.audio import Audio
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
    pages, images = MemoryPages(), InMemoryImages()
    result = BuildReview(io, io, images, pages).run(
        scores=SCORES, audio_root=Path("/rec"), output=Path("/out"), top_k=2
    )
    assert [(c.file, c.label) for c in result.clips] == [("a.wav", "owl"), ("a.wav", "frog")]
    assert [f for f, _ in result.failures] == [
        "b.wav"
    ]  # reported once, though two classes picked it
    wavs = sorted(p for p in io.files if p.parent == Path("/out/clips"))
    assert len(wavs) == 2 and all(len(io.files[w].samples) == 5 * 22050 for w in wavs)
    assert len(images.files) == 2
    assert pages.pages[Path("/out/index.html")] == result.clips
    assert pages.page_sizes[Path("/out/index.html")] == 100


def test_build_review_pages_by_page_size_and_refuses_zero_before_cutting() -> None:
    rng = np.random.default_rng(0)
    io = InMemoryAudioIO({Path("/rec/a.wav"): Audio(rng.normal(size=22050 * 10) * 0.1, 22050)})
    pages, images = MemoryPages(), InMemoryImages()
    build = BuildReview(io, io, images, pages)
    build.run(scores=SCORES, audio_root=Path("/rec"), output=Path("/out"), page_size=1)
    assert pages.page_sizes[Path("/out/index.html")] == 1
    with pytest.raises(ValueError, match="page_size must be at least 1"):
        build.run(scores=SCORES, audio_root=Path("/rec"), output=Path("/new"), page_size=0)
    assert not [p for p in io.files if p.is_relative_to("/new")]


def test_save_marks_writes_csv_and_raven_table_of_present_clips() -> None:
    clips = [
        ReviewClip("x-owl", "a.wav", 0.0, 5.0, "owl", 0.9, "clips/x.wav", "images/x.png"),
        ReviewClip("y-owl", "b.wav", 5.0, 10.0, "owl", 0.5, "clips/y.wav", "images/y.png"),
    ]
    tables, store = InMemoryTables(), InMemoryAnnotationStore()
    written = SaveReviewMarks(tables, store).run(
        clips=clips, marks={"x-owl": "present", "y-owl": "absent"}, output=Path("/o"), raven=True
    )
    assert written == [Path("/o/review.csv"), Path("/o/review.selections.txt")]
    assert [r["mark"] for r in tables.rows(Path("/o/review.csv"))] == ["present", "absent"]
    boxes = store.tables[Path("/o/review.selections.txt")]
    assert len(boxes) == 1 and boxes.labels == ["owl"]
    with pytest.raises(ValueError, match="must be one of"):
        SaveReviewMarks(tables, store).run(clips=clips, marks={"x-owl": "maybe"}, output=Path("/o"))
    with pytest.raises(ValueError, match="unknown clip"):
        SaveReviewMarks(tables, store).run(clips=clips, marks={"zzz": "present"}, output=Path("/o"))
