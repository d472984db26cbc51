"""``opso summarize`` and the SummarizeActivity use-case over in-memory adapters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from numpy.typing import NDArray

from opso.adapters.memory import InMemoryAudioIO, InMemoryTables
from opso.app.summarize import SummarizeActivity, SummaryReport
from opso.cli import main
from opso.container import Container
from opso.domain.audio import Audio
from opso.domain.errors import ParameterError, StartTimeUnknownError, TableReadError
from opso.domain.recording_info import RecordingInfo, parse_file_name
from opso.ports.metadata import MetadataReader
from opso.ports.report import ReportSection
from opso.ports.summary import ActivityFigures, PageTable, SummaryPage

TABLE = Path("/data/scores.csv")
OUT = Path("/out")


@dataclass
class FileNameMetadata(MetadataReader):
    """Start times from file names; paths listed in ``unreadable`` raise like a missing file."""

    unreadable: set[Path] = field(default_factory=set)
    read_paths: list[Path] = field(default_factory=list)

    def read(self, path: Path, *, timezone: tzinfo | None = None) -> RecordingInfo:
        self.read_paths.append(path)
        if path in self.unreadable:
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return parse_file_name(path.name, zone=timezone)


@dataclass
class RecordedFigures(ActivityFigures):
    hours: dict[Path, tuple[NDArray[np.int64], str]] = field(default_factory=dict)
    grids: dict[Path, tuple[list[str], NDArray[np.float64]]] = field(default_factory=dict)

    def hours_of_day(
        self,
        counts: NDArray[np.int64],
        path: Path,
        *,
        title: str,
        zone: str,
        recorded_s: NDArray[np.float64] | None = None,
    ) -> None:
        self.hours[path] = (np.asarray(counts), zone)

    def date_hour(
        self,
        dates: Sequence[str],
        counts: NDArray[np.float64],
        path: Path,
        *,
        title: str,
        zone: str,
    ) -> None:
        self.grids[path] = (list(dates), np.asarray(counts))


@dataclass
class RecordedPage(SummaryPage):
    pages: dict[Path, tuple[list[str], list[PageTable], list[ReportSection]]] = field(
        default_factory=dict
    )

    def write(
        self,
        path: Path,
        *,
        title: str,
        notes: Sequence[str],
        tables: Sequence[PageTable],
        sections: Sequence[ReportSection],
    ) -> None:
        self.pages[path] = (list(notes), list(tables), list(sections))


@dataclass
class Fakes:
    tables: InMemoryTables
    metadata: FileNameMetadata
    audio: InMemoryAudioIO
    figures: RecordedFigures
    page: RecordedPage

    def use_case(self) -> SummarizeActivity:
        return SummarizeActivity(
            table_reader=self.tables,
            metadata=self.metadata,
            audio=self.audio,
            tables=self.tables,
            figures=self.figures,
            page=self.page,
        )

    def run(self, frame: pd.DataFrame, **kwargs: object) -> SummaryReport:
        self.tables.frames[TABLE] = frame
        options: dict[str, object] = {"threshold": 0.5, "by": ("hour",), **kwargs}
        return self.use_case().run(source=TABLE, destination=OUT, **options)  # type: ignore[arg-type]

    def rows(self) -> list[dict[str, object]]:
        return self.tables.rows(OUT / "activity.csv")


@pytest.fixture
def fakes() -> Fakes:
    return Fakes(
        InMemoryTables(), FileNameMetadata(), InMemoryAudioIO(), RecordedFigures(), RecordedPage()
    )


def _scores(files: Sequence[str], noca: Sequence[Sequence[float]]) -> pd.DataFrame:
    """Five-second windows per file; ``noca[i]`` are file i's NOCA scores, WOTH is 0."""
    rows = [
        {
            "file": f,
            "start_time": 5.0 * k,
            "end_time": 5.0 * k + 5,
            "NOCA": s,
            "WOTH": 0.0,
            "error": "",
        }
        for f, scores in zip(files, noca, strict=True)
        for k, s in enumerate(scores)
    ]
    return pd.DataFrame(rows)


def test_times_from_file_names_and_sites_from_folders(fakes: Fakes) -> None:
    frame = _scores(
        ["/rec/north/20210502_040000.wav", "/rec/south/20210502_045958.wav"],
        [[0.9, 0.1, 0.7], [0.2, 0.8, 0.6]],  # south: 04:59:58 and 05:00:03 and 05:00:08
    )
    report = fakes.run(frame, by=("hour", "site"))
    table = {(r["species"], r["site"], r["hour"]): r for r in fakes.rows()}
    assert table["NOCA", "north", 4]["detections"] == 2
    assert table["NOCA", "south", 4]["detections"] == 0
    assert table["NOCA", "south", 5]["detections"] == 2
    assert table["WOTH", "north", 4]["detections"] == 0
    assert table["NOCA", "south", 4]["recording_minutes"] == round(2 / 60, 3)
    assert table["NOCA", "south", 5]["recording_minutes"] == round(13 / 60, 3)
    assert table["NOCA", "north", 4]["timezone"] == "UTC"
    assert (report.detections, report.species, report.recordings) == (4, 2, 2)
    assert report.kind == "scores" and report.zone == "UTC" and report.effort
    assert report.warnings == [] and report.untimed_recordings == []


def test_begin_datetime_column_gives_times_and_their_zone(fakes: Fakes) -> None:
    frame = _scores(["/gone/a.wav"], [[0.9, 0.9]])
    frame["begin_datetime"] = ["2021-05-02T23:59:57+02:00", "2021-05-03T00:00:02+02:00"]
    report = fakes.run(frame, by=("day",))
    assert fakes.metadata.read_paths == []  # the column is enough: no file is opened
    rows = [r for r in fakes.rows() if r["species"] == "NOCA"]
    assert [(r["date"], r["detections"], r["timezone"]) for r in rows] == [
        ("2021-05-02", 1, "UTC+02:00"),
        ("2021-05-03", 1, "UTC+02:00"),
    ]
    assert report.zone == "UTC+02:00"


def test_a_recording_start_comes_from_its_first_row_with_a_begin_datetime(fakes: Fakes) -> None:
    frame = pd.DataFrame(
        {
            "file": ["/gone/a.wav", "/gone/a.wav"],
            "start_time": [0.0, 10.0],
            "end_time": [5.0, 15.0],
            "NOCA": [0.9, 0.9],
            "begin_datetime": [None, "2021-05-02T05:00:05+00:00"],  # start: 04:59:55
        }
    )
    fakes.run(frame)
    assert [(r["hour"], r["detections"]) for r in fakes.rows()] == [(4, 1), (5, 1)]


def test_display_timezone_converts_every_time(fakes: Fakes) -> None:
    frame = _scores(["/rec/s/20210502_040000.wav"], [[0.9]])
    report = fakes.run(frame, display_timezone=ZoneInfo("Europe/London"))
    row = next(r for r in fakes.rows() if r["species"] == "NOCA")
    assert (row["hour"], row["timezone"]) == (5, "Europe/London")  # BST is UTC+1 in May
    assert report.zone == "Europe/London"


def test_timezone_reads_names_in_local_time_and_shows_that_clock(fakes: Fakes) -> None:
    frame = _scores(["/rec/s/20210502_040000.wav"], [[0.9]])
    fakes.run(frame, timezone=ZoneInfo("America/New_York"))
    row = next(r for r in fakes.rows() if r["species"] == "NOCA")
    assert (row["hour"], row["timezone"]) == (4, "America/New_York")


def _hour_long(name: str) -> pd.DataFrame:
    """Twelve five-minute windows of one recording, NOCA detected in every one."""
    rows = [
        {"file": name, "start_time": 300.0 * k, "end_time": 300.0 * k + 300, "NOCA": 0.9}
        for k in range(12)
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # spring forward: 01:30 EST + 1 h ends at 03:30 EDT; 02:00-03:00 never happened
        ("/rec/s/20210314_013000.wav", [(1, 6, 30.0), (3, 6, 30.0)]),
        # fall back: 01:30 EDT + 1 h ends at 01:30 EST; the clock shows 01:xx for the whole hour
        ("/rec/s/20211107_013000.wav", [(1, 12, 60.0)]),
    ],
)
def test_recording_minutes_follow_daylight_saving_changes(
    fakes: Fakes, name: str, expected: list[tuple[int, int, float]]
) -> None:
    fakes.run(_hour_long(name), timezone=ZoneInfo("America/New_York"))
    noca = [r for r in fakes.rows() if r["species"] == "NOCA"]
    assert [(r["hour"], r["detections"], r["recording_minutes"]) for r in noca] == expected


def test_mixed_offsets_are_converted_to_the_most_common_and_said(fakes: Fakes) -> None:
    frame = _scores(["/x/a.wav", "/x/b.wav", "/x/c.wav"], [[0.9], [0.9], [0.9]])
    frame["begin_datetime"] = [
        "2021-05-02T04:00:00+01:00",
        "2021-05-02T06:00:00+02:00",
        "2021-05-02T04:30:00+01:00",
    ]
    report = fakes.run(frame)
    noca = [r for r in fakes.rows() if r["species"] == "NOCA"]
    assert [(r["hour"], r["detections"]) for r in noca] == [(4, 2), (5, 1)]
    assert report.zone == "UTC+01:00"
    assert any("2 UTC offsets" in w and "converted to UTC+01:00" in w for w in report.warnings)
    notes = fakes.page.pages[OUT / "summary.html"][0]
    assert any("converted to UTC+01:00" in n for n in notes)


def test_birdnet_detections_use_confidence_and_recording_lengths(fakes: Fakes) -> None:
    a, b = Path("/rec/s1/20210502_040000.wav"), Path("/rec/s1/20210502_050000.wav")
    fakes.audio.files[a] = Audio(np.zeros(60 * 100, np.float32), 100)
    fakes.audio.files[b] = Audio(np.zeros(30 * 100, np.float32), 100)
    frame = pd.DataFrame(
        {
            "file": [str(a), str(a), str(b), str(b)],
            "begin_time": [0.0, 3.0, 0.0, 6.0],
            "end_time": [3.0, 6.0, 3.0, 9.0],
            "scientific_name": ["Turdus migratorius"] * 3 + ["Strix varia"],
            "common_name": ["American Robin"] * 3 + ["Barred Owl"],
            "confidence": [0.9, 0.4, 0.6, 0.95],
            "error": ["", "", "", ""],
        }
    )
    report = fakes.run(frame, threshold=0.5)
    table = {(r["species"], r["hour"]): r for r in fakes.rows()}
    assert table["American Robin", 4]["detections"] == 1
    assert table["American Robin", 5]["detections"] == 1
    assert table["Barred Owl", 5]["detections"] == 1
    assert table["American Robin", 4]["recording_minutes"] == 1.0  # 60 s from the header
    assert table["Barred Owl", 5]["recording_minutes"] == 0.5
    assert report.kind == "BirdNET detections" and report.effort
    with pytest.raises(ParameterError, match=r"threshold must be in \[0, 1\]"):
        fakes.run(frame, threshold=1.5)


def test_detection_tables_without_readable_recordings_have_no_minutes(fakes: Fakes) -> None:
    frame = pd.DataFrame(
        {
            "file": ["/gone/a.wav"],
            "begin_time": [0.0],
            "end_time": [3.0],
            "common_name": ["Barred Owl"],
            "confidence": [0.9],
            "begin_datetime": ["2021-05-02T04:00:00+00:00"],
        }
    )
    report = fakes.run(frame)
    assert not report.effort
    assert fakes.rows()[0]["recording_minutes"] == ""
    assert any("recording minutes unknown" in w and "/gone/a.wav" in w for w in report.warnings)


def test_ribbit_scores_are_long_and_cover_their_windows(fakes: Fakes) -> None:
    frame = pd.DataFrame(
        {
            "file": ["/r/s/20210502_040000.wav"] * 4,
            "species": ["frog", "toad", "frog", "toad"],
            "start_time": [0.0, 0.0, 2.0, 2.0],
            "end_time": [4.0, 4.0, 6.0, 6.0],  # overlapping windows: 6 s recorded
            "score": [3.0, 0.1, 5.0, 2.5],
        }
    )
    report = fakes.run(frame, threshold=2.0)
    table = {r["species"]: r for r in fakes.rows()}
    assert table["frog"]["detections"] == 2 and table["toad"]["detections"] == 1
    assert table["frog"]["recording_minutes"] == 0.1
    assert report.kind == "RIBBIT scores"


def test_sparse_scores_are_read_by_class(fakes: Fakes) -> None:
    frame = pd.DataFrame(
        {
            "file": ["/gone/a.wav"] * 2,
            "start_time": [0.0, 5.0],
            "end_time": [5.0, 10.0],
            "class": ["NOCA", "WOTH"],
            "score": [0.7, 0.3],
            "begin_datetime": ["2021-05-02T04:00:00Z", "2021-05-02T04:00:05Z"],
        }
    )
    report = fakes.run(frame, by=("site",))
    assert report.kind == "sparse scores"
    assert {r["species"]: r["detections"] for r in fakes.rows()} == {"NOCA": 1, "WOTH": 0}
    assert fakes.rows()[0]["site"] == "gone"


def test_label_tables_count_annotated_windows(fakes: Fakes) -> None:
    frame = pd.DataFrame(
        {
            "clip": ["c/0.wav", "c/1.wav", "c/2.wav"],
            "source": ["/r/s/20210502_040000.wav"] * 3,
            "begin_time": [0.0, 5.0, 10.0],
            "end_time": [5.0, 10.0, 15.0],
            "begin_datetime": [
                "2021-05-02T04:00:00.000+00:00",
                "2021-05-02T04:00:05.000+00:00",
                "2021-05-02T04:00:10.000+00:00",
            ],
            "end_datetime": [
                "2021-05-02T04:00:05.000+00:00",
                "2021-05-02T04:00:10.000+00:00",
                "2021-05-02T04:00:15.000+00:00",
            ],
            "wren": [1, 0, 1],
            "robin": [0, 0, 1],
        }
    )
    report = fakes.run(frame, threshold=1)
    assert report.kind == "labels"
    assert {r["species"]: r["detections"] for r in fakes.rows()} == {"wren": 2, "robin": 1}
    assert fakes.rows()[0]["recording_minutes"] == 0.25


def test_recordings_without_a_start_count_for_sites_only(fakes: Fakes) -> None:
    frame = _scores(["/rec/s/20210502_040000.wav", "/rec/s/untimed.wav"], [[0.9], [0.9, 0.8]])
    report = fakes.run(frame, by=("day",))
    assert [r["detections"] for r in fakes.rows() if r["species"] == "NOCA"] == [1]
    assert report.untimed_recordings == ["/rec/s/untimed.wav"]
    assert report.untimed_detections == 2
    assert any(
        "1 of 2 recordings have no known start time" in w and "2 detection(s)" in w
        for w in report.warnings
    )
    fakes.run(frame, by=("site",))
    assert [r["detections"] for r in fakes.rows() if r["species"] == "NOCA"] == [3]


def test_no_start_time_at_all_is_an_error_for_time_bins(fakes: Fakes) -> None:
    fakes.metadata.unreadable.add(Path("/rec/s/b.wav"))
    frame = _scores(["/rec/s/a.wav", "/rec/s/b.wav"], [[0.9], [0.1]])
    with pytest.raises(StartTimeUnknownError, match=r"no recording has a known start time"):
        fakes.run(frame, by=("hour",))
    report = fakes.run(frame, by=("site",))
    assert report.detections == 1 and fakes.figures.hours == {}
    assert any("/rec/s/b.wav: no start time" in w for w in report.warnings)


def test_one_pair_of_plots_per_detected_species_busiest_first(fakes: Fakes) -> None:
    frame = _scores(["/rec/s/20210502_040000.wav"], [[0.9, 0.9]])
    frame["W.O.T.H"] = [0.9, 0.9]
    frame["woth"] = [0.0, 0.6]
    report = fakes.run(frame)
    names = [p.name for p in report.images]
    assert names == [
        "noca.hours.png",
        "noca.heatmap.png",
        "w_o_t_h.hours.png",
        "w_o_t_h.heatmap.png",
        "woth.hours.png",
        "woth.heatmap.png",
    ]
    counts, zone = fakes.figures.hours[OUT / "noca.hours.png"]
    assert counts[4] == 2 and counts.sum() == 2 and zone == "UTC"
    dates, grid = fakes.figures.grids[OUT / "woth.heatmap.png"]
    assert dates == ["2021-05-02"] and grid[0, 4] == 1
    assert np.isnan(grid[0, 5])  # not recorded that hour
    _, tables, sections = fakes.page.pages[OUT / "summary.html"]
    assert [s.title for s in sections] == ["NOCA", "W.O.T.H", "woth"]
    assert tables[0].rows[0][:2] == ["NOCA", 2] and tables[0].rows[-1][:2] == ["WOTH", 0]
    assert tables[1].link == "activity.csv" and len(tables[1].rows) == 4


def test_failed_rows_are_skipped_and_counted(fakes: Fakes) -> None:
    frame = _scores(["/rec/s/20210502_040000.wav"], [[0.9]])
    failed = {"file": "/rec/s/bad.wav", "NOCA": np.nan, "WOTH": np.nan, "error": "unreadable"}
    report = fakes.run(pd.concat([frame, pd.DataFrame([failed])], ignore_index=True))
    assert report.failed_rows == 1 and report.recordings == 1


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"path": ["a.wav"], "x": [1]}), r"no 'file' column.*columns: path, x"),
        (pd.DataFrame({"file": ["a.wav"], "x": [1]}), r"no 'start_time' or 'begin_time'"),
        (pd.DataFrame({"file": ["a.wav"], "start_time": [0.0]}), "no score columns"),
        (
            pd.DataFrame({"file": ["a.wav"], "start_time": [0.0], "NOCA": ["high"]}),
            r"column 'NOCA' holds 'high' \(row 1\), not a number",
        ),
        (
            pd.DataFrame({"file": ["a.wav"], "start_time": [0.0], "NOCA": [1.0], "error": ["x"]}),
            r"no rows to summarize \(1 report a failure\)",
        ),
        (
            pd.DataFrame(
                {"file": ["a.wav"], "start_time": [0.0], "NOCA": [1.0], "begin_datetime": ["x"]}
            ),
            r"begin_datetime 'x' of a.wav is not an ISO 8601 time",
        ),
    ],
)
def test_tables_opso_does_not_write_are_refused(
    fakes: Fakes, frame: pd.DataFrame, message: str
) -> None:
    with pytest.raises(TableReadError, match=message):
        fakes.run(frame)


@pytest.mark.parametrize("threshold", [float("nan"), float("inf")])
def test_threshold_must_be_finite(fakes: Fakes, threshold: float) -> None:
    with pytest.raises(ParameterError, match="threshold must be a finite number"):
        fakes.run(_scores(["/r/a.wav"], [[0.5]]), threshold=threshold)


# --- the command -------------------------------------------------------------------------------


@pytest.fixture
def cli(fakes: Fakes) -> tuple[Container, Fakes]:
    c = Container()
    c.table_reader.override(fakes.tables)
    c.tables.override(fakes.tables)
    c.metadata.override(fakes.metadata)
    c.audio_io.override(fakes.audio)
    c.summarize_activity.override(fakes.use_case())
    return c, fakes


def test_command_summarizes_and_names_what_it_wrote(cli: tuple[Container, Fakes]) -> None:
    c, fakes = cli
    fakes.tables.frames[TABLE] = _scores(["/rec/s/20210502_040000.wav"], [[0.9, 0.2]])
    args = ["summarize", str(TABLE), "--threshold", "0.5", "--by", "hour", "-o", str(OUT)]
    result = CliRunner().invoke(main, args, obj=c)
    assert result.exit_code == 0, result.output
    assert "1 detection(s) of 2 species in 1 recording(s) (scores, threshold 0.5)" in result.output
    assert "times in UTC" in result.output
    assert "wrote /out/activity.csv (2 rows), 2 plot(s) and /out/summary.html" in result.output


def test_command_default_folder_is_beside_the_table(cli: tuple[Container, Fakes]) -> None:
    c, fakes = cli
    fakes.tables.frames[TABLE] = _scores(["/rec/s/20210502_040000.wav"], [[0.9]])
    result = CliRunner().invoke(main, ["summarize", str(TABLE), "--threshold", "0.5"], obj=c)
    assert result.exit_code == 0, result.output
    assert Path("/data/scores_summary/activity.csv") in fakes.tables.tables


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threshold", "nan"], "threshold must be a finite number"),
        (["--threshold", "0.5", "--by", "hour", "--by", "day"], "not both"),
        (["--threshold", "0.5", "--by", "week"], "'week' is not one of"),
        (["--threshold", "0.5", "--timezone", "Mars/Base"], "unknown time zone 'Mars/Base'"),
        ([], "Missing option '--threshold'"),
    ],
)
def test_command_usage_errors_exit_2(
    cli: tuple[Container, Fakes], args: list[str], message: str
) -> None:
    c, fakes = cli
    fakes.tables.frames[TABLE] = _scores(["/rec/s/20210502_040000.wav"], [[0.9]])
    result = CliRunner().invoke(main, ["summarize", str(TABLE), *args], obj=c)
    assert result.exit_code == 2, result.output
    assert message in result.output


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            _scores(["/rec/s/untimed.wav"], [[0.9]]),
            "Error: /data/scores.csv: no recording has a known start time",
        ),
        (pd.DataFrame({"path": ["a.wav"]}), "Error: /data/scores.csv: no 'file' column"),
    ],
)
def test_command_data_errors_exit_1_with_one_line(
    cli: tuple[Container, Fakes], frame: pd.DataFrame, message: str
) -> None:
    c, fakes = cli
    fakes.tables.frames[TABLE] = frame
    args = ["summarize", str(TABLE), "--threshold", "0.5", "--by", "hour"]
    result = CliRunner().invoke(main, args, obj=c)
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1].startswith(message)
    assert "Traceback" not in result.output


def test_command_warns_on_stderr_about_untimed_recordings(cli: tuple[Container, Fakes]) -> None:
    c, fakes = cli
    fakes.tables.frames[TABLE] = _scores(
        ["/rec/s/20210502_040000.wav", "/rec/s/untimed.wav"], [[0.9], [0.9]]
    )
    result = CliRunner().invoke(main, ["summarize", str(TABLE), "--threshold", "0.5"], obj=c)
    assert result.exit_code == 0, result.output
    assert "warning: 1 of 2 recordings have no known start time" in result.stderr
