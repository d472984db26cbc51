"""In-memory row sink for the prediction use-case tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from opso.ports.rows import RowSink, RowStream


class _Stream(RowStream):
    def __init__(self, owner: MemoryRowSink, rows: list[dict[str, object]]) -> None:
        self.owner = owner
        self.rows = rows

    def write(self, rows: Sequence[Mapping[str, object]]) -> None:
        self.owner.writes += 1
        self.rows.extend(dict(r) for r in rows)


class MemoryRowSink(RowSink):
    """Keeps each published table's rows; a failed run publishes nothing."""

    def __init__(self) -> None:
        self.tables: dict[Path, list[dict[str, Any]]] = {}
        self.writes = 0

    @contextlib.contextmanager
    def open(self, path: Path, *, columns: Sequence[str]) -> Iterator[RowStream]:
        rows: list[dict[str, object]] = []
        yield _Stream(self, rows)
        self.tables[path] = [{c: r.get(c) for c in columns} for r in rows]
