"""Heads on embeddings: metrics, fitting, label layouts, the join, head files, the base check."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray
from sklearn.metrics import average_precision_score, roc_auc_score

from opso.adapters.memory import InMemoryAudioIO, InMemoryRowSink, InMemoryTables
from opso.adapters.numpy_heads import NpzHeadStore
from opso.app.files import AudioJob
from opso.app.heads import (
    LabelWindows,
    PredictWithHead,
    TrainHead,
    join_windows,
    label_windows,
    train_head,
)
from opso.domain.audio import Audio
from opso.domain.errors import (
    BaseModelMismatchError,
    LabelTableError,
    ModelFileError,
    ParameterError,
)
from opso.domain.heads import (
    EmbeddingSettings,
    EmbeddingTable,
    Head,
    HeadTraining,
    ModelReference,
    average_precision,
    fit_head,
    lbfgs,
    roc_auc,
    stratified_split,
)
from opso.ports.pretrained import PretrainedModel

RATE = 100
REFERENCE = ModelReference("fake", "fake", None, "/models/fake.tflite", "a" * 64)


def _settings(dimension: int = 4, overlap: float = 0.0) -> EmbeddingSettings:
    return EmbeddingSettings(REFERENCE, RATE, 3.0, overlap, dimension)


def _blobs(n: int = 120, seed: int = 0) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Two classes, each shifting its own feature: separable, with one rare class."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = np.zeros((n, 2), dtype=bool)
    y[: n // 3, 0] = True
    y[n // 3 : n // 3 + n // 10, 1] = True
    x[y[:, 0], 0] += 6
    x[y[:, 1], 1] += 6
    return x, y


def _table(
    x: NDArray[np.float32], files: Sequence[str] | None = None, overlap: float = 0.0
) -> EmbeddingTable:
    n = len(x)
    names = tuple(files) if files is not None else tuple(f"rec{i // 10}.wav" for i in range(n))
    step = 3.0 - overlap
    begin = np.array([(i % 10) * step for i in range(n)], dtype=np.float64)
    return EmbeddingTable(names, begin, begin + 3.0, x, _settings(x.shape[1], overlap))


def _labels(table: EmbeddingTable, y: NDArray[np.bool_]) -> LabelWindows:
    return LabelWindows(table.files, table.begin, table.end, y, ("a", "b"))


# --- metrics -------------------------------------------------------------------------------


def test_average_precision_and_roc_auc_known_values() -> None:
    truth = np.array([1, 0, 1, 0], dtype=bool)
    score = np.array([0.9, 0.8, 0.7, 0.1])
    # ranks: hit, miss, hit -> precision 1 and 2/3 at the two recalls
    assert average_precision(truth, score) == pytest.approx((1 + 2 / 3) / 2)
    assert roc_auc(truth, score) == pytest.approx(3 / 4)
    assert average_precision(np.zeros(3, dtype=bool), np.ones(3)) is None
    assert roc_auc(np.ones(3, dtype=bool), np.ones(3)) is None


def test_metrics_match_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        truth = rng.random(40) < 0.3
        score = np.round(rng.random(40), 1)  # many ties
        assert average_precision(truth, score) == pytest.approx(
            average_precision_score(truth, score)
        )
        assert roc_auc(truth, score) == pytest.approx(roc_auc_score(truth, score))


# --- split and fit -------------------------------------------------------------------------


def test_stratified_split_puts_every_class_in_both_sets() -> None:
    _, y = _blobs()
    train, valid = stratified_split(y, 0.25, seed=1)
    assert sorted([*train, *valid]) == list(range(len(y)))
    for c in range(2):
        assert y[train, c].any() and y[valid, c].any()
    assert len(valid) == pytest.approx(0.25 * len(y), abs=2)
    train, valid = stratified_split(y, 0.0)
    assert len(train) == len(y) and len(valid) == 0
    with pytest.raises(ParameterError, match="valid_fraction"):
        stratified_split(y, 1.0)


@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_a_head_separates_synthetic_classes_on_held_out_windows(kind: str) -> None:
    x, y = _blobs()
    table = _table(x)
    report = train_head(
        table,
        _labels(table, y),
        training=HeadTraining(kind="mlp" if kind == "mlp" else "logistic", hidden=8),
        valid_fraction=0.25,
    )
    assert report.train_windows + report.valid_windows == len(x)
    assert [m.name for m in report.metrics] == ["a", "b"]
    for m in report.metrics:
        assert m.positives >= 1 and m.negatives >= 1
        assert m.average_precision == pytest.approx(1.0)
        assert m.roc_auc == pytest.approx(1.0)
    scores = report.head.scores(x)
    assert scores.shape == (len(x), 2) and scores.dtype == np.float32
    assert ((scores > 0.5) == y).mean() > 0.97


def test_rare_positives_are_weighted_up() -> None:
    """5 positives in 200: without weights a penalised fit would call them all negative."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = np.zeros((200, 1), dtype=bool)
    y[:5, 0] = True
    x[:5, 0] += 4.0
    head = fit_head(x, y, classes=["rare"], settings=_settings(3), training=HeadTraining(l2=0.1))
    scores = head.scores(x)[:, 0]
    assert (scores[:5] > 0.5).all()
    assert (scores[5:] > 0.5).mean() < 0.1


def test_lbfgs_reaches_the_minimum_scipy_finds() -> None:
    from scipy import optimize

    from opso.domain.heads import _loss, _shapes

    x, y = _blobs()
    xs = (x - x.mean(axis=0)) / x.std(axis=0)
    target, weight = y.astype(np.float64), np.full(y.shape, 1 / len(y))
    shapes = _shapes(4, 2, HeadTraining())

    def fun(t: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        return _loss(t, xs.astype(np.float64), target, weight, shapes, 0.1)

    ours = lbfgs(fun, np.zeros(10))
    theirs = optimize.minimize(fun, np.zeros(10), jac=True, method="L-BFGS-B", tol=1e-12)
    assert fun(ours)[0] == pytest.approx(theirs.fun, rel=1e-8)
    assert np.allclose(ours, theirs.x, atol=1e-4)
    a = np.array([1.0, 10.0, 100.0])  # an ill-conditioned quadratic: minimum at 1/a
    quadratic = lbfgs(lambda t: (float(0.5 * a @ (t * t) - t.sum()), a * t - 1), np.zeros(3))
    assert np.allclose(quadratic, 1 / a, atol=1e-6)


def test_fit_refuses_a_class_without_negatives() -> None:
    x, _ = _blobs(20)
    y = np.ones((20, 1), dtype=bool)
    with pytest.raises(ParameterError, match="'all'"):
        fit_head(x, y, classes=["all"], settings=_settings())


def test_head_refuses_embeddings_of_another_width() -> None:
    x, y = _blobs()
    head = fit_head(x, y, classes=["a", "b"], settings=_settings())
    with pytest.raises(ParameterError, match="4 features"):
        head.scores(np.zeros((2, 5), dtype=np.float32))


# --- label tables and the join --------------------------------------------------------------


def test_the_label_table_of_opso_label_is_read_wide() -> None:
    table = pd.DataFrame(
        {
            "clip": ["c/a_0.wav", "c/a_3.wav"],
            "source": ["a.wav", "a.wav"],
            "begin_time": [0.0, 3.0],
            "end_time": [3.0, 6.0],
            "wood thrush": [1, 0],
            "towhee": ["0", "true"],
        }
    )
    windows = label_windows(table)
    assert windows.classes == ("wood thrush", "towhee")
    assert windows.files == ("a.wav", "a.wav")
    assert windows.truth.tolist() == [[True, False], [False, True]]
    assert label_windows(table, classes=["towhee"]).truth.tolist() == [[False], [True]]


def test_a_long_table_gives_one_class_per_row_and_empty_labels_are_negatives() -> None:
    table = pd.DataFrame(
        {
            "file": ["a.wav", "a.wav", "a.wav"],
            "start_time": [0.0, 0.0, 3.0],
            "end_time": [3.0, 3.0, 6.0],
            "label": ["b", "a", None],
        }
    )
    windows = label_windows(table)
    assert windows.classes == ("a", "b")
    assert windows.truth.tolist() == [[False, True], [True, False], [False, False]]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pd.DataFrame({"begin_time": [0], "end_time": [3], "a": [1]}), "needs a file column"),
        (pd.DataFrame({"file": ["x"], "end_time": [3], "a": [1]}), "begin time"),
        (
            pd.DataFrame({"file": ["x"], "begin_time": [0], "end_time": [3], "a": [2]}),
            r"class column 'a', row 1: 2 is not 0 or 1",
        ),
        (
            pd.DataFrame({"file": ["x"], "begin_time": ["soon"], "end_time": [3], "a": [1]}),
            r"column 'begin_time', row 1: 'soon' is not a time",
        ),
        (pd.DataFrame({"file": ["x"], "begin_time": [0], "end_time": [3]}), "no class"),
    ],
)
def test_bad_label_tables_name_the_problem(table: pd.DataFrame, message: str) -> None:
    with pytest.raises(LabelTableError, match=message):
        label_windows(table)


def test_unknown_classes_are_refused() -> None:
    table = pd.DataFrame({"file": ["x"], "begin_time": [0], "end_time": [3], "a": [1]})
    with pytest.raises(LabelTableError, match="classes not in the label table: 'z'"):
        label_windows(table, classes=["z"])


def test_the_join_matches_paths_as_written_resolved_or_by_unique_name() -> None:
    x = np.zeros((4, 4), dtype=np.float32)
    files = ["data/a.wav", "data/a.wav", str(Path("data/b.wav").resolve()), "other/c.wav"]
    table = EmbeddingTable(
        tuple(files),
        np.array([0.0, 3.0, 0.0, 0.0]),
        np.array([3.0, 4.2, 3.0, 3.0]),  # a.wav's last window is padded (1.2 s of audio)
        x,
        _settings(),
    )
    labels = LabelWindows(
        ("./data/a.wav", "data/a.wav", "data/b.wav", "c.wav", "d.wav", "data/a.wav"),
        np.array([0.0, 3.0005, 0.0, 0.0, 0.0, 1.5]),
        np.array([3.0, 6.0, 3.0, 3.0, 3.0, 4.5]),
        np.eye(6, 2, dtype=bool),
        ("p", "q"),
    )
    joined = join_windows(table, labels)
    assert joined.rows.tolist() == [0, 1, 2, 3]
    assert joined.truth.tolist() == [[True, False], [False, True], [False, False], [False, False]]
    assert joined.labelled == 6 and joined.unmatched == 2
    assert joined.example == "d.wav 0-3 s"


def test_windows_labelled_twice_get_both_classes() -> None:
    x = np.zeros((1, 4), dtype=np.float32)
    table = EmbeddingTable(("a.wav",), np.array([0.0]), np.array([3.0]), x, _settings())
    labels = LabelWindows(
        ("a.wav", "a.wav"),
        np.zeros(2),
        np.full(2, 3.0),
        np.array([[True, False], [False, True]]),
        ("p", "q"),
    )
    joined = join_windows(table, labels)
    assert joined.truth.tolist() == [[True, True]] and joined.labelled == 1


def test_no_overlap_is_an_error_with_a_count_and_an_example() -> None:
    x, y = _blobs(20)
    table = _table(x)
    labels = LabelWindows(
        tuple(f"elsewhere{i}.wav" for i in range(20)), table.begin, table.end, y, ("a", "b")
    )
    with pytest.raises(LabelTableError, match=r"none of the 20 labelled windows.*elsewhere0\.wav"):
        train_head(table, labels)


def test_a_class_without_positives_among_joined_windows_is_named() -> None:
    x, y = _blobs(30)
    table = _table(x)
    y[:, 1] = False
    with pytest.raises(LabelTableError, match=r"'b' \(no positive\)"):
        train_head(table, _labels(table, y))


def test_partial_overlap_trains_on_the_rest_and_reports_what_was_left_out() -> None:
    x, y = _blobs()
    table = _table(x)
    labels = _labels(table, y)
    shifted = LabelWindows(
        labels.files,
        np.where(np.arange(len(x)) < 6, 100.0, labels.begin),
        labels.end,
        y,
        ("a", "b"),
    )
    report = train_head(table, shifted)
    assert report.unmatched_windows == 6 and report.labelled_windows == len(x)
    assert report.train_windows + report.valid_windows == len(x) - 6


# --- head files -----------------------------------------------------------------------------


def _head(kind: str = "logistic") -> Head:
    x, y = _blobs()
    table = _table(x, overlap=1.5)
    training = HeadTraining(kind="mlp" if kind == "mlp" else "logistic", hidden=8)
    return train_head(table, _labels(table, y), training=training).head


@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_head_files_round_trip(tmp_path: Path, kind: str) -> None:
    head = _head(kind)
    store = NpzHeadStore()
    path = store.save(head, tmp_path / "head.opso")
    assert store.is_head(path)
    loaded = store.load(path)
    assert loaded.kind == kind and loaded.classes == head.classes
    assert not loaded.mean.flags.writeable and not loaded.layers[0][0].flags.writeable
    assert loaded.settings == head.settings and loaded.settings.overlap == 1.5
    assert loaded.metrics == head.metrics and len(loaded.metrics) == 2
    x, _ = _blobs(10, seed=5)
    assert np.array_equal(loaded.scores(x), head.scores(x))
    assert not [p for p in tmp_path.iterdir() if p.name != "head.opso"]  # no temporary left


def test_damaged_or_foreign_head_files_are_refused(tmp_path: Path) -> None:
    store = NpzHeadStore()
    path = store.save(_head(), tmp_path / "head.opso")
    with np.load(path) as data:
        members = {name: data[name] for name in data.files}
    members["w0"] = members["w0"] + 1  # edited weights under the old digest
    tampered = tmp_path / "tampered.opso"
    with tampered.open("wb") as f:
        np.savez(f, **members)
    assert store.is_head(tampered)
    with pytest.raises(ModelFileError, match=r"tampered\.opso: checksum mismatch"):
        store.load(tampered)
    flipped = bytearray(path.read_bytes())
    at = flipped.index(b"\x93NUMPY", flipped.index(b"w0.npy")) + 130  # inside w0's values
    flipped[at] ^= 0xFF
    (tmp_path / "flipped.opso").write_bytes(bytes(flipped))
    with pytest.raises(ModelFileError, match=r"flipped\.opso"):
        store.load(tmp_path / "flipped.opso")
    truncated = tmp_path / "truncated.opso"
    truncated.write_bytes(path.read_bytes()[:300])
    assert not store.is_head(truncated)
    with pytest.raises(ModelFileError, match=r"truncated\.opso: not a readable head file"):
        store.load(truncated)
    other = tmp_path / "arrays.npz"
    np.savez(other, a=np.zeros(3))
    assert not store.is_head(other) and not store.is_head(tmp_path / "missing.opso")
    with pytest.raises(ModelFileError, match="not an opso head"):
        store.load(other)


# --- prediction with a head -----------------------------------------------------------------


class FakeModel(PretrainedModel):
    """3 s windows at 100 Hz; four features from each window's samples."""

    name = "fake"
    sample_rate = RATE
    clip_duration = 3.0
    classes: Sequence[str] = ["x"]

    def __init__(self, reference: ModelReference = REFERENCE, width: int = 4) -> None:
        self._reference = reference
        self.width = width

    @property
    def reference(self) -> ModelReference:
        return self._reference

    def scores(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        return clips[:, :1]

    def embeddings(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        feats = [clips.mean(axis=1), clips.max(axis=1), clips.min(axis=1), clips.std(axis=1)]
        return np.stack(feats[: self.width] + [clips.mean(axis=1)] * (self.width - 4), axis=1)

    def occurrence(self, latitude: float, longitude: float, week: int) -> NDArray[np.float32]:
        return np.ones(1, dtype=np.float32)


class FakeStore:
    def __init__(self, model: FakeModel) -> None:
        self.model = model
        self.loaded: list[tuple[str | Path, Path | None]] = []

    def load(self, model: str | Path, *, labels: Path | None = None) -> PretrainedModel:
        self.loaded.append((model, labels))
        return self.model


def _predictor(tmp_path: Path, model: FakeModel) -> tuple[PredictWithHead, InMemoryRowSink, Path]:
    io, sink = InMemoryAudioIO(), InMemoryRowSink()
    io.files[Path("a.wav")] = Audio(np.linspace(-1, 1, 7 * RATE, dtype=np.float32), RATE)
    path = NpzHeadStore().save(_head(), tmp_path / "head.opso")
    use_case = PredictWithHead(reader=io, sink=sink, models=FakeStore(model), heads=NpzHeadStore())
    return use_case, sink, path


def test_prediction_scores_every_window_with_the_head(tmp_path: Path) -> None:
    model = FakeModel()
    use_case, sink, path = _predictor(tmp_path, model)
    jobs = [AudioJob(Path("a.wav"), "a"), AudioJob(Path("gone.wav"), "gone")]
    report = use_case.run(head=path, jobs=jobs, output=Path("scores.csv"))
    rows = sink.tables[Path("scores.csv")]
    assert list(rows[0]) == ["file", "start_time", "end_time", "a", "b", "error"]
    # the head's own overlap (1.5 s): windows every 1.5 s, the last ones padded
    assert [(r["start_time"], r["end_time"]) for r in rows[:-1]] == [
        (0.0, 3.0),
        (1.5, 4.5),
        (3.0, 6.0),
        (4.5, 7.0),
        (6.0, 7.0),
    ]
    head = NpzHeadStore().load(path)
    clips = np.zeros((5, 3 * RATE), dtype=np.float32)
    samples = np.linspace(-1, 1, 7 * RATE, dtype=np.float32)
    for k, start in enumerate([0, 150, 300, 450, 600]):
        piece = samples[start : start + 3 * RATE]
        clips[k, : len(piece)] = piece
    expected = head.scores(model.embeddings(clips))
    got = np.array([[r["a"], r["b"]] for r in rows[:-1]], dtype=np.float32)
    assert np.allclose(got, expected, atol=1e-6)
    assert rows[-1]["file"] == "gone.wav" and rows[-1]["error"]
    assert np.isnan(float(str(rows[-1]["a"])))
    assert report.windows == 5 and len(report.failures) == 1
    assert use_case.models.loaded == [("fake", None)]  # type: ignore[attr-defined]


def test_a_changed_base_model_file_is_refused(tmp_path: Path) -> None:
    changed = ModelReference("fake", "fake", None, "/models/fake.tflite", "b" * 64)
    use_case, sink, path = _predictor(tmp_path, FakeModel(changed))
    with pytest.raises(BaseModelMismatchError) as caught:
        use_case.run(head=path, jobs=[AudioJob(Path("a.wav"), "a")], output=Path("s.csv"))
    message = str(caught.value)
    assert str(path) in message and "/models/fake.tflite" in message
    assert "aaaaaaaaaaaaaaaa" in message and "bbbbbbbbbbbbbbbb" in message
    assert not sink.tables  # nothing written


def test_a_base_model_giving_other_widths_is_refused(tmp_path: Path) -> None:
    use_case, sink, path = _predictor(tmp_path, FakeModel(width=6))
    with pytest.raises(ModelFileError, match="takes 4 features, but fake gives 6"):
        use_case.run(head=path, jobs=[AudioJob(Path("a.wav"), "a")], output=Path("s.csv"))
    assert not sink.tables


def test_train_head_use_case_saves_nothing_when_labels_do_not_fit(tmp_path: Path) -> None:
    x, y = _blobs()
    table = _table(x)

    class Reader:
        def read(self, path: Path) -> EmbeddingTable:
            return table

    tables = InMemoryTables()
    tables.frames[Path("labels.csv")] = pd.DataFrame(
        {"file": table.files, "begin_time": table.begin, "end_time": table.end, "a": y[:, 0]}
    )
    tables.frames[Path("bad.csv")] = pd.DataFrame({"file": ["x"], "a": [1]})
    use_case = TrainHead(embeddings=Reader(), tables=tables, store=NpzHeadStore())
    with pytest.raises(LabelTableError, match=r"bad\.csv: .*begin time"):
        use_case.run(embeddings=Path("e.parquet"), labels=Path("bad.csv"), output=tmp_path / "h")
    assert not (tmp_path / "h").exists()
    report = use_case.run(
        embeddings=Path("e.parquet"), labels=Path("labels.csv"), output=tmp_path / "h.opso"
    )
    assert report.output == tmp_path / "h.opso" and report.output.is_file()
    assert report.head.classes == ("a",)
