"""The pure metadata parsers: AudioMoth comments, opso_metadata JSON, GUANO fields, file names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from opso.domain.errors import ParameterError
from opso.domain.recording_info import (
    RecordingInfo,
    combine,
    guano_info,
    parse_audiomoth_comment,
    parse_file_name,
    parse_opso_metadata,
    parse_timezone,
)

OLD_STYLE = (
    "Recorded at 04:00:00 02/05/2021 (UTC) by AudioMoth 24526B065D325963 at gain setting 2 "
    "while battery state was 4.2V."
)
NEW_STYLE = (
    "Recorded at 10:00:00 28/05/2024 (UTC) by AudioMoth 243B1F026488F56E at medium gain "
    "while battery was 3.8V and temperature was 12.8C."
)


def test_audiomoth_comment_old_firmware_style() -> None:
    info = parse_audiomoth_comment(OLD_STYLE)
    assert info.start == datetime(2021, 5, 2, 4, 0, 0, tzinfo=UTC)
    assert (info.device_id, info.gain, info.battery_v) == ("AudioMoth 24526B065D325963", "2", 4.2)
    assert info.temperature_c is None and info.warnings == ()
    assert info.sources["start"] == info.sources["battery_v"] == "audiomoth-comment"


def test_audiomoth_comment_new_firmware_style() -> None:
    info = parse_audiomoth_comment(NEW_STYLE)
    assert info.start == datetime(2024, 5, 28, 10, tzinfo=UTC)
    assert (info.gain, info.battery_v, info.temperature_c) == ("medium", 3.8, 12.8)
    assert info.device_id == "AudioMoth 243B1F026488F56E" and info.model == "AudioMoth"


@pytest.mark.parametrize(
    ("zone", "offset"),
    [("(UTC+1)", timedelta(hours=1)), ("(UTC-5:30)", -timedelta(hours=5, minutes=30))],
)
def test_audiomoth_comment_time_zones(zone: str, offset: timedelta) -> None:
    info = parse_audiomoth_comment(OLD_STYLE.replace("(UTC)", zone))
    assert info.start is not None and info.start.utcoffset() == offset
    assert info.start == datetime(2021, 5, 2, 4, tzinfo=timezone(offset))
    assert info.start.astimezone(UTC) == datetime(2021, 5, 2, 4, tzinfo=UTC) - offset


def test_audiomoth_impossible_date_gives_no_start_and_a_warning() -> None:
    info = parse_audiomoth_comment(OLD_STYLE.replace("02/05/2021", "31/02/2021"))
    assert info.start is None and info.battery_v == 4.2
    assert len(info.warnings) == 1 and info.warnings[0].startswith("start:")
    assert "31/02/2021" in info.warnings[0]


def test_audiomoth_battery_bound_is_a_warning() -> None:
    info = parse_audiomoth_comment(NEW_STYLE.replace("was 3.8V", "was less than 2.5V"))
    assert info.battery_v == 2.5
    assert info.warnings == ("battery_v: AudioMoth says less than 2.5 V",)


@pytest.mark.parametrize("comment", ["", "Recorded by Jane at the lake", "Lavf57.83.100", "{}"])
def test_comment_that_is_not_audiomoths_gives_nothing(comment: str) -> None:
    info = parse_audiomoth_comment(comment)
    assert info == RecordingInfo() and info.start is None


def test_opso_metadata_json() -> None:
    info = parse_opso_metadata(
        'opso_metadata{"recording_start_time": "2021-09-24T06:52:00.100000+00:00", '
        '"device_id": "AudioMoth X", "gain_setting": "medium", "battery_state": 3.8, '
        '"temperature_C": 12.8, "latitude": 40.4, "longitude": -79.9}'
    )
    assert info.start == datetime(2021, 9, 24, 6, 52, 0, 100000, tzinfo=UTC)
    assert (info.device_id, info.gain, info.battery_v, info.temperature_c) == (
        "AudioMoth X",
        "medium",
        3.8,
        12.8,
    )
    assert (info.latitude, info.longitude) == (40.4, -79.9)
    assert set(info.sources.values()) == {"opso-metadata"}


def test_opso_metadata_fills_gaps_from_its_audiomoth_comment() -> None:
    info = parse_opso_metadata('opso_metadata{"comment": "' + NEW_STYLE + '"}')
    assert info.start == datetime(2024, 5, 28, 10, tzinfo=UTC) and info.temperature_c == 12.8
    assert info.sources["temperature_c"] == "opso-metadata"


def test_opso_metadata_naive_time_is_taken_in_the_given_zone() -> None:
    comment = 'opso_metadata{"recording_start_time": "2021-09-24T06:52:00"}'
    assert parse_opso_metadata(comment).start == datetime(2021, 9, 24, 6, 52, tzinfo=UTC)
    berlin = parse_opso_metadata(comment, zone=parse_timezone("Europe/Berlin")).start
    assert berlin is not None and berlin.astimezone(UTC).hour == 4


@pytest.mark.parametrize(
    ("comment", "warning"),
    [
        ("opso_metadata{not json", "not valid JSON"),
        ("opso_metadata[1, 2]", "not a JSON object"),
        ('opso_metadata{"recording_start_time": "yesterday"}', "'yesterday' is not a time"),
        ('opso_metadata{"latitude": 123.0}', "latitude 123.0 is out of range"),
    ],
)
def test_bad_opso_metadata_is_a_warning_not_a_crash(comment: str, warning: str) -> None:
    info = parse_opso_metadata(comment)
    assert info.start is None and info.latitude is None
    assert any(warning in w for w in info.warnings), info.warnings


@pytest.mark.parametrize(
    "name", ["20210502_040000.WAV", "PREFIX_20210502_040000.wav", "S4A01_20210502T040000Z.flac"]
)
def test_file_name_timestamps(name: str) -> None:
    info = parse_file_name(name)
    assert info.start == datetime(2021, 5, 2, 4, tzinfo=UTC)
    assert dict(info.sources) == {"start": "file-name"}


def test_file_name_in_local_time() -> None:
    info = parse_file_name("20210102_040000.WAV", zone=parse_timezone("America/New_York"))
    assert info.start is not None
    assert info.start.astimezone(UTC) == datetime(2021, 1, 2, 9, tzinfo=UTC)  # EST, UTC-5
    summer = parse_file_name("20210702_040000.WAV", zone=parse_timezone("America/New_York"))
    assert summer.start is not None and summer.start.utcoffset() == timedelta(hours=-4)


@pytest.mark.parametrize("name", ["birds_10s.wav", "clip_12345678_123456.wav", "2021_05_02.wav"])
def test_names_without_a_timestamp_give_no_start(name: str) -> None:
    assert parse_file_name(name) == RecordingInfo()


def test_impossible_file_name_timestamp_is_a_warning() -> None:
    info = parse_file_name("20210231_250000.WAV")
    assert info.start is None
    assert info.warnings and "20210231_250000" in info.warnings[0]


def test_guano_fields() -> None:
    info = guano_info(
        {
            "Timestamp": datetime(2023, 7, 1, 21, 30, 5),
            "Serial": "SMU12345",
            "Make": "Wildlife Acoustics",
            "Model": "Song Meter Mini Bat",
            "Firmware Version": "4.2",
            "Loc Position": (45.5, -122.6),
            "Temperature Int": "18.5",
        },
        zone=parse_timezone("America/Los_Angeles"),
    )
    assert info.start is not None and info.start.utcoffset() == timedelta(hours=-7)
    assert (info.device_id, info.model, info.firmware) == (
        "SMU12345",
        "Wildlife Acoustics Song Meter Mini Bat",
        "4.2",
    )
    assert (info.latitude, info.longitude, info.temperature_c) == (45.5, -122.6, 18.5)


def test_guano_bad_position_and_timestamp_are_warnings() -> None:
    info = guano_info({"Timestamp": "not a time", "Loc Position": (95.0, 10.0)})
    assert info.start is None and info.latitude is None
    assert [w.split(":")[0] for w in info.warnings] == ["start", "latitude"]


def test_embedded_metadata_wins_over_the_file_name_and_says_so() -> None:
    info = combine([parse_audiomoth_comment(OLD_STYLE), parse_file_name("20200101_000000.WAV")])
    assert info.start == datetime(2021, 5, 2, 4, tzinfo=UTC)
    assert info.sources["start"] == "audiomoth-comment"
    assert info.warnings == (
        "start: audiomoth-comment says 2021-05-02T04:00:00+00:00, file-name says "
        "2020-01-01T00:00:00+00:00; using audiomoth-comment",
    )


def test_file_name_fills_a_start_the_embedded_metadata_lacks() -> None:
    info = combine(
        [
            RecordingInfo(device_id="X", sources={"device_id": "guano"}),
            parse_file_name("20200101_000000.WAV"),
        ]
    )
    assert dict(info.sources) == {"device_id": "guano", "start": "file-name"}
    assert info.warnings == ()


def test_start_at_and_validation() -> None:
    info = RecordingInfo(start=datetime(2021, 9, 24, 6, 52, tzinfo=UTC))
    assert info.start_at(0.25) == datetime(2021, 9, 24, 6, 52, 0, 250000, tzinfo=UTC)
    assert RecordingInfo().start_at(1.0) is None
    assert len({info, RecordingInfo(start=info.start), RecordingInfo()}) == 2  # hashable values
    with pytest.raises(ParameterError, match="no time zone"):
        RecordingInfo(start=datetime(2021, 9, 24, 6, 52))
    with pytest.raises(ParameterError, match="latitude 91"):
        RecordingInfo(latitude=91)
    with pytest.raises(ParameterError, match="unknown fields: colour"):
        RecordingInfo(sources={"colour": "guano"})


def test_unknown_time_zone_names_the_value() -> None:
    with pytest.raises(ParameterError, match="'Mars/Base'"):
        parse_timezone("Mars/Base")
