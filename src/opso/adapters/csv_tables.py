"""Tables on disk: CSV written with the standard library, CSV/TSV/Parquet read with pandas."""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from opso.adapters.atomic import atomic_path
from opso.domain.errors import TableReadError
from opso.ports.tables import TableReader, TableWriter

_PANDAS_LINE = re.compile(r"\bline (\d+)\b")


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


class PandasTableReader(TableReader):
    """Read ``.csv`` (comma), ``.tsv``/``.txt`` (tab) and ``.parquet`` tables.

    Every failure becomes one :class:`TableReadError` naming the file and, for text tables,
    the line at fault.
    """

    def read(self, path: Path, *, what: str = "table") -> pd.DataFrame:
        """Return the table at ``path`` with stripped column names (see :class:`TableReader`)."""
        if not path.exists():
            raise TableReadError(f"{path}: no such {what} file")
        if path.is_dir():
            raise TableReadError(f"{path}: is a folder, not a {what} file")
        try:
            if path.suffix.lower() == ".parquet":
                df = pd.read_parquet(path)
            else:
                sep = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
                df = pd.read_csv(path, sep=sep, skipinitialspace=True, encoding="utf-8")
        except UnicodeDecodeError as e:
            line = _first_undecodable_line(path)
            raise TableReadError(f"{path}, line {line}: {what} is not UTF-8 text") from e
        except pd.errors.EmptyDataError as e:
            raise TableReadError(f"{path}: {what} is empty (no header line)") from e
        except pd.errors.ParserError as e:
            found = _PANDAS_LINE.search(str(e))
            where = f"{path}, line {found.group(1)}" if found else str(path)
            raise TableReadError(f"{where}: {what} is malformed ({_one_line(e)})") from e
        except (OSError, ValueError) as e:
            raise TableReadError(f"{path}: cannot read the {what} ({_one_line(e)})") from e
        df.columns = [str(c).strip() for c in df.columns]
        return df


def _first_undecodable_line(path: Path) -> int:
    """1-based number of the first line of ``path`` that is not UTF-8 (0 if none is)."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
