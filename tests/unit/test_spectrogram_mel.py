"""MelSpectrogram and PCEN: numpy maths checked against librosa and scipy."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.signal

from opso.domain import spectral
from opso.domain.audio import Audio
from opso.domain.errors import SpectrogramParameterError
from opso.domain.spectrogram import MelSpectrogram, Pcen, Spectrogram


def _tone(freq: float, sample_rate: int = 22050, seconds: float = 1.0) -> Audio:
    t = np.arange(round(sample_rate * seconds)) / sample_rate
    return Audio((0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sample_rate)


@pytest.mark.parametrize(
    ("sample_rate", "n_fft", "n_mels", "fmin", "fmax"),
    [(22050, 512, 64, 0.0, 11025.0), (32000, 1024, 40, 300.0, 12000.0), (16000, 256, 8, 50, 4000)],
)
def test_filterbank_equals_librosa_slaney(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> None:
    weights, centres = spectral.mel_filterbank(
        sample_rate=sample_rate, window_samples=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax
    )
    want = librosa.filters.mel(
        sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=False, norm="slaney"
    )
    np.testing.assert_allclose(weights, want, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(
        centres, librosa.mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax)[1:-1], rtol=1e-12
    )


def test_pcen_equals_librosa() -> None:
    rng = np.random.default_rng(3)
    energy = rng.random((16, 200)) * 1e4
    got = spectral.pcen(energy, sample_rate=22050, hop=256, gain=0.9, bias=3.0, time_constant=0.2)
    want = librosa.pcen(energy, sr=22050, hop_length=256, gain=0.9, bias=3.0, time_constant=0.2)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    zero_power = spectral.pcen(energy, sample_rate=22050, hop=256, power_exponent=0)
    want_zero = librosa.pcen(energy, sr=22050, hop_length=256, power=0)
    np.testing.assert_allclose(zero_power, want_zero, rtol=1e-10)
    with pytest.raises(SpectrogramParameterError, match="time_constant"):
        spectral.pcen(energy, sample_rate=22050, hop=256, time_constant=0)


def test_mel_db_is_the_filterbank_over_scipy_power() -> None:
    audio = _tone(3000.0)
    mel = MelSpectrogram.from_audio(audio, n_mels=32, fmin=100, fmax=8000)
    _, _, power = scipy.signal.spectrogram(
        audio.samples, 22050, window="hann", nperseg=512, noverlap=256, scaling="spectrum"
    )
    weights, centres = spectral.mel_filterbank(
        sample_rate=22050, window_samples=512, n_mels=32, fmin=100, fmax=8000
    )
    with np.errstate(divide="ignore"):
        want = np.clip(10 * np.log10(weights.astype(np.float32) @ power), -100, -20)
    assert isinstance(mel, Spectrogram)
    assert mel.shape == (32, power.shape[1])
    np.testing.assert_allclose(mel.spectrogram, want, atol=1e-4)
    np.testing.assert_array_equal(mel.frequencies, centres)
    loudest_band = centres[np.argmax(mel.spectrogram.mean(axis=1))]
    assert 2700 < loudest_band < 3300


def test_mel_pcen_is_finite_and_flattens_a_steady_tone() -> None:
    audio = _tone(2000.0, seconds=3.0)
    mel = MelSpectrogram.from_audio(audio, n_mels=16, pcen=Pcen())
    assert np.all(np.isfinite(mel.spectrogram))
    assert mel.spectrogram.min() >= 0
    band = int(np.argmin(np.abs(mel.frequencies - 2000)))
    late = mel.spectrogram[band, -50:]
    assert np.ptp(late) < 0.05 * late.mean()  # adaptive gain: a steady tone settles


def test_mel_bad_band_names_the_value() -> None:
    with pytest.raises(SpectrogramParameterError, match="fmax=20000"):
        MelSpectrogram.from_audio(_tone(1000.0), fmax=20000)
    with pytest.raises(SpectrogramParameterError, match="n_mels"):
        MelSpectrogram.from_audio(_tone(1000.0), n_mels=0)


def test_s_is_the_mel_values_and_read_only() -> None:
    mel = MelSpectrogram.from_audio(_tone(1000.0), n_mels=16)
    assert mel.S is mel.spectrogram
    assert mel.S.shape == (16, mel.shape[1])
    assert not mel.S.flags.writeable


def test_to_pcen_equals_pcen_of_the_unclipped_mel_power() -> None:
    audio = _tone(2000.0, seconds=2.0)
    wide = MelSpectrogram.from_audio(audio, n_mels=16, decibel_limits=(-400, 100))
    got = wide.to_pcen()  # OpenSoundscape 0.4.x defaults
    want = MelSpectrogram.from_audio(
        audio, n_mels=16, pcen=Pcen(gain=0.8, bias=10.0, power=0.25, time_constant=0.06)
    )
    assert type(got) is MelSpectrogram
    np.testing.assert_array_equal(got.frequencies, wide.frequencies)
    np.testing.assert_array_equal(got.times, wide.times)
    np.testing.assert_allclose(got.S, want.S, rtol=1e-4, atol=1e-5)
    band = int(np.argmin(np.abs(got.frequencies - 2000)))
    assert got.S[band, -10:].mean() > 5 * got.S[0, -10:].mean()  # the tone stands out


def test_to_pcen_equals_librosa_on_the_mel_power() -> None:
    audio = _tone(3000.0)
    mel = MelSpectrogram.from_audio(audio, n_mels=8, decibel_limits=(-400, 100))
    power = np.power(10.0, mel.S.astype(np.float64) / 10) * 2.0**31
    want = librosa.pcen(
        power, sr=22050, hop_length=256, gain=0.9, bias=2.0, power=0.5, time_constant=0.4
    )
    got = mel.to_pcen(gain=0.9, bias=2.0, power=0.5, time_constant=0.4)
    np.testing.assert_allclose(got.S, want, rtol=1e-4)


def test_to_pcen_needs_a_hop() -> None:
    one_column = MelSpectrogram(np.zeros((4, 1)), np.arange(4.0), np.array([0.1]))
    with pytest.raises(SpectrogramParameterError, match="two or more time columns"):
        one_column.to_pcen()
    with pytest.raises(SpectrogramParameterError, match="time_constant"):
        MelSpectrogram.from_audio(_tone(1000.0), n_mels=4).to_pcen(time_constant=0)


def test_public_mel_spectrogram_has_the_0_4_names() -> None:
    import opso

    mel = opso.MelSpectrogram.from_audio(opso.Audio(_tone(1000.0).samples, 22050), n_mels=8)
    assert mel.S is mel.spectrogram
    pcen = mel.to_pcen()
    assert isinstance(pcen, opso.MelSpectrogram)
    assert pcen.S.shape == (8, mel.shape[1]) and np.all(np.isfinite(pcen.S))
    assert pcen.to_image(shape=(8, 20)).size == (20, 8)  # images still work on PCEN values
