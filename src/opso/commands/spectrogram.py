"""Spectrogram command: ``opso spectrogram AUDIO -o OUT.png``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from opso.commands.base import pass_container

if TYPE_CHECKING:
    from opso.container import Container


@click.command()
@click.argument("audio", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(path_type=Path),
    help="Image or plot file; the suffix picks the format (.png, .pdf, .svg, .jpg).",
)
@click.option("--start", type=float, default=0.0, show_default=True, help="Start time in s.")
@click.option("--end", type=float, default=None, help="End time in s [default: end of file].")
@click.option("--sample-rate", type=int, default=None, help="Resample to this rate (Hz).")
@click.option(
    "--window-samples", type=int, default=512, show_default=True, help="Samples per window."
)
@click.option(
    "--overlap-samples",
    type=int,
    default=256,
    show_default=True,
    help="Samples shared by consecutive windows.",
)
@click.option(
    "--db-range",
    type=(float, float),
    default=(-100.0, -20.0),
    show_default=True,
    metavar="LOW HIGH",
    help="dB range: quieter is white, louder is black.",
)
@click.option(
    "--bandpass",
    type=(float, float),
    default=None,
    metavar="LOW HIGH",
    help="Keep only frequencies from LOW to HIGH Hz.",
)
@click.option("--mel", is_flag=True, help="Mel bands instead of linear frequencies.")
@click.option("--n-mels", type=int, default=64, show_default=True, help="Mel bands with --mel.")
@click.option(
    "--image-only",
    is_flag=True,
    help="Write a bare image (one pixel per value) instead of a labelled plot.",
)
@click.option(
    "--shape",
    type=(int, int),
    default=None,
    metavar="HEIGHT WIDTH",
    help="Resize a bare image (--image-only) to HEIGHT x WIDTH pixels.",
)
@pass_container
def spectrogram(
    c: Container,
    audio: Path,
    output: Path,
    start: float,
    end: float | None,
    sample_rate: int | None,
    window_samples: int,
    overlap_samples: int,
    db_range: tuple[float, float],
    bandpass: tuple[float, float] | None,
    mel: bool,
    n_mels: int,
    image_only: bool,
    shape: tuple[int, int] | None,
) -> None:
    """Draw the spectrogram of AUDIO: a plot with axes in s and Hz, or a bare image."""
    if shape is not None and not image_only:
        raise click.UsageError("--shape applies to --image-only images")
    spec = c.render_spectrogram().run(
        source=audio,
        destination=output,
        start=start,
        end=end,
        sample_rate=sample_rate,
        window_samples=window_samples,
        overlap_samples=overlap_samples,
        db_range=db_range,
        bandpass=bandpass,
        mel=mel,
        n_mels=n_mels,
        image_only=image_only,
        shape=shape,
    )
    n_freq, n_time = spec.shape
    kind = "image" if image_only else "plot"
    click.echo(f"wrote {kind} {output} ({n_freq} frequencies x {n_time} times)")
