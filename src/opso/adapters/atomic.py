"""Atomic file writes: write beside the destination, then rename over it."""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

from opso.domain.errors import OpsoError, OutputWriteError

_counter = itertools.count()

#: Operating-system errors that say the destination cannot take the output, and their wording.
WRITE_FAILURES: dict[int, str] = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
}


def output_write_error(error: OSError, path: Path, *temporary: Path) -> OutputWriteError | None:
    """Return an :class:`OutputWriteError` naming ``path`` for a disk-full or permission error.

    Only errors about writing ``path`` count: those naming no file (a failed ``write``), or
    naming ``path``, one of the ``temporary`` files written for it, or a folder on its way.
    Returns None for any other error (and for errors opso raised itself): it passes on unchanged.
    """
    reason = WRITE_FAILURES.get(error.errno or 0)
    if reason is None or isinstance(error, OpsoError):
        return None
    if error.filename is not None:
        named = Path(os.fsdecode(error.filename))
        if named not in (path, *temporary, *path.parents):
            return None
    failure = OutputWriteError(f"{reason} writing {path}")
    failure.errno = error.errno
    return failure


@contextlib.contextmanager
def atomic_path(path: Path, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, else delete it.

    The temporary file lives in the destination folder (same file system, so the rename is
    atomic) and keeps ``path``'s suffix unless ``suffix`` is given, so writers that infer a
    format from the name still work. A reader never sees a half-written ``path``, and an
    existing ``path`` is untouched when the write fails.

    Raises
    ------
    OutputWriteError
        If the folder, the temporary file or the rename fails for lack of space or quota,
        permission, or a read-only file system; the message names ``path``.
    """
    keep = suffix if suffix is not None else path.suffix
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{next(_counter)}.part{keep}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        tmp.replace(path)
    except BaseException as e:
        with contextlib.suppress(OSError):  # e.g. a read-only file system: keep the first error
            tmp.unlink(missing_ok=True)
        failure = output_write_error(e, path, tmp) if isinstance(e, OSError) else None
        if failure is not None:
            raise failure from e
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
