"""Port for the detection review page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

MARKS = ("present", "absent", "unsure")
DEFAULT_PAGE_SIZE = 100
#: The ``<meta>`` name under which a served page carries its session token (empty on disk).
TOKEN_META = "opso-review-token"
#: The request header in which the page sends that token with its marks.
TOKEN_HEADER = "X-Opso-Token"


@dataclass(frozen=True, slots=True)
class ReviewClip:
    """One clip to review: where it comes from, which class scored it, and its media files.

    ``file`` is the recording as the score table names it, ``path`` the recording read (made
    absolute) and ``sample_rate`` its rate in Hz. ``audio`` and ``image`` are paths relative
    to the review folder.
    """

    id: str
    file: str
    start_time: float
    end_time: float
    label: str
    score: float
    audio: str
    image: str
    path: str
    sample_rate: int


class ReviewPages(Protocol):
    """Writes the page on which a person marks clips present, absent or unsure."""

    def write(
        self,
        clips: Sequence[ReviewClip],
        path: Path,
        *,
        title: str,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        """Write the page listing ``clips`` (grouped by class, best first) to ``path``.

        The clips are shown ``page_size`` at a time, so a page of thousands of clips opens
        quickly; marks given on one page are kept while moving to another.
        """
        ...
