"""``opso train --embeddings`` and ``opso predict HEAD`` on real files: outputs and bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from opso.adapters.numpy_heads import NpzHeadStore
from opso.adapters.pyarrow_embeddings import ParquetEmbeddingReader, ParquetEmbeddingWriter
from opso.cli import main
from opso.domain.heads import EmbeddingSettings, ModelReference

REFERENCE = ModelReference("fake", "fake", None, "/models/fake.tflite", "c" * 64)
N = 60


def _embeddings(folder: Path, *, dimension: int = 4, recorded: int | None = 4) -> Path:
    """Two files of 30 windows; class ``a`` shifts feature 0, class ``b`` feature 1."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(N, dimension)).astype(np.float32)
    vectors[:20, 0] += 6
    vectors[20:35, 1] += 6
    rows: list[dict[str, object]] = [
        {"file": f"rec{i // 30}.wav", "begin_time": 3.0 * (i % 30), "end_time": 3.0 * (i % 30) + 3}
        | {"error": ""}
        for i in range(N)
    ]
    settings = None if recorded is None else EmbeddingSettings(REFERENCE, 48000, 3.0, 0.0, recorded)
    path = folder / "embeddings.parquet"
    ParquetEmbeddingWriter().write(rows, vectors, path, settings=settings)
    return path


def _labels(folder: Path, *, files: tuple[str, str] = ("rec0.wav", "rec1.wav")) -> Path:
    i = np.arange(N)
    table = pd.DataFrame(
        {
            "file": [files[k // 30] for k in i],
            "begin_time": 3.0 * (i % 30),
            "end_time": 3.0 * (i % 30) + 3,
            "a": (i < 20).astype(int),
            "b": ((i >= 20) & (i < 35)).astype(int),
        }
    )
    path = folder / "labels.csv"
    table.to_csv(path, index=False)
    return path


def _train(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["train", *args])
    return result.exit_code, result.output


def test_the_embeddings_table_keeps_its_record(tmp_path: Path) -> None:
    path = _embeddings(tmp_path)
    table = ParquetEmbeddingReader().read(path)
    assert table.settings == EmbeddingSettings(REFERENCE, 48000, 3.0, 0.0, 4)
    assert table.vectors.shape == (N, 4) and table.files[0] == "rec0.wav"
    assert pq.read_table(path).column_names[-1] == "error"


def test_train_writes_a_head_and_prints_metrics(tmp_path: Path) -> None:
    out = tmp_path / "head.opso"
    code, output = _train(
        "--embeddings", str(_embeddings(tmp_path)), "--labels", str(_labels(tmp_path)),
        "-o", str(out), "--head", "mlp", "--seed", "3",
    )  # fmt: skip
    assert code == 0, output
    assert "mlp head on fake embeddings (4 features): 2 class(es), 48 training and 12 " in output
    assert "1.000" in output and f"head: {out}" in output
    head = NpzHeadStore().load(out)
    assert head.kind == "mlp" and head.classes == ("a", "b")
    assert [m.roc_auc for m in head.metrics] == [1.0, 1.0]


def test_some_windows_without_embeddings_give_a_warning(tmp_path: Path) -> None:
    labels = pd.read_csv(_labels(tmp_path))
    labels.loc[:4, "begin_time"] += 1.0  # windows that were never embedded
    labels.to_csv(tmp_path / "shifted.csv", index=False)
    out = tmp_path / "head.opso"
    code, output = _train(
        "--embeddings", str(_embeddings(tmp_path)), "--labels", str(tmp_path / "shifted.csv"),
        "-o", str(out), "--valid-fraction", "0",
    )  # fmt: skip
    assert code == 0, output
    assert "warning: 5 of 60 labelled window(s) have no embedding" in output
    assert "(e.g. rec0.wav 1-3 s)" in output
    assert "55 training and 0 validation window(s)" in output and out.is_file()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing column", r"labels\.csv: the label table needs a begin time column"),
        ("no overlap", r"none of the 60 labelled windows has an embedding \(e\.g\. x\.wav 0-3 s\)"),
        ("wrong dimension", r"embeddings\.parquet: 4 feature columns, but its record says fake"),
        ("no record", r"embeddings\.parquet: the table does not say which model made it"),
        ("not parquet", r"embeddings\.parquet: not a readable Parquet table"),
    ],
)
def test_bad_input_exits_1_with_one_line(tmp_path: Path, case: str, message: str) -> None:
    embeddings = _embeddings(
        tmp_path,
        recorded={"wrong dimension": 1024, "no record": None}.get(case, 4),
    )
    labels = _labels(
        tmp_path, files=("x.wav", "y.wav") if case == "no overlap" else ("rec0.wav", "rec1.wav")
    )
    if case == "missing column":
        pd.read_csv(labels).drop(columns="begin_time").to_csv(labels, index=False)
    if case == "not parquet":
        embeddings.write_text("file,begin_time\n")
    out = tmp_path / "head.opso"
    code, output = _train("--embeddings", str(embeddings), "--labels", str(labels), "-o", str(out))
    assert code == 1
    assert len(output.strip().splitlines()) == 1 and "Traceback" not in output
    assert re.search(message, output), output
    assert not out.exists()


def test_options_for_cnns_are_refused_with_embeddings(tmp_path: Path) -> None:
    code, output = _train(
        "--embeddings", str(_embeddings(tmp_path)), "--labels", str(_labels(tmp_path)),
        "--epochs", "3", "--architecture", "resnet34",
    )  # fmt: skip
    assert code == 2 and "--architecture, --epochs: not used to train a head" in output
    code, output = _train("--labels", str(_labels(tmp_path)))
    assert code == 2 and "Missing option '-o'" in output


def test_predict_refuses_a_corrupt_head_and_options_that_do_not_apply(
    tmp_path: Path, birds_10s: Path
) -> None:
    out = tmp_path / "head.opso"
    code, output = _train(
        "--embeddings", str(_embeddings(tmp_path)), "--labels", str(_labels(tmp_path)),
        "-o", str(out),
    )  # fmt: skip
    assert code == 0, output
    with np.load(out) as data:
        members = {name: data[name] for name in data.files}
    members["b0"] = members["b0"] + 1
    tampered = tmp_path / "tampered.opso"
    with tampered.open("wb") as f:
        np.savez(f, **members)
    scores = tmp_path / "scores.csv"
    args = ["predict", str(tampered), str(birds_10s), "-o", str(scores)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "tampered.opso: checksum mismatch" in result.output
    assert not scores.exists()
    args = ["predict", str(out), str(birds_10s), "-o", str(scores), "--top-k", "2"]
    result = CliRunner().invoke(main, [*args, "--min-confidence", "0.5"])
    assert result.exit_code == 2
    assert "--top-k, --min-confidence: not used with a head file" in result.output
