"""Port for reading and writing annotation tables (e.g. Raven selection tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from opso.domain.annotations import AnnotationSet

#: The label columns tried, in order, when none is named (matched ignoring case).
DEFAULT_LABEL_COLUMNS = ("class", "species", "annotation")


class AnnotationStore(Protocol):
    """Finds, reads and writes annotation tables, one table per recording."""

    def find(self, directory: Path, *, pattern: str = "*.selections.txt") -> list[Path]:
        """Return the tables under ``directory`` (recursively) whose name matches ``pattern``.

        Names are matched ignoring case; the list is sorted.

        Raises
        ------
        FileNotFoundError
            If ``directory`` is not a folder.
        """
        ...

    def read(
        self, path: Path, *, label_column: str | None = None, source: str | None = None
    ) -> AnnotationSet:
        """Read one table.

        Parameters
        ----------
        path
            The table.
        label_column
            Name of the label column (any case); None takes the first of
            :data:`DEFAULT_LABEL_COLUMNS` present.
        source
            Source recorded for every annotation; None uses ``str(path)``.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        AnnotationFormatError
            If the table cannot be parsed (naming the file, row and column) or has no label
            column (listing the columns found).
        """
        ...

    def write(self, annotations: AnnotationSet, path: Path) -> None:
        """Write ``annotations`` as one table at ``path``, atomically."""
        ...

    def write_lowercase(self, source: Path, target: Path) -> None:
        """Write a copy of the table at ``source`` with all its text in lower case, atomically.

        Headers, labels and every other cell are lower-cased as text, without parsing the
        table (OpenSoundscape 0.4's ``lowercase_annotations``), so a bad time never fails.

        Raises
        ------
        FileNotFoundError
            If ``source`` does not exist.
        AnnotationFormatError
            If ``source`` is a folder or cannot be read.
        """
        ...
