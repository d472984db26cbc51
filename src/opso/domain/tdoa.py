"""Time differences of arrival from audio: generalized cross-correlation (GCC-PHAT and plain CC).

Conventions: ``reference`` and ``signal`` are two receivers' samples of the same sound, the
signal's first sample lying ``offset`` seconds after the reference's first sample (on a common
clock). The delay is how much later the sound reaches the signal's receiver than the
reference's: positive means later, in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import fft

from opso.domain.errors import ParameterError

CCMethod = Literal["phat", "cc"]
F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DelayEstimate:
    """One time difference of arrival.

    Attributes
    ----------
    delay
        Seconds by which the sound reaches the signal's receiver after the reference's.
    score
        Height of the normalised cross-correlation peak: about 1 for a clean copy, near 0 for
        unrelated noise (GCC-PHAT: the coherent fraction of the band; CC: the correlation
        coefficient of the band-limited signals at that lag).
    """

    delay: float
    score: float


def _signal(x: ArrayLike, name: str) -> F64:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ParameterError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name} holds NaN or infinite samples")
    return arr


def cross_correlation(
    reference: ArrayLike,
    signal: ArrayLike,
    *,
    sample_rate: float,
    method: CCMethod = "phat",
    band: tuple[float, float] | None = None,
    offset: float = 0.0,
) -> tuple[F64, F64]:
    """Return the generalized cross-correlation of two signals against delay.

    Parameters
    ----------
    reference, signal
        Samples of two receivers [shape=(n,)] and [shape=(m,)], at one sample rate.
    sample_rate
        Sample rate in Hz.
    method
        ``"phat"``: phase transform (every frequency in the band weighted equally, sharp peaks,
        robust to reverberation and coloured noise); ``"cc"``: plain cross-correlation,
        normalised to a correlation coefficient at each lag.
    band
        ``(low, high)`` in Hz: only this band is correlated (the call's band, so other sounds do
        not pull the peak); None uses every frequency but 0 Hz.
    offset
        Start of ``signal`` minus start of ``reference``, in seconds, on a common clock.

    Returns
    -------
    delays : numpy.ndarray
        Delay of the signal relative to the reference at each lag, in seconds [shape=(n+m-1,)].
    correlation : numpy.ndarray
        The normalised correlation at each delay [shape=(n+m-1,)].

    Raises
    ------
    ValueError
        If a signal is empty or not finite, the sample rate is not positive, or the band is
        empty or outside ``(0, sample_rate / 2]``.
    """
    x = _signal(reference, "reference")
    y = _signal(signal, "signal")
    if not sample_rate > 0:
        raise ParameterError(f"sample_rate must be > 0 Hz, got {sample_rate!r}")
    if method not in ("phat", "cc"):
        raise ParameterError(f"method must be 'phat' or 'cc', got {method!r}")
    nx, ny = len(x), len(y)
    n = fft.next_fast_len(nx + ny - 1, real=True)
    freqs = np.asarray(np.fft.rfftfreq(n, d=1.0 / sample_rate), dtype=np.float64)
    mask = _band_mask(freqs, band, sample_rate)
    xf = fft.rfft(x, n) * mask
    yf = fft.rfft(y, n) * mask
    cross = yf * np.conj(xf)
    if method == "phat":
        mag = np.abs(cross)
        floor = 1e-12 * float(mag.max()) if mag.size and mag.max() > 0 else 1.0
        weight = mask / np.maximum(mag, floor)
        # A pure delay then peaks at 1: irfft weights interior bins twice, DC and Nyquist once.
        twice = np.full(len(freqs), 2.0)
        twice[0] = 1.0
        if n % 2 == 0:
            twice[-1] = 1.0
        norm = float(np.sum(twice * mask)) / n
        cc = fft.irfft(cross * weight, n) / (norm if norm > 0 else 1.0)
    else:
        cc = fft.irfft(cross, n)
        xb = fft.irfft(xf, n)[:nx]
        yb = fft.irfft(yf, n)[:ny]
        cc = cc / _sliding_norm(xb, yb, n)
    lags = np.concatenate([np.arange(-(nx - 1), 0), np.arange(0, ny)])
    values = np.concatenate([cc[n - (nx - 1) :], cc[:ny]]) if nx > 1 else cc[:ny]
    return lags / sample_rate + offset, np.asarray(values, dtype=np.float64)


def _band_mask(freqs: F64, band: tuple[float, float] | None, sample_rate: float) -> F64:
    nyquist = sample_rate / 2
    if band is None:
        return (freqs > 0).astype(np.float64)
    low, high = float(band[0]), float(band[1])
    if not (0 <= low < high) or low >= nyquist:
        raise ParameterError(
            f"band must satisfy 0 <= low < high with low below Nyquist ({nyquist} Hz), got {band!r}"
        )
    mask = ((freqs >= low) & (freqs <= high) & (freqs > 0)).astype(np.float64)
    if not mask.any():
        raise ParameterError(f"band {band!r} holds no frequency bin at {sample_rate} Hz")
    return mask


def _sliding_norm(xb: F64, yb: F64, n: int) -> F64:
    """``sqrt(E_x * E_y(lag))`` at each circular lag, E_y over the overlap with the reference."""
    nx, ny = len(xb), len(yb)
    ex = float(np.sum(xb**2))
    cum = np.concatenate([[0.0], np.cumsum(yb**2)])
    lag = np.arange(n)
    lag = np.where(lag >= ny, lag - n, lag)  # circular index -> signed lag
    start = np.clip(lag, 0, ny)
    stop = np.clip(lag + nx, 0, ny)
    ey = cum[stop] - cum[start]
    norm = np.sqrt(ex * np.maximum(ey, 0.0))
    return np.where(norm > 0, norm, np.inf)


def estimate_delay(
    reference: ArrayLike,
    signal: ArrayLike,
    *,
    sample_rate: float,
    method: CCMethod = "phat",
    band: tuple[float, float] | None = None,
    max_delay: float | None = None,
    offset: float = 0.0,
) -> DelayEstimate:
    """Estimate the time difference of arrival between two receivers.

    The peak of :func:`cross_correlation` within ``[-max_delay, max_delay]``, refined to a
    fraction of a sample by fitting a parabola through the peak and its neighbours.

    Parameters
    ----------
    reference, signal, sample_rate, method, band, offset
        As in :func:`cross_correlation`.
    max_delay
        Largest plausible delay magnitude in seconds, e.g. the receivers' distance over the
        speed of sound; None allows every lag.

    Returns
    -------
    DelayEstimate
        The delay in seconds and the peak's score.

    Raises
    ------
    ValueError
        As :func:`cross_correlation`, or if no lag falls within ``max_delay``.
    """
    delays, cc = cross_correlation(
        reference, signal, sample_rate=sample_rate, method=method, band=band, offset=offset
    )
    allowed = np.ones(len(delays), dtype=bool)
    if max_delay is not None:
        if not max_delay >= 0 or not math.isfinite(max_delay):
            raise ParameterError(f"max_delay must be a finite number >= 0 s, got {max_delay!r}")
        allowed = np.abs(delays) <= max_delay + 0.5 / sample_rate
    if not allowed.any():
        raise ParameterError(
            f"no lag of these windows lies within ±{max_delay} s; the windows do not overlap "
            "around the plausible delays"
        )
    idx = np.flatnonzero(allowed)
    k = int(idx[np.argmax(cc[idx])])
    shift = 0.0
    if 0 < k < len(cc) - 1 and allowed[k - 1] and allowed[k + 1]:
        left, mid, right = cc[k - 1], cc[k], cc[k + 1]
        curve = left - 2.0 * mid + right
        if curve < 0:
            shift = float(np.clip(0.5 * (left - right) / curve, -0.5, 0.5))
    delay = float(delays[k]) + shift / sample_rate
    return DelayEstimate(delay=delay, score=float(cc[k]))
