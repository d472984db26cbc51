"""Ports for the pictures and the page of an activity summary (``opso summarize``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from opso.ports.report import ReportSection


@dataclass(frozen=True, slots=True)
class PageTable:
    """A table shown on a page: a heading, column names, rows of cell values.

    ``link`` (relative to the page) is a file the heading links to, such as the table's CSV.
    """

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[object]] = field(default_factory=tuple)
    link: str | None = None


class ActivityFigures(Protocol):
    """Draws the plots ecologists publish of when a species calls."""

    def hours_of_day(
        self,
        counts: NDArray[np.int64],
        path: Path,
        *,
        title: str,
        zone: str,
        recorded_s: NDArray[np.float64] | None = None,
    ) -> None:
        """Draw detections per hour of day as bars [shape=(24,)].

        ``zone`` names the clock; hours whose ``recorded_s`` is 0 are marked as not recorded.
        """
        ...

    def date_hour(
        self,
        dates: Sequence[str],
        counts: NDArray[np.float64],
        path: Path,
        *,
        title: str,
        zone: str,
    ) -> None:
        """Draw detections on a date x hour-of-day grid [shape=(len(dates), 24)].

        NaN cells were not recorded and are drawn apart from zeros.
        """
        ...


class SummaryPage(Protocol):
    """Writes the page of an activity summary."""

    def write(
        self,
        path: Path,
        *,
        title: str,
        notes: Sequence[str],
        tables: Sequence[PageTable],
        sections: Sequence[ReportSection],
    ) -> None:
        """Write ``path``: the notes, the tables, then one section per species with its plots."""
        ...
