"""BirdNET maths and the detect/embed use-cases over in-memory adapters and a fake model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from opso.adapters.memory import InMemoryAnnotationStore, InMemoryAudioIO, InMemoryRowSink
from opso.app.files import AudioJob
from opso.app.pretrained import DetectSpecies, EmbedWindows, SpeciesFilter
from opso.domain.audio import Audio
from opso.domain.errors import ParameterError
from opso.domain.heads import EmbeddingSettings, ModelReference
from opso.domain.pretrained import check_location, flat_sigmoid, pad_windows, select_species
from opso.ports.pretrained import PretrainedModel

RATE = 100
CLASSES = ["Aus aus_Aye", "Bus bus_Bee", "Cus cus_Sea"]


class FakeModel(PretrainedModel):
    """3 s windows at 100 Hz; logits from the window's mean, so tests can steer them."""

    name = "fake"
    sample_rate = RATE
    clip_duration = 3.0
    classes: Sequence[str] = CLASSES
    reference = ModelReference("fake", "fake", None, "fake.tflite", "0" * 64)

    def scores(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        m = clips.mean(axis=1, keepdims=True)
        return np.hstack([10 * m, -10 * m, np.zeros_like(m)]).astype(np.float32)

    def embeddings(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        return np.stack([clips.mean(axis=1), clips.max(axis=1)], axis=1).astype(np.float32)

    def occurrence(self, latitude: float, longitude: float, week: int) -> NDArray[np.float32]:
        return np.array([0.5, 0.01, 0.5], dtype=np.float32)


def _audio(*values: float) -> Audio:
    """One second of each value."""
    return Audio(np.repeat(np.array(values, dtype=np.float32), RATE), RATE)


def test_windows_are_zero_padded_and_short_tails_dropped() -> None:
    samples = np.ones(int(7.5 * RATE), dtype=np.float32)
    times, clips = pad_windows(samples, RATE, 3.0)
    assert times == [(0.0, 3.0), (3.0, 6.0), (6.0, 7.5)]
    assert clips.shape == (3, 300) and clips[2, :150].all() and not clips[2, 150:].any()
    times, _ = pad_windows(np.ones(int(6.5 * RATE), dtype=np.float32), RATE, 3.0)
    assert times == [(0.0, 3.0), (3.0, 6.0)]  # 0.5 s left: under BirdNET's 1 s minimum
    times, clips = pad_windows(np.ones(50, dtype=np.float32), RATE, 3.0)
    assert times == [(0.0, 0.5)] and clips.shape == (1, 300)  # shorter than a window: padded
    times, _ = pad_windows(np.ones(6 * RATE, dtype=np.float32), RATE, 3.0, 1.5)
    assert [b for b, _ in times] == [0.0, 1.5, 3.0, 4.5]


def test_flat_sigmoid_follows_birdnet_sensitivity() -> None:
    logits = np.array([-20.0, -2.0, 0.0, 2.0], dtype=np.float32)
    assert np.allclose(flat_sigmoid(logits), 1 / (1 + np.exp(-np.clip(logits, -15, 15))))
    flatter = flat_sigmoid(logits, 1.5)
    assert np.allclose(flatter, 1 / (1 + np.exp(-0.5 * np.clip(logits, -15, 15))))
    assert flatter[1] > flat_sigmoid(logits)[1]  # higher sensitivity: more detections
    with pytest.raises(ParameterError, match="sensitivity"):
        flat_sigmoid(logits, 0.4)


def test_location_and_species_checks() -> None:
    assert check_location(None, None, None) is None
    assert check_location(10.0, 20.0, None) == (10.0, 20.0, -1)
    with pytest.raises(ParameterError, match="week"):
        check_location(10.0, 20.0, 49)
    mask = select_species(CLASSES, ["aus aus", "Bee"], source="list.txt")
    assert mask.tolist() == [True, True, False]
    with pytest.raises(ParameterError, match=r"list\.txt: species not in the model.s labels"):
        select_species(CLASSES, ["Dus"], source="list.txt")


def test_species_lists_take_any_spelling_and_alpha_codes() -> None:
    labels = [
        "Poecile atricapillus_Black-capped Chickadee",
        "Hylocichla mustelina_Wood Thrush",
        "Turdus philomelos_Song Thrush",
        "Sitta europaea_Eurasian Nuthatch",
        "Sitta carolinensis_White-breasted Nuthatch",
        "Aus bus_Wood Thrasher",
    ]
    mask = select_species(labels, ["black capped chickadee", "SOTH", "sitta europaea"], source="l")
    assert mask.tolist() == [True, False, True, True, False, False]
    assert select_species(labels, ["wbnu"], source="l").tolist() == [0, 0, 0, 0, 1, 0]
    with pytest.raises(
        ParameterError, match=r"'WOTH' fits several species \(Wood Thrasher, Wood Thrush\)"
    ):
        select_species(labels, ["WOTH"], source="l")
    with pytest.raises(ParameterError, match=r"did you mean Song Thrush\?"):
        select_species(labels, ["Song Thrsh"], source="l")


def _detect() -> tuple[DetectSpecies, InMemoryAudioIO, InMemoryRowSink, InMemoryAnnotationStore]:
    io, sink, store = InMemoryAudioIO(), InMemoryRowSink(), InMemoryAnnotationStore()
    return DetectSpecies(reader=io, sink=sink, annotations=store), io, sink, store


def test_detections_are_filtered_sorted_and_a_bad_file_gets_an_error_row() -> None:
    detect, io, sink, store = _detect()
    io.files[Path("a.wav")] = _audio(0.5, 0.5, 0.5, -0.5, -0.5, -0.5)
    jobs = [AudioJob(Path("a.wav"), "a"), AudioJob(Path("gone.wav"), "gone")]
    report = detect.run(
        model=FakeModel(),
        jobs=jobs,
        output=Path("out.csv"),
        raven_dir=Path("raven"),
        species_filter=SpeciesFilter(min_confidence=0.4, top_k=2),
        batch_size=1,
    )
    rows = sink.tables[Path("out.csv")]
    assert [(r["begin_time"], r["scientific_name"]) for r in rows[:4]] == [
        (0.0, "Aus aus"),  # logit 5
        (0.0, "Cus cus"),  # logit 0 -> 0.5; Bee (logit -5) is under 0.4
        (3.0, "Bus bus"),
        (3.0, "Cus cus"),
    ]
    assert rows[0]["confidence"] == round(float(1 / (1 + np.exp(-5))), 4)
    assert rows[4]["file"] == "gone.wav" and "gone.wav" in str(rows[4]["error"])
    assert report.detections == 4 and [f.source for f in report.failures] == [Path("gone.wav")]
    table = store.tables[Path("raven/a.BirdNET.selections.txt")]
    assert table.labels == ["Aye", "Sea", "Bee", "Sea"]
    assert list(table.high_f) == [15000.0] * 4
    assert report.raven_tables == [Path("raven/a.BirdNET.selections.txt")]


def test_the_location_filter_drops_species_out_of_range() -> None:
    detect, io, _, _ = _detect()
    io.files[Path("a.wav")] = _audio(-0.5, -0.5, -0.5)
    species_filter = SpeciesFilter(min_confidence=0.0, latitude=1.0, longitude=2.0, week=10)
    rows = list(
        detect.detections(
            FakeModel(), [AudioJob(Path("a.wav"), "a")], species_filter=species_filter
        )
    )
    assert [r["scientific_name"] for r in rows] == ["Cus cus", "Aus aus"]  # Bee is out of range


def test_invalid_settings_fail_before_anything_is_written() -> None:
    detect, io, sink, _ = _detect()
    io.files[Path("a.wav")] = _audio(0.5)
    with pytest.raises(ParameterError, match="min_confidence"):
        detect.run(
            model=FakeModel(),
            jobs=[AudioJob(Path("a.wav"), "a")],
            output=Path("out.csv"),
            species_filter=SpeciesFilter(min_confidence=2.0),
        )
    with pytest.raises(ParameterError, match="overlap"):
        detect.run(
            model=FakeModel(),
            jobs=[AudioJob(Path("a.wav"), "a")],
            output=Path("o.csv"),
            overlap=3.0,
        )
    assert sink.tables == {}


class _Writer:
    def __init__(self) -> None:
        self.written: tuple[list[dict[str, object]], NDArray[np.float32], Path] | None = None
        self.settings: EmbeddingSettings | None = None

    def write(
        self,
        rows: Sequence[dict[str, object]],
        vectors: NDArray[np.float32],
        path: Path,
        *,
        settings: EmbeddingSettings | None = None,
    ) -> None:
        self.written = (list(rows), vectors, path)
        self.settings = settings


def test_embeddings_keep_order_and_give_a_failed_file_nan_features() -> None:
    io, writer = InMemoryAudioIO(), _Writer()
    io.files[Path("a.wav")] = _audio(1, 1, 1, 2)
    io.files[Path("c.wav")] = _audio(3, 3, 3)
    jobs = [AudioJob(Path(n), n) for n in ("a.wav", "gone.wav", "c.wav")]
    report = EmbedWindows(reader=io, writer=writer).run(
        model=FakeModel(), jobs=jobs, output=Path("e.parquet"), batch_size=8
    )
    assert writer.written is not None
    rows, vectors, path = writer.written
    assert path == Path("e.parquet")
    assert [(r["file"], r["begin_time"]) for r in rows] == [
        ("a.wav", 0.0),
        ("a.wav", 3.0),
        ("gone.wav", rows[2]["begin_time"]),
        ("c.wav", 0.0),
    ]
    assert np.allclose(
        vectors[[0, 1, 3]], np.array([[1, 1], [2 / 3, 2], [3, 3]])
    )  # 1 s of 2, zero-padded
    assert np.isnan(vectors[2]).all() and rows[2]["error"]
    assert report.windows == 3 and len(report.failures) == 1
    # the table records the model (its file's digest) and the windows that made it
    assert writer.settings is not None
    assert writer.settings.model == FakeModel.reference
    assert (writer.settings.sample_rate, writer.settings.clip_duration) == (RATE, 3.0)
    assert (writer.settings.overlap, writer.settings.dimension) == (0.0, 2)


def test_load_model_gives_a_detector_holding_the_network_and_config(tmp_path: Path) -> None:
    import opso
    from opso.adapters.torch_models import build_architecture, save_model
    from opso.domain.classifier import ModelConfig, Preprocessing

    config = ModelConfig(
        architecture="mobilenet_v3_small",
        classes=("a", "b"),
        preprocessing=Preprocessing(height=64, width=64, clip_duration=2.0),
    )
    path = save_model(build_architecture(config.architecture, 2), config, tmp_path / "m.opso")
    loaded = opso.load_model(path)
    assert isinstance(loaded, opso.CnnDetector) and loaded.config == config
    assert loaded.classes == ["a", "b"] and loaded.name == "mobilenet_v3_small:m.opso"
