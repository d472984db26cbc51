import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from opso.adapters.memory import InMemoryAudioIO, InMemoryTables
from opso.app.files import AudioJob, find_audio_files
from opso.app.split import SplitAudio, SplitRecordings, clip_path
from opso.cli import main
from opso.container import Container
from opso.domain.audio import Audio, AudioInfo
from opso.domain.errors import ParameterError
from opso.ports.audio_io import AudioSource


def noise(seconds: float, sr: int = 100) -> Audio:
    return Audio(np.random.default_rng(0).normal(size=round(seconds * sr)), sr)


def test_split_audio_writes_each_clip_with_its_samples() -> None:
    io = InMemoryAudioIO()
    audio = noise(12)
    records = SplitAudio(io).run(
        audio=audio, destination=Path("/out"), prefix="rec", clip_duration=5, final_clip="remainder"
    )
    assert [(r.begin_time, r.end_time) for r in records] == [(0, 5), (5, 10), (10, 12)]
    assert [r.path.name for r in records] == ["rec_0s_5s.wav", "rec_5s_10s.wav", "rec_10s_12s.wav"]
    assert np.array_equal(io.files[Path("/out/rec_5s_10s.wav")].samples, audio.samples[500:1000])


def test_dry_run_writes_nothing() -> None:
    io = InMemoryAudioIO()
    records = SplitAudio(io).run(
        audio=noise(10), destination=Path("/out"), prefix="rec", clip_duration=5, dry_run=True
    )
    assert len(records) == 2 and io.files == {}


@pytest.mark.parametrize("prefix", ["../escape", "/abs/path", "", "a/../../b"])
def test_prefix_cannot_escape_destination(prefix: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="prefix"):
        clip_path(tmp_path / "out", prefix, 0, 5)


def test_split_recordings_carries_on_past_bad_files() -> None:
    io = InMemoryAudioIO(
        {Path("/in/a.wav"): noise(10), Path("/in/empty.wav"): Audio(np.zeros(0), 100)}
    )
    tables = InMemoryTables()
    calls: list[tuple[int, int]] = []
    report = SplitRecordings(io, tables).run(
        jobs=[
            AudioJob(Path("/in/a.wav"), "a"),
            AudioJob(Path("/in/empty.wav"), "empty"),
            AudioJob(Path("/in/missing.wav"), "missing"),
        ],
        destination=Path("/out"),
        clip_duration=5,
        progress=lambda d, t, _: calls.append((d, t)),
    )
    assert len(report.clips) == 2
    assert {f.source.name for f in report.failures} == {"empty.wav", "missing.wav"}
    assert "no audio frames" in next(
        f.reason for f in report.failures if f.source.name == "empty.wav"
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]
    columns, rows = tables.tables[Path("/out/clips.csv")]
    assert columns == ["clip", "source", "begin_time", "end_time"]
    assert [r["clip"] for r in rows] == ["a_0s_5s.wav", "a_5s_10s.wav"]


def test_split_recordings_validates_settings_before_reading() -> None:
    io = InMemoryAudioIO()
    with pytest.raises(ValueError, match="clip_overlap"):
        SplitRecordings(io, InMemoryTables()).run(
            jobs=[AudioJob(Path("/nope.wav"), "x")],
            destination=Path("/o"),
            clip_duration=5,
            clip_overlap=6,
        )


def test_cli_split_uses_container_adapters(tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    src.write_bytes(b"placeholder: the in-memory reader is used")
    io = InMemoryAudioIO({src: noise(10)})
    container = Container()
    container.audio_io.override(io)
    result = CliRunner().invoke(
        main,
        ["split", str(src), "-o", str(tmp_path / "out"), "--clip-duration", "5"],
        obj=container,
    )
    assert result.exit_code == 0, result.output
    assert "wrote 2 clips from 1 recording(s)" in result.output
    assert sorted(p.name for p in io.files) == ["in.wav", "in_0s_5s.wav", "in_5s_10s.wav"]
    assert (tmp_path / "out" / "clips.csv").read_text().splitlines()[
        0
    ] == "clip,source,begin_time,end_time"


def test_cli_split_bad_option_is_a_usage_error(tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    src.write_bytes(b"x")
    result = CliRunner().invoke(
        main,
        ["split", str(src), "-o", str(tmp_path), "--clip-duration", "5", "--clip-overlap", "5"],
    )
    assert result.exit_code == 2
    assert "clip_overlap must be in [0, clip_duration=5.0), got 5.0" in result.output


def _touch(*paths: Path) -> None:
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")


def test_recordings_sharing_a_name_are_told_apart_by_folder_then_suffix(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "x.wav", tmp_path / "b" / "x.wav"
    folder = tmp_path / "f"
    inside = [folder / n for n in ("x.wav", "x.flac", "x.WAV", "sub/x.wav", "y.mp3")]
    _touch(a, b, *inside)
    assert [j.name for j in find_audio_files([a, b])] == ["a/x", "b/x"]
    assert [j.name for j in find_audio_files([folder])] == [
        "sub/x",
        "x_WAV",
        "x_flac",
        "x_wav",
        "y",
    ]
    # all five share the name x: named from the inputs' common folder, then by suffix
    jobs = find_audio_files([a, b, folder])
    assert {j.source: j.name for j in jobs} == {
        a: "a/x",
        b: "b/x",
        folder / "x.wav": "f/x_wav",
        folder / "x.flac": "f/x_flac",
        folder / "x.WAV": "f/x_WAV",
        folder / "sub/x.wav": "sub/x",
        folder / "y.mp3": "y",
    }
    # a file given by name beside a folder holding the same name: the folder tells them apart
    _touch(tmp_path / "y.mp3")
    named = {j.source: j.name for j in find_audio_files([tmp_path / "y.mp3", folder])}
    assert named[tmp_path / "y.mp3"] == "y" and named[folder / "y.mp3"] == "f/y"
    # unique names are left as they were
    assert [j.name for j in find_audio_files([a, folder / "y.mp3"])] == ["x", "y"]


def test_split_recordings_refuses_a_shared_name_before_reading() -> None:
    io = InMemoryAudioIO({Path("/in/x.wav"): noise(10)})
    tables = InMemoryTables()
    with pytest.raises(ParameterError, match=r"/in/x\.wav and /in/x\.wav would both write"):
        SplitRecordings(io, tables).run(
            jobs=[AudioJob(Path("/in/x.wav"), "x"), AudioJob(Path("/in/x.wav"), "x")],
            destination=Path("/out"),
            clip_duration=5,
        )
    assert list(io.files) == [Path("/in/x.wav")] and tables.tables == {}


@pytest.mark.parametrize("command", [["info"], ["split", "-o", "out", "--clip-duration", "5"]])
def test_cli_an_empty_folder_is_an_error(command: list[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not audio")
    result = CliRunner().invoke(main, [*command, str(empty)])
    assert result.exit_code == 1
    assert f"no audio files found in {empty}" in result.output
    assert not (tmp_path / "out").exists()


class FailingReader(InMemoryAudioIO):
    def info(self, source: AudioSource) -> AudioInfo:
        if isinstance(source, Path) and source.name.startswith("bad"):
            raise RuntimeError("the decoder gave up")
        return super().info(source)


def test_cli_info_prints_names_that_are_not_utf8_and_names_failing_files(tmp_path: Path) -> None:
    good = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.wav"))
    bad = Path(os.fsdecode(bytes(tmp_path) + b"/bad\xe9.wav"))
    _touch(good, bad)
    container = Container()
    container.audio_io.override(FailingReader({good: noise(2)}))
    result = CliRunner().invoke(main, ["info", str(tmp_path)], obj=container)
    assert result.exit_code == 1
    line = next(ln for ln in result.output.splitlines() if "caf" in ln)
    assert line.split()[:3] == [f"{tmp_path}/caf\\xe9.wav", "2.000", "100"]
    assert f"error: {tmp_path}/bad\\xe9.wav: the decoder gave up" in result.output
