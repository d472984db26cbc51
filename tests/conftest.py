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
