"""Annotation commands: ``opso raven check|lowercase|corrections|query`` and ``opso label``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from opso.commands.base import (
    final_clip_option,
    pass_container,
    progress_bar,
    report_failures,
    timezone_option,
)

if TYPE_CHECKING:
    from datetime import tzinfo

    from opso.container import Container
    from opso.domain.audio import FinalClip

_LABEL_COLUMN = click.option(
    "--label-column",
    default=None,
    help="Label column of the tables (any case). Default: the first of class, species, annotation.",
)


@click.group()
def raven() -> None:
    """Work with folders of Raven selection tables (*.selections.txt)."""


@raven.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@_LABEL_COLUMN
@click.option(
    "--pattern",
    default="*.selections.txt",
    show_default=True,
    help="File names to check (any case), e.g. '*.txt'.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print problems only.")
@pass_container
def check(
    c: Container, directory: Path, label_column: str | None, pattern: str, quiet: bool
) -> None:
    """Check that every box of every table under DIRECTORY has a label (exit 1 if not)."""
    checks = c.check_annotations().run(
        directory=directory, label_column=label_column, pattern=pattern
    )
    bad = [k for k in checks if not k.ok]
    for k in checks:
        if not k.ok:
            click.echo(f"warning: {k.describe()}", err=True)
        elif not quiet:
            click.echo(k.describe())
    click.echo(f"{len(checks)} tables, {len(bad)} with problems")
    if bad:
        raise SystemExit(1)


@raven.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "-o",
    "--out-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Write the copies here (keeping sub-folders). Default: beside the originals.",
)
@click.option(
    "--labels-only",
    is_flag=True,
    help="Parse each table and lower-case its labels alone, keeping headers (for Raven Pro).",
)
@click.option(
    "--label-column",
    default=None,
    help="With --labels-only: the label column (any case). Default: the first of class, "
    "species, annotation.",
)
@pass_container
def lowercase(
    c: Container,
    directory: Path,
    out_dir: Path | None,
    labels_only: bool,
    label_column: str | None,
) -> None:
    """Write a lower-cased copy of each table, named <table>.lower.

    The whole text is lower-cased (headers too) without parsing, as OpenSoundscape 0.4 does.
    """
    if label_column is not None and not labels_only:
        raise click.UsageError("--label-column needs --labels-only")
    written = c.lowercase_annotations().run(
        directory=directory, out_dir=out_dir, labels_only=labels_only, label_column=label_column
    )
    for path in written:
        click.echo(str(path))
    click.echo(f"wrote {len(written)} lower-cased tables")


@raven.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@_LABEL_COLUMN
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the CSV here instead of printing it.",
)
@pass_container
def corrections(
    c: Container, directory: Path, label_column: str | None, output: Path | None
) -> None:
    """Print a raw,corrected CSV listing every label once, ready to edit.

    Reads the .lower copies if DIRECTORY has any, else the original tables.
    """
    from opso.app.raven import corrections_csv

    text = corrections_csv(c.list_classes().run(directory=directory, label_column=label_column))
    if output is None:
        click.echo(text, nl=False)
    else:
        c.text_files().write(output, text)
        click.echo(f"wrote {output}")


@raven.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.argument("cls")
@_LABEL_COLUMN
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the CSV to this file instead of printing it.",
)
@pass_container
def query(
    c: Container, directory: Path, cls: str, label_column: str | None, output: Path | None
) -> None:
    """List the boxes labelled CLS (exact match) in the tables under DIRECTORY, as CSV.

    Columns: file, begin_time, end_time, low_freq, high_freq, label (one row per box); the count
    goes to stderr.
    """
    import csv
    import io

    found = c.query_annotations().run(directory=directory, cls=cls, label_column=label_column)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "begin_time", "end_time", "low_freq", "high_freq", "label"])
    total = 0
    for path, boxes in found.items():
        for a in boxes:
            low = "" if a.low_f is None else f"{a.low_f:g}"
            high = "" if a.high_f is None else f"{a.high_f:g}"
            writer.writerow([path, f"{a.begin_time:.3f}", f"{a.end_time:.3f}", low, high, a.label])
        total += len(boxes)
    if output is None:
        click.echo(buffer.getvalue(), nl=False)
    else:
        c.text_files().write(output, buffer.getvalue())
    click.echo(f"{total} boxes labelled {cls!r} in {len(found)} tables", err=True)


def _classes(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise click.BadParameter("give at least one class name", param_hint="--classes")
    folded = [n.casefold() for n in names]
    repeated = sorted({n for n, f in zip(names, folded, strict=True) if folded.count(f) > 1})
    if repeated:
        raise click.BadParameter(
            f"classes match labels ignoring case; these repeat: {', '.join(repeated)}",
            param_hint="--classes",
        )
    return names


@click.command()
@click.option(
    "--annotations",
    "annotation_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of Raven tables (searched recursively).",
)
@click.option(
    "--audio",
    "audio_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder (or file) of recordings; a recording and a table pair up by the name "
    "before the first dot.",
)
@click.option("--clip-duration", type=float, required=True, help="Clip length in seconds.")
@click.option(
    "--clip-overlap", type=float, default=0.0, show_default=True, help="Clip overlap in seconds."
)
@final_clip_option()
@click.option(
    "--min-overlap",
    type=float,
    default=0.0,
    show_default=True,
    help="Least time (s) a box must share with a clip to label it.",
)
@click.option(
    "--classes",
    default=None,
    help="Comma-separated classes (columns, in order); they match labels ignoring case.",
)
@_LABEL_COLUMN
@click.option(
    "--unlabelled-as",
    default=None,
    help="Label for boxes without one (default: leave them out, with a warning).",
)
@click.option(
    "--save-clips",
    "clips_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Also write the clip files here.",
)
@click.option("--labeled-only", is_flag=True, help="Keep only clips holding a class.")
@click.option("--sample-rate", type=int, default=None, help="Resample saved clips (Hz).")
@click.option("--dry-run", is_flag=True, help="Write nothing; print the counts.")
@timezone_option()
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The label table (CSV) to write.",
)
@pass_container
def label(
    c: Container,
    annotation_dir: Path,
    audio_dir: Path,
    clip_duration: float,
    clip_overlap: float,
    final_clip: FinalClip,
    min_overlap: float,
    classes: str | None,
    label_column: str | None,
    unlabelled_as: str | None,
    clips_dir: Path | None,
    labeled_only: bool,
    sample_rate: int | None,
    dry_run: bool,
    timezone: tzinfo | None,
    output: Path,
) -> None:
    """Label clips of recordings from their Raven tables: one 0/1 column per class.

    Writes OUTPUT with columns source, begin_time, end_time (and clip, with --save-clips),
    begin_datetime (when the recordings' start times are known) then one column per class.
    """
    with progress_bar("label") as progress:
        report = c.label_recordings().run(
            annotation_dir=annotation_dir,
            audio=[audio_dir],
            clip_duration=clip_duration,
            clip_overlap=clip_overlap,
            final_clip=final_clip,
            min_overlap=min_overlap,
            classes=_classes(classes),
            label_column=label_column,
            unlabelled_as=unlabelled_as,
            sample_rate=sample_rate,
            clips_dir=clips_dir,
            labeled_clips_only=labeled_only,
            labels_path=output,
            dry_run=dry_run,
            timezone=timezone,
            progress=progress,
        )
    for path in report.unmatched_audio:
        click.echo(f"note: no table for {path}", err=True)
    for path in report.unmatched_tables:
        click.echo(f"note: no recording for {path}", err=True)
    for table, n in report.unlabelled.items():
        what = f"labelled {unlabelled_as!r}" if unlabelled_as is not None else "left out"
        click.echo(f"warning: {table}: {n} boxes without a label were {what}", err=True)
    for past in report.past_end:
        click.echo(f"warning: {past}", err=True)
    report_failures(report.failures)
    if report.time_note:
        click.echo(f"note: {report.time_note}", err=True)
    if report.unmatched_classes:
        click.echo(
            f"warning: no box is labelled {', '.join(report.unmatched_classes)} (in any case); "
            "their columns are all 0",
            err=True,
        )
    counts = report.labels.counts()
    click.echo(
        f"{len(report.clips)} clips from {len(report.pairs) - len(report.failures)} "
        f"recording(s); clips per class: "
        + (", ".join(f"{k}={v}" for k, v in counts.items()) or "none")
    )
    if not dry_run:
        click.echo(f"label table: {output}")
        if clips_dir is not None:
            click.echo(f"clips: {clips_dir}")
    if report.failures:
        raise SystemExit(1)
