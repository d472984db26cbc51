"""Recording metadata from real AudioMoth and opso_metadata files, generated GUANO files."""

from __future__ import annotations

import csv
import io
import json
import shutil
import struct
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from guano import GuanoFile  # type: ignore[import-untyped]

import opso
from opso.adapters.audio_metadata import RiffMetadataReader
from opso.cli import main
from opso.domain.recording_info import parse_timezone

READER = RiffMetadataReader()


def test_audiomoth_comment_of_the_first_style_in_a_real_file(oss_audio: Path) -> None:
    info = READER.read(oss_audio / "1min_first20s.wav")
    assert info.start == datetime(2018, 5, 4, 9, 32, tzinfo=UTC)
    assert (info.device_id, info.gain, info.battery_v) == ("AudioMoth 0FE081F80FE081F0", "2", 4.3)
    assert info.sources["start"] == "audiomoth-comment" and info.warnings == ()


def test_audiomoth_file_with_its_info_chunk_before_data(short_moth: Path) -> None:
    info = READER.read(short_moth)
    assert info.start == datetime(2021, 5, 2, 4, tzinfo=UTC)
    assert (info.device_id, info.battery_v) == ("AudioMoth 247AA5075E06337D", 4.2)
    assert info.sources["start"] == "audiomoth-comment"  # the name agrees: no warning
    assert info.warnings == ()


def test_opso_metadata_with_the_second_audiomoth_style(oss_audio: Path) -> None:
    info = READER.read(oss_audio / "audiomoth_gps.wav")
    assert info.start == datetime(2024, 5, 28, 10, tzinfo=UTC)
    assert (info.gain, info.battery_v, info.temperature_c) == ("medium", 3.8, 12.8)
    assert info.device_id == "AudioMoth 243B1F026488F56E"
    assert set(info.sources.values()) == {"opso-metadata"}


def test_loca_start_times_and_the_late_start(oss_audio: Path) -> None:
    on_time = READER.read(oss_audio / "LOCA_2021_09_24_652_8.wav")
    late = READER.read(oss_audio / "LOCA_2021_09_24_652_8_late_start.wav")
    assert on_time.start == datetime(2021, 9, 24, 6, 52, tzinfo=UTC)
    assert late.start is not None and late.start - on_time.start == timedelta(seconds=0.1)
    assert late.start_at(0.2) == on_time.start_at(0.3)
    assert late.sources["start"] == "opso-metadata"


def test_files_without_metadata_have_no_start(oss_audio: Path) -> None:
    for name in ("aru_1.wav", "silence_10s.mp3", "stereo.wav"):
        info = READER.read(oss_audio / name)
        assert info.start is None and info.warnings == (), name


def _guano_wav(path: Path, **fields: object) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(250000)
        w.writeframes(np.zeros(2500, np.int16).tobytes())
    g = GuanoFile(str(path))
    for key, value in fields.items():
        g[key.replace("_", " ")] = value
    g.write(make_backup=False)
    return path


def test_guano_file_written_by_the_guano_library(tmp_path: Path) -> None:
    path = _guano_wav(
        tmp_path / "bat.wav",
        Timestamp=datetime(2023, 7, 1, 21, 30, 5, tzinfo=UTC),
        Serial="SMU12345",
        Make="Wildlife Acoustics",
        Model="Song Meter Mini Bat",
        Firmware_Version="4.2",
        Loc_Position=(45.5, -122.6),
    )
    info = READER.read(path)
    assert info.start == datetime(2023, 7, 1, 21, 30, 5, tzinfo=UTC)
    assert (info.device_id, info.firmware, info.latitude, info.longitude) == (
        "SMU12345",
        "4.2",
        45.5,
        -122.6,
    )
    assert info.model == "Wildlife Acoustics Song Meter Mini Bat"
    assert set(info.sources.values()) == {"guano"}


def test_guano_local_timestamp_is_taken_in_the_given_time_zone(tmp_path: Path) -> None:
    path = _guano_wav(tmp_path / "bat.wav", Timestamp=datetime(2023, 7, 1, 21, 30, 5))
    info = READER.read(path, timezone=parse_timezone("America/Los_Angeles"))
    assert info.start is not None
    assert info.start.astimezone(UTC) == datetime(2023, 7, 2, 4, 30, 5, tzinfo=UTC)


def test_embedded_start_wins_over_a_file_name_that_disagrees(
    oss_audio: Path, tmp_path: Path
) -> None:
    renamed = tmp_path / "SITE_20200101_000000.wav"
    shutil.copy(oss_audio / "1min_first20s.wav", renamed)
    info = READER.read(renamed)
    assert info.start == datetime(2018, 5, 4, 9, 32, tzinfo=UTC)
    assert info.sources["start"] == "audiomoth-comment"
    assert info.warnings == (
        "start: audiomoth-comment says 2018-05-04T09:32:00+00:00, file-name says "
        "2020-01-01T00:00:00+00:00; using audiomoth-comment",
    )


def test_file_name_gives_the_start_when_nothing_is_embedded(
    oss_audio: Path, tmp_path: Path
) -> None:
    renamed = tmp_path / "20210502_040000.wav"
    shutil.copy(oss_audio / "aru_1.wav", renamed)
    info = READER.read(renamed, timezone=parse_timezone("Europe/London"))
    assert info.start is not None and info.start.isoformat() == "2021-05-02T04:00:00+01:00"
    assert dict(info.sources) == {"start": "file-name"}


def test_corrupt_info_chunk_is_a_warning_not_a_crash(oss_audio: Path, tmp_path: Path) -> None:
    data = bytearray((oss_audio / "aru_1.wav").read_bytes())
    at = data.index(b"LIST")
    data[at + 4 : at + 8] = struct.pack("<I", 10_000_000)  # runs past the end of the file
    bad = tmp_path / "20210502_040000.wav"
    bad.write_bytes(bytes(data))
    info = READER.read(bad)
    assert info.start == datetime(2021, 5, 2, 4, tzinfo=UTC)  # from the name
    assert len(info.warnings) == 1 and "'LIST'" in info.warnings[0]
    assert "10000000 bytes" in info.warnings[0]


def _without_chunk(wav: bytes, chunk_id: bytes) -> bytes:
    """Return a RIFF/WAVE file's bytes with every ``chunk_id`` chunk left out."""
    out, at = bytearray(wav[:12]), 12
    while at + 8 <= len(wav):
        size = struct.unpack("<I", wav[at + 4 : at + 8])[0]
        end = at + 8 + size + (size & 1)
        if wav[at : at + 4] != chunk_id:
            out += wav[at:end]
        at = end
    out[4:8] = struct.pack("<I", len(out) - 8)
    return bytes(out)


def test_audiomoth_comment_in_the_id3_chunk_only(oss_audio: Path, tmp_path: Path) -> None:
    wav = _without_chunk((oss_audio / "1min_first20s.wav").read_bytes(), b"LIST")
    assert b"LIST" not in wav and b"id3 " in wav
    only_id3 = tmp_path / "moth.wav"
    only_id3.write_bytes(wav)
    info = READER.read(only_id3)
    assert info.start == datetime(2018, 5, 4, 9, 32, tzinfo=UTC)
    assert (info.device_id, info.battery_v) == ("AudioMoth 0FE081F80FE081F0", 4.3)


def test_embedded_times_before_1970_are_taken_as_written(tmp_path: Path) -> None:
    import soundfile as sf

    path = tmp_path / "19690101_000000.wav"  # a file-name year before 1970 is no date
    sf.write(path, np.zeros(800, np.float32), 8000)
    assert READER.read(path).start is None
    with sf.SoundFile(path, "r+") as f:
        f.comment = 'opso_metadata{"recording_start_time": "1969-07-20T20:17:40+00:00"}'
    info = READER.read(path)
    assert info.start == datetime(1969, 7, 20, 20, 17, 40, tzinfo=UTC)
    assert info.sources["start"] == "opso-metadata" and info.warnings == ()


def test_a_comment_that_is_not_audiomoths_gives_no_start(tmp_path: Path) -> None:
    import soundfile as sf

    path = tmp_path / "notes.wav"
    sf.write(path, np.zeros(800, np.float32), 8000)
    with sf.SoundFile(path, "r+") as f:
        f.comment = "Recorded at the lake by Jane, windy"
    assert "Recorded at the lake" in path.read_bytes().decode("latin-1")
    info = READER.read(path)
    assert info.start is None and info.warnings == ()


def test_not_a_wav_file_at_all(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF\x04\x00\x00\x00WAV")
    assert READER.read(junk).start is None
    with pytest.raises(FileNotFoundError):
        READER.read(tmp_path / "missing.wav")


def test_python_api_recording_info(oss_audio: Path) -> None:
    info = opso.recording_info(oss_audio / "LOCA_2021_09_24_652_8_late_start.wav")
    assert info.start_at(0.3) == datetime(2021, 9, 24, 6, 52, 0, 400000, tzinfo=UTC)
    with pytest.raises(opso.ParameterError, match="Mars/Base"):
        opso.recording_info(oss_audio / "aru_1.wav", timezone="Mars/Base")


# --- opso info ---------------------------------------------------------------------------------


def test_cli_info_table_shows_start_device_and_source(oss_audio: Path, short_moth: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "info",
            str(oss_audio / "1min_first20s.wav"),
            str(oss_audio / "aru_1.wav"),
            str(short_moth),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = lines[0].split()
    assert header[:6] == ["file", "duration_s", "rate_hz", "ch", "frames", "format"]
    assert {"start", "device_id", "gain", "battery_v", "source"} <= set(header)
    assert "temperature_c" not in header  # no file has one
    moth = next(ln for ln in lines if "1min_first20s" in ln)
    assert "2018-05-04T09:32:00+00:00" in moth and "AudioMoth 0FE081F80FE081F0" in moth
    assert moth.rstrip().endswith("audiomoth-comment")
    # aligned: every column starts at the same place on every line
    starts = {ln.find("2018") for ln in lines if "2018" in ln} | {
        ln.find("2021-05-02T") for ln in lines if "2021-05-02T" in ln
    }
    assert len(starts) == 1 and lines[0].find("start") in starts
    assert lines[-1] == "total: 3 file(s), 23.981 s (0:00:24)"


def test_cli_info_csv(oss_audio: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "info",
            "--format",
            "csv",
            str(oss_audio / "audiomoth_gps.wav"),
            str(oss_audio / "aru_1.wav"),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [Path(r["file"]).name for r in rows] == ["audiomoth_gps.wav", "aru_1.wav"]
    gps, aru = rows
    assert gps["start"] == "2024-05-28T10:00:00+00:00" and gps["start_source"] == "opso-metadata"
    assert (gps["gain"], gps["battery_v"], gps["temperature_c"]) == ("medium", "3.8", "12.8")
    assert gps["frames"] == "95999" and gps["sample_rate"] == "48000"
    assert aru["start"] == "" and aru["start_source"] == ""


def test_cli_info_json_with_a_time_zone_for_file_names(oss_audio: Path, tmp_path: Path) -> None:
    named = tmp_path / "SITE_20210702_040000.wav"
    shutil.copy(oss_audio / "aru_1.wav", named)
    result = CliRunner().invoke(
        main, ["info", "--format", "json", "--timezone", "America/New_York", str(named)]
    )
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.output)
    assert record["start"] == "2021-07-02T04:00:00-04:00"
    assert record["sources"] == {"start": "file-name"}
    assert record["duration_s"] == 3.0 and record["warnings"] == []


def test_cli_info_json_says_which_source_won(oss_audio: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "20200101_000000.wav"
    shutil.copy(oss_audio / "LOCA_2021_09_24_652_3.wav", renamed)
    result = CliRunner().invoke(main, ["info", "--format", "json", str(renamed)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    (record,) = json.loads(out)
    assert record["start"] == "2021-09-24T06:52:00+00:00"
    assert record["sources"]["start"] == "opso-metadata"
    assert "using opso-metadata" in record["warnings"][0]
    assert f"warning: {renamed}: start: opso-metadata says" in result.stderr


def test_cli_info_missing_path_is_one_line_without_a_header(
    oss_audio: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.wav"
    result = CliRunner().invoke(main, ["info", str(oss_audio / "aru_1.wav"), str(missing)])
    assert result.exit_code == 1
    assert result.output == f"Error: no such file or folder: {missing}\n"


def test_cli_info_unknown_time_zone_is_a_usage_error(oss_audio: Path) -> None:
    result = CliRunner().invoke(
        main, ["info", "--timezone", "Mars/Base", str(oss_audio / "aru_1.wav")]
    )
    assert result.exit_code == 2
    assert "'--timezone'" in result.output and "Mars/Base" in result.output
