"""Spectrogram images with Pillow: render, write (PNG tags for round trips) and read.

Pillow is imported inside the methods, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from opso.adapters.atomic import atomic_path
from opso.domain.errors import ImageReadError, ImageWriteError, SpectrogramParameterError
from opso.ports.images import ImageMode, ImageRenderer, ImageStore

if TYPE_CHECKING:
    from PIL import Image


class PillowImages(ImageRenderer["Image.Image"], ImageStore):
    """Pillow images; resizing uses Pillow's bilinear filter (antialiased when shrinking)."""

    def render(
        self,
        pixels: NDArray[np.uint8],
        *,
        shape: tuple[int, int] | None = None,
        mode: ImageMode = "RGB",
    ) -> Image.Image:
        """Return a Pillow image of grey levels [shape=(height, width)].

        Parameters
        ----------
        pixels
            uint8 grey levels, first row at the top of the image.
        shape
            ``(height, width)`` to resize to with ``Image.Resampling.BILINEAR``, or None.
        mode
            ``"RGB"`` (three equal channels) or ``"L"`` (one grey channel).

        Raises
        ------
        SpectrogramParameterError
            If ``mode`` or ``shape`` is invalid, or there are no pixels.
        """
        from PIL import Image

        if mode not in ("RGB", "L"):
            raise SpectrogramParameterError(f"mode must be 'RGB' or 'L', got {mode!r}")
        grid = np.ascontiguousarray(pixels, dtype=np.uint8)
        if grid.ndim != 2 or grid.size == 0:
            raise SpectrogramParameterError(
                f"an image needs a non-empty 2-D grid of pixels, got shape {grid.shape}"
            )
        image = Image.fromarray(grid)  # uint8 2-D -> mode "L"
        if shape is not None:
            height, width = (int(v) for v in shape)
            if height < 1 or width < 1:
                raise SpectrogramParameterError(
                    f"shape must be two positive sizes (height, width), got {shape!r}"
                )
            image = image.resize((width, height), resample=Image.Resampling.BILINEAR)
        return image.convert(mode)

    def write(
        self,
        pixels: NDArray[np.uint8],
        path: Path,
        *,
        shape: tuple[int, int] | None = None,
        mode: ImageMode = "RGB",
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Write an image to ``path`` (format from the suffix) atomically.

        Text ``metadata`` is stored as PNG text chunks (other formats drop it).

        Raises
        ------
        ImageWriteError
            If the format is unknown or the file cannot be written.
        """
        from PIL import PngImagePlugin

        image = self.render(pixels, shape=shape, mode=mode)
        options: dict[str, object] = {}
        if metadata and path.suffix.lower() == ".png":
            info = PngImagePlugin.PngInfo()
            for key, value in metadata.items():
                info.add_text(key, value)
            options["pnginfo"] = info
        try:
            with atomic_path(path) as tmp:
                image.save(tmp, **options)  # type: ignore[arg-type]
        except (OSError, ValueError, KeyError) as e:
            raise ImageWriteError(f"{path}: cannot write the image ({e})") from e

    def read(self, path: Path) -> tuple[NDArray[np.uint8], dict[str, str]]:
        """Return an image file's grey levels [shape=(height, width)] and its text tags.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ImageReadError
            If the file is not an image Pillow can read.
        """
        from PIL import Image, UnidentifiedImageError

        if not Path(path).is_file():
            raise FileNotFoundError(f"image file not found: {path}")
        try:
            with Image.open(path) as image:
                image.load()
                text = {str(k): str(v) for k, v in getattr(image, "text", {}).items()}
                grey = np.asarray(image.convert("L"), dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise ImageReadError(f"{path}: not a readable image file ({e})") from e
        return grey.copy(), text
