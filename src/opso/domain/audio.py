"""The Audio value object: mono samples at a sample rate, immutable, with time-domain operations."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, Self, TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray

from opso.domain import dsp
from opso.domain.errors import OpsoLoadAudioInputTooLong, ParameterError
from opso.domain.recording_info import RecordingInfo

FinalClip = Literal["remainder", "full", "extend"] | None
_EPS = 1e-9


def frozen_float32(samples: Any, *, name: str = "samples") -> NDArray[np.float32]:
    """Return ``samples`` as a read-only 1-D float32 array, copying only a writeable input.

    Raises
    ------
    ValueError
        If ``samples`` is not a 1-D array of real numbers.
    """
    arr = np.asarray(samples)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise ParameterError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ParameterError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype != np.float32 or arr.flags.writeable:
        arr = arr.astype(np.float32, copy=True)
    arr.flags.writeable = False
    return arr


class Clip(TypedDict):
    """One clip of :meth:`Audio.split`: its audio and where it lies in the source, in seconds."""

    audio: Audio
    begin_time: float
    end_time: float


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What a file header says about a recording, without decoding its samples."""

    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        """Length in seconds (frames / sample rate)."""
        return self.frames / self.sample_rate


@dataclass(frozen=True, slots=True, eq=False, init=False)
class Audio:
    """Mono audio: float32 samples [shape=(n,)], read-only, at ``sample_rate`` Hz.

    Parameters
    ----------
    samples
        1-D numeric array. Converted to float32 (values kept as given) and frozen.
    sample_rate
        Samples per second, a positive integer.
    resample_type
        Resampling method used by readers that build this object (kept for the spec's API).
    max_duration
        Longest allowed duration in seconds, or None for no limit.
    metadata
        What the recorder wrote about the recording, with ``metadata.start`` the moment of the
        first sample; None when unknown. Methods that cut the audio move the start with it.

    Raises
    ------
    ValueError
        If ``samples`` is not a 1-D numeric array or ``sample_rate`` not a positive integer.
    OpsoLoadAudioInputTooLong
        If the audio is longer than ``max_duration``.
    """

    samples: NDArray[np.float32]
    sample_rate: int
    resample_type: str
    max_duration: float | None
    metadata: RecordingInfo | None

    def __init__(
        self,
        samples: ArrayLike,
        sample_rate: int,
        resample_type: str = "kaiser_fast",
        max_duration: float | None = None,
        *,
        metadata: RecordingInfo | None = None,
    ) -> None:
        sr = sample_rate
        if isinstance(sr, bool) or not isinstance(sr, int | np.integer) or sr <= 0:
            raise ParameterError(f"sample_rate must be a positive integer, got {sr!r}")
        if metadata is not None and not isinstance(metadata, RecordingInfo):
            raise ParameterError(f"metadata must be a RecordingInfo or None, got {metadata!r}")
        object.__setattr__(self, "sample_rate", int(sr))
        object.__setattr__(self, "samples", frozen_float32(samples))
        object.__setattr__(self, "resample_type", resample_type)
        object.__setattr__(self, "max_duration", max_duration)
        object.__setattr__(self, "metadata", metadata)
        if self.max_duration is not None and self.duration() > self.max_duration + _EPS:
            raise OpsoLoadAudioInputTooLong(
                f"audio is {self.duration():.3f} s long, over max_duration={self.max_duration} s"
            )

    def __repr__(self) -> str:
        return f"<Audio(samples={self.samples.shape}, sample_rate={self.sample_rate})>"

    def duration(self) -> float:
        """Return the length in seconds."""
        return len(self.samples) / self.sample_rate

    @property
    def start_timestamp(self) -> datetime | None:
        """When the first sample was recorded (time-zone aware), or None if unknown."""
        return None if self.metadata is None else self.metadata.start

    def time_to_sample(self, time: float) -> int:
        """Return the sample index nearest to ``time`` seconds (``round(time * sample_rate)``)."""
        return round(time * self.sample_rate)

    def trim(self, start_time: float, end_time: float) -> Self:
        """Return the audio between ``start_time`` and ``end_time`` seconds.

        A negative start is clamped to 0 and an end past the audio to its end (see
        ``docs/decisions/0002-trim-clamps-to-the-audio.md``). The result's
        :attr:`start_timestamp` is that of its first sample.

        Raises
        ------
        ValueError
            If ``end_time`` is before ``start_time``.
        """
        if end_time < start_time:
            raise ParameterError(f"end_time ({end_time}) is before start_time ({start_time})")
        start = min(max(self.time_to_sample(start_time), 0), len(self.samples))
        end = min(max(self.time_to_sample(end_time), start), len(self.samples))
        metadata = self.metadata
        if metadata is not None:
            metadata = metadata.moved(start / self.sample_rate)
        return replace(self, samples=self.samples[start:end], max_duration=None, metadata=metadata)

    def extend(self, length: float) -> Self:
        """Return the audio looped (repeated from its start) to ``length`` seconds.

        A length shorter than the audio truncates it. Empty audio extends with silence.

        Raises
        ------
        ValueError
            If ``length`` is negative.
        """
        if length < 0:
            raise ParameterError(f"length must be >= 0 seconds, got {length!r}")
        looped = fixed_length(self.samples, round(length * self.sample_rate))
        looped.flags.writeable = False
        return replace(self, samples=looped, max_duration=None)

    def bandpass(self, low_f: float, high_f: float, order: int) -> Self:
        """Return the audio through a zero-phase Butterworth band-pass (``sosfiltfilt``).

        Parameters
        ----------
        low_f, high_f
            -3 dB cut-offs in Hz, ``0 < low_f < high_f < sample_rate / 2``.
        order
            Butterworth order (steepness of the cut-off).
        """
        filtered = dsp.bandpass_filter(self.samples, low_f, high_f, self.sample_rate, order)
        return replace(self, samples=frozen_float32(filtered))

    def spectrum(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return ``(fft, frequencies)``: the magnitude spectrum and its frequencies in Hz."""
        return dsp.spectrum(self.samples, self.sample_rate)

    def split(
        self, clip_duration: float, clip_overlap: float = 0, final_clip: FinalClip = None
    ) -> list[Clip]:
        """Split the audio into clips of ``clip_duration`` s that overlap by ``clip_overlap`` s.

        Parameters
        ----------
        clip_duration
            Length of each clip in seconds (> 0).
        clip_overlap
            Overlap of consecutive clips in seconds, ``0 <= clip_overlap < clip_duration``.
        final_clip
            What to do with audio after the last full clip: None drops it; ``"remainder"`` adds
            a shorter clip; ``"full"`` adds a full-length clip ending at the end of the audio;
            ``"extend"`` adds the remainder looped to ``clip_duration``.

        Returns
        -------
        list of dict
            One ``{"audio", "begin_time", "end_time"}`` per clip, in time order.
        """
        return [
            Clip(
                audio=self._clip(begin, end, clip_duration, final_clip),
                begin_time=begin,
                end_time=end,
            )
            for begin, end in clip_times(self.duration(), clip_duration, clip_overlap, final_clip)
        ]

    def _clip(self, begin: float, end: float, clip_duration: float, final_clip: FinalClip) -> Self:
        clip = self.trim(begin, end)
        if final_clip == "extend" and end - begin < clip_duration - _EPS:
            return clip.extend(clip_duration)
        return clip


def fixed_length(
    samples: NDArray[np.float32], n: int, *, start: int = 0, stop: int | None = None
) -> NDArray[np.float32]:
    """Return exactly ``n`` samples from sample ``start``: the one windowing rule of opso.

    The window is ``samples[start:min(start + n, stop)]``; when the audio (or ``stop``) ends
    before ``n`` samples, the window is looped from its own start to ``n`` samples, and a window
    with no samples is silence. Training, prediction, batch runs and ``Audio.split(...,
    final_clip="extend")`` all cut clips with it, so they cannot drift apart.

    Parameters
    ----------
    samples
        The decoded recording (or a decoded part of it).
    n
        Samples wanted (>= 0).
    start, stop
        First sample, and the sample the window may not reach (None: the end of ``samples``).
    """
    end = len(samples) if stop is None else min(stop, len(samples))
    start = min(max(start, 0), len(samples))
    window = samples[start : max(start, min(start + n, end))]
    if len(window) == n:
        return window
    if len(window) == 0:
        return np.zeros(n, dtype=np.float32)
    return np.resize(window, n).astype(np.float32, copy=False)


def clip_windows(
    samples: NDArray[np.float32],
    sample_rate: int,
    times: Sequence[tuple[float, float]],
    clip_samples: int,
    *,
    origin: int = 0,
) -> NDArray[np.float32]:
    """Cut clips [shape=(len(times), clip_samples)] with :func:`fixed_length`.

    Clip ``(begin, end)`` starts at sample ``round(begin * sample_rate)`` of the recording and
    may not reach sample ``round(end * sample_rate)``; ``samples`` start at recording sample
    ``origin`` (a decoded window of a long file).
    """
    out = np.empty((len(times), clip_samples), dtype=np.float32)
    for k, (begin, end) in enumerate(times):
        start = round(begin * sample_rate) - origin
        out[k] = fixed_length(
            samples, clip_samples, start=start, stop=round(end * sample_rate) - origin
        )
    return out


def clip_times(
    duration: float, clip_duration: float, clip_overlap: float = 0, final_clip: FinalClip = None
) -> list[tuple[float, float]]:
    """Return the ``(begin, end)`` times in seconds of the clips :meth:`Audio.split` makes.

    Every clip but the final one is a full ``clip_duration`` inside the audio; at most one
    final clip covers what is left (see ``docs/decisions/0001-split-never-runs-past-the-end.md``).

    Raises
    ------
    ValueError
        If ``clip_duration <= 0``, the overlap is outside ``[0, clip_duration)``, or
        ``final_clip`` is not one of None, ``"remainder"``, ``"full"``, ``"extend"``.
    """
    if not clip_duration > 0 or not math.isfinite(clip_duration):
        raise ParameterError(
            f"clip_duration must be a positive number of seconds: {clip_duration!r}"
        )
    if not 0 <= clip_overlap < clip_duration:
        raise ParameterError(
            f"clip_overlap must be in [0, clip_duration={clip_duration}), got {clip_overlap!r}"
        )
    if final_clip not in (None, "remainder", "full", "extend"):
        raise ParameterError(
            f"final_clip must be None, 'remainder', 'full' or 'extend', got {final_clip!r}"
        )
    step = clip_duration - clip_overlap
    n_full = math.floor((duration - clip_duration) / step + _EPS) + 1
    n_full = max(n_full, 0)
    times = [(round(i * step, 9), round(i * step + clip_duration, 9)) for i in range(n_full)]
    covered = times[-1][1] if times else 0.0
    if final_clip is None or covered >= duration - _EPS:
        return times
    if final_clip == "full" and duration >= clip_duration:
        times.append((round(duration - clip_duration, 9), duration))
    else:
        times.append((round(n_full * step, 9), duration))
    return times
