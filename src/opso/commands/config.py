"""Configuration commands: ``opso config default`` and ``opso config validate FILE``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
import yaml

from opso.commands.base import command_defaults, config_problems, pass_container

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
@click.option(
    "--spec",
    is_flag=True,
    help="Print OpenSoundscape 0.4's configuration (runtime, raven, audio, split_and_save) "
    "instead; its values are the spec's, not the commands' defaults.",
)
@pass_container
def default(c: Container, output: Path | None, spec: bool) -> None:
    """Print every command's options with their defaults as YAML (a start for --config FILE).

    Given back with ``opso --config FILE``, the file changes nothing until you edit it.
    """
    if spec:
        from opso.app.settings import DEFAULT_CONFIG

        _emit(c, DEFAULT_CONFIG, output)
        return
    root = click.get_current_context().find_root().command
    sections = command_defaults(root) if isinstance(root, click.Group) else {}
    header = (
        "# opso configuration: each command's options with their built-in defaults.\n"
        "# Use with `opso --config FILE COMMAND ...`; options given on the command line win.\n"
        "# null keeps the built-in default. `opso config default --spec` prints the sections\n"
        "# runtime/raven/audio/split_and_save of OpenSoundscape 0.4's configuration.\n"
    )
    _emit(c, header + yaml.safe_dump(sections, sort_keys=False, allow_unicode=True), output)


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
