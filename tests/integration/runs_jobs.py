"""Jobs for the batch-run tests; a module (not a test file) so worker processes can import them."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from opso.adapters.multiprocessing_runner import LocalRunner
from opso.adapters.parquet_runs import ParquetRunStore
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.app.runs import RunBatch, RunResult
from opso.domain.runs import Shard, ShardOutput
from opso.ports.runner import ShardJob


def run_here(
    job: Any, sources: Sequence[Path], run_dir: Path, *, shard_duration: float
) -> RunResult:
    """Run a shard job (one with ``settings()`` and ``step``) in this process, Parquet parts."""
    store = ParquetRunStore()
    return RunBatch(SoundfileAudioIO(), store, store, LocalRunner(0)).run(
        sources=list(sources),
        run_dir=run_dir,
        job=job,
        settings=job.settings(),
        align=job.step,
        shard_duration=shard_duration,
    )


def make_corpus(root: Path) -> list[Path]:
    """Write 10 short WAVs, one 65 s WAV, a FLAC with corrupt frames and a non-audio .wav."""
    rng = np.random.default_rng(7)
    root.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(10):
        path = root / f"short_{i:02d}.wav"
        n = 8000 * (3 + i % 4) + 1234 * i
        sf.write(path, (0.05 * (i + 1) * rng.standard_normal(n)).astype(np.float32), 8000)
        files.append(path)
    long = root / "long.wav"
    sf.write(long, (0.2 * rng.standard_normal(8000 * 65)).astype(np.float32), 8000)
    files.append(long)
    corrupt = root / "corrupt.flac"
    sf.write(corrupt, (0.1 * rng.standard_normal(8000 * 10)).astype(np.float32), 8000)
    data = bytearray(corrupt.read_bytes())
    third = len(data) // 3
    data[third : third + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    corrupt.write_bytes(bytes(data))
    files.append(corrupt)
    junk = root / "junk.wav"
    junk.write_bytes(b"this is not audio" * 10)
    files.append(junk)
    return sorted(files)


@dataclass(frozen=True)
class KillOnce:
    """Kill the worker process the first time shard ``shard`` runs (tracked by a marker file)."""

    job: ShardJob
    shard: int
    marker: Path

    def __call__(self, shard: Shard) -> ShardOutput:
        if shard.index == self.shard and not self.marker.exists():
            self.marker.write_text("killed\n")
            os._exit(13)
        return self.job(shard)


@dataclass(frozen=True)
class KillAlways:
    """Kill the worker process every time shard ``shard`` runs."""

    job: ShardJob
    shard: int

    def __call__(self, shard: Shard) -> ShardOutput:
        if shard.index == self.shard:
            os._exit(14)
        return self.job(shard)


@dataclass
class SetupOnce:
    """Record a "model load" on the first call per instance: a line ``pid OMP_NUM_THREADS``."""

    job: ShardJob
    log: Path
    _loaded: bool = field(default=False, repr=False)

    def __getstate__(self) -> dict[str, object]:
        return {"job": self.job, "log": self.log, "_loaded": False}

    def __call__(self, shard: Shard) -> ShardOutput:
        if not self._loaded:
            with self.log.open("a") as fh:
                fh.write(f"{os.getpid()} {os.environ.get('OMP_NUM_THREADS')}\n")
            self._loaded = True
        return self.job(shard)


@dataclass(frozen=True)
class Sleepy:
    """Write this worker's pid into ``folder`` (one empty file per pid), then sleep."""

    folder: Path
    seconds: float = 120.0

    def __call__(self, shard: Shard) -> ShardOutput:
        (self.folder / str(os.getpid())).touch()
        time.sleep(self.seconds)
        return ShardOutput({"shard": [shard.index]})
