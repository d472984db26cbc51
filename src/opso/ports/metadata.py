"""Port for reading what a recorder wrote about a recording (start time, device, ...)."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path
from typing import Protocol

from opso.domain.recording_info import RecordingInfo


class MetadataReader(Protocol):
    """Reads a recording's metadata: embedded comments and chunks, then its file name."""

    def read(self, path: Path, *, timezone: tzinfo | None = None) -> RecordingInfo:
        """Return what ``path`` says about its recording; ``timezone`` applies to local times.

        Metadata that cannot be read gives unknown fields and a warning, never an error; an
        unreadable file raises ``OSError``.
        """
        ...
