import datetime as dt

import numpy as np
import pytest
from scipy import signal

import opso
from opso.domain import dsp, helpers


def test_butter_bandpass_matches_scipy_design() -> None:
    sos = dsp.butter_bandpass(1000, 2000, 22050, order=4)
    expected = signal.butter(4, [1000 / 11025, 2000 / 11025], btype="band", output="sos")
    assert np.allclose(sos, expected)


@pytest.mark.parametrize(("low", "high"), [(2000, 1000), (0, 1000), (1000, 20000)])
def test_butter_bandpass_rejects_bad_band(low: float, high: float) -> None:
    with pytest.raises(ValueError, match="Nyquist"):
        dsp.butter_bandpass(low, high, 22050)


def test_bandpass_filter_is_zero_phase() -> None:
    sr = 4000
    t = np.arange(2 * sr) / sr
    x = np.sin(2 * np.pi * 500 * t)
    y = dsp.bandpass_filter(x, 300, 700, sr, order=4)
    core = slice(500, -500)
    assert np.max(np.abs(y[core] - x[core])) < 0.01  # no phase shift in the pass band


def test_window_energy_matches_loop_reference() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=1000)
    got = dsp.window_energy(x, 256, 128)
    starts = range(0, len(x) - 256 + 1, 128)
    expected = [np.mean(x[s : s + 256] ** 2) for s in starts]
    assert np.allclose(got, expected)
    with pytest.raises(ValueError, match="overlap_len_samples"):
        dsp.window_energy(x, 256, 256)


def test_clipping_detector_counts_both_signs() -> None:
    assert dsp.clipping_detector([0.1, 0.7, -0.9, 0.6], threshold=0.6) == 2


def test_silence_score_is_zero_for_silence_and_high_for_a_burst() -> None:
    assert dsp.silence_score(np.zeros(5000)) == 0.0
    x = np.full(20000, 1e-3)
    x[10000:12000] = 1.0
    assert dsp.silence_score(x) > 5


def test_spectrum_reads_a_sines_amplitude_at_its_frequency() -> None:
    sr, n = 8000, 8000
    t = np.arange(n) / sr
    fft, freqs = dsp.spectrum(0.5 * np.sin(2 * np.pi * 440 * t), sr)
    assert fft.shape == freqs.shape == (n // 2 + 1,)
    assert freqs[np.argmax(fft)] == 440.0
    assert fft.max() == pytest.approx(0.5, abs=1e-9)
    assert np.delete(fft, 440).max() < 1e-9  # nothing leaks at a bin frequency


def test_binarize_is_strict_and_takes_rows() -> None:
    assert helpers.binarize([0.1, 0.5, 0.9], 0.5) == [0, 0, 1]
    assert helpers.binarize([[0.2, 0.7], [0.5, 0.51]], 0.5) == [[0, 1], [0, 1]]
    with pytest.raises(ValueError, match="1-D or 2-D"):
        helpers.binarize(np.zeros((2, 2, 2)), 0.5)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        helpers.binarize(0.7, 0.5)


def test_helpers_known_values() -> None:
    assert helpers.bound(5, [0, 3]) == 3
    assert helpers.bound(-1, [0, 3]) == 0
    assert helpers.file_name("/a/b/rec_01.WAV") == "rec_01"
    assert helpers.hex_to_time("5F5E1000") == dt.datetime(2020, 9, 13, 12, 26, 40, tzinfo=dt.UTC)
    assert helpers.isNan(float("nan")) and not helpers.isNan(1.0)
    assert np.allclose(helpers.linear_scale([0, 0.5, 1]), [0, 127.5, 255])
    assert np.allclose(helpers.min_max_scale([2, 4, 6]), [0, 0.5, 1])
    assert helpers.sigmoid(0) == 0.5
    assert np.isfinite(helpers.sigmoid(-1e4)) and helpers.sigmoid(1e4) == 1.0
    x, vec = helpers.rescale_features([[1, -4], [2, 2]])
    assert np.allclose(x, [[0.5, -1], [1, 0.5]]) and np.allclose(vec, [2, 4])


def test_helpers_errors() -> None:
    with pytest.raises(ValueError, match="hexadecimal"):
        helpers.hex_to_time("xyz")
    with pytest.raises(ValueError, match="non-zero width"):
        helpers.linear_scale([1], in_range=(1, 1))
    with pytest.raises(ValueError, match="distribution"):
        helpers.jitter([1.0], 1.0, "cauchy")  # type: ignore[arg-type]


def test_jitter_is_seedable_and_bounded() -> None:
    a = helpers.jitter(np.zeros(1000), 0.1, "uniform", rng=np.random.default_rng(1))
    b = helpers.jitter(np.zeros(1000), 0.1, "uniform", rng=np.random.default_rng(1))
    assert np.array_equal(a, b)
    assert np.all(np.abs(a) <= 0.1)


def test_spec_names_reachable_from_package() -> None:
    for name in [
        "Audio",
        "split_and_save",
        "bandpass_filter",
        "butter_bandpass",
        "clipping_detector",
        "window_energy",
        "silence_filter",
        "OpsoLoadAudioInputError",
        "OpsoLoadAudioInputTooLong",
        "binarize",
        "bound",
        "file_name",
        "hex_to_time",
        "isNan",
        "jitter",
        "linear_scale",
        "min_max_scale",
        "rescale_features",
        "sigmoid",
    ]:
        assert callable(getattr(opso, name)), name
    with pytest.raises(AttributeError):
        _ = opso.no_such_name


def test_import_opso_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, opso, opso.cli; opso.Audio; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
