"""Finding the audio files a command should process."""

from __future__ import annotations

import errno
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg"})


@dataclass(frozen=True, slots=True)
class AudioJob:
    """One recording to process and the name its outputs get (relative, without suffix)."""

    source: Path
    name: str


@dataclass(frozen=True, slots=True)
class FileFailure:
    """A recording a batch command could not process, and why (the batch carries on)."""

    source: Path
    reason: str


def find_audio_files(
    paths: Iterable[Path], *, suffixes: frozenset[str] = AUDIO_SUFFIXES
) -> list[AudioJob]:
    """Expand files and folders (recursively) into audio jobs, in sorted order per folder.

    A file given by name is taken whatever its suffix and named by its stem; files found in a
    folder are matched by suffix (any case) and named by their path relative to that folder,
    so outputs from different sub-folders never collide.

    Raises
    ------
    FileNotFoundError
        If a path does not exist.
    """
    jobs: list[AudioJob] = []
    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                if found.is_file() and found.suffix.lower() in suffixes:
                    jobs.append(AudioJob(found, found.relative_to(path).with_suffix("").as_posix()))
        elif path.exists():
            jobs.append(AudioJob(path, path.stem))
        else:
            raise FileNotFoundError(errno.ENOENT, f"no such file or folder: {path}", str(path))
    return jobs
