"""RIBBIT: score periodic (pulsed) calls by the pulse-rate spectrum of a band's amplitude.

For each analysis window, RIBBIT takes the spectrogram's net amplitude in the signal band
(minus the noise bands), computes the power spectral density of that amplitude signal
(Welch), and scores the window by the highest density between the species' pulse rates.

Windows (see docs/decisions/0044-ribbit-window-times.md)
---------------------------------------------------------
Window ``k`` covers ``[k * window_len, (k + 1) * window_len)`` seconds on the spectrogram's
time axis and holds the frames whose centre time falls inside it. Its start time is exactly
``k * window_len``: times never drift from rounding a frame count. A window is scored when its
frames span at least half of ``window_len``; so the final partial window is scored (with the
frames it has) if it holds at least ``window_len / 2`` of audio, and dropped otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import signal

from opso.domain.errors import ParameterError
from opso.domain.spectrogram import Spectrogram

Band = tuple[float, float]

#: Called for each scored window with its start time, the pulse-rate frequencies and densities.
WindowObserver = Callable[[float, NDArray[np.float64], NDArray[np.float64]], None]

#: Welch segment length (frames) when the window holds at least this many.
_SEGMENT = 256
#: Frame-time tolerance, as a fraction of a frame step, for window boundaries.
_TOL = 1e-6


def _band(values: Sequence[float] | ArrayLike, name: str) -> Band:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.shape != (2,) or not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name} must be [low, high] in Hz, got {values!r}")
    low, high = float(arr[0]), float(arr[1])
    if not 0 <= low < high:
        raise ParameterError(f"{name} must satisfy 0 <= low < high, got [{low}, {high}]")
    return low, high


def _welch_rows(
    rows: NDArray[np.float64], fs: float, nfft: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Welch power spectral density of each row (all rows the same length), vectorised.

    Equal to ``scipy.signal.welch(row, fs, nperseg=min(256, n), nfft=max(nfft, nperseg))``:
    Hann (periodic) segments overlapping by half, each with its mean removed, one-sided
    density, averaged over segments.
    """
    n = rows.shape[1]
    nperseg = min(_SEGMENT, n)
    nfft = max(nfft, nperseg)
    step = nperseg - nperseg // 2
    window = signal.get_window("hann", nperseg)
    segments = np.lib.stride_tricks.sliding_window_view(rows, nperseg, axis=1)[:, ::step]
    segments = segments - segments.mean(axis=2, keepdims=True)
    spectra = np.fft.rfft(segments * window, n=nfft, axis=2)
    psd = (spectra.real**2 + spectra.imag**2).mean(axis=1) / (fs * float(np.sum(window**2)))
    if nfft % 2:
        psd[:, 1:] *= 2
    else:
        psd[:, 1:-1] *= 2
    freqs = np.asarray(np.fft.rfftfreq(nfft, d=1.0 / fs), dtype=np.float64)
    return freqs, np.asarray(psd, dtype=np.float64)


def pulse_rate_spectrum(
    amplitude: ArrayLike, amplitude_sample_rate: float, *, nfft: int = 1024
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the power spectral density of an amplitude signal (Welch) and its frequencies.

    The density equals ``scipy.signal.welch(amplitude, amplitude_sample_rate,
    nperseg=min(256, n), nfft=max(nfft, nperseg))``: Hann segments of up to 256 values
    overlapping by half, mean removed, one-sided, averaged.

    Parameters
    ----------
    amplitude
        Amplitude time series [shape=(n,)], e.g. a spectrogram band's net amplitude.
    amplitude_sample_rate
        Samples per second of ``amplitude`` in Hz (for a spectrogram, frames per second).
    nfft
        FFT length of each Welch segment; higher gives finer pulse-rate resolution.

    Returns
    -------
    tuple of numpy.ndarray
        ``(frequencies, psd)``, pulse rates in Hz and densities [shape=(nfft // 2 + 1,)].

    Raises
    ------
    ValueError
        If ``amplitude`` is empty or not 1-D, the rate is not positive or ``nfft`` < 1.
    """
    x = np.asarray(amplitude, dtype=np.float64)
    if x.ndim != 1:
        raise ParameterError(f"amplitude must be 1-D, got shape {x.shape}")
    if x.size == 0:
        raise ParameterError("amplitude is empty: RIBBIT needs at least one value to score")
    _check_rate_and_nfft(amplitude_sample_rate, nfft)
    f, psd = _welch_rows(x[np.newaxis, :], amplitude_sample_rate, nfft)
    return f, psd[0]


def _check_rate_and_nfft(amplitude_sample_rate: float, nfft: int) -> None:
    if not (math.isfinite(amplitude_sample_rate) and amplitude_sample_rate > 0):
        raise ParameterError(f"amplitude_sample_rate must be > 0 Hz, got {amplitude_sample_rate!r}")
    if nfft < 1:
        raise ParameterError(f"nfft must be a positive integer, got {nfft!r}")


def _in_range(
    f: NDArray[np.float64], psd: NDArray[np.float64], low: float, high: float
) -> NDArray[np.float64]:
    """Highest density strictly between ``low`` and ``high`` Hz per row (0 if none)."""
    inside = (f > low) & (f < high)
    if not np.any(inside):
        return np.zeros(psd.shape[:-1], dtype=np.float64)
    return np.asarray(np.max(psd[..., inside], axis=-1), dtype=np.float64)


def calculate_pulse_score(
    amplitude: ArrayLike,
    amplitude_sample_rate: float,
    pulse_rate_range: Sequence[float],
    *,
    nfft: int = 1024,
    on_spectrum: WindowObserver | None = None,
) -> float:
    """Score amplitude pulsing: the highest power spectral density within the pulse rates.

    Parameters
    ----------
    amplitude
        Amplitude time series [shape=(n,)].
    amplitude_sample_rate
        Samples per second of ``amplitude`` in Hz.
    pulse_rate_range
        ``[low, high]`` pulse rates in Hz; densities strictly between them count.
    nfft
        FFT length of each Welch segment.
    on_spectrum
        Optional observer given ``(0.0, frequencies, psd)`` (e.g. to plot the spectrum).

    Returns
    -------
    float
        The score (>= 0); 0 when no spectrum frequency lies inside ``pulse_rate_range``.

    Raises
    ------
    ValueError
        If ``amplitude`` is empty or ``pulse_rate_range`` is not ``0 <= low < high``.
    """
    low, high = _band(pulse_rate_range, "pulse_rate_range")
    f, psd = pulse_rate_spectrum(amplitude, amplitude_sample_rate, nfft=nfft)
    if on_spectrum is not None:
        on_spectrum(0.0, f, psd)
    return float(_in_range(f, psd, low, high))


@dataclass(frozen=True, slots=True)
class AnalysisWindow:
    """One RIBBIT window: frames ``[first, stop)`` covering ``[start_time, start_time + len)``."""

    start_time: float
    first: int
    stop: int


def analysis_windows(times: ArrayLike, window_len: float) -> list[AnalysisWindow]:
    """Lay windows of ``window_len`` seconds over frame times (see the module's window rule).

    Parameters
    ----------
    times
        Increasing, evenly spaced frame centre times in seconds [shape=(n,)], n >= 2.
    window_len
        Window length in seconds.

    Returns
    -------
    list of AnalysisWindow
        The scored windows in time order; start times are exact multiples of ``window_len``.

    Raises
    ------
    ValueError
        If ``window_len`` is not positive or there are fewer than two increasing times.
    """
    t = np.asarray(times, dtype=np.float64)
    if not (math.isfinite(window_len) and window_len > 0):
        raise ParameterError(f"window_len must be > 0 seconds, got {window_len!r}")
    if t.ndim != 1 or t.size < 2:
        raise ParameterError(f"RIBBIT needs at least two spectrogram frames, got {t.size}")
    step = (t[-1] - t[0]) / (t.size - 1)
    if not step > 0:
        raise ParameterError("spectrogram times must increase")
    tol = _TOL * step
    first_k = math.floor((t[0] + tol) / window_len)
    last_k = math.floor((t[-1] + tol) / window_len)
    ks = np.arange(first_k, last_k + 2, dtype=np.float64)
    bounds = np.searchsorted(t, ks * window_len - tol, side="left")
    windows: list[AnalysisWindow] = []
    for i, k in enumerate(ks[:-1]):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        if hi > lo and (hi - lo) * step >= window_len / 2 - tol:
            windows.append(AnalysisWindow(float(k * window_len), lo, hi))
    return windows


def ribbit_amplitude(
    amplitude: ArrayLike,
    times: ArrayLike,
    pulse_rate_range: Sequence[float],
    window_len: float,
    *,
    nfft: int = 1024,
    on_window: WindowObserver | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Run RIBBIT's windowed scoring on an amplitude signal sampled at frame ``times``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(scores, window_start_times)`` [shape=(n_windows,)].

    Raises
    ------
    ValueError
        If ``amplitude`` and ``times`` differ in length or are empty, or a parameter is
        invalid.
    """
    x = np.asarray(amplitude, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    if x.size == 0:
        raise ParameterError("amplitude is empty: RIBBIT needs at least one value to score")
    if x.shape != t.shape:
        raise ParameterError(f"amplitude {x.shape} and times {t.shape} must have the same shape")
    low, high = _band(pulse_rate_range, "pulse_rate_range")
    _check_rate_and_nfft(1.0, nfft)
    windows = analysis_windows(t, window_len)
    rate = (t.size - 1) / (t[-1] - t[0])
    scores = np.empty(len(windows), dtype=np.float64)
    # Windows differ by at most a frame or two in length: score each length as one batch.
    by_length: dict[int, list[int]] = {}
    for i, w in enumerate(windows):
        by_length.setdefault(w.stop - w.first, []).append(i)
    for length, members in by_length.items():
        rows = np.stack([x[windows[i].first : windows[i].first + length] for i in members])
        f, psd = _welch_rows(rows, rate, nfft)
        scores[members] = _in_range(f, psd, low, high)
        if on_window is not None:
            for i, row_psd in zip(members, psd, strict=True):
                on_window(windows[i].start_time, f, row_psd)
    starts = np.array([w.start_time for w in windows], dtype=np.float64)
    return scores, starts


def ribbit(
    spectrogram: Spectrogram,
    signal_band: Sequence[float],
    pulse_rate_range: Sequence[float],
    window_len: float,
    noise_bands: Sequence[Sequence[float]] | None = None,
    *,
    nfft: int = 1024,
    on_window: WindowObserver | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Score each window of a spectrogram for calls pulsing within ``pulse_rate_range``.

    Parameters
    ----------
    spectrogram
        The recording's spectrogram (dB, as :meth:`Spectrogram.from_audio` makes it).
    signal_band
        ``[low, high]`` frequencies of the target call in Hz.
    pulse_rate_range
        ``[low, high]`` pulses per second of the target call.
    window_len
        Seconds of audio per score (see the module's window rule).
    noise_bands
        ``[[low, high], ...]`` bands in Hz whose amplitude is subtracted; None for none.
    nfft
        FFT length of the pulse-rate spectrum.
    on_window
        Optional observer given each window's start time, frequencies and densities.

    Returns
    -------
    tuple of numpy.ndarray
        ``(scores, window_start_times)``, one per window [shape=(n_windows,)].

    Raises
    ------
    ValueError
        If a band or rate range is invalid, ``window_len`` is not positive, or the
        spectrogram has fewer than two frames.
    """
    _band(signal_band, "signal_band")
    bands = None if noise_bands is None else [list(_band(b, "noise band")) for b in noise_bands]
    amplitude = spectrogram.net_amplitude(list(signal_band), bands or None)
    return ribbit_amplitude(
        amplitude,
        spectrogram.times,
        pulse_rate_range,
        window_len,
        nfft=nfft,
        on_window=on_window,
    )


@dataclass(frozen=True, slots=True)
class PulsePreset:
    """A species' pulsed call, as RIBBIT looks for it.

    Attributes
    ----------
    name
        Species (or call type) name.
    signal_band
        ``(low, high)`` frequencies in Hz.
    pulse_rate_range
        ``(low, high)`` pulses per second.
    window_len
        Seconds per score for this species.
    noise_bands
        Bands in Hz subtracted from the signal band.
    """

    name: str
    signal_band: Band
    pulse_rate_range: Band
    window_len: float
    noise_bands: tuple[Band, ...] = ()

    def __post_init__(self) -> None:
        _band(self.signal_band, f"{self.name}: signal_band")
        _band(self.pulse_rate_range, f"{self.name}: pulse_rate_range")
        for b in self.noise_bands:
            _band(b, f"{self.name}: noise band")
        if not (math.isfinite(self.window_len) and self.window_len > 0):
            raise ParameterError(f"{self.name}: window_len must be > 0 s, got {self.window_len!r}")


@dataclass(frozen=True, slots=True)
class PresetScores:
    """RIBBIT's scores of one preset over a recording."""

    preset: PulsePreset
    scores: NDArray[np.float64]
    start_times: NDArray[np.float64]

    @property
    def max_score(self) -> float:
        """Highest window score (NaN when there are no windows)."""
        return float(np.max(self.scores)) if self.scores.size else math.nan

    @property
    def time_of_max_score(self) -> float:
        """Start time of the highest-scoring window (NaN when there are no windows)."""
        return float(self.start_times[np.argmax(self.scores)]) if self.scores.size else math.nan


def ribbit_presets(
    spectrogram: Spectrogram,
    presets: Sequence[PulsePreset],
    *,
    nfft: int = 1024,
    on_window: Callable[[PulsePreset], WindowObserver | None] | None = None,
) -> list[PresetScores]:
    """Run RIBBIT once per preset, each with its own bands, pulse rates and window length."""
    results = []
    for p in presets:
        scores, starts = ribbit(
            spectrogram,
            p.signal_band,
            p.pulse_rate_range,
            p.window_len,
            [list(b) for b in p.noise_bands] or None,
            nfft=nfft,
            on_window=None if on_window is None else on_window(p),
        )
        results.append(PresetScores(p, scores, starts))
    return results
