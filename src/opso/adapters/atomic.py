"""Atomic file writes: write beside the destination, then rename over it."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

_counter = itertools.count()


@contextlib.contextmanager
def atomic_path(path: Path, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, else delete it.

    The temporary file lives in the destination folder (same file system, so the rename is
    atomic) and keeps ``path``'s suffix unless ``suffix`` is given, so writers that infer a
    format from the name still work. A reader never sees a half-written ``path``, and an
    existing ``path`` is untouched when the write fails.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    keep = suffix if suffix is not None else path.suffix
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{next(_counter)}.part{keep}")
    try:
        yield tmp
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (UTF-8) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


class AtomicTextWriter:
    """The :class:`opso.ports.tables.TextWriter` of real files: :func:`write_text_atomic`."""

    def write(self, path: Path, text: str) -> None:
        """Write ``text`` to ``path`` atomically."""
        write_text_atomic(path, text)
