"""Benchmark ``opso predict`` end to end against a plain eager pipeline and a bare forward.

resnet18, 3 classes, 224x224 inputs, 5 s clips at 22050 Hz, batch 16, over N one-minute WAV
files (default 60 = one hour = 720 clips). Prints, measured in the same run, each in its own
process so that peak memory is its own:

* opso: ``PredictScores`` (decode each file once, slice clips in memory, batched torch
  spectrograms, the "fast" backend) writing scores.csv;
* plain: per clip decode (soundfile), scipy spectrogram, PIL resize, then eager ``model(x)``
  in batches of 16;
* bare: eager ``model(x)`` on random 16x3x224x224 tensors (the model's own speed);

plus the largest difference between opso's fast scores and eager PyTorch on the same inputs.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_predict.py [--files N] [--device cuda]``
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

SR, CLIP_S, BATCH, N_CLASSES = 22050, 5.0, 16, 3


def make_corpus(root: Path, n_files: int) -> list[Path]:
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(60 * SR) / SR
    files = []
    for i in range(n_files):
        tone = 0.05 * np.sin(2 * np.pi * (1000 + 50 * i) * t) * (np.sin(2 * np.pi * 0.2 * t) > 0)
        x = (0.02 * rng.standard_normal(t.size) + tone).astype(np.float32)
        path = root / f"rec_{i:02d}.wav"
        sf.write(path, x, SR, subtype="PCM_16")
        files.append(path)
    return files


def model_file(root: Path) -> Path:
    import torch

    from opso.adapters.torch_models import build_architecture, save_model
    from opso.domain.classifier import ModelConfig, Preprocessing

    torch.manual_seed(0)
    model = build_architecture("resnet18", N_CLASSES)
    cfg = ModelConfig(
        architecture="resnet18",
        classes=("a", "b", "c"),
        preprocessing=Preprocessing(sample_rate=SR, clip_duration=CLIP_S),
    )
    return save_model(model, cfg, root / "model.opso")


_CACHE: dict[tuple[str, str], Any] = {}


def _cached(key: tuple[str, str], make: Any) -> Any:
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_opso(root: Path, device: str, files: list[Path] | None = None) -> dict[str, float]:
    from opso.adapters.csv_stream import CsvRowSink
    from opso.adapters.memory import InMemoryClassifierStore
    from opso.adapters.soundfile_io import SoundfileAudioIO
    from opso.adapters.torch_classifier import TorchClassifierStore
    from opso.app.files import find_audio_files
    from opso.app.predict import PredictScores

    store = TorchClassifierStore(device=device, backend="fast")
    path = root / "model.opso"
    classifier = _cached(("fast", device), lambda: store.load(path))
    loaded = InMemoryClassifierStore({path: classifier})  # timed without loading the model
    uc = PredictScores(reader=SoundfileAudioIO(), store=loaded, sink=CsvRowSink())
    jobs = find_audio_files(files if files is not None else [root / "audio"])
    t = time.perf_counter()
    report = uc.run(model=path, jobs=jobs, output=root / "scores.csv", batch_size=BATCH)
    dt = time.perf_counter() - t
    return {
        "clips": report.clips,
        "seconds": dt,
        "clips_per_s": report.clips / dt,
        "peak_mb": peak_mb(),
    }


def phase_plain(root: Path, device: str, files: list[Path] | None = None) -> dict[str, float]:
    import soundfile as sf
    import torch
    from PIL import Image
    from scipy import signal

    from opso.adapters.torch_models import load_model

    model = _cached(("eager", device), lambda: load_model(root / "model.opso")[0].to(device).eval())
    files = files if files is not None else sorted((root / "audio").glob("*.wav"))
    n = int(CLIP_S * SR)
    t = time.perf_counter()
    xs, clips = [], 0
    with torch.inference_mode():
        for f in files:
            frames = sf.info(f).frames
            for start in range(0, frames - n + 1, n):
                x, _ = sf.read(f, start=start, stop=start + n, dtype="float32")
                _, _, s = signal.spectrogram(
                    x, SR, window="hann", nperseg=512, noverlap=256, scaling="spectrum"
                )
                db = np.clip(10 * np.log10(np.maximum(s, 1e-10)), -100, -20)
                img = Image.fromarray(np.uint8(255 * (-20 - db) / 80)[::-1]).resize(
                    (224, 224), Image.Resampling.BILINEAR
                )
                arr = (np.asarray(img, dtype=np.float32) / 255 - 0.5) / 0.5
                xs.append(np.repeat(arr[None], 3, axis=0))
                if len(xs) == BATCH:
                    model(torch.from_numpy(np.stack(xs)).to(device)).softmax(1).cpu()
                    clips += len(xs)
                    xs = []
        if xs:
            model(torch.from_numpy(np.stack(xs)).to(device)).softmax(1).cpu()
            clips += len(xs)
    dt = time.perf_counter() - t
    return {"clips": clips, "seconds": dt, "clips_per_s": clips / dt, "peak_mb": peak_mb()}


def phase_bare(root: Path, device: str, n_clips: int) -> dict[str, float]:
    import torch

    from opso.adapters.torch_models import load_model

    model = _cached(("eager", device), lambda: load_model(root / "model.opso")[0].to(device).eval())
    x = torch.randn(BATCH, 3, 224, 224, device=device)
    with torch.inference_mode():
        model(x)
        t = time.perf_counter()
        done = 0
        while done < n_clips:
            model(x).cpu()
            done += BATCH
    dt = time.perf_counter() - t
    return {"clips": done, "seconds": dt, "clips_per_s": done / dt, "peak_mb": peak_mb()}


def phase_check(root: Path, device: str) -> dict[str, float]:
    """Largest |fast - eager| score over the clips of the last round."""
    import pandas as pd

    from opso.adapters.soundfile_io import SoundfileAudioIO
    from opso.adapters.torch_classifier import TorchClassifierStore
    from opso.domain.audio import clip_windows

    scores = pd.read_csv(root / "scores.csv")  # the last round's recordings
    eager = TorchClassifierStore(device=device, backend="eager").load(root / "model.opso")
    reader = SoundfileAudioIO()
    worst = 0.0
    for f, rows in scores.groupby("file", sort=False):
        audio = reader.read(Path(str(f)), sample_rate=SR)
        times = list(zip(rows["start_time"], rows["end_time"], strict=True))
        ref = eager.predict(clip_windows(audio.samples, SR, times, int(CLIP_S * SR)))
        worst = max(worst, float(np.abs(ref - rows[["a", "b", "c"]].to_numpy()).max()))
    return {"max_abs_diff": worst, "clips": float(len(scores))}


def run_phase(name: str, root: Path, device: str, extra: list[str]) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--phase",
            name,
            "--root",
            str(root),
            "--device",
            device,
            *extra,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=60)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--phase", default=None)
    ap.add_argument("--root", default=None)
    ap.add_argument("--subset", nargs="*", default=None)
    args = ap.parse_args()
    if args.phase:
        root = Path(args.root)
        subset = [Path(f) for f in args.subset] if args.subset else None
        if args.phase == "opso":
            res = phase_opso(root, args.device, subset)
        elif args.phase == "plain":
            res = phase_plain(root, args.device, subset)
        else:
            res = phase_bare(root, args.device, 12 * len(subset or []))
        print(json.dumps(res))
        return
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "audio").mkdir()
        t = time.perf_counter()
        files = make_corpus(root / "audio", args.files)
        model_file(root)
        print(
            f"corpus: {args.files} x 60 s WAV at {SR} Hz ({time.perf_counter() - t:.1f} s to "
            f"make); resnet18, {N_CLASSES} classes, 224x224, batch {BATCH}, "
            f"device {args.device}, torch threads {torch.get_num_threads()}"
        )
        # peak memory: each pipeline alone in a fresh process, over the first 6 files
        mem_files = [str(f) for f in files[:6]]
        memory = {
            name: run_phase(name, root, args.device, ["--subset", *mem_files])["peak_mb"]
            for name in ("bare", "plain", "opso")
        }
        # speed: interleaved rounds of 4 files each, so that load from other processes on a
        # shared machine hits every pipeline alike
        phase_opso(root, args.device, files[:1])  # warm-up: model load and first batches
        phase_plain(root, args.device, files[:1])
        phase_bare(root, args.device, BATCH)
        total = {k: {"clips": 0.0, "seconds": 0.0} for k in ("bare", "plain", "opso")}
        for i in range(0, len(files), 4):
            chunk = files[i : i + 4]
            for name, r in (
                ("opso", phase_opso(root, args.device, chunk)),
                ("plain", phase_plain(root, args.device, chunk)),
                ("bare", phase_bare(root, args.device, 12 * len(chunk))),
            ):
                total[name]["clips"] += r["clips"]
                total[name]["seconds"] += r["seconds"]
        check = phase_check(root, args.device)
        engine = _CACHE[("fast", args.device)].engine
    rate = {k: v["clips"] / v["seconds"] for k, v in total.items()}
    print(
        f"{'pipeline':<34}{'clips':>7}{'s':>8}{'clips/s':>9}{'x plain':>9}{'x bare':>8}"
        f"{'peak MB':>9}"
    )
    for key, name in (
        ("bare", "bare model(x), random tensors"),
        ("plain", "plain eager per-clip pipeline"),
        ("opso", "opso predict (fast backend)"),
    ):
        print(
            f"{name:<34}{int(total[key]['clips']):>7}{total[key]['seconds']:>8.1f}"
            f"{rate[key]:>9.1f}{rate[key] / rate['plain']:>9.2f}"
            f"{rate[key] / rate['bare']:>8.2f}{memory[key]:>9.0f}"
        )
    print(f"opso inference engine: {engine}")
    print(
        f"target: opso >= 1.5x plain; max |opso - eager| over {int(check['clips'])} clips = "
        f"{check['max_abs_diff']:.2e} (target <= 1e-4)"
    )


if __name__ == "__main__":
    main()
