"""CSV tables through the standard library's csv module, written atomically."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

from opso.adapters.atomic import atomic_path
from opso.ports.tables import TableWriter


class CsvTableWriter(TableWriter):
    """Write rows as a comma-separated file with a header line."""

    def write(
        self, rows: Sequence[Mapping[str, object]], path: Path, *, columns: Sequence[str]
    ) -> None:
        """Write ``rows`` to ``path``; values missing from a row are left empty."""
        with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
