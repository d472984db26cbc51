import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from numpy.typing import NDArray

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


def _recording(path: Path, seed: int, sr: int = 8000) -> NDArray[np.float32]:
    """Write 2 s of seeded 16-bit noise (a different signal per seed); return its samples."""
    samples = np.random.default_rng(seed).integers(-20000, 20000, 2 * sr).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(
        path, samples, sr, subtype="PCM_16", format="FLAC" if path.suffix == ".flac" else "WAV"
    )
    return (samples / np.float32(32768)).astype(np.float32)


def _split(paths: list[Path], out: Path) -> list[dict[str, str]]:
    args = ["split", *map(str, paths), "-o", str(out), "--clip-duration", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    with (out / "clips.csv").open() as fh:
        return list(csv.DictReader(fh))


def _assert_clips_hold_their_sources(
    rows: list[dict[str, str]], out: Path, sources: dict[str, NDArray[np.float32]]
) -> None:
    assert len({r["clip"] for r in rows}) == len(rows) == 2 * len(sources)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav")) == sorted(
        r["clip"] for r in rows
    )
    for r in rows:
        clip = opso.Audio.from_file(out / r["clip"]).samples
        start = round(float(r["begin_time"]) * 8000)
        np.testing.assert_array_equal(clip, sources[r["source"]][start : start + 8000])


def test_cli_split_files_sharing_a_stem_get_their_folders(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "x.wav", tmp_path / "b" / "x.wav"
    sources = {str(a): _recording(a, 1), str(b): _recording(b, 2)}
    rows = _split([a, b], tmp_path / "out")
    assert [r["clip"] for r in rows] == [
        "a/x_0s_1s.wav", "a/x_1s_2s.wav", "b/x_0s_1s.wav", "b/x_1s_2s.wav"
    ]  # fmt: skip
    _assert_clips_hold_their_sources(rows, tmp_path / "out", sources)


def test_cli_split_recordings_differing_by_suffix_keep_it(tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    names = ["x.wav", "x.flac", "x.WAV", "y.wav"]
    sources = {str(folder / n): _recording(folder / n, i) for i, n in enumerate(names)}
    rows = _split([folder], tmp_path / "out")
    assert sorted({r["clip"].rsplit("_", 2)[0] for r in rows}) == ["x_WAV", "x_flac", "x_wav", "y"]
    _assert_clips_hold_their_sources(rows, tmp_path / "out", sources)


def test_cli_split_folders_holding_the_same_names_get_their_folders(tmp_path: Path) -> None:
    first, second = tmp_path / "2020" / "site" / "x.wav", tmp_path / "2021" / "site" / "x.wav"
    sources = {str(first): _recording(first, 1), str(second): _recording(second, 2)}
    rows = _split([first.parent, second.parent], tmp_path / "out")
    assert {r["clip"].rsplit("_", 2)[0] for r in rows} == {"2020/site/x", "2021/site/x"}
    _assert_clips_hold_their_sources(rows, tmp_path / "out", sources)


def test_cli_split_the_same_file_twice_is_an_error_before_writing(tmp_path: Path) -> None:
    x = tmp_path / "x.wav"
    _recording(x, 1)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["split", str(x), str(tmp_path), "-o", str(out), "--clip-duration", "1"]
    )
    assert result.exit_code == 2
    assert "would both write the clips x_wav_*.wav" in result.output
    assert not out.exists()


def test_a_recording_shorter_than_one_clip_is_reported_not_silent(
    birds_10s: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main, ["split", str(birds_10s), "-o", str(tmp_path), "--clip-duration", "20"]
    )
    assert result.exit_code == 1
    assert "10.133 s, shorter than one 20 s clip: no clips" in result.output
    assert "--final-clip remainder" in result.output
