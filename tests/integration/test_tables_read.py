"""Reading user tables: one adapter, one error type naming the file and the line, every command."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from opso.adapters.csv_tables import PandasTableReader
from opso.cli import main
from opso.domain.errors import OpsoError, TableReadError

RAGGED = "file,start_time,end_time\na.wav,0,5\nb.wav,5,10,extra\n"


def test_reads_csv_tsv_and_parquet_with_stripped_headers(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text(" file , score\na.wav, 0.5\n")
    tsv = tmp_path / "t.tsv"
    tsv.write_text("file\tscore\na.wav\t0.5\n")
    parquet = tmp_path / "t.parquet"
    pd.DataFrame({"file": ["a.wav"], "score": [0.5]}).to_parquet(parquet)
    for path in (csv, tsv, parquet):
        df = PandasTableReader().read(path)
        assert list(df.columns) == ["file", "score"], path
        assert df.loc[0, "score"] == 0.5 and df.loc[0, "file"] == "a.wav"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (RAGGED.encode(), r"t\.csv, line 3: label table is malformed"),
        (b"file,x\na.wav,1\nb\xff.wav,2\n", r"t\.csv, line 3: label table is not UTF-8"),
        (b"", r"t\.csv: label table is empty"),
    ],
)
def test_bad_tables_are_one_error_naming_file_and_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(TableReadError, match=message) as caught:
        PandasTableReader().read(path, what="label table")
    assert isinstance(caught.value, OpsoError) and isinstance(caught.value, ValueError)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(TableReadError, match=r"nope\.csv: no such table file"):
        PandasTableReader().read(tmp_path / "nope.csv")
    with pytest.raises(TableReadError, match="is a folder"):
        PandasTableReader().read(tmp_path)


def test_not_parquet(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    path.write_text("not parquet")
    with pytest.raises(TableReadError, match=r"t\.parquet: cannot read the table"):
        PandasTableReader().read(path)


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--labels", "{bad}", "-o", "{tmp}/run"],
        ["ribbit", "{wav}", "--species-table", "{bad}", "-o", "{tmp}/r.csv"],
        ["review", "{bad}", "--audio-root", "{tmp}", "-o", "{tmp}/review"],
        ["localize", "--coords", "{bad}", "--detections", "{bad}", "-o", "{tmp}/p.csv"],
    ],
    ids=["train", "ribbit", "review", "localize"],
)
def test_every_command_reports_a_bad_table_the_same_way(
    args: list[str], tmp_path: Path, short_moth: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(RAGGED)
    filled = [a.format(bad=bad, tmp=tmp_path, wav=short_moth) for a in args]
    result = CliRunner().invoke(main, filled)
    assert result.exit_code == 1, result.output
    assert f"{bad}, line 3:" in result.output and "malformed" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r.csv").exists() and not (tmp_path / "p.csv").exists()
