"""LabelRecordings and the Raven use-cases over in-memory adapters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from opso.adapters.memory import InMemoryAnnotationStore, InMemoryAudioIO
from opso.app.files import AudioJob
from opso.app.label import LabelRecordings, pair_recordings, recording_key
from opso.app.raven import (
    CheckAnnotations,
    ListClasses,
    LowercaseAnnotations,
    QueryAnnotations,
    corrections_csv,
)
from opso.domain.annotations import AnnotationSet
from opso.domain.audio import Audio
from opso.domain.errors import AnnotationFormatError


@dataclass
class RecordingTables:
    written: dict[Path, tuple[list[str], list[dict[str, object]]]] = field(default_factory=dict)

    def write(
        self, rows: Sequence[Mapping[str, object]], path: Path, *, columns: Sequence[str]
    ) -> None:
        self.written[path] = (list(columns), [dict(r) for r in rows])


SR = 100


def _setup(
    tmp_path: Path,
) -> tuple[LabelRecordings, InMemoryAudioIO, InMemoryAnnotationStore, RecordingTables]:
    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    io = InMemoryAudioIO()
    for name, seconds in (("site1", 12.0), ("site2", 10.0), ("lonely", 5.0)):
        path = audio_dir / f"{name}.wav"
        path.touch()  # the file finder walks the disk; the samples live in memory
        io.files[path] = Audio(np.zeros(int(seconds * SR), dtype=np.float32), SR)
    store = InMemoryAnnotationStore()
    ann = tmp_path / "ann"
    store.write(
        AnnotationSet.from_columns(
            source="x",
            begin_time=[0.5, 4.0, 6.0, 11.0],
            end_time=[1.0, 11.5, 6.2, 11.5],
            label=["WOTH", "EATO", None, "WOTH"],
            label_name="Species",
        ),
        ann / "site1.Table.1.selections.txt",
    )
    store.write(
        AnnotationSet.from_columns(source="x", begin_time=[7.0], end_time=[9.0], label=["NOCA"]),
        ann / "site2.Table.1.selections.txt",
    )
    store.write(AnnotationSet.empty(), ann / "orphan.Table.1.selections.txt")
    tables = RecordingTables()
    return LabelRecordings(io, io, store, tables), io, store, tables


def test_labels_every_clip_without_writing_audio(tmp_path: Path) -> None:
    uc, io, _, tables = _setup(tmp_path)
    n_files = len(io.files)
    report = uc.run(
        annotation_dir=tmp_path / "ann",
        audio=[tmp_path / "audio"],
        clip_duration=5.0,
        labels_path=tmp_path / "labels.csv",
    )
    assert [p.audio.name for p in report.pairs] == ["site1.wav", "site2.wav"]
    assert [p.name for p in report.unmatched_audio] == ["lonely.wav"]
    assert [p.name for p in report.unmatched_tables] == ["orphan.Table.1.selections.txt"]
    assert report.unlabelled == {tmp_path / "ann" / "site1.Table.1.selections.txt": 1}
    assert report.labels.classes == ("EATO", "NOCA", "WOTH")
    assert [(c.source.name, c.begin_time, c.end_time) for c in report.clips] == [
        ("site1.wav", 0.0, 5.0),
        ("site1.wav", 5.0, 10.0),
        ("site2.wav", 0.0, 5.0),
        ("site2.wav", 5.0, 10.0),
    ]
    # the 4-11.5 s EATO box spans the whole 5-10 s clip
    assert report.labels.matrix.tolist() == [[1, 0, 1], [1, 0, 0], [0, 0, 0], [0, 1, 0]]
    columns, rows = tables.written[tmp_path / "labels.csv"]
    assert columns == ["source", "begin_time", "end_time", "EATO", "NOCA", "WOTH"]
    assert rows[0] == {
        "source": str(tmp_path / "audio" / "site1.wav"),
        "begin_time": 0.0,
        "end_time": 5.0,
        "EATO": 1,
        "NOCA": 0,
        "WOTH": 1,
    }
    assert len(io.files) == n_files  # no clip written


@pytest.mark.parametrize("save_clips", [False, True])
def test_boxes_past_the_end_of_the_recording_are_reported(tmp_path: Path, save_clips: bool) -> None:
    uc, _, store, _ = _setup(tmp_path)
    table = tmp_path / "ann" / "site2.Table.1.selections.txt"
    store.write(  # site2 lasts 10 s: the last four boxes begin at or after its end
        AnnotationSet.from_columns(
            source="x",
            begin_time=[7.0, 9.5, 10.0, 15.0, 20.0, 30.0],
            end_time=[9.0, 12.0, 11.0, 16.0, 21.0, 31.0],
            label=["NOCA", "WOTH", "EATO", None, "NOCA", "NOCA"],
        ),
        table,
    )
    report = uc.run(
        annotation_dir=tmp_path / "ann",
        audio=[tmp_path / "audio"],
        clip_duration=5.0,
        clips_dir=tmp_path / "clips" if save_clips else None,
    )
    assert len(report.past_end) == 1  # site1's boxes all begin within its 12 s
    past = report.past_end[0]
    assert (past.table, past.recording.name, past.duration) == (table, "site2.wav", 10.0)
    assert past.boxes.begin_time.tolist() == [10.0, 15.0, 20.0, 30.0]
    assert str(past) == (
        f"{table}: 4 box(es) begin after the end of {tmp_path / 'audio' / 'site2.wav'} "
        "(10.000 s), so no clip holds them: 'EATO' at 10-11 s, unlabelled at 15-16 s, "
        "'NOCA' at 20-21 s and 1 more"
    )


def test_saves_labelled_clips_only_with_options(tmp_path: Path) -> None:
    uc, io, _, tables = _setup(tmp_path)
    clips = tmp_path / "clips"
    report = uc.run(
        annotation_dir=tmp_path / "ann",
        audio=[tmp_path / "audio"],
        clip_duration=5.0,
        final_clip="remainder",
        min_overlap=0.4,
        classes=["WOTH", "NOCA"],
        unlabelled_as="unknown",
        clips_dir=clips,
        labeled_clips_only=True,
        labels_path=tmp_path / "labels.csv",
    )
    # site1: 0-5 (WOTH 0.5 s), 5-10 (nothing wanted), 10-12 (WOTH 0.5 s); site2: 5-10 (NOCA)
    assert [(c.source.name, c.begin_time, c.end_time) for c in report.clips] == [
        ("site1.wav", 0.0, 5.0),
        ("site1.wav", 10.0, 12.0),
        ("site2.wav", 5.0, 10.0),
    ]
    assert report.labels.matrix.tolist() == [[1, 0], [1, 0], [0, 1]]
    written = sorted(p.name for p in io.files if p.parent == clips)
    assert written == ["site1_0s_5s.wav", "site1_10s_12s.wav", "site2_5s_10s.wav"]
    assert io.files[clips / "site1_10s_12s.wav"].duration() == pytest.approx(2.0)
    columns, rows = tables.written[tmp_path / "labels.csv"]
    assert columns == ["clip", "source", "begin_time", "end_time", "WOTH", "NOCA"]
    assert [r["clip"] for r in rows] == written


def test_classes_match_labels_ignoring_case(tmp_path: Path) -> None:
    uc, _, store, tables = _setup(tmp_path)
    store.write(  # site2's boxes now say "noca" and "Woth"
        AnnotationSet.from_columns(
            source="x", begin_time=[7.0, 1.0], end_time=[9.0, 2.0], label=["noca", "Woth"]
        ),
        tmp_path / "ann" / "site2.Table.1.selections.txt",
    )
    report = uc.run(
        annotation_dir=tmp_path / "ann",
        audio=[tmp_path / "audio"],
        clip_duration=5.0,
        classes=["woth", "NOCA", "BCCH"],
        labels_path=tmp_path / "labels.csv",
    )
    assert report.labels.classes == ("woth", "NOCA", "BCCH")  # the user's spelling
    assert report.labels.matrix.tolist() == [[1, 0, 0], [0, 0, 0], [1, 0, 0], [0, 1, 0]]
    assert report.unmatched_classes == ["BCCH"]
    columns, _ = tables.written[tmp_path / "labels.csv"]
    assert columns == ["source", "begin_time", "end_time", "woth", "NOCA", "BCCH"]
    with pytest.raises(ValueError, match="repeats a name \\(ignoring case\\): 'WOTH' and 'woth'"):
        uc.run(
            annotation_dir=tmp_path / "ann",
            audio=[tmp_path / "audio"],
            clip_duration=5.0,
            classes=["WOTH", "woth"],
        )
    every = uc.run(annotation_dir=tmp_path / "ann", audio=[tmp_path / "audio"], clip_duration=5.0)
    assert every.labels.classes == ("EATO", "WOTH", "Woth", "noca")  # as found, exactly
    assert every.unmatched_classes == []


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    uc, io, _, tables = _setup(tmp_path)
    n_files = len(io.files)
    report = uc.run(
        annotation_dir=tmp_path / "ann",
        audio=[tmp_path / "audio"],
        clip_duration=5.0,
        clips_dir=tmp_path / "clips",
        labels_path=tmp_path / "labels.csv",
        dry_run=True,
    )
    assert len(report.clips) == 4
    assert report.clips[0].path == tmp_path / "clips" / "site1_0s_5s.wav"
    assert len(io.files) == n_files and not tables.written


def test_bad_table_is_reported_and_others_still_run(tmp_path: Path) -> None:
    uc, _, _, _ = _setup(tmp_path)
    report = uc.run(
        annotation_dir=tmp_path / "ann",
        audio=[tmp_path / "audio"],
        clip_duration=5.0,
        label_column="call_type",
    )
    assert len(report.failures) == 2
    assert "call_type" in report.failures[0].reason
    assert report.clips == []


def test_invalid_settings_fail_before_any_work(tmp_path: Path) -> None:
    uc, _, _, _ = _setup(tmp_path)
    with pytest.raises(ValueError, match="clip_overlap"):
        uc.run(annotation_dir=tmp_path, audio=[tmp_path], clip_duration=5.0, clip_overlap=5.0)
    with pytest.raises(ValueError, match="min_overlap"):
        uc.run(annotation_dir=tmp_path, audio=[tmp_path], clip_duration=5.0, min_overlap=-1)
    with pytest.raises(ValueError, match="clash"):
        uc.run(
            annotation_dir=tmp_path / "ann",
            audio=[tmp_path / "audio"],
            clip_duration=5.0,
            classes=["source"],
        )


def test_pairing_by_name_before_the_first_dot(tmp_path: Path) -> None:
    assert recording_key(Path("a/site1.Table.1.selections.txt")) == "site1"
    jobs = [AudioJob(Path("x/site1.wav"), "site1"), AudioJob(Path("y/site1.flac"), "site1")]
    with pytest.raises(ValueError, match="two recordings share the name 'site1'"):
        pair_recordings(jobs, [])


def test_raven_use_cases(tmp_path: Path) -> None:
    store = InMemoryAnnotationStore()
    d = tmp_path / "tables"
    store.write(
        AnnotationSet.from_columns(
            source="x", begin_time=[0, 1, 2], end_time=[1, 2, 3], label=["WOTH", None, "Eato"]
        ),
        d / "a.Table.1.selections.txt",
    )
    store.write(
        AnnotationSet.from_columns(source="x", begin_time=[5], end_time=[6], label=["woth"]),
        d / "sub" / "b.Table.1.selections.txt",
    )
    checks = CheckAnnotations(store).run(directory=d)
    assert [c.ok for c in checks] == [False, True]
    assert checks[0].unlabelled_times == ((1.0, 2.0),)
    assert "1 of 3 boxes have no label" in checks[0].describe()
    bad = CheckAnnotations(store).run(directory=d, label_column="nope")
    assert all(c.error is not None for c in bad)

    assert ListClasses(store).run(directory=d) == ["Eato", "WOTH", "unknown", "woth"]
    written = LowercaseAnnotations(store).run(directory=d, out_dir=tmp_path / "low")
    assert written == [
        tmp_path / "low" / "a.Table.1.selections.txt.lower",
        tmp_path / "low" / "sub" / "b.Table.1.selections.txt.lower",
    ]
    # with .lower copies present (here beside the originals), the helpers read those
    LowercaseAnnotations(store).run(directory=d)
    assert ListClasses(store).run(directory=d) == ["eato", "unknown", "woth"]
    found = QueryAnnotations(store).run(directory=d, cls="woth")
    assert {p.name: len(s) for p, s in found.items()} == {
        "a.Table.1.selections.txt.lower": 1,
        "b.Table.1.selections.txt.lower": 1,
    }
    assert corrections_csv(["a,b", "c"]) == 'raw,corrected\n"a,b","a,b"\nc,c\n'
    with pytest.raises(AnnotationFormatError):
        LowercaseAnnotations(store).run(directory=d, labels_only=True, label_column="nope")
    with pytest.raises(ValueError, match="applies only with labels_only=True"):
        LowercaseAnnotations(store).run(directory=d, label_column="species")


def test_lowercase_copies_whole_text_or_labels_only(tmp_path: Path) -> None:
    store = InMemoryAnnotationStore()
    table = tmp_path / "a.Table.1.selections.txt"
    store.write(
        AnnotationSet.from_columns(
            source="x",
            begin_time=[0, 1],
            end_time=[1, 2],
            label=["WOTH", "Eato"],
            extra={"Notes": ["Near", "FAR"]},
            label_name="Species",
        ),
        table,
    )
    copy = tmp_path / "a.Table.1.selections.txt.lower"
    assert LowercaseAnnotations(store).run(directory=tmp_path) == [copy]
    text = store.read(copy)
    assert (text.label_name, text.labels) == ("species", ["woth", "eato"])
    assert {k: v.tolist() for k, v in text.extra.items()} == {"notes": ["near", "far"]}

    LowercaseAnnotations(store).run(directory=tmp_path, labels_only=True)
    labels = store.read(copy)
    assert (labels.label_name, labels.labels) == ("Species", ["woth", "eato"])
    assert {k: v.tolist() for k, v in labels.extra.items()} == {"Notes": ["Near", "FAR"]}
