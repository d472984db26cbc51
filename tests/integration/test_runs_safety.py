"""Run directories a user can trust: one run at a time, only the run's own files, no orphans."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from opso.adapters.parquet_runs import ParquetRunStore
from opso.app.runs import ReadRunResults
from opso.cli import main
from tests.integration.runs_jobs import make_corpus
from tests.integration.test_runs_local import expected_levels

REPO = Path(__file__).resolve().parents[2]
STORE = ParquetRunStore()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def levels(corpus: list[Path], run_dir: Path, *extra: str, clip: str = "2") -> Result:
    """Run ``opso runs levels`` in-process (the expected_levels settings, or another clip)."""
    args = ["runs", "levels", str(corpus[0].parent), "--run-dir", str(run_dir)]
    args += ["--clip-duration", clip, "--clip-overlap", "0.5", "--final-clip", "remainder"]
    args += ["--shard-duration", "12", "--workers", "0", *extra]
    return CliRunner().invoke(main, args)


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


HOLD = """
import sys, time
from pathlib import Path
from opso.adapters.parquet_runs import ParquetRunStore

with ParquetRunStore().lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(120)
"""


@contextlib.contextmanager
def held(run_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """Hold the lock of ``run_dir`` in a second process until the block ends (kill -9)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_a_second_run_is_refused_while_a_live_process_holds_the_run_directory(
    corpus: list[Path], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    with held(run_dir) as proc:
        refused = levels(corpus, run_dir)
        assert refused.exit_code == 1
        assert "is in use by another opso run" in refused.output
        assert f"pid {proc.pid} on host {socket.gethostname()} since " in refused.output
        restart = levels(corpus, run_dir, "--restart")
        assert restart.exit_code == 1 and "in use by another opso run" in restart.output
        assert {p.name for p in run_dir.iterdir()} == {"run.lock"}  # nothing planned or run


def test_status_works_during_a_run_and_a_lock_left_by_a_killed_run_is_taken_over(
    corpus: list[Path], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    assert levels(corpus, run_dir).exit_code == 0
    with held(run_dir) as proc:
        status = CliRunner().invoke(main, ["runs", "status", str(run_dir)])
        assert status.exit_code == 0 and "status: complete" in status.output
        assert levels(corpus, run_dir).exit_code == 1
    # killed with -9, the holder left its lock file behind, naming a dead process
    assert f'"pid": {proc.pid}' in (run_dir / "run.lock").read_text()
    again = levels(corpus, run_dir)
    assert again.exit_code == 0, again.output
    assert "warning: took over the lock" in again.output and f"pid {proc.pid}" in again.output
    assert "ran 0 shard(s)" in again.output and not (run_dir / "run.lock").exists()


def test_restart_on_a_folder_that_is_not_an_opso_run_deletes_nothing(
    corpus: list[Path], tmp_path: Path
) -> None:
    folder = tmp_path / "my-project"
    for name in ("parts/part-000000.parquet", "errors/notes.txt", "analysis.R"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(f"the user's {name}")
    before = files_under(folder)
    for extra in ((), ("--restart",)):
        res = levels(corpus, folder, *extra)
        assert res.exit_code == 1
        assert f"{folder} is not an opso run directory (it holds files opso did not write" in (
            res.output
        )
        assert "choose an empty or new folder" in res.output
        assert files_under(folder) == before


def test_a_stray_part_in_a_run_is_computed_again_not_adopted(
    corpus: list[Path], tmp_path: Path
) -> None:
    run_dir, other = tmp_path / "run", tmp_path / "other"
    assert levels(corpus, run_dir).exit_code == 0
    assert levels(corpus, other, clip="3").exit_code == 0  # another run's parts
    part = run_dir / "parts" / "part-000002.parquet"
    stray = (other / "parts" / part.name).read_bytes()
    assert stray != part.read_bytes()
    part.unlink()
    part.write_bytes(stray)
    res = levels(corpus, run_dir)
    assert res.exit_code == 0 and "ran 1 shard(s)" in res.output
    pd.testing.assert_frame_equal(
        ReadRunResults(STORE).run(run_dir=run_dir), expected_levels(corpus)
    )
    [aside] = run_dir.glob("parts/part-000002.parquet.unrecorded-*")
    assert aside.read_bytes() == stray  # the file opso did not write is kept


def test_a_run_whose_fingerprint_was_deleted_is_refused_not_adopted(
    corpus: list[Path], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    assert levels(corpus, run_dir).exit_code == 0
    (run_dir / "fingerprint.json").unlink()
    parts = files_under(run_dir / "parts")
    res = levels(corpus, run_dir, clip="3")
    assert res.exit_code == 1
    assert "holds results an opso run recorded" in res.output and "--restart" in res.output
    assert files_under(run_dir / "parts") == parts
    restarted = levels(corpus, run_dir, "--restart", clip="3")
    assert restarted.exit_code == 0 and "(0 already done)" in restarted.output
    df = ReadRunResults(STORE).run(run_dir=run_dir)
    assert (df["end_time"] - df["start_time"]).max() == 3.0


PARENT = """
import sys
from pathlib import Path

import opso
from tests.integration.runs_jobs import Sleepy

if __name__ == "__main__":
    sources, run_dir, pids = sys.argv[1].split(","), Path(sys.argv[2]), Path(sys.argv[3])
    opso.run_shards(
        sources, run_dir, Sleepy(pids), {"job": "sleepy"}, shard_duration=5.0,
        runner=opso.make_runner("local", workers=2),
    )
"""


def _stat(pid: int) -> tuple[str, int] | None:
    """Return a process's state letter and parent pid from /proc, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid = text.rsplit(")", 1)[1].split()[:2]
    return state, int(ppid)


def _gone(pid: int) -> bool:
    found = _stat(pid)
    return found is None or found[0] == "Z"


def _descendants(pid: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        found = _stat(int(entry.name)) if entry.name.isdigit() else None
        if found is not None:
            parents[int(entry.name)] = found[1]
    family, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        family += children
        frontier = children
    return family


def test_workers_end_within_seconds_when_their_main_process_is_killed(
    corpus: list[Path], tmp_path: Path
) -> None:
    script, pids = tmp_path / "parent.py", tmp_path / "pids"
    script.write_text(PARENT)
    pids.mkdir()
    sources = ",".join(str(p) for p in corpus)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen(
        [sys.executable, str(script), sources, str(tmp_path / "run"), str(pids)], env=env
    )
    try:
        deadline = time.monotonic() + 60
        while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
            assert parent.poll() is None, "the run ended before its workers started"
            time.sleep(0.1)
        workers = [int(p.name) for p in pids.iterdir()]
        assert len(workers) == 2 and not any(_gone(w) for w in workers)
        family = _descendants(parent.pid)  # the workers, the fork server, the resource tracker
        assert set(workers) <= set(family)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 2.5
        while not all(_gone(pid) for pid in family) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid in family if not _gone(pid)] == []
    finally:
        parent.kill()
        for pid in (int(p.name) for p in pids.iterdir()):
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)


WATCHED = """
import os, sys, time
if sys.argv[2] == "poll":
    del os.pidfd_open  # as on a platform without pidfds
from opso.adapters.multiprocessing_runner import _end_with

_end_with(int(sys.argv[1]))
print("watching", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("how", ["pidfd", "poll"])
def test_a_worker_watchdog_ends_its_process_with_the_main_process(how: str) -> None:
    main_proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    worker = subprocess.Popen(
        [sys.executable, "-c", WATCHED, str(main_proc.pid), how],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "watching"
        assert worker.poll() is None
        main_proc.send_signal(signal.SIGKILL)
        main_proc.wait()
        assert worker.wait(timeout=2) == 1
    finally:
        main_proc.kill()
        worker.kill()
        worker.wait()
