"""Real torch, real recordings: datasets, training, prediction, Grad-CAM and the CLI."""

from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import opso
import opso.adapters.torch_datasets as tds
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.adapters.torch_classifier import TorchClassifier, load_classifier
from opso.adapters.torch_datasets import (
    AudioClipDataset,
    SingleTargetAudioDataset,
    SpectrogramInput,
)
from opso.adapters.torch_models import build_architecture, save_model
from opso.adapters.torch_prediction import predict
from opso.api import Audio
from opso.cli import main
from opso.domain.audio import fixed_length
from opso.domain.classifier import LabelledClip, ModelConfig, Preprocessing
from opso.domain.errors import LabelTableError, ModelFileError
from opso.pytorch_prediction import gradcam_region, predict as predict_images

PRE = Preprocessing(sample_rate=22050, clip_duration=2.0, height=64, width=96)


@pytest.fixture(scope="module")
def tits(test_data: Path) -> list[Path]:
    return sorted((test_data / "pykanto" / "audio" / "great_tit").glob("*.wav"))


@pytest.fixture(scope="module")
def label_df(tits: list[Path]) -> pd.DataFrame:
    return pd.DataFrame(
        {"Destination": [str(p) for p in tits], "bird": [0 if "B32" in p.name else 1 for p in tits]}
    )


def test_single_target_dataset_items(label_df: pd.DataFrame) -> None:
    ds = SingleTargetAudioDataset(
        label_df.iloc[:4], {0: "B32", 1: "SW83"}, label_column="bird", height=64, width=96
    )
    item = ds[0]
    assert item["X"].shape == (3, 64, 96) and item["X"].dtype == torch.float32
    assert item["y"].shape == (1,) and item["y"].dtype == torch.long
    assert -1.0 <= float(item["X"].min()) < float(item["X"].max()) <= 1.0
    assert torch.equal(item["X"][0], item["X"][2])
    pred = SingleTargetAudioDataset(label_df.iloc[:2], None, height=64, width=96)
    assert set(pred[1]) == {"X"}


def test_dataset_trims_overlays_and_jitters(label_df: pd.DataFrame, tmp_path: Path) -> None:
    ds = SingleTargetAudioDataset(
        label_df,
        {0: "B32", 1: "SW83"},
        label_column="bird",
        height=32,
        width=48,
        random_trim_length=4.0,
        extend_short_clips=True,
        max_overlay_num=2,
        overlay_prob=1.0,
        overlay_class="different",
        add_noise=True,
        save_dir=tmp_path / "imgs",
    )
    assert ds[3]["X"].shape == (3, 32, 48)
    assert len(list((tmp_path / "imgs").glob("*.png"))) == 1
    strict = SingleTargetAudioDataset(label_df, None, label_column="bird", random_trim_length=4.0)
    with pytest.raises(ValueError, match="extend_short_clips"):
        strict[0]  # 2021-B32-0415_05-11.wav is shorter than 4 s


def test_each_overlay_is_drawn_independently(
    label_df: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = SingleTargetAudioDataset(
        label_df,
        None,
        label_column="bird",
        height=16,
        width=16,
        max_overlay_num=3,
        overlay_prob=0.5,
        overlay_class="different",
        extend_short_clips=True,
    )
    draws = iter([0.9, 0.1, 0.2])  # first overlay skipped, the next two drawn
    monkeypatch.setattr(tds, "_rand", lambda: next(draws))
    calls: list[str] = []
    original = ds.overlay_random_image

    def spy(img: torch.Tensor, length: float, label: object, path: str | Path) -> torch.Tensor:
        calls.append(Path(path).name)
        other: torch.Tensor = original(img, length, label, path)
        assert not torch.equal(other, img)  # the overlay really changed the image
        return other

    monkeypatch.setattr(ds, "overlay_random_image", spy)
    ds[0]
    first = Path(str(label_df[ds.filename_column].iloc[0])).name
    assert calls == [first, first]


def test_spec_image_from_audio_gives_a_pillow_image(label_df: pd.DataFrame) -> None:
    ds = SingleTargetAudioDataset(label_df, None, height=32, width=48)
    audio = Audio.from_file(str(label_df[ds.filename_column].iloc[0]))
    image = ds.image_from_audio(audio, mode="L")
    assert image.mode == "L" and image.size == (48, 32)
    assert ds.image_from_audio(audio).mode == "RGB"


def test_dataset_errors(label_df: pd.DataFrame) -> None:
    with pytest.raises(LabelTableError, match="empty"):
        SingleTargetAudioDataset(label_df.iloc[:0], None)
    bad = label_df.assign(bird=["owl"] * len(label_df))
    with pytest.raises(LabelTableError, match="'owl'"):
        SingleTargetAudioDataset(bad, {0: "B32", 1: "SW83"}, label_column="bird")
    with pytest.raises(ValueError, match="overlay_class"):
        SingleTargetAudioDataset(
            label_df, None, label_column="bird", max_overlay_num=1, overlay_class=7
        )


def test_training_and_prediction_share_the_spectrogram_path(tits: list[Path]) -> None:
    clips = [LabelledClip(tits[0], (1.0, 0.0))]
    ds = AudioClipDataset(clips, classes=["B32", "SW83"], preprocessing=PRE)
    wave = ds.waveform(0)
    assert wave.shape == (PRE.clip_samples,)
    x_train = ds[0]["X"]
    torch.manual_seed(0)
    model = build_architecture("resnet18", 2)
    cfg = ModelConfig(architecture="resnet18", classes=("B32", "SW83"), preprocessing=PRE)
    clf = TorchClassifier(model, cfg, device="cpu", backend="eager")
    x_pred = clf.input(torch.from_numpy(np.array(wave))[None])[0]
    torch.testing.assert_close(x_train, x_pred, rtol=0, atol=0)
    with torch.inference_mode():
        ref = torch.softmax(model.eval()(x_train[None]), dim=1).numpy()
    np.testing.assert_allclose(clf.predict(wave[None]), ref, atol=1e-6)
    assert clf.embed(wave[None]).shape == (1, 512)


def test_fast_backend_matches_eager(tits: list[Path]) -> None:
    reader = SoundfileAudioIO()
    waves = np.stack(
        [
            fixed_length(reader.read(p, sample_rate=22050).samples, PRE.clip_samples)
            for p in tits[:6]
        ]
    )
    torch.manual_seed(1)
    model = build_architecture("resnet18", 3)
    cfg = ModelConfig(architecture="resnet18", classes=("a", "b", "c"), preprocessing=PRE)
    eager = TorchClassifier(model, cfg, device="cpu", backend="eager").predict(waves)
    fast = TorchClassifier(model, cfg, device="cpu", backend="fast")
    np.testing.assert_allclose(fast.predict(waves), eager, atol=1e-4)
    assert fast.engine == "onnxruntime"  # the optimised path was kept


def test_gradcam_and_image_prediction_on_non_square_images(
    tits: list[Path], tmp_path: Path
) -> None:
    from torchvision.utils import save_image

    inp = SpectrogramInput(PRE)
    reader = SoundfileAudioIO()
    paths = []
    for i, p in enumerate(tits[:2]):
        wave = fixed_length(reader.read(p, sample_rate=22050).samples, PRE.clip_samples)
        img = inp.images(torch.from_numpy(np.array(wave))[None])
        paths.append(tmp_path / f"{i}.png")
        save_image(img, paths[-1])
    torch.manual_seed(0)
    model = build_architecture("resnet18", 2).eval()
    scores = predict_images(model, paths, (64, 96), batch_size=2, num_workers=0)
    assert list(scores.index) == [str(p) for p in paths] and scores.shape == (2, 2)
    boxes, gcams = cast(tuple[list[Any], list[Any]], gradcam_region(model, paths, (64, 96)))
    assert [g.shape for g in gcams] == [(64, 96), (64, 96)]
    for box, g in zip(boxes, gcams, strict=True):
        assert box is not None
        (r0, r1), (c0, c1) = box
        assert 0 <= r0 <= r1 < 64 and 0 <= c0 <= c1 < 96
        assert g.max() == pytest.approx(1.0)


def _labels_csv(tits: list[Path], path: Path) -> None:
    pd.DataFrame(
        {
            "file": [p.name for p in tits],
            "bird": ["B32" if "B32" in p.name else "SW83" for p in tits],
        }
    ).to_csv(path, index=False)


def test_cli_train_then_predict_with_bad_files(
    tits: list[Path], oss_audio: Path, tmp_path: Path
) -> None:
    _labels_csv(tits, tmp_path / "labels.csv")
    run = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "train",
            "--labels",
            str(tmp_path / "labels.csv"),
            "--audio-root",
            str(tits[0].parent),
            "--label-column",
            "bird",
            "--classes",
            "B32,SW83",
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--clip-duration",
            "2",
            "--height",
            "64",
            "--width",
            "64",
            "--architecture",
            "resnet18",
            "-o",
            str(run),
        ],
    )
    assert result.exit_code == 0, result.output
    assert {p.name for p in run.iterdir()} >= {
        "model.opso",
        "last.opso",
        "epoch-1.tar",
        "metadata.txt",
    }
    assert f"model: {run / 'model.opso'} (epoch 1 of 1: lowest validation loss " in result.output
    assert f"last epoch: {run / 'last.opso'}" in result.output
    ck = torch.load(run / "epoch-1.tar", weights_only=True)
    assert ck["valid_metrics"]["loss"] > 0
    # weights only: no Adam moments (which tripled a resnet18 checkpoint to 134 MB)
    assert "optimizer_state_dict" not in ck
    weight_bytes = sum(v.numel() * v.element_size() for v in ck["model_state_dict"].values())
    assert (run / "epoch-1.tar").stat().st_size < 1.05 * weight_bytes + 200_000
    clf = load_classifier(run / "model.opso", device="cpu", backend="eager")
    assert clf.config.classes == ("B32", "SW83")

    recordings = [tits[0], oss_audio / "empty_2c.wav", tmp_path / "missing.wav", tits[-1]]
    (tmp_path / "missing.wav").write_bytes(b"not audio")
    out = tmp_path / "scores.csv"
    args = [
        "predict",
        str(run / "model.opso"),
        *map(str, recordings),
        "-o",
        str(out),
        "--clip-duration",
        "2",
        "--clip-overlap",
        "0",
        "--batch-size",
        "3",
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["file", "start_time", "end_time", "B32", "SW83", "error"]
    bad = scores[scores["error"].notna()]
    assert list(bad["file"]) == [str(recordings[1]), str(recordings[2])]
    assert bad[["B32", "SW83"]].isna().all().all()
    good = scores[scores["error"].isna()]
    # every good row equals eager PyTorch on the same slice of the decoded file
    reader = SoundfileAudioIO()
    for _, row in good.iterrows():
        samples = reader.read(Path(row["file"]), sample_rate=22050).samples
        start = round(row["start_time"] * 22050)
        clip = fixed_length(samples[start:], PRE.clip_samples)
        np.testing.assert_allclose(
            clf.predict(clip[None])[0], row[["B32", "SW83"]].to_numpy(dtype=float), atol=1e-4
        )
    assert runner.invoke(main, [*args, "--strict"]).exit_code == 1
    assert runner.invoke(main, [*args[:-2], "--batch-size", "1"]).exit_code == 0
    np.testing.assert_allclose(
        pd.read_csv(out)[["B32", "SW83"]].to_numpy(), scores[["B32", "SW83"]].to_numpy(), atol=1e-5
    )
    assert not list(tmp_path.glob("scores.csv*.partial"))
    # the notebook path gives the same table without the CLI or a file
    frame = opso.predict_clips(run / "model.opso", recordings, clip_duration=2, batch_size=3)
    assert list(frame.columns) == list(scores.columns)
    assert frame["file"].tolist() == scores["file"].tolist()
    np.testing.assert_allclose(
        frame[["B32", "SW83"]].to_numpy(float), scores[["B32", "SW83"]].to_numpy(), atol=1e-5
    )
    assert (frame["error"] != "").sum() == 2


def test_cli_refuses_a_non_opso_model(tmp_path: Path, tits: list[Path]) -> None:
    fake = tmp_path / "model.opso"
    torch.save({"state_dict": {}}, fake)
    result = CliRunner().invoke(
        main, ["predict", str(fake), str(tits[0]), "-o", str(tmp_path / "s.csv")]
    )
    assert result.exit_code == 1 and "not an opso model" in result.output
    assert not (tmp_path / "s.csv").exists()


def test_cli_train_label_errors(tmp_path: Path, tits: list[Path]) -> None:
    _labels_csv(tits, tmp_path / "labels.csv")
    result = CliRunner().invoke(
        main,
        [
            "train",
            "--labels",
            str(tmp_path / "labels.csv"),
            "--audio-root",
            str(tits[0].parent),
            "--label-column",
            "bird",
            "--classes",
            "B32,robin",
            "-o",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 1 and "'SW83'" in result.output and "class list" in result.output
    (tmp_path / "empty.csv").write_text("file,bird\n")
    result = CliRunner().invoke(
        main,
        [
            "train",
            "--labels",
            str(tmp_path / "empty.csv"),
            "--label-column",
            "bird",
            "-o",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 1 and "empty" in result.output


def test_multi_target_trainer_round_trip(tits: list[Path], tmp_path: Path) -> None:
    from opso.adapters.torch_classifier import TorchTrainer
    from opso.ports.progress import no_progress

    clips = [LabelledClip(p, (1.0, 0.0) if "B32" in p.name else (0.0, 0.0)) for p in tits[::2]]
    cfg = ModelConfig(
        architecture="mobilenet_v3_small",
        classes=("B32", "SW83"),
        multi_target=True,
        preprocessing=Preprocessing(clip_duration=1.0, height=32, width=32),
    )
    report = TorchTrainer(SoundfileAudioIO()).train(
        config=cfg,
        train_clips=clips[:5],
        valid_clips=clips[5:],
        save_dir=tmp_path,
        epochs=1,
        batch_size=4,
        learning_rate=1e-3,
        log_every=1,
        pretrained_weights=None,
        seed=0,
        progress=no_progress,
    )
    clf = load_classifier(report.model_path, device="cpu")
    assert clf.config.multi_target
    wave = fixed_length(SoundfileAudioIO().read(tits[0], sample_rate=22050).samples, 22050)
    s = clf.predict(np.stack([wave, wave]))
    assert s.shape == (2, 2) and ((s > 0) & (s < 1)).all()
    cm = torch.load(report.checkpoints[0], weights_only=True)["valid_metrics"]["confusion_matrix"]
    assert np.shape(cm) == (2, 2, 2)
    path = tmp_path / "copy.opso"
    save_model(clf.model, clf.config, path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelFileError):
        load_classifier(path)


def test_model_file_is_the_best_epoch_and_the_last_is_kept(
    tits: list[Path], tmp_path: Path
) -> None:
    from opso.adapters.torch_classifier import TorchTrainer
    from opso.adapters.torch_models import load_model
    from opso.domain.classifier import choose_best_epoch
    from opso.ports.progress import no_progress

    clips = [LabelledClip(p, (1.0, 0.0) if "B32" in p.name else (0.0, 1.0)) for p in tits]
    cfg = ModelConfig(
        architecture="mobilenet_v3_small",
        classes=("B32", "SW83"),
        preprocessing=Preprocessing(clip_duration=1.0, height=32, width=32),
    )
    report = TorchTrainer(SoundfileAudioIO()).train(
        config=cfg,
        train_clips=clips[::2],
        valid_clips=clips[1::2],
        save_dir=tmp_path,
        epochs=2,
        batch_size=4,
        learning_rate=0.1,  # so large that the second epoch's validation loss is far worse
        log_every=1,
        pretrained_weights=None,
        seed=0,
        progress=no_progress,
    )
    first, second = report.epochs
    assert second.valid_loss > first.valid_loss
    assert report.best_epoch == choose_best_epoch(report.epochs).epoch == 1
    assert report.model_path == tmp_path / "model.opso"
    assert report.last_model_path == tmp_path / "last.opso"
    assert [p.name for p in report.checkpoints] == ["epoch-1.tar", "epoch-2.tar"]

    def weights(path: Path) -> dict[str, torch.Tensor]:
        return cast(dict[str, torch.Tensor], load_model(path)[0].state_dict())

    def checkpoint(epoch: int) -> dict[str, torch.Tensor]:
        ck = torch.load(tmp_path / f"epoch-{epoch}.tar", weights_only=True)
        return cast(dict[str, torch.Tensor], ck["model_state_dict"])

    def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
        return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    assert same(weights(report.model_path), checkpoint(1))
    assert same(weights(tmp_path / "last.opso"), checkpoint(2))
    assert not same(checkpoint(1), checkpoint(2))


def test_predict_function_on_an_audio_dataset(label_df: pd.DataFrame) -> None:
    ds = SingleTargetAudioDataset(label_df.iloc[:5], None, height=32, width=32)
    torch.manual_seed(0)
    model = build_architecture("resnet18", 2)
    out = predict(model, ds, batch_size=2, label_dict={0: "B32", 1: "SW83"})
    assert list(out.index) == list(label_df["Destination"].iloc[:5])
    assert list(out.columns) == ["B32", "SW83"]


def test_dataset_from_images_and_debug_output(tits: list[Path], tmp_path: Path) -> None:
    from torchvision.utils import save_image

    inp = SpectrogramInput(PRE)
    wave = fixed_length(SoundfileAudioIO().read(tits[0], sample_rate=22050).samples, 44100)
    image = inp.images(torch.from_numpy(np.array(wave))[None])  # (1, 64, 96), 0-1
    save_image(image, tmp_path / "spec.png")
    df = pd.DataFrame({"Destination": [str(tmp_path / "spec.png")], "y": [1]})
    ds = SingleTargetAudioDataset(
        df, None, from_audio=False, label_column="y", height=64, width=96, debug=tmp_path / "debug"
    )
    item = ds[0]
    assert item["X"].shape == (3, 64, 96) and int(item["y"]) == 1
    # the PNG round trip (8-bit) gives back the audio path's tensor within one grey level
    torch.testing.assert_close(item["X"][0], (image[0] - 0.5) / 0.5, atol=2 / 255 + 1e-6, rtol=0)
    assert len(list((tmp_path / "debug").glob("*.png"))) == 1


def test_cli_train_reports_each_epochs_losses_as_it_ends(tits: list[Path], tmp_path: Path) -> None:
    _labels_csv(tits, tmp_path / "labels.csv")
    args = ["train", "--labels", str(tmp_path / "labels.csv"), "--audio-root", str(tits[0].parent)]
    args += ["--label-column", "bird", "--epochs", "2", "--batch-size", "4", "--clip-duration", "2"]
    args += ["--height", "32", "--width", "32", "--architecture", "resnet18"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("epoch ")]
    assert [ln.split(":")[0] for ln in lines] == ["epoch 1", "epoch 2"]
    assert all("train loss" in ln and "valid loss" in ln for ln in lines)
    assert "model: " in result.stdout


TINY = ["--epochs", "1", "--batch-size", "4", "--clip-duration", "2", "--height", "64"]
TINY += ["--width", "64"]


def test_cli_one_class_table_trains_a_detector_and_predicts_one_column(
    tits: list[Path], tmp_path: Path
) -> None:
    labels = tmp_path / "labels.csv"
    pd.DataFrame(
        {"file": [p.name for p in tits], "B32": [int("B32" in p.name) for p in tits]}
    ).to_csv(labels, index=False)
    run = tmp_path / "run"
    args = ["train", "--labels", str(labels), "--audio-root", str(tits[0].parent), *TINY]
    result = CliRunner().invoke(main, [*args, "-o", str(run)])
    assert result.exit_code == 0, result.output
    clf = load_classifier(run / "model.opso", device="cpu")
    assert clf.config.classes == ("B32",) and clf.config.multi_target
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(
        main, ["predict", str(run / "model.opso"), str(tits[0]), str(tits[-1]), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["file", "start_time", "end_time", "B32", "error"]
    assert len(scores) >= 2 and scores["B32"].between(0, 1, inclusive="neither").all()


@pytest.mark.parametrize(("cell", "shown"), [("2", "2"), ("yes", "'yes'"), ("", "an empty cell")])
def test_cli_train_names_a_bad_class_value(
    cell: str, shown: str, tits: list[Path], tmp_path: Path
) -> None:
    labels = tmp_path / "labels.csv"
    rows = [f"{p.name},{int('B32' in p.name)},{int('B32' not in p.name)}" for p in tits[:4]]
    rows[2] = rows[2].rsplit(",", 1)[0] + f",{cell}"
    labels.write_text("file,B32,SW83\n" + "\n".join(rows) + "\n")
    args = ["train", "--labels", str(labels), "--audio-root", str(tits[0].parent), *TINY]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert f"class column 'SW83', row 3: {shown} is not 0 or 1" in result.output
    assert not (tmp_path / "run").exists()


def test_a_device_this_machine_lacks_is_one_line_naming_the_ones_it_has(
    tits: list[Path], tmp_path: Path
) -> None:
    args = ["predict", str(tmp_path / "m.opso"), str(tits[0]), "-o", str(tmp_path / "s.csv")]
    result = CliRunner().invoke(main, [*args, "--device", "cuda:99"])
    assert result.exit_code == 2
    assert "device 'cuda:99' is not available here; here: cpu" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "s.csv").exists()
    result = CliRunner().invoke(main, [*args, "--device", "toaster"])
    assert result.exit_code == 2 and "'toaster' is not a torch device" in result.output
