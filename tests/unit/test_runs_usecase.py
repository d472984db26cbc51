from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from opso.adapters.memory import InMemoryAudioIO, InMemoryRunStore
from opso.adapters.multiprocessing_runner import LocalRunner
from opso.app.levels import ClipLevels
from opso.app.runs import ReadRunResults, RunBatch, RunResult, RunStatus, segment_clips
from opso.domain.audio import Audio
from opso.domain.errors import RunDirectoryError, RunMismatchError
from opso.domain.runs import Segment, Shard, ShardOutput

SR = 100
RUN = Path("run")


def _io() -> InMemoryAudioIO:
    rng = np.random.default_rng(1)
    files = {Path(f"rec{i}.wav"): Audio(rng.standard_normal(SR * (4 + i)), SR) for i in range(5)}
    files[Path("long.wav")] = Audio(rng.standard_normal(SR * 60), SR)
    files[Path("empty.wav")] = Audio(np.zeros(0), SR)
    return InMemoryAudioIO(files)


@dataclass
class Spy:
    """Wraps a job and records which shards it computed."""

    job: ClipLevels
    seen: list[int] = field(default_factory=list)
    fail_on: int | None = None

    def __call__(self, shard: Shard) -> ShardOutput:
        self.seen.append(shard.index)
        if shard.index == self.fail_on:
            raise RuntimeError("job bug")
        return self.job(shard)


def _setup() -> tuple[InMemoryAudioIO, InMemoryRunStore, RunBatch, Spy]:
    io = _io()
    store = InMemoryRunStore()
    spy = Spy(ClipLevels(io, clip_duration=2.0, final_clip="remainder"))
    return io, store, RunBatch(io, store, store, LocalRunner(0)), spy


def _run(batch: RunBatch, spy: Spy, sources: list[Path], **kw: Any) -> RunResult:
    return batch.run(
        sources=sources,
        run_dir=RUN,
        job=spy,
        settings=spy.job.settings(),
        align=spy.job.step,
        shard_duration=10.0,
        **kw,
    )


def _expected(io: InMemoryAudioIO, sources: list[Path]) -> list[tuple[str, float, float, float]]:
    rows = []
    for src in sources:
        audio = io.files[src]
        if len(audio.samples) == 0:
            continue
        for clip in audio.split(2.0, 0, "remainder"):
            x = clip["audio"].samples.astype(np.float64)
            rows.append(
                (str(src), clip["begin_time"], clip["end_time"], float(np.sqrt(np.mean(x * x))))
            )
    return rows


def test_a_run_yields_the_rows_of_an_unsharded_pass_and_reports_bad_files() -> None:
    io, store, batch, spy = _setup()
    sources = [*sorted(io.files), Path("missing.wav")]
    result = batch.run(
        sources=sources,
        run_dir=RUN,
        job=spy,
        settings=spy.job.settings(),
        align=spy.job.step,
        shard_duration=10.0,
    )
    df = ReadRunResults(store).run(run_dir=RUN)
    got = list(zip(df["file"], df["start_time"], df["end_time"], df["rms"], strict=True))
    assert got == _expected(io, sources[:-1])
    p = result.progress
    assert p.complete and result.ran == p.shards and result.skipped == 0
    assert p.unreadable == 2 and p.files == len(sources)  # the fake's header check fails both
    reasons = {e.source: e.reason for e in p.errors}
    assert set(reasons) == {"missing.wav", "empty.wav"}
    assert "no audio frames" in reasons["empty.wav"]
    assert p.audio_seconds == pytest.approx(sum(a.duration() for a in io.files.values()))
    summary = store.runs[RUN].summary
    assert summary is not None and summary["complete"] is True


def test_resume_computes_only_the_missing_shards_and_gives_the_same_rows() -> None:
    io, store, batch, spy = _setup()
    sources = sorted(io.files)
    _run(batch, spy, sources)
    full = ReadRunResults(store).run(run_dir=RUN)
    n = len(store.runs[RUN].parts)
    for i in (1, n - 1):
        del store.runs[RUN].parts[i]
    spy.seen.clear()
    result = _run(batch, spy, sources)
    assert sorted(spy.seen) == [1, n - 1]
    assert result.ran == 2 and result.skipped == n - 2
    assert ReadRunResults(store).run(run_dir=RUN).equals(full)


def test_other_settings_are_refused_unless_restarting() -> None:
    io, store, batch, spy = _setup()
    sources = sorted(io.files)
    _run(batch, spy, sources)
    other = Spy(ClipLevels(io, clip_duration=3.0))
    with pytest.raises(RunMismatchError, match=r"job\.clip_duration: 2\.0 -> 3\.0"):
        _run(batch, other, sources)
    with pytest.raises(RunMismatchError, match=r"inputs\."):
        _run(batch, spy, sources[:-1])
    with pytest.raises(RunMismatchError, match=r"sharding\.shard_duration"):
        batch.run(sources=sources, run_dir=RUN, job=spy, settings=spy.job.settings(), align=2.0)
    result = _run(batch, other, sources, restart=True)
    assert result.progress.complete
    df = ReadRunResults(store).run(run_dir=RUN)
    assert set(df["end_time"] - df["start_time"]) == {3.0}


def test_a_job_that_raises_fails_its_shard_and_the_rest_completes() -> None:
    io, store, batch, spy = _setup()
    spy.fail_on = 2
    sources = sorted(io.files)
    result = _run(batch, spy, sources)
    assert [f.shard for f in result.failures] == [2]
    assert "RuntimeError: job bug" in result.failures[0].reason
    p = RunStatus(store, store).run(run_dir=RUN)
    assert p.shards_failed == 1 and p.shards_done == p.shards - 1 and not p.complete
    failed_sources = {e.source for e in p.errors if e.shard == 2}
    manifest = store.read_manifest(RUN)
    assert manifest is not None
    assert failed_sources == {s.source for s in manifest.shards[2].segments}
    spy.fail_on = None
    spy.seen.clear()
    again = _run(batch, spy, sources)
    assert spy.seen == [2] and again.progress.complete
    assert RunStatus(store, store).run(run_dir=RUN).shards_failed == 0


def test_job_array_tasks_together_complete_the_run() -> None:
    io, store, batch, spy = _setup()
    sources = sorted(io.files)
    seen = []
    for i in range(3):
        spy.seen.clear()
        result = _run(batch, spy, sources, shard_index=i, shard_count=3)
        seen.append(list(spy.seen))
        assert result.progress.complete is (i == 2)
    n = len(store.runs[RUN].parts)
    assert sorted(x for s in seen for x in s) == list(range(n))
    assert all(x % 3 == i for i, s in enumerate(seen) for x in s)
    with pytest.raises(ValueError, match="both"):
        _run(batch, spy, sources, shard_index=0)


def test_status_of_a_directory_without_a_run_is_an_error() -> None:
    store = InMemoryRunStore()
    with pytest.raises(RunDirectoryError, match="not a run directory"):
        RunStatus(store, store).run(run_dir=Path("nowhere"))


def test_segment_clips_slice_exactly_like_splitting_the_whole_file() -> None:
    io = _io()
    audio = io.files[Path("long.wav")]
    whole = audio.split(2.5, 0.5, "full")
    got = []
    for start, end in [(0.0, 20.0), (20.0, 40.0), (40.0, 60.0)]:
        seg = Segment("long.wav", start, end, 60.0)
        got += segment_clips(io, seg, clip_duration=2.5, clip_overlap=0.5, final_clip="full")
    assert [(c["begin_time"], c["end_time"]) for c in got] == [
        (c["begin_time"], c["end_time"]) for c in whole
    ]
    for a, b in zip(got, whole, strict=True):
        np.testing.assert_array_equal(a["audio"].samples, b["audio"].samples)


def test_a_run_is_refused_while_another_holds_its_directory() -> None:
    io, store, batch, spy = _setup()
    sources = sorted(io.files)
    with store.lock(RUN):
        with pytest.raises(RunDirectoryError, match="in use by another opso run"):
            _run(batch, spy, sources)
        with pytest.raises(RunDirectoryError, match="in use"):
            _run(batch, spy, sources, restart=True)
    assert spy.seen == [] and store.read_fingerprint(RUN) is None
    with store.lock(RUN, job_array=(0, 2)):  # another task of the same array
        result = _run(batch, spy, sources, shard_index=1, shard_count=2)
        assert result.ran > 0
        with pytest.raises(RunDirectoryError, match="in use"):  # restart needs it alone
            _run(batch, spy, sources, shard_index=1, shard_count=2, restart=True)
    assert _run(batch, spy, sources).progress.complete
    assert store.held[RUN] == set()


def test_a_resume_with_another_engine_goes_on_with_a_note() -> None:
    io, store, batch, spy = _setup()
    sources = sorted(io.files)
    fast = {"backend": "fast", "batch_size": 16, "device": "auto"}
    first = _run(batch, spy, sources, engine=fast, shard_index=0, shard_count=2)
    assert first.notes == [] and store.read_engines(RUN) == [fast]
    eager = {**fast, "backend": "eager", "batch_size": 4}
    second = _run(batch, spy, sources, engine=eager, shard_index=1, shard_count=2)
    assert second.progress.complete
    [note] = second.notes
    assert "another engine" in note and "backend: fast -> eager" in note
    assert "batch_size: 16 -> 4" in note
    assert store.read_engines(RUN) == [fast, eager]
    assert _run(batch, spy, sources, engine=eager).notes == []


def test_export_happens_inside_the_run_when_it_is_complete(tmp_path: Path) -> None:
    io, _, batch, spy = _setup()
    sources = sorted(io.files)
    out = tmp_path / "levels.csv"
    half = _run(batch, spy, sources, shard_index=0, shard_count=2, export=out)
    assert half.exported is None and not out.exists()
    whole = _run(batch, spy, sources, export=out)
    assert whole.exported == whole.progress.rows and out.is_file()
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        _run(batch, spy, sources, export=tmp_path / "levels.xlsx")


def test_levels_of_an_extended_final_clip_measure_only_the_recording() -> None:
    tail = np.concatenate([np.ones(20), np.zeros(10)])  # 0.3 s, looped 6.7 times by extend
    io = InMemoryAudioIO({Path("r.wav"): Audio(np.concatenate([np.full(SR * 2, 0.5), tail]), SR)})
    job = ClipLevels(io, clip_duration=2.0, final_clip="extend")
    out = job(Shard(0, (Segment("r.wav", 0.0, 2.3, 2.3),)))
    assert out.columns["end_time"] == [2.0, 2.3]
    np.testing.assert_allclose(out.columns["rms"], [0.5, np.sqrt(20 / 30)], atol=1e-6)
