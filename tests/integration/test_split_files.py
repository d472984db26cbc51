import csv
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import opso
from opso.cli import main


@pytest.mark.parametrize(
    ("overlap", "final", "expected"),
    [
        (0, None, [(0, 5), (5, 10)]),
        (1, None, [(0, 5), (4, 9)]),
        (1, "full", [(0, 5), (4, 9), (5, 10)]),
        (1, "extend", [(0, 5), (4, 9), (8, 10)]),
    ],
)
def test_split_and_save_dry_run_known_values(
    oss_audio: Path,
    tmp_path: Path,
    overlap: float,
    final: str | None,
    expected: list[tuple[int, int]],
) -> None:
    audio = opso.Audio.from_file(oss_audio / "silence_10s.mp3")
    df = opso.split_and_save(audio, tmp_path, "s", 5, overlap, final, dry_run=True)  # type: ignore[arg-type]
    assert list(zip(df["begin_time"], df["end_time"], strict=True)) == expected
    assert list(tmp_path.iterdir()) == []
    if final == "extend":
        assert audio.split(5, overlap, "extend")[-1]["audio"].duration() == 5.0


def test_split_and_save_writes_clips_indexed_by_path(
    birds_10s: Path, oss_audio: Path, tmp_path: Path
) -> None:
    audio = opso.Audio.from_file(birds_10s)
    df = opso.split_and_save(audio, tmp_path, "birds", 5, final_clip="remainder")
    assert len(df) == 3
    for path, row in df.iterrows():
        clip = opso.Audio.from_file(str(path))
        assert clip.duration() == pytest.approx(row["end_time"] - row["begin_time"], abs=1e-4)
    assert Path(str(df.index[-1])).name == "birds_10s_10.133s.wav"


def test_cli_split_folder_reports_bad_files_and_exits_1(
    birds_10s: Path, oss_audio: Path, tmp_path: Path
) -> None:
    src = tmp_path / "recordings"
    (src / "site_a").mkdir(parents=True)
    shutil.copy(birds_10s, src / "site_a" / "birds.WAV")
    shutil.copy(oss_audio / "empty_2c.wav", src / "empty.wav")
    (src / "notes.txt").write_text("ignored: not an audio suffix")
    out = tmp_path / "clips"
    result = CliRunner().invoke(main, ["split", str(src), "-o", str(out), "--clip-duration", "5"])
    assert result.exit_code == 1
    assert "empty.wav" in result.output and "holds no audio frames" in result.output
    assert sorted(p.name for p in (out / "site_a").iterdir()) == [
        "birds_0s_5s.wav",
        "birds_5s_10s.wav",
    ]
    with (out / "clips.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["clip"] for r in rows] == ["site_a/birds_0s_5s.wav", "site_a/birds_5s_10s.wav"]
    assert all(r["source"].endswith("birds.WAV") for r in rows)


def test_cli_split_resamples(oss_audio: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "split",
            str(oss_audio / "1min_first20s.wav"),
            "-o",
            str(tmp_path),
            "--clip-duration",
            "8",
            "--sample-rate",
            "16000",
            "--prefix",
            "moth",
        ],
    )
    assert result.exit_code == 0, result.output
    clip = opso.Audio.from_file(tmp_path / "moth_8s_16s.wav")
    assert clip.sample_rate == 16000 and len(clip.samples) == 128000


def test_cli_info_table(oss_audio: Path) -> None:
    result = CliRunner().invoke(
        main, ["info", str(oss_audio / "1min_first20s.wav"), str(oss_audio / "stereo.wav")]
    )
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if "1min_first20s.wav" in ln)
    assert "20.000" in line and "32000" in line and "640000" in line and "WAV/PCM_16" in line


def test_cli_info_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["info", str(tmp_path / "nope.wav")])
    assert result.exit_code == 1
    assert "nope.wav" in result.output
