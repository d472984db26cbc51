"""Time differences of arrival from audio: generalized cross-correlation (GCC-PHAT and plain CC).

Conventions: ``reference`` and ``signal`` are two receivers' samples of the same sound, the
signal's first sample lying ``offset`` seconds after the reference's first sample (on a common
clock). The delay is how much later the sound reaches the signal's receiver than the
reference's: positive means later, in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import fft

from opso.domain.errors import ParameterError

CCMethod = Literal["phat", "cc"]
F64 = NDArray[np.float64]
F32 = NDArray[np.float32]
C64 = NDArray[np.complex64]


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


@dataclass(frozen=True, slots=True, eq=False)
class DelayBatch:
    """Time differences of arrival of many receiver pairs.

    Attributes
    ----------
    delays
        Delay of each pair in seconds, NaN where ``errors`` says why not [shape=(P,)].
    scores
        Height of each pair's correlation peak, NaN where not measured [shape=(P,)].
    errors
        ``""`` for a measured pair, else the message :func:`estimate_delay` raises for it.
    """

    delays: F64
    scores: F64
    errors: tuple[str, ...]


def estimate_delays(
    segments: Sequence[ArrayLike],
    pairs: Sequence[tuple[int, int]],
    *,
    sample_rate: float,
    method: CCMethod = "phat",
    bands: Sequence[tuple[float, float] | None] | None = None,
    max_delays: Sequence[float | None] | None = None,
    offsets: Sequence[float] | None = None,
) -> DelayBatch:
    """Estimate the delays of many receiver pairs, each as :func:`estimate_delay` would.

    Each segment is transformed once per FFT size (the size is the pair's, as in
    :func:`estimate_delay`), every pair's cross-spectrum is weighted and transformed back in
    one batched call per size and band, and the peaks are searched only within each pair's
    plausible lags. A segment shared by several pairs (e.g. the reference of an event) is
    transformed once. The transforms run in single precision, which is finer than the
    samples of 16- or 24-bit audio: delays agree with :func:`estimate_delay` to about
    1e-10 s and scores to about 1e-6.

    Parameters
    ----------
    segments
        Receivers' samples [shape=(n_k,)] each, at ``sample_rate``.
    pairs
        ``(reference, signal)`` indices into ``segments``, one per pair.
    sample_rate, method
        As in :func:`cross_correlation`.
    bands, max_delays, offsets
        One ``band``, ``max_delay`` and ``offset`` (as in :func:`estimate_delay`) per pair;
        None gives every pair None, None and 0.

    Returns
    -------
    DelayBatch
        One delay and score per pair, or the reason it could not be measured (an invalid
        segment or band, or no lag within its ``max_delay``).

    Raises
    ------
    ValueError
        If the sample rate or method is invalid, or the per-pair sequences differ in length.
    """
    if not sample_rate > 0:
        raise ParameterError(f"sample_rate must be > 0 Hz, got {sample_rate!r}")
    if method not in ("phat", "cc"):
        raise ParameterError(f"method must be 'phat' or 'cc', got {method!r}")
    count = len(pairs)
    band_of = list(bands) if bands is not None else [None] * count
    limit_of = list(max_delays) if max_delays is not None else [None] * count
    shift_of = [float(o) for o in offsets] if offsets is not None else [0.0] * count
    if not len(band_of) == len(limit_of) == len(shift_of) == count:
        raise ParameterError("bands, max_delays and offsets need one value per pair")
    arrays: dict[int, NDArray[np.floating[Any]]] = {}
    invalid: dict[int, str] = {}
    for k, seg in enumerate(segments):
        arr = np.asarray(seg)
        if arr.dtype.kind != "f":
            arr = arr.astype(np.float64)
        if arr.ndim != 1 or arr.size == 0:
            invalid[k] = f"must be a non-empty 1-D array, got shape {arr.shape}"
        elif not np.all(np.isfinite(arr)):
            invalid[k] = "holds NaN or infinite samples"
        else:
            arrays[k] = arr
    delays = np.full(count, np.nan)
    scores = np.full(count, np.nan)
    errors = [""] * count
    jobs: dict[tuple[int, tuple[float, float] | None], list[int]] = {}
    for p, (ref, sig) in enumerate(pairs):
        if ref in invalid:
            errors[p] = f"reference {invalid[ref]}"
        elif sig in invalid:
            errors[p] = f"signal {invalid[sig]}"
        else:
            n = fft.next_fast_len(len(arrays[ref]) + len(arrays[sig]) - 1, real=True)
            band = band_of[p]
            jobs.setdefault((n, None if band is None else _band_key(band)), []).append(p)
    # One FFT per segment and size, all segments of a size in one call.
    spectra: dict[int, tuple[C64, dict[int, int]]] = {}
    for n in sorted({n for n, _ in jobs}):
        wanted = sorted(
            {k for (m, _), rows in jobs.items() if m == n for p in rows for k in pairs[p]}
        )
        # Single precision (the samples are 16- or 24-bit audio decoded to float32); padded to
        # n here so that rfft does not copy again.
        stack = np.zeros((len(wanted), n), dtype=np.float32)
        for row, k in enumerate(wanted):
            stack[row, : len(arrays[k])] = arrays[k]
        table = fft.rfft(stack, axis=-1)
        spectra[n] = (table, {k: row for row, k in enumerate(wanted)})
    for (n, band), rows in jobs.items():
        freqs = np.asarray(np.fft.rfftfreq(n, d=1.0 / sample_rate), dtype=np.float64)
        try:
            mask = _band_mask(freqs, band, sample_rate)
        except ParameterError as e:
            for p in rows:
                errors[p] = str(e)
            continue
        _correlate_group(
            rows,
            n,
            mask,
            pairs,
            arrays,
            spectra,
            sample_rate=sample_rate,
            method=method,
            limits=limit_of,
            shifts=shift_of,
            out=(delays, scores, errors),
        )
    return DelayBatch(delays=delays, scores=scores, errors=tuple(errors))


def _band_key(band: tuple[float, float]) -> tuple[float, float]:
    return (float(band[0]), float(band[1]))


def _limit(max_delay: float | None) -> float:
    return math.inf if max_delay is None else float(max_delay)


def _correlate_group(
    rows: list[int],
    n: int,
    mask: F64,
    pairs: Sequence[tuple[int, int]],
    arrays: dict[int, NDArray[np.floating[Any]]],
    spectra: dict[int, tuple[C64, dict[int, int]]],
    *,
    sample_rate: float,
    method: CCMethod,
    limits: Sequence[float | None],
    shifts: Sequence[float],
    out: tuple[F64, F64, list[str]],
) -> None:
    """Correlate the pairs that share an FFT size and band; write delays, scores, errors.

    Outside the band every spectrum is masked to zero, so the cross-spectra are formed and
    weighted on the band's bins only and zero-filled for the inverse FFT: the same numbers as
    :func:`cross_correlation`, with fewer operations.
    """
    delays, scores, errors = out
    refs = [pairs[p][0] for p in rows]
    sigs = [pairs[p][1] for p in rows]
    table, row_of = spectra[n]
    inband = np.flatnonzero(mask)
    bins = slice(int(inband[0]), int(inband[-1]) + 1)
    xf = table[[row_of[k] for k in refs], bins]
    yf = table[[row_of[k] for k in sigs], bins]
    cross = yf * np.conj(xf)
    nx = np.array([len(arrays[k]) for k in refs])
    ny = np.array([len(arrays[k]) for k in sigs])

    def inverse(band_part: C64) -> F32:
        full = np.zeros((len(rows), len(mask)), dtype=np.complex64)
        full[:, bins] = band_part
        return np.asarray(fft.irfft(full, n, axis=-1), dtype=np.float32)

    scale = 1.0
    if method == "phat":
        mag = np.abs(cross)
        top = mag.max(axis=1, keepdims=True)
        floor = np.where(top > 0, 1e-12 * top, 1.0).astype(np.float32)
        twice = np.full(len(mask), 2.0)
        twice[0] = 1.0
        if n % 2 == 0:
            twice[-1] = 1.0
        norm = float(np.sum(twice * mask)) / n
        cc = inverse(cross * (np.float32(1.0) / np.maximum(mag, floor)))
        scale = norm if norm > 0 else 1.0
    else:
        cc = inverse(cross)
        xb = inverse(xf)
        yb = inverse(yf)
    # Each pair's plausible lags (delays within max_delay that both windows cover) are one
    # interval [first, last]; cc is read there and one lag beyond each end (the parabola's).
    offset = np.array([shifts[p] for p in rows])
    limit = np.array([_limit(limits[p]) for p in rows])
    for p, lim in zip(rows, limit, strict=True):
        given = limits[p]
        if not lim >= 0 or (given is not None and not math.isfinite(given)):
            errors[p] = f"max_delay must be a finite number >= 0 s, got {given!r}"
    bad = np.array([bool(errors[p]) for p in rows])
    first, last = _lag_interval(nx, ny, offset, limit + 0.5 / sample_rate, sample_rate)
    found = (first <= last) & ~bad
    first = np.where(found, first, 0)
    span = np.where(found, last - first + 1, 1)
    steps = np.arange(int(span.max()) + 2)
    lags = (first - 1)[:, None] + steps
    values: NDArray[np.floating[Any]] = np.take_along_axis(cc, lags % n, axis=1)
    if method == "cc":
        inside = (lags >= -(nx - 1)[:, None]) & (lags <= (ny - 1)[:, None])
        values = values.astype(np.float64) / _sliding_norms(xb, yb, nx, ny, lags, inside)
    allowed = (steps >= 1) & (steps <= span[:, None])
    best = np.argmax(np.where(allowed, values, -np.inf), axis=1)
    pick = np.arange(len(rows))
    mid = values[pick, best].astype(np.float64) / scale
    left = values[pick, best - 1].astype(np.float64) / scale
    right = values[pick, best + 1].astype(np.float64) / scale
    curve = left - 2.0 * mid + right
    refine = (best > 1) & (best < span) & (curve < 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(refine, np.clip(0.5 * (left - right) / curve, -0.5, 0.5), 0.0)
    for i, p in enumerate(rows):
        if bad[i]:
            continue
        if not found[i]:
            errors[p] = (
                f"no lag of these windows lies within ±{limits[p]} s; the windows do not "
                "overlap around the plausible delays"
            )
            continue
        lag = int(first[i] - 1 + best[i])
        delays[p] = (lag / sample_rate + offset[i]) + float(frac[i]) / sample_rate
        scores[p] = float(mid[i])


def _lag_interval(
    nx: NDArray[np.int64],
    ny: NDArray[np.int64],
    offset: F64,
    reach: F64,
    sample_rate: float,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return the first and last lag of each pair with ``|lag / sr + offset| <= reach``.

    Lags run from ``-(nx - 1)`` to ``ny - 1``; ``first > last`` where none qualifies. The ends
    are found by testing, in the same floating-point expression :func:`estimate_delay` uses,
    the few lags around the exact bounds, so both agree on every lag.
    """
    lowest, highest = -(nx - 1), ny - 1
    finite = np.isfinite(reach)
    steps = np.arange(-2, 3)

    def near(bound: F64) -> NDArray[np.int64]:
        guess = np.where(finite, bound * sample_rate, 0.0)
        guess = np.clip(np.round(guess), lowest - 3, highest + 3).astype(np.int64)
        return guess[:, None] + steps

    def within(lags: NDArray[np.int64]) -> NDArray[np.bool_]:
        return np.asarray(np.abs(lags / sample_rate + offset[:, None]) <= reach[:, None])

    low = near(-reach - offset)
    ok = within(low)
    start = np.where(ok.any(axis=1), low[np.arange(len(low)), np.argmax(ok, axis=1)], highest + 1)
    high = near(reach - offset)
    ok = within(high)
    stop = np.where(
        ok.any(axis=1), high[np.arange(len(high)), 4 - np.argmax(ok[:, ::-1], axis=1)], lowest - 1
    )
    start = np.where(finite, np.maximum(start, lowest), lowest)
    stop = np.where(finite, np.minimum(stop, highest), highest)
    return start.astype(np.int64), stop.astype(np.int64)


def _sliding_norms(
    xb: F32,
    yb: F32,
    nx: NDArray[np.int64],
    ny: NDArray[np.int64],
    lags: NDArray[np.int64],
    inside: NDArray[np.bool_],
) -> F64:
    """:func:`_sliding_norm` of each row, at the given lags only [shape=lags.shape]."""
    cols = np.arange(xb.shape[1])
    ex = np.sum(np.where(cols < nx[:, None], xb.astype(np.float64), 0.0) ** 2, axis=1)
    cum = np.zeros((len(yb), yb.shape[1] + 1))
    np.cumsum(np.where(cols < ny[:, None], yb.astype(np.float64), 0.0) ** 2, axis=1, out=cum[:, 1:])
    start = np.clip(lags, 0, ny[:, None])
    stop = np.clip(lags + nx[:, None], 0, ny[:, None])
    ey = np.take_along_axis(cum, stop, axis=1) - np.take_along_axis(cum, start, axis=1)
    norm = np.sqrt(ex[:, None] * np.maximum(ey, 0.0))
    return np.where(inside & (norm > 0), norm, np.inf)
