"""raven: the spec's utilities for folders of Raven selection tables.

Thin conveniences over the default container's :class:`~opso.ports.annotation_store.AnnotationStore`
(the Raven adapter). Tables are read tolerantly: headers in any case, the label column by
name (``col``; default: the first of ``class``, ``species``, ``annotation``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from opso.api import default_container
from opso.app.raven import LOWER_SELECTIONS, SELECTIONS, UNKNOWN, TableCheck, corrections_csv
from opso.domain.audio import FinalClip

__all__ = [
    "annotation_check",
    "generate_class_corrections",
    "lowercase_annotations",
    "query_annotations",
    "raven_audio_split_and_save",
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
