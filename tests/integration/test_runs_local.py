from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from opso.adapters.multiprocessing_runner import LocalRunner
from opso.adapters.parquet_runs import ParquetRunStore
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.app.levels import ClipLevels
from opso.app.runs import ReadRunResults, RunBatch, RunResult, RunStatus
from opso.cli import main
from opso.domain.errors import RunMismatchError
from opso.ports.runner import BatchRunner, ShardJob
from tests.integration.runs_jobs import KillAlways, KillOnce, SetupOnce, make_corpus

IO = SoundfileAudioIO()
STORE = ParquetRunStore()
LEVELS = ClipLevels(IO, clip_duration=2.0, clip_overlap=0.5, final_clip="remainder")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def expected_levels(sources: list[Path]) -> pd.DataFrame:
    """RMS/peak per clip from whole-file decodes and Audio.split: the unsharded reference."""
    rows = []
    for src in sources:
        try:
            audio = IO.read(src)
        except Exception:
            continue
        for clip in audio.split(2.0, 0.5, "remainder"):
            x = clip["audio"].samples.astype(np.float64)
            rms, peak = float(np.sqrt(np.mean(x * x))), float(np.max(np.abs(x)))
            rows.append((str(src), clip["begin_time"], clip["end_time"], rms, peak))
    return pd.DataFrame(rows, columns=["file", "start_time", "end_time", "rms", "peak"])


def run(
    sources: list[Path],
    run_dir: Path,
    runner: BatchRunner,
    job: ShardJob = LEVELS,
    **kw: object,
) -> RunResult:
    return RunBatch(IO, STORE, STORE, runner).run(
        sources=sources,
        run_dir=run_dir,
        job=job,
        settings=LEVELS.settings(),
        align=LEVELS.step,
        shard_duration=kw.pop("shard_duration", 12.0),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_two_workers_give_the_unsharded_rows_and_report_both_bad_files(
    corpus: list[Path], tmp_path: Path
) -> None:
    result = run(corpus, tmp_path / "run", LocalRunner(2))
    df = ReadRunResults(STORE).run(run_dir=tmp_path / "run")
    pd.testing.assert_frame_equal(df, expected_levels(corpus))
    assert df["file"].str.endswith("long.wav").sum() == 43  # 65 s in 2 s clips, 1.5 s step
    p = result.progress
    assert p.complete and p.shards > 5 and not result.failures
    errors = {Path(e.source).name: e for e in p.errors}
    assert set(errors) == {"corrupt.flac", "junk.wav"}
    assert errors["junk.wav"].shard == -1  # unreadable header: found while planning
    assert "lost sync" in errors["corrupt.flac"].reason and errors["corrupt.flac"].shard >= 0
    layout = {x.name for x in (tmp_path / "run").iterdir()}
    assert layout == {
        "fingerprint.json",
        "manifest.parquet",
        "parts",
        "errors",
        "ledger",
        "summary.json",
    }  # run.lock goes with the run
    assert not [x for x in (tmp_path / "run").rglob(".*")]  # no temp files left


def test_rerun_after_deleting_parts_recomputes_exactly_those(
    corpus: list[Path], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    first = run(corpus, run_dir, LocalRunner(0))
    full = ReadRunResults(STORE).run(run_dir=run_dir)
    parts = sorted((run_dir / "parts").glob("part-*.parquet"))
    gone = [parts[0], parts[3], parts[-1]]
    stamps = {p: p.stat().st_mtime_ns for p in parts if p not in gone}
    for p in gone:
        p.unlink()
    again = run(corpus, run_dir, LocalRunner(2))
    assert again.ran == 3 and again.skipped == first.ran - 3
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    assert all(p.exists() for p in gone)
    pd.testing.assert_frame_equal(ReadRunResults(STORE).run(run_dir=run_dir), full)


def test_fingerprint_guard_and_restart(corpus: list[Path], tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run(corpus, run_dir, LocalRunner(0))
    other = ClipLevels(
        IO, clip_duration=2.0, clip_overlap=0.5, final_clip="remainder", sample_rate=4000
    )
    batch = RunBatch(IO, STORE, STORE, LocalRunner(0))
    kwargs = {
        "sources": corpus,
        "run_dir": run_dir,
        "job": other,
        "align": 1.5,
        "shard_duration": 12.0,
    }
    with pytest.raises(RunMismatchError, match=r"job\.sample_rate: null -> 4000"):
        batch.run(settings=other.settings(), **kwargs)  # type: ignore[arg-type]
    result = batch.run(settings=other.settings(), restart=True, **kwargs)  # type: ignore[arg-type]
    assert result.progress.complete and result.skipped == 0


def test_a_killed_worker_loses_nothing_and_the_run_stays_exact(
    corpus: list[Path], tmp_path: Path
) -> None:
    marker = tmp_path / "killed"
    job = KillOnce(LEVELS, shard=2, marker=marker)
    result = run(corpus, tmp_path / "run", LocalRunner(2), job=job)
    assert marker.exists() and not result.failures and result.progress.complete
    df = ReadRunResults(STORE).run(run_dir=tmp_path / "run")
    pd.testing.assert_frame_equal(df, expected_levels(corpus))


def test_a_shard_that_keeps_killing_workers_fails_and_the_run_completes(
    corpus: list[Path], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    result = run(corpus, run_dir, LocalRunner(2, attempts=2), job=KillAlways(LEVELS, shard=1))
    assert [(f.shard, f.attempts) for f in result.failures] == [(1, 2)]
    assert "worker died 2 time(s)" in result.failures[0].reason
    p = RunStatus(STORE, STORE).run(run_dir=run_dir)
    assert p.shards_failed == 1 and p.shards_done == p.shards - 1
    manifest = STORE.read_manifest(run_dir)
    assert manifest is not None
    lost = {s.source for s in manifest.shards[1].segments}
    assert lost <= {e.source for e in p.errors if e.shard == 1}
    # a later run with a healthy job retries just that shard and completes exactly
    again = run(corpus, run_dir, LocalRunner(0))
    assert again.ran == 1 and again.progress.complete and again.progress.shards_failed == 0
    pd.testing.assert_frame_equal(
        ReadRunResults(STORE).run(run_dir=run_dir), expected_levels(corpus)
    )


def test_each_worker_sets_up_its_job_once_with_its_share_of_threads(
    corpus: list[Path], tmp_path: Path
) -> None:
    log = tmp_path / "loads.log"
    runner = LocalRunner(2, threads_per_worker=3)
    result = run(corpus, tmp_path / "run", runner, job=SetupOnce(LEVELS, log), shard_duration=4.0)
    lines = [line.split() for line in log.read_text().splitlines()]
    pids = [pid for pid, _ in lines]
    assert result.ran > 10 and len(pids) == len(set(pids)) <= 2
    assert {threads for _, threads in lines} == {"3"}  # asked for explicitly, so it wins


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    shard_duration=st.floats(1.0, 100.0),
    max_files=st.integers(1, 6),
    data=st.data(),
)
def test_any_sharding_concatenates_to_the_unsharded_rows(
    corpus: list[Path],
    tmp_path: Path,
    shard_duration: float,
    max_files: int,
    data: st.DataObject,
) -> None:
    # A file with a corrupt region loses only the segments that touch it when sharded, so
    # the all-or-nothing corrupt.flac is left out of this comparison (junk.wav stays in).
    sources = data.draw(st.permutations([c for c in corpus if c.suffix != ".flac"]))
    run_dir = tmp_path / f"run-{os.urandom(4).hex()}"
    run(sources, run_dir, LocalRunner(0), shard_duration=shard_duration, max_files=max_files)
    df = ReadRunResults(STORE).run(run_dir=run_dir)
    pd.testing.assert_frame_equal(df, expected_levels(sources))


def test_cli_levels_status_and_export(corpus: list[Path], tmp_path: Path) -> None:
    runner = CliRunner()
    run_dir, out = tmp_path / "run", tmp_path / "levels.csv"
    folder = str(corpus[0].parent)
    args = ["runs", "levels", folder, "--run-dir", str(run_dir), "--clip-duration", "2"]
    args += ["--clip-overlap", "0.5", "--final-clip", "remainder", "--shard-duration", "12"]
    res = runner.invoke(main, [*args, "--workers", "0", "--export", str(out)])
    assert res.exit_code == 0, res.output
    assert "exported" in res.output
    exported = pd.read_csv(out)
    want = expected_levels(corpus)
    assert list(exported.columns) == list(want.columns) and len(exported) == len(want)
    np.testing.assert_allclose(exported["rms"], want["rms"], rtol=1e-12)
    status = runner.invoke(main, ["runs", "status", str(run_dir)])
    assert status.exit_code == 0, status.output
    assert "status: complete" in status.output and "corrupt.flac" in status.output
    assert "junk.wav" in status.output and "files/s" in status.output
    js = runner.invoke(main, ["runs", "status", str(run_dir), "--json"])
    assert '"complete": true' in js.output
    errs = tmp_path / "errors.csv"
    res = runner.invoke(main, ["runs", "export", str(run_dir), str(errs), "--errors"])
    assert res.exit_code == 0 and len(pd.read_csv(errs)) == 2
    parquet = tmp_path / "levels.parquet"
    res = runner.invoke(main, ["runs", "export", str(run_dir), str(parquet)])
    assert res.exit_code == 0 and len(pd.read_parquet(parquet)) == len(want)
    changed = runner.invoke(main, [*args[:6], "3", *args[7:], "--workers", "0"])
    assert changed.exit_code == 1 and "--restart" in changed.output
    job_array = runner.invoke(main, [*args, "--shard-index", "0"])
    assert job_array.exit_code == 2 and "together" in job_array.output
    missing = runner.invoke(main, ["runs", "status", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "not a run directory" in missing.output
