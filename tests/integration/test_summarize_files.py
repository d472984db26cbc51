"""``opso summarize`` end to end on generated recordings and tables: CSV, PNG and HTML files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from click.testing import CliRunner
from PIL import Image

from opso.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def _recordings(root: Path) -> list[str]:
    """Four 20 s recordings named by their UTC start, two per site folder."""
    names = []
    for site, stamps in {
        "north": ["20210502_040000", "20210503_050000"],
        "south": ["20210502_040000", "20210502_230000"],
    }.items():
        (root / site).mkdir(parents=True, exist_ok=True)
        for stamp in stamps:
            sf.write(root / site / f"{stamp}.wav", np.zeros(20 * 8000, np.float32), 8000)
            names.append(f"{site}/{stamp}.wav")
    return names


def test_scores_table_with_timestamped_names_gives_table_plots_and_page(tmp_path: Path) -> None:
    names = _recordings(tmp_path / "field")
    rows = []
    for k, name in enumerate(names):
        for w in range(4):  # windows 0-5, 5-10, 10-15, 15-20 s
            noca = 0.9 if w <= k % 3 else 0.1  # recording k: min(k % 3, 3) + 1 detections
            rows.append(
                f"{name},{5 * w}.0,{5 * w + 5}.0,{noca},{0.8 if name.startswith('south') else 0},"
            )
    table = tmp_path / "field" / "scores.csv"
    table.write_text("file,start_time,end_time,NOCA,WOTH,error\n" + "\n".join(rows) + "\n")
    out = tmp_path / "summary"
    args = ["summarize", str(table), "--threshold", "0.5", "--by", "day", "--by", "site"]
    result = CliRunner().invoke(main, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "15 detection(s) of 2 species in 4 recording(s)" in result.output

    activity = pd.read_csv(out / "activity.csv", keep_default_na=False)
    got = {
        (r.species, r.site, r.date): (r.detections, r.recording_minutes)
        for r in activity.itertuples()
    }
    minutes, twice = round(20 / 60, 3), round(40 / 60, 3)
    assert got == {
        ("NOCA", "north", "2021-05-02"): (1, minutes),
        ("NOCA", "north", "2021-05-03"): (2, minutes),
        ("NOCA", "south", "2021-05-02"): (3 + 1, twice),
        ("WOTH", "north", "2021-05-02"): (0, minutes),
        ("WOTH", "north", "2021-05-03"): (0, minutes),
        ("WOTH", "south", "2021-05-02"): (8, twice),
    }
    assert set(activity["timezone"]) == {"UTC"}

    for name in ["noca.hours.png", "noca.heatmap.png", "woth.hours.png", "woth.heatmap.png"]:
        data = (out / name).read_bytes()
        assert data.startswith(PNG), name
        with Image.open(out / name) as image:
            assert image.width >= 600 and image.height >= 200
    page = (out / "summary.html").read_text()
    assert '<img src="noca.hours.png"' in page and '<img src="woth.heatmap.png"' in page
    assert '<a href="activity.csv">' in page
    assert "<td>NOCA</td><td>south</td><td>2021-05-02</td>" in page
    assert "clock times in UTC" in page
    assert not list(out.glob(".*.part*"))  # every write completed


def test_ribbit_scores_summarized_by_their_begin_datetime(tmp_path: Path) -> None:
    rate = 8000
    t = np.arange(20 * rate) / rate
    pulses = (np.sin(2 * np.pi * 10 * t) > 0.9) * np.sin(2 * np.pi * 1500 * t)  # 10 pulses/s
    (tmp_path / "pond").mkdir()
    for stamp in ["20210502_215950", "20210502_220000"]:
        sf.write(tmp_path / "pond" / f"{stamp}.wav", (0.5 * pulses).astype(np.float32), rate)
    scores = tmp_path / "ribbit.csv"
    ribbit = ["ribbit", str(tmp_path / "pond"), "-o", str(scores), "--name", "frog"]
    bands = ["--signal-band", "1000", "2000", "--pulse-rate", "5", "15"]
    result = CliRunner().invoke(main, [*ribbit, *bands, "--timezone", "Europe/Paris"])
    assert result.exit_code == 0, result.output
    assert "begin_datetime" in pd.read_csv(scores).columns
    out = tmp_path / "frogs"
    args = ["summarize", str(scores), "--threshold", "0", "--by", "hour", "-o", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "(RIBBIT scores, threshold 0); times in UTC+02:00" in result.output
    activity = pd.read_csv(out / "activity.csv")
    # 21:59:50 + four 5 s windows: two before 22:00, two after; 22:00:00: four windows
    assert [(r.hour, r.detections) for r in activity.itertuples()] == [(21, 2), (22, 6)]
    assert list(activity["recording_minutes"]) == [round(10 / 60, 3), round(30 / 60, 3)]


def test_parquet_table_with_begin_datetime_needs_no_recordings(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "file": [
                "/elsewhere/a.wav",
                "/elsewhere/a.wav",
                "/elsewhere/b.wav",
                "/elsewhere/c.wav",
            ],
            "begin_time": [0.0, 3.0, 0.0, 0.0],
            "end_time": [3.0, 6.0, 3.0, 3.0],
            "scientific_name": ["Strix varia"] * 4,
            "common_name": ["Barred Owl"] * 4,
            "confidence": [0.9, 0.3, 0.8, 0.7],
            "begin_datetime": [
                "2021-10-31T00:59:58+01:00",
                "2021-10-31T01:00:01+01:00",
                "2021-10-31T01:30:00+01:00",
                "2021-10-31T01:30:00+00:00",
            ],
        }
    )
    table = tmp_path / "detections.parquet"
    frame.to_parquet(table)
    out = tmp_path / "owl"
    args = ["summarize", str(table), "--threshold", "0.5", "--by", "hour", "-o", str(out)]
    result = CliRunner().invoke(main, [*args, "--display-timezone", "Europe/London"])
    assert result.exit_code == 0, result.output
    assert "warning: recording minutes unknown" in result.stderr
    activity = pd.read_csv(out / "activity.csv", keep_default_na=False)
    # British Summer Time ends at 01:00 UTC: 01:30+01:00 and 01:30+00:00 are both 01:30 in London
    assert [(r.date, r.hour, r.detections) for r in activity.itertuples()] == [
        ("2021-10-31", 0, 1),
        ("2021-10-31", 1, 2),
    ]
    assert set(activity["timezone"]) == {"Europe/London"}
    assert set(activity["recording_minutes"]) == {""}
    assert (out / "barred_owl.heatmap.png").read_bytes().startswith(PNG)


def test_audiomoth_comment_gives_the_start_and_its_header_the_minutes(
    tmp_path: Path, short_moth: Path
) -> None:
    moth = tmp_path / "site_a" / "moth.wav"  # the name holds no time: the comment does
    moth.parent.mkdir()
    shutil.copy(short_moth, moth)
    table = tmp_path / "detections.csv"
    table.write_text(
        "file,begin_time,end_time,scientific_name,common_name,confidence,error\n"
        f"{moth},0.0,0.981,Troglodytes troglodytes,Eurasian Wren,0.7,\n"
    )
    out = tmp_path / "s"
    result = CliRunner().invoke(
        main, ["summarize", str(table), "--threshold", "0.5", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    activity = pd.read_csv(out / "activity.csv")
    row = activity.iloc[0]
    assert (row["date"], row["detections"]) == ("2021-05-02", 1)
    assert row["recording_minutes"] == round(0.981 / 60, 3)


def test_no_time_anywhere_is_one_line_and_exit_1(tmp_path: Path, birds_10s: Path) -> None:
    table = tmp_path / "scores.csv"
    table.write_text(f"file,start_time,end_time,NOCA\n{birds_10s},0.0,5.0,0.9\n")
    args = ["summarize", str(table), "--threshold", "0.5", "-o", str(tmp_path / "o")]
    result = CliRunner().invoke(main, [*args, "--by", "day"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {table}: no recording has a known start time (no begin_datetime column, no "
        "start in the metadata or a YYYYMMDD_HHMMSS name of 1 recording(s), e.g. "
        f"{birds_10s}); summarize --by site, or give the times"
    ]
    result = CliRunner().invoke(main, [*args, "--by", "site"])
    assert result.exit_code == 0, result.output
    assert "no plots by time" in result.stderr
    assert (tmp_path / "o" / "summary.html").exists()


def test_a_table_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    table = tmp_path / "scores.csv"
    table.write_bytes(b"file,start_time,NOCA\nb\xe9.wav,0,1\n")
    result = CliRunner().invoke(main, ["summarize", str(table), "--threshold", "0.5"])
    assert result.exit_code == 1
    assert f"Error: {table}, line 2: scores table is not UTF-8 text" in result.output
