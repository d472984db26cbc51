"""BirdNET through resumable run directories on real recordings: the streaming path's rows.

The recordings: the Great Plains toad recording played three times (44.1 kHz, so resampled;
134 s, three decoding blocks, cut into three segments), the 32 kHz Chronister snippet (10 s),
a 0.98 s AudioMoth file whose name gives its start time, and a file that is not audio.
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
from opso.adapters.pyarrow_embeddings import ParquetEmbeddingReader
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.app.files import AudioJob
from opso.app.pretrained import SpeciesFilter
from opso.app.pretrained_runs import DetectShards
from opso.app.runs import ReadRunResults, RunStatus
from opso.cli import main
from opso.container import Container
from opso.domain.runs import Shard, ShardOutput
from opso.ports.pretrained import PretrainedModel
from tests.integration.runs_jobs import run_here

IO = SoundfileAudioIO()
STORE = ParquetRunStore()
#: Windows every 2.5 s; shards of 50 s cut the toad recording at 50 and 100 s.
OVERLAP, SHARD_SECONDS = 0.5, 50.0
KEEP = SpeciesFilter(min_confidence=0.05)
KEYS = ["file", "begin_time", "end_time", "begin_datetime", "scientific_name", "common_name"]


@pytest.fixture(scope="module")
def recordings(
    tmp_path_factory: pytest.TempPathFactory, test_data: Path, short_moth: Path
) -> list[Path]:
    root = tmp_path_factory.mktemp("birdnet_runs")
    toad, rate = sf.read(test_data / "opensoundscape/audio/great_plains_toad.wav", dtype="int16")
    sf.write(root / "toad_x3.wav", np.concatenate([toad] * 3), rate, subtype="PCM_16")
    shutil.copy(test_data / "crowsetta/audio/Recording_1_Segment_07-snippet.wav", root)
    shutil.copy(short_moth, root / short_moth.name)
    (root / "junk.wav").write_bytes(b"not audio at all")
    return [
        root / "toad_x3.wav",
        root / "Recording_1_Segment_07-snippet.wav",
        root / short_moth.name,
        root / "junk.wav",
    ]


@pytest.fixture(scope="module")
def birdnet() -> PretrainedModel:
    loaded: PretrainedModel = Container().pretrained_store().load("birdnet")
    return loaded


@dataclass
class Loaded:
    """A model store that hands out the module's BirdNET (for in-process runs)."""

    model: PretrainedModel

    def load(self, model: str | Path, *, labels: Path | None = None) -> PretrainedModel:
        return self.model


@pytest.fixture(scope="module")
def streaming(
    birdnet: PretrainedModel, recordings: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> pd.DataFrame:
    """Detections of ``opso predict --model birdnet -o`` (whole files, one pass)."""
    out = tmp_path_factory.mktemp("stream") / "detections.csv"
    report = (
        Container()
        .detect_species()
        .run(
            model=birdnet,
            jobs=[AudioJob(p, p.stem) for p in recordings],
            output=out,
            species_filter=KEEP,
            overlap=OVERLAP,
        )
    )
    assert [f.source.name for f in report.failures] == ["junk.wav"]
    table = pd.read_csv(out, dtype={"begin_datetime": str}, keep_default_na=False)
    table = table[table["error"] == ""].drop(columns="error").reset_index(drop=True)
    return table.astype({"begin_time": float, "end_time": float, "confidence": float})


def _job(birdnet: PretrainedModel) -> DetectShards:
    return DetectShards(
        IO, Loaded(birdnet), "birdnet", overlap=OVERLAP, species_filter=KEEP,
        metadata=RiffMetadataReader(),
    )  # fmt: skip


def _run(job: DetectShards, recordings: list[Path], run_dir: Path) -> int:
    """Run ``job`` in this process; return the number of shards it ran."""
    return run_here(job, recordings, run_dir, shard_duration=SHARD_SECONDS).ran


def _same_detections(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == [*KEYS, "confidence"]
    assert len(got) == len(want) > 20
    rows = got[KEYS].itertuples(index=False, name=None)
    assert list(rows) == list(want[KEYS].itertuples(index=False, name=None))
    np.testing.assert_array_equal(got["confidence"], want["confidence"])  # the same samples


def test_run_dir_detections_equal_the_streaming_csv(
    birdnet: PretrainedModel, recordings: list[Path], streaming: pd.DataFrame, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    _run(_job(birdnet), recordings, run_dir)
    manifest = STORE.read_manifest(run_dir)
    assert manifest is not None
    toad = [s for shard in manifest.shards for s in shard.segments if "toad" in s.source]
    assert [(s.start, s.end) for s in toad] == [(0.0, 50.0), (50.0, 100.0), (100.0, toad[2].end)]
    got = ReadRunResults(STORE).run(run_dir=run_dir)
    _same_detections(got, streaming)
    moth = got[got["file"].str.endswith("20210502_040000.WAV")]
    assert (moth["begin_datetime"].str.startswith("2021-05-02T04:00:00")).all()
    status = RunStatus(STORE, STORE).run(run_dir=run_dir)
    assert [Path(e.source).name for e in status.errors] == ["junk.wav"]


@dataclass
class Interrupted(DetectShards):
    """The job, stopped by Ctrl-C when it reaches shard ``stop_at``."""

    stop_at: int = 1

    def __call__(self, shard: Shard) -> ShardOutput:
        if shard.index == self.stop_at:
            raise KeyboardInterrupt
        return super().__call__(shard)


def test_an_interrupted_run_resumes_and_gives_the_same_rows(
    birdnet: PretrainedModel, recordings: list[Path], streaming: pd.DataFrame, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    stopped = Interrupted(
        IO, Loaded(birdnet), "birdnet", overlap=OVERLAP, species_filter=KEEP,
        metadata=RiffMetadataReader(), stop_at=1,
    )  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        _run(stopped, recordings, run_dir)
    assert RunStatus(STORE, STORE).run(run_dir=run_dir).shards_done == 1
    assert _run(_job(birdnet), recordings, run_dir) == 2  # of 3: shard 0 is not done again
    _same_detections(ReadRunResults(STORE).run(run_dir=run_dir), streaming)


def test_cli_detection_run_with_workers_exports_the_streaming_rows(
    recordings: list[Path], streaming: pd.DataFrame, tmp_path: Path
) -> None:
    run_dir, out = tmp_path / "run", tmp_path / "detections.parquet"
    args = ["predict", "--model", "birdnet", *map(str, recordings), "--overlap", str(OVERLAP)]
    args += ["--min-confidence", "0.05", "--run-dir", str(run_dir)]
    args += ["--shard-duration", str(SHARD_SECONDS), "--workers", "2"]
    res = CliRunner().invoke(main, [*args, "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "3/3 shards" in res.output and "1 error row(s)" in res.output
    _same_detections(pd.read_parquet(out), streaming)
    strict = CliRunner().invoke(main, [*args, "--strict"])
    assert strict.exit_code == 1  # junk.wav is an error row
    other = CliRunner().invoke(main, [*args[:-2], "--workers", "0", "--sensitivity", "1.2"])
    assert other.exit_code == 1 and "sensitivity" in other.output and "--restart" in other.output
    raven = CliRunner().invoke(main, [*args, "--raven", str(tmp_path / "raven")])
    assert raven.exit_code == 0, raven.output  # the complete run's tables, the model not run
    assert "ran 0 shard(s)" in raven.output and "wrote 3 Raven table(s)" in raven.output


def test_cli_embedding_run_exports_the_streaming_table_and_trains_a_head(
    recordings: list[Path], tmp_path: Path
) -> None:
    stream, exported = tmp_path / "stream.parquet", tmp_path / "run.parquet"
    base = ["embed", "--model", "birdnet", *map(str, recordings), "--overlap", str(OVERLAP)]
    res = CliRunner().invoke(main, [*base, "-o", str(stream)])
    assert res.exit_code == 0, res.output
    run = [*base, "--run-dir", str(tmp_path / "run"), "--shard-duration", str(SHARD_SECONDS)]
    res = CliRunner().invoke(main, [*run, "--workers", "0", "-o", str(exported)])
    assert res.exit_code == 0, res.output
    assert "exported" in res.output and "1 error row(s)" in res.output
    want = ParquetEmbeddingReader().read(stream)
    got = ParquetEmbeddingReader().read(exported)
    assert got.files == want.files and len(got.files) > 20
    np.testing.assert_array_equal(got.begin, want.begin)
    np.testing.assert_array_equal(got.end, want.end)
    np.testing.assert_allclose(got.vectors, want.vectors, rtol=1e-6, atol=1e-6)
    assert got.settings == want.settings
    run_table, stream_table = pd.read_parquet(exported), pd.read_parquet(stream)
    assert list(run_table.columns) == list(stream_table.columns)  # begin_datetime: the moth's
    good = stream_table[stream_table["error"] == ""]
    assert list(run_table["begin_datetime"]) == list(good["begin_datetime"])
    labels = pd.DataFrame(
        {
            "file": got.files,
            "begin_time": got.begin,
            "end_time": got.end,
            "toad": [int("toad" in f) for f in got.files],
        }
    )
    labels.to_csv(tmp_path / "labels.csv", index=False)
    train = ["train", "--embeddings", str(exported), "--labels", str(tmp_path / "labels.csv")]
    res = CliRunner().invoke(main, [*train, "--valid-fraction", "0", "-o", str(tmp_path / "h")])
    assert res.exit_code == 0, res.output
    assert "BirdNET_GLOBAL_6K_V2.4 embeddings (1024 features)" in res.output
    bad = CliRunner().invoke(main, [*run, "-o", str(tmp_path / "run.csv")])
    assert bad.exit_code == 2 and ".parquet" in bad.output
