"""Port for result tables written row by row as a long job goes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol


class RowStream(Protocol):
    """An open table that takes rows as they are produced."""

    def write(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Append ``rows`` (and make them durable before returning)."""
        ...

    def checkpoint(self) -> None:
        """Mark every row written so far as complete: kept if the run is interrupted."""
        ...


class RowSink(Protocol):
    """Opens tables for streaming; the table appears under its name only if the job succeeds.

    If the job is interrupted (``KeyboardInterrupt``), the rows up to the last
    :meth:`RowStream.checkpoint` are kept under :func:`interrupted_path` of the name.
    """

    def open(self, path: Path, *, columns: Sequence[str]) -> AbstractContextManager[RowStream]:
        """Open ``path`` with ``columns``; leaving the context normally publishes it."""
        ...


def interrupted_path(path: Path) -> Path:
    """Return where an interrupted table keeps its complete rows: ``scores.partial.csv``."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")
