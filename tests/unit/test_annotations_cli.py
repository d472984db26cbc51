"""``opso raven ...`` and ``opso label`` through CliRunner, over in-memory adapters."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from opso.adapters.memory import InMemoryAnnotationStore, InMemoryAudioIO
from opso.cli import main
from opso.container import Container
from opso.domain.annotations import AnnotationSet
from opso.domain.audio import Audio


def _container(tmp_path: Path) -> tuple[Container, InMemoryAnnotationStore, InMemoryAudioIO]:
    store = InMemoryAnnotationStore()
    store.write(
        AnnotationSet.from_columns(
            source="x",
            begin_time=[0.5, 3.0, 8.0],
            end_time=[1.5, 4.0, 9.0],
            label=["WOTH", None, "EATO"],
            low_f=[1000, 1000, 2000],
            high_f=[3000, 3000, 4000],
        ),
        tmp_path / "ann" / "rec.Table.1.selections.txt",
    )
    io = InMemoryAudioIO()
    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    (audio_dir / "rec.wav").touch()
    io.files[audio_dir / "rec.wav"] = Audio(np.zeros(1000, dtype=np.float32), 100)
    c = Container()
    c.annotation_store.override(store)
    c.audio_io.override(io)
    return c, store, io


def test_raven_check_reports_unlabelled_boxes(tmp_path: Path) -> None:
    c, _, _ = _container(tmp_path)
    result = CliRunner().invoke(main, ["raven", "check", str(tmp_path / "ann")], obj=c)
    assert result.exit_code == 1
    assert "1 of 3 boxes have no label" in result.output
    assert "1 tables, 1 with problems" in result.output
    other = CliRunner().invoke(
        main, ["raven", "check", str(tmp_path / "ann"), "--pattern", "*.csv"], obj=c
    )
    assert other.exit_code == 0 and "0 tables, 0 with problems" in other.output


def test_raven_corrections_query_and_lowercase(tmp_path: Path) -> None:
    c, store, _ = _container(tmp_path)
    runner = CliRunner()
    ann = str(tmp_path / "ann")
    out = runner.invoke(main, ["raven", "corrections", ann], obj=c)
    assert out.exit_code == 0, out.output
    assert out.output == "raw,corrected\nEATO,EATO\nWOTH,WOTH\nunknown,unknown\n"
    target = tmp_path / "corr.csv"
    saved = runner.invoke(main, ["raven", "corrections", ann, "-o", str(target)], obj=c)
    assert saved.exit_code == 0 and target.read_text() == out.output

    q = runner.invoke(main, ["raven", "query", ann, "EATO"], obj=c)
    assert q.exit_code == 0, q.output
    rows = list(csv.DictReader(io.StringIO(q.stdout)))
    assert [
        (r["begin_time"], r["end_time"], r["low_freq"], r["high_freq"], r["label"]) for r in rows
    ] == [("8.000", "9.000", "2000", "4000", "EATO")]
    assert rows[0]["file"].endswith("rec.Table.1.selections.txt")
    assert "1 boxes labelled 'EATO' in 1 tables" in q.stderr
    saved_q = runner.invoke(
        main, ["raven", "query", ann, "EATO", "-o", str(tmp_path / "q.csv")], obj=c
    )
    assert saved_q.exit_code == 0 and (tmp_path / "q.csv").read_text() == q.stdout

    low = runner.invoke(main, ["raven", "lowercase", ann], obj=c)
    assert low.exit_code == 0, low.output
    copy = tmp_path / "ann" / "rec.Table.1.selections.txt.lower"
    assert store.tables[copy].classes == ("eato", "woth")
    q2 = runner.invoke(main, ["raven", "query", ann, "EATO"], obj=c)
    assert "0 boxes" in q2.output  # the .lower copies are read now


def test_raven_lowercase_whole_text_or_labels_only(tmp_path: Path) -> None:
    c, store, _ = _container(tmp_path)
    runner = CliRunner()
    ann = str(tmp_path / "ann")
    copy = tmp_path / "ann" / "rec.Table.1.selections.txt.lower"
    low = runner.invoke(main, ["raven", "lowercase", ann], obj=c)
    assert low.exit_code == 0, low.output
    assert store.tables[copy].label_name == "annotation"  # headers too, as 0.4
    kept = runner.invoke(
        main, ["raven", "lowercase", ann, "--labels-only", "--label-column", "annotation"], obj=c
    )
    assert kept.exit_code == 0, kept.output
    assert store.tables[copy].label_name == "Annotation"
    assert store.tables[copy].classes == ("eato", "woth")
    misuse = runner.invoke(main, ["raven", "lowercase", ann, "--label-column", "x"], obj=c)
    assert misuse.exit_code == 2 and "--label-column needs --labels-only" in misuse.output


def test_label_command_writes_table(tmp_path: Path) -> None:
    c, _, io = _container(tmp_path)
    out = tmp_path / "labels.csv"
    args = [
        "label",
        "--annotations",
        str(tmp_path / "ann"),
        "--audio",
        str(tmp_path / "audio"),
        "--clip-duration",
        "5",
        "--classes",
        "WOTH,EATO,NOCA",
        "--save-clips",
        str(tmp_path / "clips"),
        "-o",
        str(out),
    ]
    result = CliRunner().invoke(main, args, obj=c)
    assert result.exit_code == 0, result.output
    assert "2 clips from 1 recording(s); clips per class: WOTH=1, EATO=1, NOCA=0" in result.output
    assert "1 boxes without a label were left out" in result.output
    assert "warning: no box is labelled NOCA (in any case); their columns are all 0" in (
        result.output
    )
    assert out.read_text().splitlines() == [
        "clip,source,begin_time,end_time,WOTH,EATO,NOCA",
        f"rec_0s_5s.wav,{tmp_path / 'audio' / 'rec.wav'},0.0,5.0,1,0,0",
        f"rec_5s_10s.wav,{tmp_path / 'audio' / 'rec.wav'},5.0,10.0,0,1,0",
    ]
    assert tmp_path / "clips" / "rec_5s_10s.wav" in io.files


def test_label_command_rejects_bad_settings(tmp_path: Path) -> None:
    c, _, _ = _container(tmp_path)
    base = ["label", "--annotations", str(tmp_path / "ann"), "--audio", str(tmp_path / "audio")]
    bad = CliRunner().invoke(main, [*base, "--clip-duration", "0", "-o", "x.csv"], obj=c)
    assert bad.exit_code == 2 and "clip_duration" in bad.output
    empty = CliRunner().invoke(
        main, [*base, "--clip-duration", "5", "--classes", ",", "-o", "x.csv"], obj=c
    )
    assert empty.exit_code == 2 and "at least one class" in empty.output
    twice = CliRunner().invoke(
        main, [*base, "--clip-duration", "5", "--classes", "WOTH,woth", "-o", "x.csv"], obj=c
    )
    assert twice.exit_code == 2 and "these repeat: WOTH, woth" in twice.output


def test_label_command_matches_classes_ignoring_case(tmp_path: Path) -> None:
    c, _, _ = _container(tmp_path)  # the table says WOTH and EATO
    out = tmp_path / "labels.csv"
    args = ["label", "--annotations", str(tmp_path / "ann"), "--audio", str(tmp_path / "audio")]
    args += ["--clip-duration", "5", "--classes", "woth,Eato", "-o", str(out)]
    result = CliRunner().invoke(main, args, obj=c)
    assert result.exit_code == 0, result.output
    assert "clips per class: woth=1, Eato=1" in result.output
    assert "no box is labelled" not in result.output
    assert out.read_text().splitlines()[0] == "source,begin_time,end_time,woth,Eato"


def test_raven_subcommands_have_help() -> None:
    for sub in ("check", "lowercase", "corrections", "query"):
        result = CliRunner().invoke(main, ["raven", sub, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, sub
