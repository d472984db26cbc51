"""Shared fixtures: where the real test corpus lives (``tests/data``, see its README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from opso.resources import sample_recording

TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def test_data() -> Path:
    """The real recordings and annotation tables copied into ``tests/data``."""
    return TEST_DATA


@pytest.fixture(scope="session")
def oss_audio(test_data: Path) -> Path:
    """OpenSoundscape's real test recordings."""
    return test_data / "opensoundscape" / "audio"


@pytest.fixture(scope="session")
def birds_10s() -> Path:
    """OpenSoundscape's 10.13 s birdsong sample, bundled with opso as its sample recording."""
    return sample_recording()


@pytest.fixture(scope="session")
def short_moth() -> Path:
    """A real 0.98 s AudioMoth recording (pykanto), 48 kHz."""
    return TEST_DATA / "pykanto" / "audio" / "audiomoth" / "20210502_040000.WAV"


def untrained_model(folder: Path, *, sample_rate: int, clip_duration: float) -> Path:
    """Save a seeded, untrained resnet18 with classes ``owl`` and ``wren`` on 32x32 inputs."""
    import torch

    from opso.adapters.torch_models import build_architecture, save_model
    from opso.domain.classifier import ModelConfig, Preprocessing

    torch.manual_seed(0)
    pre = Preprocessing(
        sample_rate=sample_rate,
        clip_duration=clip_duration,
        window_samples=256,
        overlap_samples=128,
        height=32,
        width=32,
    )
    config = ModelConfig(architecture="resnet18", classes=("owl", "wren"), preprocessing=pre)
    net = build_architecture("resnet18", 2).eval()
    return save_model(net, config, folder / "model.opso")
