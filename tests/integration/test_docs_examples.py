"""Every code example in the README and the user guide runs.

Python blocks of one page run in order in one namespace; ``opso ...`` lines of bash blocks run
through the CLI. Both run in a scratch folder holding the example files the docs name.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile as sf
from click.testing import CliRunner

from opso.cli import main

REPO = Path(__file__).resolve().parents[2]
PAGES = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    *sorted((REPO / "docs" / "guide").glob("*.md")),
]
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.S | re.M)


def blocks(page: Path, language: str) -> list[str]:
    """The code of each ``language`` fence of a page, continuation lines (``\\``) joined."""
    found = [body for lang, body in FENCE.findall(page.read_text()) if lang == language]
    return [re.sub(r"\\\n\s*", " ", body) for body in found]


@pytest.fixture
def sandbox(birds_10s: Path, tmp_path: Path, oss_audio: Path) -> Iterator[Path]:
    """A working folder with the recordings the examples name."""
    birds = birds_10s
    for name in ["recording.wav", "rec.wav", "long.wav", "a.wav", "b.wav"]:
        shutil.copy(birds, tmp_path / name)
    shutil.copy(oss_audio / "silence_10s.mp3", tmp_path / "rec.mp3")
    data, sr = sf.read(birds)
    sf.write(tmp_path / "rec.flac", data, sr)
    (tmp_path / "recordings" / "site_a").mkdir(parents=True)
    shutil.copy(birds, tmp_path / "recordings" / "site_a" / "birds.wav")
    data_root = oss_audio.parent.parent
    for sub in ["annotations", "audio"]:
        (tmp_path / sub).mkdir()
    crowsetta = data_root / "crowsetta"
    shutil.copy(
        crowsetta
        / "raven"
        / "chronister2021_Recording_1"
        / "Recording_1_Segment_07.Table.1.selections.txt",
        tmp_path / "annotations" / "site1.Table.1.selections.txt",
    )
    shutil.copy(
        crowsetta / "audio" / "Recording_1_Segment_07-snippet.wav", tmp_path / "audio" / "site1.wav"
    )
    shutil.copy(
        data_root
        / "opensoundscape"
        / "raven"
        / "MSD-0003_20180427_2minstart00.Table.1.selections.txt",
        tmp_path / "annotations" / "site2.Table.1.selections.txt",
    )
    shutil.copy(birds, tmp_path / "audio" / "site2.wav")
    demo = REPO / "src" / "opso" / "data" / "demo"
    for f in demo.glob("LOCA_*.wav"):
        shutil.copy(f, tmp_path / f.name)
    shutil.copy(demo / "loca_coords.csv", tmp_path / "coords.csv")
    shutil.copy(demo / "loca_detections.csv", tmp_path / "detections.csv")
    (tmp_path / "labels.csv").write_text(
        "file,species\nsite1.wav,wren\nsite2.wav,robin\nsite1.wav,robin\nsite2.wav,wren\n"
    )
    (tmp_path / "scores.csv").write_text(
        "file,start_time,end_time,NOCA,WOTH,error\n"
        "site_a/birds.wav,0.0,5.0,0.9,0.1,\nsite_a/birds.wav,5.0,10.0,0.2,0.7,\n"
    )
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


@pytest.mark.parametrize(
    "page", [p for p in PAGES if blocks(p, "python")], ids=lambda p: str(p.relative_to(REPO))
)
def test_python_examples_run(page: Path, sandbox: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for code in blocks(page, "python"):
        exec(compile(code, str(page), "exec"), namespace)


def cli_lines(page: Path) -> list[str]:
    """``opso ...`` lines of bash blocks and ``$ opso ...`` lines of console blocks."""
    lines = [ln.split("#", 1)[0].strip() for b in blocks(page, "bash") for ln in b.splitlines()]
    lines += [
        ln[2:].strip()
        for b in blocks(page, "console")
        for ln in b.splitlines()
        if ln.startswith("$ ")
    ]
    return [ln for ln in lines if ln.startswith("opso ")]


@pytest.mark.parametrize(
    "page", [p for p in PAGES if cli_lines(p)], ids=lambda p: str(p.relative_to(REPO))
)
def test_cli_examples_run(page: Path, sandbox: Path) -> None:
    runner = CliRunner()
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for code in blocks(page, "python"):  # CLI examples may use files the Python examples write
        exec(compile(code, str(page), "exec"), namespace)
    for command in cli_lines(page):
        result = runner.invoke(main, shlex.split(command, comments=True)[1:])
        # exit status 1 is a documented outcome (e.g. `opso raven check` found problems)
        assert result.exit_code in (0, 1), f"{page.name}: `{command}` failed:\n{result.output}"
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert "Error:" not in result.output, f"{page.name}: `{command}`:\n{result.output}"
