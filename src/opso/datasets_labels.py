"""The labelling half of the spec's ``datasets`` module: clip overlaps, md5 names, splitting.

Torch-free: :class:`SplitterDataset` is a map-style dataset (``__len__``/``__getitem__``) that a
``torch.utils.data.DataLoader`` accepts as it is, with ``collate_fn=SplitterDataset.collate_fn``.
"""

from __future__ import annotations

import csv
import hashlib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from opso.api import default_container
from opso.app.raven import UNKNOWN
from opso.domain.annotations import AnnotationSet, overlap_mask
from opso.domain.audio import FinalClip, clip_times
from opso.domain.errors import AnnotationFormatError, ParameterError

__all__ = ["SplitterDataset", "annotations_with_overlaps_with_clip", "get_md5_digest"]


def get_md5_digest(input_string: str) -> str:
    """Return the hexadecimal MD5 digest of a string's UTF-8 bytes (used to name segments)."""
    return hashlib.md5(input_string.encode("utf-8"), usedforsecurity=False).hexdigest()


def _find_column(df: pd.DataFrame, name: str) -> str:
    for c in df.columns:
        if " ".join(str(c).lower().split()) == name:
            return str(c)
    raise KeyError(f"column {name!r} (any case) not found; columns are {list(df.columns)}")


def annotations_with_overlaps_with_clip(df: pd.DataFrame, begin: float, end: float) -> pd.DataFrame:
    """Return the rows of a Raven table that overlap the clip ``[begin, end]`` seconds.

    A row overlaps when it shares time with the clip, which includes a row that starts
    before the clip and ends after it (the spec missed those; see
    ``docs/decisions/0020-annotations-spanning-a-clip-overlap-it.md``), or when it is a
    zero-length row inside the clip.

    Parameters
    ----------
    df
        A Raven table with ``Begin Time (s)`` and ``End Time (s)`` columns (any case).
    begin, end
        The clip in seconds.

    Returns
    -------
    pandas.DataFrame
        The overlapping rows, unchanged.

    Raises
    ------
    KeyError
        If a time column is missing.
    ValueError
        If the clip ends before it begins.
    """
    if end < begin:
        raise ParameterError(f"clip ends before it begins: [{begin}, {end}]")
    b = df[_find_column(df, "begin time (s)")].to_numpy(dtype=np.float64)
    e = df[_find_column(df, "end time (s)")].to_numpy(dtype=np.float64)
    return df[overlap_mask(b, e, begin, end, 0.0)]


def _read_corrections(path: Path) -> dict[str, str]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        if "raw" not in fields or "corrected" not in fields:
            raise AnnotationFormatError(
                f"{path}, line 1: label corrections need columns 'raw' and 'corrected'; "
                f"columns found: {reader.fieldnames}"
            )
        raw_key = (reader.fieldnames or [])[fields.index("raw")]
        fixed_key = (reader.fieldnames or [])[fields.index("corrected")]
        return {row[raw_key]: row[fixed_key] for row in reader}


class SplitterDataset:
    """Split WAV files into fixed-length segments, optionally labelled from Raven tables.

    Item ``i`` splits ``wavs[i]``, writes each segment to ``output_directory`` as
    ``<md5 of "wav-begin-end">.wav`` and returns ``{"data": rows}``, one text row per
    segment joined by ``column_separator``: the source, (the table,) begin and end in s, the
    segment file (and the labels present, joined by ``species_separator``). With
    annotations, only segments holding a box are written and listed.

    Every complete segment is kept; ``include_last_segment`` adds a final full-length segment
    that ends at the end of the audio when some audio is left over (see
    ``docs/decisions/0021-splitter-keeps-complete-last-segment.md``).

    Parameters
    ----------
    wavs
        Audio files to split.
    annotations
        Whether to look beside each file for its Raven table (``<name>.*.selections.txt``,
        the ``.lower`` copy first) and label the segments.
    label_corrections
        CSV with ``raw`` and ``corrected`` columns renaming labels; boxes without a label
        are ``unknown`` (which may be corrected too).
    overlap
        Overlap of consecutive segments in seconds.
    duration
        Segment length in seconds.
    output_directory
        Folder for the segments (created if missing).
    include_last_segment
        Add a final segment covering the end of the audio.
    column_separator, species_separator
        Separators of the returned rows and of the labels within a row.
    """

    def __init__(
        self,
        wavs: Iterable[str | Path],
        annotations: bool = False,
        label_corrections: str | Path | None = None,
        overlap: float = 1,
        duration: float = 5,
        output_directory: str | Path = "segments",
        include_last_segment: bool = False,
        column_separator: str = "\t",
        species_separator: str = "|",
    ) -> None:
        self.wavs = [Path(w) for w in wavs]
        self.annotations = annotations
        self.label_corrections = label_corrections
        self.corrections: Mapping[str, str] = (
            {} if label_corrections is None else _read_corrections(Path(label_corrections))
        )
        clip_times(duration, duration, overlap, None)  # validate now, not per item
        self.overlap = overlap
        self.duration = duration
        self.output_directory = Path(output_directory)
        self.include_last_segment = include_last_segment
        self.column_separator = column_separator
        self.species_separator = species_separator

    def __len__(self) -> int:
        return len(self.wavs)

    def _table_for(self, wav: Path) -> Path | None:
        stem = wav.name.split(".")[0]
        store = default_container().annotation_store()
        for pattern in (f"{stem}.*.selections.txt.lower", f"{stem}.*.selections.txt"):
            found = [p for p in store.find(wav.parent, pattern=pattern) if p.parent == wav.parent]
            if found:
                return found[0]
        return None

    def __getitem__(self, item_idx: int) -> dict[str, list[str]]:
        """Split one file; return ``{"data": rows}`` (see the class docstring)."""
        wav = self.wavs[item_idx]
        container = default_container()
        table: Path | None = None
        boxes: AnnotationSet | None = None
        if self.annotations:
            table = self._table_for(wav)
            if table is None:
                warnings.warn(f"no Raven annotations found for {wav}", UserWarning, stacklevel=2)
                return {"data": []}
            boxes = container.annotation_store().read(table, source=str(wav))
            boxes = boxes.relabel(self.corrections, unlabelled=UNKNOWN)
            boxes = boxes.sorted()
        audio = container.audio_io().read(wav)
        final: FinalClip = "full" if self.include_last_segment else None
        writer = container.audio_io()
        rows: list[str] = []
        for begin, end in clip_times(audio.duration(), self.duration, self.overlap, final):
            # Named from the times as computed (ints stay ints), as the spec names segments.
            destination = self.output_directory / f"{get_md5_digest(f'{wav}-{begin}-{end}')}.wav"
            begin, end = float(begin), float(end)
            fields: list[object] = [wav]
            if boxes is not None:
                hit = boxes.overlaps(begin, end)
                if not hit.any():
                    continue
                labels = [v for v in boxes.select(hit).labels if v is not None]
                fields += [table, begin, end, destination]
                fields.append(self.species_separator.join(dict.fromkeys(labels)))
            else:
                fields += [begin, end, destination]
            writer.write(audio.trim(begin, end), destination)
            rows.append(self.column_separator.join(str(f) for f in fields))
        return {"data": rows}

    @staticmethod
    def collate_fn(batch: Sequence[Mapping[str, list[str]]]) -> list[str]:
        """Join the rows of a batch of items (use as a DataLoader's ``collate_fn``)."""
        return [row for item in batch for row in item["data"]]
