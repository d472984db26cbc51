"""Localization command: ``opso localize``."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

import click

from opso.commands.base import pass_container, progress_bar, timezone_option

if TYPE_CHECKING:
    from opso.container import Container


def _parse_bands(values: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    bands: dict[str, tuple[float, float]] = {}
    for text in values:
        name, sep, rest = text.rpartition(":")
        cls, sep2, low = name.rpartition(":")
        try:
            if not (sep and sep2 and cls):
                raise ValueError
            lo, hi = float(low), float(rest)
        except ValueError:
            raise click.BadParameter(
                f"{text!r} is not CLASS:LOW:HIGH (e.g. zeep:7000:10000)", param_hint="--bandpass"
            ) from None
        if not 0 <= lo < hi:
            raise click.BadParameter(
                f"{text!r}: needs 0 <= LOW < HIGH (Hz)", param_hint="--bandpass"
            )
        bands[cls] = (lo, hi)
    return bands


@click.command()
@click.option(
    "--coords",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of receivers: file, x, y[, z] in metres (optional start_offset or start_timestamp).",
)
@click.option(
    "--detections",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of detections: file, start_time, end_time, then a class column or one per class.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV to write: one row per event.",
)
@click.option(
    "--audio-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of the recordings, looked up by file name (default: the table's paths).",
)
@click.option("--temperature", type=float, default=20.0, show_default=True, help="Air °C.")
@click.option(
    "--speed-of-sound",
    type=float,
    default=None,
    help="Speed of sound in m/s, if measured; overrides --temperature.",
)
@click.option(
    "--algorithm",
    type=click.Choice(["gps", "lstsq", "gillette"]),
    default="gps",
    show_default=True,
    help="Sound Finder closed form (gps), nonlinear least squares (lstsq) or the linear "
    "Gillette-Silverman closed form (gillette, needs one receiver more).",
)
@click.option(
    "--min-receivers",
    type=int,
    default=4,
    show_default=True,
    help="Fewest receivers per event, reference included.",
)
@click.option(
    "--max-receiver-dist",
    type=float,
    default=None,
    help="Use only receivers this close (m) to the reference [default: all].",
)
@click.option(
    "--cc-threshold",
    type=float,
    default=0.0,
    show_default=True,
    help="Drop receivers whose cross-correlation score is not above this (0-1).",
)
@click.option(
    "--cc-method",
    type=click.Choice(["phat", "cc"]),
    default="phat",
    show_default=True,
    help="GCC-PHAT or plain normalised cross-correlation.",
)
@click.option(
    "--bandpass",
    multiple=True,
    metavar="CLASS:LOW:HIGH",
    help="Band (Hz) to correlate for a class; repeat for several classes.",
)
@click.option(
    "--timing-sigma",
    type=float,
    default=1e-4,
    show_default=True,
    help="A-priori timing error (s) that floors the uncertainty.",
)
@click.option(
    "--assume-aligned",
    is_flag=True,
    help="All recordings started at the same moment: do not read start times from their "
    "metadata (used only when neither table gives start times).",
)
@timezone_option()
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also draw a map of receivers and estimates with 95% error ellipses (PNG).",
)
@pass_container
def localize(
    c: Container,
    coords: Path,
    detections: Path,
    output: Path,
    audio_dir: Path | None,
    temperature: float,
    speed_of_sound: float | None,
    algorithm: str,
    min_receivers: int,
    max_receiver_dist: float | None,
    cc_threshold: float,
    cc_method: str,
    bandpass: tuple[str, ...],
    timing_sigma: float,
    assume_aligned: bool,
    timezone: tzinfo | None,
    plot: Path | None,
) -> None:
    """Localize detected sounds from a synchronized recorder array (TDOA by GCC-PHAT).

    Recordings are aligned by their start times: the detections' start_timestamp column, else
    the coordinates' start_offset or start_timestamp column, else each recording's metadata
    (or YYYYMMDD_HHMMSS file name). A recorder whose start is unknown is an error, unless
    --assume-aligned says all recordings started together.
    """
    bands = _parse_bands(bandpass)
    with progress_bar("localize", unit="event") as progress:
        report = c.localize_events().run(
            coordinates=coords,
            detections=detections,
            output=output,
            plot=plot,
            audio_dir=audio_dir,
            temperature=temperature,
            speed_of_sound=speed_of_sound,
            algorithm=algorithm,  # type: ignore[arg-type]
            min_receivers=min_receivers,
            max_receiver_dist=max_receiver_dist,
            cc_threshold=cc_threshold,
            cc_method=cc_method,  # type: ignore[arg-type]
            bandpass=bands,
            timing_sigma=timing_sigma,
            assume_aligned=assume_aligned,
            timezone=timezone,
            progress=progress,
        )
    click.echo(f"clocks: {report.clocks}")
    for problem in report.problems:
        click.echo(f"warning: receiver {problem}", err=True)
    calls = report.calls
    flagged = report.n_localized - report.n_trusted
    click.echo(
        f"{len(report.events)} detection(s) are {len(calls)} call(s): {report.n_trusted} "
        f"localized, {flagged} flagged, {len(calls) - report.n_localized} not localized "
        f"-> {output}"
    )
    for ev in calls:
        heard = report.heard(ev)
        head = f"  call {ev.call}: {ev.class_name}, heard on {heard}, ref {Path(ev.reference).name}"
        if ev.localized and ev.position is not None:
            where = ", ".join(f"{v:.2f}" for v in ev.position)
            click.echo(
                f"{head} at ({where}) m ± {ev.uncertainty:.2f} m, "
                f"{len(ev.receivers)} receivers, rms {ev.residual_rms:.3f} m"
            )
            if ev.flag:
                click.echo(f"    flagged: {ev.flag}")
        else:
            click.echo(f"{head}: {ev.reason}")
    if plot is not None:
        click.echo(f"map: {plot}")
    if calls and report.n_localized == 0:
        click.echo("error: no call could be localized (see the reasons above)", err=True)
        raise SystemExit(1)
