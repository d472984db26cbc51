"""Spectrogram plots with matplotlib.

Figures are built with the object-oriented API on the Agg canvas, so saving works headless
and never touches pyplot's global state; only ``show=True`` goes through pyplot.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from opso.adapters.atomic import atomic_path
from opso.domain.errors import ImageWriteError, SpectrogramParameterError
from opso.domain.spectrogram import Spectrogram
from opso.ports.images import SpectrogramPlotter

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class MatplotlibPlotter(SpectrogramPlotter):
    """Grey spectrogram plots (loud is dark), time in s on x, frequency in Hz on y."""

    def figure(
        self,
        spectrogram: Spectrogram,
        *,
        show_colorbar: bool = False,
        title: str | None = None,
        figsize: tuple[float, float] = (8.0, 4.0),
    ) -> Figure:
        """Return a matplotlib Figure of the spectrogram (Agg canvas, not registered in pyplot).

        Raises
        ------
        SpectrogramParameterError
            If the spectrogram has no rows or no columns.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize, layout="constrained")
        FigureCanvasAgg(fig)
        self._draw(fig, spectrogram, show_colorbar=show_colorbar, title=title)
        return fig

    @staticmethod
    def _draw(
        fig: Figure, spectrogram: Spectrogram, *, show_colorbar: bool, title: str | None
    ) -> None:
        if 0 in spectrogram.spectrogram.shape:
            raise SpectrogramParameterError(
                f"cannot plot an empty spectrogram (shape {spectrogram.spectrogram.shape})"
            )
        ax = fig.add_subplot()
        low, high = spectrogram.decibel_limits
        mesh = ax.pcolormesh(
            spectrogram.times,
            spectrogram.frequencies,
            np.asarray(spectrogram.spectrogram, dtype=np.float64),
            shading="nearest",
            cmap="Greys",
            vmin=low,
            vmax=high,
        )
        ax.set_xlabel("time (s)")
        ax.set_ylabel("frequency (Hz)")
        if title:
            ax.set_title(title)
        if show_colorbar:
            fig.colorbar(mesh, ax=ax, label="dB")

    def plot(
        self,
        spectrogram: Spectrogram,
        *,
        path: Path | None = None,
        show: bool = False,
        show_colorbar: bool = False,
        title: str | None = None,
        figsize: tuple[float, float] = (8.0, 4.0),
    ) -> None:
        """Save the plot to ``path`` (format from its suffix, atomically) and/or show it.

        Raises
        ------
        ImageWriteError
            If the file cannot be written or its format is unknown.
        """
        if show:  # through pyplot, so the user's backend (or Jupyter inline) displays it
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=figsize, layout="constrained")
            self._draw(fig, spectrogram, show_colorbar=show_colorbar, title=title)
        else:
            fig = self.figure(
                spectrogram, show_colorbar=show_colorbar, title=title, figsize=figsize
            )
        if path is not None:
            fmt = path.suffix.lstrip(".").lower() or None
            try:
                with atomic_path(path) as tmp:
                    fig.savefig(tmp, format=fmt, dpi=100)
            except (OSError, ValueError) as e:
                raise ImageWriteError(f"{path}: cannot write the plot ({e})") from e
        if show:
            plt.show()
