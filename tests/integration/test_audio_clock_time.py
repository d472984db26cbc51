"""Loading by clock time and finding recordings that cover a range, on real and generated files."""

from __future__ import annotations

import pickle
import struct
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import opso

T0 = datetime(2021, 9, 24, 6, 52, tzinfo=UTC)
LOCA_8 = "LOCA_2021_09_24_652_8.wav"
LATE = "LOCA_2021_09_24_652_8_late_start.wav"


def _moth_wav(path: Path, comment: str, seconds: float = 4.0, sr: int = 8000) -> Path:
    """Write a WAV whose LIST/INFO chunk holds ``comment`` (as AudioMoth firmware does)."""
    samples = np.sin(np.arange(round(seconds * sr)) / 7.0).astype(np.float32)
    sf.write(path, samples, sr, subtype="PCM_16")
    text = comment.encode() + b"\x00"
    text += b"\x00" * (len(text) & 1)
    info = b"INFO" + b"ICMT" + struct.pack("<I", len(text)) + text
    raw = path.read_bytes() + b"LIST" + struct.pack("<I", len(info)) + info
    path.write_bytes(raw[:4] + struct.pack("<I", len(raw) - 8) + raw[8:])
    return path


def test_from_file_at_a_moment_reads_the_same_sound_from_a_late_start(oss_audio: Path) -> None:
    moment = pd.Timestamp("2021-09-24 08:52:00.3", tz="Europe/Berlin")  # 06:52:00.3 UTC
    on_time = opso.Audio.from_file(oss_audio / LOCA_8, start_timestamp=moment, duration=0.2)
    late = opso.Audio.from_file(oss_audio / LATE, start_timestamp=moment, duration=0.2)
    assert isinstance(late, opso.Audio) and late.duration() == pytest.approx(0.2, abs=1e-4)
    # the late file lacks the first 0.1 s of the same recording: the same samples
    np.testing.assert_array_equal(late.samples, on_time.samples)
    start = round(0.3 * 22050) / 22050
    assert on_time.start_timestamp == T0 + timedelta(seconds=start)
    assert late.start_timestamp == on_time.start_timestamp
    whole = opso.Audio.from_file(oss_audio / LOCA_8)
    assert whole.start_timestamp == T0
    np.testing.assert_array_equal(whole.trim(0.3, 0.5).samples, on_time.samples)
    assert whole.trim(0.3, 0.5).start_timestamp == on_time.start_timestamp
    clip = pickle.loads(pickle.dumps(late))
    assert clip.start_timestamp == late.start_timestamp


def test_from_file_with_offset_and_text_moment(oss_audio: Path) -> None:
    by_offset = opso.Audio.from_file(oss_audio / LOCA_8, offset=0.5, duration=0.25)
    by_text = opso.Audio.from_file(
        oss_audio / LOCA_8, start_timestamp="2021-09-24T06:52:00.5+00:00", duration=0.25
    )
    np.testing.assert_array_equal(by_offset.samples, by_text.samples)
    assert by_offset.start_timestamp == T0 + timedelta(seconds=0.5)


def test_from_file_refuses_moments_it_cannot_place(oss_audio: Path) -> None:
    late = oss_audio / LATE
    with pytest.raises(opso.ParameterError) as caught:
        opso.Audio.from_file(late, start_timestamp=T0)
    assert str(caught.value) == (
        f"{late}: covers 2021-09-24T06:52:00.100000+00:00 to 2021-09-24T06:52:01+00:00 "
        "(0.900 s); 2021-09-24T06:52:00+00:00 is outside it"
    )
    with pytest.raises(opso.ParameterError, match="has no time zone"):
        opso.Audio.from_file(late, start_timestamp=datetime(2021, 9, 24, 6, 52, 0, 500000))
    with pytest.raises(opso.StartTimeUnknownError, match=r"aru_1\.wav: start time unknown"):
        opso.Audio.from_file(oss_audio / "aru_1.wav", start_timestamp=T0)
    with pytest.raises(opso.ParameterError, match="not both"):
        opso.Audio.from_file(late, start_timestamp=T0, offset=0.2)


def test_a_stretch_past_the_end_is_cut_with_a_warning(oss_audio: Path) -> None:
    with pytest.warns(UserWarning, match=r"asked for 1\.0 s but the recording ends after 0\.300 s"):
        audio = opso.Audio.from_file(
            oss_audio / LATE, start_timestamp="2021-09-24T06:52:00.7+00:00", duration=1.0
        )
    assert audio.duration() == pytest.approx(0.3, abs=1e-4)


def test_audiomoth_comment_places_a_generated_recording(tmp_path: Path) -> None:
    wav = _moth_wav(
        tmp_path / "moth.wav",
        "Recorded at 05:00:00 01/05/2024 (UTC+1) by AudioMoth 24526B065D325963 at medium "
        "gain while battery was 3.8V and temperature was 12.8C.",
    )
    audio = opso.Audio.from_file(wav, start_timestamp="2024-05-01T04:00:01.5+00:00", duration=1)
    assert audio.start_timestamp == datetime.fromisoformat("2024-05-01T05:00:01.5+01:00")
    assert audio.metadata is not None and audio.metadata.temperature_c == 12.8
    expected = opso.Audio.from_file(wav).trim(1.5, 2.5).samples
    np.testing.assert_array_equal(audio.samples, expected)


def test_recordings_covering_a_range_on_the_real_array(oss_audio: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = opso.recordings_covering(
            oss_audio, "2021-09-24T08:52:00.5+02:00", pd.Timestamp("2021-09-24 06:53", tz="UTC")
        )
    assert list(table.columns) == [
        "file",
        "recording_start",
        "recording_end",
        "start_time",
        "end_time",
    ]
    assert [Path(f).name for f in table["file"]] == [
        *(f"LOCA_2021_09_24_652_{i}.wav" for i in range(3, 9)),
        LATE,
    ]
    assert str(table["recording_start"].dt.tz) == "UTC+02:00"
    assert table["recording_start"].iloc[-1] == pd.Timestamp("2021-09-24 06:52:00.1", tz="UTC")
    assert table["start_time"].round(6).tolist() == [0.5] * 6 + [0.4]
    assert table["end_time"].round(6).tolist() == [1.0] * 6 + [0.9]
    messages = [str(w.message) for w in caught]
    unknown = next(m for m in messages if m.startswith("start time unknown, left out: "))
    assert "aru_1.wav" in unknown and "great_plains_toad.wav" in unknown
    assert "empty_2c.wav" in unknown and len(messages) == 1
    # the 2018 AudioMoth recording is placed but lies outside the range
    assert not any("1min_first20s" in f for f in table["file"])


def test_recordings_covering_reads_file_names_in_the_zone_given(tmp_path: Path) -> None:
    for name in ("SITE_20240501_060000.wav", "SITE_20240501_060004.wav", "other.wav"):
        sf.write(tmp_path / name, np.zeros(4 * 8000, np.float32), 8000)
    with pytest.warns(UserWarning, match=r"start time unknown, left out: .*other\.wav"):
        table = opso.recordings_covering(
            tmp_path,
            "2024-05-01T04:00:03+00:00",
            "2024-05-01T04:00:05+00:00",
            timezone="Europe/Berlin",  # names written in local summer time, UTC+2
        )
    assert [Path(f).name for f in table["file"]] == [
        "SITE_20240501_060000.wav",
        "SITE_20240501_060004.wav",
    ]
    assert table[["start_time", "end_time"]].to_numpy().tolist() == [[3.0, 4.0], [0.0, 1.0]]
    empty = opso.recordings_covering(
        tmp_path / "SITE_20240501_060000.wav", "2024-05-01T05:00:00Z", "2024-05-01T06:00:00Z"
    )
    assert empty.empty and len(empty.columns) == 5
    with pytest.raises(opso.ParameterError, match="unknown time zone 'Mars/Olympus'"):
        opso.recordings_covering(tmp_path, T0, T0 + timedelta(1), timezone="Mars/Olympus")


def test_resample_gives_what_a_resampling_read_gives(oss_audio: Path) -> None:
    path = oss_audio / "1min_first20s.wav"
    native = opso.Audio.from_file(path)
    down = native.resample(22050)
    read = opso.Audio.from_file(path, sample_rate=22050)
    assert isinstance(down, opso.Audio) and down.sample_rate == 22050
    np.testing.assert_array_equal(down.samples, read.samples)
    assert down.duration() == pytest.approx(native.duration(), abs=1e-4)
    assert down.start_timestamp == native.start_timestamp == datetime(2018, 5, 4, 9, 32, tzinfo=UTC)
    assert not down.samples.flags.writeable
    best = native.resample(22050, resample_type="kaiser_best")
    assert best.resample_type == "kaiser_fast"  # the audio's own setting is kept
    assert not np.array_equal(best.samples, down.samples)
    assert len(opso.Audio(np.zeros(4), 4).resample(8).samples) == 8
    with pytest.raises(opso.ParameterError, match="sample_rate must be a positive integer"):
        native.resample(0)
    with pytest.raises(opso.ParameterError, match="unknown resample_type 'nearest'"):
        native.resample(8000, resample_type="nearest")


@pytest.mark.parametrize("year", [1960, 2500])
def test_starts_before_1970_or_far_ahead_are_placed_as_written(tmp_path: Path, year: int) -> None:
    _moth_wav(
        tmp_path / "moth.wav",
        f"Recorded at 05:00:00 01/05/{year} (UTC) by AudioMoth 24526B065D325963 at medium gain "
        "while battery was 3.8V.",
    )
    start = datetime(year, 5, 1, 5, tzinfo=UTC)
    table = opso.recordings_covering(
        tmp_path, start + timedelta(seconds=1), start + timedelta(seconds=2)
    )
    assert table["recording_start"].tolist() == [pd.Timestamp(start)]
    assert table[["start_time", "end_time"]].to_numpy().tolist() == [[1.0, 2.0]]
    audio = opso.Audio.from_file(
        tmp_path / "moth.wav", start_timestamp=start + timedelta(seconds=1), duration=1
    )
    assert audio.start_timestamp == start + timedelta(seconds=1)
