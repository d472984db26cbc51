"""Benchmark localization accuracy and speed: vectorised ReceiverArray against a per-event loop.

A synthetic 3-D array of 6 receivers over a 50 m x 50 m plot (heights 1-15 m) hears 10,000 random
sources (x, y in the plot, z 0-20 m, random emission times) with 0.1 ms Gaussian arrival-time
jitter. For each algorithm it prints, side by side with the reference measured in the same run
(the spec's one-event ``opso.localize`` called in a Python loop over the same events):

* median and 90th-percentile position error (m);
* events per second (target: >= 10,000 vectorised);
* how often the true source falls inside the reported 95 % horizontal error ellipse.

It also times GCC-PHAT delay estimation on 0.3 s windows at 22,050 Hz.

Run: ``.venv/bin/python benchmarks/bench_localization.py [--events N] [--loop-events N]``
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np

import opso
from opso.domain.receivers import Localization, ReceiverArray
from opso.domain.tdoa import estimate_delay

JITTER = 1e-4


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def scene(n: int, seed: int = 0) -> tuple[ReceiverArray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rx = np.column_stack([rng.uniform(0, 50, (6, 2)), rng.uniform(1, 15, 6)])
    array = ReceiverArray(rx)
    src = np.column_stack([rng.uniform(0, 50, (n, 2)), rng.uniform(0, 20, n)])
    times = array.arrival_times(src, emission_times=rng.uniform(0, 60, n))
    return array, src, times + rng.normal(0, JITTER, times.shape)


def errors(positions: np.ndarray, src: np.ndarray) -> np.ndarray:
    return np.asarray(np.linalg.norm(positions - src, axis=1))


def coverage(loc: Localization, src: np.ndarray) -> float:
    ok = loc.localized
    d = loc.positions[ok, :2] - src[ok, :2]
    m2 = np.einsum("ei,eij,ej->e", d, np.linalg.inv(loc.covariances[ok, :2, :2]), d)
    return float(np.mean(m2 <= -2 * math.log(0.05)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--loop-events", type=int, default=2_000, help="events in the loops")
    args = parser.parse_args()
    array, src, times = scene(args.events)
    k = min(args.loop_events, args.events)
    print(
        f"{args.events} sources, 6 receivers (3-D, 50 m plot), jitter {JITTER * 1e3:.1f} ms; "
        f"per-event loops over the first {k}"
    )
    header = (
        f"{'algorithm':<9} {'path':<24} {'median m':>9} {'p90 m':>8} {'events/s':>10} "
        f"{'flagged':>8} {'95% ell.':>9}"
    )
    print(header)
    print("-" * len(header))
    for alg in ("gps", "lstsq"):
        loc = array.localize(times, algorithm=alg)
        vec_s = best_of(lambda alg=alg: array.localize(times, algorithm=alg))
        err = errors(loc.positions, src)
        ok = loc.localized
        t0 = time.perf_counter()
        loop = np.array([opso.localize(array.positions, t, invert_alg=alg)[:3] for t in times[:k]])
        loop_s = time.perf_counter() - t0
        loop_err = errors(loop, src[:k])
        sub = err[:k][ok[:k]]
        print(
            f"{alg:<9} {'vectorised (all)':<24} {np.median(err[ok]):>9.3f} "
            f"{np.percentile(err[ok], 90):>8.3f} {args.events / vec_s:>10,.0f} "
            f"{int((~ok).sum()):>8} {coverage(loc, src):>9.1%}"
        )
        print(
            f"{'':<9} {f'vectorised (first {k})':<24} {np.median(sub):>9.3f} "
            f"{np.percentile(sub, 90):>8.3f} {'':>10} {int((~ok[:k]).sum()):>8}"
        )
        print(
            f"{'':<9} {'per-event loop (ref)':<24} {np.median(loop_err):>9.3f} "
            f"{np.percentile(loop_err, 90):>8.3f} {k / loop_s:>10,.0f}"
        )
        print(f"{'':<9} speed-up x{(args.events / vec_s) / (k / loop_s):,.0f}")

    sr, n = 22050, round(0.3 * 22050)
    rng = np.random.default_rng(1)
    ref = rng.normal(size=n)
    sig = np.concatenate([rng.normal(size=800), ref, rng.normal(size=800)])
    pairs = 200
    secs = best_of(
        lambda: [
            estimate_delay(ref, sig, sample_rate=sr, band=(7000, 10000), max_delay=0.07)
            for _ in range(pairs)
        ]
    )
    print(f"\nGCC-PHAT, 0.3 s window vs 0.37 s at 22,050 Hz: {pairs / secs:,.0f} delays/s")


if __name__ == "__main__":
    main()
