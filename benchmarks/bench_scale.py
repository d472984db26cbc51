"""Benchmark resumable batch runs: throughput, flat memory, resume cost and Dask overhead.

Generates 10,000 one-second WAVs (8 kHz) and 6 ten-minute WAVs, then runs the clip-levels job
(per-clip RMS and peak: a tiny "model") through the local runner with 2 worker processes and
prints, each run in a fresh interpreter:

* files/s for 1,000 and 10,000 files, next to a plain sequential loop (``sf.read`` + RMS, no
  run directory) on the same files;
* peak resident memory of the main process and of the largest worker at 1,000 vs 10,000 files
  (target: flat);
* time to resume the 10,000-file run with 10% of its parts deleted (target: about 10% of the
  full run);
* the long files, as seconds of audio per second;
* dask-local (2 workers) vs local on the 10,000-file run: run time on a started cluster, and
  the cluster start-up on its own (target overhead: under 15%).

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_scale.py``
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

SR = 8000
N_SHORT = 10_000
WORKERS = 2
SHARD = {"shard_duration": 100.0, "max_files": 100}  # 100 shards of 100 short files


def make_corpus(root: Path) -> tuple[list[Path], list[Path]]:
    rng = np.random.default_rng(0)
    short_dir, long_dir = root / "short", root / "long"
    short_dir.mkdir()
    long_dir.mkdir()
    # one-second 16-bit WAVs: a header from soundfile once, then raw bytes (fast to write)
    template = io.BytesIO()
    sf.write(template, np.zeros(SR, np.float32), SR, format="WAV", subtype="PCM_16")
    header = template.getvalue()[: -2 * SR]
    pcm = (3000 * rng.standard_normal(SR * 2)).astype("<i2")
    short = []
    for i in range(N_SHORT):
        path = short_dir / f"rec_{i:05d}.wav"
        start = i % SR
        path.write_bytes(header + pcm[start : start + SR].tobytes())
        short.append(path)
    long = []
    minute = (0.1 * rng.standard_normal(SR * 60)).astype(np.float32)
    for i in range(6):
        path = long_dir / f"long_{i}.wav"
        sf.write(path, np.tile(minute, 10), SR, subtype="PCM_16")
        long.append(path)
    return short, long


class RssSampler:
    """Sample resident memory of this process and its descendants every 50 ms (psutil)."""

    def __init__(self) -> None:
        import psutil

        self._me = psutil.Process()
        self.main_mb = 0.0
        self.worker_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                self.main_mb = max(self.main_mb, self._me.memory_info().rss / 1e6)
                for child in self._me.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        self.worker_mb = max(self.worker_mb, child.memory_info().rss / 1e6)
            except psutil.Error:
                pass
            time.sleep(0.05)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(config: dict[str, Any]) -> dict[str, Any]:
    """Run one configuration in this (fresh) interpreter and return its figures."""
    from opso.adapters.dask_runner import DaskRunner
    from opso.adapters.multiprocessing_runner import LocalRunner
    from opso.adapters.parquet_runs import ParquetRunStore
    from opso.adapters.soundfile_io import SoundfileAudioIO
    from opso.app.levels import ClipLevels
    from opso.app.runs import RunBatch

    sources = [Path(p) for p in Path(config["list"]).read_text().split("\n") if p]
    reader, store = SoundfileAudioIO(), ParquetRunStore()
    job = ClipLevels(reader, clip_duration=0.5)
    cluster: Any = None
    if config["runner"] == "local":
        runner: Any = LocalRunner(WORKERS)
    else:
        import dask
        from distributed import LocalCluster

        t0 = time.perf_counter()
        with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
            cluster = LocalCluster(
                n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=None
            )
        config["cluster_start_s"] = time.perf_counter() - t0
        runner = DaskRunner(scheduler=cluster.scheduler_address)
    batch = RunBatch(reader, store, store, runner)

    def run(files: list[Path], run_dir: str) -> Any:
        return batch.run(
            sources=files,
            run_dir=Path(run_dir),
            job=job,
            settings=job.settings(),
            align=job.step,
            shard_duration=config.get("shard_duration", SHARD["shard_duration"]),
            max_files=config.get("max_files", SHARD["max_files"]),
        )

    if config.get("warm"):  # start the worker processes / fork server and import there first
        run(sources[:200], f"{config['run_dir']}-warm-{time.time_ns()}")
    with RssSampler() as rss:
        t0, epoch = time.perf_counter(), time.time()
        result = run(sources, config["run_dir"])
        seconds = time.perf_counter() - t0
    # CPU-side shard work of this run: the sum of its parts' compute times
    work = sum(
        r.finished - r.started for r in store.reports(Path(config["run_dir"])) if r.started >= epoch
    )
    if cluster is not None:
        cluster.close()
    return {
        **config,
        "seconds": seconds,
        "work_s": work,
        "ran": result.ran,
        "files": len(sources),
        "rows": result.progress.rows,
        "audio_s": result.progress.audio_seconds,
        "complete": result.progress.complete,
        "main_mb": rss.main_mb,
        "worker_mb": rss.worker_mb,
    }


def run_child(**config: Any) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", json.dumps(config)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def plain_loop(files: list[Path]) -> float:
    """Reference: decode each file and compute RMS per 0.5 s clip, one process, no run dir."""
    t0 = time.perf_counter()
    for f in files:
        x, sr = sf.read(f, dtype="float32")
        n = sr // 2
        for k in range(len(x) // n):
            c = x[k * n : (k + 1) * n].astype(np.float64)
            float(np.sqrt(np.mean(c * c)))
    return time.perf_counter() - t0


def write_list(path: Path, files: list[Path]) -> str:
    path.write_text("\n".join(str(f) for f in files))
    return str(path)


def main() -> None:
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        short, long = make_corpus(root)
        print(
            f"corpus: {len(short)} x 1 s + {len(long)} x 10 min WAVs, 8 kHz, made in "
            f"{time.perf_counter() - t0:.1f} s; job: RMS + peak per 0.5 s clip; "
            f"{WORKERS} workers; 100-file shards"
        )
        l1k = write_list(root / "1k.txt", short[:1000])
        l10k = write_list(root / "10k.txt", short)
        llong = write_list(root / "long.txt", long)

        # throughput and memory, each run in a fresh interpreter (worker start-up included)
        ref1k = plain_loop(short[:1000])
        a = run_child(runner="local", list=l1k, run_dir=str(root / "r1k"))
        b = run_child(runner="local", list=l10k, run_dir=str(root / "r10k"))
        ref10k = plain_loop(short)
        for r, ref in ((a, ref1k), (b, ref10k)):
            print(
                f"{r['files']:>6} files: {r['seconds']:.2f} s = {r['files'] / r['seconds']:.0f} "
                f"files/s, {r['rows']} rows (reference, a plain sequential loop without run "
                f"directory: {r['files'] / ref:.0f} files/s); peak RSS main "
                f"{r['main_mb']:.0f} MB, largest worker {r['worker_mb']:.0f} MB"
            )
        print(
            f"memory 1,000 -> 10,000 files: main x{b['main_mb'] / a['main_mb']:.2f}, "
            f"largest worker x{b['worker_mb'] / a['worker_mb']:.2f} (target: flat, ~1.0)"
        )

        # resume with 10% of the parts missing: as a user reruns it (cold), and warm
        parts = sorted((root / "r10k" / "parts").glob("part-*.parquet"))
        for p in parts[::10]:
            p.unlink()
        c = run_child(runner="local", list=l10k, run_dir=str(root / "r10k"))
        f = run_child(runner="local", list=l10k, run_dir=str(root / "rlw"), warm=True)
        for p in sorted((root / "rlw" / "parts").glob("part-*.parquet"))[::10]:
            p.unlink()
        h = run_child(runner="local", list=l10k, run_dir=str(root / "rlw"), warm=True)
        print(
            f"resume with {c['ran']}/{len(parts)} parts missing: shard work "
            f"{c['work_s']:.2f} s = {100 * c['work_s'] / b['work_s']:.0f}% of the full run's "
            f"{b['work_s']:.2f} s (target: about 10%); wall {c['seconds']:.2f} s = "
            f"{100 * c['seconds'] / b['seconds']:.0f}% of {b['seconds']:.2f} s, the rest being "
            f"the fixed start of the worker processes; with a started fork server "
            f"{h['seconds']:.2f} s = {100 * h['seconds'] / f['seconds']:.0f}% of "
            f"{f['seconds']:.2f} s"
        )

        d = run_child(runner="local", list=llong, run_dir=str(root / "rlong"), shard_duration=120.0)
        print(
            f"long files: {d['audio_s'] / 3600:.1f} h cut into {d['ran']} shards: "
            f"{d['seconds']:.2f} s = {d['audio_s'] / d['seconds']:.0f}x real time; peak RSS "
            f"main {d['main_mb']:.0f} MB, largest worker {d['worker_mb']:.0f} MB"
        )

        # dask-local vs local on the same run, both warmed up (workers started, modules
        # loaded), alternated and best of two, since this machine is shared
        g = run_child(runner="dask-local", list=l10k, run_dir=str(root / "rd1"), warm=True)
        f2 = run_child(runner="local", list=l10k, run_dir=str(root / "rlw2"), warm=True)
        g2 = run_child(runner="dask-local", list=l10k, run_dir=str(root / "rd2"), warm=True)
        t_local = min(f["seconds"], f2["seconds"])
        t_dask = min(g["seconds"], g2["seconds"])
        print(
            f"dask-local vs local, 10,000 files, warm, best of 2: {t_dask:.2f} s vs "
            f"{t_local:.2f} s = {100 * (t_dask / t_local - 1):+.0f}% (target < 15%); "
            f"LocalCluster start-up {g['cluster_start_s']:.1f} s on top"
        )
    print(f"benchmark wall time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        print(json.dumps(measure(json.loads(sys.argv[2]))))
    else:
        main()
