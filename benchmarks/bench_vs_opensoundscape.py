"""Benchmark opso against OpenSoundscape itself, in one run, on the same files and CPU.

OpenSoundscape runs in an interpreter of its own (it pins its own lightning, wandb, ...):

    python -m venv /tmp/oss
    /tmp/oss/bin/pip install opensoundscape==0.13.2 torch==2.14.1 torchvision==0.29.1

then ``PYTHONPATH=src .venv/bin/python benchmarks/bench_vs_opensoundscape.py --opensoundscape
/tmp/oss/bin/python``. Both sides: resnet18 with random weights, 3 classes, 224x224 inputs (an
OpenSoundscape preprocessor keeps the 257x429 spectrogram unless told ``height=width=224``), 5 s
clips at 22050 Hz, batch 16, every CPU thread torch has. Each side runs in a fresh process per
round (rounds alternate which side goes first); imports, model building and one warm-up call
are not timed.

1. predict, clips/s, over ``--files`` one-minute WAV files (``bench_predict``'s corpus):
   OpenSoundscape ``CNN.predict`` (softmax, its default ``num_workers=0``) against opso's
   ``PredictScores`` (the fast backend) writing scores.csv. Target (issue 16): opso >= 2x.
2. train, samples/s, one pass over ``--clips`` labelled 5 s WAV clips, no validation:
   OpenSoundscape ``CNN.train`` (its bfloat16 autocast on CPU, AdamW, its default) against
   opso's ``train()`` (``precision="auto"``: bf16 where the CPU has it, Adam). Each call
   includes its own saving (OpenSoundscape: best and last model, each also pickled; opso: one
   checkpoint with the optimizer state). Target (issue 16): opso >= 1.2x.

Measured here (2 cores, AVX-512/AMX, 20 files, 160 clips, 4 rounds, medians): predict 42.6
vs 69.1 clips/s (1.63x; rounds 1.61-1.68x), train 17.8 vs 27.4 samples/s (1.49x; 1.43-1.74x).
The predict target is out of reach here in float32: ONNX Runtime's forward pass alone runs
87-96 clips/s (``bench_predict``), about 2x OpenSoundscape's whole pipeline.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SR, CLIP_S, BATCH, CLASSES = 22050, 5.0, 16, ["a", "b", "c"]


def make_clips(root: Path, n: int) -> list[tuple[Path, int]]:
    """Write ``n`` 5 s clips, a tone per class in noise; return (path, class index) pairs."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(int(CLIP_S * SR)) / SR
    clips = []
    for i in range(n):
        label = i % len(CLASSES)
        x = 0.02 * rng.standard_normal(t.size) + 0.05 * np.sin(
            2 * np.pi * (1000 + 1500 * label) * t
        )
        path = root / f"clip_{i:03d}.wav"
        sf.write(path, x.astype(np.float32), SR, subtype="PCM_16")
        clips.append((path, label))
    return clips


def _oss_model() -> object:
    import torch
    from opensoundscape import CNN
    from opensoundscape.ml.cnn_architectures import resnet18

    torch.manual_seed(0)
    arch = resnet18(num_classes=len(CLASSES), weights=None)
    return CNN(arch, CLASSES, sample_duration=CLIP_S, sample_rate=SR, height=224, width=224)


def oss_predict(files: list[Path]) -> dict[str, float]:
    model = _oss_model()
    kw = {"batch_size": BATCH, "activation_layer": "softmax", "progress_bar": False}
    model.predict([str(files[0])], **kw)  # type: ignore[attr-defined]  # warm-up
    t = time.perf_counter()
    scores = model.predict([str(f) for f in files], **kw)  # type: ignore[attr-defined]
    dt = time.perf_counter() - t
    return {"clips": float(len(scores)), "seconds": dt}


def opso_predict(files: list[Path], root: Path) -> dict[str, float]:
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_predict

    bench_predict.phase_opso(root, "cpu", files[:1])  # warm-up: model load and first batches
    r = bench_predict.phase_opso(root, "cpu", files)
    return {"clips": r["clips"], "seconds": r["seconds"]}


def oss_train(clips: list[tuple[Path, int]], save: Path) -> dict[str, float]:
    import pandas as pd

    model = _oss_model()
    table = pd.DataFrame(
        [[float(k == label) for k in range(len(CLASSES))] for _, label in clips],
        index=pd.Index([str(p) for p, _ in clips], name="file"),
        columns=CLASSES,
    )
    kw = {
        "batch_size": BATCH,
        "save_path": str(save),
        "log_interval": 10**6,
        "validation_interval": 10**6,
        "progress_bar": False,
        "reload_best_at_end": False,
        "invalid_samples_log": str(save / "invalid.log"),
    }
    model.train(table.iloc[: 2 * BATCH], steps=2, **kw)  # type: ignore[attr-defined]  # warm-up
    steps = len(clips) // BATCH
    t = time.perf_counter()
    model.train(table, steps=steps, **kw)  # type: ignore[attr-defined]
    dt = time.perf_counter() - t
    return {"samples": float(steps * BATCH), "seconds": dt}


def opso_train(clips: list[tuple[Path, int]], save: Path) -> dict[str, float]:
    import torch
    from torch import nn

    from opso.adapters.soundfile_io import SoundfileAudioIO
    from opso.adapters.torch_datasets import AudioClipDataset
    from opso.adapters.torch_models import build_architecture
    from opso.adapters.torch_training import train
    from opso.domain.classifier import LabelledClip, Preprocessing

    labelled = [
        LabelledClip(p, tuple(float(k == label) for k in range(len(CLASSES)))) for p, label in clips
    ]
    common = {
        "classes": CLASSES,
        "preprocessing": Preprocessing(sample_rate=SR, clip_duration=CLIP_S),
        "reader": SoundfileAudioIO(),
    }
    torch.manual_seed(0)
    model = build_architecture("resnet18", len(CLASSES))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch(items: list[LabelledClip], folder: str) -> float:
        data = AudioClipDataset(items, random_start=True, **common)  # type: ignore[arg-type]
        t = time.perf_counter()
        train(
            save / folder,
            model,
            data,
            None,
            optimizer,
            nn.CrossEntropyLoss(),
            epochs=1,
            batch_size=BATCH,
            print_logging=False,
        )
        return time.perf_counter() - t

    epoch(labelled[: 2 * BATCH], "warm-up")
    n = len(labelled) // BATCH * BATCH
    return {"samples": float(n), "seconds": epoch(labelled[:n], "timed")}


def run_phase(python: str, phase: str, root: Path) -> dict[str, float]:
    out = subprocess.run(
        [python, __file__, "--phase", phase, "--root", str(root)],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        sys.exit(f"{phase} failed:\n{out.stderr[-3000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--opensoundscape", help="python of an environment with opensoundscape")
    ap.add_argument("--files", type=int, default=30)
    ap.add_argument("--clips", type=int, default=160)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--phase", default=None)
    ap.add_argument("--root", default=None)
    args = ap.parse_args()
    if args.phase:
        root = Path(args.root)
        files = sorted((root / "audio").glob("*.wav"))
        labels = json.loads((root / "clips.json").read_text())
        clips = [(Path(p), int(k)) for p, k in labels]
        save = Path(tempfile.mkdtemp(dir=root))
        phases = {
            "oss-predict": lambda: oss_predict(files),
            "opso-predict": lambda: opso_predict(files, root),
            "oss-train": lambda: oss_train(clips, save),
            "opso-train": lambda: opso_train(clips, save),
        }
        print(json.dumps(phases[args.phase]()))
        return
    if not args.opensoundscape:
        ap.error("--opensoundscape PYTHON is required (see the module docstring)")
    version = subprocess.run(
        [args.opensoundscape, "-c", "import opensoundscape; print(opensoundscape.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_predict
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "audio").mkdir()
        (root / "clips").mkdir()
        bench_predict.make_corpus(root / "audio", args.files)
        bench_predict.model_file(root)
        clips = make_clips(root / "clips", args.clips)
        (root / "clips.json").write_text(json.dumps([[str(p), k] for p, k in clips]))
        rounds: dict[str, list[float]] = {}  # rate of each round, per side and work
        for r in range(args.rounds):
            for work in ("predict", "train"):
                sides = ("oss", "opso") if r % 2 == 0 else ("opso", "oss")
                for side in sides:
                    python = args.opensoundscape if side == "oss" else sys.executable
                    done, seconds = run_phase(python, f"{side}-{work}", root).values()
                    rounds.setdefault(f"{side}-{work}", []).append(done / seconds)
    print(
        f"OpenSoundscape {version} vs opso, {args.rounds} round(s), torch threads "
        f"{torch.get_num_threads()}: predict over {args.files} one-minute files, train one pass "
        f"over {args.clips // BATCH * BATCH} clips; median rate (each round's in brackets)"
    )
    for work, unit, target in (("predict", "clips/s", 2.0), ("train", "samples/s", 1.2)):
        oss, ours = rounds[f"oss-{work}"], rounds[f"opso-{work}"]
        ratio = [b / a for a, b in zip(oss, ours, strict=True)]
        print(
            f"{work:<8} {unit:<10} OpenSoundscape {np.median(oss):6.1f} {_each(oss)}  opso "
            f"{np.median(ours):6.1f} {_each(ours)}  opso/OSS {np.median(ratio):4.2f}x "
            f"{_each(ratio, 2)}  target {target:.1f}x"
        )


def _each(values: list[float], digits: int = 1) -> str:
    return "[" + " ".join(f"{v:.{digits}f}" for v in values) + "]"


if __name__ == "__main__":
    main()
