"""The ``opso`` command line: parse options, run a use-case from the container, print results."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from opso.container import Container

F = TypeVar("F", bound=Callable[..., Any])


class OpsoGroup(click.Group):
    """A click group that turns opso's documented errors into one clear line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, mapping ``OpsoError``/``FileNotFoundError`` to ``ClickException``."""
        from opso.domain.errors import OpsoError

        try:
            return super().invoke(ctx)
        except (OpsoError, FileNotFoundError) as e:
            raise click.ClickException(str(e)) from e


def pass_container(f: F) -> F:
    """Give a command the container, built on first use (tests pass ``obj=container``)."""

    @click.pass_context
    @functools.wraps(f)
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        if ctx.find_root().obj is None:
            from opso.container import Container

            ctx.find_root().obj = Container()
        return ctx.invoke(f, ctx.find_root().obj, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class TqdmProgress:
    """Render use-case progress reports as a tqdm bar on stderr."""

    def __init__(self, desc: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=0, desc=desc, unit="file", leave=False, disable=None)

    def __call__(self, done: int, total: int, item: str) -> None:
        """Advance the bar to ``done`` of ``total``."""
        self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        """Remove the bar."""
        self._bar.close()


@click.group(cls=OpsoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="opso", prog_name="opso")
def main() -> None:
    """opso: bioacoustics from field recordings to detections and locations."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_container
def info(c: Container, paths: tuple[Path, ...]) -> None:
    """Print duration, sample rate, channels, frames and format of audio files."""
    from opso.app.files import find_audio_files

    reader = c.audio_io()
    failed = 0
    click.echo(f"{'file':<40} {'duration_s':>10} {'rate_hz':>8} {'ch':>3} {'frames':>10}  format")
    for job in find_audio_files(paths):
        try:
            i = reader.info(job.source)
        except Exception as e:  # report and carry on; exit status says it failed
            failed += 1
            click.echo(f"error: {e}", err=True)
            continue
        click.echo(
            f"{job.source!s:<40} {i.duration:>10.3f} {i.sample_rate:>8} {i.channels:>3} "
            f"{i.frames:>10}  {i.format}/{i.subtype}"
        )
    if failed:
        raise SystemExit(1)


@main.command()
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
@click.option(
    "--final-clip",
    type=click.Choice(["none", "remainder", "full", "extend"]),
    default="none",
    show_default=True,
    help="Audio after the last full clip.",
)
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
    final_clip: str,
    sample_rate: int | None,
    prefix: str | None,
    dry_run: bool,
) -> None:
    """Split recordings (files or folders, recursively) into clip files plus one clips.csv."""
    from opso.app.files import AudioJob, find_audio_files

    jobs = find_audio_files(paths)
    if prefix is not None:
        if len(jobs) != 1:
            raise click.UsageError("--prefix needs exactly one recording")
        jobs = [AudioJob(jobs[0].source, prefix)]
    progress = TqdmProgress("split")
    try:
        report = c.split_recordings().run(
            jobs=jobs,
            destination=destination,
            clip_duration=clip_duration,
            clip_overlap=clip_overlap,
            final_clip=None if final_clip == "none" else final_clip,  # type: ignore[arg-type]
            sample_rate=sample_rate,
            dry_run=dry_run,
            progress=progress,
        )
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    finally:
        progress.close()
    for f in report.failures:
        click.echo(f"error: {f.source}: {f.reason}", err=True)
    verb = "would write" if dry_run else "wrote"
    click.echo(
        f"{verb} {len(report.clips)} clips from {len(jobs) - len(report.failures)} "
        f"recording(s) to {destination}"
    )
    if dry_run:
        for r in report.clips:
            click.echo(f"{r.path}\t{r.begin_time}\t{r.end_time}")
    else:
        click.echo(f"clip table: {destination / 'clips.csv'}")
    if report.failures:
        raise SystemExit(1)


@main.command()
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Folder for the demo's outputs.",
)
@pass_container
def demo(c: Container, output: Path) -> None:
    """Run the main job on the bundled sample recording and print what was written."""
    from opso.app.files import AudioJob
    from opso.resources import sample_recording

    sample = sample_recording()
    i = c.audio_io().info(sample)
    click.echo(f"sample: {sample.name}: {i.duration:.2f} s at {i.sample_rate} Hz")
    report = c.split_recordings().run(
        jobs=[AudioJob(sample, sample.stem)],
        destination=output / "clips",
        clip_duration=5.0,
        final_clip="remainder",
    )
    for r in report.clips:
        click.echo(f"wrote {r.path} ({r.begin_time:g}-{r.end_time:g} s)")
    click.echo(f"clip table: {output / 'clips' / 'clips.csv'}")
