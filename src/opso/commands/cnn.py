"""CNN commands: ``opso train`` and ``opso predict``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from opso.commands.base import (
    final_clip_option,
    pass_container,
    progress_bar,
    report_failures,
    timezone_option,
)
from opso.commands.pretrained import (
    head_training_options,
    is_head,
    predict_head,
    predict_pretrained,
    pretrained_predict_options,
)
from opso.commands.runs import collect_runner_options, configure, run_job, runner_options
from opso.domain.classifier import PRECISIONS

if TYPE_CHECKING:
    from datetime import tzinfo

    from opso.app.predict import PredictFinalClip
    from opso.container import Container
    from opso.domain.classifier import Precision

ARCHITECTURE_CHOICES = [
    "resnet18",
    "resnet34",
    "resnet50",
    "efficientnet_b0",
    "mobilenet_v3",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
]


@click.command()
@click.option(
    "--labels",
    "labels_path",
    required=True,
    type=click.Path(path_type=Path),
    help="CSV: a file column plus one 0/1 column per class (every other column but "
    "start_time/end_time), or --label-column.",
)
@click.option(
    "--valid-labels",
    type=click.Path(path_type=Path),
    default=None,
    help="Validation table (default: split --valid-fraction off the labels).",
)
@click.option(
    "--audio-root",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder that relative file paths in the tables are relative to.",
)
@click.option(
    "--classes", multiple=True, help="Class names in output order (comma-separated or repeated)."
)
@click.option("--file-column", default=None, help="Column of audio paths (default: file, ...).")
@click.option("--label-column", default=None, help="Column of class names (single labels).")
@click.option(
    "--multi-target/--single-target",
    default=None,
    help="Task (default: multi-target if there is one class, a detector, or a row has no "
    "or several classes).",
)
@click.option(
    "--architecture", type=click.Choice(ARCHITECTURE_CHOICES), default="resnet18", show_default=True
)
@click.option(
    "--weights",
    type=click.Path(path_type=Path),
    default=None,
    help="Local state-dict file to start from (e.g. ImageNet weights).",
)
@click.option("--epochs", type=int, default=10, show_default=True)
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--learning-rate", type=float, default=1e-3, show_default=True)
@click.option(
    "--log-every",
    type=int,
    default=5,
    show_default=True,
    help="Checkpoint every N epochs (and after the last).",
)
@click.option(
    "--valid-fraction",
    type=float,
    default=0.2,
    show_default=True,
    help="Share of each class held out for validation (without --valid-labels); 0 trains on "
    "every clip, and model.opso is then the last epoch.",
)
@click.option(
    "--clip-duration",
    type=float,
    default=None,
    help="Seconds per clip; shorter files are looped, longer ones cut [default: the label "
    "table's window when all its windows have one length, else 5].",
)
@click.option("--sample-rate", type=int, default=22050, show_default=True)
@click.option("--height", type=int, default=224, show_default=True)
@click.option("--width", type=int, default=224, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--num-workers", type=int, default=0, show_default=True, help="DataLoader worker processes."
)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="auto",
    show_default=True,
    help="bf16: bfloat16 autocast in the training passes (weights, validation and files stay "
    "float32); auto: bf16 on CPUs with AVX512-BF16 or AMX and on GPUs of compute capability "
    "8.0+, else fp32. bf16 where the hardware lacks it is refused.",
)
@click.option(
    "-o",
    "--output",
    "save_dir",
    default=None,
    type=click.Path(path_type=Path),
    help="Run folder: model.opso (best epoch), last.opso, epoch-N.tar checkpoints, metadata.txt "
    "(required). With --embeddings: the head file [default: head.opso].",
)
@pass_container
@head_training_options
def train(
    c: Container,
    labels_path: Path,
    valid_labels: Path | None,
    audio_root: Path | None,
    classes: tuple[str, ...],
    file_column: str | None,
    label_column: str | None,
    multi_target: bool | None,
    architecture: str,
    weights: Path | None,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    log_every: int,
    valid_fraction: float,
    clip_duration: float | None,
    sample_rate: int,
    height: int,
    width: int,
    seed: int,
    num_workers: int,
    precision: Precision,
    save_dir: Path,
) -> None:
    """Train a CNN on labelled audio clips; save its best epoch as RUN_DIR/model.opso.

    With --embeddings, train a small head on a pretrained model's embeddings instead (labels
    joined by file and window times); see docs/guide/birdnet.md.
    """
    from opso.domain.classifier import Preprocessing

    class_list = [name.strip() for item in classes for name in item.split(",") if name.strip()]
    try:
        preprocessing = Preprocessing(
            sample_rate=sample_rate,
            clip_duration=5.0 if clip_duration is None else clip_duration,
            height=height,
            width=width,
        )
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    labels = c.table_reader().read(labels_path, what="label table")
    valid = (
        None
        if valid_labels is None
        else c.table_reader().read(valid_labels, what="validation label table")
    )
    if num_workers:
        c.classifier_trainer.add_kwargs(num_workers=num_workers)
    with progress_bar("train", unit="epoch", echo=True) as progress:
        report = c.train_classifier().run(
            labels=labels,
            valid_labels=valid,
            save_dir=save_dir,
            classes=class_list or None,
            file_column=file_column,
            label_column=label_column,
            audio_root=audio_root,
            multi_target=multi_target,
            architecture=architecture,
            preprocessing=preprocessing,
            clip_duration=clip_duration,
            pretrained_weights=weights,
            valid_fraction=valid_fraction,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            log_every=log_every,
            seed=seed,
            precision=precision,
            progress=progress,
        )
    best = report.best
    n = len(report.epochs)
    if best is not None:
        chosen = f" (epoch {best.epoch} of {n}: lowest validation loss {best.valid_loss:.4f})"
    elif report.last_model_path == report.model_path:
        chosen = f" (the last epoch, {n} of {n}: no validation set)"
    else:
        chosen = ""
    click.echo(f"model: {report.model_path}{chosen}")
    if report.last_model_path not in (None, report.model_path):
        click.echo(f"last epoch: {report.last_model_path}")
    click.echo(f"checkpoints: {', '.join(p.name for p in report.checkpoints)}")
    bf16 = "bf16 autocast (weights and model file float32)"
    click.echo(f"precision: {bf16 if report.precision == 'bf16' else 'fp32'}")


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("recordings", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    default=None,
    type=click.Path(path_type=Path),
    help="Score table (CSV): file, start_time, end_time, begin_datetime (when recordings' start "
    "times are known), one column per class, error. With --run-dir: the .csv or .parquet "
    "export written when the run is complete.",
)
@click.option(
    "--clip-duration", type=float, default=None, help="Seconds per clip (default: the model's)."
)
@click.option("--clip-overlap", "--overlap", type=float, default=0.0, show_default=True)
@final_clip_option(("none", "full", "extend"))
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--device", default=None, help="Torch device (default: a GPU if there is one).")
@click.option(
    "--backend",
    type=click.Choice(["fast", "eager"]),
    default="fast",
    show_default=True,
    help="fast: fused CPU kernels checked against eager.",
)
@click.option("--strict", is_flag=True, help="Exit with status 1 if any recording failed.")
@timezone_option()
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=None,
    help="With --run-dir or --model: keep the K best classes per clip, one row each.",
)
@click.option(
    "--min-score",
    type=float,
    default=None,
    help="With --run-dir: keep only (clip, class) scores at least this high, one row each.",
)
@runner_options(run_dir_required=False, export=False)
@pretrained_predict_options
@pass_container
@collect_runner_options
def predict(
    c: Container,
    model: Path,
    recordings: tuple[Path, ...],
    output: Path | None,
    clip_duration: float | None,
    clip_overlap: float,
    final_clip: PredictFinalClip,
    batch_size: int,
    device: str | None,
    backend: str,
    strict: bool,
    timezone: tzinfo | None,
    top_k: int | None,
    min_score: float | None,
    opts: dict[str, Any],
    pretrained: dict[str, Any],
) -> None:
    """Score every clip of RECORDINGS (files or folders) with MODEL, streaming rows to a CSV.

    A recording that cannot be read gets one row with empty scores and the reason in the
    ``error`` column; the run carries on.

    With --run-dir the scores go to a resumable run directory instead (Parquet parts; one row
    per clip, or per kept class with --top-k/--min-score), computed by worker processes or a
    Dask cluster (--runner); see docs/guide/scale.md.

    With --model birdnet (or a BirdNET-format .tflite file) every argument is a recording and
    the CSV holds one row per detection (with --run-dir: Parquet parts, exported to -o when
    complete); see docs/guide/birdnet.md.

    With a head file (opso train --embeddings) as MODEL, each window is embedded with the
    head's base model and scored by the head: one row per window, one column per class (with
    --run-dir: a resumable run, exported to -o when complete).
    """
    from opso.app.files import find_audio_files

    if pretrained["pretrained_model"] is not None:
        if clip_duration is not None or min_score is not None:
            raise click.UsageError("--clip-duration and --min-score are not for --model")
        predict_pretrained(
            c,
            recordings=(model, *recordings),
            output=output,
            overlap=clip_overlap,
            batch_size=batch_size,
            top_k=top_k,
            strict=strict,
            pretrained=pretrained,
            timezone=timezone,
            opts=opts,
        )
        return
    if is_head(c, model):
        predict_head(
            c,
            head=model,
            recordings=recordings,
            output=output,
            overlap=clip_overlap,
            batch_size=batch_size,
            strict=strict,
            timezone=timezone,
            opts=opts,
        )
        return
    if not recordings:
        raise click.UsageError("Missing argument 'RECORDINGS...'.")
    if opts["run_dir"] is not None:
        _predict_run(
            c,
            model=model,
            sources=[j.source for j in find_audio_files(recordings)],
            output=output,
            clip_duration=clip_duration,
            clip_overlap=clip_overlap,
            final_clip=final_clip,
            batch_size=batch_size,
            device=device,
            backend=backend,
            strict=strict,
            top_k=top_k,
            min_score=min_score,
            timezone=timezone,
            opts=opts,
        )
        return
    if top_k is not None or min_score is not None:
        raise click.UsageError("--top-k and --min-score need --run-dir")
    if output is None:
        raise click.UsageError("give -o/--output (a CSV), or --run-dir")
    jobs = find_audio_files(recordings)
    configure(c, device=device, backend=backend)
    try:
        with progress_bar("predict") as progress:
            report = c.predict_scores().run(
                model=model,
                jobs=jobs,
                output=output,
                clip_duration=clip_duration,
                clip_overlap=clip_overlap,
                final_clip=final_clip,
                batch_size=batch_size,
                timezone=timezone,
                progress=progress,
            )
    except KeyboardInterrupt:
        from opso.ports.rows import interrupted_path

        kept = interrupted_path(output)
        where = f"the recordings scored to the end are in {kept}" if kept.exists() else "no rows"
        click.echo(
            f"interrupted: {where}. Run the same command again to score everything, or use "
            "--run-dir DIR: a run directory resumes where it stopped.",
            err=True,
        )
        raise SystemExit(130) from None
    report_failures(report.failures)
    if report.time_note:
        click.echo(f"note: {report.time_note}", err=True)
    click.echo(
        f"scored {report.clips} clips from {report.files - len(report.failures)} of "
        f"{report.files} recording(s) -> {report.output}"
    )
    if strict and report.failures:
        raise SystemExit(1)


def _predict_run(
    c: Container,
    *,
    model: Path,
    sources: list[Path],
    output: Path | None,
    clip_duration: float | None,
    clip_overlap: float,
    final_clip: PredictFinalClip,
    batch_size: int,
    device: str | None,
    backend: str,
    strict: bool,
    top_k: int | None,
    min_score: float | None,
    timezone: tzinfo | None,
    opts: dict[str, Any],
) -> None:
    """Run ``opso predict --run-dir``: the model loads once per worker, rows go to parts.

    Backend, batch size and device change scores only in their last digits, so they are the
    run's engine, not its fingerprint: a resume with others goes on, with a warning.
    """
    configure(c, device=device, backend=backend)
    try:
        job = c.predict_shards(
            model,
            clip_duration=clip_duration,
            clip_overlap=clip_overlap,
            final_clip=final_clip,
            batch_size=batch_size,
            top_k=top_k,
            min_score=min_score,
            timezone=None if timezone is None else str(timezone),
        )
        settings = job.settings()
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    result = run_job(
        c,
        sources=sources,
        job=job,
        settings=settings,
        align=job.step,
        opts={**opts, "export_path": output},
        engine={"backend": backend, "batch_size": batch_size, "device": device or "auto"},
    )
    if strict and result.progress.errors:
        raise SystemExit(1)
