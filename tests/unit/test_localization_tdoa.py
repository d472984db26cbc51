import numpy as np
import pytest

from opso.domain.tdoa import cross_correlation, estimate_delay, estimate_delays

SR = 16000


def _delayed(x: np.ndarray, seconds: float) -> np.ndarray:
    """``x`` delayed by a (fractional) number of seconds, circularly, via the FFT."""
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return np.fft.irfft(np.fft.rfft(x) * np.exp(-2j * np.pi * f * seconds), len(x))


def _burst(seed: int = 0, n: int = SR) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    f = np.fft.rfftfreq(n, 1 / SR)
    spec = np.fft.rfft(x) * ((f > 2000) & (f < 5000))
    return np.fft.irfft(spec, n)


@pytest.mark.parametrize("method", ["phat", "cc"])
@pytest.mark.parametrize("true", [0.0, 0.0123, -0.0071, 0.00503125])
def test_known_delays_are_found_to_a_fraction_of_a_sample(method: str, true: float) -> None:
    full = _burst()
    later = _delayed(full, true)
    ref = full[6000:10000]
    sig = later[5000:11000]  # starts 1000 samples before the reference window
    est = estimate_delay(
        ref,
        sig,
        sample_rate=SR,
        method=method,  # type: ignore[arg-type]
        band=(2000, 5000),
        offset=-1000 / SR,
        max_delay=0.05,
    )
    assert est.delay == pytest.approx(true, abs=0.15 / SR)
    assert est.score > 0.5


def test_band_keeps_the_call_and_ignores_a_loud_sound_elsewhere() -> None:
    rng = np.random.default_rng(2)
    call = _burst(1)
    hum = np.sin(2 * np.pi * 300 * np.arange(SR) / SR) * 50  # loud, in both, not delayed
    ref = call + hum + 0.01 * rng.normal(size=SR)
    sig = _delayed(call, 0.004) + hum + 0.01 * rng.normal(size=SR)
    wide = estimate_delay(ref, sig, sample_rate=SR, method="cc", max_delay=0.01)
    banded = estimate_delay(
        ref, sig, sample_rate=SR, method="cc", band=(2000, 5000), max_delay=0.01
    )
    assert banded.delay == pytest.approx(0.004, abs=1 / SR)
    assert abs(wide.delay - 0.004) > 1 / SR  # the hum pulls the unfiltered peak away


def test_max_delay_excludes_implausible_peaks() -> None:
    full = _burst(3)
    sig = _delayed(full, 0.02)
    free = estimate_delay(full, sig, sample_rate=SR)
    capped = estimate_delay(full, sig, sample_rate=SR, max_delay=0.01)
    assert free.delay == pytest.approx(0.02, abs=0.2 / SR)
    assert abs(capped.delay) <= 0.01 + 1 / SR
    assert capped.score < free.score


def test_unrelated_noise_scores_low() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=4000), rng.normal(size=6000)
    for method in ("phat", "cc"):
        est = estimate_delay(a, b, sample_rate=SR, method=method, max_delay=0.05)
        assert est.score < 0.2


def test_identical_signals_score_one() -> None:
    x = _burst(4, 4000)
    for method in ("phat", "cc"):
        est = estimate_delay(x, x, sample_rate=SR, method=method, band=(2000, 5000))
        assert est.delay == pytest.approx(0.0, abs=1e-9)
        assert est.score == pytest.approx(1.0, abs=5e-3)


def test_cross_correlation_lags_account_for_the_offset() -> None:
    delays, cc = cross_correlation(np.ones(3), np.ones(5), sample_rate=10, offset=1.0)
    assert len(delays) == len(cc) == 7
    assert delays[0] == pytest.approx(1.0 - 0.2) and delays[-1] == pytest.approx(1.4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"band": (9000.0, 9500.0)}, "Nyquist"),
        ({"band": (500.0, 100.0)}, "low < high"),
        ({"max_delay": -1.0}, "max_delay"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"method": "xcorr"}, "method"),
    ],
)
def test_invalid_settings_raise(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"sample_rate": SR, **kwargs}
    with pytest.raises(ValueError, match=match):
        estimate_delay(np.ones(10), np.ones(10), **args)  # type: ignore[arg-type]


def test_empty_or_nan_signals_raise() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        estimate_delay(np.ones(0), np.ones(10), sample_rate=SR)
    with pytest.raises(ValueError, match="NaN"):
        estimate_delay(np.ones(10), np.array([1.0, np.nan]), sample_rate=SR)


def test_windows_that_cannot_reach_the_plausible_lags_raise() -> None:
    with pytest.raises(ValueError, match="no lag"):
        estimate_delay(np.ones(10), np.ones(10), sample_rate=SR, offset=1.0, max_delay=0.01)


Settings = tuple[
    list[np.ndarray],
    list[tuple[int, int]],
    list[tuple[float, float] | None],
    list[float | None],
    list[float],
]


def _pairs(seed: int) -> Settings:
    """Events of one reference and 1-5 delayed, noisy copies, with varied settings."""
    rng = np.random.default_rng(seed)
    segments: list[np.ndarray] = []
    pairs: list[tuple[int, int]] = []
    bands: list[tuple[float, float] | None] = []
    limits: list[float | None] = []
    offsets: list[float] = []
    for event in range(30):
        x = rng.normal(size=int(rng.integers(1, 3000)))
        segments.append(x)
        ref = len(segments) - 1
        for k in range(int(rng.integers(1, 6))):
            lead, tail = rng.integers(0, 400, size=2)
            y = np.concatenate([rng.normal(size=lead), x, rng.normal(size=tail)])
            segments.append(y + 0.5 * rng.normal(size=len(y)))
            pairs.append((ref, len(segments) - 1))
            bands.append([None, (1000.0, 5000.0), (2000.0, 7900.0)][event % 3])
            limits.append([None, float(rng.uniform(0, 0.05)), 0.0, 1e6, 0.5 / SR][k % 5])
            offsets.append(float(rng.choice([0.0, rng.uniform(-0.03, 0.03), -lead / SR])))
    return segments, pairs, bands, limits, offsets


@pytest.mark.parametrize("method", ["phat", "cc"])
@pytest.mark.parametrize("seed", [0, 1])
def test_batched_delays_are_those_of_each_pair(method: str, seed: int) -> None:
    segments, pairs, bands, limits, offsets = _pairs(seed)
    batch = estimate_delays(
        segments,
        pairs,
        sample_rate=SR,
        method=method,  # type: ignore[arg-type]
        bands=bands,
        max_delays=limits,
        offsets=offsets,
    )
    measured = 0
    for p, (ref, sig) in enumerate(pairs):
        try:
            one = estimate_delay(
                segments[ref],
                segments[sig],
                sample_rate=SR,
                method=method,  # type: ignore[arg-type]
                band=bands[p],
                max_delay=limits[p],
                offset=offsets[p],
            )
        except ValueError as e:  # the same reason, word for word
            assert batch.errors[p] == str(e)
            assert np.isnan(batch.delays[p]) and np.isnan(batch.scores[p])
            continue
        measured += 1
        assert batch.errors[p] == ""
        assert batch.delays[p] == pytest.approx(one.delay, abs=1e-9)
        assert batch.scores[p] == pytest.approx(one.score, rel=1e-4, abs=1e-4)  # single precision
    assert measured > 0.8 * len(pairs)


def test_batched_delays_name_bad_segments_and_measure_the_rest() -> None:
    x = _burst()[:4000]
    y = _delayed(_burst(), 0.002)[:4000]
    batch = estimate_delays(
        [x, y, np.array([]), np.array([1.0, np.nan])],
        [(0, 1), (0, 2), (3, 1), (0, 1)],
        sample_rate=SR,
        bands=[(2000, 5000), None, None, (9000, 9500)],
        max_delays=[0.01, 0.01, 0.01, 0.01],
    )
    assert batch.delays[0] == pytest.approx(0.002, abs=0.15 / SR)
    assert batch.errors[0] == ""
    assert batch.errors[1] == "signal must be a non-empty 1-D array, got shape (0,)"
    assert batch.errors[2] == "reference holds NaN or infinite samples"
    assert batch.errors[3].startswith("band must satisfy")
    with pytest.raises(ValueError, match="one value per pair"):
        estimate_delays([x, y], [(0, 1)], sample_rate=SR, offsets=[0.0, 1.0])
    with pytest.raises(ValueError, match="sample_rate"):
        estimate_delays([x, y], [(0, 1)], sample_rate=0)
