"""Spec-compatible conveniences over the default adapters (``Audio.from_file``, ...)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Self

import pandas as pd

from opso.adapters.pillow_images import PillowImages
from opso.container import Container
from opso.domain import audio as _audio, dsp, spectrogram as _spectrogram
from opso.domain.audio import FinalClip
from opso.ports.audio_io import AudioReader, AudioWriter
from opso.ports.images import ImageMode

if TYPE_CHECKING:
    import PIL.Image


@functools.cache
def default_container() -> Container:
    """Return the process-wide default container used by the spec-style API."""
    return Container()


def _reader() -> AudioReader:
    reader: AudioReader = default_container().audio_io()
    return reader


def _writer() -> AudioWriter:
    writer: AudioWriter = default_container().audio_io()
    return writer


class Audio(_audio.Audio):
    """Mono audio with the spec's file I/O: ``from_file``, ``from_bytesio`` and ``save``.

    See :class:`opso.domain.Audio` for the samples, the validation and the time-domain methods.
    """

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        sample_rate: int | None = None,
        resample_type: str = "kaiser_fast",
        max_duration: float | None = None,
    ) -> Self:
        """Load an audio file (WAV, FLAC, OGG, MP3) as mono float32.

        Parameters
        ----------
        path
            Path to the file.
        sample_rate
            Resample to this rate in Hz; None keeps the file's rate.
        resample_type
            ``"kaiser_fast"`` (soxr HQ), ``"kaiser_best"`` (soxr VHQ) or a ``"soxr_*"`` name.
        max_duration
            Longest allowed file length in seconds, checked from the header before decoding.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        OpsoLoadAudioInputError
            If the file is not readable audio or holds no frames.
        OpsoLoadAudioInputTooLong
            If the file is longer than ``max_duration``.
        """
        a = _reader().read(
            Path(path),
            sample_rate=sample_rate,
            resample_type=resample_type,
            max_duration=max_duration,
        )
        return cls(a.samples, a.sample_rate, resample_type=resample_type, max_duration=max_duration)

    @classmethod
    def from_bytesio(
        cls,
        bytesio: BinaryIO,
        sample_rate: int | None = None,
        max_duration: float | None = None,
        resample_type: str = "kaiser_fast",
    ) -> Self:
        """Load audio from a binary file-like object (e.g. ``io.BytesIO`` of a WAV file)."""
        a = _reader().read(
            bytesio,
            sample_rate=sample_rate,
            resample_type=resample_type,
            max_duration=max_duration,
        )
        return cls(a.samples, a.sample_rate, resample_type=resample_type, max_duration=max_duration)

    def save(self, path: str | Path) -> None:
        """Write the audio to ``path`` (format from the suffix), atomically."""
        _writer().write(self, Path(path))


def split_and_save(
    audio: _audio.Audio,
    destination: str | Path,
    prefix: str,
    clip_duration: float,
    clip_overlap: float = 0,
    final_clip: FinalClip = None,
    dry_run: bool = False,
) -> pd.DataFrame:
    """Split audio into clips and write them to ``destination`` as ``{prefix}_{begin}s_{end}s.wav``.

    Parameters
    ----------
    audio
        The audio to split.
    destination
        Folder for the clips (created if missing).
    prefix
        Name put before each clip's times; it cannot lead outside ``destination``.
    clip_duration, clip_overlap, final_clip
        As :meth:`opso.Audio.split`.
    dry_run
        If True, write nothing and only return the clip table.

    Returns
    -------
    pandas.DataFrame
        Columns ``begin_time`` and ``end_time`` (s), indexed by each clip's output path.
    """
    records = (
        default_container()
        .split_audio()
        .run(
            audio=audio,
            destination=Path(destination),
            prefix=prefix,
            clip_duration=clip_duration,
            clip_overlap=clip_overlap,
            final_clip=final_clip,
            dry_run=dry_run,
        )
    )
    return pd.DataFrame(
        {"begin_time": [r.begin_time for r in records], "end_time": [r.end_time for r in records]},
        index=pd.Index([str(r.path) for r in records], name="clip"),
    )


def silence_filter(
    filename: str | Path,
    smoothing_factor: int = 10,
    window_len_samples: int = 256,
    overlap_len_samples: int = 128,
    threshold: float | None = None,
) -> float:
    """Score whether a file holds sound above its background.

    Returns the peak smoothed window energy over the mean energy, minus one, when
    ``threshold`` is None; otherwise 1 if that score exceeds ``threshold`` (sound) and 0 if not
    (silence).
    """
    samples = _reader().read(Path(filename)).samples
    score = dsp.silence_score(
        samples,
        smoothing_factor=smoothing_factor,
        window_len_samples=window_len_samples,
        overlap_len_samples=overlap_len_samples,
    )
    if threshold is None:
        return score
    return int(score > threshold)


def _images() -> PillowImages:
    images: PillowImages = default_container().spectrogram_images()
    return images


class Spectrogram(_spectrogram.Spectrogram):
    """A spectrogram with the spec's images and plots: ``to_image``, ``plot``, ``from_file``.

    See :class:`opso.domain.spectrogram.Spectrogram` for the values, validation and maths.
    """

    def to_image(
        self,
        shape: tuple[int, int] | None = None,
        mode: ImageMode = "RGB",
        spec_range: tuple[float, float] | list[float] = (-100, -20),
    ) -> PIL.Image.Image:
        """Return a Pillow image: loud is dark, low frequencies at the bottom.

        Values are mapped linearly from ``spec_range`` dB to grey levels 255 (quietest, white)
        to 0 (loudest, black).

        Parameters
        ----------
        shape
            ``(height, width)`` in pixels, resized with Pillow's bilinear filter
            (antialiased); None keeps one pixel per value.
        mode
            ``"RGB"`` for three channels or ``"L"`` for one grey channel.
        spec_range
            The ``(low, high)`` dB mapped to white and black.

        Raises
        ------
        SpectrogramParameterError
            If ``mode``, ``shape`` or ``spec_range`` is invalid, or the spectrogram is empty.
        """
        low, high = spec_range
        return _images().render(self.to_pixels((low, high)), shape=shape, mode=mode)

    def plot(
        self, inline: bool = True, fname: str | Path | None = None, show_colorbar: bool = False
    ) -> None:
        """Plot the spectrogram with matplotlib: time in s, frequency in Hz, loud is dark.

        Parameters
        ----------
        inline
            Show the figure through pyplot (inline in Jupyter); False only saves.
        fname
            Save the plot to this path (``.png``, ``.pdf``, ``.svg``, ...), atomically.
        show_colorbar
            Add a dB colour bar.
        """
        plotter = default_container().spectrogram_plotter()
        plotter.plot(
            self,
            path=None if fname is None else Path(fname),
            show=inline,
            show_colorbar=show_colorbar,
        )

    @classmethod
    def from_file(cls, file: str | Path, spec_range: tuple[float, float] | None = None) -> Self:
        """Read a spectrogram back from an image file made by :meth:`to_image` or the CLI.

        Grey levels map back to dB linearly (within one grey level,
        ``(high - low) / 255`` dB). PNG files written by ``opso spectrogram --image-only``
        carry tags with the dB range and axes; other images get ``spec_range`` (default
        ``(-100, -20)``) and row/column indices as axes.

        Raises
        ------
        FileNotFoundError
            If ``file`` does not exist.
        ImageReadError
            If ``file`` is not an image.
        """
        pixels, tags = _images().read(Path(file))
        return cls.from_image(pixels, tags, spec_range=spec_range)


class MelSpectrogram(_spectrogram.MelSpectrogram, Spectrogram):
    """A mel spectrogram (dB or PCEN) with the images and plots of :class:`Spectrogram`."""
