"""Audio commands: ``opso info`` and ``opso split``."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from opso.commands.base import (
    final_clip_option,
    pass_container,
    printable,
    progress_bar,
    report_failures,
    timezone_option,
)

if TYPE_CHECKING:
    from opso.container import Container
    from opso.domain.audio import AudioInfo, FinalClip
    from opso.domain.recording_info import RecordingInfo


_AUDIO_COLUMNS = ("file", "duration_s", "sample_rate", "channels", "frames", "format", "subtype")


def _row(source: Path, i: AudioInfo, meta: RecordingInfo) -> dict[str, Any]:
    """One file's ``opso info`` record: header values, metadata values and their sources."""
    from opso.domain.recording_info import FIELDS

    row: dict[str, Any] = {
        "file": printable(source),
        "duration_s": i.duration,
        "sample_rate": i.sample_rate,
        "channels": i.channels,
        "frames": i.frames,
        "format": i.format,
        "subtype": i.subtype,
    }
    for name, value in meta.values().items():
        row[name] = value.isoformat() if name == "start" and value is not None else value
    row["sources"] = {name: meta.sources[name] for name in FIELDS if name in meta.sources}
    row["warnings"] = list(meta.warnings)
    return row


def _cell(value: Any) -> str:
    """Text of a table or CSV cell (empty when unknown)."""
    return "" if value is None else str(value)


def _echo_table(rows: list[dict[str, Any]]) -> None:
    """Print aligned columns (metadata columns only where some file has a value) and totals."""
    from opso.domain.recording_info import FIELDS

    shown = [n for n in FIELDS if n != "model" and any(r[n] is not None for r in rows)]
    header = ["file", "duration_s", "rate_hz", "ch", "frames", "format", *shown]
    if shown:
        header.append("source")
    lines = [header]
    for r in rows:
        used = dict.fromkeys(r["sources"][n] for n in shown if n in r["sources"])
        cells = [
            r["file"],
            f"{r['duration_s']:.3f}",
            str(r["sample_rate"]),
            str(r["channels"]),
            str(r["frames"]),
            f"{r['format']}/{r['subtype']}",
            *(_cell(r[n]) or "-" for n in shown),
        ]
        lines.append(cells + ([",".join(used) or "-"] if shown else []))
    widths = [max(len(line[k]) for line in lines) for k in range(len(header))]
    numeric = {1, 2, 3, 4}
    for line in lines:
        click.echo(
            "  ".join(
                cell.rjust(w) if k in numeric else cell.ljust(w)
                for k, (cell, w) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
    total = sum(r["duration_s"] for r in rows)
    hours, rest = divmod(round(total), 3600)
    click.echo(
        f"total: {len(rows)} file(s), {total:.3f} s ({hours}:{rest // 60:02d}:{rest % 60:02d})"
    )


def _echo_csv(rows: list[dict[str, Any]]) -> None:
    """Print one CSV row per file: header values, metadata values, then each field's source."""
    import csv
    import io

    from opso.domain.recording_info import FIELDS

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*_AUDIO_COLUMNS, *FIELDS, *(f"{n}_source" for n in FIELDS)])
    for r in rows:
        writer.writerow(
            [
                *(_cell(r[n]) for n in _AUDIO_COLUMNS),
                *(_cell(r[n]) for n in FIELDS),
                *(r["sources"].get(n, "") for n in FIELDS),
            ]
        )
    click.echo(out.getvalue(), nl=False)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="Aligned table with totals, or CSV / JSON (one record per file) for scripts.",
)
@timezone_option()
@pass_container
def info(
    c: Container, paths: tuple[Path, ...], output_format: str, timezone: tzinfo | None
) -> None:
    """Print each audio file's header and recording metadata.

    Header: duration, sample rate, channels, frames and format. Metadata, where the file or
    its name holds it: start time (ISO 8601 with its UTC offset), device, gain, battery (V),
    temperature (C) and position, read from GUANO, OpenSoundscape's opso_metadata, AudioMoth
    comments and, last, a YYYYMMDD_HHMMSS file name; embedded metadata wins over the name.
    The table's source column, the CSV's *_source columns and the JSON's "sources" say
    where each value came from. Metadata that cannot be read is a warning on stderr.

    Exits with status 1 if a path does not exist (before anything is printed), a file cannot
    be read (each is named on stderr) or a folder holds no audio file.
    """
    from opso.app.files import find_audio_files

    jobs = find_audio_files(paths, require_audio=True)
    reader = c.audio_io()
    metadata = c.metadata()
    failed = 0
    rows: list[dict[str, Any]] = []
    for job in jobs:
        try:
            i = reader.info(job.source)
            meta = metadata.read(job.source, timezone=timezone)
        except Exception as e:  # report and carry on; exit status says it failed
            failed += 1
            reason = str(e)
            where = "" if str(job.source) in reason else f"{job.source}: "
            click.echo(printable(f"error: {where}{reason}"), err=True)
            continue
        for warning in meta.warnings:
            click.echo(printable(f"warning: {job.source}: {warning}"), err=True)
        rows.append(_row(job.source, i, meta))
    if output_format == "json":
        import json

        click.echo(json.dumps(rows, indent=2))
    elif output_format == "csv":
        _echo_csv(rows)
    elif rows:
        _echo_table(rows)
    if failed:
        raise SystemExit(1)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "destination",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for the clips and clips.csv.",
)
@click.option("--clip-duration", type=float, required=True, help="Clip length in seconds.")
@click.option(
    "--clip-overlap",
    type=float,
    default=0.0,
    show_default=True,
    help="Overlap of consecutive clips in seconds.",
)
@final_clip_option()
@click.option("--sample-rate", type=int, default=None, help="Resample to this rate (Hz).")
@click.option("--prefix", default=None, help="Clip name prefix (a single file only).")
@click.option("--dry-run", is_flag=True, help="List the clips without writing them.")
@timezone_option()
@pass_container
def split(
    c: Container,
    paths: tuple[Path, ...],
    destination: Path,
    clip_duration: float,
    clip_overlap: float,
    final_clip: FinalClip,
    sample_rate: int | None,
    prefix: str | None,
    dry_run: bool,
    timezone: tzinfo | None,
) -> None:
    """Split recordings (files or folders, recursively) into clip files plus one clips.csv.

    Clips are named NAME_BEGINs_ENDs.wav, NAME being the recording's stem (for files in a
    folder: its path in that folder). Recordings that would share a name are told apart by
    their folders, then by their suffix (x.wav, x.flac -> x_wav_0s_5s.wav, x_flac_0s_5s.wav).
    Each clip carries its recording's metadata with its own start time (opso info shows
    it), and clips.csv gives begin_datetime when the recordings' start times are known.
    """
    from opso.app.files import AudioJob, find_audio_files

    jobs = find_audio_files(paths, require_audio=True)
    if prefix is not None:
        if len(jobs) != 1:
            raise click.UsageError("--prefix needs exactly one recording")
        jobs = [AudioJob(jobs[0].source, prefix)]
    with progress_bar("split") as progress:
        report = c.split_recordings().run(
            jobs=jobs,
            destination=destination,
            clip_duration=clip_duration,
            clip_overlap=clip_overlap,
            final_clip=final_clip,
            sample_rate=sample_rate,
            dry_run=dry_run,
            timezone=timezone,
            progress=progress,
        )
    report_failures(report.failures)
    if report.time_note:
        click.echo(f"note: {report.time_note}", err=True)
    verb = "would write" if dry_run else "wrote"
    click.echo(
        printable(
            f"{verb} {len(report.clips)} clips from {len(jobs) - len(report.failures)} "
            f"recording(s) to {destination}"
        )
    )
    if dry_run:
        for r in report.clips:
            click.echo(printable(f"{r.path}\t{r.begin_time}\t{r.end_time}"))
    else:
        click.echo(printable(f"clip table: {destination / 'clips.csv'}"))
    if report.failures:
        raise SystemExit(1)
