"""Benchmark audio loading (+ resampling) and splitting against plain soundfile/soxr references.

Generates one hour of 48 kHz mono audio as sixty 1-minute WAV files plus one 10-minute file, then
prints, side by side with a reference measured in the same run:

* load + resample to 22050 Hz, s per audio hour (reference: ``sf.read`` + ``soxr.resample``);
* peak resident memory added by loading the 10-minute file, as a multiple of its decoded size;
* splitting the hour into 5 s clips on disk, s per audio hour (reference: the plain job, each
  file read as int16 and each 5 s slice written by ``soundfile.write`` as 16-bit PCM; a second,
  stricter reference encodes each slice in memory and writes it at once, without opso's
  temporary file and rename).

Run: ``.venv/bin/python benchmarks/bench_audio.py``
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from opso.adapters.csv_tables import CsvTableWriter
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.app.files import find_audio_files
from opso.app.split import SplitRecordings

SR_IN, SR_OUT = 48000, 22050


def make_corpus(root: Path) -> tuple[list[Path], Path]:
    rng = np.random.default_rng(0)
    minute = 60 * SR_IN
    files = []
    hour = root / "hour"
    hour.mkdir()
    for i in range(60):
        path = hour / f"rec_{i:02d}.wav"
        sf.write(
            path, (0.1 * rng.standard_normal(minute)).astype(np.float32), SR_IN, subtype="PCM_16"
        )
        files.append(path)
    long = root / "ten_minutes.wav"
    sf.write(
        long, (0.1 * rng.standard_normal(10 * minute)).astype(np.float32), SR_IN, subtype="PCM_16"
    )
    return files, long


def timed(*fns: Callable[[], object], repeats: int = 3) -> list[float]:
    """Best-of-``repeats`` wall times of ``fns``, run in turn each round to share any load."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


_PEAK_SCRIPT = """
import sys
import numpy as np, soundfile as sf, soxr
from pathlib import Path
from opso.adapters.soundfile_io import SoundfileAudioIO
def hwm_kb():  # VmHWM is per address space, so (unlike ru_maxrss) a fork's parent does not leak in
    line = next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:"))
    return int(line.split()[1])
path = Path(sys.argv[2])
before = hwm_kb()
if sys.argv[1] == "opso":
    SoundfileAudioIO().read(path, sample_rate=22050)
else:
    data, sr = sf.read(path, dtype="float32")
    soxr.resample(data, sr, 22050)
print((hwm_kb() - before) / 1e3)
"""


def peak_mb(which: str, path: Path) -> float:
    """Peak resident memory added by one load, in a fresh interpreter (MB)."""
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, which, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def reference_load(path: Path) -> np.ndarray:
    data, sr = sf.read(path, dtype="float32")
    return np.asarray(soxr.resample(data, sr, SR_OUT))


def main() -> None:
    io = SoundfileAudioIO()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files, long = make_corpus(root)

        def opso_load_all() -> None:
            for f in files:
                io.read(f, sample_rate=SR_OUT)

        def ref_load_all() -> None:
            for f in files:
                reference_load(f)

        t_opso, t_ref = timed(opso_load_all, ref_load_all)
        print(
            f"load+resample to {SR_OUT} Hz, s per audio hour: opso {t_opso:.2f}  "
            f"reference {t_ref:.2f}  ratio {t_opso / t_ref:.2f}x (target <= 1.10x)"
        )

        decoded_mb = 10 * 60 * SR_IN * 4 / 1e6
        m_opso = peak_mb("opso", long)
        m_ref = peak_mb("reference", long)
        print(
            f"peak resident memory added, 10-minute file (decoded float32 = {decoded_mb:.0f} MB): "
            f"opso {m_opso:.0f} MB = {m_opso / decoded_mb:.2f}x  reference {m_ref:.0f} MB = "
            f"{m_ref / decoded_mb:.2f}x (target < 1.5x)"
        )

        split_use_case = SplitRecordings(io, CsvTableWriter())
        jobs = find_audio_files([root / "hour"])

        def opso_split() -> None:
            out = root / "clips_opso"
            shutil.rmtree(out, ignore_errors=True)
            split_use_case.run(jobs=jobs, destination=out, clip_duration=5.0)

        def ref_split() -> None:
            out = root / "clips_ref"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            for f in files:
                data, sr = sf.read(f, dtype="int16")
                n = 5 * sr
                for k in range(len(data) // n):
                    clip = out / f"{f.stem}_{5 * k}s_{5 * k + 5}s.wav"
                    sf.write(clip, data[k * n : (k + 1) * n], sr, subtype="PCM_16")

        def ref_split_in_memory() -> None:
            out = root / "clips_mem"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            for f in files:
                data, sr = sf.read(f, dtype="int16")
                n = 5 * sr
                for k in range(len(data) // n):
                    encoded = BytesIO()
                    sf.write(encoded, data[k * n : (k + 1) * n], sr, format="WAV", subtype="PCM_16")
                    (out / f"{f.stem}_{5 * k}s_{5 * k + 5}s.wav").write_bytes(encoded.getbuffer())

        s_opso, s_ref, s_mem = timed(opso_split, ref_split, ref_split_in_memory, repeats=5)
        n_clips = len(list((root / "clips_opso").glob("*.wav")))
        same = all(
            (root / "clips_opso" / p.name).read_bytes() == p.read_bytes()
            for p in sorted((root / "clips_ref").glob("*.wav"))[::97]
        )
        print(
            f"split 1 h into 5 s clips ({n_clips} files), s per audio hour: opso {s_opso:.2f}  "
            f"reference {s_ref:.2f}  ratio {s_opso / s_ref:.2f}x (target <= 1.20x); "
            f"clips byte-identical to the reference's: {same}"
        )
        print(
            f"   stricter reference, each clip encoded in memory and written at once: "
            f"{s_mem:.2f}  ratio {s_opso / s_mem:.2f}x"
        )


if __name__ == "__main__":
    main()
