"""Pretrained models (BirdNET): ``opso predict --model birdnet`` and ``opso embed``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from opso.commands.base import pass_container, progress_bar, report_failures

if TYPE_CHECKING:
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
            help="With --model: write one Raven selection table per recording to this folder.",
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
) -> None:
    """Run ``opso predict --model ...``: one CSV row per detection, Raven tables on demand."""
    from opso.app.files import find_audio_files
    from opso.app.pretrained import SpeciesFilter

    if output is None and pretrained["raven"] is None:
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
            progress=progress,
        )
    report_failures(report.failures)
    where = ", ".join(str(p) for p in (output, pretrained["raven"]) if p is not None)
    click.echo(
        f"{report.detections} detection(s) in {report.files - len(report.failures)} of "
        f"{report.files} recording(s) with {model.name} -> {where}"
    )
    if strict and report.failures:
        raise SystemExit(1)


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
    required=True,
    type=click.Path(path_type=Path),
    help="Parquet table: file, begin_time, end_time, emb_0 ... emb_<d-1> (float32), error.",
)
@click.option(
    "--overlap", type=float, default=0.0, show_default=True, help="Seconds shared by windows."
)
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--strict", is_flag=True, help="Exit with status 1 if any recording failed.")
@pass_container
def embed(
    c: Container,
    recordings: tuple[Path, ...],
    pretrained_model: str,
    labels: Path | None,
    output: Path,
    overlap: float,
    batch_size: int,
    strict: bool,
) -> None:
    """Embed every window of RECORDINGS (files or folders) with a pretrained model.

    BirdNET gives one 1024-value vector per 3 s window (its layer before the classifier), a
    feature set for small classifiers. A recording that cannot be read gets one row with its
    reason in ``error`` and empty features; the others are embedded as usual.
    """
    from opso.app.files import find_audio_files

    jobs = find_audio_files(recordings)
    model = load_pretrained(c, pretrained_model, labels)
    with progress_bar("embed") as progress:
        report = c.embed_windows().run(
            model=model,
            jobs=jobs,
            output=output,
            overlap=overlap,
            batch_size=batch_size,
            progress=progress,
        )
    report_failures(report.failures)
    click.echo(
        f"embedded {report.windows} window(s) of {report.files - len(report.failures)} of "
        f"{report.files} recording(s) with {model.name} -> {output}"
    )
    if strict and report.failures:
        raise SystemExit(1)
