"""Raven Pro selection tables (tab-separated text) as :class:`AnnotationSet`.

The reader is tolerant of what real tables look like: headers in any case, CRLF or LF line
endings, a trailing tab after the header, rows shorter or longer than the header, extra
columns, a header-only (or zero-byte) table, a UTF-8 byte-order mark or a Windows code page.
Raven's duplicate "Waveform" rows (the same selection listed once per view: same selection,
channel, times, band and label as another view's row) are dropped; a Waveform row that differs
from the other views' rows is a box of its own and is kept.

The writer produces the columns Raven Pro writes itself -- Selection, View, Channel,
Begin Time (s), End Time (s), Low Freq (Hz), High Freq (Hz) -- then the label column and any
extra columns.
"""

from __future__ import annotations

import codecs
import errno
import fnmatch
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from opso.adapters.atomic import atomic_path
from opso.domain.annotations import AnnotationSet
from opso.domain.errors import AnnotationFormatError
from opso.ports.annotation_store import DEFAULT_LABEL_COLUMNS, AnnotationStore

BEGIN = "Begin Time (s)"
END = "End Time (s)"
LOW = "Low Freq (Hz)"
HIGH = "High Freq (Hz)"
_STANDARD = ("Selection", "View", "Channel", BEGIN, END, LOW, HIGH)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _key(name: str) -> str:
    """Normalise a header for matching: lower case, runs of white space as one space."""
    return " ".join(name.lower().split())


_STANDARD_KEYS = {_key(c): c for c in _STANDARD}


def _decode(data: bytes) -> tuple[str, str]:
    """Return the text and the encoding it was read with: UTF-8 (with BOM), cp1252, latin-1."""
    for encoding in ("utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, f"annotation table not found: {path}", str(path))
    if path.is_dir():
        raise AnnotationFormatError(f"{path}: is a folder, not a selection table")
    try:
        return path.read_bytes()
    except OSError as e:
        raise AnnotationFormatError(f"{path}: cannot be read ({e})") from e


class _Table:
    """The header and cells of one table, with locations for error messages."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        lines = _LINE_BREAK.split(text)
        header = [c.strip() for c in lines[0].split("\t")] if lines else []
        while header and not header[-1]:
            header.pop()  # a trailing tab after the last column name
        self.header = [h or f"column_{i + 1}" for i, h in enumerate(header)]
        self.rows: list[list[str]] = []
        self.line_numbers: list[int] = []
        width = len(self.header)
        for line_no, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            cells = [c.strip() for c in line.split("\t")]
            while len(cells) > width and not cells[-1]:
                cells.pop()
            if len(cells) > width:  # surplus values in a ragged row: keep them, named
                for i in range(width, len(cells)):
                    self.header.append(f"column_{i + 1}")
                    for row in self.rows:
                        row.append("")
                width = len(cells)
            cells.extend([""] * (width - len(cells)))
            self.rows.append(cells)
            self.line_numbers.append(line_no)

    def find(self, name: str) -> int | None:
        key = _key(name)
        for i, h in enumerate(self.header):
            if _key(h) == key:
                return i
        return None

    def where(self, row: int, column: int) -> str:
        return (
            f"{self.path}, line {self.line_numbers[row]} (row {row + 1}), "
            f"column {self.header[column]!r}"
        )

    def column(self, index: int) -> list[str]:
        return [r[index] for r in self.rows]

    def numbers(self, index: int, *, required: bool) -> NDArray[np.float64]:
        """Parse a column as floats; empty cells are NaN unless ``required``."""
        cells = self.column(index)
        try:
            values = np.array([c if c else "nan" for c in cells], dtype=np.float64)
        except ValueError:
            values = np.empty(len(cells))
            for i, c in enumerate(cells):
                try:
                    values[i] = float(c) if c else np.nan
                except ValueError:
                    raise AnnotationFormatError(
                        f"{self.where(i, index)}: not a number: {c!r}"
                    ) from None
        bad = np.flatnonzero(np.isinf(values) | (values < 0) | (required & np.isnan(values)))
        if bad.size:
            i = int(bad[0])
            what = f"must be a non-negative number: {cells[i]!r}" if cells[i] else "missing value"
            raise AnnotationFormatError(f"{self.where(i, index)}: {what}")
        return values


class RavenAnnotationStore(AnnotationStore):
    """Read and write Raven Pro selection tables (``*.selections.txt``)."""

    def find(self, directory: Path, *, pattern: str = "*.selections.txt") -> list[Path]:
        """Return the files under ``directory`` (recursively) matching ``pattern``, any case."""
        if not directory.is_dir():
            raise FileNotFoundError(
                errno.ENOENT, f"annotation folder not found: {directory}", str(directory)
            )
        pat = pattern.lower()
        return sorted(
            p for p in directory.rglob("*") if p.is_file() and fnmatch.fnmatch(p.name.lower(), pat)
        )

    def read(
        self, path: Path, *, label_column: str | None = None, source: str | None = None
    ) -> AnnotationSet:
        """Read one selection table (see the module docstring for what is tolerated).

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        AnnotationFormatError
            If a time column is missing, a time is missing, not a number, negative or an end
            is before its begin, a frequency is not a non-negative number or a low frequency
            is above its high one (naming file, line, row and column), or the label column is
            missing (listing the columns found).
        """
        data = _read_bytes(path)
        src = str(path) if source is None else source
        text, _ = _decode(data)
        if not text.strip():
            return AnnotationSet.empty().with_source(src)
        table = _Table(path, text)
        return _parse(table, label_column).with_source(src)

    def write(self, annotations: AnnotationSet, path: Path) -> None:
        """Write a selection table Raven Pro opens (tab-separated, LF line endings).

        Selections are numbered from 1 in the set's order, in view "Spectrogram 1", channel 1.
        The frequency columns are left out when no annotation has a frequency band, and a
        missing band is an empty cell otherwise.

        Raises
        ------
        AnnotationFormatError
            If a label or extra value holds a tab or line break, or a column name clashes.
        """
        lines = _format(annotations)
        with atomic_path(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")

    def write_lowercase(self, source: Path, target: Path) -> None:
        """Write ``source`` with its text in lower case to ``target``, atomically.

        Nothing is parsed: line endings, tabs, a byte-order mark and the encoding (UTF-8,
        cp1252 or latin-1, as read) are kept; only letters change case.

        Raises
        ------
        FileNotFoundError
            If ``source`` does not exist.
        AnnotationFormatError
            If ``source`` is a folder or cannot be read.
        """
        text, encoding = _decode(_read_bytes(source))
        with atomic_path(target) as tmp:
            tmp.write_bytes(text.lower().encode(encoding))


def _parse(table: _Table, label_column: str | None) -> AnnotationSet:
    path = table.path
    found = table.header
    columns: dict[str, int] = {}
    for name in (BEGIN, END):
        i = table.find(name)
        if i is None:
            raise AnnotationFormatError(
                f"{path}, line 1: missing column {name!r}; columns found: {found}"
            )
        columns[name] = i
    candidates: Sequence[str] = DEFAULT_LABEL_COLUMNS if label_column is None else (label_column,)
    label_index = next((i for c in candidates if (i := table.find(c)) is not None), None)
    if label_index is None:
        what = (
            f"label column {label_column!r} not found"
            if label_column is not None
            else f"no label column (looked for {list(DEFAULT_LABEL_COLUMNS)}, any case)"
        )
        raise AnnotationFormatError(
            f"{path}: {what}; columns found: {found}. Name the label column to use."
        )
    begin = table.numbers(columns[BEGIN], required=True)
    end = table.numbers(columns[END], required=True)
    before = np.flatnonzero(end < begin)
    if before.size:
        i = int(before[0])
        raise AnnotationFormatError(
            f"{table.where(i, columns[END])}: end time {end[i]} is before begin time {begin[i]}"
        )
    n = len(begin)
    low = high = np.full(n, np.nan)
    low_i, high_i = table.find(LOW), table.find(HIGH)
    if low_i is not None:
        low = table.numbers(low_i, required=False)
    if high_i is not None:
        high = table.numbers(high_i, required=False)
    inverted = np.flatnonzero(high < low)
    if inverted.size and high_i is not None:
        i = int(inverted[0])
        raise AnnotationFormatError(
            f"{table.where(i, high_i)}: high frequency {high[i]} is below low frequency {low[i]}"
        )
    labels = table.column(label_index)
    keep = _without_view_duplicates(table, (begin, end, low, high), labels)
    used = {*columns.values(), label_index, low_i, high_i}
    used |= {i for i, h in enumerate(found) if _key(h) in ("selection", "view", "channel")}
    extra = {
        h: [table.rows[r][i] for r in keep]
        for i, h in enumerate(found)
        if i not in used and not (h.startswith("column_") and not any(table.column(i)))
    }
    return AnnotationSet.from_columns(
        source=str(path),
        begin_time=begin[keep],
        end_time=end[keep],
        label=[labels[r] for r in keep],
        low_f=low[keep],
        high_f=high[keep],
        extra=extra,
        label_name=found[label_index],
    )


def _without_view_duplicates(
    table: _Table, numbers: Sequence[NDArray[np.float64]], labels: list[str]
) -> list[int]:
    """Row indices to keep: drop a "Waveform" row that repeats another view's row.

    Raven lists a selection once per view; a Waveform row is a repeat when another view's
    row has the same selection, channel, times, band and label. A Waveform row that differs
    in any of them is a box of its own and is kept.
    """
    view_i, sel_i, chan_i = table.find("View"), table.find("Selection"), table.find("Channel")
    rows = range(len(table.rows))
    if view_i is None or sel_i is None:
        return list(rows)
    views, sels = table.column(view_i), table.column(sel_i)
    channels = table.column(chan_i) if chan_i is not None else [""] * len(rows)

    def key(r: int) -> tuple[object, ...]:
        values = tuple(None if np.isnan(v[r]) else float(v[r]) for v in numbers)
        return (sels[r], channels[r], *values, labels[r])

    waveform = [v.lower().startswith("waveform") for v in views]
    other_views = {key(r) for r in rows if not waveform[r]}
    return [r for r in rows if not (waveform[r] and key(r) in other_views)]


def _cell(value: object, what: str) -> str:
    text = "" if value is None else str(value)
    if "\t" in text or "\n" in text or "\r" in text:
        raise AnnotationFormatError(f"{what} {text!r} holds a tab or line break")
    return text


def _number(x: float) -> str:
    return "" if np.isnan(x) else repr(float(x))


def _format(annotations: AnnotationSet) -> list[str]:
    with_freq = len(annotations) == 0 or not (
        np.isnan(annotations.low_f).all() and np.isnan(annotations.high_f).all()
    )
    standard = list(_STANDARD if with_freq else _STANDARD[:5])
    names = [annotations.label_name, *annotations.extra]
    taken = {_key(c) for c in standard}
    for name in names:
        _cell(name, "column name")
        if not name or _key(name) in taken:
            raise AnnotationFormatError(f"column name {name!r} is empty or used twice")
        taken.add(_key(name))
    lines = ["\t".join([*standard, *names])]
    labels = annotations.labels
    extras = list(annotations.extra.values())
    for i in range(len(annotations)):
        cells = [str(i + 1), "Spectrogram 1", "1"]
        cells += [repr(float(annotations.begin_time[i])), repr(float(annotations.end_time[i]))]
        if with_freq:
            cells += [_number(annotations.low_f[i]), _number(annotations.high_f[i])]
        cells.append(_cell(labels[i], "label"))
        cells += [_cell(col[i], "value") for col in extras]
        lines.append("\t".join(cells))
    return lines
