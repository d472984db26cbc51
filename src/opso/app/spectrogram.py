"""Use-case: draw a recording's spectrogram to an image or a labelled plot."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from opso.domain.errors import SpectrogramParameterError
from opso.domain.spectrogram import MelSpectrogram, Spectrogram
from opso.ports.audio_io import AudioReader
from opso.ports.images import ImageMode, ImageStore, SpectrogramPlotter


@dataclass(frozen=True)
class RenderSpectrogram:
    """Read (part of) a recording, compute its spectrogram and write a plot or an image."""

    reader: AudioReader
    images: ImageStore
    plotter: SpectrogramPlotter

    def run(
        self,
        *,
        source: Path,
        destination: Path,
        start: float = 0.0,
        end: float | None = None,
        sample_rate: int | None = None,
        window_samples: int = 512,
        overlap_samples: int = 256,
        db_range: tuple[float, float] = (-100.0, -20.0),
        bandpass: tuple[float, float] | None = None,
        mel: bool = False,
        n_mels: int = 64,
        image_only: bool = False,
        shape: tuple[int, int] | None = None,
        mode: ImageMode = "RGB",
    ) -> Spectrogram:
        """Write the spectrogram of ``source`` to ``destination`` and return it.

        Parameters
        ----------
        source
            Audio file.
        destination
            Output file; its suffix picks the format (``.png``, ``.pdf``, ...).
        start, end
            Part of the recording in s; ``end=None`` reads to the end.
        sample_rate
            Resample to this rate in Hz first; None keeps the file's rate.
        window_samples, overlap_samples
            Spectrogram window and overlap in samples.
        db_range
            ``(low, high)`` dB: clipping limits and the grey scale (low white, high black).
        bandpass
            ``(low, high)`` Hz: keep only these frequencies (both edges kept).
        mel
            Mel bands (``n_mels``) instead of linear frequencies.
        n_mels
            Number of mel bands when ``mel`` is set.
        image_only
            Write a bare image (one pixel per value unless ``shape``; PNG tags for
            ``Spectrogram.from_file``) instead of a plot with axes.
        shape
            ``(height, width)`` of a bare image.
        mode
            ``"RGB"`` or ``"L"`` for a bare image.

        Raises
        ------
        SpectrogramParameterError
            If the time range, window or band is invalid, or the audio is shorter than one
            window (nothing to draw).
        OpsoLoadAudioInputError, FileNotFoundError
            If the audio cannot be read.
        """
        if start < 0 or (end is not None and end <= start):
            raise SpectrogramParameterError(
                f"time range needs 0 <= start < end, got start={start}, end={end}"
            )
        audio = self.reader.read(
            source,
            sample_rate=sample_rate,
            offset=start,
            duration=None if end is None else end - start,
        )
        spec: Spectrogram
        if mel:
            spec = MelSpectrogram.from_audio(
                audio,
                window_samples=window_samples,
                overlap_samples=overlap_samples,
                decibel_limits=db_range,
                n_mels=n_mels,
            )
        else:
            spec = Spectrogram.from_audio(
                audio,
                window_samples=window_samples,
                overlap_samples=overlap_samples,
                decibel_limits=db_range,
            )
        if bandpass is not None:
            spec = spec.bandpass(*bandpass)
        if spec.spectrogram.shape[1] == 0:
            raise SpectrogramParameterError(
                f"{source}: {audio.duration():.3f} s of audio is shorter than one window "
                f"({window_samples} samples at {audio.sample_rate} Hz); nothing to draw"
            )
        if spec.spectrogram.shape[0] == 0:
            raise SpectrogramParameterError(f"band {bandpass} Hz holds no frequency row")
        if start:
            spec = _shift_times(spec, start)
        if image_only:
            self.images.write(
                spec.to_pixels(db_range),
                destination,
                shape=shape,
                mode=mode,
                metadata=spec.image_metadata(db_range),
            )
        else:
            self.plotter.plot(spec, path=destination, show_colorbar=True, title=source.name)
        return spec


def _shift_times(spec: Spectrogram, offset: float) -> Spectrogram:
    """Return ``spec`` with times measured from the start of the recording."""
    return replace(spec, times=spec.times + offset)
