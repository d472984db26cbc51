"""Sample data shipped inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_path(name: str) -> Path:
    """Return the path of a bundled data file.

    Raises
    ------
    FileNotFoundError
        If the package ships no file of that name.
    """
    path = Path(str(resources.files("opso") / "data" / name))
    if not path.is_file():
        raise FileNotFoundError(f"opso ships no data file named {name!r}")
    return path


def sample_recording() -> Path:
    """Return the bundled 10 s birdsong recording (MIT, from OpenSoundscape's sample data)."""
    return data_path("birds_10s.wav")
