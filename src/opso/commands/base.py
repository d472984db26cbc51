"""Shared pieces of the CLI: error mapping, container access and progress bars."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

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
