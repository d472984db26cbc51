"""CSV tables streamed row by row (standard library csv), published on success."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from opso.ports.rows import RowSink, RowStream


class _CsvStream(RowStream):
    def __init__(self, fh: TextIO, columns: Sequence[str]) -> None:
        self._fh = fh
        self._writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        self._writer.writeheader()
        fh.flush()

    def write(self, rows: Sequence[Mapping[str, object]]) -> None:
        self._writer.writerows(rows)
        self._fh.flush()


class CsvRowSink(RowSink):
    """Stream rows to ``<path>.partial``, flushed per write; renamed to ``path`` on success.

    A run that fails leaves nothing under ``path`` (the partial file is removed), so a table
    under its final name is always complete.
    """

    @contextlib.contextmanager
    def open(self, path: Path, *, columns: Sequence[str]) -> Iterator[RowStream]:
        """Open ``path`` for streaming rows with ``columns``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        try:
            with partial.open("w", newline="", encoding="utf-8") as fh:
                yield _CsvStream(fh, columns)
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
