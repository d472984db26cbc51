"""The run-store contract, over the in-memory fake and the Parquet adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opso.adapters.memory import InMemoryRunStore
from opso.adapters.parquet_runs import ParquetRunStore
from opso.domain.errors import RunDirectoryError
from opso.domain.runs import Manifest, SegmentError, ShardOutput, ShardReport, plan_shards

Store = InMemoryRunStore | ParquetRunStore


@pytest.fixture(params=["memory", "parquet"])
def store(request: pytest.FixtureRequest) -> Store:
    return InMemoryRunStore() if request.param == "memory" else ParquetRunStore()


MANIFEST = Manifest(
    plan_shards([("a.wav", 30.0), ("b.wav", 5.0), ("c.wav", 50.0)], shard_duration=20, align=2.0),
    unreadable=(SegmentError("bad.wav", 0.0, 0.0, "bad.wav: not audio"),),
)


def _report(i: int, rows: int, errors: int = 0) -> ShardReport:
    return ShardReport(i, rows, errors, 1, 10.0, 100.0 + i, 101.5 + i, "host:1")


def test_run_files_round_trip(store: Store, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert store.read_fingerprint(run) is None and store.read_manifest(run) is None
    store.write_fingerprint(run, {"job": {"clip": 5.0, "classes": ["a", "b"]}, "format": 1})
    assert store.read_fingerprint(run) == {"job": {"clip": 5.0, "classes": ["a", "b"]}, "format": 1}
    store.write_errors(run, None, MANIFEST.unreadable)
    store.write_manifest(run, MANIFEST)
    back = store.read_manifest(run)
    assert back is not None
    assert back.shards == MANIFEST.shards and back.unreadable == MANIFEST.unreadable
    store.write_summary(run, {"complete": False})
    store.reset(run)
    assert store.read_fingerprint(run) is None and store.read_manifest(run) is None
    assert store.completed(run) == set()


def test_parts_and_errors_round_trip(store: Store, tmp_path: Path) -> None:
    run = tmp_path / "run"
    s0, s1, s2 = MANIFEST.shards[:3]
    bad = SegmentError("a.wav", 0.0, 20.0, "decode failed", shard=0)
    store.write_part(
        run, s0, ShardOutput({"file": ["a.wav"], "score": [0.5]}, (bad,)), _report(0, 1, 1)
    )
    store.write_part(
        run, s2, ShardOutput({"file": ["c.wav", "c.wav"], "score": [0.1, 0.2]}), _report(2, 2)
    )
    store.write_errors(run, 1, [SegmentError("a.wav", 20.0, 30.0, "worker died", shard=1)])
    store.write_errors(run, None, MANIFEST.unreadable)
    assert store.completed(run) == {0, 2}
    assert [r.shard for r in store.reports(run)] == [0, 2]
    assert store.reports(run)[1] == _report(2, 2)
    assert [(e.source, e.shard) for e in store.read_errors(run)] == [
        ("bad.wav", -1),
        ("a.wav", 0),
        ("a.wav", 1),
    ]
    parts = list(store.read_parts(run))
    assert [dict(p.columns) for p in parts] == [
        {"file": ["a.wav"], "score": [0.5]},
        {"file": ["c.wav", "c.wav"], "score": [0.1, 0.2]},
    ]
    # the failed shard succeeds later: its stale errors part goes away
    store.write_part(run, s1, ShardOutput({"file": ["a.wav"], "score": [0.9]}), _report(1, 1))
    assert [e.shard for e in store.read_errors(run)] == [-1, 0]
    out = tmp_path / "all.csv"
    assert store.export(run, out) == 4
    assert out.read_text().splitlines() == [
        "file,score",
        "a.wav,0.5",
        "a.wav,0.9",
        "c.wav,0.1",
        "c.wav,0.2",
    ]


def test_parquet_layout_and_unwritable_rows_leave_no_part(tmp_path: Path) -> None:
    store, run = ParquetRunStore(), tmp_path / "run"
    shard = MANIFEST.shards[0]
    with pytest.raises(RunDirectoryError, match="cannot be stored"):
        store.write_part(run, shard, ShardOutput({"x": [object()]}), _report(0, 1))
    assert store.completed(run) == set()
    assert not list(run.rglob("*.parquet"))
    store.write_part(run, shard, ShardOutput({"x": [1.0]}), _report(0, 1))
    assert (run / "parts" / "part-000000.parquet").is_file()
    store.write_fingerprint(run, {"a": 1})
    data = json.loads((run / "fingerprint.json").read_text())
    assert len(data["fingerprint"]) == 64 and data["settings"] == {"a": 1}
    (run / "fingerprint.json").write_text("{not json")
    with pytest.raises(RunDirectoryError, match=r"fingerprint\.json"):
        store.read_fingerprint(run)
    (run / "parts" / "part-000003.parquet").write_bytes(b"garbage")
    with pytest.raises(RunDirectoryError, match="part-000003"):
        store.reports(run)
