"""The batched torch spectrogram against the domain path on real recordings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from opso.adapters.torch_spectrogram import TorchSpectrogrammer
from opso.api import Audio
from opso.domain.errors import SpectrogramInputError, SpectrogramParameterError
from opso.domain.spectrogram import Spectrogram


def _clips(path: Path, *, sample_rate: int, seconds: float, count: int) -> np.ndarray:
    audio = Audio.from_file(path, sample_rate=sample_rate)
    n = round(seconds * sample_rate)
    return np.stack([audio.samples[i * n : (i + 1) * n] for i in range(count)])


@pytest.mark.parametrize(
    ("relpath", "sample_rate", "window", "overlap"),
    [
        ("opensoundscape/audio/1min_first20s.wav", 22050, 512, 256),
        ("crowsetta/audio/Recording_1_Segment_07-snippet.wav", 32000, 512, 384),
        ("opensoundscape/audio/great_plains_toad.wav", 22050, 256, 0),
    ],
)
def test_batch_matches_domain_from_audio_within_1e_3_db(
    test_data: Path, relpath: str, sample_rate: int, window: int, overlap: int
) -> None:
    clips = _clips(test_data / relpath, sample_rate=sample_rate, seconds=2.0, count=4)
    spec = TorchSpectrogrammer(
        sample_rate=sample_rate, window_samples=window, overlap_samples=overlap
    )
    batch = spec(torch.from_numpy(clips)).numpy()
    for clip, got in zip(clips, batch, strict=True):
        want = Spectrogram.from_audio(
            Audio(clip, sample_rate), window_samples=window, overlap_samples=overlap
        )
        assert got.shape == want.spectrogram.shape
        np.testing.assert_allclose(got, want.spectrogram, rtol=0, atol=1e-3)
        np.testing.assert_array_equal(spec.frequencies, want.frequencies)
        np.testing.assert_allclose(spec.times(clip.size), want.times, rtol=0, atol=1e-12)


def test_bandpass_keeps_rows_between_edges_inclusive(test_data: Path) -> None:
    clips = _clips(
        test_data / "opensoundscape/audio/1min_first20s.wav",
        sample_rate=22050,
        seconds=1.0,
        count=2,
    )
    full = TorchSpectrogrammer(sample_rate=22050)(torch.from_numpy(clips))
    spec = TorchSpectrogrammer(sample_rate=22050, bandpass=(1033.59375, 5000.0))
    band = spec(torch.from_numpy(clips))
    freqs = np.fft.rfftfreq(512, 1 / 22050)
    rows = np.flatnonzero((freqs >= 1033.59375) & (freqs <= 5000.0))
    assert spec.frequencies[0] == 1033.59375  # an edge exactly on a row is kept
    np.testing.assert_array_equal(spec.frequencies, freqs[rows])
    torch.testing.assert_close(band, full[:, rows[0] : rows[-1] + 1])


def test_image_shape_resizes_and_stays_within_limits(test_data: Path) -> None:
    clips = _clips(
        test_data / "opensoundscape/audio/1min_first20s.wav",
        sample_rate=22050,
        seconds=5.0,
        count=3,
    )
    spec = TorchSpectrogrammer(sample_rate=22050, image_shape=(224, 112), decibel_limits=(-90, -30))
    out = spec(torch.from_numpy(clips))
    assert out.shape == (3, 224, 112)
    assert out.dtype == torch.float32
    assert float(out.min()) >= -90.0
    assert float(out.max()) <= -30.0


def test_silence_gives_the_low_limit_and_short_clips_are_empty_in_time() -> None:
    spec = TorchSpectrogrammer(sample_rate=8000, window_samples=256, overlap_samples=128)
    silent = spec(torch.zeros(2, 8000))
    assert silent.shape == (2, 129, 61)
    assert torch.all(silent == -100.0)
    assert spec(torch.zeros(3, 100)).shape == (3, 129, 0)
    assert spec(torch.zeros(0, 8000)).shape == (0, 129, 61)


def test_bad_input_names_the_value() -> None:
    with pytest.raises(SpectrogramParameterError, match="overlap_samples"):
        TorchSpectrogrammer(sample_rate=22050, window_samples=256, overlap_samples=256)
    with pytest.raises(SpectrogramParameterError, match="bandpass"):
        TorchSpectrogrammer(sample_rate=22050, bandpass=(5000, 12000))
    with pytest.raises(SpectrogramParameterError, match="image_shape"):
        TorchSpectrogrammer(sample_rate=22050, image_shape=(0, 10))
    spec = TorchSpectrogrammer(sample_rate=22050)
    with pytest.raises(SpectrogramInputError, match="2-D"):
        spec(torch.zeros(5000))
    with pytest.raises(SpectrogramParameterError, match="shorter than one window"):
        TorchSpectrogrammer(sample_rate=22050, image_shape=(10, 10))(torch.zeros(1, 100))


def test_torch_ops_path_for_accelerators_agrees_on_cpu(test_data: Path) -> None:
    # GPUs run the framing, mean removal and FFT as torch ops; check that arithmetic on CPU.
    clips = _clips(
        test_data / "opensoundscape/audio/1min_first20s.wav",
        sample_rate=22050,
        seconds=2.0,
        count=3,
    )
    spec = TorchSpectrogrammer(sample_rate=22050, bandpass=(500.0, 9000.0))
    power = spec._power_torch(torch.from_numpy(clips)) * spec._bin_scale
    db = (10 * torch.log10(power.clamp_min(1e-12))).clamp(-100, -20).transpose(1, 2).numpy()
    want = spec(torch.from_numpy(clips)).numpy()
    assert db.shape == want.shape
    np.testing.assert_allclose(db, want, rtol=0, atol=2e-2)
