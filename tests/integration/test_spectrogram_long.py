"""One long recording through the torch spectrogrammer: blocks of frames over threads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from opso.adapters import torch_spectrogram
from opso.adapters.torch_spectrogram import TorchSpectrogrammer
from opso.api import Audio
from opso.domain import spectral
from opso.domain.errors import SpectrogramInputError, SpectrogramParameterError
from opso.domain.spectrogram import Spectrogram


@pytest.fixture(scope="module")
def recording(oss_audio: Path) -> Audio:
    """40 s of a real field recording at 22050 Hz: 3444 frames, 7 blocks of frames."""
    field = Audio.from_file(oss_audio / "1min_first20s.wav", sample_rate=22050).samples
    return Audio(np.resize(field, 40 * 22050), 22050)


@pytest.fixture
def two_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("two_threads")
@pytest.mark.parametrize(("window", "overlap"), [(512, 256), (256, 0), (1024, 768)])
def test_long_recording_equals_the_domain_path_exactly(
    recording: Audio, window: int, overlap: int
) -> None:
    want = Spectrogram.from_audio(recording, window_samples=window, overlap_samples=overlap)
    assert want.shape[1] > 2 * spectral.BLOCK_FRAMES  # several blocks, so both threads work
    spec = TorchSpectrogrammer(sample_rate=22050, window_samples=window, overlap_samples=overlap)
    got = spec.long_recording(recording.samples)
    assert got.dtype == torch.float32 and tuple(got.shape) == want.shape
    np.testing.assert_array_equal(got.numpy(), want.spectrogram)
    np.testing.assert_array_equal(spec.frequencies, want.frequencies)
    np.testing.assert_allclose(spec.times(recording.samples.size), want.times, atol=1e-12)
    from_tensor = spec.long_recording(torch.from_numpy(recording.samples.copy()))
    np.testing.assert_array_equal(from_tensor.numpy(), want.spectrogram)


def test_long_recording_agrees_with_a_batch_of_one(recording: Audio) -> None:
    spec = TorchSpectrogrammer(sample_rate=22050, bandpass=(500.0, 9000.0))
    long = spec.long_recording(recording.samples)
    batch = spec(torch.from_numpy(recording.samples[None].copy()))[0]
    assert long.shape == batch.shape == (spec.frequencies.size, spec.n_frames(40 * 22050))
    np.testing.assert_allclose(long.numpy(), batch.numpy(), rtol=0, atol=1e-3)
    full = Spectrogram.from_audio(recording).bandpass(500.0, 9000.0)
    np.testing.assert_array_equal(long.numpy(), full.spectrogram)


def test_long_recording_resizes_like_a_batch(recording: Audio) -> None:
    spec = TorchSpectrogrammer(sample_rate=22050, image_shape=(128, 400), decibel_limits=(-90, -30))
    long = spec.long_recording(recording.samples)
    batch = spec(torch.from_numpy(recording.samples[None].copy()))[0]
    assert long.shape == (128, 400)
    np.testing.assert_allclose(long.numpy(), batch.numpy(), rtol=0, atol=1e-3)
    assert float(long.min()) >= -90.0 and float(long.max()) <= -30.0


def test_device_chunks_agree_with_the_cpu_path(
    recording: Audio, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GPUs compute a long recording chunk by chunk with torch ops; check it on CPU, with
    # chunks small enough that the recording spans several.
    monkeypatch.setattr(torch_spectrogram, "_DEVICE_CHUNK_FRAMES", 1000)
    spec = TorchSpectrogrammer(sample_rate=22050)
    chunked = spec._long_torch(torch.from_numpy(recording.samples.copy()))
    want = Spectrogram.from_audio(recording).spectrogram
    assert tuple(chunked.shape) == want.shape
    np.testing.assert_allclose(chunked.numpy(), want, rtol=0, atol=2e-2)


def test_short_and_bad_recordings() -> None:
    spec = TorchSpectrogrammer(sample_rate=8000, window_samples=256, overlap_samples=128)
    assert spec.long_recording(np.zeros(100, np.float32)).shape == (129, 0)
    silent = spec.long_recording(np.zeros(8000))
    assert silent.shape == (129, 61) and bool(torch.all(silent == -100.0))
    with pytest.raises(SpectrogramInputError, match=r"one waveform \[n_samples\], got shape"):
        spec.long_recording(torch.zeros(2, 8000))
    resized = TorchSpectrogrammer(sample_rate=8000, image_shape=(10, 10))
    with pytest.raises(SpectrogramParameterError, match="shorter than one window"):
        resized.long_recording(np.zeros(100, np.float32))
