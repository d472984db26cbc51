"""Use-cases over folders of Raven selection tables: check, lower-case, list classes, query."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from opso.domain.annotations import AnnotationSet
from opso.domain.errors import OpsoError, ParameterError
from opso.ports.annotation_store import AnnotationStore

SELECTIONS = "*.selections.txt"
LOWER_SELECTIONS = "*.selections.txt.lower"
#: Label given to boxes without one when listing classes, as the spec does.
UNKNOWN = "unknown"


def working_tables(store: AnnotationStore, directory: Path) -> list[Path]:
    """Return the lower-cased copies (``*.selections.txt.lower``) if any, else the originals.

    See ``docs/decisions/0023-raven-helpers-fall-back-to-original-tables.md``.
    """
    lower = store.find(directory, pattern=LOWER_SELECTIONS)
    return lower if lower else store.find(directory, pattern=SELECTIONS)


def corrections_csv(classes: Iterable[str]) -> str:
    """Return a ``raw,corrected`` CSV mapping each class to itself, ready to edit."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["raw", "corrected"])
    writer.writerows([c, c] for c in classes)
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class TableCheck:
    """The outcome of checking one table.

    Attributes
    ----------
    path
        The table.
    n_annotations
        Boxes read (0 if unreadable).
    unlabelled_times
        ``(begin, end)`` in seconds of each box without a label.
    label_column
        The label column used, None if the table could not be read.
    error
        Why the table could not be read, None if it could.
    """

    path: Path
    n_annotations: int
    unlabelled_times: tuple[tuple[float, float], ...] = ()
    label_column: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the table was read and every box has a label."""
        return self.error is None and not self.unlabelled_times

    def describe(self) -> str:
        """Return a one-line account of the problem (or of success)."""
        if self.error is not None:
            return f"{self.path}: {self.error}"
        if self.unlabelled_times:
            at = ", ".join(f"{b:g}-{e:g} s" for b, e in self.unlabelled_times[:5])
            more = "" if len(self.unlabelled_times) <= 5 else ", ..."
            return (
                f"{self.path}: {len(self.unlabelled_times)} of {self.n_annotations} boxes have "
                f"no label in column {self.label_column!r} (at {at}{more})"
            )
        return f"{self.path}: {self.n_annotations} boxes, all labelled"


@dataclass(frozen=True)
class CheckAnnotations:
    """Check that every box of every table in a folder has a label."""

    store: AnnotationStore

    def run(
        self, *, directory: Path, label_column: str | None = None, pattern: str = SELECTIONS
    ) -> list[TableCheck]:
        """Return one :class:`TableCheck` per table matching ``pattern`` (recursively)."""
        checks: list[TableCheck] = []
        for path in self.store.find(directory, pattern=pattern):
            try:
                found = self.store.read(path, label_column=label_column)
            except (OpsoError, OSError) as e:
                checks.append(TableCheck(path, 0, error=str(e)))
                continue
            missing = found.subset(labelled=False)
            times = tuple(zip(missing.begin_time.tolist(), missing.end_time.tolist(), strict=True))
            checks.append(TableCheck(path, len(found), times, found.label_name))
        return checks


@dataclass(frozen=True)
class LowercaseAnnotations:
    """Write a lower-cased copy of each table, named ``<table>.lower``."""

    store: AnnotationStore

    def run(
        self,
        *,
        directory: Path,
        out_dir: Path | None = None,
        labels_only: bool = False,
        label_column: str | None = None,
    ) -> list[Path]:
        """Lower-case every ``*.selections.txt`` under ``directory``.

        By default the whole text is lower-cased (headers and every cell) without parsing,
        as OpenSoundscape 0.4 does, so a table with a bad time is copied too. With
        ``labels_only`` each table is parsed and rewritten as a Raven table whose labels
        alone are lower case (headers kept, for Raven Pro); a bad table then raises.
        Copies keep the folder layout under ``out_dir`` (default: beside the originals).

        Parameters
        ----------
        directory
            Folder searched recursively for ``*.selections.txt`` (any case).
        out_dir
            Folder for the copies; None writes them beside the originals.
        labels_only
            Lower-case the labels only (see above).
        label_column
            With ``labels_only``: the label column (any case); None takes the first of
            class/species/annotation.

        Returns
        -------
        list of Path
            The files written.

        Raises
        ------
        ValueError
            If ``label_column`` is given without ``labels_only``.
        FileNotFoundError
            If ``directory`` is not a folder.
        AnnotationFormatError
            If a table cannot be read (or, with ``labels_only``, parsed); it names the file.
        """
        if label_column is not None and not labels_only:
            raise ParameterError(
                f"label_column={label_column!r} applies only with labels_only=True; "
                "the whole text is lower-cased otherwise"
            )
        written: list[Path] = []
        for path in self.store.find(directory, pattern=SELECTIONS):
            target_dir = directory if out_dir is None else out_dir
            target = target_dir / path.relative_to(directory).with_name(f"{path.name}.lower")
            if labels_only:
                found = self.store.read(path, label_column=label_column)
                self.store.write(found.lowercase(), target)
            else:
                self.store.write_lowercase(path, target)
            written.append(target)
        return written


@dataclass(frozen=True)
class ListClasses:
    """List the distinct labels of a folder's tables (the raw side of a corrections map)."""

    store: AnnotationStore

    def run(
        self, *, directory: Path, label_column: str | None = None, unlabelled: str = UNKNOWN
    ) -> list[str]:
        """Return every label in the folder's working tables, sorted.

        Boxes without a label count as ``unlabelled``.
        """
        classes: set[str] = set()
        for path in working_tables(self.store, directory):
            found = self.store.read(path, label_column=label_column)
            classes.update(found.classes)
            if found.n_unlabelled:
                classes.add(unlabelled)
        return sorted(classes)


@dataclass(frozen=True)
class QueryAnnotations:
    """Find the boxes of one class in a folder's tables."""

    store: AnnotationStore

    def run(
        self, *, directory: Path, cls: str, label_column: str | None = None
    ) -> dict[Path, AnnotationSet]:
        """Return, per table holding ``cls`` (exact match), the boxes labelled ``cls``."""
        out: dict[Path, AnnotationSet] = {}
        for path in working_tables(self.store, directory):
            found = self.store.read(path, label_column=label_column).subset(labels=[cls])
            if len(found):
                out[path] = found
        return out
