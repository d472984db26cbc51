"""Heads on BirdNET embeddings of real recordings: training separates classes, prediction is exact.

The labelled set: every 3 s window of the great tit recordings (class ``great_tit``) and of the
Great Plains toad recording (``toad``), and windows of other recordings (birdsong, ARU clips)
with neither: 45 windows, embedded once for the module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import opso
from opso.adapters.numpy_heads import NpzHeadStore
from opso.cli import main
from opso.container import Container
from opso.domain.heads import EmbeddingSettings, Head, ModelReference
from opso.pretrained import HeadDetector, PretrainedDetector
from opso.resources import sample_recording

SNIPPET = Path("crowsetta/audio/Recording_1_Segment_07-snippet.wav")
SNIPPET_TABLE = Path(
    "crowsetta/raven/chronister2021_Recording_1/Recording_1_Segment_07.Table.1.selections.txt"
)


def _recordings(test_data: Path) -> tuple[list[Path], list[Path], list[Path]]:
    audio = test_data / "opensoundscape" / "audio"
    tits = sorted((test_data / "pykanto" / "audio" / "great_tit").glob("*.wav"))
    toads = [audio / "great_plains_toad.wav"]
    others = [audio / "1min_first20s.wav", sample_recording(), *sorted(audio.glob("aru_*.wav"))]
    return tits, toads, others


@pytest.fixture(scope="module")
def labelled(
    birdnet_container: Container, tmp_path_factory: pytest.TempPathFactory, test_data: Path
) -> tuple[Path, Path, list[Path]]:
    """``opso embed`` of the labelled set, and its wide label table (as ``opso label`` writes)."""
    folder = tmp_path_factory.mktemp("heads")
    tits, toads, others = _recordings(test_data)
    files = [*tits, *toads, *others]
    embeddings = folder / "embeddings.parquet"
    args = ["embed", "--model", "birdnet", *map(str, files), "-o", str(embeddings)]
    result = CliRunner().invoke(main, args, obj=birdnet_container)
    assert result.exit_code == 0, result.output
    keys = pd.read_parquet(embeddings, columns=["file", "begin_time", "end_time"])
    labels = keys.rename(columns={"file": "source"})
    labels["great_tit"] = keys["file"].isin([str(p) for p in tits]).astype(int)
    labels["toad"] = keys["file"].isin([str(p) for p in toads]).astype(int)
    assert len(labels) == 45 and labels["great_tit"].sum() == 14 and labels["toad"].sum() == 15
    labels_path = folder / "labels.csv"
    labels.to_csv(labels_path, index=False)
    return embeddings, labels_path, files


@pytest.fixture(scope="module")
def head_file(birdnet_container: Container, labelled: tuple[Path, Path, list[Path]]) -> Path:
    embeddings, labels, _ = labelled
    out = embeddings.with_name("head.opso")
    args = ["train", "--embeddings", str(embeddings), "--labels", str(labels), "-o", str(out)]
    result = CliRunner().invoke(main, [*args, "--valid-fraction", "0.3"], obj=birdnet_container)
    assert result.exit_code == 0, result.output
    assert "great_tit" in result.output and "ROC AUC" in result.output
    return out


def test_a_head_separates_its_classes_on_held_out_windows(head_file: Path) -> None:
    head = NpzHeadStore().load(head_file)
    assert head.classes == ("great_tit", "toad") and head.dimension == 1024
    for m in head.metrics:
        assert m.positives >= 3 and m.negatives >= 6
        assert m.average_precision is not None and m.average_precision >= 0.9
        assert m.roc_auc is not None and m.roc_auc >= 0.9


def test_the_head_records_its_base_model_and_windows(
    head_file: Path, birdnet: PretrainedDetector
) -> None:
    settings = NpzHeadStore().load(head_file).settings
    assert settings.model == birdnet.model.reference
    assert settings.model.load_as == "birdnet" and len(settings.model.sha256) == 64
    assert (settings.sample_rate, settings.clip_duration, settings.overlap) == (48000, 3.0, 0.0)


def _by_hand(head: Head, features: np.ndarray) -> np.ndarray:
    """Standardise, the linear layer, the sigmoid: the logistic head written out."""
    ((weights, bias),) = head.layers
    z = ((features - head.mean) / head.scale) @ weights + bias
    return 1 / (1 + np.exp(-z.astype(np.float64)))


def test_predict_with_a_head_equals_embedding_then_head_by_hand(
    birdnet_container: Container,
    head_file: Path,
    birdnet: PretrainedDetector,
    labelled: tuple[Path, Path, list[Path]],
    tmp_path: Path,
) -> None:
    files = [labelled[2][0], sample_recording()]  # a great tit, the birdsong sample
    out = tmp_path / "scores.csv"
    args = ["predict", str(head_file), *map(str, files), "-o", str(out)]
    result = CliRunner().invoke(main, args, obj=birdnet_container)
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["file", "start_time", "end_time", "great_tit", "toad", "error"]
    embedded = birdnet.embed(files)
    assert scores["start_time"].tolist() == embedded["begin_time"].tolist()
    expected = _by_hand(NpzHeadStore().load(head_file), embedded.filter(like="emb_").to_numpy())
    assert np.abs(scores[["great_tit", "toad"]].to_numpy() - expected).max() <= 1e-5
    assert scores["great_tit"].iloc[0] > 0.5 and scores["toad"].iloc[0] < 0.5


def test_python_api_trains_saves_loads_and_predicts(
    birdnet: PretrainedDetector, labelled: tuple[Path, Path, list[Path]], tmp_path: Path
) -> None:
    _, labels_path, files = labelled
    embeddings = birdnet.embed(files)
    labels = pd.read_csv(labels_path)
    trained = opso.train_head(embeddings, labels, head="mlp", hidden=16, valid_fraction=0.3)
    assert list(trained.metrics["class"]) == ["great_tit", "toad"]
    assert (trained.metrics["roc_auc"] >= 0.9).all()
    path = trained.save(tmp_path / "mlp.opso")
    loaded = opso.load_model(path)
    assert isinstance(loaded, HeadDetector) and loaded.classes == ["great_tit", "toad"]
    one = [files[0]]
    scores = loaded.predict(one)
    features = embeddings[embeddings["file"] == str(files[0])].filter(like="emb_").to_numpy()
    assert np.allclose(
        scores[["great_tit", "toad"]].to_numpy(), trained.head.scores(features), atol=1e-5
    )
    assert np.array_equal(
        loaded.embed(one).filter(like="emb_").to_numpy(),
        birdnet.embed(one).filter(like="emb_").to_numpy(),
    )


def test_a_head_whose_base_model_file_changed_is_refused(
    birdnet_container: Container, head_file: Path, test_data: Path, tmp_path: Path
) -> None:
    head = NpzHeadStore().load(head_file)
    ref = head.settings.model
    other = ModelReference(ref.name, ref.load_as, ref.labels, "/elsewhere/model.tflite", "0" * 64)
    forged = Head(
        kind=head.kind,
        classes=head.classes,
        mean=head.mean,
        scale=head.scale,
        layers=head.layers,
        settings=EmbeddingSettings(other, 48000, 3.0, 0.0, 1024),
    )
    path = NpzHeadStore().save(forged, tmp_path / "old.opso")
    out = tmp_path / "scores.csv"
    args = ["predict", str(path), str(sample_recording()), "-o", str(out)]
    result = CliRunner().invoke(main, args, obj=birdnet_container)
    assert result.exit_code == 1
    assert str(path) in result.output and "/elsewhere/model.tflite" in result.output
    assert ref.file in result.output and "the base model changed" in result.output
    assert not out.exists()


def test_the_table_opso_label_writes_joins_the_embeddings(
    birdnet_container: Container, test_data: Path, tmp_path: Path
) -> None:
    """Raven boxes -> ``opso label`` (3 s clips) -> a head on ``opso embed``'s windows."""
    (tmp_path / "raven").mkdir()
    (tmp_path / "audio").mkdir()
    recording = tmp_path / "audio" / "Recording_1_Segment_07.wav"
    recording.write_bytes((test_data / SNIPPET).read_bytes())
    table = test_data / SNIPPET_TABLE
    (tmp_path / "raven" / table.name).write_bytes(table.read_bytes())
    runner = CliRunner()
    labels = tmp_path / "labels.csv"
    args = ["label", "--annotations", str(tmp_path / "raven"), "--audio", str(tmp_path / "audio")]
    result = runner.invoke(
        main, [*args, "--clip-duration", "3", "-o", str(labels)], obj=birdnet_container
    )
    assert result.exit_code == 0, result.output
    embeddings = tmp_path / "embeddings.parquet"
    args = ["embed", "--model", "birdnet", str(tmp_path / "audio"), "-o", str(embeddings)]
    assert runner.invoke(main, args, obj=birdnet_container).exit_code == 0
    head = tmp_path / "head.opso"
    args = ["train", "--embeddings", str(embeddings), "--labels", str(labels), "-o", str(head)]
    result = runner.invoke(
        main, [*args, "--classes", "BCCH,EATO", "--valid-fraction", "0"], obj=birdnet_container
    )
    assert result.exit_code == 0, result.output
    assert "2 class(es), 3 training and 0 validation window(s)" in result.output
    assert "warning" not in result.output  # every labelled window has its embedding
    assert NpzHeadStore().load(head).classes == ("BCCH", "EATO")
