"""Ports for batch runs: the runner that executes shards, the jobs, and the run directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from opso.domain.runs import (
    Manifest,
    SegmentError,
    Shard,
    ShardOutcome,
    ShardOutput,
    ShardReport,
)

#: The unit of work a runner executes: compute one shard (and store its part), report back.
#: It must pickle, since runners ship it to worker processes; it runs once per shard attempt.
ShardTask = Callable[[Shard], ShardReport]


class ShardJob(Protocol):
    """Computes the rows of one shard; a segment that fails becomes an error, not an exception.

    A job must pickle cheaply (paths and settings, not a loaded model): runners send it to each
    worker once and call it for many shards there, so heavy setup should happen lazily on the
    first call and be kept on the instance.
    """

    def __call__(self, shard: Shard) -> ShardOutput:
        """Return the shard's rows and its failed segments."""
        ...


class BatchRunner(Protocol):
    """Executes a task over shards, in parallel where it can, surviving worker crashes."""

    def run(
        self,
        task: ShardTask,
        shards: Sequence[Shard],
        *,
        on_outcome: Callable[[ShardOutcome], None],
    ) -> None:
        """Run ``task`` once per shard; call ``on_outcome`` in this process once per shard.

        A task that raises yields a :class:`~opso.domain.runs.ShardFailure` at once; a shard
        whose worker dies is retried on a fresh worker and fails after the runner's allowed
        attempts. The run goes on past failed shards.
        """
        ...


class RunStore(Protocol):
    """The run-level files of a run directory: lock, fingerprint, manifest and summary.

    A store only ever deletes or trusts files it recorded as written by the run itself.
    """

    def lock(
        self, run_dir: Path, *, job_array: tuple[int, int] | None = None
    ) -> AbstractContextManager[str | None]:
        """Hold ``run_dir`` for one invocation of a run (created if missing).

        A plain run holds the directory alone; job-array task ``(index, count)`` shares it
        with the other tasks of its array and holds its own slice alone. The context yields a
        note when it took over a lock left by a process that is gone (else None), and releases
        the lock on leaving, also on an exception.

        Raises
        ------
        RunDirectoryError
            If another run holds the directory (the message names it: pid, host, since when).
        """
        ...

    def read_fingerprint(self, run_dir: Path) -> dict[str, Any] | None:
        """Return the stored run settings, or None for a new or empty directory.

        Raises
        ------
        RunDirectoryError
            If ``run_dir`` holds files opso did not write and no run, or results a run
            recorded while its fingerprint is missing.
        """
        ...

    def read_engines(self, run_dir: Path) -> list[dict[str, Any]]:
        """Return the engines (settings that do not change results) used so far, in order."""
        ...

    def write_fingerprint(
        self,
        run_dir: Path,
        settings: Mapping[str, Any],
        *,
        engines: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Store the run settings (and their hash), and the engines used, atomically."""
        ...

    def read_manifest(self, run_dir: Path) -> Manifest | None:
        """Return the stored plan, or None when there is none yet."""
        ...

    def write_manifest(self, run_dir: Path, manifest: Manifest) -> None:
        """Store the plan atomically."""
        ...

    def write_summary(self, run_dir: Path, summary: Mapping[str, Any]) -> None:
        """Store the summary of the latest invocation atomically."""
        ...

    def reset(self, run_dir: Path) -> None:
        """Delete every file the run recorded writing in ``run_dir`` (and nothing else)."""
        ...


class PartStore(Protocol):
    """The per-shard results of a run directory: one rows part and maybe one errors part each."""

    def write_part(
        self, run_dir: Path, shard: Shard, output: ShardOutput, report: ShardReport
    ) -> None:
        """Store a finished shard: its errors part (if any) first, then its rows part atomically."""
        ...

    def write_errors(
        self, run_dir: Path, shard: int | None, errors: Sequence[SegmentError]
    ) -> None:
        """Store the errors part of a failed ``shard`` (None: files unreadable at planning)."""
        ...

    def completed(self, run_dir: Path) -> set[int]:
        """Return the indices of shards whose rows part the run recorded (and still holds)."""
        ...

    def reports(self, run_dir: Path) -> list[ShardReport]:
        """Return the report stored with each rows part, by shard index."""
        ...

    def read_errors(self, run_dir: Path) -> list[SegmentError]:
        """Return every error row of the run: planning errors first, then by shard index."""
        ...

    def read_parts(self, run_dir: Path) -> Iterator[ShardOutput]:
        """Yield the rows parts in shard order (errors left empty)."""
        ...

    def export(self, run_dir: Path, destination: Path) -> int:
        """Write all rows in shard order to one ``.csv`` or ``.parquet`` file; return the count."""
        ...

    def export_errors(self, run_dir: Path, destination: Path) -> int:
        """Write every error row to one ``.csv`` file; return the count.

        Columns: ``shard, file, start, end, reason``, in the order of :meth:`read_errors`.
        """
        ...
