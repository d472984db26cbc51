"""FLAC, Ogg and MP3 recordings give the start time and device their tags carry, as WAVs do."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

import opso
from opso.cli import main
from opso.domain.recording_info import RecordingInfo

MOTH_START = datetime(2021, 5, 2, 4, 0, tzinfo=UTC)
MOTH_DEVICE = "AudioMoth 247AA5075E06337D"
#: libsndfile format and subtype of each compressed copy written with soundfile.
FORMATS = {
    ".flac": ("FLAC", "PCM_16"),
    ".ogg": ("OGG", "VORBIS"),
    ".opus": ("OGG", "OPUS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
}


def _copy_with_tags(wav: Path, out: Path, *, comment: str | None, artist: str | None) -> Path:
    """Write ``wav``'s samples to ``out`` (format from the suffix) with the given text tags."""
    samples, rate = sf.read(wav, dtype="float32")
    fmt, subtype = FORMATS[out.suffix]
    with sf.SoundFile(out, "w", rate, 1, format=fmt, subtype=subtype) as f:
        if comment is not None:
            f.comment = comment
        if artist is not None:
            f.artist = artist
        f.write(samples)
    return out


def _moth_tags(short_moth: Path) -> dict[str, str]:
    with sf.SoundFile(short_moth) as f:
        tags: dict[str, str] = f.copy_metadata()
    return tags


def _assert_moth(info: RecordingInfo) -> None:
    assert info.start == MOTH_START
    assert (info.device_id, info.model, info.gain, info.battery_v) == (
        MOTH_DEVICE,
        "AudioMoth",
        "2",
        4.2,
    )
    assert info.sources["start"] == "audiomoth-comment" and info.warnings == ()


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_compressed_copy_written_with_its_comment_gives_the_wav_metadata(
    short_moth: Path, tmp_path: Path, suffix: str
) -> None:
    tags = _moth_tags(short_moth)
    copy = _copy_with_tags(
        short_moth, tmp_path / f"moth{suffix}", comment=tags["comment"], artist=tags["artist"]
    )
    wav = opso.recording_info(short_moth)
    info = opso.recording_info(copy)
    _assert_moth(info)
    assert info.values() == wav.values() and dict(info.sources) == dict(wav.sources)


@pytest.mark.parametrize("suffix", [".flac", ".ogg", ".mp3"])
def test_ffmpeg_conversion_keeps_the_audiomoth_start(
    short_moth: Path, tmp_path: Path, suffix: str
) -> None:
    # ffmpeg writes the RIFF ICMT as DESCRIPTION (Vorbis comments) or TXXX:comment (ID3)
    copy = tmp_path / f"moth{suffix}"
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(short_moth), str(copy)]
    subprocess.run(cmd, check=True, capture_output=True)
    _assert_moth(opso.recording_info(copy))
    result = CliRunner().invoke(main, ["info", "--format", "json", str(copy)])
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert record["start"] == "2021-05-02T04:00:00+00:00"
    assert record["device_id"] == MOTH_DEVICE and record["sources"]["start"] == "audiomoth-comment"


def test_flac_without_tags_falls_back_to_its_file_name(short_moth: Path, tmp_path: Path) -> None:
    copy = _copy_with_tags(short_moth, tmp_path / "20210502_040000.flac", comment=None, artist=None)
    info = opso.recording_info(copy, timezone="Europe/London")
    assert info.start is not None and info.start.isoformat() == "2021-05-02T04:00:00+01:00"
    assert dict(info.sources) == {"start": "file-name"} and info.warnings == ()


def test_flac_comment_wins_over_a_file_name_that_disagrees(
    short_moth: Path, tmp_path: Path
) -> None:
    tags = _moth_tags(short_moth)
    copy = _copy_with_tags(
        short_moth, tmp_path / "SITE_20200101_000000.flac", comment=tags["comment"], artist=None
    )
    info = opso.recording_info(copy)
    assert info.start == MOTH_START and info.sources["start"] == "audiomoth-comment"
    assert info.warnings == (
        "start: audiomoth-comment says 2021-05-02T04:00:00+00:00, file-name says "
        "2020-01-01T00:00:00+00:00; using audiomoth-comment",
    )


def test_an_artist_tag_alone_gives_the_device(short_moth: Path, tmp_path: Path) -> None:
    copy = _copy_with_tags(short_moth, tmp_path / "moth.ogg", comment="windy", artist="Moth 12")
    info = opso.recording_info(copy)
    assert info.start is None and info.device_id == "Moth 12"
    assert dict(info.sources) == {"device_id": "tag-artist"} and info.warnings == ()


@pytest.mark.parametrize("suffix", [".flac", ".ogg", ".mp3"])
def test_audio_saved_compressed_carries_its_own_start(
    short_moth: Path, tmp_path: Path, suffix: str
) -> None:
    part = opso.Audio.from_file(short_moth, offset=0.5)
    saved = tmp_path / f"part{suffix}"
    part.save(saved)
    info = opso.recording_info(saved)
    assert info.start == datetime(2021, 5, 2, 4, 0, 0, 500000, tzinfo=UTC)
    assert info.sources["start"] == "opso-metadata" and info.device_id == MOTH_DEVICE
    assert info.warnings == ()  # an MP3's cut ID3v1 copy of the comment is not read
    if suffix == ".flac":
        again = opso.Audio.from_file(saved, start_timestamp="2021-05-02T04:00:00.6Z")
        assert again.duration() == pytest.approx(part.duration() - 0.1, abs=1e-3)


def test_damaged_flac_tags_are_a_warning_not_a_crash(short_moth: Path, tmp_path: Path) -> None:
    copy = tmp_path / "20210502_040000.flac"
    copy.write_bytes(b"fLaC" + b"\xff" * 60)
    info = opso.recording_info(copy)
    assert info.start == MOTH_START and info.sources["start"] == "file-name"
    assert len(info.warnings) == 1 and info.warnings[0].startswith("audio tags cannot be read")


def test_split_of_a_flac_audiomoth_file_gives_begin_datetime(
    short_moth: Path, tmp_path: Path
) -> None:
    tags = _moth_tags(short_moth)
    flac = _copy_with_tags(short_moth, tmp_path / "moth.flac", comment=tags["comment"], artist=None)
    out = tmp_path / "clips"
    args = ["split", str(flac), "-o", str(out), "--clip-duration", "0.25"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "clips.csv")
    assert table["begin_datetime"].tolist() == [
        f"2021-05-02T04:00:00.{ms:03d}+00:00" for ms in (0, 250, 500)
    ]
    clip = opso.recording_info(out / table["clip"][1])
    assert clip.start == datetime(2021, 5, 2, 4, 0, 0, 250000, tzinfo=UTC)
    assert clip.device_id == MOTH_DEVICE
    samples, _ = sf.read(out / table["clip"][1], dtype="int16")
    whole, _ = sf.read(flac, dtype="int16")
    np.testing.assert_array_equal(samples, whole[12000:24000])
