"""Activity: detections counted per species and per clock hour, day or site, with recording effort.

Times here are local clock times (``datetime64[ms]`` without a zone): the use-case converts each
detection's moment to the zone the summary is shown in. A detection is one table row at or over
the threshold; it counts in the bin that holds its begin time. Recording effort (seconds
recorded) is spread over the bins its recordings cover, so a bin recorded without a detection
is a true zero, and a bin never recorded is no bin at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta, timezone, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from opso.domain.errors import ParameterError

Grouping = Literal["hour", "day", "site"]
#: What ``--by`` may name.
GROUPINGS: tuple[Grouping, ...] = ("hour", "day", "site")
_MS = {"h": 3_600_000, "D": 86_400_000}
_NAT = np.datetime64("NaT", "ms")


def split_at_multiples(
    begin: NDArray[np.int64], end: NDArray[np.int64], size: int
) -> tuple[NDArray[np.intp], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Cut intervals ``[begin, end)`` at every multiple of ``size``.

    Returns
    -------
    tuple
        For each piece: its interval's index, its bin (the multiple of ``size`` it lies in,
        divided by ``size``), its begin and its end. Empty intervals give no piece.
    """
    first = begin // size
    count = np.maximum((end - 1) // size - first + 1, 0)
    which = np.repeat(np.arange(begin.size), count)
    step = np.arange(which.size) - np.repeat(np.cumsum(count) - count, count)
    bins = first[which] + step
    low = np.maximum(begin[which], bins * size)
    high = np.minimum(end[which], (bins + 1) * size)
    return which, bins, low, high


def groupings(by: Iterable[str]) -> tuple[Grouping, ...]:
    """Return the groupings ``by`` names in table order (site, then day or hour).

    Raises
    ------
    ParameterError
        If ``by`` is empty, names an unknown grouping, or names both hour and day.
    """
    names = list(dict.fromkeys(by))
    if not names:
        raise ParameterError("give at least one grouping: hour, day or site")
    unknown = [n for n in names if n not in GROUPINGS]
    if unknown:
        raise ParameterError(f"unknown grouping {unknown[0]!r} (use hour, day or site)")
    if "hour" in names and "day" in names:
        raise ParameterError("group by hour or by day, not both (an hour bin names its day)")
    order: tuple[Grouping, ...] = ("site", "day", "hour")
    return tuple(g for g in order if g in names)


def _local_times(values: NDArray[np.datetime64] | Sequence[object]) -> NDArray[np.datetime64]:
    out = np.array(values, dtype="datetime64[ms]")
    out.flags.writeable = False
    return out


def _indices(values: NDArray[np.intp] | Sequence[int], n: int, what: str) -> NDArray[np.intp]:
    out = np.array(values, dtype=np.intp)
    if out.ndim != 1:
        raise ParameterError(f"{what} must be one-dimensional, got shape {out.shape}")
    if out.size and (out.min() < 0 or out.max() >= n):
        raise ParameterError(f"{what} index out of range 0..{n - 1}")
    out.flags.writeable = False
    return out


def _unique_rows(
    pairs: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.intp]]:
    """Return the sorted distinct (site, period) rows of ``pairs`` and each row's index in them."""
    if not pairs.size:
        return pairs.reshape(0, 2), np.zeros(0, dtype=np.intp)
    low = int(pairs[:, 1].min())
    span = int(pairs[:, 1].max()) - low + 1
    distinct, inverse = np.unique(pairs[:, 0] * span + (pairs[:, 1] - low), return_inverse=True)
    keys = np.column_stack([distinct // span, distinct % span + low]).astype(np.int64)
    return keys, inverse.reshape(-1).astype(np.intp)


@dataclass(frozen=True, slots=True, eq=False)
class Recordings:
    """What was recorded (effort): one entry per stretch of recording.

    Parameters
    ----------
    site
        Index of each stretch's site in the activity's site names [shape=(m,)].
    start
        Local clock time of each stretch's start, ``datetime64[ms]``; NaT when unknown
        (the stretch then counts for sites only) [shape=(m,)].
    seconds
        Length of each stretch in s [shape=(m,)].

    Raises
    ------
    ParameterError
        If the shapes differ or a length is negative or not finite.
    """

    site: NDArray[np.intp]
    start: NDArray[np.datetime64]
    seconds: NDArray[np.float64]

    def __post_init__(self) -> None:
        start = _local_times(self.start)
        seconds = np.array(self.seconds, dtype=np.float64)
        site = np.array(self.site, dtype=np.intp)
        if not site.shape == start.shape == seconds.shape or site.ndim != 1:
            raise ParameterError(
                f"site, start and seconds must have one shape, got "
                f"{site.shape}, {start.shape}, {seconds.shape}"
            )
        if not np.all(np.isfinite(seconds) & (seconds >= 0)):
            raise ParameterError("recording lengths must be finite and not negative")
        seconds.flags.writeable = False
        site.flags.writeable = False
        object.__setattr__(self, "site", site)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "seconds", seconds)

    def spread(
        self, unit: Literal["h", "D"]
    ) -> tuple[NDArray[np.intp], NDArray[np.int64], NDArray[np.float64]]:
        """Split the timed stretches at clock-hour (``h``) or day (``D``) boundaries.

        Returns
        -------
        tuple
            For each piece: the stretch's index, its bin (``datetime64[unit]`` as int64) and its
            seconds. Stretches of unknown start give no piece.
        """
        timed = np.flatnonzero(~np.isnat(self.start))
        begin = self.start[timed].astype(np.int64)
        end = begin + np.round(self.seconds[timed] * 1000).astype(np.int64)
        which, bins, low, high = split_at_multiples(begin, end, _MS[unit])
        return timed[which], bins, (high - low) / 1000.0


@dataclass(frozen=True, slots=True, eq=False)
class DateHourGrid:
    """Detections per species on a date x hour-of-day grid, and the seconds recorded per cell.

    Attributes
    ----------
    dates
        Every date from the first to the last with a detection or a recording, ``datetime64[D]``
        [shape=(n_dates,)].
    counts
        Detections [shape=(n_species, n_dates, 24)].
    recorded_s
        Seconds recorded per cell [shape=(n_dates, 24)], or None when effort is unknown.
    """

    dates: NDArray[np.datetime64]
    counts: NDArray[np.int64]
    recorded_s: NDArray[np.float64] | None


@dataclass(frozen=True, slots=True, eq=False)
class ActivityCounts:
    """Detections per species and bin (site, day or clock hour), with the seconds recorded.

    Attributes
    ----------
    by
        The groupings, in table order.
    species_names, site_names
        Names the indices refer to.
    bin_site
        Site index of each bin [shape=(n_bins,)] (0 when not grouped by site).
    bin_period
        Start of each bin's day or hour, ``datetime64[D]`` or ``datetime64[h]``, or None when
        not grouped by time [shape=(n_bins,)].
    detections
        Detections per species and bin [shape=(n_species, n_bins)].
    recorded_s
        Seconds recorded per bin [shape=(n_bins,)], or None when effort is unknown.
    """

    by: tuple[Grouping, ...]
    species_names: tuple[str, ...]
    site_names: tuple[str, ...]
    bin_site: NDArray[np.intp]
    bin_period: NDArray[np.datetime64] | None
    detections: NDArray[np.int64]
    recorded_s: NDArray[np.float64] | None

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns of :meth:`rows`."""
        keys = ["species"]
        if "site" in self.by:
            keys.append("site")
        if self.bin_period is not None:
            keys += ["date", *(["hour"] if "hour" in self.by else []), "timezone"]
        return (*keys, "detections", "recording_minutes", "detections_per_hour")

    def rows(self, *, zone: str) -> list[dict[str, object]]:
        """One row per species and bin, species by species, bins in site and time order.

        ``zone`` names the clock of ``date`` and ``hour``. ``recording_minutes`` and
        ``detections_per_hour`` are empty when effort is unknown, the rate also when a bin
        has no recording.
        """
        bins: list[dict[str, object]] = []
        for k in range(self.bin_site.size):
            key: dict[str, object] = {}
            if "site" in self.by:
                key["site"] = self.site_names[self.bin_site[k]]
            if self.bin_period is not None:
                moment = self.bin_period[k].astype("datetime64[h]").item()
                key["date"] = moment.date().isoformat()
                if "hour" in self.by:
                    key["hour"] = moment.hour
                key["timezone"] = zone
            bins.append(key)
        out: list[dict[str, object]] = []
        for s, name in enumerate(self.species_names):
            for k, key in enumerate(bins):
                n = int(self.detections[s, k])
                seconds = None if self.recorded_s is None else float(self.recorded_s[k])
                out.append(
                    {
                        "species": name,
                        **key,
                        "detections": n,
                        "recording_minutes": "" if seconds is None else round(seconds / 60, 3),
                        "detections_per_hour": round(n / (seconds / 3600), 4) if seconds else "",
                    }
                )
        return out


@dataclass(frozen=True, slots=True, eq=False)
class Activity:
    """Detections in local clock time, by species and site, and optionally what was recorded.

    Parameters
    ----------
    species_names, site_names
        Names of the species and sites, in display order.
    species, site
        Species and site index of each detection [shape=(n,)].
    time
        Local clock time of each detection's begin, ``datetime64[ms]``; NaT when the
        recording's start is unknown [shape=(n,)].
    recordings
        What was recorded, or None when unknown.

    Raises
    ------
    ParameterError
        If the shapes differ or an index is out of range.
    """

    species_names: tuple[str, ...]
    site_names: tuple[str, ...]
    species: NDArray[np.intp]
    site: NDArray[np.intp]
    time: NDArray[np.datetime64]
    recordings: Recordings | None = None

    def __post_init__(self) -> None:
        species = _indices(self.species, len(self.species_names), "species")
        site = _indices(self.site, len(self.site_names), "site")
        time = _local_times(self.time)
        if not species.shape == site.shape == time.shape:
            raise ParameterError(
                f"species, site and time must have one shape, got "
                f"{species.shape}, {site.shape}, {time.shape}"
            )
        if self.recordings is not None:
            _indices(self.recordings.site, len(self.site_names), "recording site")
        object.__setattr__(self, "species", species)
        object.__setattr__(self, "site", site)
        object.__setattr__(self, "time", time)

    @property
    def timed(self) -> NDArray[np.bool_]:
        """Which detections have a known time [shape=(n,)]."""
        return ~np.isnat(self.time)

    def totals(self) -> NDArray[np.int64]:
        """Count detections per species, timed or not [shape=(n_species,)]."""
        return np.bincount(self.species, minlength=len(self.species_names)).astype(np.int64)

    def counts(self, by: Iterable[str]) -> ActivityCounts:
        """Count detections per species and bin; see :func:`groupings` for ``by``.

        Grouped by time, only timed detections and recordings count. The bins are those
        recorded (effort above zero) or holding a detection; each bin has a row for every
        species, zero where it was not detected.
        """
        groups = groupings(by)
        unit: Literal["h", "D"] | None = (
            "h" if "hour" in groups else "D" if "day" in groups else None
        )
        by_site = "site" in groups
        keep = self.timed if unit else np.ones(self.species.size, dtype=bool)
        det_site = self.site[keep] if by_site else np.zeros(int(keep.sum()), dtype=np.intp)
        det_period = (
            self.time[keep].astype(f"datetime64[{unit}]").astype(np.int64)
            if unit
            else np.zeros(det_site.size, dtype=np.int64)
        )
        effort_keys = np.empty((0, 2), dtype=np.int64)
        effort_s = np.empty(0)
        rec = self.recordings
        if rec is not None:
            if unit:
                which, periods, seconds = rec.spread(unit)
                sites = rec.site[which]
            else:
                periods = np.zeros(rec.site.size, dtype=np.int64)
                sites, seconds = rec.site, rec.seconds
            effort_keys = np.column_stack(
                [sites if by_site else np.zeros_like(sites), periods]
            ).astype(np.int64)
            effort_s = np.asarray(seconds, dtype=np.float64)
        det_keys = np.column_stack([det_site, det_period]).astype(np.int64)
        keys, inverse = _unique_rows(np.concatenate([det_keys, effort_keys]))
        n_det = det_keys.shape[0]
        effort = np.bincount(inverse[n_det:], weights=effort_s, minlength=keys.shape[0]).astype(
            np.float64
        )
        # bins: those recorded for some time, and those holding a detection
        used = effort > 0
        used[inverse[:n_det]] = True
        renumber = np.cumsum(used) - 1
        n_bins = int(used.sum())
        n_species = len(self.species_names)
        detections = np.bincount(
            self.species[keep] * n_bins + renumber[inverse[:n_det]],
            minlength=n_species * n_bins,
        ).reshape(n_species, n_bins)
        kept = keys[used]
        return ActivityCounts(
            by=groups,
            species_names=self.species_names,
            site_names=self.site_names,
            bin_site=kept[:, 0].astype(np.intp),
            bin_period=kept[:, 1].astype(f"datetime64[{unit}]") if unit else None,
            detections=detections.astype(np.int64),
            recorded_s=None if rec is None else effort[used],
        )

    def hours_of_day(self) -> NDArray[np.int64]:
        """Count timed detections per species and hour of day [shape=(n_species, 24)]."""
        timed = self.timed
        hours = self.time[timed].astype("datetime64[h]").astype(np.int64) % 24
        n = len(self.species_names)
        return np.bincount(self.species[timed] * 24 + hours, minlength=n * 24).reshape(n, 24)

    def recorded_by_hour_of_day(self) -> NDArray[np.float64] | None:
        """Sum the seconds recorded in each hour of day over dates and sites [shape=(24,)].

        None when effort is unknown.
        """
        if self.recordings is None:
            return None
        _, bins, seconds = self.recordings.spread("h")
        return np.bincount(bins % 24, weights=seconds, minlength=24).astype(np.float64)

    def date_hour(self) -> DateHourGrid:
        """Count timed detections per species on a date x hour grid, all sites together."""
        timed = self.timed
        hours = self.time[timed].astype("datetime64[h]").astype(np.int64)
        rec_bins = rec_s = None
        if self.recordings is not None:
            _, rec_bins, rec_s = self.recordings.spread("h")
        every = hours if rec_bins is None else np.concatenate([hours, rec_bins])
        n_species = len(self.species_names)
        if every.size == 0:
            empty = np.zeros((n_species, 0, 24), dtype=np.int64)
            no_effort = None if rec_s is None else np.zeros((0, 24))
            return DateHourGrid(np.array([], dtype="datetime64[D]"), empty, no_effort)
        first_day = int(every.min()) // 24
        n_dates = int(every.max()) // 24 - first_day + 1
        cell = hours - first_day * 24
        counts = np.bincount(
            self.species[timed] * n_dates * 24 + cell, minlength=n_species * n_dates * 24
        ).reshape(n_species, n_dates, 24)
        recorded_s = None
        if rec_bins is not None and rec_s is not None:
            recorded_s = (
                np.bincount(rec_bins - first_day * 24, weights=rec_s, minlength=n_dates * 24)
                .astype(np.float64)
                .reshape(n_dates, 24)
            )
        dates = (np.arange(n_dates) + first_day).astype("datetime64[D]")
        return DateHourGrid(dates, counts.astype(np.int64), recorded_s)


def zone_label(zone: tzinfo) -> str:
    """Name a time zone: its IANA key, ``UTC``, or a fixed offset such as ``UTC+01:00``."""
    if isinstance(zone, ZoneInfo):
        return zone.key
    offset = zone.utcoffset(None)
    if offset is None or offset == timedelta(0):
        return "UTC"
    minutes = round(offset.total_seconds() / 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def common_zone(offsets: Sequence[timedelta]) -> tuple[tzinfo, str | None]:
    """Choose the clock to show recordings whose starts carry ``offsets`` (one per recording).

    Returns the most common offset (ties: the earliest in ``offsets``) as a fixed zone, UTC when
    there is none, and a sentence stating the conversion when the offsets differ (None when
    they agree).
    """
    if not offsets:
        return UTC, None
    tally = Counter(offsets)
    best = max(tally, key=lambda o: (tally[o], -offsets.index(o)))
    zone: tzinfo = UTC if best == timedelta(0) else timezone(best)
    if len(tally) == 1:
        return zone, None
    parts = ", ".join(
        f"{zone_label(timezone(o) if o else UTC)} ({n})" for o, n in tally.most_common()
    )
    note = (
        f"recordings start in {len(tally)} UTC offsets: {parts} recordings; every time is "
        f"converted to {zone_label(zone)} (give --display-timezone to choose the clock)"
    )
    return zone, note


__all__ = [
    "GROUPINGS",
    "Activity",
    "ActivityCounts",
    "DateHourGrid",
    "Grouping",
    "Recordings",
    "common_zone",
    "groupings",
    "split_at_multiples",
    "zone_label",
]
