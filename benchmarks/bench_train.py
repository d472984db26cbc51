"""Benchmark one training epoch of ``opso.torch.train.train`` against a bare training loop.

resnet18, 3 classes, 224x224 inputs, 5 s clips at 22050 Hz, batch 16, 200 labelled clips
(WAV files written to a temporary folder). Prints, measured in the same process, for float32
and for bfloat16 autocast (``precision="fp32"`` / ``"bf16"``; bf16 only where the CPU has
AVX512-BF16 or AMX):

* opso: ``train()`` over an ``AudioClipDataset`` (decode, random window, torch spectrogram,
  SpecAugment off), one epoch, samples/s of the training pass (until the validation pass
  fetches its first sample), and of the whole call (16-clip validation in float32 +
  checkpoint);
* bare: forward + backward + Adam step on random 16x3x224x224 tensors, same model size, in
  the same precision;

and the peak resident memory of the process after each (ru_maxrss; the bare loop runs
first in its own process for its own peak). OpenSoundscape 0.13.2 is not installed here: its
figures on this machine kind (2 cores, AVX-512 with bf16), measured in issue 16, are quoted.

Each opso epoch and its bare loop alternate batch by batch (a bare step runs each time opso has
fetched a batch), so that load from other processes on a shared machine hits both alike; the
"x bare" column is the load-robust figure. Rounds alternate which precision goes first.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_train.py [--clips 200] [--rounds 1]``
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

SR, CLIP_S, BATCH = 22050, 5.0, 16
#: OpenSoundscape 0.13.2, one resnet18 224x224 epoch on this machine kind (issue 16), samples/s
OSS_BF16, OSS_FP32 = 16.5, 10.3


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Interleaved:
    """Training set wrapper: after every ``BATCH`` items fetched, run one bare step."""

    def __init__(self, dataset: Any, bare: _BareLoop) -> None:
        self.dataset = dataset
        self.bare = bare
        self.classes = dataset.classes
        self.fetched = 0
        self.bare_seconds = 0.0
        self.skip_first = True  # train() reads item 0 once to inspect the targets

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Any:
        item = self.dataset[i]
        if self.skip_first:
            self.skip_first = False
            return item
        self.fetched += 1
        n = len(self.dataset)
        if self.fetched % BATCH == 0 or self.fetched == n:
            self.bare_seconds += self.bare.run(BATCH if self.fetched % BATCH == 0 else n % BATCH)
        return item


class _FirstAccess:
    """Dataset wrapper that records when its first item is fetched (validation starts)."""

    def __init__(self, dataset: Any, stamps: list[float]) -> None:
        self.dataset = dataset
        self.stamps = stamps
        self.classes = dataset.classes

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Any:
        if not self.stamps:
            self.stamps.append(time.perf_counter())
        return self.dataset[i]


class _BareLoop:
    """The bare training loop, built once, timed per call; ``bf16``: under bfloat16 autocast."""

    def __init__(self, bf16: bool = False) -> None:
        import torch
        from torch import nn

        from opso.adapters.torch_models import build_architecture

        torch.manual_seed(0)
        self.bf16 = bf16
        self.model = build_architecture("resnet18", 3).train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loss_fn = nn.CrossEntropyLoss()
        self.run(BATCH)  # warm-up

    def run(self, n_samples: int) -> float:
        """Train on ``n_samples`` fresh random samples; return the seconds taken.

        Fresh tensors every batch (made before the clock starts): one batch repeated is soon
        memorised, and the tiny gradients that follow (denormal floats) slow the CPU down.
        """
        import torch

        sizes = [min(BATCH, n_samples - i) for i in range(0, n_samples, BATCH)]
        data = [(torch.randn(n, 3, 224, 224), torch.randint(0, 3, (n,))) for n in sizes]
        t = time.perf_counter()
        for x, y in data:
            self.opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                out = self.model(x)
            self.loss_fn(out.float(), y).backward()
            self.opt.step()
        return time.perf_counter() - t


def bare(n_samples: int) -> float:
    """Run the bare loop in this process (for its peak memory); return samples/s."""
    loop = _BareLoop()
    return n_samples / loop.run(n_samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--bare-only", type=int, default=0)
    args = ap.parse_args()
    if args.bare_only:
        rate = bare(args.bare_only)
        print(json.dumps({"rate": rate, "peak_mb": peak_mb()}))
        return
    import soundfile as sf
    import torch
    from torch import nn

    from opso.adapters.soundfile_io import SoundfileAudioIO
    from opso.adapters.torch_datasets import AudioClipDataset
    from opso.adapters.torch_models import build_architecture
    from opso.adapters.torch_training import native_bf16, train
    from opso.domain.classifier import LabelledClip, Preprocessing

    bare_proc = subprocess.run(
        [sys.executable, __file__, "--bare-only", str(min(args.clips, 64))],
        check=True,
        capture_output=True,
        text=True,
    )
    bare_peak = json.loads(bare_proc.stdout.strip().splitlines()[-1])["peak_mb"]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clips = []
        t_axis = np.arange(int(6 * SR)) / SR
        for i in range(args.clips):
            label = i % 3
            x = 0.02 * rng.standard_normal(t_axis.size) + 0.05 * np.sin(
                2 * np.pi * (1000 + 1500 * label) * t_axis
            )
            path = root / f"clip_{i:03d}.wav"
            sf.write(path, x.astype(np.float32), SR, subtype="PCM_16")
            clips.append(LabelledClip(path, tuple(float(k == label) for k in range(3))))
        pre = Preprocessing(sample_rate=SR, clip_duration=CLIP_S)
        common = dict(classes=["a", "b", "c"], preprocessing=pre, reader=SoundfileAudioIO())
        train_set = AudioClipDataset(clips, random_start=True, **common)  # type: ignore[arg-type]
        valid_set = AudioClipDataset(clips[:BATCH], **common)  # type: ignore[arg-type]
        precisions = ["fp32", "bf16"] if native_bf16(torch.device("cpu")) else ["fp32"]
        models, bare_loops = {}, {}
        for p in precisions:
            torch.manual_seed(0)
            model = build_architecture("resnet18", 3)
            models[p] = (model, torch.optim.Adam(model.parameters(), lr=1e-3))
            bare_loops[p] = _BareLoop(bf16=p == "bf16")
        opso_s = dict.fromkeys(precisions, 0.0)
        opso_train_s = dict.fromkeys(precisions, 0.0)
        bare_s = dict.fromkeys(precisions, 0.0)
        for r in range(args.rounds):
            for p in precisions if r % 2 == 0 else precisions[::-1]:
                # one bare training step runs after each opso batch is fetched, so both loops
                # meet the same load; its time is subtracted from the opso call
                mixed = _Interleaved(train_set, bare_loops[p])
                valid_started: list[float] = []
                timed_valid = _FirstAccess(valid_set, valid_started)
                model, opt = models[p]
                t0 = time.perf_counter()
                train(
                    root / f"run{r}-{p}",
                    model,
                    mixed,
                    timed_valid,
                    opt,
                    nn.CrossEntropyLoss(),
                    epochs=1,
                    batch_size=BATCH,
                    print_logging=False,
                    precision=p,
                )
                opso_s[p] += time.perf_counter() - t0 - mixed.bare_seconds
                opso_train_s[p] += valid_started[0] - t0 - mixed.bare_seconds
                bare_s[p] += mixed.bare_seconds
        opso_peak = peak_mb()
    n = args.clips * args.rounds
    print(
        f"corpus: {args.clips} labelled 6 s WAV clips, 5 s windows at {SR} Hz; resnet18, "
        f"3 classes, 224x224, batch {BATCH}, Adam, torch threads {torch.get_num_threads()}, "
        f"{args.rounds} round(s)"
    )
    if "bf16" not in precisions:
        print("bf16 rows left out: this CPU has neither AVX512-BF16 nor AMX")
    print(f"{'loop':<52}{'samples':>8}{'s':>8}{'samples/s':>10}{'x bare':>8}{'peak MB':>9}")
    for p in precisions:
        name = "bf16 autocast" if p == "bf16" else "fp32"
        peak = f"{bare_peak:>9.0f}" if p == "fp32" else ""
        print(
            f"{'bare fwd+bwd+step, random tensors, ' + name:<52}{n:>8}{bare_s[p]:>8.1f}"
            f"{n / bare_s[p]:>10.2f}{1.0:>8.2f}{peak}"
        )
        print(
            f"{'opso train() epoch (training pass), ' + name:<52}{n:>8}{opso_train_s[p]:>8.1f}"
            f"{n / opso_train_s[p]:>10.2f}{bare_s[p] / opso_train_s[p]:>8.2f}{opso_peak:>9.0f}"
        )
        print(
            f"{'opso train() call incl. validation+ckpt, ' + name:<52}{n:>8}{opso_s[p]:>8.1f}"
            f"{n / opso_s[p]:>10.2f}{bare_s[p] / opso_s[p]:>8.2f}"
        )
    print(
        f"{'OpenSoundscape 0.13.2 (issue 16), bf16 autocast':<52}{'':>16}{OSS_BF16:>10.2f}\n"
        f"{'OpenSoundscape 0.13.2 (issue 16), fp32':<52}{'':>16}{OSS_FP32:>10.2f}"
    )
    auto = precisions[-1]  # what precision="auto" picks on this CPU
    print(
        f"opso's default here ({auto}) trains {n / opso_train_s[auto]:.1f} samples/s = "
        f"{n / opso_train_s[auto] / OSS_BF16:.2f}x OpenSoundscape's default (bf16 autocast, "
        f"{OSS_BF16}); target >= 1.2x = {1.2 * OSS_BF16:.1f} samples/s, and the training pass "
        ">= 0.9x bare"
    )


if __name__ == "__main__":
    main()
