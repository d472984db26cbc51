"""Moments on the clock, and the stretch of absolute time a recording covers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from opso.domain.errors import ParameterError


def aware_moment(moment: datetime | str, *, name: str = "start_timestamp") -> datetime:
    """Return ``moment`` as a time-zone-aware datetime.

    Parameters
    ----------
    moment
        A ``datetime`` (a pandas ``Timestamp`` is one) or ISO 8601 text such as
        ``2021-09-24T06:52:00.25+00:00``; it must carry a time zone.
    name
        The argument's name, for messages.

    Raises
    ------
    ParameterError
        If ``moment`` is not a time, or has no time zone (a naive time is ambiguous: give the
        zone, e.g. ``datetime(..., tzinfo=ZoneInfo("UTC"))`` or ``Timestamp(...).tz_localize``).
    """
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError as e:
            raise ParameterError(f"{name} {moment!r} is not an ISO 8601 date-time") from e
    if not isinstance(moment, datetime):
        raise ParameterError(f"{name} must be a datetime or ISO 8601 text, got {moment!r}")
    if moment.utcoffset() is None:
        raise ParameterError(
            f"{name} {moment.isoformat()} has no time zone; give one, e.g. "
            f"{moment.isoformat()}+00:00 for UTC"
        )
    return moment


@dataclass(frozen=True, slots=True)
class RecordingSpan:
    """The stretch of absolute time a recording covers: ``[start, start + duration)``.

    Parameters
    ----------
    path
        The recording.
    start
        When its first sample was recorded, time-zone aware.
    duration
        Its length in seconds.
    """

    path: Path
    start: datetime
    duration: float

    @property
    def end(self) -> datetime:
        """The moment just after its last sample."""
        return self.start + timedelta(seconds=self.duration)

    def describe(self) -> str:
        """Return ``'START to END (D s)'`` in ISO 8601, for messages."""
        return f"{self.start.isoformat()} to {self.end.isoformat()} ({self.duration:.3f} s)"

    def offset_of(self, moment: datetime) -> float:
        """Return how many seconds into the recording ``moment`` (time-zone aware) lies.

        Raises
        ------
        ParameterError
            If ``moment`` is before the first sample or not before the end, naming the file,
            the span it covers and the moment.
        """
        offset = (moment - self.start).total_seconds()
        if not 0 <= offset < self.duration:
            raise ParameterError(
                f"{self.path}: covers {self.describe()}; {moment.isoformat()} is outside it"
            )
        return offset

    def overlap(self, start: datetime, end: datetime) -> tuple[float, float] | None:
        """Return the part of ``[start, end)`` this recording covers, in seconds from its start.

        None when the recording and the range share no time.
        """
        begin = max((start - self.start).total_seconds(), 0.0)
        stop = min((end - self.start).total_seconds(), self.duration)
        return (begin, stop) if stop > begin else None
