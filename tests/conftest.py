"""Shared fixtures: where the real test corpus lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path:
    env = os.environ.get("OPSO_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real recordings and Raven tables of ``../shared/data`` (see its README)."""
    path = _shared_data()
    if not path.is_dir():
        raise FileNotFoundError(f"shared test data not found at {path}; set OPSO_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def oss_audio(shared_data: Path) -> Path:
    """OpenSoundscape's real test recordings."""
    return shared_data / "opensoundscape" / "audio"
