"""Benchmark: multi-hot clip labels for a season of annotated recordings.

100,000 annotations across 1,000 recordings of 500 s; 100,000 clips of 5 s. opso's vectorised
``AnnotationSet.clip_labels`` runs on everything; the reference is the per-clip pandas loop the
seed used (``split_starts_ends``: per recording, per clip, filter the table and ``isin`` the
classes), timed on a 1% sample of clips and scaled up. The sample's labels are compared with
opso's, so the figures are for the same answer.

Run: PYTHONPATH=src python benchmarks/bench_annotations.py [--files N] [--sample 0.01]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from opso.domain.annotations import AnnotationSet


def make_data(
    n_files: int, per_file: int, seconds: float, n_classes: int, seed: int
) -> tuple[pd.DataFrame, list[str]]:
    rng = np.random.default_rng(seed)
    n = n_files * per_file
    classes = [f"SP{i:02d}" for i in range(n_classes)]
    weights = 1.0 / np.arange(1, n_classes + 1)  # class imbalance, as in real data
    begin = rng.uniform(0, seconds - 1, n)
    length = rng.gamma(2.0, 0.8, n)
    long = rng.random(n) < 0.01  # a few long boxes (choruses) spanning several clips
    length[long] = rng.uniform(10, 60, long.sum())
    df = pd.DataFrame(
        {
            "source": np.repeat([f"rec_{i:04d}.wav" for i in range(n_files)], per_file),
            "begin": begin,
            "end": np.minimum(begin + length, seconds),
            "label": rng.choice(classes, n, p=weights / weights.sum()),
        }
    )
    return df, classes


def naive_labels(df: pd.DataFrame, clips: pd.DataFrame, classes: list[str]) -> np.ndarray:
    """The seed's way: per recording, per clip, filter the table and test each class."""
    by_file = {k: g for k, g in df.groupby("source")}
    species = pd.Series(classes)
    rows = []
    for source, b, e in clips.itertuples(index=False):
        table = by_file[source]
        hit = table[(table["end"] > b) & (table["begin"] < e)]
        rows.append(species.isin(hit["label"]).astype(int).to_numpy())
    return np.array(rows, dtype=np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--per-file", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=500.0)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--sample", type=float, default=0.01)
    args = ap.parse_args()

    df, classes = make_data(args.files, args.per_file, args.seconds, 25, seed=0)
    starts = np.arange(0, args.seconds, args.clip)
    clips = pd.DataFrame(
        {
            "source": np.repeat(df["source"].unique(), len(starts)),
            "begin": np.tile(starts, args.files),
            "end": np.tile(starts + args.clip, args.files),
        }
    )
    print(
        f"{len(df):,} annotations in {args.files:,} recordings; {len(clips):,} clips of "
        f"{args.clip:g} s; {len(classes)} classes"
    )

    t0 = time.perf_counter()
    boxes = AnnotationSet.from_columns(
        source=df["source"].tolist(),
        begin_time=df["begin"].to_numpy(),
        end_time=df["end"].to_numpy(),
        label=df["label"].tolist(),
    )
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    labels = boxes.clip_labels(
        sources=clips["source"].tolist(),
        begin_time=clips["begin"].to_numpy(),
        end_time=clips["end"].to_numpy(),
        classes=classes,
    )
    t_opso = time.perf_counter() - t0

    rng = np.random.default_rng(1)
    pick = np.sort(rng.choice(len(clips), max(1, int(len(clips) * args.sample)), replace=False))
    t0 = time.perf_counter()
    reference = naive_labels(df, clips.iloc[pick], classes)
    t_sample = time.perf_counter() - t0
    t_naive = t_sample * len(clips) / len(pick)
    same = np.array_equal(reference, labels.matrix[pick])

    print(f"opso AnnotationSet.from_columns : {t_build:8.3f} s")
    print(f"opso clip_labels (all clips)    : {t_opso:8.3f} s  (target < 2 s)")
    print(
        f"naive per-clip pandas loop      : {t_naive:8.1f} s  (scaled from {len(pick):,} clips "
        f"in {t_sample:.2f} s)"
    )
    print(f"speed-up                        : {t_naive / t_opso:8.0f}x")
    print(f"labels identical on the sample  : {same}")
    print(f"clips with >= 1 label           : {int(labels.matrix.any(axis=1).sum()):,}")


if __name__ == "__main__":
    main()
