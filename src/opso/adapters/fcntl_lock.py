"""Run-directory locks: ``flock`` on a lock file that names its holder (POSIX).

A run holds ``<run_dir>/run.lock`` exclusively for its whole invocation; the tasks of a job
array hold it shared, and each holds ``<run_dir>/locks/slice-IIIIII-of-NNNNNN.lock`` alone. The
kernel drops a lock when its process ends, however it ends, so a lock is never stale: a lock
file left behind by a killed run (it names a holder, but nobody holds it) is simply taken over,
with a note. The holder writes its pid, host and start time into the file, so a refused run can
say who holds the directory.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from opso.domain.errors import RunDirectoryError

LOCK = "run.lock"
SLICES = "locks"

#: ``flock`` errors of file systems without locks (an NFS mount without lockd, Lustre
#: without ``-o flock``): the run goes on unlocked, with a note.
_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS}


def slice_lock_name(index: int, count: int) -> str:
    """Return the lock file name of job-array task ``index`` of ``count``."""
    return f"slice-{index:06d}-of-{count:06d}.lock"


def _holder() -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _describe(info: dict[str, object]) -> str:
    return f"pid {info.get('pid')} on host {info.get('host')} since {info.get('since')}"


def _read_info(fd: int) -> dict[str, object] | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_info(fd: int, info: dict[str, object] | None) -> None:
    os.ftruncate(fd, 0)
    if info is not None:
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)


def _acquire(path: Path, operation: int) -> int | None:
    """Open ``path`` and lock it without waiting; None when another process holds it.

    The file may be unlinked by a holder that releases it between our open and our lock, so
    the lock counts only if ``path`` still names the file we locked.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError:
            os.close(fd)
            raise
        try:
            same = path.stat().st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _release(path: Path, fd: int, *, exclusive: bool) -> None:
    """Unlock and close ``fd``, removing the lock file if no other process shares it."""
    try:
        if not exclusive:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the last sharer removes the file
        path.unlink(missing_ok=True)
    except OSError:
        pass  # others still share it
    finally:
        os.close(fd)


def _took_over(run_dir: Path, info: dict[str, object] | None) -> str | None:
    if info is None or info.get("pid") == os.getpid():
        return None
    return (
        f"took over the lock of {run_dir} left by a run that ended without releasing it "
        f"({_describe(info)})"
    )


def _info_at(path: Path) -> dict[str, object] | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return _read_info(fd)
    finally:
        os.close(fd)


def _array_holders(run_dir: Path) -> list[str]:
    """Describe the job-array tasks that hold their slice lock now."""
    folder = run_dir / SLICES
    found = []
    for path in sorted(folder.glob("slice-*.lock")) if folder.is_dir() else []:
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                info = _read_info(fd) or {}
                found.append(f"job-array task {info.get('task')}: {_describe(info)}")
            finally:
                os.close(fd)
    return found


def _refusal(run_dir: Path, path: Path) -> str:
    info = _info_at(path)
    if info is not None:
        who = _describe(info)
    else:
        who = "; ".join(_array_holders(run_dir)[:3]) or "holder unknown"
    return (
        f"{run_dir} is in use by another opso run ({who}); wait for it to end "
        f"(opso runs status {run_dir} shows its progress), or choose another run directory"
    )


@contextlib.contextmanager
def hold_run_directory(
    run_dir: Path, *, job_array: tuple[int, int] | None = None
) -> Iterator[str | None]:
    """Hold ``run_dir`` for one invocation (see the module docstring); yield a note or None.

    Raises
    ------
    RunDirectoryError
        If another process holds the directory (or, for a job-array task, its slice); the
        message names the holder: pid, host and since when.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK
    shared = job_array is not None
    try:
        fd = _acquire(path, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
    except OSError as e:
        if e.errno not in _UNSUPPORTED:
            raise RunDirectoryError(f"{path}: cannot lock the run directory ({e})") from e
        yield (
            f"{run_dir}: the file system does not support locks ({e.strerror}); opso cannot "
            "stop another run from using this run directory at the same time"
        )
        return
    if fd is None:
        raise RunDirectoryError(_refusal(run_dir, path))
    slice_path: Path | None = None
    slice_fd: int | None = None
    try:
        note = _took_over(run_dir, _read_info(fd))
        if job_array is None:
            _write_info(fd, _holder())
        else:
            if note is not None:
                _write_info(fd, None)
            index, count = job_array
            slice_path = run_dir / SLICES / slice_lock_name(index, count)
            slice_path.parent.mkdir(exist_ok=True)
            slice_fd = _acquire(slice_path, fcntl.LOCK_EX)
            if slice_fd is None:
                info = _info_at(slice_path)
                raise RunDirectoryError(
                    f"job-array task {index} of {count} of {run_dir} is already running "
                    f"({_describe(info or {})})"
                )
            note = note or _took_over(run_dir, _read_info(slice_fd))
            _write_info(slice_fd, {**_holder(), "task": f"{index} of {count}"})
        yield note
    finally:
        if slice_path is not None and slice_fd is not None:
            _release(slice_path, slice_fd, exclusive=True)
        _release(path, fd, exclusive=not shared)
