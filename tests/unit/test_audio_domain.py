import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from opso.domain.audio import Audio, clip_times
from opso.domain.errors import OpsoError, OpsoLoadAudioInputTooLong


def tone(seconds: float = 10.0, sr: int = 1000, f: float = 50.0) -> Audio:
    t = np.arange(round(seconds * sr)) / sr
    return Audio(np.sin(2 * np.pi * f * t), sr)


def test_constructor_freezes_and_copies_writeable_input() -> None:
    raw = np.zeros(10, dtype=np.float32)
    a = Audio(raw, 10)
    raw[0] = 1.0
    assert a.samples[0] == 0.0
    assert a.samples.dtype == np.float32
    with pytest.raises(ValueError, match="read-only"):
        a.samples[0] = 2.0


@pytest.mark.parametrize("sr", [0, -5, 44.1, True, "22050"])
def test_constructor_rejects_bad_sample_rate(sr: object) -> None:
    with pytest.raises(ValueError, match="sample_rate must be a positive integer"):
        Audio(np.zeros(3), sr)  # type: ignore[arg-type]


@pytest.mark.parametrize("samples", [np.zeros((2, 3)), np.array(["a", "b"]), [[1.0]]])
def test_constructor_rejects_non_1d_numeric(samples: object) -> None:
    with pytest.raises(ValueError, match="samples must be"):
        Audio(samples, 10)  # type: ignore[arg-type]


def test_max_duration_is_enforced() -> None:
    with pytest.raises(OpsoLoadAudioInputTooLong, match="max_duration=1"):
        Audio(np.zeros(20), 10, max_duration=1)
    assert issubclass(OpsoLoadAudioInputTooLong, OpsoError)


def test_duration_and_time_to_sample() -> None:
    a = Audio(np.zeros(22050), 44100)
    assert a.duration() == 0.5
    assert a.time_to_sample(0.25) == 11025


def test_trim_returns_window_and_clamps() -> None:
    a = Audio(np.arange(100, dtype=np.float32), 10)
    assert np.array_equal(a.trim(1.0, 2.0).samples, np.arange(10, 20))
    assert np.array_equal(a.trim(-3.0, 0.5).samples, np.arange(0, 5))
    assert len(a.trim(9.5, 20.0).samples) == 5
    with pytest.raises(ValueError, match="before start_time"):
        a.trim(2, 1)


def test_extend_loops_audio() -> None:
    a = Audio(np.array([1, 2, 3], dtype=np.float32), 3)
    out = a.extend(2.0)
    assert np.array_equal(out.samples, [1, 2, 3, 1, 2, 3])
    assert out.duration() == 2.0
    assert np.array_equal(Audio(np.zeros(0), 3).extend(1).samples, [0, 0, 0])


def test_bandpass_keeps_passband_and_removes_stopband() -> None:
    sr = 8000
    t = np.arange(sr) / sr
    low, high = np.sin(2 * np.pi * 100 * t), np.sin(2 * np.pi * 1000 * t)
    out = Audio(low + high, sr).bandpass(800, 1200, order=9)
    mid = slice(1000, -1000)
    assert np.allclose(out.samples[mid], high[mid], atol=0.02)


def test_spectrum_peaks_at_tone_frequency_with_its_amplitude() -> None:
    fft, freqs = tone(1.0, 1000, 50.0).spectrum()
    assert freqs[np.argmax(fft)] == pytest.approx(50.0)
    assert fft.max() == pytest.approx(1.0, abs=1e-3)  # 2/N scaling, as OpenSoundscape 0.4


# Known values from the reference implementation's tests (10 s of audio).
@pytest.mark.parametrize(
    ("overlap", "final", "expected"),
    [
        (0, None, [(0, 5), (5, 10)]),
        (1, None, [(0, 5), (4, 9)]),
        (1, "remainder", [(0, 5), (4, 9), (8, 10)]),
        (1, "full", [(0, 5), (4, 9), (5, 10)]),
        (1, "extend", [(0, 5), (4, 9), (8, 10)]),
    ],
)
def test_split_times_known_values(
    overlap: float, final: str | None, expected: list[tuple[int, int]]
) -> None:
    clips = tone(10.0).split(5, overlap, final)  # type: ignore[arg-type]
    assert [(c["begin_time"], c["end_time"]) for c in clips] == expected


def test_split_extend_makes_full_length_last_clip() -> None:
    clips = tone(10.0).split(5, 1, "extend")
    assert [c["audio"].duration() for c in clips] == [5.0, 5.0, 5.0]
    remainder = tone(10.0).split(5, 1, "remainder")
    assert remainder[-1]["audio"].duration() == 2.0


def test_split_never_runs_past_the_end_with_small_steps() -> None:
    clips = tone(10.0).split(5, 4, "remainder")
    ends = [c["end_time"] for c in clips]
    assert max(ends) == 10.0
    assert ends.count(10.0) == 1  # the seed made 4 clips ending at 10 s here


def test_split_short_audio() -> None:
    short = tone(2.0)
    assert short.split(5) == []
    full = short.split(5, final_clip="full")
    assert [(c["begin_time"], c["end_time"]) for c in full] == [(0, 2.0)]
    assert full[0]["audio"].duration() == 2.0
    assert short.split(5, final_clip="extend")[0]["audio"].duration() == 5.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"clip_duration": 0}, "clip_duration must be a positive"),
        ({"clip_duration": -1}, "clip_duration must be a positive"),
        ({"clip_duration": 5, "clip_overlap": 5}, "clip_overlap must be in"),
        ({"clip_duration": 5, "clip_overlap": -1}, "clip_overlap must be in"),
        ({"clip_duration": 5, "final_clip": "bogus"}, "final_clip must be"),
    ],
)
def test_split_rejects_bad_settings(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tone(10.0).split(**kwargs)  # type: ignore[arg-type]


def test_derived_audio_keeps_subclass() -> None:
    class Tagged(Audio):
        pass

    t = Tagged(np.zeros(100), 10)
    assert type(t.trim(0, 1)) is Tagged
    assert type(t.split(2)[0]["audio"]) is Tagged


@settings(max_examples=60, deadline=None)
@given(
    duration=st.floats(0.0, 60.0),
    clip=st.floats(0.1, 10.0),
    overlap_frac=st.floats(0.0, 0.9),
    final=st.sampled_from([None, "remainder", "full", "extend"]),
)
def test_clip_times_invariants(
    duration: float, clip: float, overlap_frac: float, final: str | None
) -> None:
    overlap = clip * overlap_frac
    times = clip_times(duration, clip, overlap, final)  # type: ignore[arg-type]
    step = clip - overlap
    for i, (b, e) in enumerate(times):
        assert 0 <= b <= e <= duration + 1e-6
        if i < len(times) - 1:
            assert e - b == pytest.approx(clip)
            assert times[i + 1][0] == pytest.approx(b + step) or final == "full"
    ends_at_end = [e for _, e in times if abs(e - duration) < 1e-6]
    assert len(ends_at_end) <= 1
    if final is not None and duration > 1e-6:
        assert times[-1][1] == pytest.approx(duration)
