"""Batched spectrograms with torch: many equal-length clips, or one long recording, on CPU or GPU.

Values match :meth:`opso.domain.spectrogram.Spectrogram.from_audio` (scipy's ``spectrogram``
with ``scaling="spectrum"``, Hann window, each window detrended by its mean) within 1e-3 dB.
This module imports torch at its top; import it only where torch is wanted.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias
from numpy.typing import NDArray

from opso.domain import spectral
from opso.domain.errors import SpectrogramInputError, SpectrogramParameterError

#: Frames per block on CPU: a block's frames and spectra stay in the core's cache.
_BLOCK_FRAMES = 512
#: Blocks per thread task on CPU: few enough hand-overs between threads (each costs a wake-up
#: and the GIL), enough tasks to balance the threads' loads.
_BLOCKS_PER_TASK = 8
#: Frames per chunk of :meth:`TorchSpectrogrammer.long_recording` on a GPU: bounds its memory.
_DEVICE_CHUNK_FRAMES = 1 << 16


class TorchSpectrogrammer:
    """Turn a batch of waveforms into dB spectrograms (optionally band-limited and resized).

    Parameters
    ----------
    sample_rate
        Sample rate of the waveforms in Hz.
    window_samples
        Samples per Hann window (>= 2).
    overlap_samples
        Samples shared by consecutive windows, in ``[0, window_samples)``.
    decibel_limits
        ``(low, high)`` dB; values are clipped to it.
    bandpass
        ``(low, high)`` Hz: keep only rows with ``low <= frequency <= high``; None keeps all.
    image_shape
        ``(height, width)``: resize each spectrogram (bilinear with antialiasing); None keeps
        the natural ``(n_freq, n_time)``.
    device
        Torch device for the computation and the result (``"cpu"``, ``"cuda"``, ...).

    Raises
    ------
    SpectrogramParameterError
        If a size, limit or band is invalid.
    """

    def __init__(
        self,
        *,
        sample_rate: int,
        window_samples: int = 512,
        overlap_samples: int = 256,
        decibel_limits: tuple[float, float] = (-100.0, -20.0),
        bandpass: tuple[float, float] | None = None,
        image_shape: tuple[int, int] | None = None,
        device: str = "cpu",
    ) -> None:
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
            raise SpectrogramParameterError(
                f"sample_rate must be a positive integer, got {sample_rate!r}"
            )
        self.sample_rate = sample_rate
        self.window_samples = int(window_samples)
        self.hop = spectral.check_window(window_samples, overlap_samples)
        self.decibel_limits = spectral.check_decibel_limits(decibel_limits)
        self.device = torch.device(device)
        if image_shape is not None:
            height, width = (int(v) for v in image_shape)
            if height < 1 or width < 1:
                raise SpectrogramParameterError(
                    f"image_shape must be two positive sizes (height, width), got {image_shape!r}"
                )
            self.image_shape: tuple[int, int] | None = (height, width)
        else:
            self.image_shape = None

        window = spectral.get_window("hann", self.window_samples)
        freqs = np.fft.rfftfreq(self.window_samples, d=1.0 / sample_rate)
        # scipy's scaling="spectrum": |X|^2 / sum(w)^2, one-sided bins (not DC/Nyquist) doubled
        bin_scale = np.full(freqs.shape, 1.0 / window.sum() ** 2)
        if self.window_samples % 2:
            bin_scale[1:] *= 2
        else:
            bin_scale[1:-1] *= 2
        rows = slice(0, freqs.size)
        if bandpass is not None:
            low, high = (float(v) for v in bandpass)
            nyquist = sample_rate / 2
            if not 0 <= low <= high <= nyquist:
                raise SpectrogramParameterError(
                    f"bandpass needs 0 <= low <= high <= Nyquist ({nyquist} Hz), got {bandpass!r}"
                )
            kept = np.flatnonzero((freqs >= low) & (freqs <= high))
            if kept.size == 0:
                raise SpectrogramParameterError(
                    f"bandpass {bandpass!r} Hz holds no frequency row "
                    f"(rows are {freqs[1] - freqs[0]:g} Hz apart)"
                )
            rows = slice(int(kept[0]), int(kept[-1]) + 1)
        self._rows = rows
        #: Frequency of each output row in Hz (before any resize) [shape=(n_freq,)].
        self.frequencies: NDArray[np.float64] = np.asarray(freqs[rows], dtype=np.float64)
        self._window_np = window.astype(np.float32)
        self._window = torch.as_tensor(self._window_np, device=self.device)
        self._bin_scale = torch.as_tensor(bin_scale[rows], dtype=torch.float32, device=self.device)
        self._db_offset_np = (10.0 * np.log10(bin_scale[rows])).astype(np.float32)
        low_db = self.decibel_limits[0]
        self._floor = max(0.5 * 10.0 ** (low_db / 10.0), float(np.finfo(np.float32).tiny))

    def n_frames(self, n_samples: int) -> int:
        """Return the number of time columns for clips of ``n_samples`` (0 if shorter)."""
        return spectral.frame_count(n_samples, self.window_samples, self.hop)

    def times(self, n_samples: int) -> NDArray[np.float64]:
        """Return the window centre times in s for clips of ``n_samples`` [shape=(n_time,)]."""
        n = self.n_frames(n_samples)
        return np.asarray(
            (np.arange(n) * self.hop + self.window_samples / 2) / self.sample_rate,
            dtype=np.float64,
        )

    def _db_cpu(self, x: torch.Tensor) -> torch.Tensor:
        """Return dB spectra [batch, n_freq, n_time] of CPU waveforms with scipy's arithmetic.

        Framing, mean removal and windowing run in numpy and the FFT is scipy's pocketfft, in
        the same order and precision as ``scipy.signal.spectrogram``, so values agree with the
        domain path to float32 rounding of the scaling only (torch's MKL FFT rounds
        differently, by up to ~5e-3 dB near the floor, and is slower on AMD CPUs). Clips are
        processed in cache-sized blocks spread over ``torch.get_num_threads()`` threads (numpy
        and pocketfft release the GIL). See
        ``docs/decisions/0012-torch-spectrogram-cpu-arithmetic.md``.
        """
        samples = x.numpy()
        batch, n_samples = samples.shape
        n_time = self.n_frames(n_samples)
        out = np.empty((batch, self.frequencies.size, n_time), dtype=np.float32)
        per_block = max(1, _BLOCK_FRAMES // max(n_time, 1))

        def block(start: int) -> None:
            stop = min(start + per_block, batch)
            self._db_block_cpu(samples[start:stop], out[start:stop])

        _on_threads(range(0, batch, per_block), block)
        return torch.from_numpy(out)

    def _db_block_cpu(self, samples: NDArray[np.float32], out: NDArray[np.float32]) -> None:
        """Write the dB spectra of ``samples`` [b, n] into ``out`` [b, n_freq, n_time].

        Frames are laid out as columns ([b, window, n_time]) so pocketfft transforms many
        frames per SIMD pass and the result is already [b, n_freq, n_time]; each frame's mean
        is taken over the contiguous frame, exactly as scipy's detrend does.
        """
        batch, n_samples = samples.shape
        n_time = self.n_frames(n_samples)
        frames = np.lib.stride_tricks.sliding_window_view(samples, self.window_samples, axis=-1)
        means = frames[..., :: self.hop, :].mean(axis=-1)  # [b, n_time]
        step0, step1 = samples.strides
        columns = np.lib.stride_tricks.as_strided(
            samples,
            shape=(batch, self.window_samples, n_time),
            strides=(step0, step1, self.hop * step1),
            writeable=False,
        )
        detrended = columns - means[:, None, :]
        detrended *= self._window_np[:, None]
        spectrum = scipy.fft.rfft(detrended, axis=1)[:, self._rows]  # [b, n_freq, n_time]
        power = np.square(spectrum.real)
        power += np.square(spectrum.imag)
        with np.errstate(divide="ignore"):  # zero power -> -inf -> the low limit
            np.log10(power, out=power)
        power *= np.float32(10.0)
        power += self._db_offset_np[:, None]
        np.clip(power, *self.decibel_limits, out=out)

    def _power_torch(self, x: torch.Tensor) -> torch.Tensor:
        """Power spectra [batch, n_time, n_freq] with torch ops (GPU and other devices)."""
        frames = x.unfold(-1, self.window_samples, self.hop)  # [batch, n_time, window]
        frames = (frames - frames.mean(dim=-1, keepdim=True)) * self._window
        spectrum = torch.fft.rfft(frames, dim=-1)[..., self._rows]
        power: torch.Tensor = spectrum.real.square() + spectrum.imag.square()
        return power

    def __call__(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Compute dB spectrograms of a batch of equal-length clips.

        Parameters
        ----------
        waveforms
            float waveforms [shape=(batch, n_samples)], on any device.

        Returns
        -------
        torch.Tensor
            float32 dB on ``device`` [shape=(batch, n_freq, n_time)], row 0 the lowest
            frequency, or [shape=(batch, height, width)] when ``image_shape`` is set; values
            clipped to ``decibel_limits``.

        Raises
        ------
        SpectrogramInputError
            If ``waveforms`` is not a 2-D tensor.
        SpectrogramParameterError
            If the clips are shorter than one window and ``image_shape`` is set.
        """
        if not isinstance(waveforms, torch.Tensor) or waveforms.ndim != 2:
            shape = tuple(waveforms.shape) if isinstance(waveforms, torch.Tensor) else None
            raise SpectrogramInputError(
                f"waveforms must be a 2-D tensor [batch, n_samples], got "
                f"{type(waveforms).__name__} of shape {shape}"
            )
        x = waveforms.to(device=self.device, dtype=torch.float32)
        batch, n_samples = x.shape
        n_freq = self.frequencies.size
        if n_samples < self.window_samples:
            if self.image_shape is not None:
                raise SpectrogramParameterError(
                    f"clips of {n_samples} samples are shorter than one window "
                    f"({self.window_samples}); they have no spectrogram to resize"
                )
            return torch.zeros((batch, n_freq, 0), dtype=torch.float32, device=self.device)
        if x.device.type == "cpu":
            db = self._db_cpu(x.detach().contiguous())
        else:
            db = self._db_torch(x).transpose(1, 2)  # [batch, n_freq, n_time]
        return self._resized(db).contiguous()

    def long_recording(self, samples: torch.Tensor | NDArray[np.floating[Any]]) -> torch.Tensor:
        """Compute the dB spectrogram of one long recording, on every core (or on the device).

        A batch of one long clip runs on one core; this cuts the recording into blocks of
        frames (:class:`~opso.domain.spectral.FrameSpectra`) and computes the blocks on
        ``torch.get_num_threads()`` threads (numpy and pocketfft release the GIL). On CPU the
        values are exactly :meth:`Spectrogram.from_audio
        <opso.domain.spectrogram.Spectrogram.from_audio>`'s (the same blocks, the same
        arithmetic), before the band and resize of this spectrogrammer. On other devices the
        frames go through torch in chunks, as :meth:`__call__` computes them. Memory: the
        result plus one block per thread.

        Parameters
        ----------
        samples
            One waveform at ``sample_rate`` [shape=(n_samples,)]: a float tensor on any
            device or a numpy array (e.g. ``Audio.samples``).

        Returns
        -------
        torch.Tensor
            float32 dB on ``device`` [shape=(n_freq, n_time)], stored time-major (each
            column contiguous) on CPU, or [shape=(height, width)] when ``image_shape`` is
            set; values clipped to ``decibel_limits``. A recording shorter than one window
            gives ``n_time == 0``.

        Raises
        ------
        SpectrogramInputError
            If ``samples`` is not one-dimensional.
        SpectrogramParameterError
            If the recording is shorter than one window and ``image_shape`` is set.
        """
        x = samples.detach() if isinstance(samples, torch.Tensor) else np.asarray(samples)
        if x.ndim != 1:
            raise SpectrogramInputError(
                f"long_recording takes one waveform [n_samples], got shape {tuple(x.shape)}"
            )
        if self.image_shape is not None and x.shape[0] < self.window_samples:
            raise SpectrogramParameterError(
                f"a recording of {x.shape[0]} samples is shorter than one window "
                f"({self.window_samples}); it has no spectrogram to resize"
            )
        if self.device.type == "cpu":
            waveform = x.to("cpu", torch.float32).numpy() if isinstance(x, torch.Tensor) else x
            db = self._long_cpu(np.ascontiguousarray(waveform, dtype=np.float32))
        else:
            tensor = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.array(x))
            db = self._long_torch(tensor.to(device=self.device, dtype=torch.float32))
        return self._resized(db[None])[0]

    def _long_cpu(self, samples: NDArray[np.float32]) -> torch.Tensor:
        """Return dB [n_freq, n_time] of one CPU waveform, blocks of frames over threads."""
        spectra = spectral.FrameSpectra.of(
            samples,
            self.sample_rate,
            window_type="hann",
            window_samples=self.window_samples,
            overlap_samples=self.window_samples - self.hop,
        )
        out = spectra.output()  # [n_time, n_freq]
        _on_threads(
            spectra.blocks(), lambda first: spectra.db_into(out, first, self.decibel_limits)
        )
        return torch.from_numpy(out).T[self._rows]

    def _long_torch(self, x: torch.Tensor) -> torch.Tensor:
        """Return dB [n_freq, n_time] of one waveform on a torch device, chunk by chunk."""
        n_time = self.n_frames(x.shape[0])
        out = torch.empty((n_time, self.frequencies.size), dtype=torch.float32, device=x.device)
        for first in range(0, n_time, _DEVICE_CHUNK_FRAMES):
            stop = min(first + _DEVICE_CHUNK_FRAMES, n_time)
            chunk = x[first * self.hop : (stop - 1) * self.hop + self.window_samples]
            out[first:stop] = self._db_torch(chunk[None])[0]
        return out.T

    def _db_torch(self, x: torch.Tensor) -> torch.Tensor:
        """Return dB spectra [batch, n_time, n_freq] with torch ops (GPU and other devices)."""
        low, high = self.decibel_limits
        power = self._power_torch(x) * self._bin_scale
        return power.clamp_min_(self._floor).log10_().mul_(10.0).clamp_(low, high)

    def _resized(self, db: torch.Tensor) -> torch.Tensor:
        """Resize dB spectra [batch, n_freq, n_time] to ``image_shape`` (if set)."""
        if self.image_shape is None:
            return db
        low, high = self.decibel_limits
        db = F.interpolate(
            db.unsqueeze(1),
            size=self.image_shape,
            mode="bilinear",
            align_corners=False,
            antialias=True,
        ).squeeze(1)
        return db.clamp_(low, high)  # filter weights sum to 1 only up to rounding


def _on_threads(starts: range, block: Callable[[int], None]) -> None:
    """Call ``block(start)`` for every start, in tasks of :data:`_BLOCKS_PER_TASK` starts.

    The tasks are spread over ``torch.get_num_threads()`` threads (numpy and pocketfft release
    the GIL); with one thread, or one task, they run here.
    """
    tasks = [starts[i : i + _BLOCKS_PER_TASK] for i in range(0, len(starts), _BLOCKS_PER_TASK)]
    workers = min(max(1, torch.get_num_threads()), len(tasks))

    def work(task: range) -> None:
        for start in task:
            block(start)

    if workers <= 1:
        work(starts)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(work, tasks))
