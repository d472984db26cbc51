"""MkDocs hook: write the CLI reference from the click command tree at build time."""

from __future__ import annotations

from typing import Any

import click

from opso.cli import main

MARKER = "<!-- cli-reference -->"


def _command_help(cmd: click.Command, path: list[str]) -> list[str]:
    ctx = click.Context(cmd, info_name=" ".join(path))
    lines = [f"## `{' '.join(path)}`", "", "```text", cmd.get_help(ctx), "```", ""]
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            lines += _command_help(cmd.commands[name], [*path, name])
    return lines


def cli_reference() -> str:
    """Return the help of every ``opso`` command as markdown."""
    return "\n".join(_command_help(main, ["opso"]))


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace the CLI marker with the generated reference."""
    return markdown.replace(MARKER, cli_reference()) if MARKER in markdown else markdown
