"""opso's own CNNs through the pretrained-model port: ``opso embed``, heads, Python."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

import opso
from opso.adapters.torch_classifier import TorchClassifierStore
from opso.cli import main
from opso.pretrained import CnnDetector, HeadDetector
from tests.conftest import untrained_model

SR = 8000


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return untrained_model(tmp_path_factory.mktemp("model"), sample_rate=SR, clip_duration=1.0)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two 6 s recordings: a 2 kHz tone in their first half, noise in their second."""
    root = tmp_path_factory.mktemp("recordings")
    rng = np.random.default_rng(1)
    t = np.arange(3 * SR) / SR
    paths = []
    for name in ("a.wav", "b.wav"):
        tone = 0.5 * np.sin(2 * np.pi * 2000 * t) + 0.01 * rng.standard_normal(len(t))
        noise = 0.3 * rng.standard_normal(3 * SR)
        sf.write(root / name, np.concatenate([tone, noise]).astype(np.float32), SR)
        paths.append(root / name)
    return paths


def test_embed_gives_the_cnn_penultimate_layer_per_window(
    model: Path, recordings: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "emb.parquet"
    args = ["embed", "--model", str(model), *map(str, recordings), "-o", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert table["begin_time"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] * 2
    features = table.filter(like="emb_").to_numpy()
    assert features.shape == (12, 512)  # resnet18's penultimate layer
    classifier = TorchClassifierStore(backend="eager").load(model)
    audio, _ = sf.read(recordings[0], dtype="float32")
    want = classifier.embed(audio.reshape(6, SR))
    np.testing.assert_allclose(features[:6], want, atol=1e-4)


def test_a_head_on_cnn_embeddings_trains_and_predicts_in_one_pass(
    model: Path, recordings: list[Path], tmp_path: Path
) -> None:
    emb, labels, head = tmp_path / "emb.parquet", tmp_path / "labels.csv", tmp_path / "head.opso"
    runner = CliRunner()
    done = runner.invoke(
        main, ["embed", "--model", str(model), *map(str, recordings), "-o", str(emb)]
    )
    assert done.exit_code == 0, done.output
    rows = pd.read_parquet(emb, columns=["file", "begin_time", "end_time"])
    rows["tone"] = (rows["begin_time"] < 3).astype(int)
    rows.to_csv(labels, index=False)
    args = ["train", "--embeddings", str(emb), "--labels", str(labels), "-o", str(head)]
    trained = runner.invoke(main, [*args, "--valid-fraction", "0.5", "--seed", "0"])
    assert trained.exit_code == 0, trained.output
    scores_path = tmp_path / "scores.csv"
    scored = runner.invoke(
        main, ["predict", str(head), *map(str, recordings), "-o", str(scores_path)]
    )
    assert scored.exit_code == 0, scored.output
    scores = pd.read_csv(scores_path)
    tone = scores[scores["start_time"] < 3]["tone"]
    noise = scores[scores["start_time"] >= 3]["tone"]
    assert tone.min() > noise.max()  # the head separates tone from noise on every window
    detector = opso.load_model(head)
    assert isinstance(detector, HeadDetector)
    np.testing.assert_allclose(
        detector.predict(recordings)["tone"].to_numpy(), scores["tone"].to_numpy(), atol=1e-5
    )
    model.touch()
    with model.open("ab") as fh:  # the base model changes: the head refuses it
        fh.write(b"\0")
    refused = runner.invoke(
        main, ["predict", str(head), str(recordings[0]), "-o", str(scores_path)]
    )
    assert refused.exit_code == 1 and "SHA-256" in refused.output


def test_python_load_model_predicts_and_embeds_like_the_cli(
    model: Path, recordings: list[Path], tmp_path: Path
) -> None:
    detector = opso.load_model(model)
    assert isinstance(detector, CnnDetector) and detector.classes == ["owl", "wren"]
    out = tmp_path / "scores.csv"
    assert (
        CliRunner()
        .invoke(main, ["predict", str(model), *map(str, recordings), "-o", str(out)])
        .exit_code
        == 0
    )
    scores = pd.read_csv(out)
    got = detector.predict(recordings)
    np.testing.assert_allclose(
        got[["owl", "wren"]].to_numpy(), scores[["owl", "wren"]].to_numpy(), atol=1e-5
    )
    embedded = detector.embed(recordings[0])
    assert embedded.filter(like="emb_").shape == (6, 512)
    assert isinstance(detector.network, torch.nn.Module)


def test_a_loaded_cnn_predicts_without_reading_its_file_again(
    model: Path, recordings: list[Path], tmp_path: Path
) -> None:
    copy = tmp_path / "model.opso"
    copy.write_bytes(model.read_bytes())
    detector = opso.load_model(copy)
    first = detector.predict(recordings)
    copy.write_bytes(b"gone")  # the model is loaded once, when opso.load_model returns
    pd.testing.assert_frame_equal(detector.predict(recordings), first)


def test_an_opso_model_takes_no_labels_file(
    model: Path, recordings: list[Path], tmp_path: Path
) -> None:
    args = ["embed", "--model", str(model), "--labels", str(model), str(recordings[0])]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "e.parquet")])
    assert result.exit_code == 2 and "holds its own classes" in result.output
