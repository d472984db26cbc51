"""Benchmark ``opso summarize`` on a week of scores from many sites.

Writes a scores table like ``opso predict``'s: ``--sites`` sites, ``--days`` days of one-hour
recordings around the clock, ``--window`` s windows, five classes with random scores, and a
``begin_datetime`` column (so no recording needs to exist). Then measures, best of ``--repeats``:

* reading the table alone (``PandasTableReader``: the reference);
* the summary without its pictures (read, count by hour and site, effort, ``activity.csv``);
* the whole summary through the container (also ten PNGs and ``summary.html``).

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_summarize.py [--sites 10 --days 7]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from timing import best_of

from opso.adapters.csv_tables import PandasTableReader
from opso.app.summarize import SummarizeActivity, SummaryReport
from opso.container import Container

CLASSES = ["NOCA", "WOTH", "EATO", "BCCH", "AMRO"]


def scores_table(path: Path, *, sites: int, days: int, window: float) -> int:
    """Write the table; return its number of rows."""
    per_hour = int(3600 // window)
    hours = days * 24
    starts = pd.date_range("2021-05-01", periods=hours, freq="h", tz="UTC")
    rng = np.random.default_rng(0)
    parts = []
    for s in range(sites):
        files = np.repeat([f"/field/site{s:02d}/{t:%Y%m%d_%H%M%S}.wav" for t in starts], per_hour)
        begin = np.tile(np.arange(per_hour) * window, hours)
        stamps = starts.repeat(per_hour) + pd.to_timedelta(begin, unit="s")
        frame = pd.DataFrame(
            {
                "file": files,
                "start_time": begin,
                "end_time": begin + window,
                "begin_datetime": stamps.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            }
        )
        for c in CLASSES:
            frame[c] = rng.random(len(frame)).round(3)
        frame["error"] = ""
        parts.append(frame)
    table = pd.concat(parts, ignore_index=True)
    table.to_csv(path, index=False)
    return len(table)


class NoPictures:
    """Figures and page that draw nothing: the summary's counting alone."""

    def hours_of_day(self, *args: object, **kwargs: object) -> None:
        pass

    def date_hour(self, *args: object, **kwargs: object) -> None:
        pass

    def write(self, *args: object, **kwargs: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "scores.csv"
        n = scores_table(table, sites=args.sites, days=args.days, window=args.window)
        c = Container()
        use_case = c.summarize_activity()
        counting = SummarizeActivity(
            c.table_reader(), c.metadata(), c.audio_io(), c.tables(), NoPictures(), NoPictures()
        )
        out = Path(tmp) / "out"

        def summarize(with_: SummarizeActivity) -> SummaryReport:
            return with_.run(source=table, destination=out, threshold=0.9, by=("hour", "site"))

        read = best_of(lambda: PandasTableReader().read(table), args.repeats)
        count = best_of(lambda: summarize(counting), args.repeats)
        run = best_of(lambda: summarize(use_case), args.repeats)
        report = summarize(use_case)
    print(
        f"{n:,} rows x {len(CLASSES)} classes ({args.sites} sites, {args.days} days, "
        f"{args.window:g} s windows, {report.recordings:,} recordings)"
    )
    print(f"  read the table          {read:7.2f} s")
    print(f"  summary without plots   {count:7.2f} s  ({count / read:.1f} x reading)")
    print(f"  whole summary           {run:7.2f} s  ({run / read:.1f} x reading)")
    print(
        f"  {report.detections:,} detections, {report.table_rows:,} table rows, "
        f"{len(report.images)} plots"
    )


if __name__ == "__main__":
    main()
