"""Ports for the pictures and the page of a run report (``opso demo``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from opso.domain.spectrogram import Spectrogram


@dataclass(frozen=True, slots=True)
class Box:
    """A labelled time-frequency box drawn on a spectrogram (s, Hz)."""

    start_time: float
    end_time: float
    low_f: float
    high_f: float
    label: str


@dataclass(frozen=True, slots=True)
class ReportSection:
    """One part of a report: a heading, a sentence or two, pictures and linked files.

    Paths are relative to the report's folder.
    """

    title: str
    text: str
    images: Sequence[str] = field(default_factory=tuple)
    files: Sequence[str] = field(default_factory=tuple)


class ReportFigures(Protocol):
    """Draws the report's pictures to image files."""

    def detections(
        self, spectrogram: Spectrogram, boxes: Sequence[Box], path: Path, *, title: str
    ) -> None:
        """Draw a spectrogram with labelled boxes."""
        ...

    def curves(
        self, series: Mapping[str, Sequence[float]], path: Path, *, xlabel: str, title: str
    ) -> None:
        """Draw one line per named series against its index (e.g. metrics per epoch)."""
        ...

    def series(
        self,
        times: NDArray[np.float64],
        values: Mapping[str, NDArray[np.float64]],
        path: Path,
        *,
        ylabel: str,
        title: str,
    ) -> None:
        """Draw named values against time in seconds."""
        ...


class ReportPage(Protocol):
    """Writes the page that links a report's sections."""

    def write(self, sections: Sequence[ReportSection], path: Path, *, title: str) -> None:
        """Write the page to ``path``."""
        ...
