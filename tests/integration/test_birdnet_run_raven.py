"""Raven tables of BirdNET run directories: those ``opso predict --model birdnet --raven`` writes.

The recordings (a folder, as a survey gives them): the Great Plains toad recording played three
times (134 s, cut into three segments), the 32 kHz Chronister snippet in a sub-folder, a 0.98 s
AudioMoth file whose name gives its start time (its rows get Raven's clock columns), and a file
that is not audio (no table).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from opso.cli import main
from opso.container import Container

SUFFIX = ".BirdNET.selections.txt"
#: Windows every 2.5 s; shards of 50 s cut the toad recording at 50 and 100 s.
SETTINGS = ["--overlap", "0.5", "--min-confidence", "0.05"]
RUN = ["--shard-duration", "50", "--workers", "0"]


@pytest.fixture(scope="module")
def survey(tmp_path_factory: pytest.TempPathFactory, test_data: Path, short_moth: Path) -> Path:
    root = tmp_path_factory.mktemp("survey")
    toad, rate = sf.read(test_data / "opensoundscape/audio/great_plains_toad.wav", dtype="int16")
    sf.write(root / "toad_x3.wav", np.concatenate([toad] * 3), rate, subtype="PCM_16")
    (root / "site").mkdir()
    shutil.copy(test_data / "crowsetta/audio/Recording_1_Segment_07-snippet.wav", root / "site")
    shutil.copy(short_moth, root / short_moth.name)
    (root / "junk.wav").write_bytes(b"not audio at all")
    return root


@pytest.fixture(scope="module")
def streamed(
    birdnet_container: Container, survey: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The tables of ``opso predict --model birdnet FOLDER --raven``, by name."""
    raven = tmp_path_factory.mktemp("streamed")
    args = ["predict", "--model", "birdnet", str(survey), *SETTINGS, "--raven", str(raven)]
    res = CliRunner().invoke(main, args, obj=birdnet_container)
    assert res.exit_code == 0, res.output
    return _tables(raven)


def _tables(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob(f"*{SUFFIX}")}


def test_streamed_tables_have_detections_and_clock_times(
    streamed: dict[str, str], short_moth: Path
) -> None:
    assert sorted(streamed) == sorted(
        [f"toad_x3{SUFFIX}", f"site/Recording_1_Segment_07-snippet{SUFFIX}",
         f"{short_moth.stem}{SUFFIX}"]
    )  # fmt: skip
    assert streamed[f"toad_x3{SUFFIX}"].count("\n") > 20
    assert "Begin Date Time" in streamed[f"{short_moth.stem}{SUFFIX}"]


def test_a_complete_run_writes_the_streamed_tables(
    birdnet_container: Container, survey: Path, streamed: dict[str, str], tmp_path: Path
) -> None:
    run_dir, raven = tmp_path / "run", tmp_path / "raven"
    args = ["predict", "--model", "birdnet", str(survey), *SETTINGS, "--run-dir", str(run_dir)]
    res = CliRunner().invoke(main, [*args, *RUN, "--raven", str(raven)], obj=birdnet_container)
    assert res.exit_code == 0, res.output
    assert "4/4 shards" in res.output  # the toad cut in three, the other files in one
    assert "wrote 3 Raven table(s)" in res.output and "1 recording(s) with error rows" in res.output
    assert _tables(raven) == streamed  # same names, rows, columns and values

    exported = tmp_path / "exported"
    res = CliRunner().invoke(main, ["runs", "export", str(run_dir), "--raven", str(exported)])
    assert res.exit_code == 0, res.output
    assert _tables(exported) == streamed  # the recordings' folder names them the same here

    for bad in (["--raven", str(exported), "--errors", str(tmp_path / "e.csv")], []):
        res = CliRunner().invoke(main, ["runs", "export", str(run_dir), *bad])
        assert res.exit_code == 2 and "--raven" in res.output


def test_an_incomplete_run_writes_no_table_until_it_completes(
    birdnet_container: Container, survey: Path, streamed: dict[str, str], tmp_path: Path
) -> None:
    run_dir, raven = tmp_path / "run", tmp_path / "raven"
    args = ["predict", "--model", "birdnet", str(survey), *SETTINGS, "--run-dir", str(run_dir)]
    args += [*RUN, "--raven", str(raven), "--shard-count", "2"]
    first = CliRunner().invoke(main, [*args, "--shard-index", "0"], obj=birdnet_container)
    assert first.exit_code == 0, first.output
    assert "Raven tables not written: the run is not complete (2/4 shards)" in first.output
    assert not raven.exists()
    early = CliRunner().invoke(main, ["runs", "export", str(run_dir), "--raven", str(raven)])
    assert early.exit_code == 1 and "not complete (2/4 shards)" in early.output
    assert not raven.exists()

    last = CliRunner().invoke(main, [*args, "--shard-index", "1"], obj=birdnet_container)
    assert last.exit_code == 0, last.output
    assert _tables(raven) == streamed


def test_raven_tables_are_refused_for_a_run_without_detections(
    survey: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "levels"
    levels = ["runs", "levels", str(survey / "toad_x3.wav"), "--run-dir", str(run_dir)]
    assert CliRunner().invoke(main, [*levels, "--workers", "0"]).exit_code == 0
    res = CliRunner().invoke(main, ["runs", "export", str(run_dir), "--raven", str(tmp_path / "r")])
    assert res.exit_code == 2 and "detection runs" in res.output
    assert not (tmp_path / "r").exists()
