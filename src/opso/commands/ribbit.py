"""RIBBIT command: ``opso ribbit AUDIO... -o scores.csv``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from opso.commands.base import (
    pass_container,
    printable,
    progress_bar,
    report_failures,
    timezone_option,
)

if TYPE_CHECKING:
    from datetime import tzinfo

    from opso.container import Container
    from opso.domain.ribbit import PulsePreset


def _presets(
    c: Container,
    species_table: Path | None,
    signal_band: tuple[float, float] | None,
    pulse_rate: tuple[float, float] | None,
    window: float | None,
    noise_bands: tuple[tuple[float, float], ...],
    name: str,
) -> list[PulsePreset]:
    from opso.domain.ribbit import PulsePreset

    if species_table is not None:
        if signal_band is not None or pulse_rate is not None or noise_bands:
            raise click.UsageError(
                "give either --species-table or --signal-band/--pulse-rate/--noise-band"
            )
        from opso.app.ribbit import analysable, presets_from_table
        from opso.domain.errors import OpsoError, TableReadError

        table = c.table_reader().read(species_table, what="species table")
        try:
            return analysable(presets_from_table(table, "from_df" if window is None else window))
        except ValueError as e:
            if isinstance(e, OpsoError):
                raise
            raise TableReadError(f"{species_table}: {e}") from e
    if signal_band is None or pulse_rate is None:
        raise click.UsageError("give --signal-band and --pulse-rate (or --species-table)")
    try:
        return [
            PulsePreset(
                name=name,
                signal_band=signal_band,
                pulse_rate_range=pulse_rate,
                window_len=5.0 if window is None else window,
                noise_bands=tuple(noise_bands),
            )
        ]
    except ValueError as e:
        raise click.BadParameter(str(e)) from e


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "destination",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV file for the scores: file, species, start_time, end_time, score.",
)
@click.option(
    "--signal-band",
    nargs=2,
    type=float,
    default=None,
    metavar="LOW HIGH",
    help="Frequency band of the call in Hz.",
)
@click.option(
    "--pulse-rate",
    nargs=2,
    type=float,
    default=None,
    metavar="LOW HIGH",
    help="Pulses per second of the call.",
)
@click.option(
    "--noise-band",
    "noise_bands",
    nargs=2,
    type=float,
    multiple=True,
    metavar="LOW HIGH",
    help="Band in Hz subtracted from the signal band (repeatable).",
)
@click.option(
    "--window",
    type=float,
    default=None,
    help="Seconds per score [default: 5, or each species' window_length with --species-table].",
)
@click.option(
    "--species-table",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="CSV of species presets (species, pulse_rate_low/high, low_f, high_f, "
    "reject_low/high, window_length) instead of the band options.",
)
@click.option(
    "--name",
    default="target",
    show_default=True,
    help="Species name written for the band options' preset.",
)
@click.option("--sample-rate", type=int, default=None, help="Resample to this rate (Hz).")
@click.option(
    "--window-samples",
    type=int,
    default=512,
    show_default=True,
    help="Spectrogram window in samples.",
)
@click.option(
    "--overlap-samples",
    type=int,
    default=256,
    show_default=True,
    help="Spectrogram window overlap in samples.",
)
@timezone_option()
@pass_container
def ribbit(
    c: Container,
    paths: tuple[Path, ...],
    destination: Path,
    signal_band: tuple[float, float] | None,
    pulse_rate: tuple[float, float] | None,
    noise_bands: tuple[tuple[float, float], ...],
    window: float | None,
    species_table: Path | None,
    name: str,
    sample_rate: int | None,
    window_samples: int,
    overlap_samples: int,
    timezone: tzinfo | None,
) -> None:
    """Score recordings for pulsed calls (frogs, toads, insects) with RIBBIT.

    Each window of each recording gets a score: the strongest pulsing of the signal band's
    amplitude at the call's pulse rates. Files and folders (searched recursively) are taken.
    A recording shorter than half a window gets no score (a warning says so). Exits with
    status 1 if a recording could not be read or no window at all was scored.
    """
    from opso.app.files import find_audio_files

    presets = _presets(c, species_table, signal_band, pulse_rate, window, noise_bands, name)
    if not presets:
        raise click.UsageError(f"{species_table}: no species with a pulse rate to look for")
    jobs = find_audio_files(paths, require_audio=True)
    with progress_bar("ribbit") as progress:
        report = c.score_pulses().run(
            jobs=jobs,
            presets=presets,
            destination=destination,
            sample_rate=sample_rate,
            window_samples=window_samples,
            overlap_samples=overlap_samples,
            timezone=timezone,
            progress=progress,
        )
    report_failures(report.failures)
    if report.time_note:
        click.echo(f"note: {report.time_note}", err=True)
    for short in report.too_short:
        click.echo(
            printable(
                f"warning: {short.file}: {short.duration:.3g} s, too short for the "
                f"{short.window:g} s window of {short.species!r} (a score needs at least "
                f"{short.window / 2:g} s): no scores"
            ),
            err=True,
        )
    best: dict[tuple[str, str], tuple[float, float]] = {}
    for s in report.scores:
        key = (str(s.file), s.species)
        if key not in best or s.score > best[key][0]:
            best[key] = (s.score, s.start_time)
    for (file, species), (score, start) in best.items():
        click.echo(printable(f"{file}\t{species}\tmax score {score:.6g} at {start:g} s"))
    click.echo(
        printable(
            f"scored {len(report.scores)} windows in {len(jobs) - len(report.failures)} "
            f"recording(s); table: {destination}"
        )
    )
    if not report.scores:
        click.echo("error: no recording was scored: the table has no rows", err=True)
    if report.failures or not report.scores:
        raise SystemExit(1)
