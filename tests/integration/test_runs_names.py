"""File names that are not UTF-8 go through every output; streamed tables never mix runs."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from opso.adapters.csv_stream import CsvRowSink
from opso.adapters.parquet_runs import ParquetRunStore
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.app.runs import ReadRunResults
from opso.cli import main

SR = 8000


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """ok.wav, a valid WAV named b"caf\\xe9.wav" and a broken one named b"na\\xefve.wav"."""
    root = tmp_path / "recordings"
    root.mkdir()
    rng = np.random.default_rng(11)
    for name in ("ok.wav", "good.wav"):
        sf.write(root / name, (0.3 * rng.standard_normal(3 * SR)).astype(np.float32), SR)
    (root / "good.wav").rename(root / os.fsdecode(b"caf\xe9.wav"))
    (root / "broken.wav").write_bytes(b"RIFF but not a wave file")
    (root / "broken.wav").rename(root / os.fsdecode(b"na\xefve.wav"))
    return root


def read_rows(path: Path) -> list[dict[str, str]]:
    """Read a CSV with ``errors="surrogateescape"``, as the docs tell users who need exact names."""
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as fh:
        return list(csv.DictReader(fh))


def test_runs_levels_scores_a_file_whose_name_is_not_utf8_and_reports_a_broken_one(
    folder: Path, tmp_path: Path
) -> None:
    good = os.fsdecode(os.fsencode(folder) + b"/caf\xe9.wav")
    broken = os.fsdecode(os.fsencode(folder) + b"/na\xefve.wav")
    run_dir, out, errors = tmp_path / "run", tmp_path / "levels.csv", tmp_path / "errors.csv"
    args = ["runs", "levels", str(folder), "--run-dir", str(run_dir), "--clip-duration", "1"]
    res = CliRunner().invoke(main, [*args, "--workers", "2", "--export", str(out)])
    assert res.exit_code == 0, res.output
    rows = read_rows(out)
    assert [r["file"] for r in rows] == [good] * 3 + [str(folder / "ok.wav")] * 3
    audio = SoundfileAudioIO().read(Path(good))
    first = audio.samples[:SR].astype(np.float64)
    assert float(rows[0]["rms"]) == pytest.approx(np.sqrt(np.mean(first * first)))
    df = ReadRunResults(ParquetRunStore()).run(run_dir=run_dir)
    assert list(df["file"]) == [r["file"] for r in rows]
    status = CliRunner().invoke(main, ["runs", "status", str(run_dir)])
    assert status.exit_code == 0 and "na\\xefve.wav" in status.output
    res = CliRunner().invoke(main, ["runs", "export", str(run_dir), str(errors), "--errors"])
    assert res.exit_code == 0, res.output
    [error] = read_rows(errors)
    assert error["file"] == broken and "ve.wav" in error["reason"]


def test_two_streams_to_one_table_write_their_own_partial_files(tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    sink = CsvRowSink()
    with sink.open(out, columns=["file"]) as first:
        first.write([{"file": "first-1.wav"}])
        with sink.open(out, columns=["file"]) as second:
            second.write([{"file": "second-1.wav"}, {"file": "second-2.wav"}])
            first.write([{"file": "first-2.wav"}])
            partials = sorted(p.name for p in tmp_path.iterdir())
            assert len(partials) == 2 and all(
                p.startswith("scores.csv.") and p.endswith(".partial") for p in partials
            )
        assert [r["file"] for r in read_rows(out)] == ["second-1.wav", "second-2.wav"]
    assert [r["file"] for r in read_rows(out)] == ["first-1.wav", "first-2.wav"]
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_a_failed_stream_leaves_no_table_and_no_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    with pytest.raises(RuntimeError), CsvRowSink().open(out, columns=["file"]) as stream:
        stream.write([{"file": "a.wav"}])
        raise RuntimeError("the model failed")
    assert list(tmp_path.iterdir()) == []
