"""Spectrogram speed: domain ``from_audio`` vs scipy, and the batched torch paths vs the domain.

1. One hour of 22050 Hz audio (a real 20 s field recording, resampled and looped) through
   ``Spectrogram.from_audio`` (dB) next to ``scipy.signal.spectrogram`` power on the same
   samples, both as one call and in blocks of 4096 frames (target: dB within 1.5x of scipy's
   power).
2. The same hour through ``TorchSpectrogrammer.long_recording`` (blocks of frames over
   ``torch.get_num_threads()`` threads) against ``Spectrogram.from_audio`` (target: at least 2x
   the domain path; the values are the same), next to the machine's own ceiling: the FFT
   kernel alone (pocketfft on cache-sized blocks, no Python between calls) on the same threads
   against one thread. No threaded spectrogram can scale further than its FFT does.
3. The same hour as 720 five-second clips: ``TorchSpectrogrammer`` (batches of 64) against
   ``Spectrogram.from_audio`` per clip, in clips/s (target: at least 2x the domain path).

Every row is best of ``--repeats`` rounds that run the candidates in turn, so other processes'
load falls on all of them; the load average is printed before and after.

Run: ``PYTHONPATH=src python benchmarks/bench_spectrogram.py [--device cuda] [--minutes 60]``
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import scipy.fft
import scipy.signal
import torch

from opso.adapters.torch_spectrogram import TorchSpectrogrammer
from opso.api import Audio
from opso.domain.spectrogram import Spectrogram

SR = 22050
CLIP_S = 5
RECORDING = (
    Path(__file__).resolve().parents[1] / "tests/data/opensoundscape/audio/1min_first20s.wav"
)


def best_of(n: int, *fns: Callable[[], object]) -> list[float]:
    """Return each function's best time over ``n`` rounds, running them in turn each round.

    Interleaving spreads other processes' load on a shared machine over all candidates.
    """
    best = [float("inf")] * len(fns)
    for _ in range(n):
        for i, fn in enumerate(fns):
            gc.collect()
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def fft_scaling(threads: int, calls: int = 4000) -> float:
    """Return how many times faster ``calls`` rffts of a cache-sized block run on ``threads``.

    Each call transforms 256 frames of 512 float32 samples (512 KiB, in cache), so the figure is
    the cores' compute scaling for this kernel, free of memory traffic and of the GIL.
    """
    block = np.random.default_rng(0).standard_normal((256, 512)).astype(np.float32)

    def work(n: int) -> None:
        for _ in range(n):
            scipy.fft.rfft(block, axis=-1)

    def on(k: int) -> Callable[[], object]:
        def run() -> object:
            with ThreadPoolExecutor(max_workers=k) as pool:
                return list(pool.map(work, [calls // k] * k))

        return run

    one, many = best_of(3, on(1), on(threads))
    return one / many


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    field = Audio.from_file(RECORDING, sample_rate=SR).samples
    n = round(args.minutes * 60 * SR)
    samples = np.resize(field, n).astype(np.float32)
    audio = Audio(samples, SR)
    threads = torch.get_num_threads()
    print(f"load average before: {os.getloadavg()[0]:.2f} (other processes on this machine)")
    print(
        f"audio: {args.minutes:g} min at {SR} Hz ({n:,} samples); torch threads: "
        f"{torch.get_num_threads()}; device: {args.device}"
    )

    def scipy_power() -> object:
        return scipy.signal.spectrogram(
            samples, SR, window="hann", nperseg=512, noverlap=256, scaling="spectrum"
        )

    def scipy_power_blocks() -> object:
        frames, step = (n - 512) // 256 + 1, 4096
        return [
            scipy.signal.spectrogram(
                samples[a * 256 : (min(a + step, frames) - 1) * 256 + 512],
                SR,
                window="hann",
                nperseg=512,
                noverlap=256,
                scaling="spectrum",
            )
            for a in range(0, frames, step)
        ]

    t_scipy, t_blocks, t_domain = best_of(
        args.repeats, scipy_power, scipy_power_blocks, lambda: Spectrogram.from_audio(audio)
    )
    shape = Spectrogram.from_audio(audio).shape
    hours = args.minutes / 60
    print(f"\n1. one recording -> spectrogram {shape} (512-sample Hann, 256 overlap), s per hour")
    print(f"   scipy.signal.spectrogram power, one call {t_scipy / hours:7.2f}   (reference)")
    print(f"   scipy power in blocks of 4096 frames      {t_blocks / hours:7.2f}")
    print(
        f"   opso Spectrogram.from_audio (dB)          {t_domain / hours:7.2f}   "
        f"{t_domain / t_scipy:4.2f}x scipy (target <= 1.5x), {t_domain / t_blocks:4.2f}x blocks"
    )

    long_spec = TorchSpectrogrammer(sample_rate=SR, device=args.device)
    long_spec.long_recording(samples[: 60 * SR])  # warm up (thread pool, CUDA context)

    def long_recording() -> object:
        out = long_spec.long_recording(samples)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return out

    t_exact, t_long = best_of(args.repeats, lambda: Spectrogram.from_audio(audio), long_recording)
    same = np.abs(
        long_spec.long_recording(samples).cpu().numpy() - Spectrogram.from_audio(audio).spectrogram
    ).max()
    ceiling = fft_scaling(threads)
    print(f"\n2. the same recording through the batched path, s per hour ({threads} threads)")
    print(f"   domain Spectrogram.from_audio (exact)     {t_exact / hours:7.2f}   (reference)")
    print(
        f"   TorchSpectrogrammer.long_recording        {t_long / hours:7.2f}   "
        f"{t_exact / t_long:4.2f}x the exact path (target >= 2x)"
    )
    print(
        f"   machine ceiling: FFT kernel alone on {threads} threads {ceiling:4.2f}x one thread; "
        f"long_recording reaches {t_exact / t_long / ceiling:4.0%} of it"
    )
    print(f"   largest difference from the exact path: {same:.2e} dB")

    n_clips = n // (CLIP_S * SR)
    clips = samples[: n_clips * CLIP_S * SR].reshape(n_clips, CLIP_S * SR)
    spec = TorchSpectrogrammer(sample_rate=SR, device=args.device)
    resize = TorchSpectrogrammer(sample_rate=SR, image_shape=(224, 224), device=args.device)
    tensor = torch.from_numpy(clips)

    def domain_clips() -> object:
        return [Spectrogram.from_audio(Audio(c, SR)) for c in clips]

    def batched(s: TorchSpectrogrammer) -> Callable[[], object]:
        def run() -> object:
            out = [s(tensor[i : i + args.batch]) for i in range(0, n_clips, args.batch)]
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            return out

        return run

    batched(spec)()  # warm up (CUDA context, FFT plans)

    def one_thread() -> object:
        torch.set_num_threads(1)
        try:
            return batched(spec)()
        finally:
            torch.set_num_threads(threads)

    t_dom_clips, t_torch, t_torch1, t_resize = best_of(
        args.repeats, domain_clips, batched(spec), one_thread, batched(resize)
    )
    worst = max(
        float(
            np.abs(
                spec(tensor[i : i + 1]).cpu().numpy()[0]
                - Spectrogram.from_audio(Audio(clips[i], SR)).spectrogram
            ).max()
        )
        for i in range(0, n_clips, max(1, n_clips // 16))
    )
    print(f"\n3. {n_clips} clips of {CLIP_S} s (batches of {args.batch})")
    rate = n_clips / t_dom_clips
    print(f"   domain Spectrogram.from_audio per clip {rate:8.0f} clips/s   (reference)")
    print(
        f"   TorchSpectrogrammer                    {n_clips / t_torch:8.0f} clips/s   "
        f"{t_dom_clips / t_torch:5.2f}x domain   (target >= 2x)"
    )
    print(
        f"   TorchSpectrogrammer, 1 thread          {n_clips / t_torch1:8.0f} clips/s   "
        f"{t_dom_clips / t_torch1:5.2f}x domain"
    )
    print(
        f"   TorchSpectrogrammer + resize 224x224   {n_clips / t_resize:8.0f} clips/s   "
        f"{t_dom_clips / t_resize:5.2f}x domain"
    )
    print(f"   largest difference from the domain path on 16 clips: {worst:.2e} dB")
    print("   (OpenSoundscape 0.13.2, torch STFT per sample, measured at 1.08x scipy)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
