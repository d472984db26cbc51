"""Boxes around Grad-CAM activation regions: pure array helpers (no model involved)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from opso.domain.errors import ParameterError

BoxLimits = list[list[int]]


def activation_region_limits(gcam: Any, threshold: float = 0.2) -> BoxLimits | None:
    """Return the bounds of the region where a Grad-CAM array exceeds ``threshold``.

    Parameters
    ----------
    gcam
        2-D activation array [shape=(rows, cols)], values in 0-1.
    threshold
        Smallest value that counts as activated (exclusive).

    Returns
    -------
    list or None
        ``[[min_row, max_row], [min_col, max_col]]`` (inclusive indices), or None when no
        element exceeds ``threshold``.

    Raises
    ------
    ValueError
        If ``gcam`` is not 2-D.
    """
    arr = np.asarray(gcam)
    if arr.ndim != 2:
        raise ParameterError(f"gcam must be a 2-D array, got shape {arr.shape}")
    rows, cols = np.nonzero(arr > threshold)
    if rows.size == 0:
        return None
    return [[int(rows.min()), int(rows.max())], [int(cols.min()), int(cols.max())]]


def activation_region_to_box(activation_region: Any, threshold: float = 0.2) -> NDArray[np.int64]:
    """Return a 0/1 mask, the same shape as the activation array, with a solid box of 1s.

    The box spans the rows and columns of :func:`activation_region_limits`; rows and columns
    keep their meaning for non-square arrays. No activated element gives an all-zero mask.

    Parameters
    ----------
    activation_region
        2-D Grad-CAM activation array [shape=(rows, cols)].
    threshold
        Smallest value that counts as activated (exclusive).
    """
    arr = np.asarray(activation_region)
    limits = activation_region_limits(arr, threshold)
    box = np.zeros(arr.shape, dtype=np.int64)
    if limits is not None:
        (r0, r1), (c0, c1) = limits
        box[r0 : r1 + 1, c0 : c1 + 1] = 1
    return box


def in_box(x: float, y: float, box_lims: Sequence[Sequence[float]]) -> bool:
    """Return True if ``(x, y)`` lies within ``[[x_low, x_high], [y_low, y_high]]`` (inclusive)."""
    (x0, x1), (y0, y1) = box_lims
    return bool(x0 <= x <= x1 and y0 <= y <= y1)
