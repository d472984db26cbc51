"""The spec's ``commands`` helpers: run a program without a shell.

A command is an argument list. A string is split with :func:`shlex.split` (POSIX rules) and
the pieces are handed to the program directly, so ``;``, ``|``, ``$(...)`` and globs are never
interpreted. See docs/decisions/0040-commands-without-a-shell.md.
"""

from __future__ import annotations

import errno
import shlex
import subprocess
from collections.abc import Sequence
from os import PathLike

from opso.domain.errors import ParameterError

Command = str | Sequence[str | PathLike[str]]


def _argv(cmd: Command) -> list[str]:
    argv = shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]
    if not argv:
        raise ParameterError(f"empty command: {cmd!r}")
    return argv


def _popen(argv: list[str], *, capture: bool) -> subprocess.Popen[bytes]:
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    except FileNotFoundError as e:
        raise FileNotFoundError(
            errno.ENOENT, f"program not found: {argv[0]!r} (command {shlex.join(argv)})", argv[0]
        ) from e


def run_command(cmd: Command) -> tuple[bytes, bytes]:
    """Run a command and return what it wrote to standard output and standard error.

    Parameters
    ----------
    cmd
        An argument list such as ``["ffmpeg", "-i", path]``, or a string that is split with
        :func:`shlex.split` (never given to a shell).

    Returns
    -------
    tuple of bytes
        ``(stdout, stderr)``, as the spec's ``Popen(...).communicate()`` gave them.

    Raises
    ------
    FileNotFoundError
        If the program does not exist.
    ValueError
        If the command is empty or the string is not valid shell-word syntax.
    """
    stdout, stderr = _popen(_argv(cmd), capture=True).communicate()
    return stdout, stderr


def run_command_return_code(cmd: Command) -> int:
    """Run a command, discarding its output, and return its exit status.

    Parameters
    ----------
    cmd
        An argument list, or a string split with :func:`shlex.split` (never a shell).

    Returns
    -------
    int
        The program's return code (0 for success; negative: killed by that signal).

    Raises
    ------
    FileNotFoundError
        If the program does not exist.
    ValueError
        If the command is empty or the string is not valid shell-word syntax.
    """
    proc = _popen(_argv(cmd), capture=False)
    proc.communicate()
    return int(proc.returncode)
