"""Head files (``head.opso``): numpy arrays and a JSON record in a zip (``.npz``), no pickle.

Members: ``opso_head`` (the JSON record: format tag and version, kind, classes, the base
model and windows of its embeddings, held-out metrics), ``sha256`` (digest of the record and
every array), ``mean``, ``scale`` and ``w0, b0[, w1, b1]``. Loading uses
``numpy.load(allow_pickle=False)``: nothing in the file can run code.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from opso.adapters.atomic import atomic_path
from opso.domain.errors import ModelFileError, ParameterError
from opso.domain.heads import (
    HEAD_FORMAT,
    HEAD_FORMAT_VERSION,
    HEAD_KINDS,
    ClassMetrics,
    EmbeddingSettings,
    Head,
)
from opso.ports.heads import HeadStore

#: Name of the JSON record inside a head file (a zip of ``.npy`` members).
RECORD = "opso_head"


def _digest(record: str, arrays: Mapping[str, NDArray[Any]]) -> str:
    h = hashlib.sha256(record.encode("utf-8"))
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


class NpzHeadStore(HeadStore):
    """Save and load :class:`Head` objects as ``.npz`` files with a JSON record."""

    def save(self, head: Head, path: Path) -> Path:
        """Write ``head`` to ``path`` atomically."""
        record = json.dumps(
            {
                "format": HEAD_FORMAT,
                "format_version": HEAD_FORMAT_VERSION,
                "kind": head.kind,
                "classes": list(head.classes),
                "embeddings": head.settings.to_dict(),
                "metrics": [m.to_dict() for m in head.metrics],
            }
        )
        arrays: dict[str, NDArray[Any]] = {"mean": head.mean, "scale": head.scale}
        for i, (weights, bias) in enumerate(head.layers):
            arrays[f"w{i}"] = weights
            arrays[f"b{i}"] = bias
        members = {
            **arrays,
            RECORD: np.array(record),
            "sha256": np.array(_digest(record, arrays)),
        }
        with atomic_path(path) as tmp, tmp.open("wb") as f:
            np.savez(f, **members)  # type: ignore[arg-type]
        return path

    def is_head(self, path: Path) -> bool:
        """Whether ``path`` is a zip holding a head record."""
        try:
            if not path.is_file() or not zipfile.is_zipfile(path):
                return False
            with zipfile.ZipFile(path) as z:
                return f"{RECORD}.npy" in z.namelist()
        except (OSError, zipfile.BadZipFile):
            return False

    def load(self, path: Path) -> Head:
        """Read a head file; every failure is a :class:`ModelFileError` naming it."""
        if not path.is_file():
            raise ModelFileError(f"{path}: head file not found")
        try:
            with np.load(path, allow_pickle=False) as data:
                members = {name: np.asarray(data[name]) for name in data.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
            raise ModelFileError(f"{path}: not a readable head file ({e})") from e
        if RECORD not in members or "sha256" not in members:
            raise ModelFileError(f"{path}: not an opso head (no '{RECORD}' record)")
        record = str(members.pop(RECORD))
        digest = str(members.pop("sha256"))
        try:
            data = json.loads(record)
        except json.JSONDecodeError as e:
            raise ModelFileError(f"{path}: unreadable head record ({e})") from e
        if not isinstance(data, dict) or data.get("format") != HEAD_FORMAT:
            raise ModelFileError(f"{path}: not an opso head (no '{HEAD_FORMAT}' format tag)")
        version = data.get("format_version")
        if not isinstance(version, int) or version > HEAD_FORMAT_VERSION:
            raise ModelFileError(
                f"{path}: head format_version {version!r} is newer than this opso's "
                f"({HEAD_FORMAT_VERSION}); upgrade opso"
            )
        if digest != _digest(record, members):
            raise ModelFileError(
                f"{path}: checksum mismatch: the head file was modified or corrupted after saving"
            )
        try:
            kind = data.get("kind")
            if kind not in HEAD_KINDS:
                raise ParameterError(f"unknown head kind {kind!r}")
            n_layers = 1 if kind == "logistic" else 2
            return Head(
                kind=kind,
                classes=tuple(str(c) for c in data.get("classes", [])),
                mean=members["mean"].astype(np.float32),
                scale=members["scale"].astype(np.float32),
                layers=tuple(
                    (members[f"w{i}"].astype(np.float32), members[f"b{i}"].astype(np.float32))
                    for i in range(n_layers)
                ),
                settings=EmbeddingSettings.from_dict(data.get("embeddings") or {}),
                metrics=tuple(ClassMetrics.from_dict(m) for m in data.get("metrics", [])),
            )
        except (ParameterError, KeyError, TypeError, AttributeError) as e:
            raise ModelFileError(f"{path}: invalid head ({e})") from e
