"""Progress reporting from long-running use-cases."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Told how far a piece of work has got; the CLI renders it as a progress bar."""

    def __call__(self, done: int, total: int, item: str) -> None:
        """Report that ``done`` of ``total`` items are finished, the latest being ``item``."""
        ...


def no_progress(done: int, total: int, item: str) -> None:
    """Ignore progress reports."""
