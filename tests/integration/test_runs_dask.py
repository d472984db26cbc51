from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import dask
import pandas as pd
import pytest
from distributed import LocalCluster

from opso.adapters.dask_runner import DaskRunner
from opso.app.runs import ReadRunResults
from opso.domain.errors import RunnerError
from tests.integration.runs_jobs import KillAlways, KillOnce, SetupOnce, make_corpus
from tests.integration.test_runs_local import LEVELS, STORE, expected_levels, run


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A running two-process cluster whose scheduler fails a task after 2 worker deaths."""
    with (
        dask.config.set({"distributed.scheduler.worker-saturation": 1.0}),
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
            scheduler_kwargs={"allowed_failures": 1},
        ) as cluster,
    ):
        yield str(cluster.scheduler_address)


def test_dask_local_gives_the_local_rows_and_loads_once_per_worker(
    corpus: list[Path], tmp_path: Path
) -> None:
    log = tmp_path / "loads.log"
    job = SetupOnce(LEVELS, log)
    result = run(corpus, tmp_path / "run", DaskRunner(workers=2), job=job)
    df = ReadRunResults(STORE).run(run_dir=tmp_path / "run")
    pd.testing.assert_frame_equal(df, expected_levels(corpus))
    assert result.progress.complete and not result.failures and result.ran > 10
    assert {Path(e.source).name for e in result.progress.errors} == {"corrupt.flac", "junk.wav"}
    pids = [line.split()[0] for line in log.read_text().splitlines()]
    assert len(pids) == len(set(pids)) <= 2


def test_a_killed_dask_worker_loses_nothing(
    corpus: list[Path], tmp_path: Path, scheduler: str
) -> None:
    marker = tmp_path / "killed"
    job = KillOnce(LEVELS, shard=3, marker=marker)
    result = run(corpus, tmp_path / "run", DaskRunner(scheduler=scheduler), job=job)
    assert marker.exists() and not result.failures and result.progress.complete
    pd.testing.assert_frame_equal(
        ReadRunResults(STORE).run(run_dir=tmp_path / "run"), expected_levels(corpus)
    )


def test_a_shard_that_keeps_killing_dask_workers_fails_and_the_run_completes(
    corpus: list[Path], tmp_path: Path, scheduler: str
) -> None:
    job = KillAlways(LEVELS, shard=0)
    result = run(corpus, tmp_path / "run", DaskRunner(scheduler=scheduler), job=job)
    assert [(f.shard, f.attempts) for f in result.failures] == [(0, 2)]
    assert "KilledWorker" in result.failures[0].reason
    p = result.progress
    assert p.shards_done == p.shards - 1 and p.shards_failed == 1


def test_shards_grouped_into_tasks_give_the_same_rows_and_isolate_a_killer(
    corpus: list[Path], tmp_path: Path, scheduler: str
) -> None:
    runner = DaskRunner(scheduler=scheduler, shards_per_task=3)
    result = run(corpus, tmp_path / "grouped", runner, job=LEVELS)
    assert result.progress.complete and not result.failures and result.ran > 6
    pd.testing.assert_frame_equal(
        ReadRunResults(STORE).run(run_dir=tmp_path / "grouped"), expected_levels(corpus)
    )
    # the task holding shard 0 is split after it kills workers; only shard 0 fails
    killer = run(corpus, tmp_path / "killer", runner, job=KillAlways(LEVELS, shard=0))
    assert [f.shard for f in killer.failures] == [0]
    assert killer.progress.shards_done == killer.progress.shards - 1


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path: Path, corpus: list[Path]) -> None:
    runner = DaskRunner(scheduler="tcp://127.0.0.1:9", connect_timeout=1.0)
    with pytest.raises(RunnerError, match=r"127\.0\.0\.1:9"):
        run(corpus[:2], tmp_path / "run", runner)
