"""Ports for result and input tables: writing clip lists, labels and scores; reading user tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pandas as pd


class TableWriter(Protocol):
    """Writes rows of named values to a table file atomically."""

    def write(
        self, rows: Sequence[Mapping[str, object]], path: Path, *, columns: Sequence[str]
    ) -> None:
        """Write ``rows`` with ``columns`` (in that order) to ``path``."""
        ...


class TableReader(Protocol):
    """Reads a table file a user gives (labels, scores, coordinates, species presets)."""

    def read(self, path: Path, *, what: str = "table") -> pd.DataFrame:
        """Return the table at ``path``; column names are stripped of surrounding spaces.

        ``what`` names the table in error messages ("label table", "coordinates", ...).

        Raises
        ------
        TableReadError
            If the file is missing, not a table, not UTF-8 or malformed; the message names the
            file and, where known, the line.
        """
        ...


class TextWriter(Protocol):
    """Writes a text file (a configuration, a corrections table) atomically."""

    def write(self, path: Path, text: str) -> None:
        """Write ``text`` (UTF-8) to ``path``; an existing file is replaced only on success."""
        ...
