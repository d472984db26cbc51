"""Batch-run commands: ``opso runs levels``, ``opso runs status`` and ``opso runs export``.

:func:`runner_options` and :func:`run_job` are shared with other commands that run a job over
many recordings in a run directory (``opso predict --run-dir``).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from opso.commands.base import final_clip_option, pass_container, printable, progress_bar

if TYPE_CHECKING:
    from opso.app.runs import RunProgress, RunResult
    from opso.container import Container
    from opso.domain.audio import FinalClip
    from opso.ports.runner import ShardJob

F = TypeVar("F", bound=Callable[..., Any])


RUNNER_OPTION_NAMES = (
    "run_dir",
    "runner",
    "workers",
    "scheduler",
    "attempts",
    "shard_index",
    "shard_count",
    "shard_duration",
    "max_files",
    "restart",
    "export_path",
)


def runner_options(*, run_dir_required: bool = True, export: bool = True) -> Callable[[F], F]:
    """Add the run-directory, runner and sharding options to a command.

    Stack :func:`collect_runner_options` under ``pass_container`` to receive them as one
    ``opts`` mapping. ``run_dir_required=False`` makes ``--run-dir`` optional (a command with
    another mode without it); ``export=False`` leaves out ``--export``.
    """
    options = [
        click.option(
            "--run-dir",
            type=click.Path(file_okay=False, path_type=Path),
            required=run_dir_required,
            default=None,
            help="Run directory: manifest, fingerprint, parts/, errors/, summary. "
            "Rerunning the same command resumes it.",
        ),
        click.option(
            "--runner",
            type=click.Choice(["local", "dask-local", "dask"]),
            default="local",
            show_default=True,
            help="local: worker processes here; dask-local: a Dask LocalCluster; "
            "dask: a running Dask scheduler (--scheduler).",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=0),
            default=None,
            help="Worker processes (default: the usable CPUs; 0 = in this process, local only).",
        ),
        click.option("--scheduler", default=None, help="Dask scheduler address (--runner dask)."),
        click.option(
            "--attempts",
            type=click.IntRange(min=1),
            default=3,
            show_default=True,
            help="Worker deaths a shard may cause before it is reported failed.",
        ),
        click.option(
            "--shard-index",
            type=click.IntRange(min=0),
            default=None,
            help="Job-array mode: run only shards i with i % shard-count == shard-index.",
        ),
        click.option(
            "--shard-count",
            type=click.IntRange(min=1),
            default=None,
            help="Job-array mode: number of array tasks.",
        ),
        click.option(
            "--shard-duration",
            type=click.FloatRange(min=0, min_open=True),
            default=3600.0,
            show_default=True,
            help="Seconds of audio per shard; longer files are cut on clip starts.",
        ),
        click.option(
            "--max-files",
            type=click.IntRange(min=1),
            default=1000,
            show_default=True,
            help="Most files per shard.",
        ),
        click.option(
            "--restart",
            is_flag=True,
            help="Delete the run directory's results and start over (needed when settings change).",
        ),
    ]
    if export:
        options.append(
            click.option(
                "--export",
                "export_path",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="Also write all rows to this .csv or .parquet file when the run is complete.",
            )
        )

    def decorate(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def configure(c: Container, **settings: Any) -> None:
    """Check run settings (device, backend, runner, workers, ...) and give them to ``c``.

    Raises
    ------
    click.UsageError
        If the settings do not fit together (e.g. ``--scheduler`` without ``--runner dask``).
    """
    from opso.app.settings import RunSettings
    from opso.domain.errors import ParameterError

    try:
        checked = RunSettings(**{**c.config(), **settings})
    except ParameterError as e:
        raise click.UsageError(str(e)) from e
    c.config.from_dict(checked.as_config())


def run_job(
    c: Container,
    *,
    sources: Sequence[Path],
    job: ShardJob,
    settings: Mapping[str, Any],
    align: float | None,
    opts: Mapping[str, Any],
    engine: Mapping[str, Any] | None = None,
) -> RunResult:
    """Run ``job`` with the options of :func:`runner_options`, print the outcome, export.

    ``engine`` holds the options that change results only in their last digits (backend,
    device, batch size): recorded in the run, a warning when a resume changes them. Exits with
    status 1 when a shard of this invocation failed.
    """
    if (opts["shard_index"] is None) != (opts["shard_count"] is None):
        raise click.UsageError("give --shard-index and --shard-count together")
    if opts["shard_index"] is not None and opts["shard_index"] >= opts["shard_count"]:
        raise click.UsageError("--shard-index must be below --shard-count")
    configure(
        c,
        runner=opts["runner"],
        workers=opts["workers"],
        scheduler=opts["scheduler"],
        attempts=opts["attempts"],
    )
    run_dir: Path = opts["run_dir"]
    with progress_bar("shards", unit="shard") as progress:
        result = c.run_batch().run(
            sources=sources,
            run_dir=run_dir,
            job=job,
            settings=settings,
            align=align,
            shard_duration=opts["shard_duration"],
            max_files=opts["max_files"],
            shard_index=opts["shard_index"],
            shard_count=opts["shard_count"],
            restart=opts["restart"],
            engine=engine,
            export=opts["export_path"],
            progress=progress,
        )
    for note in result.notes:
        click.echo(printable(f"warning: {note}"), err=True)
    for failure in result.failures:
        click.echo(printable(f"error: shard {failure.shard}: {failure.reason}"), err=True)
    p = result.progress
    click.echo(
        f"{printable(run_dir)}: ran {result.ran} shard(s) in {result.seconds:.1f} s "
        f"({result.skipped} already done); run: {p.shards_done}/{p.shards} shards, "
        f"{p.rows} rows, {len(p.errors)} error row(s)"
    )
    export: Path | None = opts["export_path"]
    if export is not None:
        if result.exported is not None:
            click.echo(f"exported {result.exported} rows to {export}")
        else:
            click.echo(f"not exported: the run is not complete ({p.shards_done}/{p.shards})")
    if result.failures:
        raise SystemExit(1)
    return result


def collect_runner_options(f: F) -> F:
    """Collect the :func:`runner_options` values into one ``opts`` mapping for the command."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        opts = {n: kwargs.pop(n, None) for n in RUNNER_OPTION_NAMES}
        return f(*args, opts=opts, **kwargs)

    return wrapper  # type: ignore[return-value]


@click.group()
def runs() -> None:
    """Resumable batch runs: clip levels, progress and export of run directories."""


@runs.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--clip-duration", type=float, default=5.0, show_default=True, help="Seconds.")
@click.option("--clip-overlap", type=float, default=0.0, show_default=True, help="Seconds.")
@final_clip_option()
@click.option("--sample-rate", type=int, default=None, help="Resample to this rate (Hz) first.")
@runner_options()
@pass_container
@collect_runner_options
def levels(
    c: Container,
    paths: tuple[Path, ...],
    clip_duration: float,
    clip_overlap: float,
    final_clip: FinalClip,
    sample_rate: int | None,
    opts: dict[str, Any],
) -> None:
    """Measure RMS and peak level of every clip of many recordings (a resumable run).

    Rows: file, start_time, end_time, rms, peak (amplitudes, full scale = 1).
    """
    from opso.app.files import find_audio_files

    sources = [j.source for j in find_audio_files(paths)]
    try:
        job = c.clip_levels(
            clip_duration=clip_duration,
            clip_overlap=clip_overlap,
            final_clip=final_clip,
            sample_rate=sample_rate,
        )
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    run_job(c, sources=sources, job=job, settings=job.settings(), align=job.step, opts=opts)


def format_status(p: RunProgress, *, max_errors: int = 10) -> str:
    r"""Render a run's progress, failures and throughput as a few lines of text.

    File names that are not UTF-8 are shown with ``\xNN`` for each undecodable byte.
    """
    pct = 100.0 * p.shards_done / p.shards if p.shards else 100.0
    lines = [
        f"run: {printable(p.run_dir)}",
        f"fingerprint: {p.fingerprint[:16]}",
        f"shards: {p.shards_done}/{p.shards} done ({pct:.1f}%), {p.shards_failed} failed, "
        f"{p.shards - p.shards_done - p.shards_failed} to do",
        f"files: {p.files} ({p.unreadable} unreadable); audio: "
        f"{p.audio_seconds_done / 3600:.2f} h of {p.audio_seconds / 3600:.2f} h",
        f"rows: {p.rows}; error rows: {len(p.errors)}",
    ]
    if p.busy_seconds > 0:
        lines.append(
            f"throughput: {p.files_per_second:.1f} files/s, "
            f"{p.realtime_factor:.0f}x real time, over {p.busy_seconds:.1f} s of work"
        )
        remaining = p.audio_seconds - p.audio_seconds_done
        if remaining > 0 and p.realtime_factor > 0:
            lines.append(f"estimated time left: {remaining / p.realtime_factor / 60:.1f} min")
    if p.last_finished is not None:
        ago = time.time() - p.last_finished
        lines.append(f"last part written {ago:.0f} s ago")
    lines.append("status: complete" if p.complete else "status: incomplete")
    if p.errors:
        lines.append("errors:")
        for e in p.errors[:max_errors]:
            where = "" if e.start == e.end == 0 else f" [{e.start:g}-{e.end:g} s]"
            reason = e.reason.removeprefix(f"{e.source}: ")
            lines.append(f"  {printable(e.source)}{where}: {printable(reason)}")
        if len(p.errors) > max_errors:
            lines.append(f"  ... and {len(p.errors) - max_errors} more (opso runs export --errors)")
    return "\n".join(lines)


@runs.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option(
    "--max-errors", type=click.IntRange(min=0), default=10, show_default=True, help="Errors shown."
)
@pass_container
def status(c: Container, run_dir: Path, as_json: bool, max_errors: int) -> None:
    """Show a run's progress, failures and throughput (safe while the run goes on)."""
    p = c.run_status().run(run_dir=run_dir)
    if as_json:
        click.echo(json.dumps(p.as_dict(), indent=2, sort_keys=True))
    else:
        click.echo(format_status(p, max_errors=max_errors))


@runs.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("destination", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--errors", "errors", is_flag=True, help="Export the error rows instead.")
@click.option(
    "--raven",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A complete BirdNET detection run: also write one Raven selection table per "
    "recording to this folder.",
)
@pass_container
def export(
    c: Container, run_dir: Path, destination: Path | None, errors: bool, raven: Path | None
) -> None:
    r"""Write a run's rows (in shard order) to one .csv or .parquet file, or Raven tables.

    Names of files whose name is not UTF-8 are written as their bytes to a .csv file, with
    \xNN for each undecodable byte to a .parquet file. Raven tables (--raven) are named by
    each recording's path relative to the folder that holds all the run's recordings.
    """
    if raven is not None and errors:
        raise click.UsageError("--raven writes detections, not error rows: leave out --errors")
    if destination is None and raven is None:
        raise click.UsageError(
            "give DESTINATION (a .csv or .parquet file), --raven FOLDER, or both"
        )
    p = c.run_status().run(run_dir=run_dir)
    if raven is not None:
        from opso.commands.pretrained import write_run_raven_tables

        write_run_raven_tables(c, run_dir=run_dir, raven_dir=raven)
    if destination is None:
        return
    if errors:
        try:
            n = c.export_run().run(run_dir=run_dir, destination=destination, errors=True)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="DESTINATION") from e
        click.echo(f"exported {n} error rows to {destination}")
        return
    try:
        n = c.export_run().run(run_dir=run_dir, destination=destination)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="DESTINATION") from e
    note = "" if p.complete else f" (run incomplete: {p.shards_done}/{p.shards} shards)"
    click.echo(f"exported {n} rows to {destination}{note}")
