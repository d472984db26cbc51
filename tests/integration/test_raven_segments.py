"""OpenSoundscape 0.4.7's ``raven.split_starts_ends`` and ``split_single_annotation``.

The first tests are 0.4.7's own (``tests/test_raven.py``) on its tables, kept in
``tests/data/opensoundscape/raven/legacy``; the rest cover where opso differs (decision 0115).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
import soundfile as sf

import opso
from opso import raven


@pytest.fixture
def legacy(test_data: Path) -> Path:
    return test_data / "opensoundscape" / "raven" / "legacy"


@pytest.fixture
def short(legacy: Path) -> Path:
    return legacy / "raven_okay_Example.Table.1.selections__v0.4.5.txt"  # one box, 358.7-386.3 s


@pytest.fixture
def long(legacy: Path) -> Path:
    return legacy / "LongExample.Table.1.selections__v0.5.0.txt"  # 13 boxes up to 31.24 s


@pytest.fixture
def empty(legacy: Path) -> Path:
    return legacy / "EmptyExample.Table.1.selections__v0.5.0.txt"


def _frame(**columns: list[float]) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_split_single_annotation_short(short: Path) -> None:
    result = raven.split_single_annotation(short, col="class", split_len_s=5)
    expected = _frame(
        seg_start=list(range(0, 381, 5)),
        seg_end=list(range(5, 386, 5)),
        hello=[*[0] * 71, *[1] * 6],
    )
    pdt.assert_frame_equal(result, expected, check_dtype=False)


def test_split_single_annotation_long_skips_the_last(long: Path) -> None:
    result = raven.split_single_annotation(long, col="class", split_len_s=5)
    expected = _frame(
        seg_start=list(range(0, 26, 5)),
        seg_end=list(range(5, 31, 5)),
        eato=[0, 1, 1, 1, 1, 1],
        woth=[1, 1, 1, 1, 1, 1],
    )
    pdt.assert_frame_equal(result, expected, check_dtype=False)


def test_split_single_annotation_min_overlap(long: Path) -> None:
    result = raven.split_single_annotation(long, col="class", split_len_s=5, min_label_len=1)
    assert result["eato"].tolist() == [0, 1, 0, 1, 0, 0]
    assert result["woth"].tolist() == [1, 1, 1, 1, 1, 1]


def test_split_single_annotation_long_keeps_the_last(long: Path) -> None:
    result = raven.split_single_annotation(long, col="class", split_len_s=5, keep_final=True)
    expected = _frame(
        seg_start=list(range(0, 31, 5)),
        seg_end=list(range(5, 36, 5)),
        eato=[0, 1, 1, 1, 1, 1, 1],
        woth=[1, 1, 1, 1, 1, 1, 0],
    )
    pdt.assert_frame_equal(result, expected, check_dtype=False)


def test_split_single_annotation_empty(empty: Path) -> None:
    result = raven.split_single_annotation(empty, col="class", split_len_s=5)
    pdt.assert_frame_equal(result, _frame(seg_start=[], seg_end=[]))


def test_split_starts_ends_empty(empty: Path) -> None:
    result = raven.split_starts_ends(empty, col="class", starts=[0, 5], ends=[5, 10])
    pdt.assert_frame_equal(result, _frame(seg_start=[0, 5], seg_end=[5, 10]), check_dtype=False)


def test_split_starts_ends_species_sorted_without_touching_the_callers_list(long: Path) -> None:
    species = ["woth", "eato"]
    result = raven.split_starts_ends(long, "CLASS", [0.0, 29.0], [1.0, 30.0], species=species)
    assert list(result.columns) == ["seg_start", "seg_end", "eato", "woth"]
    assert species == ["woth", "eato"]
    assert result[["eato", "woth"]].to_numpy().tolist() == [[0, 1], [1, 0]]
    one = raven.split_starts_ends(long, "class", [0.0], [1.0], species="eato")
    assert list(one.columns) == ["seg_start", "seg_end", "eato"] and one["eato"].tolist() == [0]
    absent = raven.split_starts_ends(long, "class", [0.0], [5.0], species=("EATO",))
    assert absent["EATO"].tolist() == [0]  # labels match exactly, case included


def test_overlapping_segments_never_start_past_the_covered_end(long: Path) -> None:
    result = raven.split_single_annotation(
        long, "class", split_len_s=10, overlap_len_s=5, total_len_s=30, keep_final=True
    )
    # full segments cover 0-30 s already: no segment is added past the end (0.4.7 adds 25-35)
    assert result["seg_start"].tolist() == [0, 5, 10, 15, 20]
    assert result["seg_end"].tolist() == [10, 15, 20, 25, 30]
    uneven = raven.split_single_annotation(
        long, "class", split_len_s=10, overlap_len_s=5, total_len_s=32, keep_final=True
    )
    assert uneven["seg_start"].tolist()[-2:] == [20, 25] and uneven["seg_end"].iloc[-1] == 35


def test_min_label_len_is_time_shared_with_the_segment(long: Path) -> None:
    # a 1 s segment inside a 2.2 s woth box (2.93-5.15 s) shares only 1 s with it
    result = raven.split_starts_ends(long, "class", [3.5], [4.5], min_label_len=1.5)
    assert result["woth"].tolist() == [0]  # 0.4.7 labels it: the box is long and spans the segment


def test_bad_arguments_and_tables_are_typed_errors(long: Path, empty: Path) -> None:
    with pytest.raises(opso.ParameterError, match="same length, got 2 and 1"):
        raven.split_starts_ends(long, "class", [0, 5], [5])
    with pytest.raises(opso.ParameterError, match="ends before it begins"):
        raven.split_starts_ends(long, "class", [5], [0])
    with pytest.raises(opso.AnnotationFormatError, match="label column 'species' not found"):
        raven.split_single_annotation(long, "species", split_len_s=5)
    with pytest.raises(opso.ParameterError, match="clip_overlap must be in"):
        raven.split_single_annotation(long, "class", split_len_s=5, overlap_len_s=5)
    with pytest.raises(opso.ParameterError, match="total_len_s must be > 0"):
        raven.split_single_annotation(empty, "class", split_len_s=5, total_len_s=0)
    with pytest.raises(FileNotFoundError):
        raven.split_starts_ends(long.with_name("missing.txt"), "class", [0], [5])


def test_segments_agree_with_the_labelled_audio_split(long: Path, tmp_path: Path) -> None:
    tables, audio = tmp_path / "tables", tmp_path / "audio"
    tables.mkdir()
    audio.mkdir()
    shutil.copy(long, tables / "LongExample.Table.1.selections.txt")
    sf.write(audio / "LongExample.wav", np.zeros(32 * 8000, np.float32), 8000)
    clips = raven.raven_audio_split_and_save(
        tables,
        audio,
        tmp_path / "clips",
        col="class",
        sample_rate=None,
        clip_duration=5,
        clip_overlap=2.5,
        min_label_len=0.5,
        dry_run=True,
    )
    segments = raven.split_single_annotation(
        long, "class", split_len_s=5, overlap_len_s=2.5, total_len_s=32, min_label_len=0.5
    )
    assert len(clips) == len(segments) == 11
    np.testing.assert_array_equal(clips.to_numpy(), segments[["eato", "woth"]].to_numpy())
