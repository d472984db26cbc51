"""RIBBIT maths: pulse scores, exact windows, species presets, summaries and the use-case."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st
from scipy import signal

import opso
from opso.adapters.memory import InMemoryAudioIO, InMemoryTables
from opso.app.files import AudioJob
from opso.app.ribbit import ScorePulses, dynamic_window, presets_from_table
from opso.cli import main
from opso.container import Container
from opso.domain.audio import Audio
from opso.domain.dsp import bandpass_filter
from opso.domain.ribbit import (
    PulsePreset,
    analysis_windows,
    pulse_rate_spectrum,
    ribbit_amplitude,
)
from opso.domain.spectrogram import Spectrogram

SR = 8000


def pulsed_call(seconds: float, *, pulse_rate: float = 8.0, seed: int = 0) -> Audio:
    """Band-limited noise (1.6-2.4 kHz) whose level swings smoothly ``pulse_rate`` times a
    second, over a faint broadband background: a toy frog chorus."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * SR)) / SR
    carrier = bandpass_filter(rng.standard_normal(t.size), 1600, 2400, SR, order=6)
    envelope = 0.5 + 0.45 * np.sin(2 * np.pi * pulse_rate * t)
    return Audio(
        0.1 * envelope * carrier / np.std(carrier) + 0.003 * rng.standard_normal(t.size), SR
    )


def spec_of(audio: Audio) -> Spectrogram:
    return Spectrogram.from_audio(audio, window_samples=256, overlap_samples=128)


def test_pulse_score_known_values() -> None:
    t = np.arange(0, 10, 0.01)
    x = np.sin(2 * np.pi * 20 * t)
    inside = opso.calculate_pulse_score(x, 100, [0, 30])
    outside = opso.calculate_pulse_score(x, 100, [25, 30])
    assert inside > 0
    assert inside > 1e4 * outside
    assert opso.calculate_pulse_score(x, 100, [0, 0.01]) == 0.0  # no frequency inside


def test_pulse_score_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="empty"):
        opso.calculate_pulse_score([], 100, [0, 30])
    with pytest.raises(ValueError, match="pulse_rate_range"):
        opso.calculate_pulse_score([1.0, 2.0], 100, [30, 10])
    with pytest.raises(ValueError, match="amplitude_sample_rate"):
        opso.calculate_pulse_score([1.0, 2.0], 0, [0, 30])


@settings(max_examples=25, deadline=None)
@given(rate=st.floats(3.0, 40.0))
def test_pulse_score_peaks_at_the_pulse_rate(rate: float) -> None:
    t = np.arange(0, 8, 0.01)
    x = 1.0 + np.sin(2 * np.pi * rate * t)
    near = opso.calculate_pulse_score(x, 100, [rate - 1.5, rate + 1.5])
    far_low = opso.calculate_pulse_score(x, 100, [rate + 4, rate + 8])
    assert near > 50 * far_low


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 1200),
    nfft=st.sampled_from([8, 255, 256, 1024]),
    fs=st.floats(5.0, 400.0),
    seed=st.integers(0, 2**16),
)
def test_spectrum_equals_scipy_welch(n: int, nfft: int, fs: float, seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal(n)
    f, psd = pulse_rate_spectrum(x, fs, nfft=nfft)
    nperseg = min(256, n)
    f_ref, psd_ref = signal.welch(x, fs=fs, nperseg=nperseg, nfft=max(nfft, nperseg))
    np.testing.assert_allclose(f, f_ref)
    np.testing.assert_allclose(psd, psd_ref, rtol=1e-9, atol=1e-14)


@settings(max_examples=40, deadline=None)
@given(
    sample_rate=st.sampled_from([8000, 22050, 32000, 44100]),
    hop=st.sampled_from([12, 100, 128, 256]),
    seconds=st.floats(1.0, 30.0),
    window_len=st.floats(0.3, 7.0),
)
def test_windows_start_exactly_and_partition_the_frames(
    sample_rate: int, hop: int, seconds: float, window_len: float
) -> None:
    n = int((seconds * sample_rate - 2 * hop) // hop) + 1
    times = (np.arange(n) * hop + hop) / sample_rate
    windows = analysis_windows(times, window_len)
    step = hop / sample_rate
    for k, w in enumerate(windows):
        assert w.start_time == k * window_len  # exact, no drift
        assert np.all(times[w.first : w.stop] >= w.start_time - 1e-9)
        assert np.all(times[w.first : w.stop] < w.start_time + window_len + 1e-9)
        assert (w.stop - w.first) * step >= window_len / 2 - 1e-9
    for a, b in itertools.pairwise(windows):
        assert a.stop == b.first
    covered = windows[-1].stop if windows else 0
    assert (n - covered) * step < window_len / 2 + step  # only a short tail is dropped


def test_final_partial_window_rule() -> None:
    step = 0.01
    for seconds, expected in [(12.6, [0.0, 5.0, 10.0]), (12.3, [0.0, 5.0]), (15.0, [0, 5, 10])]:
        times = np.arange(step / 2, seconds, step)
        assert [w.start_time for w in analysis_windows(times, 5.0)] == expected
    with pytest.raises(ValueError, match="window_len"):
        analysis_windows(np.arange(10.0), 0)
    with pytest.raises(ValueError, match="two spectrogram frames"):
        analysis_windows(np.array([0.5]), 1.0)


def test_ribbit_amplitude_checks_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        ribbit_amplitude(np.ones(10), np.arange(11.0), [1, 2], 1.0)
    with pytest.raises(ValueError, match="empty"):
        ribbit_amplitude(np.ones(0), np.arange(0.0), [1, 2], 1.0)


def test_ribbit_finds_the_pulse_rate_and_times_windows() -> None:
    spec = spec_of(pulsed_call(12.0))
    scores, starts = opso.ribbit(spec, [1500, 2500], [5, 11], 4.0)
    assert starts.tolist() == [0.0, 4.0, 8.0]
    too_slow, _ = opso.ribbit(spec, [1500, 2500], [1, 5], 4.0)
    harmonic, _ = opso.ribbit(spec, [1500, 2500], [12, 20], 4.0)  # holds the 16 Hz harmonic
    wrong_band, _ = opso.ribbit(spec, [100, 900], [5, 11], 4.0)
    assert scores.min() > 100 * too_slow.max()
    assert scores.min() > 5 * harmonic.max()
    assert scores.min() > 100 * wrong_band.max()


def test_noise_bands_cancel_broadband_pulses() -> None:
    t = np.arange(8 * SR) / SR
    gate = (np.sin(2 * np.pi * 8 * t) > 0).astype(np.float64)
    clicks = Audio(0.3 * gate * np.random.default_rng(1).standard_normal(t.size), SR)
    spec = spec_of(clicks)
    plain, _ = opso.ribbit(spec, [1500, 2500], [5, 11], 4.0)
    cleaned, _ = opso.ribbit(spec, [1500, 2500], [5, 11], 4.0, noise_bands=[[2600, 3600]])
    assert np.all(cleaned < plain / 10)


def test_ribbit_rejects_bad_bands() -> None:
    spec = spec_of(pulsed_call(3.0))
    with pytest.raises(ValueError, match="signal_band"):
        opso.ribbit(spec, [2500, 1500], [5, 11], 1.0)
    with pytest.raises(ValueError, match="noise band"):
        opso.ribbit(spec, [1500, 2500], [5, 11], 1.0, noise_bands=[[10]])


def species_df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "species": ["fast", "slow", "unknown"],
            "pulse_rate_low": [5.0, 5.0, 0.0],
            "pulse_rate_high": [11.0, 11.0, 0.0],
            "low_f": [1500, 1500, 0],
            "high_f": [2500, 2500, 1],
            "reject_low": [100.0, math.nan, math.nan],
            "reject_high": [900.0, math.nan, math.nan],
            "window_length": [2.0, 5.0, 1.0],
        }
    )


def test_each_species_uses_its_own_window() -> None:
    spec = spec_of(pulsed_call(10.0))
    out = opso.pulse_finder_species_set(spec, species_df())
    assert list(out.index) == ["fast", "slow", "unknown"]
    assert out.at["fast", "t"] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert out.at["slow", "t"] == [0.0, 5.0]
    assert out.at["unknown", "score"] == [] and math.isnan(out["max_score"]["unknown"])
    assert out["max_score"]["fast"] == max(out["score"]["fast"])
    assert out.at["slow", "time_of_max_score"] in (0.0, 5.0)
    fixed = opso.pulse_finder_species_set(spec, species_df(), window_len=2.5)
    assert fixed.at["slow", "t"] == [0.0, 2.5, 5.0, 7.5]
    dynamic = opso.pulse_finder_species_set(spec, species_df(), window_len="dynamic")
    assert dynamic["t"]["slow"][1] == dynamic_window(5.0) == 1.0


def test_species_table_errors_name_the_row() -> None:
    df = species_df()
    with pytest.raises(ValueError, match="lacks column"):
        presets_from_table(df.drop(columns=["low_f"]))
    df.loc[0, "high_f"] = 100.0
    with pytest.raises(ValueError, match="row 'fast'"):
        presets_from_table(df)
    df = species_df()
    df.loc[1, "reject_low"] = 10.0
    with pytest.raises(ValueError, match="reject_high is empty"):
        presets_from_table(df)


def test_summarize_top_scores() -> None:
    by_index = pd.DataFrame({"max_score": [1.0, 2.0]}, index=pd.Index(["a", "b"], name="sp"))
    by_column = pd.DataFrame({"species": ["b", "c"], "max_score": [3.0, 4.0]})
    table = opso.summarize_top_scores(["f1.wav", "f2.wav"], [by_index, by_column], 10.0)
    assert table.index.name == "file"
    assert list(table.columns) == ["a", "b", "c"]
    np.testing.assert_array_equal(table.loc["f1.wav"].to_numpy(), [10.0, 20.0, np.nan])
    np.testing.assert_array_equal(table.loc["f2.wav"].to_numpy(), [np.nan, 30.0, 40.0])
    with pytest.raises(ValueError, match="same length"):
        opso.summarize_top_scores(["f1.wav"], [by_index, by_column])


def _store(folder: Path = Path("/rec")) -> InMemoryAudioIO:
    store = InMemoryAudioIO()
    store.files[folder / "frog.wav"] = pulsed_call(11.0)
    store.files[folder / "quiet.wav"] = Audio(np.zeros(6 * SR, dtype=np.float32), SR)
    store.files[folder / "empty.wav"] = Audio(np.zeros(0, dtype=np.float32), SR)
    return store


def _cli_store(tmp_path: Path) -> Container:
    """A container whose audio store holds the recordings; the CLI also sees the files."""
    for name in ("frog.wav", "quiet.wav", "empty.wav"):
        (tmp_path / name).touch()
    c = Container()
    c.audio_io.override(_store(tmp_path))
    return c


def test_score_pulses_use_case_carries_on_past_bad_files() -> None:
    tables = InMemoryTables()
    preset = PulsePreset("frog", (1500, 2500), (5, 11), 4.0, ((100, 900),))
    jobs = [AudioJob(Path(f"/rec/{n}.wav"), n) for n in ("frog", "empty", "quiet")]
    report = ScorePulses(_store(), tables).run(
        jobs=jobs,
        presets=[preset],
        destination=Path("/out/scores.csv"),
        window_samples=256,
        overlap_samples=128,
    )
    assert [f.source.name for f in report.failures] == ["empty.wav"]
    columns, rows = tables.tables[Path("/out/scores.csv")]
    assert columns == ["file", "species", "start_time", "end_time", "score"]
    frog = [r for r in rows if r["file"] == "/rec/frog.wav"]
    assert [(r["start_time"], r["end_time"]) for r in frog] == [(0.0, 4.0), (4.0, 8.0), (8.0, 11.0)]
    quiet = [float(str(r["score"])) for r in rows if r["file"] == "/rec/quiet.wav"]
    assert len(quiet) == 2 and max(quiet) < 1e-6 < min(float(str(r["score"])) for r in frog)
    with pytest.raises(ValueError, match="at least one preset"):
        ScorePulses(_store(), tables).run(jobs=jobs, presets=[], destination=None)


def _cli(container: Container, args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, obj=container)
    return result.exit_code, result.output


def test_cli_band_options_and_species_table(tmp_path: Path) -> None:
    c = _cli_store(tmp_path)
    frog = str(tmp_path / "frog.wav")
    out = tmp_path / "scores.csv"
    args = ["--signal-band", "1500", "2500", "--pulse-rate", "5", "11", "--noise-band", "100"]
    args += ["900", "--window", "4", "--window-samples", "256", "--overlap-samples", "128"]
    code, text = _cli(c, ["ribbit", frog, *args, "-o", str(out), "--name", "frog"])
    assert code == 0, text
    table = pd.read_csv(out)
    assert table["start_time"].tolist() == [0.0, 4.0, 8.0]
    assert set(table["species"]) == {"frog"}
    assert "frog\tmax score" in text

    species = tmp_path / "species.csv"
    species_df().to_csv(species, index=False)
    code, text = _cli(c, ["ribbit", frog, "--species-table", str(species), "-o", str(out)])
    assert code == 0, text
    table = pd.read_csv(out)
    assert table.groupby("species").size().to_dict() == {
        "fast": 5,
        "slow": 2,
    }  # [10, 11) s holds < 1 s of frames


def test_cli_usage_errors(tmp_path: Path) -> None:
    c = _cli_store(tmp_path)
    frog, empty = str(tmp_path / "frog.wav"), str(tmp_path / "empty.wav")
    out = str(tmp_path / "s.csv")
    code, text = _cli(c, ["ribbit", frog, "-o", out])
    assert code == 2 and "--signal-band and --pulse-rate" in text
    bands = ["--signal-band", "1500", "2500", "--pulse-rate", "5", "11"]
    code, text = _cli(
        c, ["ribbit", frog, "-o", out, "--signal-band", "2", "1", "--pulse-rate", "1", "2"]
    )
    assert code == 2 and "signal_band" in text
    code, text = _cli(c, ["ribbit", frog, "-o", out, "--species-table", out, *bands])
    assert code == 2
    code, text = _cli(c, ["ribbit", empty, frog, "-o", out, *bands])
    assert code == 1 and "empty.wav" in text
    assert pd.read_csv(out)["file"].nunique() == 1  # the good file was still scored


def test_plot_draws_the_pulse_rate_spectrum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    plt.close("all")
    t = np.arange(0, 10, 0.01)
    opso.calculate_pulse_score(np.sin(2 * np.pi * 20 * t), 100, [0, 30], plot=True)
    assert len(plt.get_fignums()) == 1
    opso.ribbit(spec_of(pulsed_call(8.0)), [1500, 2500], [5, 11], 4.0, plot=True)
    assert len(plt.get_fignums()) == 3  # one more per window
    plt.close("all")
