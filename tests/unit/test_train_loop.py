from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from opso.adapters.torch_prediction import gradcam, last_feature_module, predict
from opso.adapters.torch_training import train


class Blobs(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """Class 0: bright top half; class 1: bright bottom half (learnable in one epoch)."""

    def __init__(self, n: int, *, multi: bool = False, labelled: bool = True) -> None:
        g = torch.Generator().manual_seed(n)
        self.labels = [i % 2 for i in range(n)]
        self.x = torch.rand(n, 3, 16, 16, generator=g) * 0.2
        for i, lab in enumerate(self.labels):
            self.x[i, :, 8 * lab : 8 * lab + 8] += 1.0
        self.multi = multi
        self.labelled = labelled
        self.label_dict = {0: "top", 1: "bottom"}
        self.df = pd.DataFrame({"Destination": [f"clip{i}.wav" for i in range(n)]})
        self.filename_column = "Destination"

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not self.labelled:
            return {"X": self.x[i]}
        if self.multi:
            y = torch.zeros(2)
            y[self.labels[i]] = 1.0
            return {"X": self.x[i], "y": y}
        return {"X": self.x[i], "y": torch.tensor([self.labels[i]])}


def tiny_cnn(n_out: int = 2) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d((4, 1)),
        nn.Flatten(),
        nn.Linear(16, n_out),
    )


def test_train_writes_checkpoints_metadata_and_learns(tmp_path: Path) -> None:
    model = tiny_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    paths = train(
        tmp_path,
        model,
        Blobs(32),
        Blobs(8),
        opt,
        nn.CrossEntropyLoss(),
        epochs=5,
        batch_size=4,
        log_every=2,
        print_logging=False,
        save_scores=True,
    )
    assert [p.name for p in paths] == ["epoch-2.tar", "epoch-4.tar", "epoch-5.tar"]
    meta = (tmp_path / "metadata.txt").read_text()
    assert "epochs: 5" in meta and "batch_size: 4" in meta and "CrossEntropyLoss" in meta
    ck = torch.load(paths[-1], weights_only=True)
    assert set(ck) >= {
        "epoch",
        "model_state_dict",
        "optimizer_state_dict",
        "labels",
        "train_metrics",
        "valid_metrics",
    }
    assert ck["epoch"] == 5 and "bottom" in ck["labels"]
    v = ck["valid_metrics"]
    assert v["loss"] > 0  # a real validation loss, not the spec's 0
    assert np.sum(v["confusion_matrix"]) == 8
    assert v["accuracy"] == 1.0
    scores = pd.read_csv(tmp_path / "epoch-5-valid-scores.csv")
    assert list(scores.columns) == ["index", "target", "top", "bottom"]
    assert len(scores) == 8 and len(pd.read_csv(tmp_path / "epoch-5-train-scores.csv")) == 32


def test_validation_loss_matches_the_loss_of_the_returned_weights(tmp_path: Path) -> None:
    model = tiny_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # no learning: weights stay put
    valid = Blobs(6)
    paths = train(
        tmp_path,
        model,
        Blobs(4),
        valid,
        opt,
        nn.CrossEntropyLoss(),
        epochs=1,
        batch_size=4,
        print_logging=False,
    )
    model.eval()
    with torch.inference_mode():
        x = torch.stack([valid[i]["X"] for i in range(6)])
        y = torch.tensor(valid.labels)
        expected = nn.CrossEntropyLoss()(model(x), y).item()
    got = torch.load(paths[0], weights_only=True)["valid_metrics"]["loss"]
    assert got == pytest.approx(expected, rel=1e-5)


def test_multi_target_training_and_prediction(tmp_path: Path) -> None:
    model = tiny_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    paths = train(
        tmp_path,
        model,
        Blobs(32, multi=True),
        Blobs(8, multi=True),
        opt,
        nn.BCEWithLogitsLoss(),
        epochs=4,
        batch_size=8,
        print_logging=False,
    )
    m = torch.load(paths[-1], weights_only=True)["valid_metrics"]
    assert np.shape(m["confusion_matrix"]) == (2, 2, 2)
    assert m["accuracy"] > 0.9
    ds = Blobs(5, labelled=False)
    scores = predict(model, ds, batch_size=2, multi_target=True, label_dict={0: "top", 1: "bottom"})
    with torch.inference_mode():
        expected = torch.sigmoid(model.eval()(ds.x)).numpy()  # sigmoid, not softmax
    np.testing.assert_allclose(scores.to_numpy(), expected, atol=1e-6)
    assert (scores.to_numpy().argmax(axis=1) == np.array(ds.labels)).all()


@pytest.mark.parametrize("batch_size", [1, 3, 7, 50])
def test_predict_never_loses_rows(batch_size: int) -> None:
    model = tiny_cnn()
    ds = Blobs(7, labelled=False)
    scores = predict(model, ds, batch_size=batch_size, label_dict={0: "top", 1: "bottom"})
    assert list(scores.index) == [f"clip{i}.wav" for i in range(7)]
    assert list(scores.columns) == ["top", "bottom"]
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-6)
    model.eval()
    with torch.inference_mode():
        ref = torch.softmax(model(ds.x), dim=1).numpy()
    np.testing.assert_allclose(scores.to_numpy(), ref, atol=1e-6)
    raw = predict(model, ds, batch_size=batch_size, apply_softmax=False)
    assert [int(c) for c in raw.columns] == [0, 1]


def test_gradcam_points_at_the_evidence() -> None:
    model = tiny_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    data: Any = Blobs(32)
    loader = torch.utils.data.DataLoader(data, batch_size=8, shuffle=True)
    for _ in range(15):
        for b in loader:
            opt.zero_grad()
            nn.CrossEntropyLoss()(model(b["X"]), b["y"].reshape(-1)).backward()
            opt.step()
    assert isinstance(last_feature_module(model, data.x[:1]), nn.ReLU)
    cams, cls = gradcam(model, data.x[:2])
    assert cams.shape == (2, 16, 16) and cls.tolist() == [0, 1]
    assert cams.min() >= 0 and cams.max() <= 1
    # class 0 evidence is the top half, class 1 the bottom half
    assert cams[0, :8].mean() > cams[0, 8:].mean()
    assert cams[1, 8:].mean() > cams[1, :8].mean()


def test_train_rejects_bad_settings(tmp_path: Path) -> None:
    model = tiny_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="epochs"):
        train(tmp_path, model, Blobs(2), Blobs(2), opt, nn.CrossEntropyLoss(), epochs=0)


class _Recorder(nn.Module):
    """Wrap a model; record the memory layout of every training batch it sees."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.layouts: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.layouts.append(x.is_contiguous(memory_format=torch.channels_last))
        out: torch.Tensor = self.inner(x)
        return out


class _Viewing(nn.Module):
    """A CNN that flattens with ``view``, which channels-last tensors refuse."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 16 * 16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        out: torch.Tensor = self.fc(y.view(y.size(0), -1))
        return out


def test_convolutions_train_channels_last_and_come_back_in_the_usual_layout(
    tmp_path: Path,
) -> None:
    cnn = tiny_cnn()
    model = _Recorder(cnn)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    paths = train(
        tmp_path, model, Blobs(16), Blobs(4), opt, nn.CrossEntropyLoss(),
        epochs=1, batch_size=4, print_logging=False,
    )  # fmt: skip
    assert model.layouts == [True] * 4  # every training batch in channels-last memory
    conv = next(cnn.parameters())  # the convolution's weight
    assert conv.is_contiguous() and not conv.is_contiguous(memory_format=torch.channels_last)
    saved = torch.load(paths[-1], weights_only=True)["model_state_dict"]["inner.0.weight"]
    assert saved.is_contiguous() and torch.equal(saved, conv.detach())


def test_a_model_that_views_its_features_still_trains(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _Viewing()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    paths = train(
        tmp_path, model, Blobs(16), Blobs(4), opt, nn.CrossEntropyLoss(),
        epochs=3, batch_size=4, print_logging=False,
    )  # fmt: skip
    metrics = torch.load(paths[-1], weights_only=True)["train_metrics"]
    assert metrics["accuracy"] == 1.0
