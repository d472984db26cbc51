"""Shell completion: ``opso completion bash|zsh|fish`` prints click's completion script."""

from __future__ import annotations

import click


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    r"""Print the completion script for SHELL; source it from your shell's start-up file.

    \b
    bash:  eval "$(opso completion bash)"      (in ~/.bashrc)
    zsh:   eval "$(opso completion zsh)"       (in ~/.zshrc)
    fish:  opso completion fish > ~/.config/fish/completions/opso.fish
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    if cls is None:  # click knows every choice above; guard against a trimmed click
        raise click.ClickException(f"click has no completion support for {shell}")
    root = ctx.find_root().command
    click.echo(cls(root, {}, "opso", "_OPSO_COMPLETE").source())
