"""Embedding tables as Parquet: key columns, one float32 column per feature, then ``error``.

The model and windows that made the table are stored as JSON in the Parquet schema's
metadata under :data:`SETTINGS_KEY`. The Parquet export of an embedding run (``opso embed
--run-dir``) records them in the run's settings instead (``embeddings`` of its job).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from opso.adapters.atomic import atomic_path
from opso.adapters.parquet_runs import RUN_SETTINGS_KEY
from opso.domain.errors import ParameterError, TableReadError
from opso.domain.heads import EmbeddingSettings, EmbeddingTable
from opso.domain.recording_info import BEGIN_DATETIME
from opso.ports.heads import EmbeddingReader
from opso.ports.pretrained import EmbeddingWriter

#: Feature columns are named ``<FEATURE_PREFIX><index>``.
FEATURE_PREFIX = "emb_"
#: Schema metadata key of the JSON :class:`EmbeddingSettings`.
SETTINGS_KEY = b"opso.embeddings"
_FEATURE = re.compile(rf"{FEATURE_PREFIX}(\d+)")


class ParquetEmbeddingWriter(EmbeddingWriter):
    """Write ``file, begin_time, end_time, emb_0 ... emb_<d-1>, error`` to a Parquet file.

    Rows with a ``begin_datetime`` (the moment the window begins) give that column after
    ``end_time``; "" where a recording's start is unknown.
    """

    def write(
        self,
        rows: Sequence[dict[str, object]],
        vectors: NDArray[np.float32],
        path: Path,
        *,
        settings: EmbeddingSettings | None = None,
    ) -> None:
        """Write the table atomically: ``path`` appears only when it is complete."""
        columns: dict[str, pa.Array] = {
            "file": pa.array([str(r["file"]) for r in rows], type=pa.string()),
            "begin_time": pa.array([r["begin_time"] for r in rows], type=pa.float64()),
            "end_time": pa.array([r["end_time"] for r in rows], type=pa.float64()),
        }
        if any(BEGIN_DATETIME in r for r in rows):
            moments = [str(r.get(BEGIN_DATETIME, "")) for r in rows]
            columns[BEGIN_DATETIME] = pa.array(moments, type=pa.string())
        for j in range(vectors.shape[1]):
            columns[f"{FEATURE_PREFIX}{j}"] = pa.array(vectors[:, j], type=pa.float32())
        columns["error"] = pa.array([str(r["error"]) for r in rows], type=pa.string())
        table = pa.table(columns)
        if settings is not None:
            table = table.replace_schema_metadata(
                {SETTINGS_KEY: json.dumps(settings.to_dict()).encode("utf-8")}
            )
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)


class ParquetEmbeddingReader(EmbeddingReader):
    """Read a table :class:`ParquetEmbeddingWriter` wrote (or any with the same columns)."""

    def read(self, path: Path) -> EmbeddingTable:
        """Read the embedded windows of ``path``; rows with an error are left out."""
        if not path.is_file():
            raise TableReadError(f"{path}: embeddings table not found")
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as e:
            raise TableReadError(f"{path}: not a readable Parquet table ({e})") from e
        names = table.column_names
        missing = [c for c in ("file", "begin_time", "end_time") if c not in names]
        features = sorted(
            (int(m.group(1)), name) for name in names if (m := _FEATURE.fullmatch(name))
        )
        if missing or not features:
            lacks = missing + ([] if features else [f"{FEATURE_PREFIX}0 ..."])
            raise TableReadError(
                f"{path}: not an embeddings table (no column {', '.join(lacks)}; "
                "make one with `opso embed`)"
            )
        if [i for i, _ in features] != list(range(len(features))):
            raise TableReadError(
                f"{path}: feature columns must be {FEATURE_PREFIX}0 ... "
                f"{FEATURE_PREFIX}{len(features) - 1} without gaps"
            )
        settings = _settings(path, table.schema.metadata or {})
        if settings is not None and settings.dimension != len(features):
            raise TableReadError(
                f"{path}: {len(features)} feature columns, but its record says "
                f"{settings.model.name} gives {settings.dimension}"
            )
        try:
            files = [str(f) for f in table.column("file").to_pylist()]
            begin = np.asarray(table.column("begin_time").to_numpy(), dtype=np.float64)
            end = np.asarray(table.column("end_time").to_numpy(), dtype=np.float64)
            vectors = np.column_stack(
                [
                    np.asarray(table.column(name).to_numpy(), dtype=np.float32)
                    for _, name in features
                ]
            )
        except (pa.ArrowException, TypeError, ValueError) as e:
            raise TableReadError(f"{path}: columns of the wrong type ({e})") from e
        errors = (
            [str(e or "") for e in table.column("error").to_pylist()]
            if "error" in names
            else [""] * len(files)
        )
        keep = np.array([not e for e in errors], dtype=bool)
        keep &= np.isfinite(begin) & np.isfinite(end) & np.isfinite(vectors).all(axis=1)
        return EmbeddingTable(
            files=tuple(f for f, k in zip(files, keep, strict=True) if k),
            begin=begin[keep],
            end=end[keep],
            vectors=vectors[keep],
            settings=settings,
        )


def _settings(path: Path, metadata: dict[bytes, bytes]) -> EmbeddingSettings | None:
    raw = metadata.get(SETTINGS_KEY)
    run = metadata.get(RUN_SETTINGS_KEY)
    try:
        if raw is not None:
            return EmbeddingSettings.from_dict(json.loads(raw.decode("utf-8")))
        if run is not None:
            job = json.loads(run.decode("utf-8"))["job"]
            if job.get("job") == "embed":  # the export of an embedding run
                return EmbeddingSettings.from_dict(job["embeddings"])
    except (
        UnicodeDecodeError,
        json.JSONDecodeError,
        ParameterError,
        AttributeError,
        KeyError,
        TypeError,
    ) as e:
        raise TableReadError(f"{path}: unreadable embeddings record ({e})") from e
    return None
