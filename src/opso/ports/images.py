"""Ports for spectrogram images and plots."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from opso.domain.spectrogram import Spectrogram

ImageMode = Literal["RGB", "L"]
ImageT_co = TypeVar("ImageT_co", covariant=True)


class ImageRenderer(Protocol[ImageT_co]):
    """Turns grey levels into an in-memory image object of some imaging library."""

    def render(
        self, pixels: NDArray[np.uint8], *, shape: tuple[int, int] | None, mode: ImageMode
    ) -> ImageT_co:
        """Return an image of ``pixels`` [shape=(height, width)], resized to ``shape``."""
        ...


class ImageStore(Protocol):
    """Writes and reads grey-level images with text tags (e.g. PNG files)."""

    def write(
        self,
        pixels: NDArray[np.uint8],
        path: Path,
        *,
        shape: tuple[int, int] | None = None,
        mode: ImageMode = "RGB",
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Write ``pixels`` (resized to ``(height, width)``) to ``path`` atomically."""
        ...

    def read(self, path: Path) -> tuple[NDArray[np.uint8], dict[str, str]]:
        """Return an image's grey levels [shape=(height, width)] and its text tags."""
        ...


class SpectrogramPlotter(Protocol):
    """Draws a spectrogram with labelled axes (time in s, frequency in Hz)."""

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
        """Save the plot to ``path`` (format from the suffix) and/or show it.

        ``figsize`` is in inches, at 100 pixels per inch.
        """
        ...
