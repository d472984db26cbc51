"""Signal-processing maths on sample arrays: filters, spectra, windowed energy.

``scipy.signal`` (slow to import) is imported by the filters that use it, so that importing
:mod:`opso.domain.audio` stays cheap for CLI start-up and batch workers.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from opso.domain.errors import ParameterError


def butter_bandpass(
    low_f: float, high_f: float, sample_rate: float, order: int = 9
) -> NDArray[np.float64]:
    """Design a Butterworth band-pass filter as second-order sections.

    Parameters
    ----------
    low_f, high_f
        -3 dB cut-off frequencies in Hz, ``0 < low_f < high_f < sample_rate / 2``.
    sample_rate
        Sample rate in Hz.
    order
        Filter order (steepness of the cut-off).

    Returns
    -------
    numpy.ndarray
        Second-order sections [shape=(n_sections, 6)] for :func:`scipy.signal.sosfiltfilt`.

    Raises
    ------
    ValueError
        If the band is inverted, outside ``(0, Nyquist)`` or the order is not positive.
    """
    from scipy import signal as sps

    nyquist = 0.5 * sample_rate
    if order < 1:
        raise ParameterError(f"filter order must be a positive integer, got {order!r}")
    if not 0 < low_f < high_f < nyquist:
        raise ParameterError(
            f"band-pass needs 0 < low_f < high_f < Nyquist ({nyquist} Hz), "
            f"got low_f={low_f!r}, high_f={high_f!r}"
        )
    sos = sps.butter(order, [low_f / nyquist, high_f / nyquist], btype="band", output="sos")
    return np.asarray(sos, dtype=np.float64)


def bandpass_filter(
    signal: ArrayLike, low_f: float, high_f: float, sample_rate: float, order: int = 9
) -> NDArray[np.float64]:
    """Apply a zero-phase Butterworth band-pass filter (``sosfiltfilt``).

    Parameters
    ----------
    signal
        Discrete-time signal [shape=(n,)].
    low_f, high_f
        -3 dB cut-off frequencies in Hz.
    sample_rate
        Sample rate in Hz.
    order
        Filter order.

    Returns
    -------
    numpy.ndarray
        The filtered signal [shape=(n,)].
    """
    from scipy.signal import sosfiltfilt

    sos = butter_bandpass(low_f, high_f, sample_rate, order)
    x = np.asarray(signal, dtype=np.float64)
    padlen = min(3 * (2 * len(sos) + 1), max(len(x) - 1, 0))
    return np.asarray(sosfiltfilt(sos, x, padlen=padlen), dtype=np.float64)


def spectrum(
    samples: ArrayLike, sample_rate: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the one-sided magnitude spectrum of a real signal and its frequencies in Hz.

    The magnitude is scaled by ``2 / n`` as in OpenSoundscape 0.4, so a sine of amplitude
    ``A`` peaks at ``A`` at its frequency (and a constant ``c`` reads ``2 c`` at 0 Hz, as
    there). Both arrays have shape ``(n // 2 + 1,)``.
    """
    x = np.asarray(samples, dtype=np.float64)
    fft = np.abs(np.fft.rfft(x)) * (2.0 / max(len(x), 1))
    freqs = np.fft.rfftfreq(len(x), d=1.0 / sample_rate).astype(np.float64)
    return fft, freqs


def window_energy(
    samples: ArrayLike, window_len_samples: int = 256, overlap_len_samples: int = 128
) -> NDArray[np.float64]:
    """Return the mean energy of each sliding window of a signal.

    Energy is the mean of the squared samples in each window of ``window_len_samples``,
    windows advancing by ``window_len_samples - overlap_len_samples``. Only complete windows
    are used; a signal shorter than one window gives one window over the whole signal.

    Raises
    ------
    ValueError
        If the window is not positive or the overlap is not in ``[0, window)``.
    """
    if window_len_samples < 1:
        raise ParameterError(f"window_len_samples must be positive, got {window_len_samples!r}")
    if not 0 <= overlap_len_samples < window_len_samples:
        raise ParameterError(
            f"overlap_len_samples must be in [0, {window_len_samples}), got {overlap_len_samples!r}"
        )
    x = np.asarray(samples, dtype=np.float64)
    if len(x) == 0:
        return np.zeros(0, dtype=np.float64)
    if len(x) < window_len_samples:
        return np.array([np.mean(x**2)])
    hop = window_len_samples - overlap_len_samples
    windows = np.lib.stride_tricks.sliding_window_view(x, window_len_samples)[::hop]
    return np.asarray(np.einsum("ij,ij->i", windows, windows) / window_len_samples)


def clipping_detector(samples: ArrayLike, threshold: float = 0.6) -> int:
    """Count the samples whose absolute value exceeds ``threshold``."""
    return int(np.count_nonzero(np.abs(np.asarray(samples, dtype=np.float64)) > threshold))


def silence_score(
    samples: ArrayLike,
    *,
    smoothing_factor: int = 10,
    window_len_samples: int = 256,
    overlap_len_samples: int = 128,
) -> float:
    """Return a file's peak net energy over its background (the spec's ``silence_filter`` score).

    Window energies are smoothed with a moving average of ``smoothing_factor`` windows; the
    score is the largest smoothed energy divided by the mean energy, minus one. Silence (all
    zeros) scores 0.
    """
    energy = window_energy(samples, window_len_samples, overlap_len_samples)
    if energy.size == 0 or not np.any(energy > 0):
        return 0.0
    k = max(1, min(int(smoothing_factor), energy.size))
    smoothed = np.convolve(energy, np.ones(k) / k, mode="valid")
    return float(np.max(smoothed) / np.mean(energy) - 1.0)
