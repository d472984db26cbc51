"""Spectrogram maths on sample arrays: windowed power spectra in dB, mel filterbanks, PCEN.

Pure numpy/scipy. :class:`opso.domain.spectrogram.Spectrogram` wraps these in a value object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import fft as sp_fft, signal

from opso.domain.errors import SpectrogramParameterError

#: A scipy window: a name (``"hann"``), a name with parameters (``("kaiser", 8.0)``).
WindowSpec = str | tuple[Any, ...]


def check_window(window_samples: int, overlap_samples: int) -> int:
    """Validate window and overlap sizes and return the hop (samples between windows).

    Raises
    ------
    SpectrogramParameterError
        If ``window_samples < 2`` or ``overlap_samples`` is not in ``[0, window_samples)``.
    """
    if isinstance(window_samples, bool) or not isinstance(window_samples, int | np.integer):
        raise SpectrogramParameterError(
            f"window_samples must be an integer, got {window_samples!r}"
        )
    if isinstance(overlap_samples, bool) or not isinstance(overlap_samples, int | np.integer):
        raise SpectrogramParameterError(
            f"overlap_samples must be an integer, got {overlap_samples!r}"
        )
    if window_samples < 2:
        raise SpectrogramParameterError(f"window_samples must be >= 2, got {window_samples}")
    if not 0 <= overlap_samples < window_samples:
        raise SpectrogramParameterError(
            f"overlap_samples must be in [0, window_samples={window_samples}), "
            f"got {overlap_samples}"
        )
    return int(window_samples) - int(overlap_samples)


def check_decibel_limits(decibel_limits: tuple[float, float]) -> tuple[float, float]:
    """Return ``decibel_limits`` as a ``(low, high)`` tuple of floats.

    Raises
    ------
    SpectrogramParameterError
        If it is not two finite numbers with ``low < high``.
    """
    try:
        low, high = (float(v) for v in decibel_limits)
    except (TypeError, ValueError) as e:
        raise SpectrogramParameterError(
            f"decibel_limits must be two numbers (low, high), got {decibel_limits!r}"
        ) from e
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise SpectrogramParameterError(
            f"decibel_limits must be finite with low < high, got {decibel_limits!r}"
        )
    return low, high


def frame_count(n_samples: int, window_samples: int, hop: int) -> int:
    """Return how many whole windows fit in ``n_samples`` (0 when the signal is shorter)."""
    if n_samples < window_samples:
        return 0
    return (n_samples - window_samples) // hop + 1


def get_window(window_type: WindowSpec, window_samples: int) -> NDArray[np.float64]:
    """Return scipy's periodic window ``window_type`` of ``window_samples`` samples.

    Raises
    ------
    SpectrogramParameterError
        If scipy does not know the window.
    """
    try:
        win = signal.get_window(window_type, window_samples)
    except (ValueError, TypeError) as e:
        raise SpectrogramParameterError(f"unknown window_type {window_type!r}: {e}") from e
    return np.asarray(win, dtype=np.float64)


#: Frames per block of :class:`FrameSpectra`: a block's frames and spectra stay in a core's cache.
BLOCK_FRAMES = 512


@dataclass(frozen=True, slots=True, eq=False)
class FrameSpectra:
    """A signal cut into windowed frames, turned into power spectra (or dB) block by block.

    The arithmetic is ``scipy.signal.spectrogram(samples, sample_rate, window=window_type,
    nperseg=window_samples, noverlap=overlap_samples, scaling="spectrum")``'s, in the signal's
    precision: each frame detrended by its mean, windowed, ``rfft``, ``|X|^2`` times
    ``1 / sum(window)^2``, the one-sided bins doubled. Working in blocks of
    :data:`BLOCK_FRAMES` frames, straight into the time-major result, keeps each block in
    cache and makes no full-size temporaries. Blocks are independent: threads may fill
    different blocks of one result at once (numpy and pocketfft release the GIL), with the
    same values as one thread. Build it with :meth:`of`.
    """

    samples: NDArray[np.floating[Any]]
    window: NDArray[np.floating[Any]]
    hop: int
    scale: float
    frequencies: NDArray[np.float64]
    times: NDArray[np.float64]

    @classmethod
    def of(
        cls,
        samples: NDArray[np.floating[Any]],
        sample_rate: float,
        *,
        window_type: WindowSpec = "hann",
        window_samples: int = 512,
        overlap_samples: int = 256,
    ) -> FrameSpectra:
        """Plan the frames of ``samples`` [shape=(n,)]; float32 stays float32, else float64.

        Raises
        ------
        SpectrogramParameterError
            If the window or overlap is invalid, or ``samples`` is not 1-D.
        """
        hop = check_window(window_samples, overlap_samples)
        window = get_window(window_type, window_samples)
        x = np.asarray(samples)
        if x.ndim != 1:
            raise SpectrogramParameterError(f"samples must be 1-D, got shape {x.shape}")
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float64)
        n = x.shape[0]
        n_frames = frame_count(n, window_samples, hop)
        frequencies = np.fft.rfftfreq(window_samples, d=1.0 / sample_rate).astype(np.float64)
        times = np.arange(window_samples / 2, n - window_samples / 2 + 1, hop) / float(sample_rate)
        return cls(
            samples=x,
            window=window.astype(x.dtype),
            hop=hop,
            scale=1.0 / float(window.sum()) ** 2,
            frequencies=frequencies,
            times=np.asarray(times[:n_frames], dtype=np.float64),
        )

    @property
    def n_frames(self) -> int:
        """Number of frames (time columns)."""
        return int(self.times.size)

    def blocks(self) -> range:
        """Return the first frame of each block."""
        return range(0, self.n_frames, BLOCK_FRAMES)

    def output(self) -> NDArray[np.floating[Any]]:
        """Return an empty time-major result [shape=(n_frames, n_freq)] in the signal's dtype.

        Its transpose is the (n_freq, n_time) spectrogram, stored as scipy stores it.
        """
        return np.empty((self.n_frames, self.frequencies.size), dtype=self.samples.dtype)

    def power_into(self, out: NDArray[np.floating[Any]], first: int) -> None:
        """Write the power spectra of the block starting at frame ``first`` into ``out``.

        ``out`` is the time-major result of :meth:`output`; rows ``first`` to
        ``first + BLOCK_FRAMES`` (or the last frame) are written.
        """
        stop = min(first + BLOCK_FRAMES, self.n_frames)
        size = self.window.size
        x = self.samples[first * self.hop : (stop - 1) * self.hop + size]
        frames = np.lib.stride_tricks.as_strided(
            x, shape=(stop - first, size), strides=(self.hop * x.strides[0], x.strides[0])
        )
        frames = frames - frames.mean(axis=-1, keepdims=True)  # scipy's detrend="constant"
        frames *= self.window
        spectrum = sp_fft.rfft(frames, axis=-1)
        power = out[first:stop]
        np.multiply(spectrum.real, spectrum.real, out=power)
        power += np.square(spectrum.imag)
        power *= power.dtype.type(self.scale)
        power[:, 1 : None if size % 2 else -1] *= 2  # one-sided: all but DC (and Nyquist)

    def db_into(
        self, out: NDArray[np.floating[Any]], first: int, decibel_limits: tuple[float, float]
    ) -> None:
        """Write the block's spectra as ``10 * log10(power)`` clipped to ``decibel_limits``.

        Each block is converted while it is in cache, in place: no second pass over the
        result. Zero power gives the low limit, without a warning.
        """
        self.power_into(out, first)
        power = out[first : min(first + BLOCK_FRAMES, self.n_frames)]
        power_to_db(power, decibel_limits, out=power)


def power_spectrogram(
    samples: NDArray[np.floating[Any]],
    sample_rate: float,
    *,
    window_type: WindowSpec = "hann",
    window_samples: int = 512,
    overlap_samples: int = 256,
) -> tuple[NDArray[np.floating[Any]], NDArray[np.float64], NDArray[np.float64]]:
    """Compute a linear power spectrogram, as ``scipy.signal.spectrogram(scaling="spectrum")``.

    Parameters are those of :func:`power_spectrogram_db`.

    Returns
    -------
    tuple
        ``(power, frequencies, times)``: power [shape=(window_samples // 2 + 1, n_time)] in
        squared sample units, frequencies in Hz and window centre times in s.
    """
    spectra = FrameSpectra.of(
        samples,
        sample_rate,
        window_type=window_type,
        window_samples=window_samples,
        overlap_samples=overlap_samples,
    )
    out = spectra.output()
    for first in spectra.blocks():
        spectra.power_into(out, first)
    return out.T, spectra.frequencies, spectra.times


def power_to_db(
    power: NDArray[np.floating[Any]],
    decibel_limits: tuple[float, float],
    *,
    out: NDArray[np.floating[Any]] | None = None,
) -> NDArray[np.floating[Any]]:
    """Return ``10 * log10(power)`` clipped to ``decibel_limits``; zero power gives the low limit.

    The same float operations as ``np.clip(10 * np.log10(power), low, high)``, written into
    ``out`` (or a new array; ``out=power`` converts in place), without the divide-by-zero
    warning for zeros.
    """
    low, high = check_decibel_limits(decibel_limits)
    target = np.empty_like(power) if out is None else out
    with np.errstate(divide="ignore"):  # log10(0) = -inf, clipped to `low` below
        np.log10(power, out=target)
    np.multiply(target, 10, out=target)
    np.clip(target, low, high, out=target)
    return target


def power_spectrogram_db(
    samples: NDArray[np.floating[Any]],
    sample_rate: float,
    *,
    window_type: WindowSpec = "hann",
    window_samples: int = 512,
    overlap_samples: int = 256,
    decibel_limits: tuple[float, float] = (-100.0, -20.0),
) -> tuple[NDArray[np.floating[Any]], NDArray[np.float64], NDArray[np.float64]]:
    """Compute a power spectrogram in dB, clipped to ``decibel_limits``.

    The values are those of ``scipy.signal.spectrogram(samples, sample_rate, window=window_type,
    nperseg=window_samples, noverlap=overlap_samples, scaling="spectrum")`` (each window
    detrended by its mean, one-sided power spectrum) as ``10 * log10(power)``, clipped, to
    float rounding. Zero power maps to the low limit without a warning. Each block of frames
    (:class:`FrameSpectra`) is converted to dB while it is in cache, in place.

    Parameters
    ----------
    samples
        Signal [shape=(n,)], float32 or float64; the result has the same precision.
    sample_rate
        Sample rate in Hz.
    window_type
        A window scipy's ``get_window`` knows, e.g. ``"hann"``.
    window_samples
        Samples per window (>= 2).
    overlap_samples
        Samples shared by consecutive windows, in ``[0, window_samples)``.
    decibel_limits
        ``(low, high)`` dB; values outside are set to the nearer limit.

    Returns
    -------
    tuple
        ``(db, frequencies, times)``: dB values [shape=(window_samples // 2 + 1, n_time)],
        stored time-major as scipy stores them, frequencies in Hz [shape=(n_freq,)] and
        window centre times in s [shape=(n_time,)]. A signal shorter than one window gives
        ``n_time == 0``.

    Raises
    ------
    SpectrogramParameterError
        If the window, overlap or decibel limits are invalid.
    """
    limits = check_decibel_limits(decibel_limits)
    spectra = FrameSpectra.of(
        samples,
        sample_rate,
        window_type=window_type,
        window_samples=window_samples,
        overlap_samples=overlap_samples,
    )
    out = spectra.output()
    for first in spectra.blocks():
        spectra.db_into(out, first, limits)
    return out.T, spectra.frequencies, spectra.times


def hz_to_mel(frequencies: ArrayLike) -> NDArray[np.float64]:
    """Convert Hz to mels on the Slaney scale (linear below 1 kHz, logarithmic above)."""
    f = np.asarray(frequencies, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    mels = f / f_sp
    above = f >= min_log_hz
    return np.where(
        above, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, mels
    )


def mel_to_hz(mels: ArrayLike) -> NDArray[np.float64]:
    """Convert mels on the Slaney scale back to Hz (inverse of :func:`hz_to_mel`)."""
    m = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(
    *, sample_rate: float, window_samples: int, n_mels: int, fmin: float, fmax: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return triangular Slaney-normalised mel filters and their centre frequencies.

    Each filter has unit area in Hz (the Slaney normalisation: ``2 / (f_high - f_low)`` peak),
    as ``librosa.filters.mel(htk=False, norm="slaney")``.

    Parameters
    ----------
    sample_rate
        Sample rate in Hz.
    window_samples
        FFT size; the filters apply to ``window_samples // 2 + 1`` frequency rows.
    n_mels
        Number of mel bands (>= 1).
    fmin, fmax
        Lowest and highest frequency in Hz, ``0 <= fmin < fmax <= sample_rate / 2``.

    Returns
    -------
    tuple
        ``(weights, centres)``: weights [shape=(n_mels, window_samples // 2 + 1)] and the band
        centre frequencies in Hz [shape=(n_mels,)], ascending.

    Raises
    ------
    SpectrogramParameterError
        If ``n_mels`` or the frequency range is invalid.
    """
    nyquist = sample_rate / 2
    if isinstance(n_mels, bool) or not isinstance(n_mels, int | np.integer) or n_mels < 1:
        raise SpectrogramParameterError(f"n_mels must be a positive integer, got {n_mels!r}")
    if not 0 <= fmin < fmax <= nyquist:
        raise SpectrogramParameterError(
            f"mel band needs 0 <= fmin < fmax <= Nyquist ({nyquist} Hz), "
            f"got fmin={fmin!r}, fmax={fmax!r}"
        )
    fft_freqs = np.fft.rfftfreq(window_samples, d=1.0 / sample_rate)
    mel_edges = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    hz_edges = mel_to_hz(mel_edges)
    fdiff = np.diff(hz_edges)
    ramps = hz_edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (hz_edges[2:] - hz_edges[:-2]))[:, None]
    return np.asarray(weights, dtype=np.float64), np.asarray(hz_edges[1:-1], dtype=np.float64)


def pcen(
    power: ArrayLike,
    *,
    sample_rate: float,
    hop: int,
    gain: float = 0.98,
    bias: float = 2.0,
    power_exponent: float = 0.5,
    time_constant: float = 0.400,
    eps: float = 1e-6,
) -> NDArray[np.float64]:
    """Apply per-channel energy normalisation (PCEN, Wang et al. 2017) along time.

    ``M = lfilter([b], [1, b - 1], E)`` smooths each row with ``b`` from ``time_constant``;
    the result is ``(E / (eps + M)**gain + bias)**power_exponent - bias**power_exponent``,
    the same as ``librosa.pcen`` with ``max_size=1`` and its default initial filter state (the
    steady state for an input of 1).

    Parameters
    ----------
    power
        Non-negative power (or magnitude) values [shape=(n_bands, n_time)].
    sample_rate
        Sample rate of the audio in Hz.
    hop
        Samples between consecutive frames.
    gain, bias, power_exponent, time_constant, eps
        PCEN's alpha, delta, r, T (seconds) and epsilon.

    Returns
    -------
    numpy.ndarray
        PCEN values [shape=(n_bands, n_time)].

    Raises
    ------
    SpectrogramParameterError
        If a parameter is out of range.
    """
    if time_constant <= 0 or eps <= 0 or gain < 0 or bias < 0 or power_exponent < 0:
        raise SpectrogramParameterError(
            "pcen needs time_constant > 0, eps > 0 and gain, bias, power_exponent >= 0; got "
            f"time_constant={time_constant}, eps={eps}, gain={gain}, bias={bias}, "
            f"power_exponent={power_exponent}"
        )
    e = np.asarray(power, dtype=np.float64)
    if e.size and np.min(e) < 0:
        raise SpectrogramParameterError("pcen needs non-negative power values")
    t_frames = time_constant * sample_rate / float(hop)
    b = (math.sqrt(1 + 4 * t_frames**2) - 1) / (2 * t_frames**2)
    if e.shape[-1] == 0:
        return np.zeros_like(e)
    zi = np.broadcast_to(signal.lfilter_zi([b], [1, b - 1]), (*e.shape[:-1], 1))
    smooth, _ = signal.lfilter([b], [1, b - 1], e, axis=-1, zi=zi)
    smooth = np.asarray(smooth, dtype=np.float64)
    # log-domain gain for numerical stability, as librosa does
    g = np.exp(-gain * (np.log(eps) + np.log1p(smooth / eps)))
    if power_exponent == 0:
        return np.asarray(np.log1p(e * g))
    if bias == 0:
        return np.asarray(np.exp(power_exponent * np.log(e * g + np.finfo(np.float64).tiny)))
    return np.asarray(bias**power_exponent * np.expm1(power_exponent * np.log1p(e * g / bias)))
