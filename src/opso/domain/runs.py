"""Batch runs: shards of (file, time range) segments, what a shard yields, run fingerprints.

A run over many recordings is planned once into a frozen tuple of :class:`Shard` objects, each a
list of :class:`Segment` time ranges of files, balanced by audio duration (read from headers). A
long file is split into several segments whose boundaries fall on clip starts, so every clip of
the file belongs to exactly one segment and concatenating the shards' results in shard order gives
the rows an unsharded run would.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opso.domain.audio import FinalClip, clip_times
from opso.domain.errors import ParameterError

_EPS = 1e-6


@dataclass(frozen=True, slots=True)
class Segment:
    """A time range of one recording: the clips whose start lies in ``[start, end)``.

    Parameters
    ----------
    source
        Path of the recording, as a string.
    start, end
        The range in seconds. The last segment of a file ends at the file's duration and also
        holds any clip starting at or after ``end`` (a ``final_clip="full"`` clip, say).
    duration
        Duration of the whole recording in seconds, from its header.
    """

    source: str
    start: float
    end: float
    duration: float

    @property
    def is_last(self) -> bool:
        """Whether this segment runs to the end of its recording."""
        return self.end >= self.duration - _EPS

    @property
    def seconds(self) -> float:
        """Length of the range in seconds."""
        return self.end - self.start

    def clip_times(
        self, clip_duration: float, clip_overlap: float = 0, final_clip: FinalClip = None
    ) -> list[tuple[float, float]]:
        """Return the ``(begin, end)`` clips of the whole recording that belong to this segment.

        The clips are those :func:`opso.domain.audio.clip_times` makes for the full recording,
        kept when their start lies in the segment, so the segments of a file together hold each
        of its clips exactly once.
        """
        times = clip_times(self.duration, clip_duration, clip_overlap, final_clip)
        lo = self.start - _EPS
        if self.is_last:
            return [t for t in times if t[0] >= lo]
        hi = self.end - _EPS
        return [t for t in times if lo <= t[0] < hi]


@dataclass(frozen=True, slots=True)
class Shard:
    """One unit of work: consecutive segments whose total audio is about the shard duration."""

    index: int
    segments: tuple[Segment, ...]

    @property
    def audio_seconds(self) -> float:
        """Total length of the shard's segments in seconds."""
        return sum(s.seconds for s in self.segments)

    @property
    def files(self) -> int:
        """Number of distinct recordings the shard touches."""
        return len({s.source for s in self.segments})


@dataclass(frozen=True, slots=True)
class SegmentError:
    """A segment (or a whole file, ``start = end = 0``) that failed, and why."""

    source: str
    start: float
    end: float
    reason: str
    shard: int = -1


@dataclass(frozen=True, slots=True)
class Manifest:
    """The frozen plan of a run: its shards, and the files whose header could not be read."""

    shards: tuple[Shard, ...]
    unreadable: tuple[SegmentError, ...] = ()

    @property
    def files(self) -> int:
        """Number of recordings in the run, readable or not."""
        return len({s.source for sh in self.shards for s in sh.segments}) + len(self.unreadable)

    @property
    def audio_seconds(self) -> float:
        """Total audio of the run in seconds."""
        return sum(sh.audio_seconds for sh in self.shards)


@dataclass(frozen=True, slots=True, eq=False)
class ShardOutput:
    """What a job computed for one shard: a table of rows (by column) and the segments that failed.

    Parameters
    ----------
    columns
        Column name -> values, every column of the same length (lists or 1-D numpy arrays).
        Column order is kept.
    errors
        One entry per segment (or file) that could not be processed.

    Raises
    ------
    ValueError
        If the columns differ in length.
    """

    columns: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    errors: tuple[SegmentError, ...] = ()

    def __post_init__(self) -> None:
        lengths = {name: len(values) for name, values in self.columns.items()}
        if len(set(lengths.values())) > 1:
            raise ParameterError(f"shard output columns differ in length: {lengths}")

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return next((len(v) for v in self.columns.values()), 0)

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[Mapping[str, Any]],
        *,
        columns: Sequence[str],
        errors: Iterable[SegmentError] = (),
    ) -> ShardOutput:
        """Build an output from row mappings, taking ``columns`` in that order."""
        table: dict[str, list[Any]] = {c: [] for c in columns}
        for row in rows:
            for c in columns:
                table[c].append(row[c])
        return cls(table, tuple(errors))


@dataclass(frozen=True, slots=True)
class ShardReport:
    """The small record a finished shard sends back: counts, audio seconds and timing."""

    shard: int
    rows: int
    errors: int
    files: int
    audio_seconds: float
    started: float
    finished: float
    worker: str = ""


@dataclass(frozen=True, slots=True)
class ShardFailure:
    """A shard that produced no part: the job raised, or it killed its worker too many times."""

    shard: int
    reason: str
    attempts: int = 1


ShardOutcome = ShardReport | ShardFailure


def _piece_length(shard_duration: float, align: float | None) -> float:
    if align is None:
        return shard_duration
    return max(1, math.floor(shard_duration / align + _EPS)) * align


def plan_shards(
    durations: Iterable[tuple[str, float]],
    *,
    shard_duration: float,
    max_files: int = 1000,
    align: float | None = None,
) -> tuple[Shard, ...]:
    """Pack recordings, in the given order, into shards of about ``shard_duration`` seconds.

    Parameters
    ----------
    durations
        ``(source, duration in seconds)`` per recording, in the order results should come out.
    shard_duration
        Target audio per shard in seconds. A shard never holds more, except one segment that is
        itself longer (when ``align`` exceeds it).
    max_files
        Most segments per shard, so many tiny files still make reasonably small shards.
    align
        Clip step in seconds (clip duration minus overlap): long recordings are cut into
        segments whose length is a whole number of steps, so cuts fall on clip starts. None
        cuts at exactly ``shard_duration``.

    Returns
    -------
    tuple of Shard
        Indexed 0, 1, ...; segments keep the input order.

    Raises
    ------
    ValueError
        If ``shard_duration`` or ``align`` is not positive, ``max_files`` < 1, or a duration is
        negative or not finite.
    """
    if not (shard_duration > 0 and math.isfinite(shard_duration)):
        raise ParameterError(
            f"shard_duration must be a positive number of seconds: {shard_duration!r}"
        )
    if align is not None and not (align > 0 and math.isfinite(align)):
        raise ParameterError(f"align must be a positive number of seconds or None: {align!r}")
    if max_files < 1:
        raise ParameterError(f"max_files must be >= 1, got {max_files!r}")
    piece = _piece_length(shard_duration, align)
    shards: list[Shard] = []
    current: list[Segment] = []
    seconds = 0.0

    def flush() -> None:
        nonlocal current, seconds
        if current:
            shards.append(Shard(len(shards), tuple(current)))
        current, seconds = [], 0.0

    for source, duration in durations:
        if not (duration >= 0 and math.isfinite(duration)):
            raise ParameterError(
                f"{source}: duration must be a finite number >= 0, got {duration!r}"
            )
        n_pieces = max(1, math.ceil(duration / piece - _EPS))
        for k in range(n_pieces):
            start = round(k * piece, 9)
            end = duration if k == n_pieces - 1 else round((k + 1) * piece, 9)
            length = end - start
            if current and (seconds + length > shard_duration + _EPS or len(current) >= max_files):
                flush()
            current.append(Segment(source, start, end, duration))
            seconds += length
    flush()
    return tuple(shards)


def select_shards(shards: Sequence[Shard], *, index: int, count: int) -> list[Shard]:
    """Return the shards job-array task ``index`` of ``count`` runs: ``i % count == index``.

    Raises
    ------
    ValueError
        If ``count < 1`` or ``index`` is outside ``[0, count)``.
    """
    if count < 1:
        raise ParameterError(f"shard count must be >= 1, got {count!r}")
    if not 0 <= index < count:
        raise ParameterError(f"shard index must be in [0, {count}), got {index!r}")
    return [s for s in shards if s.index % count == index]


def _canonical(value: Any, key: str) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParameterError(f"setting {key!r} must be finite, got {value!r}")
        return value
    if isinstance(value, Mapping):
        return {str(k): _canonical(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v, f"{key}[{i}]") for i, v in enumerate(value)]
    raise ParameterError(
        f"setting {key!r} must be a number, string, bool, None, list or mapping; "
        f"got {type(value).__name__}"
    )


def canonical_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``settings`` as plain JSON values (tuples as lists), validated.

    Raises
    ------
    ValueError
        If a value is not JSON-like (number, string, bool, None, list, mapping) or not finite;
        the message names the key.
    """
    return {str(k): _canonical(v, str(k)) for k, v in settings.items()}


def fingerprint(settings: Mapping[str, Any]) -> str:
    """Return the SHA-256 hex digest of ``settings`` in canonical JSON (keys sorted).

    Put in ``settings`` everything that changes a run's results: model file hash, classes,
    preprocessing, clip settings, the input list and the sharding. Key order does not matter.

    Raises
    ------
    ValueError
        If a value is not JSON-like; see :func:`canonical_settings`.
    """
    text = json.dumps(canonical_settings(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def settings_diff(old: Mapping[str, Any], new: Mapping[str, Any], *, prefix: str = "") -> list[str]:
    """Describe how two settings mappings differ, one ``key: old -> new`` line per leaf."""
    lines: list[str] = []
    for key in sorted(set(old) | set(new)):
        name = f"{prefix}{key}"
        a, b = old.get(key, "<missing>"), new.get(key, "<missing>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            lines.extend(settings_diff(a, b, prefix=f"{name}."))
        elif a != b:
            lines.append(f"{name}: {_short(a)} -> {_short(b)}")
    return lines


def has_undecodable(text: str) -> bool:
    r"""Whether ``text`` holds lone surrogates: bytes of a file name that are not UTF-8.

    ``os.listdir`` and ``os.fsdecode`` turn each such byte into a surrogate (``b"caf\xe9"``
    becomes ``"caf\udce9"``); such text cannot be written as UTF-8.
    """
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def printable(text: str) -> str:
    r"""Return ``text`` with each undecodable byte of a file name written as ``\xNN``.

    Valid text comes back unchanged; ``"caf\udce9.wav"`` (``b"caf\xe9.wav"`` on disk) comes
    back as ``caf\xe9.wav`` (a backslash, ``x`` and two hex digits per byte, as Python prints
    bytes). Any other lone surrogate is written as ``\udNNN``.
    """
    if not has_undecodable(text):
        return text
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."
