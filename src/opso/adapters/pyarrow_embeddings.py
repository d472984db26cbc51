"""Embedding tables as Parquet: key columns, one float32 column per feature, then ``error``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from opso.adapters.atomic import atomic_path
from opso.ports.pretrained import EmbeddingWriter

#: Feature columns are named ``<FEATURE_PREFIX><index>``.
FEATURE_PREFIX = "emb_"


class ParquetEmbeddingWriter(EmbeddingWriter):
    """Write ``file, begin_time, end_time, emb_0 ... emb_<d-1>, error`` to a Parquet file."""

    def write(
        self,
        rows: Sequence[dict[str, object]],
        vectors: NDArray[np.float32],
        path: Path,
    ) -> None:
        """Write the table atomically: ``path`` appears only when it is complete."""
        columns: dict[str, pa.Array] = {
            "file": pa.array([str(r["file"]) for r in rows], type=pa.string()),
            "begin_time": pa.array([r["begin_time"] for r in rows], type=pa.float64()),
            "end_time": pa.array([r["end_time"] for r in rows], type=pa.float64()),
        }
        for j in range(vectors.shape[1]):
            columns[f"{FEATURE_PREFIX}{j}"] = pa.array(vectors[:, j], type=pa.float32())
        columns["error"] = pa.array([str(r["error"]) for r in rows], type=pa.string())
        with atomic_path(path) as tmp:
            pq.write_table(pa.table(columns), tmp)
