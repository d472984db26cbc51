"""Use-case: localize detected sounds from a synchronized recorder array.

Receiver coordinates + detections (file, start, end, class) + audio -> time differences of
arrival by generalized cross-correlation -> positions with residuals and uncertainty.

Every detection is a candidate event, with its own recording as the reference receiver (as in
OpenSoundscape's ``SynchronizedRecorderArray``): a call detected on six recorders gives six
estimates, one per reference. The other receivers of an event are those within
``max_receiver_dist`` of the reference that detected the same class in an overlapping window.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from opso.app.files import failure_reason
from opso.domain.errors import LocalizationError, OpsoError, ParameterError
from opso.domain.localization import InvertAlg, speed_of_sound_for
from opso.domain.receivers import ReceiverArray
from opso.domain.tdoa import CCMethod, estimate_delays
from opso.ports.audio_io import AudioReader
from opso.ports.maps import MapPlotter
from opso.ports.metadata import MetadataReader
from opso.ports.progress import Progress, no_progress
from opso.ports.tables import TableReader, TableWriter

POSITION_COLUMNS = (
    "call",
    "event",
    "flag",
    "class",
    "reference",
    "start_time",
    "end_time",
    "start_timestamp",
    "x",
    "y",
    "z",
    "residual_rms",
    "uncertainty",
    "sd_x",
    "sd_y",
    "sd_z",
    "cov_xy",
    "n_receivers",
    "receivers",
    "tdoas",
    "cc_scores",
    "dropped",
    "reason",
)
_META = {"file", "start_time", "end_time", "start_timestamp", "class"}
TableInput = pd.DataFrame | Path


@dataclass(frozen=True, slots=True)
class Clocks:
    """Where each recording sits on the run's common clock, and where that came from.

    Attributes
    ----------
    offsets
        Seconds by which each file's recording started after the earliest one (a file not
        listed: 0).
    starts
        Each file's recording start, time-zone aware, where known (in UTC if zones differ).
    source
        Where the clocks came from, one phrase for reports.
    """

    offsets: dict[str, float]
    starts: dict[str, datetime] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def from_starts(cls, starts: Mapping[str, datetime], source: str) -> Clocks:
        """Offsets from absolute starts; several time zones are compared as absolute times."""
        first = min(starts.values())
        zones = sorted({_zone(t) for t in starts.values()})
        given = dict(starts)
        if len(zones) > 1:
            source += f"; {len(zones)} time zones ({', '.join(zones)}) compared in UTC"
            given = {f: t.astimezone(UTC) for f, t in given.items()}
        return cls(
            offsets={f: (t - first).total_seconds() for f, t in starts.items()},
            starts=given,
            source=source,
        )

    def timestamp(self, file: str, offset_s: float) -> datetime | None:
        """Return the moment ``offset_s`` s into ``file`` (in UTC if zones differ), or None."""
        start = self.starts.get(file)
        return None if start is None else start + timedelta(seconds=offset_s)


def _zone(moment: datetime) -> str:
    """Return the UTC offset of ``moment`` as ``+HH:MM``."""
    minutes = round((moment.utcoffset() or timedelta()).total_seconds() / 60)
    hours, rest = divmod(abs(minutes), 60)
    return f"{'-' if minutes < 0 else '+'}{hours:02d}:{rest:02d}"


@dataclass(frozen=True, slots=True)
class ReceiverTable:
    """The usable receivers of a coordinates table, their clocks, and the rows left out.

    Attributes
    ----------
    array
        Receivers with finite coordinates, named by their ``file`` value.
    clocks
        Each file's start, from a ``start_offset`` or ``start_timestamp`` column; None when
        the table has neither.
    invalid
        ``file -> why`` for rows that cannot be used (missing or non-numeric coordinates).
    """

    array: ReceiverArray
    clocks: Clocks | None
    invalid: dict[str, str]


@dataclass(frozen=True, slots=True)
class Detection:
    """A detected sound of ``class_name`` in ``file`` between ``start_time`` and ``end_time``.

    Times are seconds from the start of that file; ``start_timestamp`` is the file's recording
    start if the table gave one.
    """

    file: str
    start_time: float
    end_time: float
    class_name: str
    start_timestamp: pd.Timestamp | None = None


@dataclass(frozen=True, slots=True)
class EventLocation:
    """One event: where it was, how sure, from which receivers and delays, or why not."""

    event: int
    class_name: str
    reference: str
    start_time: float
    end_time: float
    start_timestamp: datetime | None = None
    receivers: tuple[str, ...] = ()
    tdoas: tuple[float, ...] = ()
    cc_scores: tuple[float, ...] = ()
    dropped: tuple[str, ...] = ()
    position: NDArray[np.float64] | None = None
    covariance: NDArray[np.float64] | None = None
    residual_rms: float = math.nan
    reason: str = ""
    call: int = -1
    chosen: bool = False
    flag: str = ""

    @property
    def localized(self) -> bool:
        """True if the event has a position."""
        return self.position is not None and not self.reason

    @property
    def uncertainty(self) -> float:
        """Root-mean-square position error in metres, ``sqrt(trace(cov))``."""
        if self.covariance is None:
            return math.nan
        return float(np.sqrt(np.trace(self.covariance)))

    def row(self) -> dict[str, object]:
        """Return the event as one row of :data:`POSITION_COLUMNS`."""
        row: dict[str, object] = {
            "call": self.call,
            "event": self.event,
            "flag": self.flag,
            "class": self.class_name,
            "reference": self.reference,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "start_timestamp": _iso(self.start_timestamp),
            "n_receivers": len(self.receivers),
            "receivers": ";".join(self.receivers),
            "tdoas": ";".join(f"{t:.6f}" for t in self.tdoas),
            "cc_scores": ";".join(f"{s:.4f}" for s in self.cc_scores),
            "dropped": "; ".join(self.dropped),
            "reason": self.reason,
        }
        if self.localized and self.position is not None and self.covariance is not None:
            cov = self.covariance
            for k, axis in enumerate("xyz"[: len(self.position)]):
                row[axis] = _round(self.position[k])
                row[f"sd_{axis}"] = _round(math.sqrt(cov[k, k]))
            row["cov_xy"] = _round(cov[0, 1])
            row["residual_rms"] = _round(self.residual_rms)
            row["uncertainty"] = _round(self.uncertainty)
        return row


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat()


def _round(v: float) -> float:
    v = float(v)
    return round(v, 4) if math.isfinite(v) else v


@dataclass(frozen=True, slots=True)
class LocalizationReport:
    """What a localization run found: the array, one record per event, table problems, clocks.

    ``clocks`` says where the recordings' start times came from.
    """

    receivers: ReceiverArray
    events: list[EventLocation] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    clocks: str = ""

    @property
    def calls(self) -> list[EventLocation]:
        """One estimate per call: the chosen event of each group of detections of one sound."""
        return [e for e in self.events if e.chosen]

    def heard(self, call: EventLocation) -> int:
        """Return how many detections (candidate events) are grouped into ``call``."""
        return sum(e.call == call.call for e in self.events)

    @property
    def n_localized(self) -> int:
        """Number of calls with a position (flagged or not)."""
        return sum(e.localized for e in self.calls)

    @property
    def n_trusted(self) -> int:
        """Number of calls with a position that carries no quality flag."""
        return sum(e.localized and not e.flag for e in self.calls)


def _frame(table: pd.DataFrame) -> pd.DataFrame:
    df = table.copy()
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _timestamp(value: Any, where: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as e:
        raise LocalizationError(f"{where}: start_timestamp {value!r} is not a date-time") from e
    if pd.isna(ts) or ts.tzinfo is None:
        raise LocalizationError(
            f"{where}: start_timestamp {value!r} has no time zone; give one, e.g. "
            "2021-09-24T06:52:00+00:00"
        )
    return ts


def read_coordinates(table: pd.DataFrame, source: str = "table") -> ReceiverTable:
    """Read receiver coordinates: ``file, x, y[, z]`` (the first column if none is ``file``).

    Optional per-file clock columns: ``start_offset`` (seconds) or ``start_timestamp``
    (a time-zone-aware date-time of the recording's start).

    Raises
    ------
    LocalizationError
        If ``x`` or ``y`` is missing, a file is listed twice, a timestamp is naive, or no row
        has finite coordinates.
    """
    df = _frame(table)
    where = source
    lower = {c.lower(): c for c in df.columns}
    for col in ("x", "y"):
        if col not in lower:
            raise LocalizationError(f"{where}: coordinates need columns x and y; got {list(df)}")
    file_col = lower.get("file", df.columns[0])
    axes = [lower[a] for a in ("x", "y", "z") if a in lower]
    names = [str(v).strip() for v in df[file_col]]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise LocalizationError(f"{where}: files listed more than once: {dupes}")
    values = np.column_stack([pd.to_numeric(df[a], errors="coerce").to_numpy(float) for a in axes])
    finite = np.all(np.isfinite(values), axis=1)
    invalid = {
        n: "coordinate(s) missing or not numbers: "
        + ", ".join(
            f"{a}={df[a].iloc[i]}" for k, a in enumerate(axes) if not np.isfinite(values[i, k])
        )
        for i, n in enumerate(names)
        if not finite[i]
    }
    if not finite.any():
        raise LocalizationError(f"{where}: no row has finite coordinates")
    keep = [n for i, n in enumerate(names) if finite[i]]
    array = ReceiverArray(values[finite], tuple(keep))
    clocks = None
    if "start_offset" in lower:
        given = pd.to_numeric(df[lower["start_offset"]], errors="coerce").to_numpy(float)
        offsets: dict[str, float] = {}
        for n, v in zip(names, given, strict=True):
            if not math.isfinite(v):
                raise LocalizationError(f"{where}: start_offset of {n} is not a number")
            offsets[n] = float(v)
        clocks = Clocks(offsets, source=f"start_offset column of {where}")
    elif "start_timestamp" in lower:
        stamps = {
            n: _timestamp(v, f"{where}, {n}")
            for n, v in zip(names, df[lower["start_timestamp"]], strict=True)
        }
        clocks = Clocks.from_starts(stamps, f"start_timestamp column of {where}")
    return ReceiverTable(array=array, clocks=clocks, invalid=invalid)


def read_detections(table: pd.DataFrame, source: str = "table") -> list[Detection]:
    """Read detections: ``file, start_time, end_time`` plus the classes.

    Classes come either from a ``class`` column (one row per detection) or, as in
    OpenSoundscape, from one column per class whose value is > 0 where the class was detected.
    An optional ``start_timestamp`` column gives each file's time-zone-aware recording start.

    Raises
    ------
    LocalizationError
        If a required column is missing, a time is not a number, a window ends before it
        starts, or a timestamp is naive.
    """
    df = _frame(table)
    where = source
    lower = {c.lower(): c for c in df.columns}
    missing = [c for c in ("file", "start_time", "end_time") if c not in lower]
    if missing:
        raise LocalizationError(f"{where}: detections need columns {missing}; got {list(df)}")
    starts = pd.to_numeric(df[lower["start_time"]], errors="coerce").to_numpy(float)
    ends = pd.to_numeric(df[lower["end_time"]], errors="coerce").to_numpy(float)
    stamps = df[lower["start_timestamp"]] if "start_timestamp" in lower else None
    class_cols = [c for c in df.columns if c.lower() not in _META]
    out: list[Detection] = []
    for i in range(len(df)):
        file = str(df[lower["file"]].iloc[i]).strip()
        at = f"{where}, data row {i + 1} ({file})"
        start, end = float(starts[i]), float(ends[i])
        if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
            raise LocalizationError(f"{at}: needs 0 <= start_time < end_time, got {start}, {end}")
        stamp = None if stamps is None else _timestamp(stamps.iloc[i], at)
        if "class" in lower:
            classes = [str(df[lower["class"]].iloc[i]).strip()]
        else:
            classes = [c for c in class_cols if _detected(df[c].iloc[i])]
        out.extend(Detection(file, start, end, c, stamp) for c in classes)
    return out


def _detected(value: Any) -> bool:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(v) and v > 0


def _detection_clocks(detections: Sequence[Detection], where: str) -> Clocks | None:
    """Each file's start from the detections' ``start_timestamp`` column; None without one."""
    per_file: dict[str, datetime] = {}
    for d in detections:
        if d.start_timestamp is None:
            continue
        seen = per_file.setdefault(d.file, d.start_timestamp)
        if seen != d.start_timestamp:
            raise LocalizationError(
                f"{where}: {d.file} has two start_timestamp values ({seen}, {d.start_timestamp})"
            )
    if not per_file:
        return None
    return Clocks.from_starts(per_file, f"start_timestamp column of {where}")


@dataclass(frozen=True)
class LocalizeEvents:
    """Localize the detected events of a synchronized recorder array."""

    reader: AudioReader
    metadata: MetadataReader
    tables: TableWriter
    table_reader: TableReader
    maps: MapPlotter

    def run(
        self,
        *,
        coordinates: TableInput,
        detections: TableInput,
        output: Path | None = None,
        plot: Path | None = None,
        audio_dir: Path | None = None,
        temperature: float = 20.0,
        speed_of_sound: float | None = None,
        algorithm: InvertAlg = "gps",
        min_receivers: int = 4,
        max_receiver_dist: float | None = None,
        cc_threshold: float = 0.0,
        cc_method: CCMethod = "phat",
        bandpass: Mapping[str, tuple[float, float]] | None = None,
        timing_sigma: float = 1e-4,
        assume_aligned: bool = False,
        timezone: tzinfo | None = None,
        progress: Progress = no_progress,
    ) -> LocalizationReport:
        """Estimate the position of every detection; write a table and a map if asked.

        Each recording is decoded once (the stretches the detections need, at one sample
        rate), every event's delays come from one FFT per recording segment, and all events are
        solved in one vectorised call.

        Parameters
        ----------
        coordinates
            Receiver table (see :func:`read_coordinates`): a path or a DataFrame.
        detections
            Detection table (see :func:`read_detections`): a path or a DataFrame.
        output
            CSV of :data:`POSITION_COLUMNS`, one row per event, written atomically.
        plot
            Map image of receivers and estimates with 95 % error ellipses.
        audio_dir
            Folder holding the recordings, looked up by file name (the table's folders are
            ignored); None opens the ``file`` values as paths.
        temperature
            Air temperature in °C.
        speed_of_sound
            Speed of sound in m/s; overrides ``temperature`` when given.
        algorithm
            ``"gps"``, ``"lstsq"`` or ``"gillette"`` (see :meth:`ReceiverArray.localize`).
        min_receivers
            Fewest receivers (the reference included) an event needs, at least ``d + 1``.
        max_receiver_dist
            Only receivers this close (m) to the reference take part; None: all.
        cc_threshold
            Receivers whose cross-correlation score is not above this are dropped.
        cc_method
            ``"phat"`` (GCC-PHAT) or ``"cc"`` (plain, normalised cross-correlation).
        bandpass
            ``class -> (low, high)`` Hz band to correlate for that class; others use all.
        timing_sigma
            A-priori timing error (s) that floors the reported uncertainty.
        assume_aligned
            Take every recording to have started at the same moment when neither table gives
            start times, instead of reading them from the recordings' metadata.
        timezone
            Time zone of start times written without one (file names); UTC when None.
        progress
            Told after each event.

        Returns
        -------
        LocalizationReport
            One :class:`EventLocation` per detection, in table order.

        Clocks come from the detections' ``start_timestamp`` column, else the coordinates'
        ``start_offset`` or ``start_timestamp`` column, else (unless ``assume_aligned``) each
        recording's metadata or file name (:class:`MetadataReader`).

        Raises
        ------
        LocalizationError
            If a table is malformed, or the clocks come from metadata and a recorder's start
            time is unknown (naming it).
        ValueError
            If a setting is invalid.
        """
        speed = speed_of_sound_for(temperature, speed_of_sound)
        table = read_coordinates(*self._table(coordinates, "coordinates"))
        array = table.array
        det_table, det_source = self._table(detections, "detections")
        found = read_detections(det_table, det_source)
        if min_receivers < array.dim + 1:
            raise ParameterError(
                f"min_receivers must be at least {array.dim + 1} for {array.dim}-D "
                f"coordinates, got {min_receivers}"
            )
        if max_receiver_dist is not None and not max_receiver_dist > 0:
            raise ParameterError(f"max_receiver_dist must be > 0 m, got {max_receiver_dist!r}")
        clocks = (
            _detection_clocks(found, det_source)
            or table.clocks
            or self._recorded_clocks(found, array, audio_dir, assume_aligned, timezone)
        )
        offsets = clocks.offsets
        bands = dict(bandpass or {})
        problems = [f"{n}: {why}" for n, why in table.invalid.items()]
        events = self._measure(
            found,
            table,
            offsets,
            audio_dir=audio_dir,
            speed=speed,
            min_receivers=min_receivers,
            max_receiver_dist=max_receiver_dist,
            cc_threshold=cc_threshold,
            cc_method=cc_method,
            bands=bands,
            progress=progress,
        )
        events = _solve(
            events,
            array,
            speed=speed,
            algorithm=algorithm,
            timing_sigma=timing_sigma,
        )
        events = [
            _replace(e, start_timestamp=clocks.timestamp(e.reference, e.start_time))
            for e in group_calls(events, found, offsets, array)
        ]
        report = LocalizationReport(
            receivers=array, events=events, problems=problems, clocks=clocks.source
        )
        if output is not None:
            self.tables.write([e.row() for e in report.calls], output, columns=POSITION_COLUMNS)
        if plot is not None:
            self._plot(report, plot)
        return report

    def _recorded_clocks(
        self,
        found: Sequence[Detection],
        array: ReceiverArray,
        audio_dir: Path | None,
        assume_aligned: bool,
        timezone: tzinfo | None,
    ) -> Clocks:
        """Each recording's start from its metadata; an unknown one is an error naming it.

        A recording that cannot be opened is skipped here: its events report why.
        """
        files = sorted({d.file for d in found} & set(array.names))
        if assume_aligned:
            return Clocks(dict.fromkeys(files, 0.0), source="assumed aligned (all start together)")
        starts: dict[str, datetime] = {}
        kinds: Counter[str] = Counter()
        unknown: list[str] = []
        for name in files:
            try:
                info = self.metadata.read(_path(name, audio_dir), timezone=timezone)
            except OSError:
                continue
            if info.start is None:
                unknown.append(name)
            else:
                starts[name] = info.start
                kinds[info.sources.get("start", "metadata")] += 1
        if unknown and len(files) > 1:
            raise LocalizationError(
                f"start time unknown for {len(unknown)} of {len(files)} recorders: "
                f"{', '.join(unknown)} (no start in their metadata or file name); give a "
                "start_timestamp column in the detections or start_offset in the coordinates, "
                "or assume_aligned (--assume-aligned) if all recordings started together"
            )
        if not starts:
            return Clocks(dict.fromkeys(files, 0.0), source="no recording could be opened")
        how = ", ".join(f"{kind}: {n}" for kind, n in sorted(kinds.items()))
        return Clocks.from_starts(starts, f"recordings' start times ({how})")

    def _table(self, table: TableInput, what: str) -> tuple[pd.DataFrame, str]:
        """Return the table as a DataFrame, and its name for messages."""
        if isinstance(table, pd.DataFrame):
            return table, "table"
        return self.table_reader.read(table, what=f"{what} table"), str(table)

    def _measure(
        self,
        found: Sequence[Detection],
        table: ReceiverTable,
        offsets: Mapping[str, float],
        *,
        audio_dir: Path | None,
        speed: float,
        min_receivers: int,
        max_receiver_dist: float | None,
        cc_threshold: float,
        cc_method: CCMethod,
        bands: Mapping[str, tuple[float, float]],
        progress: Progress,
    ) -> list[EventLocation]:
        """Find each event's receivers and measure their delays relative to the reference.

        Plans every event first (receivers within reach, windows on the common clock), reads
        each recording once (:class:`_Recordings`), then measures the delays of a batch of
        events at a time with :func:`estimate_delays`.
        """
        plans = _plan_events(
            found,
            table,
            offsets,
            min_receivers=min_receivers,
            max_receiver_dist=max_receiver_dist,
        )
        ready = [p for p in plans if isinstance(p, _Plan)]
        wanted = {f for p in ready for f in (p.base.reference, *(n for n, _ in p.partners))}
        audio = _Recordings.open(self.reader, wanted, audio_dir)
        if audio.rate:
            for plan in ready:
                plan.place(audio.rate, speed, offsets)
        # In time order, so that each stretch of audio is read once and let go once measured.
        ready.sort(key=lambda p: (p.t0, p.base.event))
        audio.plan([p.stretches() for p in ready])
        done: dict[int, EventLocation] = {}

        def finish(event: EventLocation) -> None:
            done[event.event] = event
            det = found[event.event]
            progress(len(done), len(found), f"{det.file} {det.start_time}-{det.end_time}s")

        for item in plans:
            if isinstance(item, EventLocation):
                finish(item)
        start = held = 0
        for k, plan in enumerate(ready):
            held += plan.size()
            if held >= _BATCH_SAMPLES or k == len(ready) - 1:
                for event in _delays(
                    ready[start : k + 1],
                    audio,
                    offsets,
                    min_receivers=min_receivers,
                    cc_threshold=cc_threshold,
                    cc_method=cc_method,
                    bands=bands,
                ):
                    finish(event)
                audio.release(k + 1)
                start, held = k + 1, 0
        return [done[i] for i in range(len(found))]

    def _plot(self, report: LocalizationReport, path: Path) -> None:
        d = report.receivers.dim
        done = [e for e in report.calls if e.localized and not e.flag]
        positions = np.array([e.position for e in done], dtype=np.float64).reshape(-1, d)
        covs = np.array([e.covariance for e in done], dtype=np.float64).reshape(-1, d, d)
        notes = [f"{len(done)} call(s) localized, 95% error ellipses"]
        flagged = report.n_localized - report.n_trusted
        if flagged:
            notes.append(f"{flagged} flagged position(s) not drawn (see the table)")
        if d == 3:
            notes.append("plan view: height (z) not shown, see the table")
        self.maps.plot_map(
            path,
            receivers=report.receivers,
            positions=positions,
            covariances=covs,
            labels=[e.class_name for e in done],
            title="\n".join(notes),
        )


def group_calls(
    events: Sequence[EventLocation],
    found: Sequence[Detection],
    offsets: Mapping[str, float],
    array: ReceiverArray,
) -> list[EventLocation]:
    """Group the events of one sound into a call, choose its estimate, flag doubtful positions.

    Every detection is a candidate event with its own recording as the reference, so one call
    heard on six recorders gives six estimates. Events of one class whose detection windows
    overlap on the common clock (by half a window, as receivers are matched) are one call; its
    estimate is, among the localized candidates whose delays agree about as well as the best
    (residual within 3x the smallest), the one with the smallest uncertainty. A chosen
    position is flagged when it lies more than twice the array's span from the array's centre
    (TDOAs fix the direction of a distant source much better than its range) or when its
    uncertainty exceeds half the span.
    """
    parent = list(range(len(events)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    clock = _Clock.of(found, offsets)
    for i in range(len(found)):
        for j in clock.covering(i, after=i):
            parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(events)):
        groups.setdefault(root(i), []).append(i)
    centre = array.positions.mean(axis=0)
    span = float(array.distances().max()) if len(array) > 1 else 0.0
    out = list(events)
    for call, members in enumerate(sorted(groups.values(), key=min)):
        done = [k for k in members if events[k].localized]
        best_rms = min((_finite_or_inf(events[k].residual_rms) for k in done), default=math.inf)
        ranked = sorted(
            members,
            key=lambda k: (
                k not in done,
                _finite_or_inf(events[k].residual_rms) > 3 * best_rms,
                _finite_or_inf(events[k].uncertainty),
                k,
            ),
        )
        for k in members:
            out[k] = _replace(events[k], call=call, chosen=k == ranked[0])
        best = out[ranked[0]]
        if best.localized and best.position is not None:
            flag = _flag(best.position, best.uncertainty, centre, span)
            out[ranked[0]] = _replace(best, flag=flag)
    return out


def _finite_or_inf(v: float) -> float:
    return v if math.isfinite(v) else math.inf


def _flag(
    position: NDArray[np.float64], unc: float, centre: NDArray[np.float64], span: float
) -> str:
    """Say why a position is doubtful, or return an empty string."""
    flags = []
    away = float(np.linalg.norm(position - centre))
    if span > 0 and away > 2 * span:
        flags.append(
            f"outside the array: {away:.0f} m from its centre, {away / span:.1f}x its "
            f"{span:.0f} m span (direction reliable, range not)"
        )
    if not math.isfinite(unc) or (span > 0 and unc > span / 2):
        flags.append(f"uncertain: +/- {unc:.0f} m, more than half the array's span")
    return "; ".join(flags)


def _replace(event: EventLocation, **changes: Any) -> EventLocation:
    return replace(event, **changes)


def _path(name: str, audio_dir: Path | None) -> Path:
    return Path(name) if audio_dir is None else audio_dir / Path(name).name


#: Samples of audio measured per batch of events (about 100 MB of spectra at most).
_BATCH_SAMPLES = 2_000_000
#: Windows of one recording closer than this (s) are read as one stretch ...
_MERGE_GAP = 1.0
#: ... of at most this many seconds.
_SPAN_LIMIT = 60.0


@dataclass(frozen=True, slots=True)
class _Window:
    """A stretch of one recording: as seconds (what a per-window read asks) and as samples."""

    file: str
    offset: float
    duration: float
    start: int
    stop: int

    @classmethod
    def at(cls, file: str, offset: float, duration: float, rate: int) -> _Window:
        start = round(offset * rate)
        return cls(file, offset, duration, start, start + round(duration * rate))


@dataclass(slots=True)
class _Plan:
    """An event whose receivers are known, before its audio is read."""

    base: EventLocation
    t0: float
    t1: float
    partners: list[tuple[str, float]]
    dropped: list[str]
    ref: _Window | None = None
    windows: list[tuple[str, float, _Window | str]] = field(default_factory=list)

    def place(self, rate: int, speed: float, offsets: Mapping[str, float]) -> None:
        """Set the reference window and each partner's, widened by its largest delay."""
        det = self.base
        self.ref = _Window.at(det.reference, det.start_time, self.t1 - self.t0, rate)
        for name, distance in self.partners:
            max_delay = distance / speed + 2.0 / rate
            off = offsets.get(name, 0.0)
            read_start = max(self.t0 - off - max_delay, 0.0)
            local_end = self.t1 - off + max_delay
            if local_end <= read_start:
                window: _Window | str = "the detection window is before the recording started"
            else:
                window = _Window.at(name, read_start, local_end - read_start, rate)
            self.windows.append((name, max_delay, window))

    def stretches(self) -> list[_Window]:
        """Return the windows of audio this event needs (none before :meth:`place`)."""
        spans = [w for _, _, w in self.windows if isinstance(w, _Window)]
        return spans if self.ref is None else [self.ref, *spans]

    def size(self) -> int:
        """Return how many samples this event correlates."""
        return sum(w.stop - w.start for w in self.stretches())


@dataclass(slots=True)
class _Span:
    """A stretch of a recording read at most once: samples from ``start``, or why it failed."""

    start: int
    stop: int
    last_use: int = 0
    samples: NDArray[np.float32] | None = None
    time: float = math.nan
    read: bool = False


@dataclass(slots=True)
class _Recordings:
    """The recordings of a run, each read once at one common sample rate.

    The rate is the highest native rate among the recordings, so no recording loses
    bandwidth. Only the stretches the windows need are read: windows of a file closer than
    :data:`_MERGE_GAP` form one stretch of at most :data:`_SPAN_LIMIT`. A stretch is read when
    a window first needs it and dropped once the last event using it is measured (events go in
    time order), so memory stays bounded however long the recordings. A window no stretch can
    serve (past the end of its file, or in a stretch that failed) is read on its own, so its
    error is the one a per-window read gives.
    """

    reader: AudioReader
    paths: dict[str, Path]
    native: dict[str, int]
    failed: dict[str, Exception]
    rate: int = 0
    spans: list[_Span] = field(default_factory=list)
    owner: dict[tuple[str, int, int], int] = field(default_factory=dict)

    @classmethod
    def open(cls, reader: AudioReader, files: set[str], audio_dir: Path | None) -> _Recordings:
        """Read the headers of ``files``; unreadable ones are remembered with their error."""
        paths = {f: _path(f, audio_dir) for f in sorted(files)}
        native: dict[str, int] = {}
        failed: dict[str, Exception] = {}
        for name, path in paths.items():
            try:
                native[name] = reader.info(path).sample_rate
            except (OpsoError, OSError, ValueError) as e:
                failed[name] = e
        rate = max(native.values(), default=0)
        return cls(reader, paths, native, failed, rate)

    def plan(self, windows: Sequence[Sequence[_Window]]) -> None:
        """Group the windows of each event (in processing order) into stretches to read."""
        by_file: dict[str, list[tuple[int, int, int]]] = {}
        for use, event in enumerate(windows):
            for w in event:
                if w.file not in self.failed:
                    by_file.setdefault(w.file, []).append((w.start, w.stop, use))
        gap, limit = round(_MERGE_GAP * self.rate), round(_SPAN_LIMIT * self.rate)
        for name, ranges in by_file.items():
            current: _Span | None = None
            for start, stop, use in sorted(ranges):
                fits = current is not None and start <= current.stop + gap
                if current is None or not fits or max(current.stop, stop) - current.start > limit:
                    current = _Span(start, stop)
                    self.spans.append(current)
                current.stop = max(current.stop, stop)
                current.last_use = max(current.last_use, use)
                self.owner[(name, start, stop)] = len(self.spans) - 1

    def release(self, used: int) -> None:
        """Drop the samples of stretches that no event after the first ``used`` needs."""
        for span in self.spans:
            if span.samples is not None and span.last_use < used:
                span.samples = None

    def _read(self, name: str, span: _Span) -> None:
        rate, native = self.rate, self.native[name]
        offset = span.start / rate
        span.read = True
        try:
            audio = self.reader.read(
                self.paths[name],
                sample_rate=rate,
                offset=offset,
                duration=(span.stop - span.start) / rate,
            )
        except (OpsoError, OSError, ValueError):
            return  # each window of the stretch is then read on its own, for its own error
        span.samples, span.time = audio.samples, round(offset * native) / native

    def segment(self, window: _Window) -> tuple[NDArray[np.float32], float]:
        """Return a window's samples and the time of its first (s from the file's start).

        Raises
        ------
        OpsoError, OSError, ValueError
            As the reader does for this window.
        """
        name = window.file
        if name in self.failed:
            raise self.failed[name]
        span = self.spans[self.owner[(name, window.start, window.stop)]]
        if not span.read:
            self._read(name, span)
        k = window.start - span.start
        if span.samples is not None and k < len(span.samples):
            return span.samples[k : window.stop - span.start], span.time + k / self.rate
        audio = self.reader.read(
            self.paths[name],
            sample_rate=self.rate,
            offset=window.offset,
            duration=window.duration,
        )
        native = self.native[name]
        return audio.samples, round(window.offset * native) / native


@dataclass(frozen=True, slots=True)
class _Clock:
    """Every detection's window on the common clock, to find overlapping ones at once."""

    starts: NDArray[np.float64]
    ends: NDArray[np.float64]
    classes: NDArray[np.int64]
    files: NDArray[np.int64]

    @classmethod
    def of(cls, found: Sequence[Detection], offsets: Mapping[str, float]) -> _Clock:
        return cls(
            np.array([offsets.get(d.file, 0.0) + d.start_time for d in found]),
            np.array([offsets.get(d.file, 0.0) + d.end_time for d in found]),
            _codes([d.class_name for d in found]),
            _codes([d.file for d in found]),
        )

    def covering(self, i: int, *, after: int = -1, other_files: bool = False) -> list[int]:
        """Return the detections of ``i``'s class that cover at least half of its window.

        In table order; only those after index ``after``, and only in other files if
        ``other_files``.
        """
        t0, t1 = self.starts[i], self.ends[i]
        ok = self.classes == self.classes[i]
        if other_files:
            ok &= self.files != self.files[i]
        ok &= np.minimum(self.ends, t1) - np.maximum(self.starts, t0) >= 0.5 * (t1 - t0) - 1e-9
        return [int(j) for j in np.flatnonzero(ok) if j > after]


def _plan_events(
    found: Sequence[Detection],
    table: ReceiverTable,
    offsets: Mapping[str, float],
    *,
    min_receivers: int,
    max_receiver_dist: float | None,
) -> list[EventLocation | _Plan]:
    """Find each event's partners: receivers within reach that detected it (or why not).

    A partner is a file other than the reference that detected the same class in a window
    covering at least half of the reference's on the common clock (:meth:`_Clock.covering`).
    """
    array = table.array
    rows = {name: k for k, name in enumerate(array.names)}
    distances = array.distances()
    clock = _Clock.of(found, offsets)
    out: list[EventLocation | _Plan] = []
    for i, det in enumerate(found):
        base = EventLocation(i, det.class_name, det.file, det.start_time, det.end_time)
        if det.file not in rows:
            why = table.invalid.get(det.file, "not in the coordinates table")
            out.append(_replace(base, reason=f"reference receiver {det.file}: {why}"))
            continue
        dist = distances[rows[det.file]]
        dropped: list[str] = []
        partners: list[tuple[str, float]] = []
        for name in dict.fromkeys(found[j].file for j in clock.covering(i, other_files=True)):
            if name not in rows:
                dropped.append(f"{name}: {table.invalid.get(name, 'not in the coordinates table')}")
            elif max_receiver_dist is not None and dist[rows[name]] > max_receiver_dist:
                continue
            else:
                partners.append((name, float(dist[rows[name]])))
        if len(partners) + 1 < min_receivers:
            out.append(
                _replace(
                    base,
                    reason=f"{len(partners) + 1} receiver(s) detected it within reach "
                    f"(need min_receivers={min_receivers})",
                    dropped=tuple(dropped),
                )
            )
            continue
        out.append(_Plan(base, float(clock.starts[i]), float(clock.ends[i]), partners, dropped))
    return out


def _codes(values: Sequence[str]) -> NDArray[np.int64]:
    """Give equal strings equal numbers."""
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(v, len(ids)) for v in values], dtype=np.int64)


def _delays(
    batch: Sequence[_Plan],
    audio: _Recordings,
    offsets: Mapping[str, float],
    *,
    min_receivers: int,
    cc_threshold: float,
    cc_method: CCMethod,
    bands: Mapping[str, tuple[float, float]],
) -> list[EventLocation]:
    """Measure the delays of a batch of planned events in one :func:`estimate_delays` call."""
    segments: list[NDArray[np.float32]] = []
    pairs: list[tuple[int, int]] = []
    pair_bands: list[tuple[float, float] | None] = []
    limits: list[float | None] = []
    shifts: list[float] = []
    outcomes: list[str | list[tuple[str, int | str]]] = []
    for plan in batch:
        det = plan.base
        try:
            if plan.ref is None:
                raise audio.failed[det.reference]
            ref_samples, ref_time = audio.segment(plan.ref)
        except (OpsoError, OSError, ValueError) as e:
            outcomes.append(f"reference audio: {failure_reason(e)}")
            continue
        ref = len(segments)
        segments.append(ref_samples)
        ref_clock = offsets.get(det.reference, 0.0) + ref_time
        measured: list[tuple[str, int | str]] = []
        for name, max_delay, window in plan.windows:
            if isinstance(window, str):
                measured.append((name, window))
                continue
            try:
                samples, time = audio.segment(window)
            except (OpsoError, OSError, ValueError) as e:
                measured.append((name, failure_reason(e)))
                continue
            segments.append(samples)
            pairs.append((ref, len(segments) - 1))
            pair_bands.append(bands.get(det.class_name))
            limits.append(max_delay)
            shifts.append(offsets.get(name, 0.0) + time - ref_clock)
            measured.append((name, len(pairs) - 1))
        outcomes.append(measured)
    errors: tuple[str, ...] = ()
    delays = scores = np.zeros(0)
    if pairs:
        result = estimate_delays(
            segments,
            pairs,
            sample_rate=audio.rate,
            method=cc_method,
            bands=pair_bands,
            max_delays=limits,
            offsets=shifts,
        )
        errors, delays, scores = result.errors, result.delays, result.scores
    events: list[EventLocation] = []
    for plan, outcome in zip(batch, outcomes, strict=True):
        base, dropped = plan.base, list(plan.dropped)
        if isinstance(outcome, str):
            events.append(_replace(base, reason=outcome, dropped=tuple(dropped)))
            continue
        names, tdoas, kept_scores = [base.reference], [0.0], [1.0]
        for name, p in outcome:
            if isinstance(p, str):
                dropped.append(f"{name}: {p}")
            elif errors[p]:
                dropped.append(f"{name}: {errors[p]}")
            elif not scores[p] > cc_threshold:
                dropped.append(f"{name}: cc score {scores[p]:.3f} <= cc_threshold {cc_threshold}")
            else:
                names.append(name)
                tdoas.append(float(delays[p]))
                kept_scores.append(float(scores[p]))
        kept = {
            "receivers": tuple(names),
            "tdoas": tuple(tdoas),
            "cc_scores": tuple(kept_scores),
            "dropped": tuple(dropped),
        }
        if len(names) < min_receivers:
            events.append(
                _replace(
                    base,
                    reason=f"{len(names)} receiver(s) above cc_threshold={cc_threshold} "
                    f"(need min_receivers={min_receivers})",
                    **kept,
                )
            )
        else:
            events.append(_replace(base, **kept))
    return events


def _solve(
    events: list[EventLocation],
    array: ReceiverArray,
    *,
    speed: float,
    algorithm: InvertAlg,
    timing_sigma: float,
) -> list[EventLocation]:
    """Localize every measured event in one vectorised call."""
    todo = [k for k, e in enumerate(events) if not e.reason]
    if not todo:
        return events
    rows = {name: k for k, name in enumerate(array.names)}
    times = np.full((len(todo), len(array)), np.nan)
    for row, k in enumerate(todo):
        cols = [rows[name] for name in events[k].receivers]
        times[row, cols] = events[k].tdoas
    result = array.localize(
        times, speed_of_sound=speed, algorithm=algorithm, timing_sigma=timing_sigma
    )
    out = list(events)
    for row, k in enumerate(todo):
        if result.reasons[row]:
            out[k] = _replace(events[k], reason=result.reasons[row])
            continue
        out[k] = _replace(
            events[k],
            position=np.array(result.positions[row]),
            covariance=np.array(result.covariances[row]),
            residual_rms=float(result.residual_rms[row]),
        )
    return out
