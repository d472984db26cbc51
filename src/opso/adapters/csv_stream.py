"""CSV tables streamed row by row (standard library csv), published on success."""

from __future__ import annotations

import contextlib
import csv
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from opso.adapters.atomic import output_write_error
from opso.ports.rows import RowSink, RowStream, interrupted_path


class _CsvStream(RowStream):
    def __init__(self, fh: TextIO, columns: Sequence[str]) -> None:
        self._fh = fh
        self._writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        self._writer.writeheader()
        fh.flush()
        self.complete = fh.tell()

    def write(self, rows: Sequence[Mapping[str, object]]) -> None:
        self._writer.writerows(rows)
        self._fh.flush()

    def checkpoint(self) -> None:
        self._fh.flush()
        self.complete = self._fh.tell()


def _partial_path(path: Path) -> Path:
    """Return a new partial-file name for ``path``: ``<name>.<pid>-<random>.partial``.

    The name is this writer's own (process id and 8 random hex digits), in the same folder,
    so two runs writing the same table never share a partial file.
    """
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")


class CsvRowSink(RowSink):
    """Stream rows to ``<path>.<pid>-<random>.partial``, flushed per write; renamed on success.

    A run that fails leaves nothing under ``path`` (the partial file is removed), so a table
    under its final name is always complete, and holds the rows of one run only. A run
    interrupted by ``KeyboardInterrupt`` (Ctrl-C) keeps its rows up to the last checkpoint in
    ``<stem>.partial<suffix>`` (see :func:`opso.ports.rows.interrupted_path`). Text is
    written with ``errors="surrogateescape"``: a file name that is not UTF-8 (as ``os.listdir``
    gives it) is written as its bytes, and a reader with the same setting gets it back exactly.
    """

    @contextlib.contextmanager
    def open(self, path: Path, *, columns: Sequence[str]) -> Iterator[RowStream]:
        """Open ``path`` for streaming rows with ``columns``.

        Raises
        ------
        OutputWriteError
            If the disk is full, over quota, read-only or not writable (names ``path``).
        """
        partial = _partial_path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with partial.open("x", newline="", encoding="utf-8", errors="surrogateescape") as fh:
                stream = _CsvStream(fh, columns)
                try:
                    yield stream
                except KeyboardInterrupt:
                    fh.flush()
                    fh.truncate(stream.complete)
                    fh.close()
                    partial.replace(interrupted_path(path))
                    raise
            partial.replace(path)
        except OSError as e:
            failure = output_write_error(e, path, partial)
            if failure is None:
                raise
            raise failure from e
        finally:
            partial.unlink(missing_ok=True)
