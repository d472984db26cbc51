"""Port for drawing maps of receivers and localized sources."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from opso.domain.receivers import ReceiverArray


class MapPlotter(Protocol):
    """Draws receivers and source estimates with their error ellipses to an image file."""

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
        """Write a plan view (x-y) to ``path`` atomically.

        ``positions`` [shape=(E, d)] and ``covariances`` [shape=(E, d, d)] are the localized
        events (NaN rows are skipped); ``labels`` names them in a legend, one per event.
        """
        ...
