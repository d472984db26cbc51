"""Raven tables of a detection run, from its stored rows (in-memory run store and tables)."""

from __future__ import annotations

from pathlib import Path

import pytest

from opso.adapters.memory import InMemoryAnnotationStore, InMemoryRunStore
from opso.app.files import find_audio_files
from opso.app.pretrained_runs import RunRavenTables, run_table_names
from opso.domain.errors import ParameterError, RunDirectoryError
from opso.domain.runs import Manifest, Segment, SegmentError, Shard, ShardOutput, ShardReport

RUN = Path("/runs/birdnet")
RAVEN = Path("/raven")
LONG, SHORT, BAD = "/rec/long.wav", "/rec/short.wav", "/rec/bad.wav"


def _rows(*rows: tuple[str, float, str, float]) -> dict[str, list[object]]:
    return {
        "file": [r[0] for r in rows],
        "begin_time": [r[1] for r in rows],
        "end_time": [r[1] + 3.0 for r in rows],
        "begin_datetime": [""] * len(rows),
        "scientific_name": [f"{r[2]} sp." for r in rows],
        "common_name": [r[2] for r in rows],
        "confidence": [r[3] for r in rows],
    }


def _store(*, job: str = "detect", done: tuple[int, ...] = (0, 1)) -> InMemoryRunStore:
    """A run of three shards: LONG cut in two, then SHORT with BAD (a segment that failed)."""
    store = InMemoryRunStore()
    store.write_fingerprint(RUN, {"job": {"job": job, "clock_times": False, "timezone": None}})
    shards = (
        Shard(0, (Segment(LONG, 0.0, 6.0, 9.0),)),
        Shard(1, (Segment(LONG, 6.0, 9.0, 9.0), Segment(SHORT, 0.0, 2.0, 2.0))),
        Shard(2, (Segment(BAD, 0.0, 4.0, 4.0),)),
    )
    store.write_manifest(RUN, Manifest(shards))
    parts = {
        0: ShardOutput(_rows((LONG, 0.0, "Toad", 0.9), (LONG, 0.0, "Frog", 0.5))),
        1: ShardOutput(_rows((LONG, 6.0, "Toad", 0.7))),
        2: ShardOutput(_rows((BAD, 0.0, "Toad", 0.8)), (SegmentError(BAD, 0.0, 4.0, "broken"),)),
    }
    for k in done:
        report = ShardReport(k, 1, 0, 1, 1.0, 0.0, 1.0)
        store.write_part(RUN, shards[k], parts[k], report)
    return store


def _tables(store: InMemoryRunStore, tables: InMemoryAnnotationStore) -> RunRavenTables:
    return RunRavenTables(store=store, parts=store, annotations=tables)


def test_each_readable_recording_gets_its_rows_in_window_order() -> None:
    tables = InMemoryAnnotationStore()
    report = _tables(_store(done=(0, 1, 2)), tables).run(run_dir=RUN, raven_dir=RAVEN)
    long, short = RAVEN / "long.BirdNET.selections.txt", RAVEN / "short.BirdNET.selections.txt"
    assert report.tables == [long, short] and report.failed == [BAD]
    boxes = tables.tables[long]
    assert boxes.labels == ["Toad", "Frog", "Toad"]  # best first within a window
    assert list(boxes.begin_time) == [0.0, 0.0, 6.0]
    assert list(boxes.extra["Confidence"]) == ["0.9000", "0.5000", "0.7000"]
    assert list(boxes.extra["Begin Path"]) == [LONG] * 3
    assert len(tables.tables[short]) == 0  # no detection: a table without rows


def test_an_incomplete_run_writes_no_table() -> None:
    tables = InMemoryAnnotationStore()
    with pytest.raises(RunDirectoryError, match=r"not complete \(2/3 shards\)"):
        _tables(_store(), tables).run(run_dir=RUN, raven_dir=RAVEN)
    assert tables.tables == {}


def test_a_run_without_detections_is_refused() -> None:
    with pytest.raises(ParameterError, match="detection runs"):
        _tables(_store(job="levels"), InMemoryAnnotationStore()).run(run_dir=RUN, raven_dir=RAVEN)
    with pytest.raises(RunDirectoryError, match="not a run directory"):
        _tables(InMemoryRunStore(), InMemoryAnnotationStore()).run(run_dir=RUN, raven_dir=RAVEN)


def test_names_are_those_of_the_folder_given(tmp_path: Path) -> None:
    for name in ("a/x.wav", "b/x.wav", "c.wav", "d.wav", "d.flac", "e/deep/f.WAV"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    jobs = find_audio_files([tmp_path])
    assert run_table_names([str(j.source) for j in jobs]) == {str(j.source): j.name for j in jobs}
    assert run_table_names([str(tmp_path / "a/x.wav")]) == {str(tmp_path / "a/x.wav"): "x"}
