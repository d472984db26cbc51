"""Run directories on disk: Parquet parts and manifest (pyarrow), JSON fingerprint and summary."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from opso.adapters.atomic import atomic_path, write_text_atomic
from opso.domain.errors import ParameterError, RunDirectoryError
from opso.domain.runs import (
    Manifest,
    Segment,
    SegmentError,
    Shard,
    ShardOutput,
    ShardReport,
    fingerprint,
)
from opso.ports.runner import PartStore, RunStore

FINGERPRINT = "fingerprint.json"
MANIFEST = "manifest.parquet"
SUMMARY = "summary.json"
PARTS = "parts"
ERRORS = "errors"
UNREADABLE = "unreadable.parquet"
_REPORT_KEY = b"opso.shard_report"
_ERROR_SCHEMA = pa.schema(
    [
        ("shard", pa.int64()),
        ("source", pa.string()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("reason", pa.string()),
    ]
)


def part_name(shard: int) -> str:
    """Return the file name of shard ``shard``'s parts."""
    return f"part-{shard:06d}.parquet"


def _read_table(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        raise RunDirectoryError(f"{path}: unreadable run file ({e})") from e


def _write_table(table: pa.Table, path: Path) -> None:
    try:
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
    except (pa.ArrowException, TypeError, ValueError) as e:
        raise RunDirectoryError(f"{path}: could not write run file ({e})") from e


def _columns_table(columns: Mapping[str, Sequence[Any]]) -> pa.Table:
    try:
        return pa.table({name: pa.array(values) for name, values in columns.items()})
    except (pa.ArrowException, TypeError, ValueError) as e:
        raise RunDirectoryError(f"shard rows cannot be stored as Parquet columns ({e})") from e


def _errors_table(errors: Sequence[SegmentError]) -> pa.Table:
    return pa.table(
        {
            "shard": [e.shard for e in errors],
            "source": [e.source for e in errors],
            "start": [e.start for e in errors],
            "end": [e.end for e in errors],
            "reason": [e.reason for e in errors],
        },
        schema=_ERROR_SCHEMA,
    )


def _part_indices(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.startswith("part-") and name.endswith(".parquet"):
            stem = name[len("part-") : -len(".parquet")]
            if stem.isdigit():
                found.append(int(stem))
    return sorted(found)


class ParquetRunStore(RunStore, PartStore):
    """Keep a run directory as Parquet parts plus small JSON files; every write is atomic."""

    def read_fingerprint(self, run_dir: Path) -> dict[str, Any] | None:
        """Return the stored settings, or None if there is no ``fingerprint.json``."""
        path = run_dir / FINGERPRINT
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            settings = data["settings"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RunDirectoryError(f"{path}: unreadable fingerprint ({e})") from e
        if not isinstance(settings, dict):
            raise RunDirectoryError(f"{path}: 'settings' is not a mapping")
        return settings

    def write_fingerprint(self, run_dir: Path, settings: Mapping[str, Any]) -> None:
        """Write ``fingerprint.json``: the settings and their SHA-256."""
        text = json.dumps(
            {"fingerprint": fingerprint(settings), "settings": settings}, indent=2, sort_keys=True
        )
        write_text_atomic(run_dir / FINGERPRINT, text + "\n")

    def read_manifest(self, run_dir: Path) -> Manifest | None:
        """Load ``manifest.parquet`` (and the planning errors), or None if not planned yet."""
        path = run_dir / MANIFEST
        if not path.exists():
            return None
        t = _read_table(path)
        try:
            shard_ids = t.column("shard").to_pylist()
            sources = t.column("source").to_pylist()
            starts = t.column("start").to_pylist()
            ends = t.column("end").to_pylist()
            durations = t.column("duration").to_pylist()
        except KeyError as e:
            raise RunDirectoryError(f"{path}: manifest lacks a column ({e})") from e
        shards: list[Shard] = []
        segments: list[Segment] = []
        for i, src, a, b, d in zip(shard_ids, sources, starts, ends, durations, strict=True):
            if i != len(shards):
                shards.append(Shard(len(shards), tuple(segments)))
                segments = []
                if i != len(shards):
                    raise RunDirectoryError(f"{path}: shard indices are not 0, 1, 2, ...")
            segments.append(Segment(src, a, b, d))
        if segments:
            shards.append(Shard(len(shards), tuple(segments)))
        unreadable_path = run_dir / ERRORS / UNREADABLE
        unreadable: tuple[SegmentError, ...] = ()
        if unreadable_path.exists():
            unreadable = tuple(_errors_from(_read_table(unreadable_path)))
        return Manifest(tuple(shards), unreadable)

    def write_manifest(self, run_dir: Path, manifest: Manifest) -> None:
        """Write ``manifest.parquet``: one row per segment, in shard order."""
        rows = [(sh.index, s) for sh in manifest.shards for s in sh.segments]
        table = pa.table(
            {
                "shard": pa.array([i for i, _ in rows], pa.int64()),
                "source": pa.array([s.source for _, s in rows], pa.string()),
                "start": pa.array([s.start for _, s in rows], pa.float64()),
                "end": pa.array([s.end for _, s in rows], pa.float64()),
                "duration": pa.array([s.duration for _, s in rows], pa.float64()),
            }
        )
        _write_table(table, run_dir / MANIFEST)

    def write_summary(self, run_dir: Path, summary: Mapping[str, Any]) -> None:
        """Write ``summary.json``."""
        write_text_atomic(run_dir / SUMMARY, json.dumps(summary, indent=2, sort_keys=True) + "\n")

    def reset(self, run_dir: Path) -> None:
        """Delete the fingerprint, manifest, summary, ``parts/`` and ``errors/``."""
        for name in (FINGERPRINT, MANIFEST, SUMMARY):
            (run_dir / name).unlink(missing_ok=True)
        for name in (PARTS, ERRORS):
            shutil.rmtree(run_dir / name, ignore_errors=True)

    def write_part(
        self, run_dir: Path, shard: Shard, output: ShardOutput, report: ShardReport
    ) -> None:
        """Write the errors part (or drop a stale one), then the rows part with its report."""
        errors_path = run_dir / ERRORS / part_name(shard.index)
        if output.errors:
            _write_table(_errors_table(output.errors), errors_path)
        else:
            errors_path.unlink(missing_ok=True)
        table = _columns_table(output.columns)
        meta = json.dumps(
            {
                "shard": report.shard,
                "rows": report.rows,
                "errors": report.errors,
                "files": report.files,
                "audio_seconds": report.audio_seconds,
                "started": report.started,
                "finished": report.finished,
                "worker": report.worker,
            }
        )
        table = table.replace_schema_metadata({_REPORT_KEY: meta.encode("utf-8")})
        _write_table(table, run_dir / PARTS / part_name(shard.index))

    def write_errors(
        self, run_dir: Path, shard: int | None, errors: Sequence[SegmentError]
    ) -> None:
        """Write ``errors/part-NNNNNN.parquet`` (or ``errors/unreadable.parquet`` for None)."""
        name = UNREADABLE if shard is None else part_name(shard)
        _write_table(_errors_table(errors), run_dir / ERRORS / name)

    def completed(self, run_dir: Path) -> set[int]:
        """Return the shard indices that have a rows part."""
        return set(_part_indices(run_dir / PARTS))

    def reports(self, run_dir: Path) -> list[ShardReport]:
        """Read each rows part's report from its Parquet footer (no data is read)."""
        out = []
        for i in _part_indices(run_dir / PARTS):
            path = run_dir / PARTS / part_name(i)
            try:
                meta = pq.read_schema(path).metadata or {}
                data = json.loads(meta[_REPORT_KEY])
                out.append(ShardReport(**data))
            except (OSError, pa.ArrowException, KeyError, ValueError, TypeError) as e:
                raise RunDirectoryError(f"{path}: unreadable part report ({e})") from e
        return out

    def read_errors(self, run_dir: Path) -> list[SegmentError]:
        """Return the planning errors, then every shard's errors in shard order."""
        folder = run_dir / ERRORS
        out: list[SegmentError] = []
        if (folder / UNREADABLE).exists():
            out.extend(_errors_from(_read_table(folder / UNREADABLE)))
        for i in _part_indices(folder):
            out.extend(_errors_from(_read_table(folder / part_name(i))))
        return out

    def read_parts(self, run_dir: Path) -> Iterator[ShardOutput]:
        """Yield each rows part in shard order, columns as Python lists."""
        for table in self._tables(run_dir):
            yield ShardOutput({name: table.column(name).to_pylist() for name in table.column_names})

    def export(self, run_dir: Path, destination: Path) -> int:
        """Stream every rows part into one ``.csv`` or ``.parquet`` file, atomically."""
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
            writer = _CsvWriter(tmp) if suffix == ".csv" else pq.ParquetWriter(tmp, schema)
            try:
                for table in (first, *tables):
                    try:
                        table = table.replace_schema_metadata(None).cast(schema)
                    except (pa.ArrowException, ValueError) as e:
                        raise RunDirectoryError(
                            f"{run_dir}: parts have different columns, cannot export ({e})"
                        ) from e
                    writer.write_table(table)
                    n += table.num_rows
            finally:
                writer.close()
        return n

    def _tables(self, run_dir: Path) -> Iterator[pa.Table]:
        for i in _part_indices(run_dir / PARTS):
            yield _read_table(run_dir / PARTS / part_name(i))


class _CsvWriter:
    """Append tables to one CSV file through pandas (header once, floats as ``0.0``)."""

    def __init__(self, path: Path) -> None:
        self._fh = path.open("w", newline="", encoding="utf-8")
        self._header = True

    def write_table(self, table: pa.Table) -> None:
        table.to_pandas().to_csv(self._fh, header=self._header, index=False)
        self._header = False

    def close(self) -> None:
        self._fh.close()


def _errors_from(table: pa.Table) -> Iterator[SegmentError]:
    cols = {name: table.column(name).to_pylist() for name in _ERROR_SCHEMA.names}
    for shard, source, start, end, reason in zip(
        cols["shard"], cols["source"], cols["start"], cols["end"], cols["reason"], strict=True
    ):
        yield SegmentError(source, float(start), float(end), reason, int(shard))
