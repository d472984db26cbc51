"""Configuration commands: ``opso config default`` and ``opso config validate FILE``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from opso.commands.base import config_problems, pass_container

if TYPE_CHECKING:
    from opso.container import Container


@click.group(name="config")
def config() -> None:
    """Print the default configuration or check a configuration file."""


def _emit(c: Container, text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    c.text_files().write(output, text)
    click.echo(f"wrote {output}")


_OUTPUT = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of printing.",
)


@config.command(name="default")
@_OUTPUT
@pass_container
def default(c: Container, output: Path | None) -> None:
    """Print the default configuration as YAML (a starting point for --config FILE)."""
    from opso.app.settings import DEFAULT_CONFIG

    _emit(c, DEFAULT_CONFIG, output)


@config.command(name="presets")
@_OUTPUT
@pass_container
def presets(c: Container, output: Path | None) -> None:
    """Print RIBBIT species presets as CSV (a template for opso ribbit --species-table).

    Five North American frogs and toads from OpenSoundscape (MIT): signal band, noise band,
    pulse rates and window length of each.
    """
    from opso.resources import data_path

    _emit(c, data_path("ribbit_presets.csv").read_text(encoding="utf-8"), output)


@config.command(name="validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def validate(ctx: click.Context, file: Path) -> None:
    """Check FILE: the spec's sections and any per-command sections; list every error."""
    from opso.app.settings import read_config_file

    root = ctx.find_root().command
    data = read_config_file(file)
    problems: list[tuple[str, str]] = []
    if isinstance(root, click.Group):
        _, problems = config_problems(root, data)
    if problems:
        for path, msg in problems:
            click.echo(f"{file}: {path}: {msg}", err=True)
        raise SystemExit(1)
    click.echo(f"{file}: valid")
