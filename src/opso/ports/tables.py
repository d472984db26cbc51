"""Port for writing result tables (clip lists, labels, scores)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol


class TableWriter(Protocol):
    """Writes rows of named values to a table file atomically."""

    def write(
        self, rows: Sequence[Mapping[str, object]], path: Path, *, columns: Sequence[str]
    ) -> None:
        """Write ``rows`` with ``columns`` (in that order) to ``path``."""
        ...
