"""Report pictures with matplotlib (Agg canvas, headless): detections, curves, time series."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from opso.adapters.atomic import atomic_path
from opso.adapters.matplotlib_plots import MatplotlibPlotter
from opso.domain.errors import ImageWriteError
from opso.domain.spectrogram import Spectrogram
from opso.ports.report import Box, ReportFigures

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _save(fig: Figure, path: Path) -> None:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png", dpi=100)
    except (OSError, ValueError) as e:
        raise ImageWriteError(f"{path}: cannot write the figure ({e})") from e


def _figure(figsize: tuple[float, float] = (8.0, 4.0)) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


class MatplotlibReportFigures(ReportFigures):
    """Draw the report's pictures; each call writes one image file atomically."""

    def detections(
        self, spectrogram: Spectrogram, boxes: Sequence[Box], path: Path, *, title: str
    ) -> None:
        """Draw the spectrogram (grey, loud is dark) with one coloured box per detection."""
        from matplotlib.patches import Rectangle

        fig = MatplotlibPlotter().figure(spectrogram, title=title, figsize=(10.0, 4.0))
        ax = fig.axes[0]
        labels = sorted({b.label for b in boxes})
        colours = {label: f"C{i % 10}" for i, label in enumerate(labels)}
        for b in boxes:
            ax.add_patch(
                Rectangle(
                    (b.start_time, b.low_f),
                    b.end_time - b.start_time,
                    b.high_f - b.low_f,
                    fill=False,
                    edgecolor=colours[b.label],
                    linewidth=2,
                    label=b.label,
                )
            )
        if boxes:
            handles = {str(h.get_label()): h for h in ax.patches}
            ax.legend(list(handles.values()), list(handles), loc="upper right", fontsize="small")
        _save(fig, path)

    def curves(
        self, series: Mapping[str, Sequence[float]], path: Path, *, xlabel: str, title: str
    ) -> None:
        """Draw each series against 1, 2, 3, ... (e.g. epochs)."""
        fig = _figure((6.0, 4.0))
        ax = fig.add_subplot()
        for name, values in series.items():
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=name)
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        _save(fig, path)

    def series(
        self,
        times: NDArray[np.float64],
        values: Mapping[str, NDArray[np.float64]],
        path: Path,
        *,
        ylabel: str,
        title: str,
    ) -> None:
        """Draw each named series as steps: ``values[i]`` holds from ``times[i]`` to ``times[i+1]``.

        Give the last value twice (with the end time) to draw the last step's full width.
        """
        fig = _figure((8.0, 3.5))
        ax = fig.add_subplot()
        for name, v in values.items():
            ax.step(times, v, where="post", label=name)
        ax.set_xlabel("time (s)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        _save(fig, path)
