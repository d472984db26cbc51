"""BirdNET-style detection and embedding as run jobs, on in-memory audio and a fake model."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from opso.adapters.memory import InMemoryAudioIO, InMemoryRunStore
from opso.adapters.multiprocessing_runner import LocalRunner
from opso.app.files import AudioJob
from opso.app.pretrained import EmbedWindows, SpeciesFilter
from opso.app.pretrained_runs import DetectShards, EmbedShards
from opso.app.runs import ReadRunResults, RunBatch
from opso.domain.audio import Audio
from opso.domain.errors import OpsoLoadAudioInputError, ParameterError
from opso.domain.heads import EmbeddingSettings, ModelReference
from opso.domain.pretrained import flat_sigmoid, pad_windows, window_starts
from opso.domain.runs import SegmentError
from opso.ports.pretrained import PretrainedModel

RATE = 100
CLASSES = ["Aus aus_Aye", "Bus bus_Bee", "Cus cus_Sea"]
RUN = Path("run")


class FakeModel(PretrainedModel):
    """3 s windows at 100 Hz; logits and features from each window's samples."""

    name = "fake"
    sample_rate = RATE
    clip_duration = 3.0
    classes: Sequence[str] = CLASSES
    reference = ModelReference("fake", "fake", None, "fake.tflite", "0" * 64)

    def scores(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        m, s = clips.mean(axis=1, keepdims=True), clips.std(axis=1, keepdims=True)
        return np.hstack([10 * m, -10 * m, 4 * s - 2]).astype(np.float32)

    def embeddings(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        weights = np.linspace(-1, 1, clips.shape[1], dtype=np.float32)  # row by row: exact
        return np.stack([clips.mean(axis=1), (clips * weights).sum(axis=1)], axis=1)

    def occurrence(self, latitude: float, longitude: float, week: int) -> NDArray[np.float32]:
        return np.array([0.5, 0.01, 0.5], dtype=np.float32)


class FakeStore:
    """Hands out a fresh fake model and counts the loads."""

    loads = 0

    def load(self, model: str | Path, *, labels: Path | None = None) -> PretrainedModel:
        FakeStore.loads += 1
        return FakeModel()


def _io() -> InMemoryAudioIO:
    rng = np.random.default_rng(7)
    files = {
        Path(f"rec{seconds}.wav"): Audio(
            (0.3 * rng.standard_normal(round(seconds * RATE)) + rng.uniform(-0.2, 0.2)).astype(
                np.float32
            ),
            RATE,
        )
        for seconds in (0.5, 6.5, 7.4, 20.3, 31.07, 150.2)
    }
    files[Path("empty.wav")] = Audio(np.zeros(0, dtype=np.float32), RATE)
    # resampled from 80 Hz, over three decoding blocks
    files[Path("slow.wav")] = Audio(rng.standard_normal(80 * 170).astype(np.float32), 80)
    return InMemoryAudioIO(files)


def _run(
    io: InMemoryAudioIO, job: DetectShards | EmbedShards, shard_duration: float
) -> tuple[pd.DataFrame, list[SegmentError]]:
    """Run ``job`` over every recording of ``io``; return its rows and error rows."""
    store = InMemoryRunStore()
    RunBatch(io, store, store, LocalRunner(0)).run(
        sources=sorted(io.files),
        run_dir=RUN,
        job=job,
        settings=job.settings(),
        align=job.step,
        shard_duration=shard_duration,
    )
    return ReadRunResults(store).run(run_dir=RUN), store.read_errors(RUN)


def test_window_starts_follow_the_streaming_rule() -> None:
    def streaming(n: int, step: int, least: int) -> list[int]:
        starts: list[int] = []
        for start in range(0, n, step):
            if starts and n - start < least:
                break
            starts.append(start)
        return starts

    for n in range(60):
        for step in range(1, 12):
            for least in range(15):
                assert list(window_starts(n, step, least)) == streaming(n, step, least)


@pytest.mark.parametrize(("overlap", "shard_duration"), [(0.0, 3.0), (0.5, 7.0), (1.7, 100.0)])
def test_sharded_detections_are_the_whole_recordings_windows(
    overlap: float, shard_duration: float
) -> None:
    io = _io()
    keep = SpeciesFilter(min_confidence=0.3, top_k=2)
    job = DetectShards(io, FakeStore(), "fake", overlap=overlap, batch_size=4, species_filter=keep)
    got, errors = _run(io, job, shard_duration)
    want = []
    for source in sorted(io.files):
        if source.stem in ("empty", "slow"):
            continue  # slow.wav: resampled by blocks, see the embeddings test
        samples = io.files[source].samples
        times, clips = pad_windows(samples, RATE, 3.0, overlap)
        confidence = flat_sigmoid(FakeModel().scores(clips))
        for (begin, end), row in zip(times, confidence, strict=True):
            want += [(str(source), begin, end, CLASSES[k].split("_")[0]) for k in keep.kept(row)]
    assert list(got.columns) == [
        "file",
        "begin_time",
        "end_time",
        "scientific_name",
        "common_name",
        "confidence",
    ]
    keys = got[got["file"] != "slow.wav"][["file", "begin_time", "end_time", "scientific_name"]]
    assert list(keys.itertuples(index=False, name=None)) == want
    assert len(want) > 20
    assert [e.source for e in errors] == ["empty.wav"]


@pytest.mark.parametrize("shard_duration", [6.0, 45.0, 1000.0])
def test_sharded_embeddings_equal_the_streaming_table(shard_duration: float) -> None:
    io = _io()
    job = EmbedShards(io, FakeStore(), "fake", overlap=1.0, batch_size=3)
    got, _ = _run(io, job, shard_duration)
    jobs = [AudioJob(p, p.stem) for p in sorted(io.files)]
    rows, vectors = EmbedWindows(io, writer=None).embeddings(  # type: ignore[arg-type]
        FakeModel(), jobs, overlap=1.0
    )
    good = [i for i, r in enumerate(rows) if not r["error"]]
    assert list(got.columns) == ["file", "begin_time", "end_time", "emb_0", "emb_1", "error"]
    assert list(got["file"]) == [rows[i]["file"] for i in good]
    assert list(got["begin_time"]) == [rows[i]["begin_time"] for i in good]
    assert list(got["end_time"]) == [rows[i]["end_time"] for i in good]
    # the same samples, resampled or not, wherever the run cuts the recordings
    np.testing.assert_array_equal(got[["emb_0", "emb_1"]].to_numpy(), vectors[good])
    assert (got["error"] == "").all()
    record = EmbeddingSettings.from_dict(job.settings()["embeddings"])
    assert (record.dimension, record.overlap, record.model.sha256) == (2, 1.0, "0" * 64)


def test_the_job_pickles_without_its_model_and_loads_it_once_per_process() -> None:
    io = _io()
    job = DetectShards(io, FakeStore(), "fake")
    before = FakeStore.loads
    job.settings()
    job.settings()
    assert FakeStore.loads == before + 1
    copy = pickle.loads(pickle.dumps(job))
    assert copy._loaded is None and job._loaded is not None
    assert copy.settings() == job.settings()


def test_settings_change_with_what_changes_the_rows() -> None:
    io = _io()
    base = DetectShards(io, FakeStore(), "fake").settings()
    for other in (
        DetectShards(io, FakeStore(), "fake", overlap=1.0),
        DetectShards(io, FakeStore(), "fake", species_filter=SpeciesFilter(min_confidence=0.2)),
        DetectShards(io, FakeStore(), "fake", species_filter=SpeciesFilter(species=("Aye",))),
        DetectShards(io, FakeStore(), "fake", species_filter=SpeciesFilter(sensitivity=1.2)),
    ):
        assert other.settings() != base
    assert DetectShards(io, FakeStore(), "fake", batch_size=3).settings() == base  # engine only


def test_bad_settings_are_refused_before_any_file_is_read() -> None:
    io = _io()
    with pytest.raises(ParameterError, match="batch_size"):
        DetectShards(io, FakeStore(), "fake", batch_size=0)
    with pytest.raises(ParameterError, match="sensitivity"):
        DetectShards(io, FakeStore(), "fake", species_filter=SpeciesFilter(sensitivity=2.0))
    with pytest.raises(ParameterError, match="overlap"):
        DetectShards(io, FakeStore(), "fake", overlap=3.0).settings()


class FailingIO(InMemoryAudioIO):
    """Audio whose ``bad.wav`` cannot be decoded after its first minute."""

    def read(self, source: object, **kw: Any) -> Audio:
        if source == Path("bad.wav") and kw.get("offset", 0.0) > 0:
            raise OpsoLoadAudioInputError("bad.wav: corrupt frame at 61.2 s")
        return super().read(source, **kw)  # type: ignore[arg-type]


def test_a_segment_that_fails_midway_keeps_its_windows_before_and_is_an_error_row() -> None:
    rng = np.random.default_rng(3)
    io = FailingIO(
        {Path("bad.wav"): Audio(rng.standard_normal(RATE * 150).astype(np.float32), RATE)}
    )
    job = EmbedShards(io, FakeStore(), "fake")
    got, errors = _run(io, job, 1000.0)
    assert list(got["begin_time"]) == [3.0 * k for k in range(20)]  # the first minute's windows
    assert [(e.source, e.reason) for e in errors] == [
        ("bad.wav", "bad.wav: corrupt frame at 61.2 s")
    ]
