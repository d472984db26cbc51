"""raven: the spec's utilities for folders of Raven selection tables.

Thin conveniences over the default container's :class:`~opso.ports.annotation_store.AnnotationStore`
(the Raven adapter). Tables are read tolerantly: headers in any case, the label column by
name (``col``; default: the first of ``class``, ``species``, ``annotation``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from opso.api import default_container
from opso.app.raven import LOWER_SELECTIONS, SELECTIONS, UNKNOWN, TableCheck, corrections_csv
from opso.domain.annotations import AnnotationSet
from opso.domain.audio import FinalClip, clip_times
from opso.domain.errors import ParameterError

__all__ = [
    "annotation_check",
    "generate_class_corrections",
    "lowercase_annotations",
    "query_annotations",
    "raven_audio_split_and_save",
    "split_single_annotation",
    "split_starts_ends",
]


def annotation_check(directory: str | Path, col: str | None = None) -> list[TableCheck]:
    """Check that every box of every Raven table under ``directory`` has a label.

    Each table with unlabelled boxes (or that cannot be read) raises a ``UserWarning``
    naming the file, how many boxes and where; later steps label such boxes "unknown".

    Parameters
    ----------
    directory
        Folder searched recursively for ``*.selections.txt``.
    col
        Label column (any case); None takes the first of class/species/annotation.

    Returns
    -------
    list of TableCheck
        One per table (``check.ok`` is True where all is well).
    """
    checks = (
        default_container().check_annotations().run(directory=Path(directory), label_column=col)
    )
    for check in checks:
        if not check.ok:
            warnings.warn(check.describe(), UserWarning, stacklevel=2)
    return checks


def lowercase_annotations(
    directory: str | Path,
    out_dir: str | Path | None = None,
    *,
    labels_only: bool = False,
    col: str | None = None,
) -> list[Path]:
    """Write a lower-cased copy of each Raven table under ``directory``, as ``<table>.lower``.

    As in OpenSoundscape 0.4 the whole text is lower-cased (headers, labels, every cell)
    without parsing, so a table with a bad time is copied too. The other functions here read
    the copies first. Copies go beside the originals, or under ``out_dir`` keeping the folder
    layout. A folder without tables gives a ``UserWarning``, as in 0.4.

    Parameters
    ----------
    directory
        Folder searched recursively for ``*.selections.txt``.
    out_dir
        Folder for the copies; None writes them beside the originals.
    labels_only
        opso only: parse each table and lower-case its labels alone, writing a Raven table
        that keeps its headers (for Raven Pro); a table with a bad value then raises.
    col
        With ``labels_only``: the label column (any case); None takes the first of
        class/species/annotation.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    FileNotFoundError
        If ``directory`` is not a folder.
    AnnotationFormatError
        If a table cannot be read (or, with ``labels_only``, parsed), naming the file.
    ValueError
        If ``col`` is given without ``labels_only``.
    """
    written = (
        default_container()
        .lowercase_annotations()
        .run(
            directory=Path(directory),
            out_dir=None if out_dir is None else Path(out_dir),
            labels_only=labels_only,
            label_column=col,
        )
    )
    if not written:
        warnings.warn(f"No selections files found in {directory}", UserWarning, stacklevel=2)
    return written


def generate_class_corrections(directory: str | Path, col: str | None = None) -> str:
    """Return a CSV (``raw,corrected``) listing every label once, to edit into corrections.

    Reads the ``*.selections.txt.lower`` copies if there are any, else the original tables.
    Boxes without a label are listed as ``unknown``.

    Returns
    -------
    str
        CSV text: a ``raw,corrected`` header, then one ``label,label`` line per label, sorted.
    """
    classes = default_container().list_classes().run(directory=Path(directory), label_column=col)
    return corrections_csv(classes)


def query_annotations(
    directory: str | Path, cls: str, col: str | None = None, print_out: bool = False
) -> str:
    """Return the boxes labelled ``cls`` in the tables under ``directory``, as text.

    Reads the ``*.selections.txt.lower`` copies if there are any, else the original tables;
    labels must match exactly.

    Returns
    -------
    str
        For each table with matches: its path, an underline, then one line per box
        (begin and end time in s, low and high frequency in Hz, label). Empty if none match.
        Printed as well when ``print_out``.
    """
    found = (
        default_container()
        .query_annotations()
        .run(directory=Path(directory), cls=cls, label_column=col)
    )
    blocks = []
    for path, boxes in found.items():
        header = str(path)
        lines = [header, "=" * len(header), "begin_s\tend_s\tlow_hz\thigh_hz\tlabel"]
        lines += [
            f"{a.begin_time:g}\t{a.end_time:g}\t{_hz(a.low_f)}\t{_hz(a.high_f)}\t{a.label}"
            for a in boxes
        ]
        blocks.append("\n".join(lines) + "\n")
    text = "\n".join(blocks)
    if print_out:
        print(text, end="")
    return text


def _hz(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def raven_audio_split_and_save(
    raven_directory: str | Path,
    audio_directory: str | Path,
    destination: str | Path,
    col: str | None,
    sample_rate: int | None,
    clip_duration: float,
    clip_overlap: float = 0,
    final_clip: FinalClip = None,
    csv_name: str = "labels.csv",
    labeled_clips_only: bool = False,
    min_label_len: float = 0,
    species: str | Sequence[str] | None = None,
    dry_run: bool = False,
) -> pd.DataFrame:
    """Split recordings and their Raven tables into clips plus one multi-hot ``labels.csv``.

    A recording and a table belong together when their names agree up to the first dot
    (``site1.wav`` and ``site1.Table.1.selections.txt``). Tables are the ``.lower`` copies
    if the folder has any, else the originals.

    Parameters
    ----------
    raven_directory, audio_directory
        Folders of tables and of recordings (searched recursively).
    destination
        Folder for the clips and ``csv_name``.
    col
        Label column (any case); None takes the first of class/species/annotation.
    sample_rate
        Resample clips to this rate (Hz); None keeps each file's rate.
    clip_duration, clip_overlap, final_clip
        How recordings are cut, as :meth:`opso.Audio.split`.
    csv_name
        Name of the label table written in ``destination``.
    labeled_clips_only
        Keep (and write) only clips holding at least one of ``species``.
    min_label_len
        Least time in seconds a box must share with a clip to label it.
    species
        Classes to label (columns, in this order, spelled as given); they match labels
        ignoring case, and a class no box is labelled with gives a ``UserWarning``. None
        takes every label found.
    dry_run
        Write nothing; only return the table.

    Returns
    -------
    pandas.DataFrame
        Indexed by clip path (``filename``), one 0/1 column per class.
    """
    raven_dir = Path(raven_directory)
    dest = Path(destination)
    container = default_container()
    has_lower = raven_dir.is_dir() and bool(
        container.annotation_store().find(raven_dir, pattern=LOWER_SELECTIONS)
    )
    classes = [species] if isinstance(species, str) else species
    report = container.label_recordings().run(
        annotation_dir=raven_dir,
        audio=[Path(audio_directory)],
        clip_duration=clip_duration,
        clip_overlap=clip_overlap,
        final_clip=final_clip,
        min_overlap=min_label_len,
        classes=classes,
        label_column=col,
        table_pattern=LOWER_SELECTIONS if has_lower else SELECTIONS,
        unlabelled_as=UNKNOWN,
        sample_rate=sample_rate,
        clips_dir=dest,
        labeled_clips_only=labeled_clips_only,
        labels_path=dest / csv_name,
        dry_run=dry_run,
    )
    for failure in report.failures:
        warnings.warn(f"{failure.source}: {failure.reason}", UserWarning, stacklevel=2)
    for table, n in report.unlabelled.items():
        warnings.warn(f"{table}: {n} boxes without a label were labelled {UNKNOWN!r}", stacklevel=2)
    for past in report.past_end:
        warnings.warn(str(past), UserWarning, stacklevel=2)
    if report.unmatched_classes:
        warnings.warn(
            f"no box is labelled {', '.join(report.unmatched_classes)} (in any case); "
            "their columns are all 0",
            UserWarning,
            stacklevel=2,
        )
    index = pd.Index([str(c.path) for c in report.clips], name="filename")
    return pd.DataFrame(report.labels.matrix, index=index, columns=list(report.labels.classes))


def _table(raven_file: str | Path, col: str) -> AnnotationSet:
    """Read one Raven table, its labels from column ``col`` (any case)."""
    store = default_container().annotation_store()
    table: AnnotationSet = store.read(Path(raven_file), label_column=col, source="table")
    return table


def _segments(
    table: AnnotationSet,
    begins: ArrayLike,
    ends: ArrayLike,
    species: str | Sequence[str] | None,
    min_label_len: float,
) -> pd.DataFrame:
    """One row per ``(begin, end)`` segment: its times and a 0/1 column per species, sorted."""
    seg_start = np.asarray(begins, dtype=np.float64).reshape(-1)
    seg_end = np.asarray(ends, dtype=np.float64).reshape(-1)
    if len(seg_start) != len(seg_end):
        raise ParameterError(
            f"starts and ends must have the same length, got {len(seg_start)} and {len(seg_end)}"
        )
    wanted = [species] if isinstance(species, str) else species
    classes = sorted(table.classes if wanted is None else wanted)
    labels = table.clip_labels(
        sources="table",
        begin_time=seg_start,
        end_time=seg_end,
        min_overlap=min_label_len,
        classes=classes,
    )
    frame = pd.DataFrame({"seg_start": seg_start, "seg_end": seg_end})
    for j, name in enumerate(labels.classes):
        frame[name] = labels.matrix[:, j].astype(np.int64)
    return frame


def split_starts_ends(
    raven_file: str | Path,
    col: str,
    starts: ArrayLike,
    ends: ArrayLike,
    species: str | Sequence[str] | None = None,
    min_label_len: float = 0,
) -> pd.DataFrame:
    """Label segments given by their start and end times from one Raven table.

    Parameters
    ----------
    raven_file
        A Raven selection table.
    col
        Its label column (any case).
    starts, ends
        Segment times in seconds [shape=(n,)].
    species
        The label columns, sorted by name; None takes every label of the table. Labels match
        exactly (case included).
    min_label_len
        Least time in seconds a box must share with a segment to label it.

    Returns
    -------
    pandas.DataFrame
        ``seg_start``, ``seg_end`` and one 0/1 column per species, one row per segment.

    Raises
    ------
    ParameterError
        If ``starts`` and ends differ in length, a segment ends before it begins, or
        ``min_label_len`` is negative.
    AnnotationFormatError
        If the table cannot be read or has no column ``col``.
    """
    return _segments(_table(raven_file, col), starts, ends, species, min_label_len)


def split_single_annotation(
    raven_file: str | Path,
    col: str,
    split_len_s: float,
    overlap_len_s: float = 0,
    total_len_s: float | None = None,
    keep_final: bool = False,
    species: str | Sequence[str] | None = None,
    min_label_len: float = 0,
) -> pd.DataFrame:
    """Label consecutive segments of ``split_len_s`` seconds from one Raven table.

    Segments start every ``split_len_s - overlap_len_s`` seconds from 0, as
    :meth:`opso.Audio.split` cuts clips, and are labelled as :func:`split_starts_ends` does.

    Parameters
    ----------
    raven_file, col
        The Raven table and its label column (any case).
    split_len_s, overlap_len_s
        Segment length and the overlap of consecutive segments, in seconds.
    total_len_s
        The recording's length in seconds; None takes the last box's end, rounded up to a
        whole second.
    keep_final
        Add one segment of ``split_len_s`` after the last full one when the full segments
        stop short of ``total_len_s`` (its ``seg_end`` may pass the end, as in OpenSoundscape
        0.4.7; match ``final_clip`` of the audio split).
    species, min_label_len
        As :func:`split_starts_ends`.

    Returns
    -------
    pandas.DataFrame
        ``seg_start``, ``seg_end`` and one 0/1 column per species; a table without boxes
        gives an empty frame with ``seg_start`` and ``seg_end`` only.

    Raises
    ------
    ParameterError
        If the lengths are not ``0 <= overlap_len_s < split_len_s`` or ``total_len_s <= 0``.
    AnnotationFormatError
        If the table cannot be read or has no column ``col``.
    """
    table = _table(raven_file, col)
    if total_len_s is not None and not total_len_s > 0:
        raise ParameterError(f"total_len_s must be > 0 seconds or None, got {total_len_s!r}")
    if len(table) == 0:
        return pd.DataFrame({"seg_start": [], "seg_end": []})
    total = math.ceil(float(table.end_time.max())) if total_len_s is None else total_len_s
    times = clip_times(total, split_len_s, overlap_len_s, final_clip=None)
    step = split_len_s - overlap_len_s
    covered = times[-1][1] if times else 0.0
    if keep_final and covered < total:
        begin = round(len(times) * step, 9)
        times.append((begin, begin + split_len_s))
    begins = [b for b, _ in times]
    ends = [e for _, e in times]
    return _segments(table, begins, ends, species, min_label_len)
