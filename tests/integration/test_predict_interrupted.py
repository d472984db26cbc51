"""Ctrl-C during a streamed prediction keeps the recordings scored to the end, and says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from dependency_injector import providers

from opso.adapters.csv_stream import CsvRowSink
from opso.cli import main
from opso.container import Container

COLUMNS = ("file", "start_time", "end_time", "owl", "error")


def _rows(file: str, n: int) -> list[dict[str, object]]:
    return [
        {"file": file, "start_time": 5.0 * k, "end_time": 5.0 * k + 5, "owl": 0.5, "error": ""}
        for k in range(n)
    ]


def test_the_csv_sink_keeps_rows_up_to_the_last_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    with pytest.raises(KeyboardInterrupt), CsvRowSink().open(out, columns=COLUMNS) as stream:
        stream.write(_rows("a.wav", 3))
        stream.checkpoint()
        stream.write(_rows("b.wav", 1))  # b.wav is not finished
        raise KeyboardInterrupt
    kept = pd.read_csv(tmp_path / "scores.partial.csv")
    assert list(kept.columns) == list(COLUMNS) and kept["file"].tolist() == ["a.wav"] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.partial.csv"]


class _Interrupted:
    """A prediction use-case that streams one finished recording, then meets Ctrl-C."""

    def run(self, *, output: Path, **_: Any) -> None:
        with CsvRowSink().open(output, columns=COLUMNS) as stream:
            stream.write(_rows("a.wav", 2))
            stream.checkpoint()
            raise KeyboardInterrupt


def test_cli_says_where_the_rows_are_and_how_to_resume(tmp_path: Path) -> None:
    c = Container()
    c.predict_scores.override(providers.Object(_Interrupted()))
    rec = tmp_path / "a.wav"
    rec.write_bytes(b"")
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(main, ["predict", "m.opso", str(rec), "-o", str(out)], obj=c)
    assert result.exit_code == 130
    assert f"the recordings scored to the end are in {tmp_path / 'scores.partial.csv'}" in (
        result.output
    )
    assert "--run-dir" in result.output and not out.exists()
    assert len(pd.read_csv(tmp_path / "scores.partial.csv")) == 2
