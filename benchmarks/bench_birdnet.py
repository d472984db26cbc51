"""Benchmark BirdNET through opso against the LiteRT interpreter called directly.

N one-minute 48 kHz WAV files (default 60 = one hour = 1,200 windows of 3 s), each measured in
its own process so that peak memory is its own:

* opso: ``opso predict --model birdnet`` (decode ahead, 3 s windows, batches of 16) to a CSV;
* opso embed: ``opso embed --model birdnet`` to Parquet;
* bare: the LiteRT interpreter on the same windows in batches of 16, no file writing;
* head: ``opso predict head.opso`` (embedding + a logistic head, one score per window) to a CSV,
  with the head trained by ``opso train --embeddings`` on opso embed's table (timed too, as
  is an MLP head).

Detection and head prediction run alternately, ``--rounds`` times each, best wall time kept,
with the CPU time of that run (the target: head prediction within 10% of detection alone);
plus the largest difference between opso's logits and the bare interpreter's. The comparison
with birdnetlib's own analyzer (it needs ``tflite-runtime`` with ``numpy<2`` in another venv)
is left to a later run.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_birdnet.py [--files N]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SR = 48000


def make_corpus(root: Path, n_files: int) -> list[Path]:
    """One-minute files of the bundled birdsong sample, resampled to 48 kHz and tiled."""
    import soundfile as sf

    import opso
    from opso.resources import sample_recording

    song = opso.Audio.from_file(sample_recording(), sample_rate=SR).samples
    minute = np.tile(song, 7)[: 60 * SR]
    files = []
    for i in range(n_files):
        path = root / f"rec{i:03d}.wav"
        sf.write(path, np.roll(minute, i * 4800), SR)
        files.append(path)
    return files


def run_opso(files: list[Path], out: Path, command: str) -> dict[str, Any]:
    from click.testing import CliRunner

    from opso.cli import main

    start = time.perf_counter()
    result = CliRunner().invoke(
        main, [command, "--model", "birdnet", *map(str, files), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    return {"seconds": time.perf_counter() - start}


def run_head(files: list[Path], head: Path, out: Path) -> dict[str, Any]:
    from click.testing import CliRunner

    from opso.cli import main

    start = time.perf_counter()
    result = CliRunner().invoke(main, ["predict", str(head), *map(str, files), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return {"seconds": time.perf_counter() - start}


def train_heads(folder: Path) -> dict[str, float]:
    """Train a logistic and an MLP head on the embeddings; return their training seconds."""
    import pandas as pd
    from click.testing import CliRunner

    from opso.cli import main

    embeddings = folder / "embeddings.parquet"
    labels = pd.read_parquet(embeddings, columns=["file", "begin_time", "end_time"])
    labels["early"] = (labels["begin_time"] < 30).astype(int)  # any two-sided labels do
    labels["even"] = labels["file"].str[-5].astype(int).mod(2)
    labels.to_csv(folder / "labels.csv", index=False)
    seconds = {}
    for kind in ["mlp", "logistic"]:  # logistic last: head.opso is the logistic head
        args = ["train", "--embeddings", str(embeddings), "--labels", str(folder / "labels.csv")]
        start = time.perf_counter()
        result = CliRunner().invoke(main, [*args, "--head", kind, "-o", str(folder / "head.opso")])
        assert result.exit_code == 0, result.output
        seconds[kind] = time.perf_counter() - start
    return seconds


def run_bare(files: list[Path]) -> dict[str, Any]:
    import soundfile as sf
    from ai_edge_litert.interpreter import Interpreter

    from opso.adapters.litert_birdnet import birdnet_files
    from opso.container import usable_cpus
    from opso.domain.pretrained import pad_windows

    start = time.perf_counter()
    model_file, _, _ = birdnet_files()
    it = Interpreter(model_path=str(model_file), num_threads=usable_cpus())
    index = it.get_input_details()[0]["index"]
    out = it.get_output_details()[0]["index"]
    batch = 0
    for path in files:
        samples, _ = sf.read(path, dtype="float32")
        _, clips = pad_windows(samples, SR, 3.0)
        for k in range(0, len(clips), 16):
            x = clips[k : k + 16]
            if len(x) != batch:
                it.resize_tensor_input(index, list(x.shape))
                it.allocate_tensors()
                batch = len(x)
            it.set_tensor(index, x)
            it.invoke()
            it.get_tensor(out)
    return {"seconds": time.perf_counter() - start}


def max_difference(path: Path) -> float:
    import soundfile as sf
    from ai_edge_litert.interpreter import Interpreter

    import opso
    from opso.adapters.litert_birdnet import birdnet_files
    from opso.domain.pretrained import pad_windows

    samples, _ = sf.read(path, dtype="float32")
    _, clips = pad_windows(samples, SR, 3.0)
    clips = clips[:16]
    model_file, _, _ = birdnet_files()
    it = Interpreter(model_path=str(model_file))
    index = it.get_input_details()[0]["index"]
    it.resize_tensor_input(index, list(clips.shape))
    it.allocate_tensors()
    it.set_tensor(index, clips)
    it.invoke()
    bare = it.get_tensor(it.get_output_details()[0]["index"])
    detector = opso.load_model("birdnet")
    assert isinstance(detector, opso.PretrainedDetector)
    return float(np.abs(detector.model.scores(clips) - bare).max())


def child(kind: str, folder: Path) -> None:
    files = sorted(folder.glob("rec*.wav"))
    if kind == "opso":
        result = run_opso(files, folder / "detections.csv", "predict")
    elif kind == "embed":
        result = run_opso(files, folder / "embeddings.parquet", "embed")
    elif kind == "head":
        result = run_head(files, folder / "head.opso", folder / "scores.csv")
    else:
        result = run_bare(files)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["peak_mb"] = usage.ru_maxrss / 1024
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", choices=["opso", "embed", "bare", "head"])
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.folder)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = make_corpus(folder, args.files)
        windows = 20 * len(files)
        decoded_mb = len(files) * 60 * SR * 4 / 2**20
        print(f"{len(files)} one-minute files, {windows} windows, {decoded_mb:.0f} MB decoded")

        def measure(kind: str) -> dict[str, Any]:
            cmd = [sys.executable, __file__, "--child", kind, "--folder", str(folder)]
            line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            return dict(json.loads(line.strip().splitlines()[-1]))

        def show(kind: str, result: dict[str, Any]) -> None:
            rate = windows / result["seconds"]
            print(
                f"{kind:6s} {result['seconds']:7.1f} s  {rate:6.1f} windows/s  "
                f"CPU {result['cpu_seconds']:7.1f} s  peak {result['peak_mb']:.0f} MB"
            )

        for kind in ["embed", "bare"]:
            show(kind, measure(kind))
        trained = train_heads(folder)
        print(
            f"train a head on {windows} embeddings: logistic {trained['logistic']:.1f} s, "
            f"mlp {trained['mlp']:.1f} s (CLI, including reading the table)"
        )
        best: dict[str, dict[str, Any]] = {}
        for _ in range(args.rounds):  # alternate, so both see the same machine load
            for kind in ["opso", "head"]:
                result = measure(kind)
                if kind not in best or result["seconds"] < best[kind]["seconds"]:
                    best[kind] = result
        show("opso", best["opso"])
        show("head", best["head"])
        ratio = best["head"]["seconds"] / best["opso"]["seconds"]
        cpu = best["head"]["cpu_seconds"] / best["opso"]["cpu_seconds"]
        print(
            f"embedding + head / detection alone: wall {ratio:.3f}, CPU {cpu:.3f} (target <= 1.10)"
        )
        print(f"max |opso logits - LiteRT logits| = {max_difference(files[0]):.2e}")


if __name__ == "__main__":
    main()
