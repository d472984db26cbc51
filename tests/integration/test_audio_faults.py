"""Audio input that lies, breaks or blocks: each is that file's clear error, never a hang,
a huge allocation, a traceback or silent NaN scores."""

from __future__ import annotations

import csv
import os
import resource
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

import opso
from opso.adapters.audio_metadata import RiffMetadataReader
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.adapters.torch_classifier import TorchClassifier
from opso.adapters.torch_models import build_architecture, save_model
from opso.cli import main
from opso.domain.classifier import ModelConfig, Preprocessing
from opso.domain.errors import OpsoLoadAudioInputError

OPSO = str(Path(sys.executable).parent / "opso")
RATE = 8000


def noise(seconds: float, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((round(seconds * RATE), channels))).astype(np.float32)


def forged_flac(path: Path, total_samples: int, channels: int = 1) -> Path:
    """Write a real 3 s FLAC, then make its STREAMINFO claim ``total_samples``."""
    sf.write(path, noise(3.0, channels), RATE, format="FLAC", subtype="PCM_16")
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO comes first
    # 'fLaC' (4) + block header (4) + min/max block size (2+2) + min/max frame size (3+3)
    # = byte 18: then 20 bits rate, 3 bits channels-1, 5 bits bits-1, 36 bits total samples,
    # which start at the low 4 bits of byte 21.
    at = 4 + 4 + 2 + 2 + 3 + 3 + 3
    data[at] = (data[at] & 0xF0) | (total_samples >> 32)
    data[at + 1 : at + 5] = (total_samples & 0xFFFFFFFF).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    assert sf.info(str(path)).frames == total_samples or total_samples == 0
    return path


HUGE = (1 << 36) - 1  # 2^36 samples of float32: a 256 GiB allocation if trusted


def test_flac_header_total_of_2_36_is_that_files_error_without_allocating(
    tmp_path: Path,
) -> None:
    """Under a 2 GiB address-space cap, reading and probing the forged file fail cleanly."""
    forged = forged_flac(tmp_path / "forged.flac", HUGE, channels=2)
    good = tmp_path / "good.flac"
    sf.write(good, noise(3.0), RATE, format="FLAC")
    code = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        from opso.adapters.soundfile_io import SoundfileAudioIO
        from opso.domain.errors import OpsoLoadAudioInputError
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        io = SoundfileAudioIO()
        good = Path({str(good)!r})
        print("good", io.info(good).duration, io.read(good).duration())
        for call in (io.info, io.read, lambda p: io.read(p, sample_rate=22050),
                     lambda p: io.read(p, offset=1.0, duration=1.0)):
            try:
                call(Path({str(forged)!r}))
                print("no error")
            except OpsoLoadAudioInputError as e:
                print("error", e)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "good 3.0 3.0"
    expected = (
        f"error {forged}: the FLAC header says {HUGE} samples ({HUGE / RATE:.3f} s) but the "
        "audio ends before that (a truncated or damaged file)"
    )
    assert lines[1:] == [expected] * 4


def test_flac_without_a_length_and_truncated_flac_are_errors(tmp_path: Path) -> None:
    unknown = forged_flac(tmp_path / "unknown.flac", 0)
    with pytest.raises(OpsoLoadAudioInputError, match="does not give the length"):
        SoundfileAudioIO().info(unknown)
    whole = tmp_path / "whole.flac"
    sf.write(whole, noise(3.0), RATE, format="FLAC")
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    for call in (SoundfileAudioIO().info, SoundfileAudioIO().read):
        with pytest.raises(OpsoLoadAudioInputError, match=r"cut\.flac: .* ends before that"):
            call(cut)


def test_flac_header_shorter_than_the_audio_reads_what_it_says(tmp_path: Path) -> None:
    short = forged_flac(tmp_path / "short.flac", RATE)  # says 1 s, holds 3 s
    assert SoundfileAudioIO().info(short).duration == 1.0
    assert SoundfileAudioIO().read(short).duration() == 1.0


def test_wav_and_mp3_lengths_are_bounded_by_the_file(tmp_path: Path, oss_audio: Path) -> None:
    wav = tmp_path / "lying.wav"
    sf.write(wav, noise(3.0), RATE, subtype="PCM_16")
    data = bytearray(wav.read_bytes())
    at = data.index(b"data") + 4
    data[at : at + 4] = (0xFFFFFFF0).to_bytes(4, "little")  # the data chunk claims 4 GiB
    wav.write_bytes(bytes(data))
    assert SoundfileAudioIO().info(wav).duration == 3.0
    assert SoundfileAudioIO().read(wav).duration() == 3.0

    mp3 = tmp_path / "lying.mp3"
    data = bytearray((oss_audio / "silence_10s.mp3").read_bytes())
    at = max(data.find(b"Xing"), data.find(b"Info"))
    assert at > 0 and data[at + 7] & 1  # the frame count is present
    data[at + 8 : at + 12] = (0x0FFFFFFF).to_bytes(4, "big")  # 2.7e8 MPEG frames
    mp3.write_bytes(bytes(data))
    assert sf.info(str(mp3)).frames > 10**11
    info = SoundfileAudioIO().info(mp3)
    assert info.frames <= 24 * mp3.stat().st_size
    assert SoundfileAudioIO().read(mp3).duration() == pytest.approx(10.0, abs=0.1)


def capped_opso(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the opso CLI in a process that may use at most 4 GiB of address space."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    return subprocess.run(
        [OPSO, *args], capture_output=True, text=True, timeout=300, preexec_fn=cap
    )


def test_batch_commands_report_a_forged_flac_and_carry_on(tmp_path: Path, birds_10s: Path) -> None:
    forged = forged_flac(tmp_path / "forged.flac", HUGE)
    run_dir = tmp_path / "run"
    levels = capped_opso(
        "runs", "levels", str(forged), str(birds_10s), "--run-dir", str(run_dir),
        "--clip-duration", "5", "--workers", "0",
    )  # fmt: skip
    assert levels.returncode == 0, levels.stderr
    assert "1/1 shards" in levels.stdout and "1 error row" in levels.stdout
    status = capped_opso("runs", "status", str(run_dir), "--json")
    assert '"unreadable": 1' in status.stdout and '"shards": 1' in status.stdout

    out = tmp_path / "clips"
    split = capped_opso(
        "split", str(forged), str(birds_10s), "-o", str(out), "--clip-duration", "5"
    )
    assert split.returncode == 1
    assert f"error: {forged}: " in split.stderr
    assert f"{forged}: the FLAC header says {HUGE} samples" in split.stderr
    assert "Traceback" not in split.stderr
    assert (out / "birds_10s_0s_5s.wav").exists()


def float_wav_with_nan(path: Path) -> Path:
    x = noise(3.0)
    x[12000, 0] = np.nan  # t = 1.5 s
    x[20000, 0] = np.inf
    sf.write(path, x, RATE, subtype="FLOAT")
    return path


def test_nan_and_inf_samples_are_that_files_error(tmp_path: Path) -> None:
    bad = float_wav_with_nan(tmp_path / "nan.wav")
    message = f"{bad}: 2 non-finite samples (NaN/inf), the first at t=1.500 s"
    for kwargs in ({}, {"sample_rate": 16000}):
        with pytest.raises(OpsoLoadAudioInputError) as caught:
            opso.Audio.from_file(bad, **kwargs)  # type: ignore[arg-type]
        assert str(caught.value) == message
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.hstack([noise(3.0), sf.read(bad, always_2d=True)[0]]), RATE, "FLOAT")
    with pytest.raises(OpsoLoadAudioInputError, match=r"2 non-finite .* t=1\.500 s"):
        SoundfileAudioIO().read(stereo, offset=1.0)
    assert SoundfileAudioIO().read(bad, duration=1.0).duration() == 1.0  # window before them


def test_split_and_ribbit_report_nan_files_and_write_nothing_for_them(
    tmp_path: Path, birds_10s: Path
) -> None:
    bad = float_wav_with_nan(tmp_path / "nan.wav")
    out = tmp_path / "clips"
    split = CliRunner().invoke(
        main, ["split", str(bad), str(birds_10s), "-o", str(out), "--clip-duration", "1"]
    )
    assert split.exit_code == 1
    assert f"error: {bad}: " in split.output
    assert f"{bad}: 2 non-finite samples (NaN/inf)" in split.output
    assert not list(out.glob("nan_*"))
    with (out / "clips.csv").open() as fh:
        assert {row["source"] for row in csv.DictReader(fh)} == {str(birds_10s)}

    scores = tmp_path / "ribbit.csv"
    ribbit = CliRunner().invoke(
        main,
        [
            "ribbit",
            str(bad),
            str(birds_10s),
            "-o",
            str(scores),
            "--signal-band",
            "1000",
            "3000",
            "--pulse-rate",
            "5",
            "20",
            "--window",
            "1",
        ],
    )
    assert f"{bad}: 2 non-finite samples (NaN/inf)" in ribbit.output
    assert "nan" not in ribbit.output.replace(str(bad), "")
    with scores.open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {r["file"] for r in rows} == {str(birds_10s)}


def run_with_timeout(args: list[str], seconds: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=seconds)


def test_a_fifo_is_refused_up_front(tmp_path: Path) -> None:
    fifo = tmp_path / "stream.wav"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def load() -> None:
        try:
            opso.Audio.from_file(fifo)
        except BaseException as e:  # handed to the test thread
            outcome.append(e)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "Audio.from_file blocked on a FIFO"
    assert isinstance(outcome[0], OpsoLoadAudioInputError)
    assert str(outcome[0]) == f"{fifo} is not a regular file (a FIFO)"
    with pytest.raises(OpsoLoadAudioInputError, match="not a regular file"):
        SoundfileAudioIO().info(fifo)

    info = run_with_timeout([OPSO, "info", str(fifo)])
    assert info.returncode == 1
    assert f"{fifo} is not a regular file (a FIFO)" in info.stderr
    split = run_with_timeout([OPSO, "split", str(fifo), "-o", str(tmp_path / "out")])
    assert split.returncode != 0
    split = run_with_timeout(
        [OPSO, "split", str(fifo), "-o", str(tmp_path / "out"), "--clip-duration", "1"]
    )
    assert split.returncode == 1
    assert f"{fifo} is not a regular file (a FIFO)" in split.stderr
    with pytest.raises(OSError, match="not a regular file"):  # metadata is never read from it
        RiffMetadataReader().read(fifo)


def test_a_character_device_is_refused() -> None:
    with pytest.raises(OpsoLoadAudioInputError, match=r"^/dev/zero is not a regular file"):
        SoundfileAudioIO().read(Path("/dev/zero"))


def test_a_file_name_that_is_not_utf8_is_read(tmp_path: Path) -> None:
    folder = os.fsencode(tmp_path)
    with open(folder + b"/caf\xe9.wav", "wb") as fh:  # noqa: PTH123 - a name as bytes
        sf.write(fh, noise(0.5), RATE, format="WAV")
    (listed,) = os.listdir(tmp_path)  # noqa: PTH208 - the str os.listdir gives
    assert listed == "caf\udce9.wav"
    audio = opso.Audio.from_file(tmp_path / listed)
    assert audio.duration() == 0.5
    assert SoundfileAudioIO().info(tmp_path / listed).frames == 4000
    audio.save(tmp_path / "copy_caf\udce9.flac")
    assert sorted(os.listdir(folder)) == [b"caf\xe9.wav", b"copy_caf\xe9.flac"]  # noqa: PTH208
    broken = tmp_path / "gone\udce9.wav"
    with pytest.raises(FileNotFoundError, match=r"gone\\udce9\.wav"):
        opso.Audio.from_file(broken)


PRE = Preprocessing(sample_rate=RATE, clip_duration=1.0, height=32, width=48)


def tiny_model() -> tuple[torch.nn.Module, ModelConfig]:
    torch.manual_seed(0)
    model = build_architecture("resnet18", 2)
    return model, ModelConfig(architecture="resnet18", classes=("a", "b"), preprocessing=PRE)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(*tiny_model(), tmp_path_factory.mktemp("model") / "m.opso")


def test_predict_gives_a_nan_file_an_error_row(tmp_path: Path, model_file: Path) -> None:
    bad = float_wav_with_nan(tmp_path / "nan.wav")
    good = tmp_path / "good.wav"
    sf.write(good, noise(2.0), RATE)
    table = tmp_path / "scores.csv"
    args = ["predict", str(model_file), str(bad), str(good), "-o", str(table)]
    result = CliRunner().invoke(main, [*args, "--backend", "eager"])
    assert result.exit_code == 0, result.output
    with table.open() as fh:
        rows = list(csv.DictReader(fh))
    (bad_row,) = [r for r in rows if r["file"] == str(bad)]
    assert bad_row["error"] == f"{bad}: 2 non-finite samples (NaN/inf), the first at t=1.500 s"
    good_rows = [r for r in rows if r["file"] == str(good)]
    assert len(good_rows) == 2
    assert all(r["error"] == "" and np.isfinite(float(r["a"])) for r in good_rows)


def test_the_fast_engine_is_chosen_on_noise_not_on_the_users_audio() -> None:
    model, config = tiny_model()
    clean = np.stack([noise(1.0, seed=s)[:, 0] for s in (1, 2, 3)])
    dirty = clean.copy()
    dirty[0, 100] = np.nan
    first_clean = TorchClassifier(model, config, device="cpu", backend="fast")
    first_dirty = TorchClassifier(model, config, device="cpu", backend="fast")
    assert first_clean.engine == first_dirty.engine != "eager"  # chosen when loaded
    scores_clean = first_clean.predict(clean)
    first_dirty.predict(dirty)
    assert first_dirty.engine == first_clean.engine
    np.testing.assert_array_equal(first_dirty.predict(clean), scores_clean)
