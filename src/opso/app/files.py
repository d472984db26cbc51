"""Finding the audio files a command should process, and decoding them one ahead."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from opso.domain.audio import Audio
from opso.domain.errors import OpsoError, OpsoLoadAudioInputError
from opso.ports.audio_io import AudioReader

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
    paths: Iterable[Path],
    *,
    suffixes: frozenset[str] = AUDIO_SUFFIXES,
    require_audio: bool = False,
) -> list[AudioJob]:
    """Expand files and folders (recursively) into audio jobs, in sorted order per folder.

    A file given by name is taken whatever its suffix and named by its stem; files found in a
    folder are matched by suffix (any case) and named by their path relative to that folder,
    so outputs from different sub-folders never collide. Recordings that would still share a
    name are renamed: ``a/x.wav b/x.wav`` become ``a/x`` and
    ``b/x``; ``x.wav``, ``x.flac`` and ``x.WAV`` of one folder become ``x_wav``, ``x_flac``
    and ``x_WAV``. Only the same file given twice keeps a shared name.

    Parameters
    ----------
    paths
        Files and folders.
    suffixes
        Suffixes (lower case, with the dot) of the files taken from folders.
    require_audio
        Refuse a folder that holds no file with one of ``suffixes``.

    Raises
    ------
    FileNotFoundError
        If a path does not exist.
    OpsoLoadAudioInputError
        If ``require_audio`` and a folder holds no audio file.
    """
    found: list[tuple[Path, Path, str]] = []  # (file, the input folder it came from, name)
    for path in paths:
        if path.is_dir():
            files = [
                f for f in sorted(path.rglob("*")) if f.is_file() and f.suffix.lower() in suffixes
            ]
            if require_audio and not files:
                raise OpsoLoadAudioInputError(
                    f"no audio files found in {path} (looked for {', '.join(sorted(suffixes))} "
                    "files, any case, in sub-folders too)"
                )
            found += [(f, path, f.relative_to(path).with_suffix("").as_posix()) for f in files]
        elif path.exists():
            found.append((path, path.parent, path.stem))
        else:
            raise FileNotFoundError(errno.ENOENT, f"no such file or folder: {path}", str(path))
    names = _unique_names(found)
    return [AudioJob(f, name) for (f, _, _), name in zip(found, names, strict=True)]


def names_in_common_folder(sources: Sequence[Path]) -> list[str]:
    """Name recordings as :func:`find_audio_files` names the files of one folder holding them all.

    Each is named by its path without suffix relative to the folder its recordings have in
    common; names still shared keep their suffix (``x_wav``, ``x_flac``).
    """
    if not sources:
        return []
    # absolute, without following links, as find_audio_files
    paths = [Path(os.path.normpath(p.absolute())) for p in sources]
    common = Path(os.path.commonpath([p.parent for p in paths]))
    return _unique_names(
        [(p, common, p.relative_to(common).with_suffix("").as_posix()) for p in paths]
    )


def _clashes(names: list[str]) -> list[list[int]]:
    """Index groups of the names that occur more than once."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name, []).append(i)
    return [group for group in groups.values() if len(group) > 1]


def _unique_names(found: list[tuple[Path, Path, str]]) -> list[str]:
    """Rename recordings that share a name, in two predictable steps.

    1. Recordings sharing a name are named by their path (without suffix) relative to the
       folder that the inputs they came from have in common (``a/x.wav b/x.wav`` -> ``a/x``,
       ``b/x``; folders ``2020/site`` and ``2021/site`` -> ``2020/site/x``, ``2021/site/x``).
    2. Recordings still sharing a name keep their suffix, as written (``x.wav``, ``x.flac``,
       ``x.WAV`` of one folder -> ``x_wav``, ``x_flac``, ``x_WAV``).

    Only the same file given twice still shares its name after that. ``found`` holds
    ``(file, input folder, name)`` per recording, the input folder being the folder given
    (for a file given by name, its parent).
    """
    names = [name for _, _, name in found]
    for group in _clashes(names):
        # absolute, without following links: a linked input keeps the name it is given by
        roots = {i: os.path.normpath(found[i][1].absolute()) for i in group}
        common = os.path.commonpath(list(roots.values()))
        for i in group:
            names[i] = (Path(os.path.relpath(roots[i], common)) / names[i]).as_posix()
    for group in _clashes(names):
        for i in group:
            suffix = found[i][0].suffix[1:]
            names[i] = f"{names[i]}_{suffix}" if suffix else names[i]
    return names


def decoded_ahead(
    reader: AudioReader, jobs: Sequence[AudioJob], sample_rate: int
) -> Iterator[tuple[AudioJob, Audio | BaseException]]:
    """Yield each job with its decoded audio (or its read error), decoding the next meanwhile."""

    def read(job: AudioJob) -> Audio:
        return reader.read(job.source, sample_rate=sample_rate)

    if not jobs:
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        current: Future[Audio] = pool.submit(read, jobs[0])
        for k, job in enumerate(jobs):
            following = pool.submit(read, jobs[k + 1]) if k + 1 < len(jobs) else None
            result: Audio | BaseException
            try:
                result = current.result()
            except (OpsoError, OSError, ValueError) as e:
                result = e
            yield job, result
            if following is not None:
                current = following


def failure_reason(error: BaseException) -> str:
    """Return an error's message on one line, for people (its type name if it has none).

    An ``OSError`` built with an errno gives its text without Python's ``[Errno N]`` prefix and
    repeated file name; the file name leads when the text does not hold it.
    """
    text = str(error)
    if isinstance(error, OSError) and error.strerror:
        text = error.strerror
        name = error.filename
        if name is not None and str(name) not in text:
            text = f"{name}: {text}"
    return " ".join((text or type(error).__name__).split())
