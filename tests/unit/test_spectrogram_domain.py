"""Domain Spectrogram: values equal scipy's, immutability, band/time maths, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings, strategies as st

from opso.domain import spectral
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
    # scipy's arithmetic in float32; |X|^2 and log10 may round a few ulps (7.6e-6 dB) apart
    np.testing.assert_allclose(spec.spectrogram, want, rtol=0, atol=5e-5)
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


def _grid(n_freq: int = 5, n_time: int = 6, *, top: float = 100.0) -> Spectrogram:
    """Values = row index * 10 + column index; rows every top/(n_freq-1) Hz, columns every 0.5 s."""
    values = np.add.outer(np.arange(n_freq) * 10.0, np.arange(n_time)) - 100.0
    return Spectrogram(values, np.linspace(0, top, n_freq), np.arange(n_time) * 0.5 + 0.25)


def test_limit_db_range_returns_a_clipped_copy_and_leaves_the_original() -> None:
    rng = np.random.default_rng(1)
    spec = Spectrogram(rng.normal(0, 200, (50, 40)), np.arange(50.0), np.arange(40.0))
    before = spec.spectrogram.copy()
    limited = spec.limit_db_range()
    assert limited is not spec
    assert limited.spectrogram.min() >= -100 and limited.spectrogram.max() <= -20
    assert limited.spectrogram.min() == -100 and limited.spectrogram.max() == -20
    np.testing.assert_array_equal(spec.spectrogram, before)
    assert spec.limit_db_range(-60, -30).decibel_limits == (-60.0, -30.0)
    with pytest.raises(SpectrogramParameterError, match="decibel_limits"):
        spec.limit_db_range(-20, -100)


def test_bandpass_keeps_both_edges_and_checks_the_band() -> None:
    spec = _grid()  # rows at 0, 25, 50, 75, 100 Hz
    band = spec.bandpass(25, 75)
    np.testing.assert_array_equal(band.frequencies, [25.0, 50.0, 75.0])
    np.testing.assert_array_equal(band.spectrogram, spec.spectrogram[1:4])
    assert spec.bandpass(0, 100).shape == spec.shape
    assert spec.bandpass(30, 40).shape == (0, 6)
    for low, high, match in [(60, 40, "min_f <= max_f"), (-1, 40, "min_f"), (0, 101, "Nyquist")]:
        with pytest.raises(SpectrogramParameterError, match=match):
            spec.bandpass(low, high)


def test_trim_is_half_open_so_adjacent_trims_partition_the_columns() -> None:
    spec = _grid()  # columns at 0.25, 0.75, ..., 2.75 s
    first, second = spec.trim(0, 1.25), spec.trim(1.25, 3)
    np.testing.assert_array_equal(first.times, [0.25, 0.75])
    np.testing.assert_array_equal(second.times, [1.25, 1.75, 2.25, 2.75])
    np.testing.assert_array_equal(
        np.hstack([first.spectrogram, second.spectrogram]), spec.spectrogram
    )
    assert spec.trim(-5, 0.5).times.tolist() == [0.25]
    for start, end, match in [
        (2, 1, "start_time <= end_time"),
        (3, 4, "outside"),
        (-2, -1, "outside"),
    ]:
        with pytest.raises(SpectrogramParameterError, match=match):
            spec.trim(start, end)


def test_amplitude_sums_columns_over_all_or_a_band() -> None:
    spec = _grid()
    np.testing.assert_allclose(spec.amplitude(), spec.spectrogram.sum(axis=0))
    np.testing.assert_allclose(spec.amplitude([25, 50]), spec.spectrogram[1:3].sum(axis=0))
    assert spec.amplitude().shape == (6,)


def test_net_amplitude_divides_by_bandwidth_and_is_always_an_array() -> None:
    spec = _grid()
    signal_only = spec.net_amplitude([25, 75])
    assert isinstance(signal_only, np.ndarray)
    np.testing.assert_allclose(signal_only, spec.spectrogram[1:4].sum(axis=0) / 50)
    net = spec.net_amplitude([25, 75], reject_bands=[[0, 0], [100, 100], [0, 25]])
    rejected = (spec.spectrogram[0] + spec.spectrogram[4] + spec.spectrogram[:2].sum(axis=0)) / 25
    np.testing.assert_allclose(net, signal_only - rejected)
    with pytest.raises(SpectrogramParameterError, match="signal_band"):
        spec.net_amplitude([50, 50])


def test_scaling_maps_limits_or_extremes_and_keeps_decibel_limits() -> None:
    spec = Spectrogram(np.array([[-100.0, -60.0], [-20.0, -40.0]]), np.arange(2.0), np.arange(2.0))
    np.testing.assert_allclose(spec.linear_scale().spectrogram, [[0.0, 0.5], [1.0, 0.75]])
    np.testing.assert_allclose(spec.linear_scale((0, 255)).spectrogram[1], [255.0, 191.25])
    mm = spec.min_max_scale((-1, 1))
    assert mm.spectrogram.min() == -1 and mm.spectrogram.max() == 1
    for derived in (spec.linear_scale(), mm, spec.bandpass(0, 1), spec.trim(0, 1)):
        assert derived.decibel_limits == (-100.0, -20.0)
    limited = Spectrogram(
        np.full((2, 2), -45.0), np.arange(2.0), np.arange(2.0), decibel_limits=(-50, -40)
    )
    np.testing.assert_allclose(limited.linear_scale().spectrogram, 0.5)


def test_pixels_put_low_frequencies_at_the_bottom_and_loud_in_black() -> None:
    spec = _grid(n_freq=5, n_time=2)
    pixels = spec.to_pixels((-100, -60))
    assert pixels.dtype == np.uint8 and pixels.shape == (5, 2)
    assert pixels[-1, 0] == 255  # lowest row, -100 dB: white, at the bottom
    assert pixels[0, 0] == 0  # highest row, -60 dB: black, at the top
    back = Spectrogram.from_pixels(pixels, spec_range=(-100, -60), frequencies=spec.frequencies)
    want = np.clip(spec.spectrogram, -100, -60)
    np.testing.assert_allclose(back.spectrogram, want, atol=40 / 510 + 1e-9)
    assert back.decibel_limits == (-100.0, -60.0)


def test_image_tags_restore_axes_and_range() -> None:
    spec = Spectrogram.from_audio(_noise(seconds=1.0), decibel_limits=(-90, -30))
    tags = spec.image_metadata((-90, -30))
    back = Spectrogram.from_image(spec.to_pixels((-90, -30)), tags)
    np.testing.assert_allclose(back.frequencies, spec.frequencies)
    np.testing.assert_allclose(back.times, spec.times, atol=1e-9)
    np.testing.assert_allclose(back.spectrogram, spec.spectrogram, atol=60 / 510 + 1e-5)
    plain = Spectrogram.from_image(spec.to_pixels(), {})
    np.testing.assert_array_equal(plain.frequencies, np.arange(257.0))
    with pytest.raises(SpectrogramInputError, match="opso:times"):
        Spectrogram.from_image(spec.to_pixels(), {"opso:times": "a b"})


@settings(max_examples=30, deadline=None)
@given(
    n_samples=st.integers(0, 5000),
    window=st.integers(2, 600),
    overlap_fraction=st.floats(0, 0.95),
)
def test_shape_follows_window_and_hop(n_samples: int, window: int, overlap_fraction: float) -> None:
    overlap = min(int(window * overlap_fraction), window - 1)
    rng = np.random.default_rng(n_samples)
    audio = Audio(rng.normal(0, 1, n_samples).astype(np.float32), 8000)
    spec = Spectrogram.from_audio(audio, window_samples=window, overlap_samples=overlap)
    hop = window - overlap
    n_time = 0 if n_samples < window else (n_samples - window) // hop + 1
    assert spec.shape == (window // 2 + 1, n_time)
    assert spec.frequencies[-1] == pytest.approx(
        4000 if window % 2 == 0 else 4000 * (window - 1) / window
    )
    if n_time:
        assert spec.spectrogram.min() >= -100 and spec.spectrogram.max() <= -20
        np.testing.assert_allclose(np.diff(spec.times), hop / 8000)


@settings(max_examples=30, deadline=None)
@given(cut=st.floats(0, 3), end=st.floats(0, 4))
def test_adjacent_trims_never_share_or_drop_a_column(cut: float, end: float) -> None:
    spec = _grid(n_time=6)
    end = max(end, cut)
    if cut > spec.times[-1]:
        return
    left = spec.trim(0, cut)
    right = spec.trim(cut, end) if cut <= spec.times[-1] else None
    assert right is not None
    want = spec.times[spec.times < end]
    np.testing.assert_array_equal(np.concatenate([left.times, right.times]), want)


def test_power_before_db_is_scipys_and_gives_the_db_values() -> None:
    rng = np.random.default_rng(1)
    audio = Audio(rng.normal(scale=0.1, size=4000).astype(np.float32), 8000)
    power, freqs, times = Spectrogram.power_from_audio(
        audio, window_samples=256, overlap_samples=128
    )
    f, t, ref = scipy.signal.spectrogram(
        audio.samples, 8000, window="hann", nperseg=256, noverlap=128, scaling="spectrum"
    )
    np.testing.assert_allclose(power, ref, rtol=1e-5)
    np.testing.assert_array_equal(freqs, f)
    np.testing.assert_allclose(times, t)
    db = Spectrogram.from_audio(audio, window_samples=256, overlap_samples=128)
    np.testing.assert_allclose(
        db.spectrogram, np.clip(10 * np.log10(power), -100, -20), rtol=1e-5, atol=1e-4
    )
    with pytest.raises(SpectrogramInputError, match="expects an Audio"):
        Spectrogram.power_from_audio(audio.samples)  # type: ignore[arg-type]


def test_blocks_of_frames_give_the_same_values_in_any_order() -> None:
    samples = _noise(seconds=20.0).samples  # 1721 frames: four blocks, the last one short
    spectra = spectral.FrameSpectra.of(samples, 22050)
    in_order, reversed_order = spectra.output(), spectra.output()
    for first in spectra.blocks():
        spectra.db_into(in_order, first, (-100.0, -20.0))
    for first in reversed(spectra.blocks()):
        spectra.db_into(reversed_order, first, (-100.0, -20.0))
    np.testing.assert_array_equal(in_order, reversed_order)
    np.testing.assert_array_equal(
        in_order.T, Spectrogram.from_audio(Audio(samples, 22050)).spectrogram
    )


def test_float64_samples_give_scipys_float64_power() -> None:
    samples = np.random.default_rng(3).normal(scale=0.1, size=30000)
    power, _, _ = spectral.power_spectrogram(samples, 8000, window_samples=300, overlap_samples=77)
    _, _, want = scipy.signal.spectrogram(
        samples, 8000, window="hann", nperseg=300, noverlap=77, scaling="spectrum"
    )
    assert power.dtype == np.float64 and power.shape == want.shape
    np.testing.assert_allclose(power, want, rtol=1e-12, atol=0)
