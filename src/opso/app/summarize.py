"""Use-case: activity summaries, detections per species per clock hour, day or site, with plots.

The input is a table opso writes: scores of ``opso predict`` (one column per class), its sparse
form (``class, score``), RIBBIT scores (``species, score``), BirdNET detections
(``common_name, confidence``) or labels of ``opso label`` (``source``, one 0/1 column per
class). A row is a detection of its class when its score (confidence)
is at least the threshold, and counts once, in the bin holding its begin time. Each row's
moment comes from a ``begin_datetime`` column, else from its recording's start time in the
recording's metadata or name; its site from a ``site`` column, else the recording's folder.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from opso.app.files import failure_reason
from opso.app.start_times import BEGIN_DATETIME
from opso.domain.activity import (
    Activity,
    Recordings,
    common_zone,
    groupings,
    split_at_multiples,
    zone_label,
)
from opso.domain.errors import ParameterError, StartTimeUnknownError, TableReadError
from opso.domain.recording_info import localize
from opso.ports.audio_io import AudioReader
from opso.ports.metadata import MetadataReader
from opso.ports.progress import Progress, no_progress
from opso.ports.report import ReportSection
from opso.ports.summary import ActivityFigures, PageTable, SummaryPage
from opso.ports.tables import TableReader, TableWriter

TableKind = Literal["scores", "labels", "sparse scores", "RIBBIT scores", "BirdNET detections"]
#: Tables with a row for every window: their windows are what was recorded.
EVERY_WINDOW: frozenset[TableKind] = frozenset({"scores", "labels", "RIBBIT scores"})
#: Columns of a scores table that are not classes (columns ending in ``_datetime`` neither).
NOT_CLASSES = frozenset(
    {"file", "source", "clip", "start_time", "end_time", "begin_time", "error", "site"}
)
#: Files the summary writes in its folder, besides one pair of plots per species.
TABLE_NAME, PAGE_NAME = "activity.csv", "summary.html"
#: The page shows the activity table itself up to this many rows (it always links the CSV).
PAGE_TABLE_ROWS = 1000


@dataclass(frozen=True, slots=True, eq=False)
class _Rows:
    """A table's usable rows: each row's recording, begin and end, and its detections.

    ``first_datetime`` holds, per recording, its first ``begin_datetime`` text and that row's
    begin in s (None for a recording without one); None when the table has no such column.
    """

    kind: TableKind
    files: list[str]
    file: NDArray[np.intp]
    begin: NDArray[np.float64]
    end: NDArray[np.float64] | None
    site: list[str] | None
    species_names: tuple[str, ...]
    det_row: NDArray[np.intp]
    det_species: NDArray[np.intp]
    failed: int
    first_datetime: list[tuple[str, float] | None] | None


@dataclass
class SummaryReport:
    """What a summary counted and wrote.

    Attributes
    ----------
    kind
        The table's kind (one of :data:`TableKind`).
    detections, species, recordings
        Detections counted, species in the table, recordings named by its rows.
    untimed_recordings, untimed_detections
        Recordings with no known start time, and their detections (left out of time bins).
    failed_rows
        Rows that report a failure (``error`` column) and were skipped.
    zone
        The clock of every date and hour written.
    effort
        Whether recording minutes are known.
    notes, warnings
        What the page states; what the command should say on stderr.
    table, page, images
        Files written.
    """

    kind: TableKind
    detections: int
    species: int
    recordings: int
    untimed_recordings: list[str]
    untimed_detections: int
    failed_rows: int
    zone: str
    effort: bool
    table: Path
    table_rows: int
    page: Path
    images: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SummarizeActivity:
    """Count detections per species and period or site, and draw when each species calls."""

    table_reader: TableReader
    metadata: MetadataReader
    audio: AudioReader
    tables: TableWriter
    figures: ActivityFigures
    page: SummaryPage

    def run(
        self,
        *,
        source: Path,
        destination: Path,
        threshold: float,
        by: Iterable[str] = ("day",),
        timezone: tzinfo | None = None,
        display_timezone: tzinfo | None = None,
        progress: Progress = no_progress,
    ) -> SummaryReport:
        """Summarize the table at ``source`` into the folder ``destination``.

        Parameters
        ----------
        source
            Scores or detections table (CSV, TSV or Parquet).
        destination
            Folder for ``activity.csv``, the plots and ``summary.html``.
        threshold
            A row detects its class when its score (confidence) is at least this.
        by
            ``hour``, ``day`` or ``site``; ``site`` combines with either of the others.
        timezone
            Zone of times written without one (file names); also the clock shown, unless
            ``display_timezone`` is given.
        display_timezone
            Clock of the dates and hours written; default: ``timezone``, else the recordings'
            most common UTC offset.
        progress
            Told of each recording whose start time is read.

        Raises
        ------
        ParameterError
            If ``threshold`` is not finite (or outside 0-1 for confidences) or ``by`` is invalid.
        TableReadError
            If the table cannot be read, lacks the columns of any known table, or has no rows.
        StartTimeUnknownError
            If ``by`` names hour or day and no recording has a known start time.
        """
        groups = groupings(by)
        if not math.isfinite(threshold):
            raise ParameterError(f"threshold must be a finite number, got {threshold}")
        df = self.table_reader.read(source, what="scores table")
        rows = _detections(df, source, threshold)
        report_warnings: list[str] = []
        paths = [_recording_path(f, source) for f in rows.files]
        if rows.first_datetime is not None:
            starts = [
                None if first is None else _start_from_column(*first, name, source, timezone)
                for name, first in zip(rows.files, rows.first_datetime, strict=True)
            ]
        else:
            starts = self._read_starts(paths, timezone, report_warnings, progress)
        untimed = [f for f, s in zip(rows.files, starts, strict=True) if s is None]
        if len(untimed) == len(rows.files) and set(groups) & {"hour", "day"}:
            raise StartTimeUnknownError(
                f"{source}: no recording has a known start time (no {BEGIN_DATETIME} column, "
                f"no start in the metadata or a YYYYMMDD_HHMMSS name of {len(untimed)} "
                f"recording(s), e.g. {untimed[0]}); summarize --by site, or give the times"
            )
        zone: tzinfo
        note = None
        chosen = display_timezone or timezone
        if chosen is not None:
            zone = chosen
        else:
            offsets = [s.utcoffset() or timedelta(0) for s in starts if s is not None]
            zone, note = common_zone(offsets)
        label = zone_label(zone)
        start_ms = np.array([np.nan if s is None else s.timestamp() * 1000 for s in starts])
        site_names, file_site = _sites(rows, paths)
        det_site = (
            file_site[rows.file[rows.det_row]]
            if rows.site is None
            else np.array([site_names.index(rows.site[r]) for r in rows.det_row], dtype=np.intp)
        )
        moments = start_ms[rows.file[rows.det_row]] + rows.begin[rows.det_row] * 1000
        recordings, effort_note = self._recordings(rows, paths, start_ms, file_site, zone)
        if effort_note:
            report_warnings.append(effort_note)
        activity = Activity(
            species_names=rows.species_names,
            site_names=tuple(site_names),
            species=rows.det_species,
            site=det_site,
            time=_local(moments, zone),
            recordings=recordings,
        )
        counts = activity.counts(groups)
        table_rows = counts.rows(zone=label)
        table_path = destination / TABLE_NAME
        self.tables.write(table_rows, table_path, columns=counts.columns)
        untimed_detections = int((~activity.timed).sum())
        report = SummaryReport(
            kind=rows.kind,
            detections=int(rows.det_row.size),
            species=len(rows.species_names),
            recordings=len(rows.files),
            untimed_recordings=untimed,
            untimed_detections=untimed_detections,
            failed_rows=rows.failed,
            zone=label,
            effort=recordings is not None,
            table=table_path,
            table_rows=len(table_rows),
            page=destination / PAGE_NAME,
        )
        report.notes = _notes(source, rows, threshold, label, note, report)
        if untimed and len(untimed) < len(rows.files):
            report_warnings.append(
                f"{len(untimed)} of {len(rows.files)} recordings have no known start time "
                f"(e.g. {untimed[0]}): their {untimed_detections} detection(s) are left out "
                "of the hour and day counts and the plots"
            )
        elif untimed:
            report_warnings.append(
                f"no recording has a known start time (e.g. {untimed[0]}): no plots by time"
            )
        if note:
            report_warnings.append(note)
        report.warnings = report_warnings
        sections = self._plots(activity, destination, threshold, label, report)
        self.page.write(
            report.page,
            title=f"Activity: {source.name}",
            notes=report.notes,
            tables=_page_tables(activity, counts.columns, table_rows, zone=label),
            sections=sections,
        )
        return report

    def _read_starts(
        self,
        paths: Sequence[Path],
        timezone: tzinfo | None,
        warnings: list[str],
        progress: Progress,
    ) -> list[datetime | None]:
        """Each recording's start from its metadata (None when unknown or unreadable)."""
        starts: list[datetime | None] = []
        for k, path in enumerate(paths):
            try:
                info = self.metadata.read(path, timezone=timezone)
            except OSError as e:
                warnings.append(f"{path}: no start time ({failure_reason(e)})")
                starts.append(None)
            else:
                warnings.extend(f"{path}: {w}" for w in info.warnings)
                starts.append(info.start)
            progress(k + 1, len(paths), str(path))
        return starts

    def _recordings(
        self,
        rows: _Rows,
        paths: Sequence[Path],
        start_ms: NDArray[np.float64],
        file_site: NDArray[np.intp],
        zone: tzinfo,
    ) -> tuple[Recordings | None, str | None]:
        """Return what was recorded: the windows a scores table covers, else each file's length."""
        if rows.kind in EVERY_WINDOW and rows.end is not None:
            file, begin, seconds = _covered(rows.file, rows.begin, rows.end)
        else:
            lengths: list[float] = []
            for path in paths:
                try:
                    lengths.append(self.audio.info(path).duration)
                except Exception as e:
                    return None, (
                        f"recording minutes unknown: a {rows.kind} table lists only detections, "
                        f"and the length of {path} cannot be read ({failure_reason(e)})"
                    )
            file = np.arange(len(paths), dtype=np.intp)
            begin, seconds = np.zeros(len(paths)), np.array(lengths, dtype=np.float64)
        piece, local, seconds = _clock_pieces(start_ms[file] + begin * 1000, seconds, zone)
        return Recordings(site=file_site[file][piece], start=local, seconds=seconds), None

    def _plots(
        self,
        activity: Activity,
        destination: Path,
        threshold: float,
        zone: str,
        report: SummaryReport,
    ) -> list[ReportSection]:
        """Draw each detected species' hours of day and date x hour grid; one section each."""
        hours = activity.hours_of_day()
        grid = activity.date_hour()
        recorded = activity.recorded_by_hour_of_day()
        dates = [str(d) for d in grid.dates]
        totals = activity.totals()
        order = sorted(range(len(activity.species_names)), key=lambda s: -int(totals[s]))
        sections: list[ReportSection] = []
        used: set[str] = set()
        for s in order:
            if not hours[s].any():
                continue
            name = activity.species_names[s]
            slug = _slug(name, used)
            bars, heat = f"{slug}.hours.png", f"{slug}.heatmap.png"
            self.figures.hours_of_day(
                hours[s],
                destination / bars,
                title=f"{name}: detections by hour of day (score ≥ {threshold:g})",
                zone=zone,
                recorded_s=recorded,
            )
            cells = grid.counts[s].astype(np.float64)
            if grid.recorded_s is not None:
                cells[(grid.recorded_s <= 0) & (cells == 0)] = np.nan
            self.figures.date_hour(
                dates,
                cells,
                destination / heat,
                title=f"{name}: detections by date and hour",
                zone=zone,
            )
            report.images += [destination / bars, destination / heat]
            sections.append(
                ReportSection(
                    title=name,
                    text=f"{int(hours[s].sum())} detection(s) with a known time.",
                    images=(bars, heat),
                )
            )
        return sections


def _detections(df: pd.DataFrame, source: Path, threshold: float) -> _Rows:
    """Read a table's kind, usable rows and detections (rows whose score >= ``threshold``)."""
    columns = list(df.columns)
    file_col = next((c for c in ("file", "source") if c in columns), None)
    if file_col is None:
        raise TableReadError(
            f"{source}: no 'file' column; expected a table of opso predict, RIBBIT, BirdNET "
            f"or opso label (columns: {', '.join(map(str, columns)) or 'none'})"
        )
    begin_col = next((c for c in ("start_time", "begin_time") if c in columns), None)
    if begin_col is None:
        raise TableReadError(f"{source}: no 'start_time' or 'begin_time' column")
    failed = 0
    if "error" in columns:
        error = _filled(df["error"])
        failed = int(error.sum())
        df = df[~error]
    if df.empty:
        raise TableReadError(f"{source}: no rows to summarize ({failed} report a failure)")
    kind: TableKind
    if "confidence" in columns and ("common_name" in columns or "scientific_name" in columns):
        kind, score_col = "BirdNET detections", "confidence"
        names = df["common_name"] if "common_name" in columns else df["scientific_name"]
        if "scientific_name" in columns:
            names = names.fillna(df["scientific_name"])
        if not 0 <= threshold <= 1:
            raise ParameterError(f"threshold must be in [0, 1] for confidences, got {threshold}")
    elif "score" in columns and ("species" in columns or "class" in columns):
        kind = "RIBBIT scores" if "species" in columns else "sparse scores"
        score_col = "score"
        names = df["species" if "species" in columns else "class"]
    else:
        kind, score_col = ("labels" if file_col == "source" else "scores"), ""
        names = None
    if names is not None:
        labels = names.fillna("").astype(str).to_numpy()
        species_names = tuple(sorted(set(labels.tolist())))
        index = {n: k for k, n in enumerate(species_names)}
        scores = _numbers(df[score_col], source, score_col)
        det_row = np.flatnonzero(scores >= threshold)
        det_species = np.array([index[labels[r]] for r in det_row], dtype=np.intp)
    else:
        classes = [c for c in columns if c not in NOT_CLASSES and not c.endswith("_datetime")]
        if not classes:
            raise TableReadError(
                f"{source}: no score columns; a scores table has file, start_time, end_time "
                "and one column per class"
            )
        hits = [np.flatnonzero(_numbers(df[c], source, c) >= threshold) for c in classes]
        det_row = np.concatenate(hits)
        det_species = np.repeat(np.arange(len(classes)), [h.size for h in hits])
        species_names = tuple(classes)
    codes, uniques = pd.factorize(df[file_col].astype(str))
    begin = _numbers(df[begin_col], source, begin_col)
    if np.isnan(begin).any():
        row = int(np.flatnonzero(np.isnan(begin))[0])
        raise TableReadError(f"{source}: row {row + 1} has no {begin_col}")
    first_datetime = None
    if BEGIN_DATETIME in columns:
        stamps = df[BEGIN_DATETIME]
        given = stamps.notna().to_numpy()
        first = pd.Series(np.flatnonzero(given)).groupby(codes[given]).first()
        found = {k: (str(stamps.iloc[int(r)]).strip(), float(begin[r])) for k, r in first.items()}
        first_datetime = [found.get(k) for k in range(len(uniques))]
    return _Rows(
        kind=kind,
        files=[str(f) for f in uniques],
        file=np.asarray(codes, dtype=np.intp),
        begin=begin,
        end=_numbers(df["end_time"], source, "end_time") if "end_time" in columns else None,
        site=df["site"].fillna("").astype(str).tolist() if "site" in columns else None,
        species_names=species_names,
        det_row=np.asarray(det_row, dtype=np.intp),
        det_species=np.asarray(det_species, dtype=np.intp),
        failed=failed,
        first_datetime=first_datetime,
    )


def _numbers(column: pd.Series, source: Path, name: str) -> NDArray[np.float64]:
    """Return a column as floats (empty cells NaN); text that is not a number is an error."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    empty = np.flatnonzero(np.isnan(values))
    bad = empty[_filled(column.iloc[empty])]
    if bad.size:
        row = int(bad[0])
        raise TableReadError(
            f"{source}: column {name!r} holds {column.iloc[row]!r} (row {row + 1}), not a number"
        )
    return values


def _filled(column: pd.Series) -> NDArray[np.bool_]:
    """Return which cells hold something other than nothing or blanks."""
    filled = column.notna().to_numpy(copy=True)
    rows = np.flatnonzero(filled)
    if rows.size:
        filled[rows] = column.iloc[rows].astype(str).str.strip().to_numpy() != ""
    return filled


def _start_from_column(
    text: str, begin: float, name: str, source: Path, timezone: tzinfo | None
) -> datetime:
    """Return a recording's start: a row's ``begin_datetime`` ``text`` less its ``begin`` (s)."""
    try:
        moment = localize(datetime.fromisoformat(text), timezone)
    except ValueError as e:
        raise TableReadError(
            f"{source}: {BEGIN_DATETIME} {text!r} of {name} is not an ISO 8601 time"
        ) from e
    return moment - timedelta(seconds=begin)


def _recording_path(name: str, source: Path) -> Path:
    """Return the recording a row names: as written, or beside the table if it is there."""
    path = Path(name)
    if not path.is_absolute() and not path.exists() and (source.parent / path).exists():
        return source.parent / path
    return path


def _sites(rows: _Rows, paths: Sequence[Path]) -> tuple[list[str], NDArray[np.intp]]:
    """Site names and each recording's site: the ``site`` column, else the folder's name."""
    if rows.site is not None:
        per_file = [""] * len(rows.files)
        for r in np.unique(rows.file, return_index=True)[1]:
            per_file[rows.file[r]] = rows.site[r]
        names = sorted(set(rows.site))
    else:
        per_file = [p.parent.name or str(p.parent) for p in paths]
        names = sorted(set(per_file))
    return names, np.array([names.index(s) for s in per_file], dtype=np.intp)


def _local(moments_ms: NDArray[np.float64], zone: tzinfo) -> NDArray[np.datetime64]:
    """UTC instants (ms since 1970, NaN unknown) as clock times in ``zone`` (NaT unknown)."""
    stamps = pd.to_datetime(pd.Series(moments_ms, dtype="float64"), unit="ms", utc=True)
    clock = stamps.dt.tz_convert(zone).dt.tz_localize(None)
    return clock.to_numpy(dtype="datetime64[ms]")


#: Every UTC offset change of a modern time zone falls on a quarter hour of UTC.
_QUARTER_MS = 15 * 60 * 1000


def _clock_pieces(
    moments_ms: NDArray[np.float64], seconds: NDArray[np.float64], zone: tzinfo
) -> tuple[NDArray[np.intp], NDArray[np.datetime64], NDArray[np.float64]]:
    """Cut stretches at ``zone``'s offset changes; return each piece's stretch, clock start, s.

    A stretch that spans a daylight-saving change is cut at every quarter hour of UTC, so each
    piece lies in one offset and its clock time is right; other stretches stay whole.
    """
    local = _local(moments_ms, zone)
    shift = (_local(moments_ms + seconds * 1000, zone) - local).astype(np.int64)
    spans = np.flatnonzero(~np.isnat(local) & (shift != np.round(seconds * 1000)))
    if not spans.size:
        return np.arange(seconds.size, dtype=np.intp), local, seconds
    begin = np.round(moments_ms[spans]).astype(np.int64)
    end = begin + np.round(seconds[spans] * 1000).astype(np.int64)
    which, _, low, high = split_at_multiples(begin, end, _QUARTER_MS)
    keep = np.ones(seconds.size, dtype=bool)
    keep[spans] = False
    whole = np.flatnonzero(keep)
    piece = np.concatenate([whole, spans[which]]).astype(np.intp)
    return (
        piece,
        np.concatenate([local[whole], _local(low.astype(np.float64), zone)]),
        np.concatenate([seconds[whole], (high - low) / 1000]),
    )


def _covered(
    file: NDArray[np.intp], begin: NDArray[np.float64], end: NDArray[np.float64]
) -> tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.float64]]:
    """Return the stretches each recording's windows cover (overlapping windows merged)."""
    ok = np.isfinite(end) & (end > begin)
    f, b, e = file[ok], begin[ok], end[ok]
    order = np.lexsort((b, f))
    f, b, e = f[order], b[order], e[order]
    reach = pd.Series(e).groupby(f).cummax().to_numpy()
    new = np.ones(f.size, dtype=bool)
    new[1:] = (f[1:] != f[:-1]) | (b[1:] > reach[:-1])
    ends = np.maximum.reduceat(e, np.flatnonzero(new)) if f.size else e
    return f[new], b[new], np.asarray(ends - b[new], dtype=np.float64)


def _slug(name: str, used: set[str]) -> str:
    """Return a file-name stem for a species, unique among ``used`` (which it joins)."""
    base = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower() or "species"
    slug, n = base, 1
    while slug in used:
        n += 1
        slug = f"{base}_{n}"
    used.add(slug)
    return slug


def _notes(
    source: Path,
    rows: _Rows,
    threshold: float,
    zone: str,
    conversion: str | None,
    report: SummaryReport,
) -> list[str]:
    """Return what the page states about the counting."""
    notes = [
        f"{source.name}: {rows.kind}, {report.recordings} recording(s), "
        f"{len(rows.species_names)} species.",
        f"A detection is a row whose score is at least {threshold:g}; each counts once, in the "
        "hour or day holding its begin time (overlapping windows can count one call twice).",
        f"{report.detections} detection(s). Dates and hours are clock times in {zone}.",
    ]
    if conversion:
        notes.append(conversion[0].upper() + conversion[1:] + ".")
    if report.untimed_recordings:
        notes.append(
            f"{len(report.untimed_recordings)} recording(s) have no known start time: their "
            f"{report.untimed_detections} detection(s) count for sites only."
        )
    notes.append(
        "Recording minutes: the windows the table scored."
        if report.effort and rows.kind in EVERY_WINDOW
        else "Recording minutes: each recording's length."
        if report.effort
        else "Recording minutes are unknown."
    )
    if rows.failed:
        notes.append(f"{rows.failed} row(s) report a failed recording and were skipped.")
    return notes


def _page_tables(
    activity: Activity, columns: Sequence[str], table_rows: list[dict[str, object]], *, zone: str
) -> list[PageTable]:
    """Per-species totals (first and last detection, busiest hour), then the table if short."""
    totals = activity.totals()
    hours = activity.hours_of_day()
    summary: list[list[object]] = []
    for s, name in enumerate(activity.species_names):
        when = activity.time[(activity.species == s) & activity.timed]
        first = str(when.min().astype("datetime64[m]")).replace("T", " ") if when.size else ""
        last = str(when.max().astype("datetime64[m]")).replace("T", " ") if when.size else ""
        peak = f"{int(hours[s].argmax()):02d}:00" if hours[s].any() else ""
        summary.append([name, int(totals[s]), first, last, peak])
    summary.sort(key=lambda r: -int(str(r[1])))
    tables = [
        PageTable(
            "Detections per species",
            ("species", "detections", f"first ({zone})", f"last ({zone})", "busiest hour"),
            summary,
        )
    ]
    shown = len(table_rows) <= PAGE_TABLE_ROWS
    tables.append(
        PageTable(
            f"Activity ({TABLE_NAME})"
            if shown
            else f"Activity: {len(table_rows)} rows, in {TABLE_NAME}",
            tuple(columns),
            [[r[c] for c in columns] for r in table_rows] if shown else (),
            link=TABLE_NAME,
        )
    )
    return tables
