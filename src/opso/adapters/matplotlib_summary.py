"""Activity plots with matplotlib (Agg canvas, headless): hours of day, date x hour heat maps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from opso.adapters.matplotlib_report import _figure, _save
from opso.ports.summary import ActivityFigures

#: Hours of day labelled on the x axes.
_HOUR_TICKS = list(range(0, 24, 3))


class MatplotlibActivityFigures(ActivityFigures):
    """Draw a summary's plots; each call writes one PNG atomically."""

    def hours_of_day(
        self,
        counts: NDArray[np.int64],
        path: Path,
        *,
        title: str,
        zone: str,
        recorded_s: NDArray[np.float64] | None = None,
    ) -> None:
        """Draw one bar per hour of day; hours never recorded are shaded grey."""
        fig = _figure((7.0, 3.5))
        ax = fig.add_subplot()
        hours = np.arange(24)
        if recorded_s is not None:
            for h in hours[np.asarray(recorded_s) <= 0]:
                ax.axvspan(h - 0.5, h + 0.5, color="0.9", linewidth=0)
            ax.plot([], [], color="0.9", linewidth=8, label="not recorded")
            if (np.asarray(recorded_s) <= 0).any():
                ax.legend(loc="upper right", fontsize="small")
        ax.bar(hours, np.asarray(counts), width=0.8, color="C0")
        ax.set_xlim(-0.5, 23.5)
        ax.set_xticks(_HOUR_TICKS, [f"{h:02d}:00" for h in _HOUR_TICKS])
        ax.set_xlabel(f"hour of day ({zone})")
        ax.set_ylabel("detections")
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        _save(fig, path)

    def date_hour(
        self,
        dates: Sequence[str],
        counts: NDArray[np.float64],
        path: Path,
        *,
        title: str,
        zone: str,
    ) -> None:
        """Draw detections per date (rows) and hour (columns); NaN cells (not recorded) are grey."""
        from matplotlib.colors import Normalize

        grid = np.asarray(counts, dtype=np.float64)
        height = min(2.0 + 0.22 * len(dates), 40.0)
        fig = _figure((8.0, height))
        ax = fig.add_subplot()
        ax.set_facecolor("0.85")
        top = np.nanmax(grid) if np.isfinite(grid).any() else 0.0
        image = ax.imshow(
            np.ma.masked_invalid(grid),
            aspect="auto",
            interpolation="nearest",
            cmap="viridis",
            norm=Normalize(vmin=0, vmax=max(float(top), 1.0)),
            extent=(-0.5, 23.5, len(dates) - 0.5, -0.5),
        )
        ax.set_xticks(_HOUR_TICKS, [f"{h:02d}" for h in _HOUR_TICKS])
        step = max(1, len(dates) // 30)
        ax.set_yticks(range(0, len(dates), step), list(dates)[::step])
        ax.set_xlabel(f"hour of day ({zone}); grey: not recorded")
        ax.set_ylabel("date")
        ax.set_title(title)
        fig.colorbar(image, ax=ax, label="detections")
        _save(fig, path)
