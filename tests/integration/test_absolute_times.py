"""Tables give the moment each clip begins when the recording's start time is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from opso.adapters.pyarrow_embeddings import ParquetEmbeddingReader
from opso.cli import main
from tests.conftest import untrained_model

SR = 8000
RAVEN_HEADER = (
    "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)"
)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return untrained_model(tmp_path_factory.mktemp("model"), sample_rate=SR, clip_duration=5.0)


def test_predict_scores_carry_the_audiomoth_start(
    model: Path, test_data: Path, short_moth: Path, tmp_path: Path
) -> None:
    field = test_data / "opensoundscape" / "audio" / "1min_first20s.wav"  # 2018-05-04 09:32 UTC
    plain = tmp_path / "plain.wav"  # no metadata, no time in its name
    sf.write(plain, np.zeros(6 * SR, dtype=np.float32), SR)
    out = tmp_path / "scores.csv"
    args = ["predict", str(model), str(field), str(short_moth), str(plain), "-o", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out, keep_default_na=False)
    assert list(scores.columns[:4]) == ["file", "start_time", "end_time", "begin_datetime"]
    times = {(r.file, r.start_time): r.begin_datetime for r in scores.itertuples()}
    assert times[(str(field), 0.0)] == "2018-05-04T09:32:00.000+00:00"
    assert times[(str(field), 15.0)] == "2018-05-04T09:32:15.000+00:00"
    assert times[(str(short_moth), 0.0)] == "2021-05-02T04:00:00.000+00:00"
    assert times[(str(plain), 0.0)] == ""


def test_label_table_reads_file_name_times_in_the_given_zone(tmp_path: Path) -> None:
    audio, tables = tmp_path / "audio", tmp_path / "tables"
    audio.mkdir()
    tables.mkdir()
    sf.write(audio / "20210502_040000.wav", np.zeros(10 * SR, dtype=np.float32), SR)
    (tables / "20210502_040000.Table.1.selections.txt").write_text(
        RAVEN_HEADER + "\tSpecies\n1\tSpectrogram 1\t1\t6.0\t7.0\t500\t2000\tOWL\n"
    )
    out = tmp_path / "labels.csv"
    args = ["label", "--annotations", str(tables), "--audio", str(audio), "--clip-duration", "5"]
    result = CliRunner().invoke(main, [*args, "--timezone", "Europe/Berlin", "-o", str(out)])
    assert result.exit_code == 0, result.output
    labels = pd.read_csv(out)
    assert labels["begin_datetime"].tolist() == [
        "2021-05-02T04:00:00.000+02:00",
        "2021-05-02T04:00:05.000+02:00",
    ]
    assert labels["OWL"].tolist() == [0, 1]


def test_ribbit_scores_carry_the_audiomoth_start(test_data: Path, tmp_path: Path) -> None:
    field = test_data / "opensoundscape" / "audio" / "1min_first20s.wav"  # 2018-05-04 09:32 UTC
    out = tmp_path / "ribbit.csv"
    args = ["ribbit", str(field), "--signal-band", "1000", "2000", "--pulse-rate", "5", "10"]
    result = CliRunner().invoke(main, [*args, "--window", "5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns) == [
        "file",
        "species",
        "start_time",
        "end_time",
        "begin_datetime",
        "score",
    ]
    start = pd.Timestamp("2018-05-04T09:32:00+00:00")
    expected = [(start + pd.Timedelta(seconds=t)).isoformat() for t in table["start_time"]]
    assert [pd.Timestamp(t).isoformat() for t in table["begin_datetime"]] == expected
    assert len(table) >= 4


def test_birdnet_detections_and_raven_tables_carry_clock_times(
    short_moth: Path, tmp_path: Path
) -> None:
    out, raven = tmp_path / "detections.csv", tmp_path / "raven"
    args = ["predict", "--model", "birdnet", str(short_moth), "--min-confidence", "0"]
    result = CliRunner().invoke(
        main, [*args, "--top-k", "2", "-o", str(out), "--raven", str(raven)]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns[:4]) == ["file", "begin_time", "end_time", "begin_datetime"]
    assert table["begin_datetime"].tolist() == ["2021-05-02T04:00:00.000+00:00"] * 2
    (selections,) = raven.glob("*.selections.txt")
    boxes = pd.read_csv(selections, sep="\t")
    assert boxes["Begin Date Time"].tolist() == ["2021/05/02 04:00:00.000"] * 2
    assert boxes["Begin Clock Time"].tolist() == ["04:00:00.000"] * 2


def test_run_dir_parts_carry_the_start_of_each_segment(
    model: Path, test_data: Path, tmp_path: Path
) -> None:
    field = test_data / "opensoundscape" / "audio" / "1min_first20s.wav"  # 2018-05-04 09:32 UTC
    out = tmp_path / "scores.csv"
    args = ["predict", str(model), str(field), "--run-dir", str(tmp_path / "run"), "-o", str(out)]
    result = CliRunner().invoke(main, [*args, "--workers", "0", "--shard-duration", "10"])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert scores["start_time"].tolist() == [0.0, 5.0, 10.0, 15.0]  # two shards of 10 s
    assert scores["begin_datetime"].tolist() == [
        f"2018-05-04T09:32:{s:02d}.000+00:00" for s in (0, 5, 10, 15)
    ]


def test_split_clips_carry_their_own_start_and_the_table_its_moment(
    test_data: Path, tmp_path: Path
) -> None:
    field = test_data / "opensoundscape" / "audio" / "1min_first20s.wav"  # 2018-05-04 09:32 UTC
    out = tmp_path / "clips"
    result = CliRunner().invoke(main, ["split", str(field), "-o", str(out), "--clip-duration", "5"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "clips.csv")
    assert table["begin_datetime"].tolist() == [
        f"2018-05-04T09:32:{s:02d}.000+00:00" for s in (0, 5, 10, 15)
    ]
    info = CliRunner().invoke(main, ["info", str(out / table["clip"][1]), "--format", "json"])
    assert info.exit_code == 0, info.output
    assert "2018-05-04T09:32:05" in info.output and "AudioMoth" in info.output
    clip, sr = sf.read(out / table["clip"][1], dtype="int16")
    whole, _ = sf.read(field, dtype="int16")
    np.testing.assert_array_equal(clip, whole[5 * sr : 10 * sr])  # the samples, untouched


def test_label_saved_clips_carry_their_own_start(tmp_path: Path) -> None:
    audio, tables = tmp_path / "audio", tmp_path / "tables"
    audio.mkdir()
    tables.mkdir()
    sf.write(audio / "20210502_040000.wav", np.zeros(10 * SR, dtype=np.float32), SR)
    (tables / "20210502_040000.Table.1.selections.txt").write_text(
        RAVEN_HEADER + "\tSpecies\n1\tSpectrogram 1\t1\t6.0\t7.0\t500\t2000\tOWL\n"
    )
    args = ["label", "--annotations", str(tables), "--audio", str(audio), "--clip-duration", "5"]
    args += ["--save-clips", str(tmp_path / "clips"), "-o", str(tmp_path / "labels.csv")]
    assert CliRunner().invoke(main, args).exit_code == 0
    info = CliRunner().invoke(
        main, ["info", str(tmp_path / "clips" / "20210502_040000_5s_10s.wav"), "--format", "csv"]
    )
    assert "2021-05-02T04:00:05" in info.output


def test_embeddings_carry_the_moment_each_window_begins(short_moth: Path, tmp_path: Path) -> None:
    out = tmp_path / "emb.parquet"
    result = CliRunner().invoke(
        main, ["embed", "--model", "birdnet", str(short_moth), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert list(table.columns[:4]) == ["file", "begin_time", "end_time", "begin_datetime"]
    assert table["begin_datetime"].tolist() == ["2021-05-02T04:00:00.000+00:00"]
    # the reader that heads train from takes the column as a key, not as a feature
    assert ParquetEmbeddingReader().read(out).vectors.shape == (1, 1024)
