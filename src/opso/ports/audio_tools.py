"""Port for file-to-file audio processing by an external tool (ffmpeg)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

MixDuration = Literal["first", "longest", "shortest"]


@dataclass(frozen=True, slots=True)
class ToolRun:
    """What an external tool was asked to do and what it said.

    Attributes
    ----------
    command
        The argument list the tool ran with (no shell was involved).
    output
        The tool's log text (its standard error and output).
    """

    command: tuple[str, ...]
    output: str


class AudioTools(Protocol):
    """Processes audio files into new audio files; a failed run leaves no output file."""

    def convolve(
        self, in_file: Path, out_file: Path, ir_file: Path, *, input_gain: float = 1.0
    ) -> ToolRun:
        """Convolve ``in_file`` with the impulse response ``ir_file`` into ``out_file``."""
        ...

    def mixdown(
        self,
        files: Sequence[Path],
        destination: Path,
        *,
        delays: Sequence[float],
        levels: Sequence[float],
        duration: MixDuration = "first",
        verbose: bool = False,
    ) -> ToolRun:
        """Mix ``files`` into ``destination``: output = sum of ``levels[i]`` x input ``i``.

        Input ``i`` starts ``delays[i]`` seconds into the output (silence before it).
        """
        ...

    def write_listing(self, files: Sequence[Path], destination: Path) -> Path:
        """Write a text file beside ``destination`` naming the mixed ``files``; return its path."""
        ...
