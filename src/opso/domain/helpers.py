"""Small numeric helpers of the spec's ``helpers`` module."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from opso.domain.errors import ParameterError


def binarize(x: ArrayLike, threshold: float) -> list[int] | list[list[int]]:
    """Return 1 where ``x > threshold`` (strictly) and 0 elsewhere, as (nested) lists.

    Parameters
    ----------
    x
        Values [shape=(n,)] or [shape=(n_rows, n_columns)].
    threshold
        Values equal to it give 0, as in OpenSoundscape 0.4.

    Returns
    -------
    list of int, or list of lists of int
        The same shape as ``x``.

    Raises
    ------
    ValueError
        If ``x`` is not one- or two-dimensional.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim not in (1, 2):
        raise ParameterError(f"binarize takes a 1-D or 2-D array, got shape {arr.shape}")
    out: list[int] | list[list[int]] = (arr > threshold).astype(int).tolist()
    return out


def bound(x: float, bounds: tuple[float, float] | list[float]) -> float:
    """Restrict ``x`` to ``[bounds[0], bounds[1]]``."""
    low, high = bounds
    return min(max(x, low), high)


def file_name(path: str | Path) -> str:
    """Return a path's file name without its extension."""
    return Path(path).stem


def hex_to_time(s: str) -> dt.datetime:
    """Convert a hexadecimal Unix time (as in AudioMoth file names) to a UTC datetime.

    Raises
    ------
    ValueError
        If ``s`` is not a hexadecimal number.
    """
    try:
        seconds = int(s, 16)
    except ValueError as e:
        raise ParameterError(f"not a hexadecimal Unix time: {s!r}") from e
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def isNan(x: Any) -> bool:  # noqa: N802 - spec name
    """Return True if ``x`` is a float NaN (a value not equal to itself)."""
    return bool(x != x)


def jitter(
    x: ArrayLike,
    width: float,
    distribution: Literal["gaussian", "uniform"] = "gaussian",
    *,
    rng: np.random.Generator | None = None,
) -> NDArray[np.float64]:
    """Add random noise to each value of ``x``.

    Parameters
    ----------
    x
        Scalar or array.
    width
        Standard deviation (``"gaussian"``) or half-width (``"uniform"``) of the noise.
    distribution
        ``"gaussian"`` or ``"uniform"`` on ``[-width, width]``.
    rng
        Random generator; a fresh unseeded one when None.
    """
    gen = rng if rng is not None else np.random.default_rng()
    arr = np.asarray(x, dtype=np.float64)
    if distribution == "gaussian":
        noise = gen.normal(0.0, width, size=arr.shape)
    elif distribution == "uniform":
        noise = gen.uniform(-width, width, size=arr.shape)
    else:
        raise ParameterError(f"distribution must be 'gaussian' or 'uniform', got {distribution!r}")
    return np.asarray(arr + noise)


def linear_scale(
    array: ArrayLike,
    in_range: tuple[float, float] = (0, 1),
    out_range: tuple[float, float] = (0, 255),
) -> NDArray[np.float64]:
    """Map values linearly from ``in_range`` to ``out_range`` (values outside are extrapolated).

    Raises
    ------
    ValueError
        If ``in_range`` has zero width.
    """
    lo, hi = in_range
    if hi == lo:
        raise ParameterError(f"in_range must have non-zero width, got {in_range!r}")
    arr = np.asarray(array, dtype=np.float64)
    return np.asarray((arr - lo) / (hi - lo) * (out_range[1] - out_range[0]) + out_range[0])


def min_max_scale(
    array: ArrayLike, feature_range: tuple[float, float] = (0, 1)
) -> NDArray[np.float64]:
    """Rescale values linearly so that their minimum and maximum map to ``feature_range``.

    A constant array maps to ``feature_range[0]``.
    """
    arr = np.asarray(array, dtype=np.float64)
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if hi == lo:
        return np.full_like(arr, feature_range[0])
    return linear_scale(arr, (lo, hi), feature_range)


def rescale_features(
    X: ArrayLike,  # noqa: N803 - spec name
    rescaling_vector: ArrayLike | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Divide each feature (column) by its maximum absolute value.

    Parameters
    ----------
    X
        Feature matrix [shape=(n_samples, n_features)].
    rescaling_vector
        Per-feature divisors [shape=(n_features,)] from an earlier call, to rescale a new
        data set consistently; computed from ``X`` when None. All-zero features keep divisor 1.

    Returns
    -------
    tuple
        The rescaled features and the rescaling vector.
    """
    arr = np.asarray(X, dtype=np.float64)
    if rescaling_vector is None:
        vec = np.max(np.abs(arr), axis=0)
        vec = np.where(vec == 0, 1.0, vec)
    else:
        vec = np.asarray(rescaling_vector, dtype=np.float64)
    return arr / vec, vec


def sigmoid(x: ArrayLike) -> NDArray[np.float64]:
    """Return the logistic sigmoid ``1 / (1 + exp(-x))`` computed without overflow."""
    arr = np.asarray(x, dtype=np.float64)
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * arr)))
