"""CNN prediction through the batch runner: same scores as ``opso predict -o``, sparse output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

import opso
from opso.adapters.parquet_runs import ParquetRunStore
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.adapters.torch_models import build_architecture, save_model
from opso.app.files import AudioJob
from opso.app.predict_runs import PredictShards
from opso.app.runs import ReadRunResults
from opso.cli import main
from opso.container import Container
from opso.domain.classifier import ModelConfig, Preprocessing
from tests.integration.runs_jobs import run_here

SR = 8000
PRE = Preprocessing(
    sample_rate=SR, clip_duration=1.0, window_samples=256, overlap_samples=128, height=32, width=32
)
IO = SoundfileAudioIO()
STORE = ParquetRunStore()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.manual_seed(0)
    net = build_architecture("resnet18", 3).eval()
    config = ModelConfig(
        architecture="resnet18", classes=("wren", "robin", "owl"), preprocessing=PRE
    )
    return save_model(net, config, tmp_path_factory.mktemp("model") / "model.opso")


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("recordings")
    rng = np.random.default_rng(3)
    files = []
    for name, seconds in [("a.wav", 2.5), ("b.wav", 0.6), ("long.wav", 9.3), ("c.wav", 1.0)]:
        path = root / name
        sf.write(path, (0.2 * rng.standard_normal(round(seconds * SR))).astype(np.float32), SR)
        files.append(path)
    junk = root / "junk.wav"
    junk.write_bytes(b"not audio at all")
    return [*files, junk]


def unsharded_scores(model: Path, recordings: list[Path], tmp_path: Path) -> pd.DataFrame:
    """Scores from the streaming ``opso predict -o`` use-case (whole files, one pass)."""
    out = tmp_path / "scores.csv"
    Container().predict_scores().run(
        model=model,
        jobs=[AudioJob(p, p.stem) for p in recordings],
        output=out,
        clip_overlap=0.5,
        batch_size=4,
    )
    df = pd.read_csv(out)
    return df[df["error"].isna()].drop(columns="error").reset_index(drop=True)


def test_sharded_prediction_gives_the_streaming_scores(
    model: Path, recordings: list[Path], tmp_path: Path
) -> None:
    job = opso.predict_job(model, clip_overlap=0.5, batch_size=4)
    assert isinstance(job, PredictShards)
    run_dir = tmp_path / "run"
    # long.wav becomes 4 segments, cut on clip starts
    result = run_here(job, recordings, run_dir, shard_duration=3.0)
    assert result.progress.complete and result.progress.shards >= 4
    got = ReadRunResults(STORE).run(run_dir=run_dir)
    want = unsharded_scores(model, recordings, tmp_path)
    assert list(got.columns) == [
        "file",
        "start_time",
        "end_time",
        "begin_datetime",  # run-dir parts always have it: "" where the start is unknown
        "wren",
        "robin",
        "owl",
    ]
    assert (got.pop("begin_datetime") == "").all()  # the synthetic files carry no start time
    pd.testing.assert_frame_equal(got[["file", "start_time", "end_time"]], want.iloc[:, :3])
    np.testing.assert_allclose(got.iloc[:, 3:].to_numpy(), want.iloc[:, 3:].to_numpy(), atol=1e-5)
    assert [Path(e.source).name for e in result.progress.errors] == ["junk.wav"]
    assert job.settings()["model"]["classes"] == ["wren", "robin", "owl"]


def test_cli_predict_run_dir_with_workers_and_sparse_output(
    model: Path, recordings: list[Path], tmp_path: Path
) -> None:
    run_dir, out = tmp_path / "run", tmp_path / "top.csv"
    base = ["predict", str(model), *map(str, recordings), "--clip-overlap", "0.5"]
    args = [*base, "--run-dir", str(run_dir), "--shard-duration", "3", "--workers", "2"]
    res = CliRunner().invoke(main, [*args, "--top-k", "2", "--min-score", "0.2", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "exported" in res.output
    sparse = pd.read_csv(out)
    columns = ["file", "start_time", "end_time", "begin_datetime", "class", "score"]
    assert list(sparse.columns) == columns
    dense = unsharded_scores(model, recordings, tmp_path)
    classes = np.array(["wren", "robin", "owl"])
    want = []
    for row in dense.itertuples(index=False):
        scores = np.asarray(row[3:], dtype=float)
        for k in np.argsort(-scores, kind="stable")[:2]:
            if scores[k] >= 0.2:
                want.append((row[0], row[1], row[2], classes[k], scores[k]))
    assert len(sparse) == len(want) > 0
    assert list(sparse["class"]) == [w[3] for w in want]
    np.testing.assert_allclose(sparse["score"], [w[4] for w in want], atol=1e-5)
    assert (sparse["score"] >= 0.2).all()
    # the same run directory with another output form is refused; without --run-dir, misuse
    other = CliRunner().invoke(main, [*args, "--top-k", "1"])
    assert other.exit_code == 1 and "top_k" in other.output and "--restart" in other.output
    plain = CliRunner().invoke(main, [*base, "--top-k", "1", "-o", str(tmp_path / "x.csv")])
    assert plain.exit_code == 2 and "--run-dir" in plain.output
    strict = CliRunner().invoke(main, [*args, "--top-k", "2", "--min-score", "0.2", "--strict"])
    assert strict.exit_code == 1  # junk.wav is an error row


def test_a_resume_with_another_backend_batch_size_or_device_warns_and_goes_on(
    model: Path, recordings: list[Path], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    args = ["predict", str(model), *map(str, recordings), "--run-dir", str(run_dir)]
    args += ["--clip-overlap", "0.5", "--shard-duration", "3", "--workers", "0"]
    args += ["--shard-count", "2"]
    first = CliRunner().invoke(main, [*args, "--shard-index", "0", "--batch-size", "4"])
    assert first.exit_code == 0, first.output
    assert "warning" not in first.output
    second = CliRunner().invoke(
        main, [*args, "--shard-index", "1", "--batch-size", "2", "--backend", "eager"]
    )
    assert second.exit_code == 0, second.output
    assert "warning: " in second.output and "resuming with another engine" in second.output
    assert "backend: fast -> eager" in second.output and "batch_size: 4 -> 2" in second.output
    engines = json.loads((run_dir / "fingerprint.json").read_text())["engines"]
    assert engines == [
        {"backend": "fast", "batch_size": 4, "device": "auto"},
        {"backend": "eager", "batch_size": 2, "device": "auto"},
    ]
    got = ReadRunResults(STORE).run(run_dir=run_dir).drop(columns="begin_datetime")
    want = unsharded_scores(model, recordings, tmp_path)
    np.testing.assert_allclose(got.iloc[:, 3:].to_numpy(), want.iloc[:, 3:].to_numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def undecodable(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A folder with ok.wav, a valid WAV and a broken one under names that are not UTF-8."""
    root = tmp_path_factory.mktemp("names")
    rng = np.random.default_rng(5)
    for name in ("ok.wav", "good.wav"):
        sf.write(root / name, (0.2 * rng.standard_normal(2 * SR)).astype(np.float32), SR)
    (root / "good.wav").rename(root / os.fsdecode(b"caf\xe9.wav"))
    (root / "broken.wav").write_bytes(b"not audio at all")
    (root / "broken.wav").rename(root / os.fsdecode(b"na\xefve.wav"))
    return root, os.fsdecode(b"caf\xe9.wav"), os.fsdecode(b"na\xefve.wav")


def read_exact(path: Path) -> pd.DataFrame:
    """Read a CSV as a user who wants the exact file names back does."""
    text = {"file": object, "error": object}
    return pd.read_csv(path, encoding="utf-8", encoding_errors="surrogateescape", dtype=text)


def test_streaming_predict_keeps_names_that_are_not_utf8(
    model: Path, undecodable: tuple[Path, str, str], tmp_path: Path
) -> None:
    root, good, broken = undecodable
    out = tmp_path / "scores.csv"
    res = CliRunner().invoke(main, ["predict", str(model), str(root), "-o", str(out)])
    assert res.exit_code == 0, res.output
    df = read_exact(out)
    names = [Path(f).name for f in df["file"]]
    assert names.count(good) == 2 and names.count("ok.wav") == 2 and names.count(broken) == 1
    bad_row = df[[n == broken for n in names]].iloc[0]
    assert "ve.wav" in bad_row["error"] and np.isnan(bad_row["wren"])  # names it
    assert df[[n == good for n in names]]["error"].isna().all()
    assert "ve.wav: " in res.output  # the failure line names it


def test_run_dir_predict_keeps_names_that_are_not_utf8(
    model: Path, undecodable: tuple[Path, str, str], tmp_path: Path
) -> None:
    root, good, broken = undecodable
    run_dir, out = tmp_path / "run", tmp_path / "scores.csv"
    args = ["predict", str(model), str(root), "--run-dir", str(run_dir), "--workers", "0"]
    res = CliRunner().invoke(main, [*args, "-o", str(out)])
    assert res.exit_code == 0, res.output
    df = read_exact(out)
    assert sorted({Path(f).name for f in df["file"]}) == sorted([good, "ok.wav"])
    assert len(df) == 4
    rows = ReadRunResults(STORE).run(run_dir=run_dir)
    assert sorted({Path(f).name for f in rows["file"]}) == sorted([good, "ok.wav"])
    errors = STORE.read_errors(run_dir)
    assert [Path(e.source).name for e in errors] == [broken]
