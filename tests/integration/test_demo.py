"""`opso demo`: the whole workflow on bundled data, through the installed entry point."""

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

OPSO = str(Path(sys.executable).parent / "opso")


def run_demo(output: Path, *args: str) -> str:
    done = subprocess.run([OPSO, "demo", "-o", str(output), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_demo_writes_every_output_and_a_report_that_links_them(tmp_path: Path) -> None:
    out = run_demo(tmp_path / "demo", "--epochs", "2")
    report = tmp_path / "demo" / "index.html"
    assert f"report: {report.resolve()}" in out
    html = report.read_text()
    links = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert {
        "labels.csv",
        "training.png",
        "scores.csv",
        "detections.png",
        "ribbit.csv",
        "ribbit.png",
        "positions.csv",
        "map.png",
        "model/model.opso",
        "birdnet.csv",
        "birdnet.png",
    } <= set(links)
    for link in links:
        assert (tmp_path / "demo" / link).stat().st_size > 0, link
    labels = pd.read_csv(tmp_path / "demo" / "labels.csv")
    assert list(labels.columns[-4:]) == ["EATO", "WOTH", "NOCA", "BCCH"] and len(labels) == 9
    scores = pd.read_csv(tmp_path / "demo" / "scores.csv")
    assert scores[["EATO", "WOTH", "NOCA", "BCCH"]].notna().all().all()
    # the held-out 10.00003 s recording is scored in five 2 s clips; the 30 us tail is dropped
    assert scores["end_time"].tolist() == [2.0, 4.0, 6.0, 8.0, 10.0]
    ribbit = pd.read_csv(tmp_path / "demo" / "ribbit.csv")
    assert len(ribbit) == 8 and ribbit["score"].max() > 5 * ribbit["score"].min()
    positions = pd.read_csv(tmp_path / "demo" / "positions.csv")
    # six recorders, one call: one position, flagged as far above the array (not a result)
    assert len(positions) == 1 and float(positions["z"].iloc[0]) > 30
    assert str(positions["flag"].iloc[0]).startswith("outside the array")
    page = (tmp_path / "demo" / "index.html").read_text()
    assert "6 detections on the six recorders" in page and "1 call(s)" in page
    assert "It is flagged" in page and "degrees above the array" in page
    # BirdNET hears the chorus's experts' species: Wood Thrush and Eastern Towhee sing in it
    birdnet = pd.read_csv(tmp_path / "demo" / "birdnet.csv", keep_default_na=False)
    chorus = birdnet[birdnet["file"].str.endswith("dawn_chorus.wav")]
    assert {"Wood Thrush", "Eastern Towhee"} & set(chorus["common_name"])
    assert (birdnet["confidence"] >= 0.25).all()
    assert "6. Species heard, by BirdNET" in page and "dawn_chorus.wav: " in page
    assert (tmp_path / "demo" / "birdnet" / "dawn_chorus.BirdNET.selections.txt").is_file()


def test_demo_is_deterministic_with_a_seed(tmp_path: Path) -> None:
    run_demo(tmp_path / "a", "--epochs", "1", "--seed", "7")
    run_demo(tmp_path / "b", "--epochs", "1", "--seed", "7")
    a = pd.read_csv(tmp_path / "a" / "scores.csv").drop(columns="file")
    b = pd.read_csv(tmp_path / "b" / "scores.csv").drop(columns="file")
    pd.testing.assert_frame_equal(a, b)
