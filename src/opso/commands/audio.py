"""Audio commands: ``opso info`` and ``opso split``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from opso.commands.base import (
    final_clip_option,
    pass_container,
    printable,
    progress_bar,
    report_failures,
)

if TYPE_CHECKING:
    from opso.container import Container
    from opso.domain.audio import FinalClip


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_container
def info(c: Container, paths: tuple[Path, ...]) -> None:
    """Print duration, sample rate, channels, frames and format of audio files.

    Exits with status 1 if a file cannot be read (each is named on stderr) or a folder
    holds no audio file.
    """
    from opso.app.files import find_audio_files

    jobs = find_audio_files(paths, require_audio=True)
    reader = c.audio_io()
    failed = 0
    click.echo(f"{'file':<40} {'duration_s':>10} {'rate_hz':>8} {'ch':>3} {'frames':>10}  format")
    for job in jobs:
        try:
            i = reader.info(job.source)
        except Exception as e:  # report and carry on; exit status says it failed
            failed += 1
            reason = str(e)
            where = "" if str(job.source) in reason else f"{job.source}: "
            click.echo(printable(f"error: {where}{reason}"), err=True)
            continue
        click.echo(
            f"{printable(job.source):<40} {i.duration:>10.3f} {i.sample_rate:>8} "
            f"{i.channels:>3} {i.frames:>10}  {i.format}/{i.subtype}"
        )
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
) -> None:
    """Split recordings (files or folders, recursively) into clip files plus one clips.csv.

    Clips are named NAME_BEGINs_ENDs.wav, NAME being the recording's stem (for files in a
    folder: its path in that folder). Recordings that would share a name are told apart by
    their folders, then by their suffix (x.wav, x.flac -> x_wav_0s_5s.wav, x_flac_0s_5s.wav).
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
            progress=progress,
        )
    report_failures(report.failures)
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
