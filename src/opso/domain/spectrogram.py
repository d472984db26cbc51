"""The Spectrogram value object: dB power over frequency and time, immutable, with band/time maths.

Edge rule (``docs/decisions/0010-spectrogram-band-and-time-edges.md``): frequency bands are
closed, ``min_f <= f <= max_f``; time ranges are half-open on window centres,
``start_time <= t < end_time``, so adjacent trims never share a column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

from opso.domain import helpers, spectral
from opso.domain.audio import Audio
from opso.domain.errors import SpectrogramInputError, SpectrogramParameterError
from opso.domain.spectral import WindowSpec

Band = tuple[float, float] | Sequence[float]


def _frozen(value: Any, *, name: str, ndim: int) -> NDArray[Any]:
    """Return ``value`` as a read-only float array of ``ndim`` dimensions (copy if writeable)."""
    if not isinstance(value, np.ndarray):
        raise SpectrogramInputError(f"{name} must be a numpy.ndarray, got {type(value).__name__}")
    if value.ndim != ndim:
        raise SpectrogramInputError(f"{name} must be {ndim}-D, got shape {value.shape}")
    if value.dtype == object or not (
        np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)
    ):
        raise SpectrogramInputError(f"{name} must hold real numbers, got dtype {value.dtype}")
    dtype = value.dtype if value.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    if value.flags.writeable or value.dtype != dtype:
        value = value.astype(dtype, copy=True)
    value.flags.writeable = False
    frozen: NDArray[Any] = value
    return frozen


def _band(band: Band, *, name: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in band)
    except (TypeError, ValueError) as e:
        raise SpectrogramParameterError(
            f"{name} must be two frequencies [low, high] in Hz, got {band!r}"
        ) from e
    return low, high


@dataclass(frozen=True, slots=True, eq=False)
class Spectrogram:
    """A spectrogram: power in dB over frequency and time. Immutable; arrays are read-only.

    Parameters
    ----------
    spectrogram
        Values [shape=(n_freq, n_time)], dB unless rescaled; row 0 is the lowest frequency.
        float32 and float64 arrays keep their precision; integer arrays become float64.
    frequencies
        Frequency of each row in Hz [shape=(n_freq,)], ascending.
    times
        Time of each column's window centre in s [shape=(n_time,)], ascending.
    decibel_limits
        ``(low, high)`` dB range the values were clipped to; used by :meth:`linear_scale`.

    Raises
    ------
    SpectrogramInputError
        If an array is not a numpy array, has the wrong number of dimensions or the shapes
        disagree (a ``TypeError``, as in the spec).
    SpectrogramParameterError
        If ``decibel_limits`` is not ``low < high``.
    """

    spectrogram: NDArray[Any]
    frequencies: NDArray[Any]
    times: NDArray[Any]
    decibel_limits: tuple[float, float] = field(default=(-100.0, -20.0))

    def __post_init__(self) -> None:
        spec = _frozen(self.spectrogram, name="spectrogram", ndim=2)
        freqs = _frozen(self.frequencies, name="frequencies", ndim=1)
        times = _frozen(self.times, name="times", ndim=1)
        if spec.shape != (freqs.shape[0], times.shape[0]):
            raise SpectrogramInputError(
                f"spectrogram shape {spec.shape} does not match frequencies {freqs.shape} "
                f"and times {times.shape}: expected {(freqs.shape[0], times.shape[0])}"
            )
        object.__setattr__(self, "spectrogram", spec)
        object.__setattr__(self, "frequencies", freqs)
        object.__setattr__(self, "times", times)
        object.__setattr__(
            self, "decibel_limits", spectral.check_decibel_limits(self.decibel_limits)
        )

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__}(shape={self.spectrogram.shape}, "
            f"decibel_limits={self.decibel_limits})>"
        )

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_freq, n_time)``."""
        n_freq, n_time = self.spectrogram.shape
        return int(n_freq), int(n_time)

    @classmethod
    def from_audio(
        cls,
        audio: Audio,
        window_type: WindowSpec = "hann",
        window_samples: int = 512,
        overlap_samples: int = 256,
        decibel_limits: tuple[float, float] = (-100, -20),
    ) -> Self:
        """Compute the spectrogram of ``audio``: windowed power spectra in dB, clipped.

        Values equal ``scipy.signal.spectrogram(audio.samples, audio.sample_rate,
        window=window_type, nperseg=window_samples, noverlap=overlap_samples,
        scaling="spectrum")`` as ``10 * log10(power)`` clipped to ``decibel_limits``, to float
        rounding (a few float32 ulps, < 5e-5 dB); silence gives the low limit (no ``-inf``, no
        warning). float32 audio gives float32 values. Computed block by block in one pass
        (:class:`~opso.domain.spectral.FrameSpectra`); see
        ``docs/decisions/0107-spectrograms-in-one-pass-long-recordings-on-every-core.md``.

        Parameters
        ----------
        audio
            The audio.
        window_type
            A window scipy knows (``"hann"``, ``"hamming"``, ``("kaiser", 8.0)``, ...).
        window_samples
            Samples per window (one column); >= 2. Rows: ``window_samples // 2 + 1``.
        overlap_samples
            Samples shared by consecutive windows, in ``[0, window_samples)``.
        decibel_limits
            ``(low, high)`` dB; lower values are set to low, higher to high.

        Returns
        -------
        Spectrogram
            [shape=(window_samples // 2 + 1, n_time)], stored time-major (Fortran order) as
            scipy returns it. Audio shorter than one window gives ``n_time == 0`` (an
            empty-in-time spectrogram), not an error.

        Raises
        ------
        SpectrogramInputError
            If ``audio`` is not an :class:`~opso.domain.audio.Audio`.
        SpectrogramParameterError
            If the window, overlap or decibel limits are invalid.
        """
        if not isinstance(audio, Audio):
            raise SpectrogramInputError(
                f"from_audio expects an Audio object, got {type(audio).__name__}"
            )
        db, freqs, times = spectral.power_spectrogram_db(
            audio.samples,
            audio.sample_rate,
            window_type=window_type,
            window_samples=window_samples,
            overlap_samples=overlap_samples,
            decibel_limits=decibel_limits,
        )
        db.flags.writeable = False  # a fresh array: the object keeps it without a copy
        return cls(db, freqs, times, decibel_limits=spectral.check_decibel_limits(decibel_limits))

    @staticmethod
    def power_from_audio(
        audio: Audio,
        window_type: WindowSpec = "hann",
        window_samples: int = 512,
        overlap_samples: int = 256,
    ) -> tuple[NDArray[np.floating[Any]], NDArray[np.float64], NDArray[np.float64]]:
        """Return ``(power, frequencies, times)``: the linear power :meth:`from_audio` converts.

        ``power`` [shape=(window_samples // 2 + 1, n_time)] equals ``scipy.signal.spectrogram(
        ..., scaling="spectrum")`` (to an ulp or two in float32), before dB and clipping, for
        users who need power (energy sums, their own scaling); ``10 * log10(power)`` clipped is
        :meth:`from_audio`'s values.

        Raises
        ------
        SpectrogramInputError
            If ``audio`` is not an :class:`~opso.domain.audio.Audio`.
        SpectrogramParameterError
            If the window or overlap is invalid.
        """
        if not isinstance(audio, Audio):
            raise SpectrogramInputError(
                f"power_from_audio expects an Audio object, got {type(audio).__name__}"
            )
        return spectral.power_spectrogram(
            audio.samples,
            audio.sample_rate,
            window_type=window_type,
            window_samples=window_samples,
            overlap_samples=overlap_samples,
        )

    def limit_db_range(self, min_db: float = -100, max_db: float = -20) -> Self:
        """Return a copy with values clipped to ``[min_db, max_db]`` (this object is unchanged).

        The result's ``decibel_limits`` are ``(min_db, max_db)``.

        Raises
        ------
        SpectrogramParameterError
            If ``min_db >= max_db``.
        """
        limits = spectral.check_decibel_limits((min_db, max_db))
        clipped = np.clip(self.spectrogram, limits[0], limits[1])
        return replace(self, spectrogram=clipped, decibel_limits=limits)

    def _rows(self, min_f: float, max_f: float) -> NDArray[np.bool_]:
        if not (math.isfinite(min_f) and math.isfinite(max_f)) or min_f < 0 or max_f < min_f:
            raise SpectrogramParameterError(
                f"frequency band needs 0 <= min_f <= max_f, got min_f={min_f}, max_f={max_f}"
            )
        top = float(self.frequencies[-1]) if self.frequencies.size else 0.0
        if max_f > top:
            raise SpectrogramParameterError(
                f"frequency band [{min_f}, {max_f}] Hz reaches above this spectrogram's "
                f"highest frequency {top} Hz (its Nyquist frequency if made from audio)"
            )
        return (self.frequencies >= min_f) & (self.frequencies <= max_f)

    def bandpass(self, min_f: float, max_f: float) -> Self:
        """Return the rows with ``min_f <= frequency <= max_f`` Hz (both edges kept).

        Raises
        ------
        SpectrogramParameterError
            If the band is inverted, negative or reaches above the highest frequency.
        """
        keep = self._rows(float(min_f), float(max_f))
        return replace(self, spectrogram=self.spectrogram[keep], frequencies=self.frequencies[keep])

    def trim(self, start_time: float, end_time: float) -> Self:
        """Return the columns whose window centre ``t`` has ``start_time <= t < end_time`` s.

        Raises
        ------
        SpectrogramParameterError
            If ``end_time < start_time`` or the range lies wholly outside the spectrogram
            (``end_time < 0`` or ``start_time`` after the last window centre).
        """
        start, end = float(start_time), float(end_time)
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            raise SpectrogramParameterError(
                f"trim needs start_time <= end_time, got {start_time!r}, {end_time!r}"
            )
        last = float(self.times[-1]) if self.times.size else 0.0
        if end < 0 or start > last:
            raise SpectrogramParameterError(
                f"trim range [{start}, {end}) s is outside the spectrogram (0 to {last} s)"
            )
        keep = (self.times >= start) & (self.times < end)
        return replace(self, spectrogram=self.spectrogram[:, keep], times=self.times[keep])

    def amplitude(self, freq_range: Band | None = None) -> NDArray[np.float64]:
        """Return the sum of each column, over all rows or the rows in ``freq_range`` Hz.

        Parameters
        ----------
        freq_range
            ``[low, high]`` Hz (both edges kept), or None for all frequencies.

        Returns
        -------
        numpy.ndarray
            One value per time [shape=(n_time,)].
        """
        values = self.spectrogram
        if freq_range is not None:
            low, high = _band(freq_range, name="freq_range")
            values = values[self._rows(low, high)]
        return np.asarray(np.sum(values, axis=0, dtype=np.float64), dtype=np.float64)

    def net_amplitude(
        self, signal_band: Band, reject_bands: Sequence[Band] | None = None
    ) -> NDArray[np.float64]:
        """Return the amplitude in ``signal_band`` minus that in ``reject_bands``, per Hz.

        The signal band's amplitude is divided by its bandwidth; the reject bands' amplitudes
        are summed and divided by their total bandwidth, then subtracted.

        Parameters
        ----------
        signal_band
            ``[low, high]`` Hz, ``low < high`` (positive contribution).
        reject_bands
            List of ``[low, high]`` Hz bands (negative contribution), or None.

        Returns
        -------
        numpy.ndarray
            Net amplitude per time [shape=(n_time,)].

        Raises
        ------
        SpectrogramParameterError
            If a band is invalid or has zero width.
        """
        low, high = _band(signal_band, name="signal_band")
        if high <= low:
            raise SpectrogramParameterError(f"signal_band must have low < high, got {signal_band}")
        net = self.amplitude((low, high)) / (high - low)
        if reject_bands:
            bands = [_band(b, name="reject band") for b in reject_bands]
            width = sum(h - lo for lo, h in bands)
            if width <= 0:
                raise SpectrogramParameterError(
                    f"reject_bands must have a positive total bandwidth, got {reject_bands}"
                )
            rejected = np.sum([self.amplitude(b) for b in bands], axis=0) / width
            net = net - rejected
        return np.asarray(net, dtype=np.float64)

    def linear_scale(self, feature_range: tuple[float, float] = (0, 1)) -> Self:
        """Return values mapped linearly from ``decibel_limits`` to ``feature_range``."""
        scaled = helpers.linear_scale(
            self.spectrogram, in_range=self.decibel_limits, out_range=feature_range
        )
        return replace(self, spectrogram=scaled)

    def min_max_scale(self, feature_range: tuple[float, float] = (0, 1)) -> Self:
        """Return values mapped linearly from their ``[min, max]`` to ``feature_range``.

        A constant spectrogram maps to ``feature_range[0]``.
        """
        if self.spectrogram.size == 0:
            return self
        return replace(self, spectrogram=helpers.min_max_scale(self.spectrogram, feature_range))

    def to_pixels(self, spec_range: tuple[float, float] = (-100, -20)) -> NDArray[np.uint8]:
        """Return grey levels for an image: loud is dark, low frequencies at the bottom.

        Values are mapped linearly from ``spec_range`` to ``[255, 0]`` (``spec_range[1]`` dB
        is black, ``spec_range[0]`` white), clipped and rounded; rows are flipped so the first
        image row is the highest frequency.

        Returns
        -------
        numpy.ndarray
            uint8 [shape=(n_freq, n_time)].

        Raises
        ------
        SpectrogramParameterError
            If ``spec_range`` is not ``low < high``.
        """
        low, high = spectral.check_decibel_limits(spec_range)
        grey = helpers.linear_scale(self.spectrogram, in_range=(low, high), out_range=(255, 0))
        return np.ascontiguousarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8)[::-1])

    @classmethod
    def from_pixels(
        cls,
        pixels: NDArray[np.uint8],
        *,
        spec_range: tuple[float, float] = (-100, -20),
        frequencies: NDArray[np.float64] | None = None,
        times: NDArray[np.float64] | None = None,
    ) -> Self:
        """Rebuild a spectrogram from grey levels made by :meth:`to_pixels` (its inverse).

        Parameters
        ----------
        pixels
            Grey levels [shape=(height, width)], first row the highest frequency.
        spec_range
            The ``(low, high)`` dB range the image was made with.
        frequencies, times
            Axes of the rows (ascending, Hz) and columns (s); row and column indices if None.

        Returns
        -------
        Spectrogram
            dB values within half a grey level (``(high - low) / 510`` dB) of the originals.

        Raises
        ------
        SpectrogramInputError
            If ``pixels`` is not a 2-D array or the axes do not match its shape.
        """
        grid = _frozen(pixels, name="pixels", ndim=2)
        low, high = spectral.check_decibel_limits(spec_range)
        values = helpers.linear_scale(grid[::-1], in_range=(255, 0), out_range=(low, high))
        n_freq, n_time = grid.shape
        freqs = np.arange(n_freq, dtype=np.float64) if frequencies is None else frequencies
        cols = np.arange(n_time, dtype=np.float64) if times is None else times
        return cls(np.ascontiguousarray(values), freqs, cols, decibel_limits=(low, high))

    def image_metadata(self, spec_range: tuple[float, float] = (-100, -20)) -> dict[str, str]:
        """Return text tags that let :meth:`from_image` recover the axes and dB range."""
        low, high = spectral.check_decibel_limits(spec_range)
        tags = {"opso:spec_range": f"{low:.17g} {high:.17g}"}
        if self.frequencies.size:
            tags["opso:frequencies"] = f"{self.frequencies[0]:.17g} {self.frequencies[-1]:.17g}"
        if self.times.size:
            tags["opso:times"] = f"{self.times[0]:.17g} {self.times[-1]:.17g}"
        return tags

    @classmethod
    def from_image(
        cls,
        pixels: NDArray[np.uint8],
        metadata: dict[str, str],
        *,
        spec_range: tuple[float, float] | None = None,
    ) -> Self:
        """Rebuild a spectrogram from image grey levels and the tags of :meth:`image_metadata`.

        Axes are spaced evenly between the tagged first and last frequency and time (exact for
        an unresized linear-frequency image); without tags they are row and column indices.
        ``spec_range`` overrides the tagged dB range (default ``(-100, -20)``).

        Raises
        ------
        SpectrogramInputError
            If a tag is malformed.
        """
        grid = _frozen(pixels, name="pixels", ndim=2)
        n_freq, n_time = grid.shape

        def pair(key: str) -> tuple[float, float] | None:
            if key not in metadata:
                return None
            try:
                first, last = (float(v) for v in metadata[key].split())
            except ValueError as e:
                raise SpectrogramInputError(
                    f"image tag {key}={metadata[key]!r} is not two numbers"
                ) from e
            return first, last

        tagged_range = pair("opso:spec_range")
        limits = spec_range or tagged_range or (-100.0, -20.0)
        f_axis, t_axis = pair("opso:frequencies"), pair("opso:times")
        freqs = None if f_axis is None else np.linspace(*f_axis, n_freq)
        times = None if t_axis is None else np.linspace(*t_axis, n_time)
        return cls.from_pixels(grid, spec_range=limits, frequencies=freqs, times=times)


@dataclass(frozen=True, slots=True)
class Pcen:
    """Settings of per-channel energy normalisation (see :func:`opso.domain.spectral.pcen`).

    Attributes
    ----------
    gain, bias, power, time_constant, eps
        PCEN's alpha, delta, r, T (seconds) and epsilon (librosa's defaults).
    input_scale
        Mel power is multiplied by this before PCEN; ``2**31`` (librosa's advice for audio
        in ``[-1, 1]``) puts quiet bands well above ``eps``.
    """

    gain: float = 0.98
    bias: float = 2.0
    power: float = 0.5
    time_constant: float = 0.400
    eps: float = 1e-6
    input_scale: float = 2.0**31


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class MelSpectrogram(Spectrogram):
    """A mel spectrogram: power in mel bands, in dB (or PCEN values). Immutable.

    ``frequencies`` holds each band's centre frequency in Hz; every :class:`Spectrogram`
    method works on these rows (``bandpass`` selects bands by their centre).
    """

    @classmethod
    def from_audio(
        cls,
        audio: Audio,
        window_type: WindowSpec = "hann",
        window_samples: int = 512,
        overlap_samples: int = 256,
        decibel_limits: tuple[float, float] = (-100, -20),
        *,
        n_mels: int = 64,
        fmin: float = 0.0,
        fmax: float | None = None,
        pcen: Pcen | None = None,
    ) -> Self:
        """Compute mel-band power of ``audio`` in dB, or normalised with PCEN.

        The power spectrogram of :meth:`Spectrogram.from_audio` (before dB) is summed into
        ``n_mels`` triangular Slaney-normalised mel bands (as ``librosa.filters.mel`` with
        ``norm="slaney"``) and converted to dB clipped to ``decibel_limits``. With ``pcen``,
        the values are PCEN of the mel power instead (not dB, not clipped; use
        :meth:`min_max_scale` to rescale them).

        Parameters
        ----------
        audio, window_type, window_samples, overlap_samples, decibel_limits
            As :meth:`Spectrogram.from_audio`.
        n_mels
            Number of mel bands (rows).
        fmin, fmax
            Frequency range of the bands in Hz; ``fmax=None`` means the Nyquist frequency.
        pcen
            PCEN settings, or None for dB.

        Returns
        -------
        MelSpectrogram
            [shape=(n_mels, n_time)]; ``frequencies`` are the band centres in Hz.

        Raises
        ------
        SpectrogramInputError
            If ``audio`` is not an :class:`~opso.domain.audio.Audio`.
        SpectrogramParameterError
            If a window, band or PCEN parameter is invalid.
        """
        if not isinstance(audio, Audio):
            raise SpectrogramInputError(
                f"from_audio expects an Audio object, got {type(audio).__name__}"
            )
        limits = spectral.check_decibel_limits(decibel_limits)
        top = audio.sample_rate / 2 if fmax is None else float(fmax)
        weights, centres = spectral.mel_filterbank(
            sample_rate=audio.sample_rate,
            window_samples=window_samples,
            n_mels=n_mels,
            fmin=float(fmin),
            fmax=top,
        )
        power, _, times = spectral.power_spectrogram(
            audio.samples,
            audio.sample_rate,
            window_type=window_type,
            window_samples=window_samples,
            overlap_samples=overlap_samples,
        )
        mel = weights.astype(power.dtype) @ power
        if pcen is None:
            values = spectral.power_to_db(mel, limits)
        else:
            values = spectral.pcen(
                mel.astype(np.float64) * pcen.input_scale,
                sample_rate=audio.sample_rate,
                hop=window_samples - overlap_samples,
                gain=pcen.gain,
                bias=pcen.bias,
                power_exponent=pcen.power,
                time_constant=pcen.time_constant,
                eps=pcen.eps,
            )
        return cls(values, centres, times, decibel_limits=limits)

    @property
    def S(self) -> NDArray[Any]:  # noqa: N802 - OpenSoundscape 0.4.x name
        """The mel values [shape=(n_mels, n_time)]: the same read-only array as ``spectrogram``.

        OpenSoundscape 0.4.x's ``MelSpectrogram.S``. Here the values are dB (or PCEN values
        with ``from_audio(..., pcen=...)``), where 0.4.x held linear mel power.
        """
        return self.spectrogram

    def to_pcen(
        self,
        gain: float = 0.8,
        bias: float = 10.0,
        power: float = 0.25,
        time_constant: float = 0.06,
        *,
        eps: float = 1e-6,
        input_scale: float = 2.0**31,
    ) -> Self:
        """Return the PCEN (per-channel energy normalisation) of this dB mel spectrogram.

        The dB values are turned back into mel power, multiplied by ``input_scale`` and
        normalised as ``librosa.pcen`` does (:func:`opso.domain.spectral.pcen`), with the
        hop taken from :attr:`times`. Without clipping this equals
        ``from_audio(..., pcen=Pcen(gain, bias, power, time_constant, eps))``; power clipped
        to ``decibel_limits`` stays clipped, so widen them for loud sounds, or compute PCEN
        in :meth:`from_audio` from the unclipped power.

        Parameters
        ----------
        gain, bias, power, time_constant
            PCEN's alpha, delta, r and T (seconds), with OpenSoundscape 0.4.x's defaults.
        eps
            PCEN's epsilon (numerical floor of the smoothed power).
        input_scale
            Factor on the mel power before PCEN, as :attr:`Pcen.input_scale`.

        Returns
        -------
        MelSpectrogram
            The same type, frequencies and times, holding PCEN values (not dB).

        Raises
        ------
        SpectrogramParameterError
            If a PCEN parameter is out of range, or there is a single time column (no hop).
        """
        n_time = self.shape[1]
        if n_time == 1:
            raise SpectrogramParameterError(
                "to_pcen needs two or more time columns to know the hop"
            )
        hop_seconds = (self.times[-1] - self.times[0]) / (n_time - 1) if n_time else 1.0
        mel_power = np.power(10.0, self.spectrogram.astype(np.float64) / 10.0)
        values = spectral.pcen(
            mel_power * input_scale,
            sample_rate=1.0 / float(hop_seconds),
            hop=1,
            gain=gain,
            bias=bias,
            power_exponent=power,
            time_constant=time_constant,
            eps=eps,
        )
        return replace(self, spectrogram=values.astype(self.spectrogram.dtype))
