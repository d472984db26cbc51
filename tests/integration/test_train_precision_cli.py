"""`opso train --precision` and `--valid-fraction 0` on real recordings."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import opso.adapters.torch_training as tt
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.adapters.torch_classifier import load_classifier
from opso.cli import main
from opso.domain.audio import fixed_length

TINY = ["--epochs", "1", "--batch-size", "4", "--clip-duration", "1", "--height", "32"]
TINY += ["--width", "32", "--architecture", "mobilenet_v3_small", "--label-column", "bird"]


@pytest.fixture(scope="module")
def tits(test_data: Path) -> list[Path]:
    return sorted((test_data / "pykanto" / "audio" / "great_tit").glob("*.wav"))


def _args(tits: list[Path], tmp_path: Path) -> list[str]:
    labels = tmp_path / "labels.csv"
    pd.DataFrame(
        {
            "file": [p.name for p in tits],
            "bird": ["B32" if "B32" in p.name else "SW83" for p in tits],
        }
    ).to_csv(labels, index=False)
    return ["train", "--labels", str(labels), "--audio-root", str(tits[0].parent), *TINY]


def test_bf16_without_validation_writes_a_float32_model_of_the_last_epoch(
    tits: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as on a CPU with AVX512-BF16 or AMX, whatever this machine has
    monkeypatch.setattr(tt, "native_bf16", lambda device, capabilities=None: True)
    run = tmp_path / "run"
    args = [*_args(tits, tmp_path), "--valid-fraction", "0", "--precision", "bf16", "-o", str(run)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"model: {run / 'model.opso'} (the last epoch, 1 of 1: no validation set)" in (
        result.stdout
    )
    assert "last epoch:" not in result.stdout and not (run / "last.opso").exists()
    assert "precision: bf16 autocast (weights and model file float32)" in result.stdout
    epochs = [ln for ln in result.stderr.splitlines() if ln.startswith("epoch 1")]
    assert epochs and "train loss" in epochs[0] and "valid" not in epochs[0]
    ck = torch.load(run / "epoch-1.tar", weights_only=True)
    assert ck["valid_metrics"] is None and ck["precision"] == "bf16"
    meta = (run / "metadata.txt").read_text()
    assert f"train_dataset: AudioClipDataset ({len(tits)} samples)" in meta
    assert "valid_dataset: none" in meta
    clf = load_classifier(run / "model.opso", device="cpu", backend="eager")
    assert {p.dtype for p in clf.model.parameters()} == {torch.float32}
    wave = fixed_length(SoundfileAudioIO().read(tits[0], sample_rate=22050).samples, 22050)
    scores = clf.predict(np.stack([wave, wave]))
    assert scores.shape == (2, 2) and np.isfinite(scores).all()
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)


def test_precision_requests_the_hardware_cannot_serve_are_refused(
    tits: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tt, "native_bf16", lambda device, capabilities=None: False)
    run = tmp_path / "run"
    result = CliRunner().invoke(
        main, [*_args(tits, tmp_path), "--precision", "bf16", "-o", str(run)]
    )
    assert result.exit_code == 2
    assert "has no native bfloat16" in result.output and "auto or fp32" in result.output
    assert "Traceback" not in result.output and not (run / "model.opso").exists()
    result = CliRunner().invoke(
        main, [*_args(tits, tmp_path), "--precision", "fp16", "-o", str(run)]
    )
    assert result.exit_code == 2 and "'fp16' is not one of 'auto', 'bf16', 'fp32'" in result.output
    result = CliRunner().invoke(
        main, [*_args(tits, tmp_path), "--valid-fraction", "1", "-o", str(run)]
    )
    assert result.exit_code == 2 and "valid_fraction must be in [0, 1)" in result.output
