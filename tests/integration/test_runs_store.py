"""The run-store contract, over the in-memory fake and the Parquet adapter."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
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
    assert store.read_engines(run) == []
    engine = {"backend": "fast", "batch_size": 16, "device": "auto"}
    store.write_fingerprint(
        run, {"job": {"clip": 5.0, "classes": ["a", "b"]}, "format": 1}, engines=[engine]
    )
    assert store.read_fingerprint(run) == {"job": {"clip": 5.0, "classes": ["a", "b"]}, "format": 1}
    assert store.read_engines(run) == [engine]
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
    store.write_fingerprint(run, {"job": "test"})
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
    errors_csv = tmp_path / "errors.csv"
    assert store.export_errors(run, errors_csv) == 2
    assert errors_csv.read_text().splitlines() == [
        "shard,file,start,end,reason",
        "-1,bad.wav,0.0,0.0,bad.wav: not audio",
        "0,a.wav,0.0,20.0,decode failed",
    ]


def test_a_run_directory_has_one_holder_or_the_tasks_of_one_job_array(
    store: Store, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    with store.lock(run) as note:
        assert note is None
        with pytest.raises(RunDirectoryError, match="in use by another opso run"):
            store.lock(run).__enter__()
        with pytest.raises(RunDirectoryError, match="in use by another opso run"):
            store.lock(run, job_array=(0, 2)).__enter__()
    with store.lock(run, job_array=(0, 2)), store.lock(run, job_array=(1, 2)):
        with pytest.raises(RunDirectoryError, match=r"task 1 of 2|in use"):
            store.lock(run, job_array=(1, 2)).__enter__()
        with pytest.raises(RunDirectoryError, match="in use by another opso run"):
            store.lock(run).__enter__()
    with pytest.raises(KeyError), store.lock(run):
        raise KeyError("the run failed")
    with store.lock(run):  # released on the way out, also after an exception
        pass


def test_parquet_layout_and_unwritable_rows_leave_no_part(tmp_path: Path) -> None:
    store, run = ParquetRunStore(), tmp_path / "run"
    store.write_fingerprint(run, {"a": 1})
    shard = MANIFEST.shards[0]
    with pytest.raises(RunDirectoryError, match="cannot be stored"):
        store.write_part(run, shard, ShardOutput({"x": [object()]}), _report(0, 1))
    assert store.completed(run) == set()
    assert not list(run.rglob("*.parquet")) and not list(run.rglob("*.json"))[1:]
    store.write_part(run, shard, ShardOutput({"x": [1.0]}), _report(0, 1))
    assert (run / "parts" / "part-000000.parquet").is_file()
    record = json.loads((run / "ledger" / "shard-000000.json").read_text())
    assert record["rows"]["path"] == "parts/part-000000.parquet" and record["errors"] is None
    assert record["rows"]["size"] == (run / "parts" / "part-000000.parquet").stat().st_size
    data = json.loads((run / "fingerprint.json").read_text())
    assert len(data["fingerprint"]) == 64 and data["settings"] == {"a": 1}
    (run / "fingerprint.json").write_text("{not json")
    with pytest.raises(RunDirectoryError, match=r"fingerprint\.json"):
        store.read_fingerprint(run)
    (run / "fingerprint.json").write_text(json.dumps({**data, "settings": {"a": 2}}))
    with pytest.raises(RunDirectoryError, match="edited"):
        store.read_fingerprint(run)


def _planned(tmp_path: Path) -> tuple[ParquetRunStore, Path]:
    store, run = ParquetRunStore(), tmp_path / "run"
    store.write_fingerprint(run, {"job": "test"})
    store.write_manifest(run, MANIFEST)
    return store, run


def test_a_stray_part_is_not_counted_as_done_and_is_moved_aside_not_deleted(
    tmp_path: Path,
) -> None:
    store, run = _planned(tmp_path)
    stray = run / "parts" / "part-000000.parquet"
    stray.parent.mkdir()
    stray.write_bytes(b"a user's file")
    (run / "errors").mkdir()
    (run / "errors" / "part-000001.parquet").write_bytes(b"another user's file")
    assert store.completed(run) == set() and store.read_errors(run) == []
    assert list(store.read_parts(run)) == [] and store.reports(run) == []
    store.write_part(run, MANIFEST.shards[0], ShardOutput({"x": [1.0]}), _report(0, 1))
    assert store.completed(run) == {0}
    aside = list(run.glob("parts/part-000000.parquet.unrecorded-*"))
    assert [p.read_bytes() for p in aside] == [b"a user's file"]
    store.reset(run)  # --restart: deletes what the run wrote, keeps what it did not
    assert sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()) == [
        "errors/part-000001.parquet",
        aside[0].relative_to(run).as_posix(),
    ]


def test_a_recorded_part_that_changed_is_not_trusted(tmp_path: Path) -> None:
    store, run = _planned(tmp_path)
    store.write_part(run, MANIFEST.shards[0], ShardOutput({"x": [1.0]}), _report(0, 1))
    store.write_part(run, MANIFEST.shards[1], ShardOutput({"x": [2.0]}), _report(1, 1))
    part1 = run / "parts" / "part-000001.parquet"
    st = part1.stat()
    data = bytearray(part1.read_bytes())
    data[-20] ^= 0xFF  # same size, other bytes
    part1.write_bytes(bytes(data))
    assert store.completed(run) == {0}  # rewritten since: a resume computes it again
    os.utime(part1, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with its old time stamp
    with pytest.raises(RunDirectoryError, match=r"part-000001\.parquet: changed since the run"):
        list(store.read_parts(run))
    part1.write_bytes(b"shorter")
    assert store.completed(run) == {0}
    store.reset(run)
    assert part1.read_bytes() == b"shorter"  # not the run's file any more: kept
    assert not (run / "parts" / "part-000000.parquet").exists()


def test_a_folder_that_holds_other_files_is_not_a_run(tmp_path: Path) -> None:
    store, folder = ParquetRunStore(), tmp_path / "mine"
    (folder / "parts").mkdir(parents=True)
    (folder / "parts" / "part-000000.parquet").write_bytes(b"data")
    (folder / "notes.txt").write_text("field notes")
    with pytest.raises(RunDirectoryError, match=r"is not an opso run directory .*notes\.txt"):
        store.read_fingerprint(folder)
    store.reset(folder)
    assert (folder / "parts" / "part-000000.parquet").read_bytes() == b"data"
    assert (folder / "notes.txt").read_text() == "field notes"
    empty = tmp_path / "empty"
    (empty / "parts").mkdir(parents=True)
    assert store.read_fingerprint(empty) is None and store.read_fingerprint(tmp_path / "x") is None


def test_results_without_their_fingerprint_are_refused_not_adopted(tmp_path: Path) -> None:
    store, run = _planned(tmp_path)
    store.write_part(run, MANIFEST.shards[0], ShardOutput({"x": [1.0]}), _report(0, 1))
    (run / "fingerprint.json").unlink()
    with pytest.raises(RunDirectoryError, match=r"not that run's fingerprint\.json"):
        store.read_fingerprint(run)
    assert store.completed(run) == set()
    store.write_fingerprint(run, {"job": "other settings"})
    assert store.completed(run) == set()  # recorded under another fingerprint
    store.reset(run)
    assert not [p for p in run.rglob("*") if p.is_file()]


def test_names_that_are_not_utf8_round_trip_exactly(tmp_path: Path) -> None:
    store, run = ParquetRunStore(), tmp_path / "run"
    bad = "caf\udce9.wav"  # b"caf\xe9.wav" as os.listdir gives it
    other = "na\udcefve.wav"
    manifest = Manifest(
        plan_shards([(bad, 30.0), ("ok.wav", 5.0)], shard_duration=20, align=2.0),
        unreadable=(SegmentError(other, 0.0, 0.0, f"{other}: not audio"),),
    )
    store.write_fingerprint(run, {"job": "test"})
    store.write_errors(run, None, manifest.unreadable)
    store.write_manifest(run, manifest)
    back = store.read_manifest(run)
    assert back is not None and back.shards == manifest.shards
    assert back.unreadable == manifest.unreadable
    rows: dict[str, list[object]] = {"file": [bad, bad, "ok.wav", bad], "n": [1, 2, 3, 4]}
    errors = (SegmentError(bad, 20.0, 30.0, f"{bad}: broken", shard=0),)
    store.write_part(run, manifest.shards[0], ShardOutput(rows, errors), _report(0, 4, 1))
    assert [dict(p.columns) for p in store.read_parts(run)] == [rows]
    assert [e.source for e in store.read_errors(run)] == [other, bad]
    raw = pq.read_table(run / "parts" / "part-000000.parquet").column("file").to_pylist()
    assert raw == ["caf\\xe9.wav", "caf\\xe9.wav", "ok.wav", "caf\\xe9.wav"]
    csv_out, parquet_out = tmp_path / "rows.csv", tmp_path / "rows.parquet"
    assert store.export(run, csv_out) == 4 and store.export(run, parquet_out) == 4
    assert csv_out.read_bytes().splitlines()[1:] == [
        b"caf\xe9.wav,1",
        b"caf\xe9.wav,2",
        b"ok.wav,3",
        b"caf\xe9.wav,4",
    ]
    assert pq.read_table(parquet_out).column("file").to_pylist() == raw
    errors_out = tmp_path / "errors.csv"
    assert store.export_errors(run, errors_out) == 2
    text = errors_out.read_text(encoding="utf-8", errors="surrogateescape")
    assert f"{other}: not audio" in text and f"{bad}: broken" in text
