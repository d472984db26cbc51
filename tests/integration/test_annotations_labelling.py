"""Real audio + real Raven boxes -> clip labels; the spec's raven/datasets/data_selection API."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

import opso
from opso import datasets, raven
from opso.api import Audio
from opso.cli import main
from opso.domain.errors import AnnotationFormatError

SNIPPET = "Recording_1_Segment_07-snippet"


@pytest.fixture
def snippet_pair(test_data: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The 10 s Segment_07 snippet and its table, named alike as Raven names them."""
    audio = tmp_path / "audio"
    tables = tmp_path / "tables"
    audio.mkdir()
    tables.mkdir()
    shutil.copy(test_data / "crowsetta" / "audio" / f"{SNIPPET}.wav", audio)
    shutil.copy(
        test_data
        / "crowsetta"
        / "raven"
        / "chronister2021_Recording_1"
        / "Recording_1_Segment_07.Table.1.selections.txt",
        tables / f"{SNIPPET}.Table.1.selections.txt",
    )
    return audio, tables


def test_label_cli_on_real_audio_and_boxes(snippet_pair: tuple[Path, Path], tmp_path: Path) -> None:
    audio, tables = snippet_pair
    out = tmp_path / "labels.csv"
    args = ["label", "--annotations", str(tables), "--audio", str(audio), "--clip-duration", "5"]
    args += ["--classes", "NOCA,WOTH,EATO,BCCH,OVEN", "--save-clips", str(tmp_path / "clips")]
    result = CliRunner().invoke(main, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out)
    assert df["clip"].tolist() == [f"{SNIPPET}_0s_5s.wav", f"{SNIPPET}_5s_10s.wav"]
    # 0-5 s: NOCA 0.18-3.39, WOTH 0.92-2.31, EATO 3.13-5.08; 5-10 s: all four species
    assert df[["NOCA", "WOTH", "EATO", "BCCH", "OVEN"]].to_numpy().tolist() == [
        [1, 1, 1, 0, 0],
        [1, 1, 1, 1, 0],
    ]
    clip = Audio.from_file(tmp_path / "clips" / f"{SNIPPET}_5s_10s.wav")
    assert clip.sample_rate == 32000 and clip.duration() == pytest.approx(5.0)


def test_min_overlap_drops_the_edge_box(snippet_pair: tuple[Path, Path], tmp_path: Path) -> None:
    audio, tables = snippet_pair
    out = tmp_path / "labels.csv"
    args = ["label", "--annotations", str(tables), "--audio", str(audio), "--clip-duration", "5"]
    result = CliRunner().invoke(main, [*args, "--min-overlap", "0.2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out)
    assert "clip" not in df.columns
    # EATO 3.13-5.08 s shares only 0.08 s with 5-10 s; the 7.78-9.57 s EATO box still counts
    assert df["EATO"].tolist() == [1, 1]
    assert df["source"].tolist() == [str(audio / f"{SNIPPET}.wav")] * 2
    strict = CliRunner().invoke(main, [*args, "--min-overlap", "2.0", "-o", str(out)])
    assert strict.exit_code == 0
    # only NOCA 0.18-3.39 (3.2 s) and NOCA 6.42-8.87 (2.45 s) share >= 2 s with a clip
    assert pd.read_csv(out)[["NOCA", "EATO", "WOTH"]].to_numpy().tolist() == [[1, 0, 0], [1, 0, 0]]


def test_raven_audio_split_and_save(snippet_pair: tuple[Path, Path], tmp_path: Path) -> None:
    audio, tables = snippet_pair
    dest = tmp_path / "out"
    # the table is the whole 5-minute segment's: its later boxes lie past the 10 s snippet
    past = r"270 box\(es\) begin after the end of .*snippet\.wav \(10\.000 s\)"
    with pytest.warns(UserWarning, match=past):
        df = raven.raven_audio_split_and_save(
            tables, audio, dest, col="species", sample_rate=16000, clip_duration=2.0,
            species=["BCCH"], labeled_clips_only=True,
        )  # fmt: skip
    # BCCH boxes: 5.68-7.06 s and 7.83-8.40 s -> clips 4-6, 6-8, 8-10
    assert [Path(p).name for p in df.index] == [
        f"{SNIPPET}_4s_6s.wav",
        f"{SNIPPET}_6s_8s.wav",
        f"{SNIPPET}_8s_10s.wav",
    ]
    assert df["BCCH"].tolist() == [1, 1, 1]
    assert sorted(p.name for p in dest.glob("*.wav")) == [Path(p).name for p in df.index]
    assert Audio.from_file(dest / f"{SNIPPET}_4s_6s.wav").sample_rate == 16000
    written = pd.read_csv(dest / "labels.csv")
    assert written.columns.tolist() == ["clip", "source", "begin_time", "end_time", "BCCH"]
    with pytest.warns(UserWarning, match=past):
        dry = raven.raven_audio_split_and_save(
            tables, audio, tmp_path / "dry", None, None, 5.0, dry_run=True
        )
    assert dry.shape == (2, 8) and not (tmp_path / "dry").exists()


def test_label_cli_warns_of_boxes_past_the_end(tmp_path: Path) -> None:
    (tmp_path / "audio").mkdir()
    sf.write(tmp_path / "audio" / "site.wav", np.zeros(16000, dtype=np.float32), 8000)
    table = tmp_path / "tables" / "site.Table.1.selections.txt"
    table.parent.mkdir()
    table.write_text(
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tSpecies\n"
        "1\tSpectrogram 1\t1\t0.5\t1.0\tWOTH\n"
        "2\tSpectrogram 1\t1\t1.5\t2.5\tEATO\n"  # runs past the end: still labels 1-2 s
        "3\tSpectrogram 1\t1\t12.0\t13.0\tNOCA\n"  # begins after the 2 s recording
    )
    out = tmp_path / "labels.csv"
    args = ["label", "--annotations", str(tmp_path / "tables"), "--audio", str(tmp_path / "audio")]
    result = CliRunner().invoke(main, [*args, "--clip-duration", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (
        f"warning: {table}: 1 box(es) begin after the end of {tmp_path / 'audio' / 'site.wav'} "
        "(2.000 s), so no clip holds them: 'NOCA' at 12-13 s"
    ) in result.output
    assert pd.read_csv(out)[["EATO", "NOCA", "WOTH"]].to_numpy().tolist() == [[0, 0, 1], [1, 0, 0]]


def test_species_match_lowercased_tables(snippet_pair: tuple[Path, Path], tmp_path: Path) -> None:
    audio, tables = snippet_pair
    opso.lowercase_annotations(tables)  # the 0.4 workflow: labels are now "bcch", ...
    with pytest.warns(UserWarning, match=r"no box is labelled LOWA \(in any case\)"):
        df = raven.raven_audio_split_and_save(
            tables, audio, tmp_path / "out", col=None, sample_rate=None, clip_duration=2.0,
            species=["BCCH", "LOWA"], dry_run=True,
        )  # fmt: skip
    assert df.columns.tolist() == ["BCCH", "LOWA"]
    # BCCH boxes: 5.68-7.06 s and 7.83-8.40 s -> clips 4-6, 6-8, 8-10
    assert df["BCCH"].tolist() == [0, 0, 1, 1, 1]
    assert df["LOWA"].tolist() == [0] * 5


def test_raven_helpers_on_real_tables(raven_copy: Path) -> None:
    with pytest.warns(UserWarning, match=r"1 of 10 boxes have no label in column 'Species'"):
        checks = opso.annotation_check(raven_copy)
    assert sorted(c.n_annotations for c in checks) == [0, 10]
    written = opso.lowercase_annotations(raven_copy)
    assert sorted(p.name for p in written) == [
        "EmptyExample.Table.1.selections.txt.lower",
        "MSD-0003_20180427_2minstart00.Table.1.selections.txt.lower",
    ]
    assert opso.generate_class_corrections(raven_copy) == (
        "raw,corrected\neato,eato\nlowa,lowa\nunknown,unknown\nwoth,woth\n"
    )
    text = opso.query_annotations(raven_copy, "lowa")
    assert "MSD-0003_20180427_2minstart00.Table.1.selections.txt.lower" in text
    assert "12.094\t13.6561\t3165.5\t6903.5\tlowa" in text
    assert opso.query_annotations(raven_copy, "LOWA") == ""


def test_lowercase_annotations_lowers_the_whole_text_as_0_4(raven_copy: Path) -> None:
    table = raven_copy / "MSD-0003_20180427_2minstart00.Table.1.selections.txt"
    bad = raven_copy / "sub" / "Bad.Table.1.selections.txt"
    bad.parent.mkdir()
    bad.write_text("Begin Time (s)\tEnd Time (s)\tSpecies\nsoon\t2\tWOTH\n", encoding="utf-8")
    written = opso.lowercase_annotations(raven_copy, raven_copy / "low")
    assert raven_copy / "low" / "sub" / "Bad.Table.1.selections.txt.lower" in written
    copy = raven_copy / "low" / f"{table.name}.lower"
    assert copy.read_bytes() == table.read_bytes().decode("utf-8").lower().encode("utf-8")
    assert copy.read_bytes().startswith(b"selection\tview\tchannel\tbegin time (s)")
    with pytest.raises(AnnotationFormatError, match=r"Bad\.Table\.1\.selections\.txt"):
        opso.lowercase_annotations(raven_copy, raven_copy / "low2", labels_only=True)
    with pytest.warns(UserWarning, match="No selections files found"):
        assert opso.lowercase_annotations(raven_copy / "low") == []
    with pytest.raises(FileNotFoundError, match="absent"):
        opso.lowercase_annotations(raven_copy / "absent")


@pytest.fixture
def raven_copy(test_data: Path, tmp_path: Path) -> Path:
    target = tmp_path / "raven"
    target.mkdir()
    for p in (test_data / "opensoundscape" / "raven").glob("*.selections.txt"):
        shutil.copy(p, target)
    return target


def test_annotations_with_overlaps_with_clip(test_data: Path) -> None:
    table = (
        test_data
        / "opensoundscape"
        / "raven"
        / "legacy"
        / "LongExample.Table.1.selections__v0.5.0.txt"
    )
    df = pd.read_csv(table, sep="\t")
    rows = datasets.annotations_with_overlaps_with_clip(df, 1.0, 3.0)
    assert rows["begin time (s)"].tolist() == [2.9317416489999997]
    spanning = pd.DataFrame({"Begin Time (s)": [0.0], "End Time (s)": [10.0]})
    assert len(opso.annotations_with_overlaps_with_clip(spanning, 2.0, 3.0)) == 1
    with pytest.raises(KeyError, match="end time"):
        datasets.annotations_with_overlaps_with_clip(df[["begin time (s)"]], 0, 1)


def test_get_md5_digest() -> None:
    assert opso.get_md5_digest("") == "d41d8cd98f00b204e9800998ecf8427e"
    assert datasets.get_md5_digest("a.wav-0.0-5.0") == datasets.get_md5_digest("a.wav-0.0-5.0")


def test_splitter_dataset_with_annotations(snippet_pair: tuple[Path, Path], tmp_path: Path) -> None:
    audio, tables = snippet_pair
    wav = audio / f"{SNIPPET}.wav"
    shutil.copy(tables / f"{SNIPPET}.Table.1.selections.txt", audio)
    corrections = tmp_path / "corrections.csv"
    corrections.write_text("raw,corrected\nNOCA,cardinal\n")
    out = tmp_path / "segments"
    ds = opso.SplitterDataset(
        [wav], annotations=True, label_corrections=corrections, overlap=0, duration=5,
        output_directory=out,
    )  # fmt: skip
    item = ds[0]["data"]
    assert len(ds) == 1 and len(item) == 2  # the complete 5-10 s segment is kept
    fields = item[1].split("\t")
    assert fields[:4] == [str(wav), str(audio / f"{SNIPPET}.Table.1.selections.txt"), "5.0", "10.0"]
    assert Path(fields[4]) == out / f"{opso.get_md5_digest(f'{wav}-5-10')}.wav"  # as the spec names
    assert fields[5].split("|") == ["EATO", "WOTH", "BCCH", "cardinal"]
    assert sorted(p.name for p in out.glob("*.wav")) == sorted(
        Path(r.split("\t")[4]).name for r in item
    )
    assert opso.SplitterDataset.collate_fn([ds[0], {"data": ["x"]}]) == [*item, "x"]


def test_splitter_dataset_segments_without_annotations(
    birds_10s: Path, test_data: Path, tmp_path: Path
) -> None:
    wav = birds_10s
    rows = opso.SplitterDataset([wav], output_directory=tmp_path, overlap=1)[0]["data"]
    assert [r.split("\t")[1:3] for r in rows] == [["0.0", "5.0"], ["4.0", "9.0"]]
    last = opso.SplitterDataset([wav], output_directory=tmp_path, include_last_segment=True)
    assert [r.split("\t")[1:3] for r in last[0]["data"]][-1] == ["5.13321875", "10.13321875"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        none = opso.SplitterDataset([wav], annotations=True, output_directory=tmp_path)[0]
    assert none == {"data": []} and "no Raven annotations" in str(caught[0].message)


def test_upsample_real_csv(test_data: Path) -> None:
    df = pd.read_csv(test_data / "opensoundscape" / "csvs" / "to_upsample.csv")
    assert df["Labels"].value_counts().to_dict() == {"hello": 10, "world": 3}
    up = opso.upsample(df, random_state=0)
    assert up["Labels"].value_counts().to_dict() == {"hello": 10, "world": 10}
    assert up.equals(opso.upsample(df, random_state=0))
    numeric, label_map = opso.add_numeric_labels(df)
    assert label_map == {"hello": 0, "world": 1}
    assert numeric["NumericLabels"].tolist() == df["NumericLabels"].tolist()


def test_label_with_nothing_paired_exits_1_and_writes_nothing(
    birds_10s: Path, test_data: Path, tmp_path: Path
) -> None:
    (tmp_path / "ann").mkdir()
    (tmp_path / "audio").mkdir()
    table = (
        test_data
        / "opensoundscape"
        / "raven"
        / "MSD-0003_20180427_2minstart00.Table.1.selections.txt"
    )
    shutil.copy(table, tmp_path / "ann")
    shutil.copy(birds_10s, tmp_path / "audio")
    out = tmp_path / "labels.csv"
    args = ["label", "--annotations", str(tmp_path / "ann"), "--audio", str(tmp_path / "audio")]
    result = CliRunner().invoke(main, [*args, "--clip-duration", "5", "-o", str(out)])
    assert result.exit_code == 1 and "no recording pairs with a table" in result.output
    assert not out.exists()
