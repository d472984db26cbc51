"""Pretrained models (BirdNET): ``opso predict --model birdnet`` and ``opso embed``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from opso.commands.base import (
    pass_container,
    printable,
    progress_bar,
    report_failures,
    timezone_option,
)
from opso.commands.runs import (
    RUNNER_OPTION_NAMES,
    collect_runner_options,
    run_job,
    runner_options,
)

if TYPE_CHECKING:
    from datetime import tzinfo

    from opso.app.files import AudioJob
    from opso.app.pretrained_runs import DetectShards, EmbedShards, HeadShards
    from opso.container import Container
    from opso.ports.pretrained import PretrainedModel

F = TypeVar("F", bound=Callable[..., Any])

#: Options ``opso predict`` takes for pretrained models, collected into its ``pretrained`` dict.
_PREDICT_KEYS = (
    "pretrained_model",
    "labels",
    "min_confidence",
    "sensitivity",
    "species_list",
    "latitude",
    "longitude",
    "week",
    "location_threshold",
    "raven",
)

_model_option = click.option(
    "--model",
    "pretrained_model",
    default=None,
    metavar="birdnet|FILE.tflite",
    help="A pretrained model: 'birdnet' (pip install opso[birdnet]) or a BirdNET-format "
    ".tflite file with --labels. Replaces the MODEL argument.",
)
_labels_option = click.option(
    "--labels",
    type=click.Path(path_type=Path),
    default=None,
    help="Labels of a --model FILE.tflite, one 'Scientific_Common' line per output.",
)


def pretrained_predict_options(f: F) -> F:
    """Add BirdNET's options to ``opso predict``; they reach it as one ``pretrained`` dict."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        pretrained = {key: kwargs.pop(key) for key in _PREDICT_KEYS}
        return f(*args, pretrained=pretrained, **kwargs)

    options = [
        _model_option,
        _labels_option,
        click.option(
            "--min-confidence",
            type=click.FloatRange(0, 1),
            default=0.1,
            show_default=True,
            help="With --model: keep detections at least this confident.",
        ),
        click.option(
            "--sensitivity",
            type=float,
            default=1.0,
            show_default=True,
            help="With --model: BirdNET's sigmoid sensitivity, 0.5-1.5 (higher: more detections).",
        ),
        click.option(
            "--species-list",
            type=click.Path(path_type=Path),
            default=None,
            help="With --model: keep only these species (one per line: scientific or common "
            "name, or a BirdNET label).",
        ),
        click.option("--lat", "latitude", type=float, default=None, help="With --model: latitude."),
        click.option(
            "--lon", "longitude", type=float, default=None, help="With --model: longitude."
        ),
        click.option(
            "--week",
            type=int,
            default=None,
            help="With --lat/--lon: week of a 48-week year, 1-48, or -1 for all year (default).",
        ),
        click.option(
            "--location-threshold",
            type=float,
            default=0.03,
            show_default=True,
            help="With --lat/--lon: keep species whose range-model score is at least this.",
        ),
        click.option(
            "--raven",
            type=click.Path(path_type=Path),
            default=None,
            help="With --model: write one Raven selection table per recording to this folder "
            "(with --run-dir: from the run's rows, when it is complete).",
        ),
    ]
    decorated: Any = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


def load_pretrained(c: Container, model: str, labels: Path | None) -> PretrainedModel:
    """Load a pretrained model through the container."""
    loaded: PretrainedModel = c.pretrained_store().load(model, labels=labels)
    return loaded


def predict_pretrained(
    c: Container,
    *,
    recordings: tuple[Path, ...],
    output: Path | None,
    overlap: float,
    batch_size: int,
    top_k: int | None,
    strict: bool,
    pretrained: dict[str, Any],
    timezone: tzinfo | None = None,
    opts: Mapping[str, Any] | None = None,
) -> None:
    """Run ``opso predict --model ...``: one CSV row per detection, Raven tables on demand.

    With ``--run-dir`` in ``opts`` (see :func:`~opso.commands.runs.runner_options`) the
    detections go to a resumable run directory instead, exported to ``output`` and the Raven
    tables when complete.
    """
    from opso.app.files import find_audio_files
    from opso.app.pretrained import SpeciesFilter

    run_dir = None if opts is None else opts["run_dir"]
    if run_dir is None and output is None and pretrained["raven"] is None:
        raise click.UsageError("give -o/--output (a CSV), --raven FOLDER, or both")
    species = None
    if pretrained["species_list"] is not None:
        species = tuple(_read_species_list(pretrained["species_list"]))
    species_filter = SpeciesFilter(
        min_confidence=pretrained["min_confidence"],
        sensitivity=pretrained["sensitivity"],
        species=species,
        species_source=str(pretrained["species_list"]),
        latitude=pretrained["latitude"],
        longitude=pretrained["longitude"],
        week=pretrained["week"],
        location_threshold=pretrained["location_threshold"],
        top_k=top_k,
    )
    species_filter.validate()
    jobs = find_audio_files(recordings)
    if opts is not None and run_dir is not None:
        job = c.detect_shards(
            pretrained["pretrained_model"],
            labels=pretrained["labels"],
            overlap=overlap,
            batch_size=batch_size,
            species_filter=species_filter,
            timezone=None if timezone is None else str(timezone),
        )
        _run_shards(
            c,
            job,
            jobs=jobs,
            output=output,
            batch_size=batch_size,
            strict=strict,
            opts=opts,
            raven=pretrained["raven"],
        )
        return
    model = load_pretrained(c, pretrained["pretrained_model"], pretrained["labels"])
    with progress_bar("predict") as progress:
        report = c.detect_species().run(
            model=model,
            jobs=jobs,
            output=output,
            raven_dir=pretrained["raven"],
            species_filter=species_filter,
            overlap=overlap,
            batch_size=batch_size,
            timezone=timezone,
            progress=progress,
        )
    report_failures(report.failures)
    if report.time_note:
        click.echo(f"note: {report.time_note}", err=True)
    where = ", ".join(str(p) for p in (output, pretrained["raven"]) if p is not None)
    click.echo(
        f"{report.detections} detection(s) in {report.files - len(report.failures)} of "
        f"{report.files} recording(s) with {model.name} -> {where}"
    )
    if strict and report.failures:
        raise SystemExit(1)


def _run_shards(
    c: Container,
    job: DetectShards | EmbedShards | HeadShards,
    *,
    jobs: list[AudioJob],
    output: Path | None,
    batch_size: int,
    strict: bool,
    opts: Mapping[str, Any],
    raven: Path | None = None,
) -> None:
    """Run ``job`` in a run directory (the model loads once per worker), export to ``output``.

    With ``raven`` (detection runs), a complete run also writes its Raven tables there. With
    ``strict``, exit with status 1 when a recording failed.
    """
    result = run_job(
        c,
        sources=[j.source for j in jobs],
        job=job,
        settings=job.settings(),
        align=job.step,
        opts={**opts, "export_path": output},
        engine={"batch_size": batch_size},
    )
    if raven is not None and result.progress.complete:
        names = {str(j.source): j.name for j in jobs}
        write_run_raven_tables(c, run_dir=opts["run_dir"], raven_dir=raven, names=names)
    elif raven is not None:
        p = result.progress
        click.echo(
            f"Raven tables not written: the run is not complete ({p.shards_done}/{p.shards} shards)"
        )
    if strict and result.progress.errors:
        raise SystemExit(1)


def write_run_raven_tables(
    c: Container, *, run_dir: Path, raven_dir: Path, names: Mapping[str, str] | None = None
) -> None:
    """Write the Raven tables of a complete detection run, say how many (see ``RunRavenTables``)."""
    report = c.run_raven_tables().run(run_dir=run_dir, raven_dir=raven_dir, names=names)
    if report.time_note:
        click.echo(f"note: {report.time_note}", err=True)
    none = (
        f" ({len(report.failed)} recording(s) with error rows have none)" if report.failed else ""
    )
    click.echo(f"wrote {len(report.tables)} Raven table(s) to {printable(raven_dir)}{none}")


def _read_species_list(path: Path) -> list[str]:
    from opso.domain.errors import ParameterError

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ParameterError(f"{path}: cannot read the species list ({e})") from e
    names = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not names:
        raise ParameterError(f"{path}: the species list is empty")
    return names


@click.command()
@click.argument("recordings", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--model",
    "pretrained_model",
    required=True,
    metavar="birdnet|FILE.tflite",
    help="'birdnet' (pip install opso[birdnet]) or a BirdNET-format .tflite file with --labels.",
)
@_labels_option
@click.option(
    "-o",
    "--output",
    default=None,
    type=click.Path(path_type=Path),
    help="Parquet table: file, begin_time, end_time, emb_0 ... emb_<d-1> (float32), error. "
    "With --run-dir: the table exported when the run is complete.",
)
@click.option(
    "--overlap", type=float, default=0.0, show_default=True, help="Seconds shared by windows."
)
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--strict", is_flag=True, help="Exit with status 1 if any recording failed.")
@timezone_option()
@runner_options(run_dir_required=False, export=False)
@pass_container
@collect_runner_options
def embed(
    c: Container,
    recordings: tuple[Path, ...],
    pretrained_model: str,
    labels: Path | None,
    output: Path | None,
    overlap: float,
    batch_size: int,
    strict: bool,
    timezone: tzinfo | None,
    opts: dict[str, Any],
) -> None:
    """Embed every window of RECORDINGS (files or folders) with a pretrained model.

    BirdNET gives one 1024-value vector per 3 s window (its layer before the classifier), a
    feature set for small classifiers. A recording that cannot be read gets one row with its
    reason in ``error`` and empty features; the others are embedded as usual.

    With --run-dir the vectors go to a resumable run directory instead (Parquet parts,
    computed by worker processes or a Dask cluster; failed recordings are its error rows),
    exported to -o when the run is complete; see docs/guide/birdnet.md.
    """
    from opso.app.files import find_audio_files

    jobs = find_audio_files(recordings)
    if opts["run_dir"] is not None:
        if output is not None and output.suffix.lower() != ".parquet":
            raise click.UsageError(f"{output}: embeddings export to a .parquet file")
        job = c.embed_shards(
            pretrained_model,
            labels=labels,
            overlap=overlap,
            batch_size=batch_size,
            timezone=None if timezone is None else str(timezone),
        )
        _run_shards(
            c, job, jobs=jobs, output=output, batch_size=batch_size, strict=strict, opts=opts
        )
        return
    if output is None:
        raise click.UsageError("give -o/--output (a Parquet table), or --run-dir")
    model = load_pretrained(c, pretrained_model, labels)
    with progress_bar("embed") as progress:
        report = c.embed_windows().run(
            model=model,
            jobs=jobs,
            output=output,
            overlap=overlap,
            batch_size=batch_size,
            timezone=timezone,
            progress=progress,
        )
    report_failures(report.failures)
    if report.time_note:
        click.echo(f"note: {report.time_note}", err=True)
    click.echo(
        f"embedded {report.windows} window(s) of {report.files - len(report.failures)} of "
        f"{report.files} recording(s) with {model.name} -> {output}"
    )
    if strict and report.failures:
        raise SystemExit(1)


def _refuse_other_options(what: str, allowed: set[str]) -> None:
    """Refuse options given on the command line that are not in ``allowed``."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    given = [
        param.opts[0]
        for param in ctx.command.params
        if isinstance(param, click.Option)
        and param.name not in allowed
        and ctx.get_parameter_source(param.name or "") is ParameterSource.COMMANDLINE
    ]
    if given:
        raise click.UsageError(f"{', '.join(given)}: not used {what}")


#: ``opso train`` options that apply with ``--embeddings``.
_HEAD_TRAIN_OPTIONS = {
    "labels_path",
    "embeddings",
    "head",
    "save_dir",
    "valid_fraction",
    "seed",
    "classes",
    "file_column",
    "label_column",
    "config",
}


def head_training_options(f: F) -> F:
    """Add ``--embeddings`` and ``--head`` to ``opso train``: with them it trains a head.

    Place it under ``pass_container``: the command's function then runs only for CNNs.
    """

    @functools.wraps(f)
    def wrapper(c: Container, *args: Any, **kwargs: Any) -> Any:
        embeddings: Path | None = kwargs.pop("embeddings")
        head: str = kwargs.pop("head")
        if embeddings is None:
            if kwargs["save_dir"] is None:
                raise click.UsageError("Missing option '-o' / '--output' (the run folder).")
            return f(c, *args, **kwargs)
        _refuse_other_options("to train a head (--embeddings)", _HEAD_TRAIN_OPTIONS)
        classes = [n.strip() for item in kwargs["classes"] for n in item.split(",") if n.strip()]
        train_head_command(
            c,
            embeddings=embeddings,
            labels=kwargs["labels_path"],
            output=kwargs["save_dir"] or Path("head.opso"),
            kind=head,
            valid_fraction=kwargs["valid_fraction"],
            seed=kwargs["seed"],
            classes=classes or None,
            file_column=kwargs["file_column"],
            label_column=kwargs["label_column"],
        )
        return None

    decorated: Any = click.option(
        "--head",
        type=click.Choice(["logistic", "mlp"]),
        default="logistic",
        show_default=True,
        help="With --embeddings: one-vs-rest logistic regression, or a one-hidden-layer MLP.",
    )(wrapper)
    decorated = click.option(
        "--embeddings",
        type=click.Path(path_type=Path),
        default=None,
        help="Train a small head on this embeddings table (Parquet from `opso embed`) "
        "instead of a CNN; -o is then the head file (default head.opso).",
    )(decorated)
    return decorated  # type: ignore[no-any-return]


def train_head_command(
    c: Container,
    *,
    embeddings: Path,
    labels: Path,
    output: Path,
    kind: str,
    valid_fraction: float,
    seed: int,
    classes: list[str] | None,
    file_column: str | None,
    label_column: str | None,
) -> None:
    """Run ``opso train --embeddings``: train, save, print held-out metrics per class."""
    from opso.domain.heads import HeadTraining

    training = HeadTraining(kind="mlp" if kind == "mlp" else "logistic", seed=seed)
    report = c.train_head().run(
        embeddings=embeddings,
        labels=labels,
        output=output,
        classes=classes,
        file_column=file_column,
        label_column=label_column,
        training=training,
        valid_fraction=valid_fraction,
    )
    if report.unmatched_windows:
        click.echo(
            f"warning: {report.unmatched_windows} of {report.labelled_windows} labelled "
            f"window(s) have no embedding and were left out (e.g. {report.unmatched_example})",
            err=True,
        )
    head = report.head
    click.echo(
        f"{head.kind} head on {head.settings.model.name} embeddings ({head.dimension} features): "
        f"{len(head.classes)} class(es), {report.train_windows} training and "
        f"{report.valid_windows} validation window(s)"
    )
    if report.valid_windows:
        width = max(len(name) for name in head.classes)
        click.echo(f"{'class':<{width}}  positives  avg precision  ROC AUC")
        for m in report.metrics:
            ap = "n/a" if m.average_precision is None else f"{m.average_precision:.3f}"
            auc = "n/a" if m.roc_auc is None else f"{m.roc_auc:.3f}"
            click.echo(f"{m.name:<{width}}  {m.positives:>9}  {ap:>13}  {auc:>7}")
    click.echo(f"head: {report.output}")


#: ``opso predict`` options that apply to a head file.
_HEAD_PREDICT_OPTIONS = {"output", "clip_overlap", "batch_size", "strict", "config"}
#: More that apply to a head file with ``--run-dir``.
_HEAD_RUN_OPTIONS = {*(n for n in RUNNER_OPTION_NAMES if n != "export_path"), "timezone"}


def is_head(c: Container, path: Path) -> bool:
    """Whether ``path`` is a head file (``opso train --embeddings``)."""
    found: bool = c.head_store().is_head(path)
    return found


def predict_head(
    c: Container,
    *,
    head: Path,
    recordings: tuple[Path, ...],
    output: Path | None,
    overlap: float,
    batch_size: int,
    strict: bool,
    timezone: tzinfo | None = None,
    opts: Mapping[str, Any] | None = None,
) -> None:
    """Run ``opso predict HEAD RECORDINGS``: embed with the base model, score with the head.

    ``--overlap`` defaults to the overlap of the embeddings the head was trained on. With
    ``--run-dir`` in ``opts`` the scores go to a resumable run directory instead, exported to
    ``output`` when complete (see :class:`~opso.app.pretrained_runs.HeadShards`).
    """
    from click.core import ParameterSource

    from opso.app.files import find_audio_files

    run_dir = None if opts is None else opts["run_dir"]
    allowed = (
        _HEAD_PREDICT_OPTIONS if run_dir is None else _HEAD_PREDICT_OPTIONS | _HEAD_RUN_OPTIONS
    )
    _refuse_other_options("with a head file", allowed)
    if not recordings:
        raise click.UsageError("Missing argument 'RECORDINGS...'.")
    given = click.get_current_context().get_parameter_source("clip_overlap")
    head_overlap = None if given in (None, ParameterSource.DEFAULT) else overlap
    jobs = find_audio_files(recordings)
    if opts is not None and run_dir is not None:
        job = c.head_shards(
            head,
            overlap=head_overlap,
            batch_size=batch_size,
            timezone=None if timezone is None else str(timezone),
        )
        _run_shards(
            c, job, jobs=jobs, output=output, batch_size=batch_size, strict=strict, opts=opts
        )
        return
    if output is None:
        raise click.UsageError("give -o/--output (a CSV), or --run-dir")
    with progress_bar("predict") as progress:
        report = c.predict_with_head().run(
            head=head,
            jobs=jobs,
            output=output,
            overlap=head_overlap,
            batch_size=batch_size,
            progress=progress,
        )
    report_failures(report.failures)
    click.echo(
        f"scored {report.windows} windows from {report.files - len(report.failures)} of "
        f"{report.files} recording(s) -> {report.output}"
    )
    if strict and report.failures:
        raise SystemExit(1)
