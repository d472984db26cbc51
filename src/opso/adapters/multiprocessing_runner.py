"""The local batch runner: a pool of worker processes (stdlib multiprocessing), one shard each.

Each worker receives the task once, when it starts, and then one shard at a time over its own
pipe, so the main process always knows which shard a worker holds: when a worker dies (killed,
out of memory, a crash in native code) exactly that shard is charged an attempt and requeued,
and a fresh worker takes its place. Only shard indices and small reports cross the pipes; rows
go straight from the worker to its Parquet part, so memory stays flat however many files a run has.

Workers end with the main process, however it ends (``kill -9`` included): a watchdog thread
in each worker waits on a pidfd of the main process (Linux; elsewhere it polls the pid) and
exits the worker when the main process is gone. Watching the parent would not do: a worker's
parent is the fork server, which lives as long as any worker holds its pipe.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import select
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Literal

from opso.domain.errors import ParameterError, RunnerError
from opso.domain.runs import Shard, ShardFailure, ShardOutcome
from opso.ports.runner import BatchRunner, ShardTask

StartMethod = Literal["spawn", "forkserver", "fork"]

#: Modules the fork server imports once, so each worker starts as a cheap fork of it.
#: ``__main__`` first, so jobs defined in the calling script unpickle in the workers.
PRELOAD = (
    "__main__",
    "opso.app.runs",
    "opso.adapters.parquet_runs",
    "opso.adapters.soundfile_io",
)


def describe_exception(e: BaseException) -> str:
    """Return ``Type: message`` plus the innermost frame, for an error row."""
    tb = traceback.extract_tb(e.__traceback__)
    where = f" (at {tb[-1].filename}:{tb[-1].lineno})" if tb else ""
    return f"{type(e).__name__}: {e}{where}"


def run_one(task: ShardTask, shard: Shard) -> ShardOutcome:
    """Run ``task`` on ``shard`` in this process; an exception becomes a failure."""
    try:
        return task(shard)
    except Exception as e:
        return ShardFailure(shard.index, describe_exception(e))


#: Thread-count variables set in each worker (unless already set), read by OpenMP, MKL and
#: OpenBLAS when a library that uses them (torch, say) is first imported there.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


#: How often a worker's watchdog checks the main process where there is no pidfd, in seconds.
WATCHDOG_INTERVAL = 0.5


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _end_with(main: int) -> None:
    """Start a daemon thread that exits this worker process as soon as process ``main`` ends."""
    try:
        pidfd: int | None = os.pidfd_open(main)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):  # not Linux 5.3+, or not allowed here
        pidfd = None

    def watch() -> None:
        if pidfd is not None:
            select.select([pidfd], [], [])  # readable once the process has ended
        else:
            while _alive(main):
                time.sleep(WATCHDOG_INTERVAL)
        os._exit(1)

    threading.Thread(target=watch, name="opso-main-watchdog", daemon=True).start()


def _worker_main(conn: Connection, task: ShardTask, threads: int, force: bool, main: int) -> None:
    """Loop in a worker process: receive a shard, run it, send the outcome; stop on None.

    The thread variables are set to ``threads`` when ``force`` (asked for explicitly), else
    only where the environment leaves them unset. The worker ends when process ``main`` (the
    runner's) ends, however it ends.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    _end_with(main)
    for name in THREAD_VARIABLES:
        if force:
            os.environ[name] = str(threads)
        else:
            os.environ.setdefault(name, str(threads))
    while True:
        try:
            shard = conn.recv()
        except EOFError:
            return
        if shard is None:
            return
        conn.send(run_one(task, shard))


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    shard: Shard | None = None
    finished: int = 0


class LocalRunner(BatchRunner):
    """Run shards in ``workers`` local processes (0: in this process, one after another).

    Parameters
    ----------
    workers
        Worker processes; 0 runs every shard in the calling process (no isolation from crashes,
        no start-up cost; right for a GPU model or a debugger).
    attempts
        How many worker deaths a shard may cause before it is reported failed.
    start_method
        How workers start: None picks ``"forkserver"`` where the platform has it (a clean
        single-threaded server process forks each worker: fast, and safe with threads and
        torch), else ``"spawn"``; ``"fork"`` is fastest but unsafe once threads run.
    preload
        Modules the fork server imports before forking workers.
    threads_per_worker
        Threads each worker's numeric libraries may use (``OMP_NUM_THREADS`` and friends).
        Default: the CPUs divided among the workers, unless the environment sets them already,
        so N workers do not each start a thread per CPU.

    Raises
    ------
    ValueError
        If ``workers < 0`` or ``attempts < 1``.
    """

    def __init__(
        self,
        workers: int = 0,
        *,
        attempts: int = 3,
        start_method: StartMethod | None = None,
        preload: Sequence[str] = PRELOAD,
        threads_per_worker: int | None = None,
    ) -> None:
        if workers < 0:
            raise ParameterError(f"workers must be >= 0, got {workers!r}")
        if attempts < 1:
            raise ParameterError(f"attempts must be >= 1, got {attempts!r}")
        self.workers = workers
        self.attempts = attempts
        if start_method is None:
            start_method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        self.start_method: StartMethod = start_method
        self.preload = tuple(preload)
        self.threads_per_worker = threads_per_worker

    def run(
        self,
        task: ShardTask,
        shards: Sequence[Shard],
        *,
        on_outcome: Callable[[ShardOutcome], None],
    ) -> None:
        """Run ``task`` on every shard; report each outcome in this process as it arrives."""
        if self.workers == 0:
            for shard in shards:
                on_outcome(run_one(task, shard))
            return
        _Pool(self, task, on_outcome).run(shards)


class _Pool:
    def __init__(
        self,
        runner: LocalRunner,
        task: ShardTask,
        on_outcome: Callable[[ShardOutcome], None],
    ) -> None:
        self.ctx: Any = mp.get_context(runner.start_method)
        if runner.start_method == "forkserver":
            self.ctx.set_forkserver_preload(list(runner.preload))
        self.runner = runner
        self.task = task
        self.on_outcome = on_outcome
        self.workers: list[_Worker] = []
        self.deaths: dict[int, int] = {}
        self.threads = runner.threads_per_worker or max(1, default_workers() // runner.workers)
        self.outcomes = 0
        self.fresh_deaths = 0

    def _start(self) -> _Worker:
        parent, child = self.ctx.Pipe(duplex=True)
        process = self.ctx.Process(
            target=_worker_main,
            args=(
                child,
                self.task,
                self.threads,
                self.runner.threads_per_worker is not None,
                os.getpid(),
            ),
            daemon=True,
            name="opso-shard-worker",
        )
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self.workers.append(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        self.workers.remove(worker)
        worker.conn.close()
        worker.process.join(timeout=5)

    def run(self, shards: Sequence[Shard]) -> None:
        pending = deque(shards)
        try:
            for _ in range(min(self.runner.workers, len(pending))):
                self._start()
            for w in list(self.workers):
                self._feed(w, pending)
            while any(w.shard is not None for w in self.workers):
                self._step(pending)
        finally:
            self._shutdown()

    def _feed(self, worker: _Worker, pending: deque[Shard]) -> None:
        if not pending:
            worker.shard = None
            return
        worker.shard = pending.popleft()
        # A worker that died before taking the shard is seen through its sentinel in _step.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, EOFError):
            worker.conn.send(worker.shard)

    def _step(self, pending: deque[Shard]) -> None:
        busy = [w for w in self.workers if w.shard is not None]
        handles: dict[Any, _Worker] = {}
        for w in busy:
            handles[w.conn] = w
            handles[w.process.sentinel] = w
        ready = {handles[h].process.pid: handles[h] for h in wait(list(handles))}
        for worker in ready.values():
            outcome: ShardOutcome | None = None
            try:
                if worker.conn.poll():
                    outcome = worker.conn.recv()
            except (EOFError, OSError):
                outcome = None
            if outcome is not None:
                worker.finished += 1
                self.outcomes += 1
                self.on_outcome(outcome)
                self._feed(worker, pending)
                continue
            if worker.process.is_alive():
                worker.process.join(timeout=1)
            self._died(worker, pending)

    def _died(self, worker: _Worker, pending: deque[Shard]) -> None:
        shard = worker.shard
        code = worker.process.exitcode
        self._retire(worker)
        if worker.finished == 0:
            self.fresh_deaths += 1
            if self.outcomes == 0 and self.fresh_deaths >= 2 * self.runner.attempts:
                raise RunnerError(
                    f"{self.fresh_deaths} worker processes died before finishing any shard "
                    f"(last exit code {code}); check that the job can be imported and "
                    "unpickled in a fresh process, or run with workers=0 to see the error"
                )
        if shard is not None:
            n = self.deaths.get(shard.index, 0) + 1
            self.deaths[shard.index] = n
            if n >= self.runner.attempts:
                self.on_outcome(
                    ShardFailure(
                        shard.index,
                        f"worker died {n} time(s) running this shard (exit code {code})",
                        attempts=n,
                    )
                )
            else:
                pending.appendleft(shard)
        if pending:
            self._feed(self._start(), pending)

    def _shutdown(self) -> None:
        for w in self.workers:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
                w.conn.send(None)
        for w in self.workers:
            w.process.join(timeout=5)
            if w.process.is_alive():
                w.process.terminate()
                w.process.join(timeout=5)
            w.conn.close()
        self.workers.clear()


def default_workers() -> int:
    """Return a sensible worker count for this machine: its usable CPUs."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
