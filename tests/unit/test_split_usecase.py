from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from opso.adapters.memory import InMemoryAudioIO, InMemoryTables
from opso.app.files import AudioJob
from opso.app.split import SplitAudio, SplitRecordings, clip_path
from opso.cli import main
from opso.container import Container
from opso.domain.audio import Audio


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
    report = SplitRecordings(io, io, tables).run(
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
        SplitRecordings(io, io, InMemoryTables()).run(
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
