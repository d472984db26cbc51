"""Domain Spectrogram: values equal scipy's, immutability, band/time maths, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.signal

from opso.domain.audio import Audio
from opso.domain.errors import SpectrogramInputError, SpectrogramParameterError
from opso.domain.spectrogram import Spectrogram


def _noise(seconds: float = 2.0, sample_rate: int = 22050, seed: int = 0) -> Audio:
    rng = np.random.default_rng(seed)
    return Audio(rng.normal(0, 0.05, round(seconds * sample_rate)).astype(np.float32), sample_rate)


def _scipy_db(audio: Audio, window: int, overlap: int, limits: tuple[float, float]) -> np.ndarray:
    _, _, power = scipy.signal.spectrogram(
        audio.samples,
        audio.sample_rate,
        window="hann",
        nperseg=window,
        noverlap=overlap,
        scaling="spectrum",
    )
    with np.errstate(divide="ignore"):
        db: np.ndarray = np.clip(10 * np.log10(power), *limits)
    return db


@pytest.mark.parametrize(
    ("window", "overlap", "limits"),
    [
        (512, 256, (-100, -20)),
        (256, 0, (-80, -30)),
        (1024, 1000, (-120, 0)),
        (255, 100, (-100, -20)),
    ],
)
def test_from_audio_equals_scipy_in_db(
    window: int, overlap: int, limits: tuple[float, float]
) -> None:
    audio = _noise(seconds=30.0)  # long enough for several internal blocks when overlap is large
    spec = Spectrogram.from_audio(
        audio, window_samples=window, overlap_samples=overlap, decibel_limits=limits
    )
    want = _scipy_db(audio, window, overlap, limits)
    f, t, _ = scipy.signal.spectrogram(
        audio.samples, audio.sample_rate, window="hann", nperseg=window, noverlap=overlap
    )
    assert spec.spectrogram.shape == want.shape
    np.testing.assert_allclose(spec.spectrogram, want, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(spec.frequencies, f)
    np.testing.assert_allclose(spec.times, t, rtol=0, atol=1e-12)
    assert spec.decibel_limits == (float(limits[0]), float(limits[1]))


def test_silence_gives_the_low_limit_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = Spectrogram.from_audio(Audio(np.zeros(22050, np.float32), 22050))
    assert np.all(spec.spectrogram == -100.0)
    assert np.all(np.isfinite(spec.spectrogram))


def test_audio_shorter_than_one_window_is_empty_in_time() -> None:
    spec = Spectrogram.from_audio(Audio(np.ones(100, np.float32), 22050))
    assert spec.spectrogram.shape == (257, 0)
    assert spec.times.shape == (0,)


def test_arrays_are_read_only_and_inputs_are_not_aliased() -> None:
    values = np.zeros((3, 4))
    spec = Spectrogram(values, np.arange(3.0), np.arange(4.0))
    values[0, 0] = 5.0
    assert spec.spectrogram[0, 0] == 0.0
    for arr in (spec.spectrogram, spec.frequencies, spec.times):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 1


@pytest.mark.parametrize(
    ("spectrogram", "frequencies", "times", "match"),
    [
        ([[1.0]], np.arange(1.0), np.arange(1.0), "spectrogram must be a numpy.ndarray"),
        (np.zeros(3), np.arange(3.0), np.arange(1.0), "2-D"),
        (np.zeros((3, 2)), np.arange(2.0), np.arange(2.0), "does not match"),
        (np.zeros((3, 2)), np.zeros((3, 1)), np.arange(2.0), "frequencies must be 1-D"),
    ],
)
def test_bad_arrays_raise_type_error(
    spectrogram: object, frequencies: object, times: object, match: str
) -> None:
    with pytest.raises(TypeError, match=match):
        Spectrogram(spectrogram, frequencies, times)  # type: ignore[arg-type]


def test_from_audio_rejects_non_audio_and_bad_windows() -> None:
    with pytest.raises(SpectrogramInputError, match="Audio"):
        Spectrogram.from_audio(np.zeros(1000))  # type: ignore[arg-type]
    with pytest.raises(SpectrogramParameterError, match="window_samples must be >= 2"):
        Spectrogram.from_audio(_noise(), window_samples=1, overlap_samples=0)
    with pytest.raises(SpectrogramParameterError, match="overlap_samples"):
        Spectrogram.from_audio(_noise(), window_samples=256, overlap_samples=256)
    with pytest.raises(SpectrogramParameterError, match="window_type"):
        Spectrogram.from_audio(_noise(), window_type="no-such-window")
