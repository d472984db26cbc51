"""Heads through resumable run directories: ``opso predict head.opso RECS --run-dir D``.

The base model is an untrained opso CNN (1 s windows at 8 kHz), fast to run; the head is
trained on its embeddings with 0.5 s overlap, so runs take windows every 0.5 s by default.
The recordings: 12 s (a tone, then noise; shards of 5 s cut it in three), 3 s of noise, a
0.98 s AudioMoth file whose name gives its start time, and a file that is not audio.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from opso.adapters.audio_metadata import RiffMetadataReader
from opso.adapters.parquet_runs import ParquetRunStore
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.app.pretrained_runs import HeadShards
from opso.app.runs import ReadRunResults, RunStatus
from opso.cli import main
from opso.container import Container
from opso.domain.runs import Shard, ShardOutput
from tests.conftest import untrained_model
from tests.integration.runs_jobs import run_here

SR = 8000
SHARD_SECONDS = 5.0
IO = SoundfileAudioIO()
STORE = ParquetRunStore()
KEYS = ["file", "start_time", "end_time"]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory, short_moth: Path) -> list[Path]:
    root = tmp_path_factory.mktemp("head_runs")
    rng = np.random.default_rng(2)
    t = np.arange(6 * SR) / SR
    tone = 0.5 * np.sin(2 * np.pi * 2000 * t) + 0.01 * rng.standard_normal(len(t))
    long = np.concatenate([tone, 0.3 * rng.standard_normal(6 * SR)]).astype(np.float32)
    sf.write(root / "long.wav", long, SR)
    sf.write(root / "noise.wav", (0.3 * rng.standard_normal(3 * SR)).astype(np.float32), SR)
    shutil.copy(short_moth, root / short_moth.name)
    (root / "junk.wav").write_bytes(b"not audio at all")
    return [root / "long.wav", root / "noise.wav", root / short_moth.name, root / "junk.wav"]


def _train_head(model: Path, recordings: list[Path], folder: Path) -> Path:
    """Embed ``recordings`` with ``model`` (0.5 s overlap), train a ``tone`` head on them."""
    emb, labels, head = folder / "emb.parquet", folder / "labels.csv", folder / "head.opso"
    args = ["embed", "--model", str(model), *map(str, recordings[:2]), "--overlap", "0.5"]
    done = CliRunner().invoke(main, [*args, "-o", str(emb)])
    assert done.exit_code == 0, done.output
    rows = pd.read_parquet(emb, columns=["file", "begin_time", "end_time"])
    rows["tone"] = ((rows["begin_time"] < 5) & rows["file"].str.endswith("long.wav")).astype(int)
    rows.to_csv(labels, index=False)
    args = ["train", "--embeddings", str(emb), "--labels", str(labels), "-o", str(head)]
    trained = CliRunner().invoke(main, [*args, "--valid-fraction", "0", "--seed", "0"])
    assert trained.exit_code == 0, trained.output
    return head


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory, recordings: list[Path]) -> Path:
    folder = tmp_path_factory.mktemp("head")
    model = untrained_model(folder, sample_rate=SR, clip_duration=1.0)
    return _train_head(model, recordings, folder)


@pytest.fixture(scope="module")
def streaming(
    head: Path, recordings: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> pd.DataFrame:
    """Scores of ``opso predict head.opso RECS -o`` (readable recordings' rows)."""
    out = tmp_path_factory.mktemp("stream") / "scores.csv"
    res = CliRunner().invoke(main, ["predict", str(head), *map(str, recordings), "-o", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out, keep_default_na=False)
    assert table[table["error"] != ""]["file"].str.endswith("junk.wav").tolist() == [True]
    table = table[table["error"] == ""].reset_index(drop=True)
    return table.astype({"start_time": float, "end_time": float, "tone": float})


def _same_scores(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == [*KEYS, "begin_datetime", "tone", "error"]
    assert len(got) == len(want) == 29  # 23 + 5 + 1 windows of 1 s every 0.5 s
    assert got["file"].tolist() == want["file"].tolist()
    np.testing.assert_allclose(got[["start_time", "end_time"]], want[["start_time", "end_time"]])
    np.testing.assert_allclose(got["tone"], want["tone"], atol=1e-6)
    assert got["tone"].std() > 1e-3  # scores that differ from window to window
    assert (got["error"].fillna("") == "").all()


def test_run_dir_export_equals_the_streaming_csv(
    head: Path, recordings: list[Path], streaming: pd.DataFrame, tmp_path: Path
) -> None:
    run_dir, out = tmp_path / "run", tmp_path / "scores.csv"
    args = ["predict", str(head), *map(str, recordings), "--run-dir", str(run_dir)]
    args += ["--shard-duration", str(SHARD_SECONDS), "--workers", "2"]  # each loads the model
    res = CliRunner().invoke(main, [*args, "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "1 error row(s)" in res.output and "exported" in res.output
    got = pd.read_csv(out, keep_default_na=False)
    _same_scores(got, streaming)
    long = got[got["file"].str.endswith("long.wav")]
    assert long["start_time"].tolist()[:4] == [0.0, 0.5, 1.0, 1.5]  # the head's 0.5 s overlap
    moth = got[got["file"].str.endswith("20210502_040000.WAV")]
    assert (moth["begin_datetime"].str.startswith("2021-05-02T04:00:00")).all()
    assert (got[~got.index.isin(moth.index)]["begin_datetime"] == "").all()
    manifest = STORE.read_manifest(run_dir)
    assert manifest is not None
    cuts = [(s.start, s.end) for sh in manifest.shards for s in sh.segments if "long" in s.source]
    assert cuts == [(0.0, 5.0), (5.0, 10.0), (10.0, 12.0)]
    strict = CliRunner().invoke(main, [*args, "--strict"])
    assert strict.exit_code == 1 and "ran 0 shard(s)" in strict.output  # junk.wav's error row


@dataclass
class Interrupted(HeadShards):
    """The job, stopped by Ctrl-C when it reaches shard ``stop_at``."""

    stop_at: int = 1

    def __call__(self, shard: Shard) -> ShardOutput:
        if shard.index == self.stop_at:
            raise KeyboardInterrupt
        return super().__call__(shard)


def _run(job: HeadShards, recordings: list[Path], run_dir: Path) -> int:
    """Run ``job`` in this process; return the number of shards it ran."""
    return run_here(job, recordings, run_dir, shard_duration=SHARD_SECONDS).ran


def test_an_interrupted_run_resumes_without_scoring_a_shard_twice(
    head: Path, recordings: list[Path], streaming: pd.DataFrame, tmp_path: Path
) -> None:
    c, run_dir = Container(), tmp_path / "run"
    stores = (IO, c.pretrained_store(), c.head_store(), head)
    stopped = Interrupted.for_head(*stores, metadata=RiffMetadataReader())
    with pytest.raises(KeyboardInterrupt):
        _run(stopped, recordings, run_dir)
    assert RunStatus(STORE, STORE).run(run_dir=run_dir).shards_done == 1
    manifest = STORE.read_manifest(run_dir)
    assert manifest is not None and len(manifest.shards) >= 3
    job = HeadShards.for_head(*stores, metadata=RiffMetadataReader())
    assert _run(job, recordings, run_dir) == len(manifest.shards) - 1  # shard 0 not again
    _same_scores(ReadRunResults(STORE).run(run_dir=run_dir), streaming)


def test_a_changed_base_model_or_other_options_are_refused(
    recordings: list[Path], tmp_path: Path
) -> None:
    model = untrained_model(tmp_path, sample_rate=SR, clip_duration=1.0)
    head = _train_head(model, recordings, tmp_path)
    run_dir = tmp_path / "run"
    args = ["predict", str(head), str(recordings[1]), "--run-dir", str(run_dir)]
    res = CliRunner().invoke(main, [*args, "--workers", "0"])
    assert res.exit_code == 0, res.output
    with model.open("ab") as fh:  # the base model changes: the head refuses it, run or not
        fh.write(b"\0")
    refused = CliRunner().invoke(main, [*args, "--workers", "0"])
    assert refused.exit_code == 1 and "SHA-256" in refused.output
    assert "the base model changed" in refused.output
    other = CliRunner().invoke(main, [*args, "--top-k", "2"])
    assert other.exit_code == 2 and "--top-k: not used with a head file" in other.output
    streamed = ["predict", str(head), str(recordings[1]), "-o", str(tmp_path / "s.csv")]
    no_run = CliRunner().invoke(main, [*streamed, "--workers", "2"])
    assert no_run.exit_code == 2 and "--workers: not used with a head file" in no_run.output
