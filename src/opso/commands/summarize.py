"""``opso summarize``: detections per species per clock hour, day or site, with plots."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

import click

from opso.commands.base import pass_container, printable, progress_bar, time_zone

if TYPE_CHECKING:
    from opso.container import Container


@click.command()
@click.argument("table", type=click.Path(path_type=Path))
@click.option(
    "--threshold",
    type=float,
    required=True,
    help="A row detects its class when its score (BirdNET: confidence, 0-1) is at least this.",
)
@click.option(
    "--by",
    multiple=True,
    type=click.Choice(["hour", "day", "site"]),
    default=("day",),
    show_default=True,
    help="Count per clock hour, day or site; repeat to combine site with hour or day.",
)
@click.option(
    "-o",
    "--output",
    "destination",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for activity.csv, the plots and summary.html [default: TABLE_summary, "
    "beside the table].",
)
@click.option(
    "--timezone",
    metavar="NAME",
    default=None,
    callback=time_zone,
    help="IANA time zone (Europe/London) of times written without one, such as file names "
    "20210502_040000.WAV (default UTC); also the clock shown, unless --display-timezone.",
)
@click.option(
    "--display-timezone",
    metavar="NAME",
    default=None,
    callback=time_zone,
    help="IANA time zone of the dates and hours written [default: --timezone, else the "
    "recordings' most common UTC offset].",
)
@pass_container
def summarize(
    c: Container,
    table: Path,
    threshold: float,
    by: tuple[str, ...],
    destination: Path | None,
    timezone: tzinfo | None,
    display_timezone: tzinfo | None,
) -> None:
    """Count detections per species per hour, day or site, and plot when each species calls.

    TABLE is a scores table of opso predict (one column per class, or class and score
    columns), RIBBIT scores (species, score), BirdNET detections (common_name, confidence)
    or a label table of opso label (0/1 per class), as CSV, TSV or Parquet. A row is one
    detection of its class when its score is at least --threshold; it counts in the hour or
    day holding its begin time.

    Each row's time comes from a begin_datetime column (ISO 8601 with its UTC offset), else
    from its recording's start in the recording's metadata or YYYYMMDD_HHMMSS name. Its site
    is a site column, else the name of the recording's folder (site/recording.wav).

    Writes activity.csv (detections, recording minutes and detections per hour of recording
    per species and bin), per species a bar plot by hour of day and a date x hour heat map
    (PNG), and summary.html showing them. Recordings with no known start time count for
    sites only (a warning names how many); with none, --by hour or day exits with status 1.
    """
    out = destination if destination is not None else table.with_name(f"{table.stem}_summary")
    with progress_bar("reading start times") as bar:
        report = c.summarize_activity().run(
            source=table,
            destination=out,
            threshold=threshold,
            by=by,
            timezone=timezone,
            display_timezone=display_timezone,
            progress=bar,
        )
    for warning in report.warnings:
        click.echo(printable(f"warning: {warning}"), err=True)
    click.echo(
        printable(
            f"{table}: {report.detections} detection(s) of {report.species} species in "
            f"{report.recordings} recording(s) ({report.kind}, threshold {threshold:g}); "
            f"times in {report.zone}"
        )
    )
    click.echo(
        printable(
            f"wrote {report.table} ({report.table_rows} rows), {len(report.images)} plot(s) "
            f"and {report.page}"
        )
    )
