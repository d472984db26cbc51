"""Maps of receivers and localized sources drawn with matplotlib (Agg, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from opso.adapters.atomic import atomic_path
from opso.domain.errors import OpsoError
from opso.domain.receivers import ReceiverArray, error_ellipses
from opso.ports.maps import MapPlotter


class PlotWriteError(OpsoError, OSError):
    """A map could not be drawn or written."""


class MatplotlibMapPlotter(MapPlotter):
    """Plan view: receivers as triangles, estimates as dots with error ellipses."""

    def __init__(self, *, dpi: int = 120) -> None:
        self._dpi = dpi

    def plot_map(
        self,
        path: Path,
        *,
        receivers: ReceiverArray,
        positions: NDArray[np.float64],
        covariances: NDArray[np.float64],
        labels: Sequence[str] = (),
        confidence: float = 0.95,
        title: str = "",
    ) -> None:
        """Write the map to ``path`` (format from its suffix, e.g. ``.png``, ``.svg``).

        Raises
        ------
        PlotWriteError
            If matplotlib cannot render or the file cannot be written; no file is left.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Ellipse

        pos = np.asarray(positions, dtype=np.float64).reshape(-1, receivers.dim)
        cov = np.asarray(covariances, dtype=np.float64).reshape(-1, receivers.dim, receivers.dim)
        ok = np.all(np.isfinite(pos), axis=1)
        ellipses = error_ellipses(cov[:, :2, :2], confidence)
        fig = Figure(figsize=(6.5, 6.0), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        rx, ry = receivers.positions[:, 0], receivers.positions[:, 1]
        stems = [Path(n).stem for n in receivers.names]
        prefix = _common_prefix(stems) if len(stems) > 1 else ""
        prefix = prefix if len(prefix) >= 4 else ""
        legend = f"receivers ({prefix}*)" if prefix else "receivers"
        ax.scatter(rx, ry, marker="^", s=70, c="black", label=legend, zorder=3)
        places: dict[tuple[float, float], list[str]] = {}
        for stem, x, y in zip(stems, rx, ry, strict=True):
            places.setdefault((round(float(x), 2), round(float(y), 2)), []).append(
                stem[len(prefix) :] or stem
            )
        for (x, y), tags in places.items():
            ax.annotate(" / ".join(tags), (x, y), xytext=(4, 4), textcoords="offset points", size=7)
        names = [labels[i] if i < len(labels) else "estimate" for i in range(len(pos))]
        palette = ["tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown"]
        color_of = {n: palette[k % len(palette)] for k, n in enumerate(sorted(set(names)))}
        seen: set[str] = set()
        for i in np.flatnonzero(ok):
            label = names[i]
            color = color_of[label]
            ax.scatter(
                pos[i, 0],
                pos[i, 1],
                s=18,
                color=color,
                zorder=4,
                label=None if label in seen else label,
            )
            seen.add(label)
            major, minor, angle = ellipses[i]
            if np.isfinite(major) and np.isfinite(minor):
                ax.add_patch(
                    Ellipse(
                        (pos[i, 0], pos[i, 1]),
                        width=2 * major,
                        height=2 * minor,
                        angle=angle,
                        fill=False,
                        color=color,
                        alpha=0.7,
                        lw=1,
                    )
                )
        pts = np.concatenate([receivers.positions[:, :2], pos[ok, :2]])
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        pad = 0.1 * float(max(hi - lo)) + 1.0
        ax.set_xlim(lo[0] - pad, hi[0] + pad)
        ax.set_ylim(lo[1] - pad, hi[1] + pad)
        ax.set_aspect("equal")
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
        ax.grid(True, alpha=0.3)
        n_ok = int(ok.sum())
        ax.set_title(
            title or f"{n_ok} localized event(s), {confidence:.0%} error ellipses", fontsize=10
        )
        ax.legend(loc="best", fontsize=8)
        try:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, dpi=self._dpi, format=path.suffix.lstrip(".") or "png")
        except (OSError, ValueError) as e:
            raise PlotWriteError(f"{path}: could not write the map ({e})") from e


def _common_prefix(words: Sequence[str]) -> str:
    """Return the longest string every word starts with."""
    lo, hi = min(words), max(words)
    k = 0
    while k < min(len(lo), len(hi)) and lo[k] == hi[k]:
        k += 1
    return lo[:k]
