"""Benchmark BirdNET through opso against the LiteRT interpreter called directly.

N one-minute 48 kHz WAV files (default 60 = one hour = 1,200 windows of 3 s), each measured in
its own process so that peak memory is its own:

* opso: ``opso predict --model birdnet`` (decode ahead, 3 s windows, batches of 16) to a CSV;
* opso embed: ``opso embed --model birdnet`` to Parquet;
* bare: the LiteRT interpreter on the same windows in batches of 16, no file writing;

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
    else:
        result = run_bare(files)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--child", choices=["opso", "embed", "bare"])
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
        for kind in ["opso", "embed", "bare"]:
            cmd = [sys.executable, __file__, "--child", kind, "--folder", str(folder)]
            line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            result = json.loads(line.strip().splitlines()[-1])
            rate = windows / result["seconds"]
            print(
                f"{kind:6s} {result['seconds']:7.1f} s  {rate:6.1f} windows/s  "
                f"peak {result['peak_mb']:.0f} MB"
            )
        print(f"max |opso logits - LiteRT logits| = {max_difference(files[0]):.2e}")


if __name__ == "__main__":
    main()
