"""Localization on OpenSoundscape's real 6-recorder array and its synthetic 5-recorder set."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from opso.adapters.matplotlib_maps import MatplotlibMapPlotter, PlotWriteError
from opso.app.localize import EventLocation, LocalizationReport
from opso.cli import main
from opso.container import Container
from opso.domain.receivers import ReceiverArray

LOCA = [f"LOCA_2021_09_24_652_{i}.wav" for i in range(3, 9)]
# OpenSoundscape's expected TDOAs relative to receiver _3 (gillette, GCC-PHAT, 7-10 kHz).
LOCA_TDOAS = [0, 0.0325, -0.002, 0.0316, -0.0086, 0.024]
LOCA_SETTINGS = {
    "bandpass": {"zeep": (7000.0, 10000.0)},
    "min_receivers": 4,
    "max_receiver_dist": 30.0,
}


@pytest.fixture
def csvs(test_data: Path) -> Path:
    return test_data / "opensoundscape" / "csvs"


def _by_reference(report: LocalizationReport, name: str) -> EventLocation:
    return next(e for e in report.events if Path(e.reference).name == name)


def _tdoas(event: EventLocation) -> dict[str, float]:
    return {Path(r).name: t for r, t in zip(event.receivers, event.tdoas, strict=True)}


def test_real_array_tdoas_match_opensoundscape(csvs: Path, oss_audio: Path) -> None:
    report = (
        Container()
        .localize_events()
        .run(
            coordinates=csvs / "LOCA_2021_aru_coords.csv",
            detections=csvs / "LOCA_2021_detections.csv",
            audio_dir=oss_audio,
            **LOCA_SETTINGS,  # type: ignore[arg-type]
        )
    )
    assert len(report.events) == 7
    ref3 = _by_reference(report, LOCA[0])
    tdoas = _tdoas(ref3)
    assert list(tdoas) == LOCA
    np.testing.assert_allclose([tdoas[n] for n in LOCA], LOCA_TDOAS, atol=0.01)
    # Every real reference is localized with all six receivers; veryshort.wav is dropped.
    for name in LOCA:
        event = _by_reference(report, name)
        assert event.localized and len(event.receivers) == 6, event.reason
        assert any(d.startswith("tests/audio/veryshort.wav") for d in event.dropped)
        assert event.residual_rms >= 0 and event.uncertainty > 0
    short = _by_reference(report, "veryshort.wav")
    assert not short.localized and "veryshort.wav" in short.reason
    # seven detections of one flight call: one call, one estimate, flagged as far above the array
    (call,) = report.calls
    assert report.n_localized == 1 and report.n_trusted == 0
    assert Path(call.reference).name in LOCA and call.position is not None
    assert call.position[2] > 30 and "outside the array" in call.flag
    assert report.problems == [
        "tests/audio/veryshort.wav: coordinate(s) missing or not numbers: z=nan"
    ]


def test_late_start_file_gives_the_same_result(csvs: Path, oss_audio: Path) -> None:
    uc = Container().localize_events()
    aligned = uc.run(
        coordinates=csvs / "LOCA_2021_aru_coords.csv",
        detections=csvs / "LOCA_2021_detections.csv",
        audio_dir=oss_audio,
        **LOCA_SETTINGS,  # type: ignore[arg-type]
    )
    # The late file's recording_start_time (in its metadata) is 0.1 s after the others'.
    det = pd.read_csv(csvs / "LOCA_2021_detections_different_starts.csv")
    det["start_timestamp"] = [
        "2021-09-24T06:52:00.1+00:00" if "late_start" in f else "2021-09-24T06:52:00+00:00"
        for f in det["file"]
    ]
    late = uc.run(
        coordinates=csvs / "LOCA_2021_aru_coords.csv",
        detections=det,
        audio_dir=oss_audio,
        **LOCA_SETTINGS,  # type: ignore[arg-type]
    )
    assert sum(e.localized for e in late.events) == 6 and late.n_localized == 1
    a, b = _by_reference(aligned, LOCA[0]), _by_reference(late, LOCA[0])
    assert Path(b.receivers[-1]).name == "LOCA_2021_09_24_652_8_late_start.wav"
    np.testing.assert_allclose(a.tdoas, b.tdoas, atol=1e-6)
    assert a.position is not None and b.position is not None
    np.testing.assert_allclose(a.position, b.position, atol=1e-3)


@pytest.mark.parametrize("algorithm", ["lstsq", "gps"])
def test_synthetic_array_finds_the_known_source(
    csvs: Path, oss_audio: Path, algorithm: str
) -> None:
    report = (
        Container()
        .localize_events()
        .run(
            coordinates=csvs / "aru_coords.csv",
            detections=csvs / "localizer_preds.csv",
            audio_dir=oss_audio,
            algorithm=algorithm,  # type: ignore[arg-type]
            min_receivers=4,
            max_receiver_dist=100,
            assume_aligned=True,  # synthetic recordings without metadata
        )
    )
    assert sum(e.localized for e in report.events) == 5
    (call,) = report.calls  # inside the array: one trusted position
    assert report.n_trusted == 1 and call.flag == "" and call.position is not None
    assert np.linalg.norm(call.position - [10, 15]) < 2.0
    for e in report.events:
        assert e.position is not None
        assert np.linalg.norm(e.position - [10, 15]) < 2.0
        assert len(e.receivers) == 5 and e.uncertainty < 2.0


def test_impossible_cc_threshold_localizes_nothing(csvs: Path, oss_audio: Path) -> None:
    report = (
        Container()
        .localize_events()
        .run(
            coordinates=csvs / "aru_coords.csv",
            detections=csvs / "localizer_preds.csv",
            audio_dir=oss_audio,
            cc_threshold=100,
            assume_aligned=True,
        )
    )
    assert report.n_localized == 0 and len(report.events) == 5
    assert all("cc_threshold=100" in e.reason for e in report.events)


def test_cli_writes_positions_and_a_map(csvs: Path, oss_audio: Path, tmp_path: Path) -> None:
    out, png = tmp_path / "positions.csv", tmp_path / "map.png"
    result = CliRunner().invoke(
        main,
        [
            "localize",
            "--coords",
            str(csvs / "LOCA_2021_aru_coords.csv"),
            "--detections",
            str(csvs / "LOCA_2021_detections.csv"),
            "--audio-dir",
            str(oss_audio),
            "--bandpass",
            "zeep:7000:10000",
            "--max-receiver-dist",
            "30",
            "--algorithm",
            "lstsq",
            "-o",
            str(out),
            "--plot",
            str(png),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "7 detection(s) are 1 call(s): 0 localized, 1 flagged" in result.output
    assert "flagged: outside the array" in result.output
    table = pd.read_csv(out)
    assert len(table) == 1 and table.loc[0, "call"] == 0
    assert table["x"].notna().sum() == 1 and float(table["z"].iloc[0]) > 30
    assert str(table["flag"].iloc[0]).startswith("outside the array")
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.png", "positions.csv"]


def test_cli_reports_a_bad_table_in_one_line(oss_audio: Path, tmp_path: Path) -> None:
    bad = tmp_path / "coords.csv"
    bad.write_text("file,a,b\nx.wav,1,2\n")
    result = CliRunner().invoke(
        main, ["localize", "--coords", str(bad), "--detections", str(bad), "-o", "o.csv"]
    )
    assert result.exit_code == 1
    assert "coordinates need columns x and y" in result.output


def test_map_plotter_draws_ellipses_and_fails_cleanly(tmp_path: Path) -> None:
    array = ReceiverArray(np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]), ("a", "b", "c"))
    positions = np.array([[3.0, 4.0], [np.nan, np.nan]])
    covs = np.array([np.diag([1.0, 0.25]), np.full((2, 2), np.nan)])
    plotter = MatplotlibMapPlotter()
    png = tmp_path / "m.png"
    plotter.plot_map(png, receivers=array, positions=positions, covariances=covs, labels=["k", "k"])
    with Image.open(png) as im:
        assert im.format == "PNG"
    target = tmp_path / "folder.png"
    target.mkdir()
    with pytest.raises(PlotWriteError, match=r"folder\.png"):
        plotter.plot_map(target, receivers=array, positions=positions, covariances=covs)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cli_with_no_audio_found_says_why_and_exits_1(csvs: Path, tmp_path: Path) -> None:
    args = ["localize", "--coords", str(csvs / "LOCA_2021_aru_coords.csv")]
    args += ["--detections", str(csvs / "LOCA_2021_detections.csv"), "--audio-dir", str(tmp_path)]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "p.csv")])
    assert result.exit_code == 1
    assert "reference audio: audio file not found: " in result.output
    assert "[Errno" not in result.output
    assert "no call could be localized" in result.output


def _call_tdoas(csv: Path) -> dict[str, float]:
    """The chosen call's delays by receiver, naming the late-start file as the one it copies."""
    row = pd.read_csv(csv).iloc[0]
    names = [Path(n).name.replace("_late_start", "") for n in row["receivers"].split(";")]
    return dict(zip(names, map(float, row["tdoas"].split(";")), strict=True))


def test_late_start_is_aligned_by_its_metadata_through_the_cli(
    csvs: Path, oss_audio: Path, tmp_path: Path
) -> None:
    # LOCA_2021_detections_different_starts.csv has no start_timestamp column: the late file's
    # opso_metadata says it started 0.1 s after the others, and its detection is 0.1 s earlier.
    common = ["localize", "--coords", str(csvs / "LOCA_2021_aru_coords.csv")]
    common += ["--audio-dir", str(oss_audio), "--bandpass", "zeep:7000:10000"]
    common += ["--max-receiver-dist", "30"]
    outputs = {}
    for name, table, extra in [
        ("aligned", "LOCA_2021_detections.csv", []),
        ("late", "LOCA_2021_detections_different_starts.csv", []),
        ("guessed", "LOCA_2021_detections_different_starts.csv", ["--assume-aligned"]),
    ]:
        out = tmp_path / f"{name}.csv"
        result = CliRunner().invoke(
            main, [*common, "--detections", str(csvs / table), "-o", str(out), *extra]
        )
        assert result.exit_code == 0, result.output
        outputs[name] = (out, result.output)
    assert "clocks: recordings' start times (opso-metadata: 6)" in outputs["late"][1]
    assert "clocks: assumed aligned" in outputs["guessed"][1]
    aligned, late = _call_tdoas(outputs["aligned"][0]), _call_tdoas(outputs["late"][0])
    assert sorted(late) == sorted(aligned) == LOCA
    for name in LOCA:
        assert late[name] == pytest.approx(aligned[name], abs=1e-6), name
    positions = pd.read_csv(outputs["late"][0])
    assert positions["start_timestamp"].tolist() == ["2021-09-24T06:52:00.200000+00:00"]
    assert positions["residual_rms"].max() < 0.1
    # Taking the files as aligned puts the late recorder 0.1 s off: the delays disagree.
    guessed = pd.read_csv(outputs["guessed"][0])
    assert guessed["residual_rms"].min() > 1.0
    assert guessed["start_timestamp"].isna().all()


def test_recorders_without_a_start_time_are_named_not_guessed(
    csvs: Path, oss_audio: Path, tmp_path: Path
) -> None:
    args = ["localize", "--coords", str(csvs / "aru_coords.csv")]
    args += ["--detections", str(csvs / "localizer_preds.csv"), "--audio-dir", str(oss_audio)]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "p.csv")])
    assert result.exit_code == 1
    assert "start time unknown for 5 of 5 recorders: tests/audio/aru_1.wav, " in result.output
    assert "--assume-aligned" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "p.csv").exists()


def test_cli_unknown_time_zone_is_a_usage_error(csvs: Path, tmp_path: Path) -> None:
    args = ["localize", "--coords", str(csvs / "aru_coords.csv")]
    args += ["--detections", str(csvs / "localizer_preds.csv"), "--timezone", "Mars/Base"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "p.csv")])
    assert result.exit_code == 2
    assert "unknown time zone 'Mars/Base'" in result.output
    assert not (tmp_path / "p.csv").exists()
