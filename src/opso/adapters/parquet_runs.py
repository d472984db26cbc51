r"""Run directories on disk: Parquet parts and manifest (pyarrow), JSON fingerprint and ledger.

The run trusts only files it recorded writing. ``fingerprint.json`` marks a folder as an opso
run; each shard's rows and errors parts are recorded (name, size, modification time, SHA-256,
the run's fingerprint and the shard's report) in ``ledger/shard-NNNNNN.json``, written
atomically once the parts are complete. A part without a record (a stray file, the part of
another run) is ignored and never deleted; when a shard's part must be written over it, it is
moved aside as ``part-NNNNNN.parquet.unrecorded-XXXXXXXX``.

Text that is not UTF-8 (the name of a file whose name is not UTF-8, as ``os.listdir`` gives it
with lone surrogates) cannot go into a Parquet string column as is: it is stored in its printable
form (:func:`~opso.domain.runs.printable`, each undecodable byte as ``\xNN``) and the part's
footer key ``opso.undecodable`` records, per column, the row ranges and their exact text, so
opso's readers (``read_run``, the CSV export, the manifest) give the exact names back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from opso.adapters.atomic import atomic_path, write_text_atomic
from opso.adapters.fcntl_lock import LOCK, SLICES, hold_run_directory
from opso.domain.errors import ParameterError, RunDirectoryError
from opso.domain.runs import (
    Manifest,
    Segment,
    SegmentError,
    Shard,
    ShardOutput,
    ShardReport,
    fingerprint,
    has_undecodable,
    printable,
)
from opso.ports.runner import PartStore, RunStore

FINGERPRINT = "fingerprint.json"
MANIFEST = "manifest.parquet"
SUMMARY = "summary.json"
PARTS = "parts"
ERRORS = "errors"
LEDGER = "ledger"
UNREADABLE = "unreadable.parquet"
_UNDECODABLE_KEY = b"opso.undecodable"
#: Schema metadata key of a Parquet export: the run's settings (as in ``fingerprint.json``), JSON.
RUN_SETTINGS_KEY = b"opso.run"
_ENTRY_KEYS = {"path", "size", "mtime_ns", "sha256"}
_ERROR_COLUMNS = ("shard", "source", "start", "end", "reason")
_ERROR_SCHEMA = pa.schema(
    [
        ("shard", pa.int64()),
        ("source", pa.string()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("reason", pa.string()),
    ]
)
_MANIFEST_SCHEMA = pa.schema(
    [
        ("shard", pa.int64()),
        ("source", pa.string()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("duration", pa.float64()),
    ]
)


def part_name(shard: int) -> str:
    """Return the file name of shard ``shard``'s parts."""
    return f"part-{shard:06d}.parquet"


def record_name(shard: int | None) -> str:
    """Return the ledger file name of shard ``shard`` (None: the files unreadable at planning)."""
    return "unreadable.json" if shard is None else f"shard-{shard:06d}.json"


# --- tables: undecodable text kept exactly ----------------------------------------------------


def _encode(columns: Mapping[str, Sequence[Any]], schema: pa.Schema | None = None) -> pa.Table:
    """Build a table; text with undecodable bytes goes in printable form, recorded in the footer."""
    arrays: dict[str, pa.Array] = {}
    exact: dict[str, list[list[Any]]] = {}
    for name, values in columns.items():
        kind = None if schema is None else schema.field(name).type
        try:
            try:
                arrays[name] = pa.array(values, kind)
            except UnicodeEncodeError:
                shown, ranges = _printable_column(values)
                arrays[name] = pa.array(shown, kind)
                exact[name] = ranges
        except (pa.ArrowException, TypeError, ValueError) as e:
            raise RunDirectoryError(
                f"shard rows cannot be stored as Parquet columns ({name}: {e})"
            ) from e
    table = pa.table(arrays)
    if exact:
        table = table.replace_schema_metadata({_UNDECODABLE_KEY: json.dumps(exact).encode("ascii")})
    return table


def _printable_column(values: Sequence[Any]) -> tuple[list[Any], list[list[Any]]]:
    """Return the column with undecodable text printable, and ``[start, stop, text]`` ranges."""
    shown: list[Any] = list(values)
    ranges: list[list[Any]] = []
    for i, value in enumerate(shown):
        if isinstance(value, str) and has_undecodable(value):
            if ranges and ranges[-1][1] == i and ranges[-1][2] == value:
                ranges[-1][1] = i + 1
            else:
                ranges.append([i, i + 1, value])
            shown[i] = printable(value)
    return shown, ranges


def _exact_ranges(table: pa.Table) -> dict[str, list[list[Any]]]:
    meta = table.schema.metadata or {}
    raw = meta.get(_UNDECODABLE_KEY)
    if raw is None:
        return {}
    ranges: dict[str, list[list[Any]]] = json.loads(raw)
    return ranges


def _decode(table: pa.Table) -> dict[str, list[Any]]:
    """Return a table's columns as lists, with the exact text of undecodable names restored."""
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    for name, ranges in _exact_ranges(table).items():
        for start, stop, value in ranges:
            columns[name][start:stop] = [value] * (stop - start)
    return columns


def _read_table(path: Path, sha256: str | None = None) -> pa.Table:
    """Read a Parquet file, checking its SHA-256 against the ledger's when given."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise RunDirectoryError(f"{path}: unreadable run file ({e})") from e
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise RunDirectoryError(
            f"{path}: changed since the run wrote it (its SHA-256 differs from the ledger's); "
            "restart the run (--restart) to compute it again"
        )
    try:
        return pq.read_table(pa.BufferReader(data))
    except (OSError, pa.ArrowException) as e:
        raise RunDirectoryError(f"{path}: unreadable run file ({e})") from e


def _write_table(table: pa.Table, path: Path) -> None:
    try:
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
    except (pa.ArrowException, TypeError, ValueError) as e:
        raise RunDirectoryError(f"{path}: could not write run file ({e})") from e


def _errors_table(errors: Sequence[SegmentError]) -> pa.Table:
    return _encode(
        {
            "shard": [e.shard for e in errors],
            "source": [e.source for e in errors],
            "start": [e.start for e in errors],
            "end": [e.end for e in errors],
            "reason": [e.reason for e in errors],
        },
        _ERROR_SCHEMA,
    )


def _errors_from(table: pa.Table) -> Iterator[SegmentError]:
    cols = _decode(table)
    for shard, source, start, end, reason in zip(
        *(cols[name] for name in _ERROR_COLUMNS), strict=True
    ):
        yield SegmentError(source, float(start), float(end), reason, int(shard))


# --- the ledger -------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _held(
    run_dir: Path, entry: Mapping[str, Any] | None, *, deep: bool = False
) -> Mapping[str, Any] | None:
    """Return the entry if the file it records is there: same size and modification time.

    ``deep`` compares size and SHA-256 instead (it reads the file): the same bytes, even if
    the file was touched since.
    """
    if entry is None:
        return None
    path = run_dir / entry["path"]
    try:
        st = path.stat()
    except OSError:
        return None
    if deep:
        return entry if st.st_size == entry["size"] and _sha256(path) == entry["sha256"] else None
    return entry if (st.st_size, st.st_mtime_ns) == (entry["size"], entry["mtime_ns"]) else None


def _read_record(path: Path) -> dict[str, Any] | None:
    """Return a ledger record, or None if it is missing or not an opso record."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("fingerprint"), str):
        return None
    for key in ("rows", "errors"):
        entry = record.get(key)
        if entry is None:
            continue
        if not (isinstance(entry, dict) and entry.keys() >= _ENTRY_KEYS):
            return None
        folder, _, name = str(entry["path"]).partition("/")
        if folder not in (PARTS, ERRORS) or not name or "/" in name or name.startswith("."):
            return None  # a record names files in parts/ and errors/ only
    return record


def _record_files(run_dir: Path) -> list[Path]:
    folder = run_dir / LEDGER
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))


def _set_aside(path: Path) -> None:
    """Move a file opso did not record out of the way of a part it is about to write."""
    with contextlib.suppress(FileNotFoundError):
        path.rename(path.with_name(f"{path.name}.unrecorded-{secrets.token_hex(4)}"))


def _is_scaffolding(entry: Path) -> bool:
    """Whether ``entry`` of a folder without a fingerprint is something a run start leaves.

    That is the lock files, empty run folders, and a fingerprint being written right now.
    """
    name = entry.name
    if name == LOCK or name.startswith(f".{FINGERPRINT}."):
        return entry.is_file()
    if name == SLICES and entry.is_dir():
        return all(p.name.endswith(".lock") for p in entry.iterdir())
    if name in (PARTS, ERRORS, LEDGER) and entry.is_dir():
        return not any(entry.iterdir())
    return False


class ParquetRunStore(RunStore, PartStore):
    """Keep a run directory as Parquet parts plus small JSON files; every write is atomic."""

    # --- run-level files ----------------------------------------------------------------------

    def lock(
        self, run_dir: Path, *, job_array: tuple[int, int] | None = None
    ) -> AbstractContextManager[str | None]:
        """Hold ``run_dir`` by a ``flock`` on ``run.lock`` (:mod:`opso.adapters.fcntl_lock`)."""
        return hold_run_directory(run_dir, job_array=job_array)

    def _fingerprint_file(self, run_dir: Path) -> dict[str, Any] | None:
        path = run_dir / FINGERPRINT
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            settings, digest = data["settings"], data["fingerprint"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RunDirectoryError(f"{path}: unreadable fingerprint ({e})") from e
        if not isinstance(settings, dict):
            raise RunDirectoryError(f"{path}: 'settings' is not a mapping")
        try:
            same = fingerprint(settings) == digest
        except ValueError:
            same = False
        if not same:
            raise RunDirectoryError(
                f"{path}: its settings do not match their SHA-256 (was it edited?); restart the "
                "run (--restart) or choose another run directory"
            )
        return dict(data)

    def _fingerprint(self, run_dir: Path) -> str | None:
        data = self._fingerprint_file(run_dir)
        return None if data is None else str(data["fingerprint"])

    def read_fingerprint(self, run_dir: Path) -> dict[str, Any] | None:
        """Return the stored settings; None for a missing, empty or just-started folder.

        Raises
        ------
        RunDirectoryError
            If ``fingerprint.json`` is unreadable or edited; if the folder has no fingerprint
            but holds files opso did not write, or parts the ledger records.
        """
        data = self._fingerprint_file(run_dir)
        if data is not None:
            settings: dict[str, Any] = data["settings"]
            return settings
        if not run_dir.is_dir():
            return None
        if any(_read_record(p) is not None for p in _record_files(run_dir)):
            raise RunDirectoryError(
                f"{run_dir} holds results an opso run recorded (in {LEDGER}/) but not that run's "
                f"{FINGERPRINT}, so opso cannot tell which settings made them; restart the run "
                "(--restart) to delete them, or choose another run directory"
            )
        foreign = sorted(e.name for e in run_dir.iterdir() if not _is_scaffolding(e))
        if foreign:
            shown = ", ".join(printable(n) for n in foreign[:3])
            more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
            raise RunDirectoryError(
                f"{run_dir} is not an opso run directory (it holds files opso did not write: "
                f"{shown}{more}); choose an empty or new folder"
            )
        return None

    def read_engines(self, run_dir: Path) -> list[dict[str, Any]]:
        """Return the engines recorded in ``fingerprint.json`` (none for a new run)."""
        data = self._fingerprint_file(run_dir)
        engines = [] if data is None else data.get("engines", [])
        return [dict(e) for e in engines if isinstance(e, dict)]

    def write_fingerprint(
        self,
        run_dir: Path,
        settings: Mapping[str, Any],
        *,
        engines: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Write ``fingerprint.json``: the settings, their SHA-256 and the engines used."""
        data = {
            "fingerprint": fingerprint(settings),
            "settings": settings,
            "engines": [dict(e) for e in engines],
        }
        write_text_atomic(run_dir / FINGERPRINT, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def read_manifest(self, run_dir: Path) -> Manifest | None:
        """Load ``manifest.parquet`` (and the planning errors), or None if not planned yet."""
        path = run_dir / MANIFEST
        if not path.exists():
            return None
        cols = _decode(_read_table(path))
        try:
            rows = zip(*(cols[name] for name in _MANIFEST_SCHEMA.names), strict=True)
        except KeyError as e:
            raise RunDirectoryError(f"{path}: manifest lacks a column ({e})") from e
        shards: list[Shard] = []
        segments: list[Segment] = []
        for i, src, a, b, d in rows:
            if i != len(shards):
                shards.append(Shard(len(shards), tuple(segments)))
                segments = []
                if i != len(shards):
                    raise RunDirectoryError(f"{path}: shard indices are not 0, 1, 2, ...")
            segments.append(Segment(src, a, b, d))
        if segments:
            shards.append(Shard(len(shards), tuple(segments)))
        unreadable = tuple(self._recorded_errors(run_dir, None))
        return Manifest(tuple(shards), unreadable)

    def write_manifest(self, run_dir: Path, manifest: Manifest) -> None:
        """Write ``manifest.parquet``: one row per segment, in shard order."""
        rows = [(sh.index, s) for sh in manifest.shards for s in sh.segments]
        table = _encode(
            {
                "shard": [i for i, _ in rows],
                "source": [s.source for _, s in rows],
                "start": [s.start for _, s in rows],
                "end": [s.end for _, s in rows],
                "duration": [s.duration for _, s in rows],
            },
            _MANIFEST_SCHEMA,
        )
        _write_table(table, run_dir / MANIFEST)

    def write_summary(self, run_dir: Path, summary: Mapping[str, Any]) -> None:
        """Write ``summary.json``."""
        write_text_atomic(run_dir / SUMMARY, json.dumps(summary, indent=2, sort_keys=True) + "\n")

    def reset(self, run_dir: Path) -> None:
        """Delete the files the ledger records, the ledger, then manifest, summary, fingerprint.

        A recorded file is deleted only while it is the file the run wrote (same size and
        SHA-256); other files, and folders that still hold any, stay. Without a fingerprint or
        a ledger the folder holds no run, and nothing is deleted.
        """
        records = _record_files(run_dir)
        if not records and not (run_dir / FINGERPRINT).exists():
            return
        for path in records:
            record = _read_record(path)
            if record is None:
                continue
            for key in ("rows", "errors"):
                entry = _held(run_dir, record.get(key), deep=True)
                if entry is not None:
                    (run_dir / entry["path"]).unlink()
            path.unlink()
        for name in (SUMMARY, MANIFEST, FINGERPRINT):  # the fingerprint last
            (run_dir / name).unlink(missing_ok=True)
        for name in (PARTS, ERRORS, LEDGER):
            with contextlib.suppress(OSError):
                (run_dir / name).rmdir()

    # --- parts --------------------------------------------------------------------------------

    def _write_recorded(
        self,
        run_dir: Path,
        shard: int | None,
        files: Mapping[str, tuple[Path, pa.Table] | None],
        report: ShardReport | None,
    ) -> None:
        """Write a shard's parts and their ledger record, so a record names complete files.

        The parts go to temporary files; the record (with their sizes and SHA-256) is written
        before they are renamed into place, so a part under its final name is either recorded
        or not the run's. An unrecorded file in the way is moved aside; a recorded part the
        new record drops (a failed shard's errors, say) is deleted.
        """
        digest = self._fingerprint(run_dir)
        if digest is None:
            raise RunDirectoryError(f"{run_dir}: no {FINGERPRINT}; parts are written into a run")
        record_path = run_dir / LEDGER / record_name(shard)
        old = _read_record(record_path) or {}
        record: dict[str, Any] = {"fingerprint": digest, "shard": shard}
        with contextlib.ExitStack() as stack:
            for key, item in files.items():
                if item is None:
                    record[key] = None
                    continue
                path, table = item
                tmp = stack.enter_context(atomic_path(path))
                try:
                    pq.write_table(table, tmp)
                except (pa.ArrowException, TypeError, ValueError) as e:
                    raise RunDirectoryError(f"{path}: could not write run file ({e})") from e
                st = tmp.stat()
                record[key] = {
                    "path": path.relative_to(run_dir).as_posix(),
                    "size": st.st_size,
                    "mtime_ns": st.st_mtime_ns,
                    "sha256": _sha256(tmp),
                }
                if path.exists() and _held(run_dir, old.get(key), deep=True) is None:
                    _set_aside(path)
            if report is not None:
                record["report"] = asdict(report)
            write_text_atomic(record_path, json.dumps(record, indent=1, sort_keys=True) + "\n")
        for key, item in files.items():
            dropped = _held(run_dir, old.get(key), deep=True) if item is None else None
            if dropped is not None:
                (run_dir / dropped["path"]).unlink()

    def write_part(
        self, run_dir: Path, shard: Shard, output: ShardOutput, report: ShardReport
    ) -> None:
        """Write the rows part and the errors part (if any), recorded in the ledger."""
        name = part_name(shard.index)
        errors = (run_dir / ERRORS / name, _errors_table(output.errors)) if output.errors else None
        files = {"rows": (run_dir / PARTS / name, _encode(output.columns)), "errors": errors}
        self._write_recorded(run_dir, shard.index, files, report)

    def write_errors(
        self, run_dir: Path, shard: int | None, errors: Sequence[SegmentError]
    ) -> None:
        """Write ``errors/part-NNNNNN.parquet`` (or ``errors/unreadable.parquet`` for None)."""
        path = run_dir / ERRORS / (UNREADABLE if shard is None else part_name(shard))
        self._write_recorded(
            run_dir, shard, {"rows": None, "errors": (path, _errors_table(errors))}, None
        )

    def _records(self, run_dir: Path) -> dict[int, dict[str, Any]]:
        """Return the ledger records of this run's shards, by shard index."""
        digest = self._fingerprint(run_dir)
        out: dict[int, dict[str, Any]] = {}
        for path in _record_files(run_dir):
            record = _read_record(path)
            if record is not None and record["fingerprint"] == digest:
                shard = record.get("shard")
                if isinstance(shard, int):
                    out[shard] = record
        return dict(sorted(out.items()))

    def _recorded_errors(self, run_dir: Path, shard: int | None) -> Iterator[SegmentError]:
        record = _read_record(run_dir / LEDGER / record_name(shard))
        if record is None or record["fingerprint"] != self._fingerprint(run_dir):
            return
        entry = _held(run_dir, record.get("errors"))
        if entry is not None:
            yield from _errors_from(_read_table(run_dir / entry["path"], entry["sha256"]))

    def completed(self, run_dir: Path) -> set[int]:
        """Return the shards whose rows part the ledger records and the folder still holds."""
        records = self._records(run_dir).items()
        return {i for i, r in records if _held(run_dir, r.get("rows")) is not None}

    def reports(self, run_dir: Path) -> list[ShardReport]:
        """Return the report recorded with each rows part, by shard index."""
        out = []
        for i, record in self._records(run_dir).items():
            if _held(run_dir, record.get("rows")) is not None:
                try:
                    out.append(ShardReport(**record["report"]))
                except (KeyError, TypeError) as e:
                    raise RunDirectoryError(
                        f"{run_dir / LEDGER / record_name(i)}: unreadable shard report ({e})"
                    ) from e
        return out

    def read_errors(self, run_dir: Path) -> list[SegmentError]:
        """Return the planning errors, then every shard's recorded errors in shard order."""
        out = list(self._recorded_errors(run_dir, None))
        for record in self._records(run_dir).values():
            entry = _held(run_dir, record.get("errors"))
            if entry is not None:
                out.extend(_errors_from(_read_table(run_dir / entry["path"], entry["sha256"])))
        return out

    def read_parts(self, run_dir: Path) -> Iterator[ShardOutput]:
        """Yield each recorded rows part in shard order, columns as Python lists."""
        for table in self._tables(run_dir):
            yield ShardOutput(_decode(table))

    def export(self, run_dir: Path, destination: Path) -> int:
        """Stream every recorded rows part into one ``.csv`` or ``.parquet`` file, atomically.

        The CSV file holds names exactly (bytes that are not UTF-8 as they are); the Parquet
        file holds them in printable form (see the module docstring), and the run's settings
        under the schema metadata key :data:`RUN_SETTINGS_KEY`.
        """
        suffix = destination.suffix.lower()
        if suffix not in {".csv", ".parquet"}:
            raise ParameterError(f"{destination}: export to a .csv or .parquet file")
        tables = (t for t in self._tables(run_dir) if t.num_rows)
        first = next(tables, None)
        n = 0
        with atomic_path(destination) as tmp:
            if first is None:
                if suffix == ".csv":
                    tmp.write_text("", encoding="utf-8")
                else:
                    pq.write_table(pa.table({}), tmp)
                return 0
            schema = first.schema.remove_metadata()
            settings = json.dumps(self.read_fingerprint(run_dir), sort_keys=True)
            writer = (
                _CsvWriter(tmp)
                if suffix == ".csv"
                else pq.ParquetWriter(
                    tmp, schema.with_metadata({RUN_SETTINGS_KEY: settings.encode("utf-8")})
                )
            )
            try:
                for table in (first, *tables):
                    try:
                        cast = table.replace_schema_metadata(None).cast(schema)
                    except (pa.ArrowException, ValueError) as e:
                        raise RunDirectoryError(
                            f"{run_dir}: parts have different columns, cannot export ({e})"
                        ) from e
                    if isinstance(writer, _CsvWriter):
                        writer.write_table(cast, _exact_ranges(table))
                    else:
                        writer.write_table(cast)
                    n += table.num_rows
            finally:
                writer.close()
        return n

    def export_errors(self, run_dir: Path, destination: Path) -> int:
        """Write the error rows to one ``.csv`` file (names exactly, as :meth:`export`)."""
        if destination.suffix.lower() != ".csv":
            raise ParameterError(f"{destination}: error rows export to a .csv file")
        errors = self.read_errors(run_dir)
        with atomic_path(destination) as tmp:
            writer = _CsvWriter(tmp)
            try:
                table = pa.table(
                    {
                        "shard": pa.array([e.shard for e in errors], pa.int64()),
                        "file": [printable(e.source) for e in errors],
                        "start": pa.array([e.start for e in errors], pa.float64()),
                        "end": pa.array([e.end for e in errors], pa.float64()),
                        "reason": [printable(e.reason) for e in errors],
                    }
                )
                exact = {
                    name: [[i, i + 1, v] for i, v in enumerate(values) if has_undecodable(v)]
                    for name, values in (
                        ("file", [e.source for e in errors]),
                        ("reason", [e.reason for e in errors]),
                    )
                }
                writer.write_table(table, exact)
            finally:
                writer.close()
        return len(errors)

    def _tables(self, run_dir: Path) -> Iterator[pa.Table]:
        for record in self._records(run_dir).values():
            entry = _held(run_dir, record.get("rows"))
            if entry is not None:
                yield _read_table(run_dir / entry["path"], entry["sha256"])


class _CsvWriter:
    """Append tables to one CSV file through pandas (header once, floats as ``0.0``).

    Text with undecodable bytes is written as those bytes (``errors="surrogateescape"``), so a
    reader with the same setting gets the exact names back.
    """

    def __init__(self, path: Path) -> None:
        self._fh = path.open("w", newline="", encoding="utf-8", errors="surrogateescape")
        self._header = True

    def write_table(self, table: pa.Table, exact: Mapping[str, list[list[Any]]]) -> None:
        df = table.to_pandas()
        for name, ranges in exact.items():
            values = table.column(name).to_pylist()
            for start, stop, value in ranges:
                values[start:stop] = [value] * (stop - start)
            df[name] = pd.Series(values, index=df.index, dtype=object)
        df.to_csv(self._fh, header=self._header, index=False)
        self._header = False

    def close(self) -> None:
        self._fh.close()
