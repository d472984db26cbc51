"""The Dask batch runner: shards as tasks on a Dask cluster (``pip install opso[dask]``).

``DaskRunner(workers=N)`` starts a LocalCluster of N single-threaded worker processes for the run;
``DaskRunner(scheduler="tcp://host:8786")`` uses a running cluster (e.g. one dask-jobqueue started
on SLURM). Every worker keeps the first copy of the task it unpickles in a worker-local cache, so
a job that loads a model lazily loads it once per worker, not once per shard. The scheduler
reschedules the shards of a worker that dies; a shard that kills ``attempts`` workers comes back
as ``KilledWorker`` and is reported failed while the run goes on.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import pickle
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opso.adapters.multiprocessing_runner import describe_exception, run_one
from opso.domain.errors import ParameterError, RunnerError
from opso.domain.runs import Shard, ShardFailure, ShardOutcome
from opso.ports.runner import BatchRunner, ShardTask

#: Worker-local cache: task key -> the task object this worker process uses for every shard.
_TASKS: dict[str, ShardTask] = {}
_CACHE_SIZE = 2


def _run_cached(key: str, task: ShardTask, shards: list[Shard]) -> list[ShardOutcome]:
    """Run ``shards`` in turn with this worker's cached copy of ``task`` (kept after first use).

    A shard whose job raises becomes a failure; the others still run.
    """
    cached = _TASKS.get(key)
    if cached is None:
        while len(_TASKS) >= _CACHE_SIZE:
            _TASKS.pop(next(iter(_TASKS)))
        _TASKS[key] = cached = task
    return [run_one(cached, shard) for shard in shards]


def _task_key(task: ShardTask) -> str:
    return hashlib.sha256(pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()


class DaskRunner(BatchRunner):
    """Run shards as Dask tasks, on a LocalCluster or on a running scheduler.

    Parameters
    ----------
    scheduler
        Address of a running scheduler (``tcp://host:8786``); None starts a LocalCluster.
    workers
        Worker processes of the LocalCluster (ignored with ``scheduler``).
    threads_per_worker
        Threads per LocalCluster worker; 1 keeps one shard (and one model call) per process.
    attempts
        Worker deaths a shard may cause before it fails (the LocalCluster's scheduler gets
        ``allowed_failures = attempts - 1``; a running scheduler keeps its own setting,
        ``distributed.scheduler.allowed-failures``, and should run with
        ``distributed.scheduler.worker-saturation: 1.0`` so only running shards are charged).
    in_flight
        Most tasks submitted at once, per worker thread, so the scheduler never holds the
        whole manifest.
    shards_per_task
        Shards run by one Dask task, to spread Dask's per-task cost over several shards; None
        picks up to 16 while keeping at least 8 tasks per worker thread. A task killed by a
        worker death is split and its shards retried one by one, so only a shard that keeps
        killing workers fails.
    memory_limit
        Per-worker memory limit of the LocalCluster (e.g. ``"4GB"``); ``"auto"`` shares the
        machine's memory. A worker past it is restarted and its shard retried.
    connect_timeout
        Seconds to wait for a running scheduler.

    Raises
    ------
    ValueError
        If a count is below 1.
    """

    def __init__(
        self,
        *,
        scheduler: str | None = None,
        workers: int = 2,
        threads_per_worker: int = 1,
        attempts: int = 3,
        in_flight: int = 4,
        shards_per_task: int | None = None,
        memory_limit: str | float = "auto",
        connect_timeout: float = 30.0,
    ) -> None:
        for name, value in [
            ("workers", workers),
            ("threads_per_worker", threads_per_worker),
            ("attempts", attempts),
            ("in_flight", in_flight),
            ("shards_per_task", shards_per_task or 1),
        ]:
            if value < 1:
                raise ParameterError(f"{name} must be >= 1, got {value!r}")
        self.scheduler = scheduler
        self.workers = workers
        self.threads_per_worker = threads_per_worker
        self.attempts = attempts
        self.in_flight = in_flight
        self.shards_per_task = shards_per_task
        self.memory_limit = memory_limit
        self.connect_timeout = connect_timeout

    @contextmanager
    def _client(self) -> Iterator[Any]:
        try:
            from distributed import Client, LocalCluster
        except ImportError as e:
            raise RunnerError(
                "the Dask runner needs dask and distributed: pip install 'opso[dask]'"
            ) from e
        if self.scheduler is not None:
            try:
                client = Client(self.scheduler, timeout=self.connect_timeout)
            except (OSError, TimeoutError) as e:
                raise RunnerError(
                    f"cannot reach the Dask scheduler at {self.scheduler} ({e})"
                ) from e
            with client:
                yield client
            return
        import dask

        # Saturation 1.0: a worker holds only the shards it is running, so a worker death
        # charges an attempt to its own shard and not to shards merely queued on it.
        with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
            cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=self.threads_per_worker,
                processes=True,
                dashboard_address=None,
                memory_limit=self.memory_limit,
                silence_logs=logging.ERROR,
                scheduler_kwargs={"allowed_failures": self.attempts - 1},
            )
        with cluster, Client(cluster) as client:
            yield client

    def run(
        self,
        task: ShardTask,
        shards: Sequence[Shard],
        *,
        on_outcome: Callable[[ShardOutcome], None],
    ) -> None:
        """Submit the shards (a bounded window at a time) and report each as it completes."""
        if not shards:
            return
        from distributed import KilledWorker, as_completed

        key = _task_key(task)
        with self._client() as client:
            threads = sum(client.nthreads().values()) or self.workers * self.threads_per_worker
            size = self.shards_per_task or max(1, min(16, len(shards) // (8 * threads)))
            chunks = [list(shards[i : i + size]) for i in range(0, len(shards), size)]
            window = max(2, self.in_flight * threads)
            todo: Iterator[list[Shard]] = iter(chunks)
            owner: dict[Any, list[Shard]] = {}

            def submit(chunk: list[Shard], tag: str = "") -> Any:
                future = client.submit(
                    _run_cached,
                    key,
                    task,
                    chunk,
                    key=f"opso-shards-{chunk[0].index}-{chunk[-1].index}{tag}-{key[:12]}",
                    pure=False,
                    retries=0,
                )
                owner[future] = chunk
                return future

            queue = as_completed([submit(c) for c in itertools.islice(todo, window)])
            for future in queue:
                chunk = owner.pop(future)
                outcomes: list[ShardOutcome]
                try:
                    outcomes = future.result()
                except KilledWorker as e:
                    if len(chunk) > 1:  # find the shard that kills workers: retry one by one
                        future.release()
                        for shard in chunk:
                            queue.add(submit([shard], tag="-alone"))
                        continue
                    n = e.allowed_failures + 1
                    outcomes = [
                        ShardFailure(
                            chunk[0].index,
                            f"worker died {n} time(s) running this shard (Dask KilledWorker)",
                            attempts=n,
                        )
                    ]
                except Exception as e:
                    outcomes = [ShardFailure(s.index, describe_exception(e)) for s in chunk]
                future.release()
                for outcome in outcomes:
                    on_outcome(outcome)
                nxt = next(todo, None)
                if nxt is not None:
                    queue.add(submit(nxt))
