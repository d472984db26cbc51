from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from opso.adapters.memory import (
    InMemoryAudioIO,
    InMemoryClassifierStore,
    InMemoryMetadataReader,
    InMemoryRowSink,
)
from opso.app.files import AudioJob
from opso.app.predict import PredictReport, PredictScores
from opso.app.train import TrainClassifier, labelled_clips, split_train_valid
from opso.domain.audio import Audio, AudioInfo, clip_windows, fixed_length
from opso.domain.classifier import LabelledClip, ModelConfig, Preprocessing, TrainReport
from opso.domain.errors import LabelTableError, ParameterError
from opso.domain.recording_info import RecordingInfo
from opso.ports.audio_io import AudioSource
from opso.ports.classifier import Classifier

SR = 1000
CFG = ModelConfig(
    architecture="resnet18",
    classes=("loud", "quiet"),
    preprocessing=Preprocessing(
        sample_rate=SR, clip_duration=2.0, window_samples=64, overlap_samples=0, height=8, width=8
    ),
)


class MeanClassifier(Classifier):
    """Scores a clip by its mean value and remembers every batch it saw."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    @property
    def config(self) -> ModelConfig:
        return CFG

    def predict(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        self.batches.append(len(clips))
        m = clips.mean(axis=1)
        return np.stack([m, 1 - m], axis=1).astype(np.float32)

    def embed(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        return clips[:, :4]


class CountingReader(InMemoryAudioIO):
    def __init__(self, files: dict[Path, Audio]) -> None:
        super().__init__(files)
        self.reads: list[Path] = []

    def read(self, source: AudioSource, **kwargs: Any) -> Audio:
        assert isinstance(source, Path)
        self.reads.append(source)
        return super().read(source, **kwargs)

    def info(self, source: AudioSource) -> AudioInfo:
        return super().info(source)


def _steps(values: Sequence[float], seconds_each: float) -> Audio:
    return Audio(np.repeat(np.asarray(values, dtype=np.float32), int(seconds_each * SR)), SR)


def _run(
    files: dict[Path, Audio],
    jobs: list[Path],
    metadata: InMemoryMetadataReader | None = None,
    **kw: Any,
) -> tuple[InMemoryRowSink, MeanClassifier, CountingReader, PredictReport]:
    reader = CountingReader(files)
    sink = InMemoryRowSink()
    clf = MeanClassifier()
    store = InMemoryClassifierStore({Path("model.opso"): clf})
    uc = PredictScores(reader=reader, store=store, sink=sink, metadata=metadata)
    report = uc.run(
        model=Path("model.opso"),
        jobs=[AudioJob(p, p.stem) for p in jobs],
        output=Path("scores.csv"),
        **kw,
    )
    return sink, clf, reader, report


def test_predict_slices_each_file_once_and_scores_every_clip() -> None:
    a, b = Path("a.wav"), Path("b.wav")
    files = {a: _steps([0.1, 0.2, 0.3], 2.0), b: _steps([0.5, 0.7], 2.0)}
    sink, clf, reader, _ = _run(files, [a, b], batch_size=2)
    rows = sink.tables[Path("scores.csv")]
    assert reader.reads == [a, b]
    assert [(r["file"], r["start_time"], r["end_time"]) for r in rows] == [
        ("a.wav", 0.0, 2.0),
        ("a.wav", 2.0, 4.0),
        ("a.wav", 4.0, 6.0),
        ("b.wav", 0.0, 2.0),
        ("b.wav", 2.0, 4.0),
    ]
    np.testing.assert_allclose([r["loud"] for r in rows], [0.1, 0.2, 0.3, 0.5, 0.7], atol=1e-6)
    assert clf.batches == [2, 2, 1]  # batches span files
    assert sink.writes >= 3  # rows are streamed, not written once at the end
    assert all(r["error"] == "" for r in rows)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 4, 100])
def test_bad_files_get_one_nan_row_and_never_anothers_scores(batch_size: int) -> None:
    good, empty, missing = Path("good.wav"), Path("empty.wav"), Path("missing.wav")
    files = {good: _steps([0.25, 0.75], 2.0), empty: Audio(np.zeros(0, np.float32), SR)}
    sink, _, _, report = _run(files, [empty, good, missing], batch_size=batch_size)
    rows = sink.tables[Path("scores.csv")]
    assert [r["file"] for r in rows] == ["empty.wav", "good.wav", "good.wav", "missing.wav"]
    assert np.isnan(float(rows[0]["loud"])) and "no audio" in str(rows[0]["error"])
    assert np.isnan(float(rows[3]["quiet"])) and "not found" in str(rows[3]["error"])
    np.testing.assert_allclose([rows[1]["loud"], rows[2]["loud"]], [0.25, 0.75], atol=1e-6)
    assert [f.source for f in report.failures] == [empty, missing]


def test_final_clip_options_and_short_files() -> None:
    long, short = Path("long.wav"), Path("short.wav")
    files = {long: _steps([0.2, 0.4, 0.6], 1.0), short: _steps([0.3], 0.5)}
    sink, *_ = _run(files, [long, short], final_clip="full")
    rows = sink.tables[Path("scores.csv")]
    assert [(r["start_time"], r["end_time"]) for r in rows] == [(0.0, 2.0), (1.0, 3.0), (0.0, 0.5)]
    np.testing.assert_allclose(rows[2]["loud"], 0.3, atol=1e-6)  # looped to a full clip
    sink, *_ = _run(files, [long, short], final_clip=None)  # the default: the tail is dropped
    rows = sink.tables[Path("scores.csv")]
    assert [(r["file"], r["start_time"], r["end_time"]) for r in rows] == [
        ("long.wav", 0.0, 2.0),
        ("short.wav", 0.0, 0.5),  # a recording shorter than one clip is still scored, looped
    ]
    np.testing.assert_allclose(rows[1]["loud"], 0.3, atol=1e-6)
    assert not any(r["error"] for r in rows)


def test_predict_rows_carry_the_moment_each_clip_begins() -> None:
    named, moth = Path("20210502_040000.wav"), Path("moth.wav")
    berlin = datetime(2021, 5, 2, 6, 0, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    files = {p: _steps([0.2, 0.4], 2.0) for p in (named, moth, Path("unknown.wav"))}
    meta = InMemoryMetadataReader({moth: RecordingInfo(start=berlin)})
    sink, *_, report = _run(files, [named, moth, Path("unknown.wav")], metadata=meta)
    rows = sink.tables[Path("scores.csv")]
    assert list(rows[0])[:4] == ["file", "start_time", "end_time", "begin_datetime"]
    # the file name is read as UTC, the moth's start is in Berlin: two zones, written in UTC
    assert [r["begin_datetime"] for r in rows] == [
        "2021-05-02T04:00:00.000+00:00",
        "2021-05-02T04:00:02.000+00:00",
        "2021-05-02T04:00:00.000+00:00",
        "2021-05-02T04:00:02.000+00:00",
        "",
        "",
    ]
    assert report.time_note is not None and "times are in UTC" in report.time_note
    sink, *_, report = _run(files, [named], metadata=meta, timezone=ZoneInfo("Europe/Berlin"))
    rows = sink.tables[Path("scores.csv")]
    assert rows[1]["begin_datetime"] == "2021-05-02T04:00:02.000+02:00" and not report.time_note
    sink, *_ = _run(files, [Path("unknown.wav")], metadata=meta)
    assert "begin_datetime" not in sink.tables[Path("scores.csv")][0]  # no start known: no column


def test_predict_validates_settings_before_reading() -> None:
    with pytest.raises(ValueError, match="clip_overlap"):
        _run({}, [Path("x.wav")], clip_overlap=5.0)
    with pytest.raises(ValueError, match="batch_size"):
        _run({}, [Path("x.wav")], batch_size=0)


def test_clip_windows_loop_a_short_tail() -> None:
    samples = np.arange(5, dtype=np.float32)
    out = clip_windows(samples, 1, [(0.0, 3.0), (3.0, 5.0)], 3)
    np.testing.assert_array_equal(out, [[0, 1, 2], [3, 4, 3]])
    # a window of a long file: the same clips from samples 2.. of the recording
    np.testing.assert_array_equal(
        clip_windows(samples[2:], 1, [(3.0, 5.0)], 3, origin=2), [[3, 4, 3]]
    )


def test_fixed_length_is_the_one_rule_for_training_and_prediction() -> None:
    samples = np.arange(6, dtype=np.float32)
    np.testing.assert_array_equal(fixed_length(samples, 4, start=1), [1, 2, 3, 4])
    np.testing.assert_array_equal(fixed_length(samples, 4, start=4), [4, 5, 4, 5])
    np.testing.assert_array_equal(fixed_length(samples, 4, start=1, stop=3), [1, 2, 1, 2])
    np.testing.assert_array_equal(fixed_length(samples, 3, start=9), [0, 0, 0])
    np.testing.assert_array_equal(fixed_length(samples[:0], 2), [0, 0])
    audio = Audio(samples, 2)
    np.testing.assert_array_equal(audio.extend(5.0).samples, fixed_length(samples, 10))
    extended = audio.split(2.0, final_clip="extend")[-1]["audio"].samples
    np.testing.assert_array_equal(extended, fixed_length(samples, 4, start=4))


def test_labelled_clips_one_hot_and_label_column(tmp_path: Path) -> None:
    one_hot = pd.DataFrame({"file": ["a.wav", "b.wav"], "x": [1, 0], "y": [0, 1]})
    clips, classes, multi = labelled_clips(one_hot, audio_root=tmp_path)
    assert classes == ["x", "y"] and not multi
    assert clips[0] == LabelledClip(tmp_path / "a.wav", (1.0, 0.0))
    multi_hot = pd.DataFrame(
        {
            "file": ["a.wav", "b.wav"],
            "x": [1, 0],
            "y": [1, 0],
            "start_time": [0.0, 5.0],
            "end_time": [5.0, 10.0],
        }
    )
    clips, _, multi = labelled_clips(multi_hot, classes=["x", "y"])
    assert multi and clips[1].targets == (0.0, 0.0) and clips[1].start_time == 5.0
    named = pd.DataFrame(
        {"Destination": ["a.wav", "b.wav", "c.wav"], "species": ["wren", "robin", "wren"]}
    )
    clips, classes, multi = labelled_clips(named, label_column="species")
    assert classes == ["robin", "wren"] and not multi
    assert [c.targets for c in clips] == [(0.0, 1.0), (1.0, 0.0), (0.0, 1.0)]


def test_label_table_errors_name_the_problem() -> None:
    with pytest.raises(LabelTableError, match="empty"):
        labelled_clips(pd.DataFrame({"file": [], "x": []}))
    named = pd.DataFrame({"file": ["a.wav", "b.wav"], "sp": ["wren", "owl"]})
    with pytest.raises(LabelTableError, match=r"row 2 .*'owl'.*not in the class list"):
        labelled_clips(named, label_column="sp", classes=["wren", "robin"])
    with pytest.raises(LabelTableError, match="no column 'nope'"):
        labelled_clips(named, label_column="nope")
    with pytest.raises(LabelTableError, match="not in the label table"):
        labelled_clips(pd.DataFrame({"file": ["a"], "x": [1]}), classes=["x", "z"])
    both = pd.DataFrame({"file": ["a", "b"], "x": [1, 1], "y": [1, 0]})
    with pytest.raises(LabelTableError, match="single-target"):
        labelled_clips(both, multi_target=False)
    with pytest.raises(LabelTableError, match="file column"):
        labelled_clips(pd.DataFrame({"x": [1]}))


def test_a_one_class_table_is_a_one_output_detector() -> None:
    table = pd.DataFrame({"file": ["a.wav", "b.wav", "c.wav"], "frog": [1, 0, 1]})
    clips, classes, multi = labelled_clips(table)
    assert classes == ["frog"] and multi
    assert [c.targets for c in clips] == [(1.0,), (0.0,), (1.0,)]
    # every clip holding the class: still a detector, not a one-class softmax
    assert labelled_clips(table.assign(frog=1))[1:] == (["frog"], True)
    named = pd.DataFrame({"file": ["a.wav", "b.wav"], "sp": ["frog", "frog"]})
    assert labelled_clips(named, label_column="sp")[1:] == (["frog"], True)


@pytest.mark.parametrize(
    ("value", "shown"), [(2, "2"), ("yes", "'yes'"), (float("nan"), "an empty cell")]
)
def test_a_bad_class_value_names_column_row_and_value(value: object, shown: str) -> None:
    table = pd.DataFrame({"file": ["a.wav", "b.wav", "c.wav"], "x": [1, 0, 0], "y": [0, 1, value]})
    message = rf"class column 'y', row 3: {shown} is not 0 or 1"
    with pytest.raises(LabelTableError, match=message + r" \(every column but"):
        labelled_clips(table)
    with pytest.raises(LabelTableError, match=message + "$"):
        labelled_clips(table, classes=["x", "y"])
    # a column that is not named as a class is left alone
    assert labelled_clips(table, classes=["x"])[1:] == (["x"], True)


def test_class_values_read_as_text_count_as_numbers() -> None:
    table = pd.DataFrame({"file": ["a", "b", "c"], "x": ["1", "0", " True"], "y": [0.0, 1.0, 0]})
    clips, classes, multi = labelled_clips(table)
    assert classes == ["x", "y"] and not multi  # one class per row
    assert [c.targets for c in clips] == [(1.0, 0.0), (0.0, 1.0), (1.0, 0.0)]


def test_split_keeps_every_class_in_both_sets() -> None:
    clips = [
        LabelledClip(Path(f"{i}.wav"), (1.0, 0.0) if i < 10 else (0.0, 1.0)) for i in range(14)
    ]
    train, valid = split_train_valid(clips, 0.25, seed=1)
    assert len(train) + len(valid) == 14 and not set(train) & set(valid)
    assert {c.targets for c in valid} == {(1.0, 0.0), (0.0, 1.0)}
    assert split_train_valid(clips, 0.25, seed=1) == (train, valid)


def test_a_valid_fraction_of_zero_trains_on_every_clip() -> None:
    clips = [LabelledClip(Path(f"{i}.wav"), (float(i % 2), 0.0)) for i in range(5)]
    assert split_train_valid(clips, 0.0) == (clips, [])
    for bad in (-0.1, 1.0):
        with pytest.raises(ParameterError, match=r"valid_fraction must be in \[0, 1\)"):
            split_train_valid(clips, bad)
    with pytest.raises(ParameterError, match=r"valid fraction 0"):
        split_train_valid(clips[:1], 0.5)


class RecordingTrainer:
    def __init__(self) -> None:
        self.kwargs: dict[str, object] = {}

    def train(self, **kwargs: object) -> TrainReport:
        self.kwargs = kwargs
        return TrainReport(Path("model.opso"), [], [])


def test_train_usecase_checks_files_and_builds_the_config(tmp_path: Path) -> None:
    for name in ("a.wav", "b.wav", "c.wav", "d.wav"):
        (tmp_path / name).write_bytes(b"")
    table = pd.DataFrame(
        {"file": ["a.wav", "b.wav", "c.wav", "d.wav"], "sp": ["wren", "owl", "wren", "owl"]}
    )
    trainer = RecordingTrainer()
    TrainClassifier(trainer).run(
        labels=table,
        label_column="sp",
        audio_root=tmp_path,
        save_dir=tmp_path / "run",
        architecture="resnet34",
        valid_fraction=0.5,
        epochs=2,
    )
    config = trainer.kwargs["config"]
    assert isinstance(config, ModelConfig)
    assert config.classes == ("owl", "wren") and config.architecture == "resnet34"
    assert len(cast(list[LabelledClip], trainer.kwargs["train_clips"])) == 2
    precisions = [trainer.kwargs["precision"]]
    TrainClassifier(trainer).run(
        labels=table,
        label_column="sp",
        audio_root=tmp_path,
        save_dir=tmp_path / "run",
        valid_fraction=0,
        precision="fp32",
    )
    assert len(cast(list[LabelledClip], trainer.kwargs["train_clips"])) == 4
    assert trainer.kwargs["valid_clips"] == []
    assert [*precisions, trainer.kwargs["precision"]] == ["auto", "fp32"]
    with pytest.raises(FileNotFoundError, match=r"missing\.wav"):
        TrainClassifier(trainer).run(
            labels=pd.DataFrame(
                {
                    "file": ["missing.wav", "a.wav", "b.wav", "c.wav"],
                    "sp": ["wren", "owl", "wren", "owl"],
                }
            ),
            label_column="sp",
            audio_root=tmp_path,
            save_dir=tmp_path / "run",
        )


def test_label_tables_written_by_opso_label_train_as_they_are() -> None:
    table = pd.DataFrame(
        {
            "source": ["audio/a.wav", "audio/a.wav"],
            "begin_time": [0.0, 5.0],
            "end_time": [5.0, 10.0],
            "owl": [1, 0],
            "frog": [1, 1],
        }
    )
    clips, classes, multi = labelled_clips(table)
    assert classes == ["owl", "frog"] and multi
    assert [(c.start_time, c.end_time) for c in clips] == [(0.0, 5.0), (5.0, 10.0)]
    assert [c.targets for c in clips] == [(1.0, 1.0), (0.0, 1.0)]


def test_review_marks_train_directly_absent_marks_are_negatives(tmp_path: Path) -> None:
    review = pd.DataFrame(
        {
            "id": ["c0", "c1", "c2", "c3", "c4"],
            "file": ["a.wav", "a.wav", "b.wav", "b.wav", "b.wav"],
            "start_time": [0.0, 5.0, 0.0, 5.0, 0.0],
            "end_time": [5.0, 10.0, 5.0, 10.0, 5.0],
            "class": ["owl", "owl", "owl", "owl", "frog"],
            "score": [0.9, 0.8, 0.7, 0.6, 0.5],
            "mark": ["present", "absent", "unsure", "", "present"],
        }
    )
    clips, classes, multi = labelled_clips(review, audio_root=tmp_path)
    assert classes == ["frog", "owl"] and multi
    got = {(c.source.name, c.start_time): c.targets for c in clips}
    # a.wav 0-5 present for owl, a.wav 5-10 absent (a negative), b.wav 0-5 present for frog;
    # unsure and unmarked clips are left out
    assert got == {
        ("a.wav", 0.0): (0.0, 1.0),
        ("a.wav", 5.0): (0.0, 0.0),
        ("b.wav", 0.0): (1.0, 0.0),
    }
    with pytest.raises(LabelTableError, match="no clip marked present or absent"):
        labelled_clips(review.assign(mark="unsure"), audio_root=tmp_path)


def test_an_interrupted_table_holds_whole_recordings() -> None:
    a, b, c = Path("a.wav"), Path("b.wav"), Path("c.wav")
    files = {a: _steps([0.1, 0.2, 0.3], 2.0), b: _steps([0.5, 0.7], 2.0), c: _steps([0.9], 2.0)}
    reader = CountingReader(files)
    sink = InMemoryRowSink()
    store = InMemoryClassifierStore({Path("model.opso"): MeanClassifier()})

    def interrupt_at_c(done: int, total: int, item: str) -> None:
        if item == "c.wav":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        PredictScores(reader=reader, store=store, sink=sink).run(
            model=Path("model.opso"),
            jobs=[AudioJob(p, p.stem) for p in (a, b, c)],
            output=Path("scores.csv"),
            batch_size=2,
            progress=interrupt_at_c,
        )
    assert Path("scores.csv") not in sink.tables
    kept = sink.tables[Path("scores.partial.csv")]
    # batches of two cut through every recording: c.wav's clip was scored with b.wav's last,
    # but c.wav never finished, so only a.wav and b.wav, whole, survive
    assert [(r["file"], r["start_time"]) for r in kept] == [
        ("a.wav", 0.0),
        ("a.wav", 2.0),
        ("a.wav", 4.0),
        ("b.wav", 0.0),
        ("b.wav", 2.0),
    ]
    assert all(r["error"] == "" and r["loud"] is not None for r in kept)


def _windows_table(tmp_path: Path, seconds: float) -> pd.DataFrame:
    for name in ("a.wav", "b.wav"):
        (tmp_path / name).write_bytes(b"")
    return pd.DataFrame(
        {
            "source": ["a.wav", "a.wav", "b.wav", "b.wav"],
            "begin_time": [0.0, seconds, 0.0, seconds],
            "end_time": [seconds, 2 * seconds, seconds, 2 * seconds],
            "owl": [1, 0, 1, 0],
            "frog": [0, 0, 0, 0],
        }
    )


def test_training_takes_the_label_windows_length_and_warns_on_a_mismatch(
    tmp_path: Path,
) -> None:
    table = _windows_table(tmp_path, 2.0)
    trainer = RecordingTrainer()
    uc = TrainClassifier(trainer)
    run = {"save_dir": tmp_path / "run", "audio_root": tmp_path, "valid_fraction": 0.5}
    with pytest.warns(UserWarning, match="no positive training clip for class\\(es\\) frog"):
        uc.run(labels=table, **run)  # type: ignore[arg-type]
    config = trainer.kwargs["config"]
    assert isinstance(config, ModelConfig) and config.preprocessing.clip_duration == 2.0
    with pytest.warns(UserWarning) as caught:
        uc.run(labels=table, clip_duration=5.0, **run)  # type: ignore[arg-type]
    messages = [str(w.message) for w in caught]
    assert any("windows are 2 s long but training uses 5 s clips" in m for m in messages)
    config = trainer.kwargs["config"]
    assert isinstance(config, ModelConfig) and config.preprocessing.clip_duration == 5.0
