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


class RowSink(Protocol):
    """Opens tables for streaming; the table appears under its name only if the job succeeds."""

    def open(self, path: Path, *, columns: Sequence[str]) -> AbstractContextManager[RowStream]:
        """Open ``path`` with ``columns``; leaving the context normally publishes it."""
        ...
