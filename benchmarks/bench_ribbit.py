"""Benchmark RIBBIT over one hour of audio against the spectrogram it runs on.

Builds one hour of 22.05 kHz audio by tiling the real Great Plains toad chorus
(``tests/data/opensoundscape/audio/great_plains_toad.wav``), then measures in the same run,
best of ``--repeats``:

* the spectrogram alone (``Spectrogram.from_audio``, 512/256 samples: the reference);
* RIBBIT on that spectrogram: one preset (1-2 kHz, 5-10 pulses/s, 0-200 Hz noise band, 5 s
  windows) and a five-species set (each with its own window).

Target: RIBBIT's own share of (spectrogram + RIBBIT) time under 20 %.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_ribbit.py [--minutes 60]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from timing import best_of

from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.domain.audio import Audio
from opso.domain.ribbit import PulsePreset, ribbit, ribbit_presets
from opso.domain.spectrogram import Spectrogram

SR = 22050
TOAD = Path(__file__).resolve().parents[1] / "tests/data/opensoundscape/audio/great_plains_toad.wav"
PRESETS = [
    PulsePreset("chorus frog", (2500, 4000), (16, 40), 2.0, ((0, 2000),)),
    PulsePreset("great plains toad", (2000, 3000), (7, 18), 15.0, ((0, 1000),)),
    PulsePreset("northern leopard frog", (1000, 1500), (15, 30), 2.0, ((0, 500),)),
    PulsePreset("spadefoot toad", (1000, 2000), (1, 2), 5.0, ((0, 500),)),
    PulsePreset("spadefoot toad (81Hz)", (1000, 2000), (70, 90), 0.5, ((0, 500),)),
]


def hour_of_audio(minutes: float) -> tuple[Audio, str]:
    n = round(minutes * 60 * SR)
    toad = SoundfileAudioIO().read(TOAD, sample_rate=SR).samples
    return Audio(np.resize(toad, n), SR), f"tiled {TOAD.name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    audio, what = hour_of_audio(args.minutes)
    print(f"audio: {audio.duration() / 60:.1f} min at {SR} Hz ({what})")
    spec = Spectrogram.from_audio(audio)
    t_spec = best_of(lambda: Spectrogram.from_audio(audio), args.repeats)
    one = PRESETS[1]

    def single() -> object:
        return ribbit(spec, [1000, 2000], [5, 10], 5.0, [[0, 200]])

    t_one = best_of(single, args.repeats)
    t_set = best_of(lambda: ribbit_presets(spec, PRESETS), args.repeats)
    n_windows = len(single()[0])  # type: ignore[index]
    print(f"spectrogram {spec.shape[0]} x {spec.shape[1]} (reference)  {t_spec:8.3f} s")
    for label, t in [("RIBBIT, one preset", t_one), (f"RIBBIT, {len(PRESETS)} presets", t_set)]:
        share = t / (t + t_spec)
        verdict = "OK" if share < 0.20 else "OVER"
        print(
            f"{label:<33} {t:8.3f} s   share of total {100 * share:5.1f} %  "
            f"(target < 20 %: {verdict})"
        )
    print(f"windows scored (one preset): {n_windows}; great plains toad window {one.window_len} s")


if __name__ == "__main__":
    main()
