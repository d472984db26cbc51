"""Ports for heads trained on embeddings: head files and embedding tables."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from opso.domain.heads import EmbeddingTable, Head


class HeadStore(Protocol):
    """Saves and loads heads (``head.opso`` files)."""

    def save(self, head: Head, path: Path) -> Path:
        """Write ``head`` to ``path`` atomically and return the path."""
        ...

    def load(self, path: Path) -> Head:
        """Read a head file.

        Raises
        ------
        ModelFileError
            If the file is missing, not a head, corrupt, or from a newer opso.
        """
        ...

    def is_head(self, path: Path) -> bool:
        """Whether ``path`` is an existing file that holds a head (not, e.g., a CNN)."""
        ...


class EmbeddingReader(Protocol):
    """Reads a table of embeddings written by ``opso embed``."""

    def read(self, path: Path) -> EmbeddingTable:
        """Read the windows of ``path`` that were embedded (rows with an error are left out).

        Raises
        ------
        TableReadError
            If the file is missing, not such a table, or its features disagree with its record.
        """
        ...
