"""``opso demo``: the main job end to end on the bundled recordings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from opso.commands.base import TqdmProgress, pass_container

if TYPE_CHECKING:
    from opso.container import Container


class _StepProgress:
    """One progress bar per step, each named after its step."""

    def __init__(self) -> None:
        self._bar: TqdmProgress | None = None
        self._name = ""

    def step(self, name: str) -> None:
        """Close the last step's bar and announce the next step."""
        self.close()
        self._name = name
        click.echo(f"- {name}")

    def __call__(self, done: int, total: int, item: str) -> None:
        """Advance the current step's bar."""
        if self._bar is None:
            self._bar = TqdmProgress(self._name.split(" ")[0])
        self._bar(done, total, item)

    def close(self) -> None:
        """Remove the current bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Folder for every output.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed for the split, the weights and augmentation (same seed, same results).",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Training epochs of the small CNN.",
)
@pass_container
def demo(c: Container, output: Path, seed: int, epochs: int) -> None:
    """Label, train, predict, run RIBBIT, localize and BirdNET on bundled recordings; report.

    BirdNET runs when opso[birdnet] is installed (make demo installs it); otherwise the
    report says what to install.
    """
    from opso.app.demo import DemoData
    from opso.resources import data_path, sample_recording

    data = DemoData(
        chorus=data_path("demo/dawn_chorus.wav"),
        heldout=sample_recording(),
        toad=data_path("demo/great_plains_toad_16s.wav"),
        array_coords=data_path("demo/loca_coords.csv"),
        array_detections=data_path("demo/loca_detections.csv"),
        array_audio=data_path("demo/loca_coords.csv").parent,
    )
    bars = _StepProgress()
    started = time.perf_counter()
    try:
        report = c.run_demo().run(
            data=data, output=output, seed=seed, epochs=epochs, step=bars.step, progress=bars
        )
    finally:
        bars.close()
    click.echo(f"done in {time.perf_counter() - started:.0f} s; outputs in {output}/")
    click.echo(f"report: {report.resolve()}")
