"""Configuration commands: ``opso config default`` and ``opso config validate FILE``."""

from __future__ import annotations

from pathlib import Path

import click

from opso.commands.base import config_problems


@click.group(name="config")
def config() -> None:
    """Print the default configuration or check a configuration file."""


@config.command(name="default")
def default() -> None:
    """Print the default configuration as YAML (a starting point for --config FILE)."""
    from opso.app.settings import DEFAULT_CONFIG

    click.echo(DEFAULT_CONFIG, nl=False)


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
