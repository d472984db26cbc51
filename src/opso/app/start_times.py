"""When each recording started, so that tables can give every clip its moment in time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

from opso.domain.recording_info import BEGIN_DATETIME
from opso.ports.metadata import MetadataReader

__all__ = [
    "BEGIN_DATETIME",
    "StartTimes",
    "in_one_zone",
    "iso_moment",
    "raven_clock_columns",
    "raven_date_time",
    "read_start_times",
    "start_of",
]


@dataclass(frozen=True, slots=True)
class StartTimes:
    """Recording start times by source path, all in one time zone.

    Parameters
    ----------
    starts
        Start of each recording whose metadata or file name gives one, by ``str(path)``.
    note
        Set when the recordings were in several time zones and the times were converted to UTC.
    """

    starts: Mapping[str, datetime] = field(default_factory=dict)
    note: str | None = None

    @property
    def known(self) -> bool:
        """Whether any recording has a known start (a table then gets a ``begin_datetime``)."""
        return bool(self.starts)

    def at(self, source: str | Path, offset_s: float) -> str:
        """Return the moment ``offset_s`` s into ``source`` as ISO 8601 text ("" if unknown)."""
        start = self.starts.get(str(source))
        return "" if start is None else iso_moment(start, offset_s)


def iso_moment(start: datetime, offset_s: float) -> str:
    """Return the moment ``offset_s`` s after ``start`` as ISO 8601 text with its UTC offset."""
    return (start + timedelta(seconds=offset_s)).isoformat(timespec="milliseconds")


def raven_date_time(moment: datetime) -> str:
    """Return ``moment`` as Raven Pro writes ``Begin Date Time``: ``2021/05/02 04:00:05.250``."""
    return moment.strftime("%Y/%m/%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def raven_clock_columns(start: datetime, begin_times: Sequence[float]) -> dict[str, list[object]]:
    """Return Raven's ``Begin Date Time`` and ``Begin Clock Time`` columns of boxes.

    The boxes begin ``begin_times`` seconds into a recording that started at ``start``; the
    times are in the start's own zone.
    """
    moments = [raven_date_time(start + timedelta(seconds=t)) for t in begin_times]
    return {
        "Begin Date Time": list(moments),
        "Begin Clock Time": [m.split(" ")[1] for m in moments],
    }


def start_of(
    metadata: MetadataReader | None, path: Path, *, timezone: tzinfo | None = None
) -> datetime | None:
    """Return when ``path`` started recording, from its metadata or name (None if unknown).

    A file that cannot be opened has no start here (the run reports it when it reads the
    audio); without a ``metadata`` reader no start is known.
    """
    if metadata is None:
        return None
    try:
        return metadata.read(path, timezone=timezone).start
    except OSError:
        return None


def read_start_times(
    metadata: MetadataReader | None, sources: Iterable[Path], *, timezone: tzinfo | None = None
) -> StartTimes:
    """Read the start of every recording (:func:`start_of`) before a run writes rows.

    Recordings in different time zones are all converted to UTC, and ``note`` says so.

    Parameters
    ----------
    metadata
        Reads each file's recording metadata; None knows no start.
    sources
        The recordings, as the run names them.
    timezone
        Zone of times written without one (file names); None reads them as UTC.
    """
    starts = {str(s): start_of(metadata, Path(s), timezone=timezone) for s in sources}
    return in_one_zone({s: start for s, start in starts.items() if start is not None})


def in_one_zone(starts: Mapping[str, datetime]) -> StartTimes:
    """Return ``starts`` as :class:`StartTimes`: as they are in one time zone, else in UTC."""
    zones = sorted({str(start.tzinfo) for start in starts.values()})
    if len(zones) < 2:
        return StartTimes(dict(starts))
    utc = {source: start.astimezone(UTC) for source, start in starts.items()}
    note = f"recordings in {len(zones)} time zones ({', '.join(zones)}): times are in UTC"
    return StartTimes(utc, note)
