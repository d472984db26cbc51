"""Prediction over datasets and image files, and Grad-CAM activation maps, with torch."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias
from numpy.typing import NDArray
from torch import nn
from torch.utils.data import DataLoader, Dataset

from opso.domain.errors import ClassifierInputError, OpsoLoadAudioInputError, ParameterError
from opso.domain.gradcam import BoxLimits, activation_region_limits


def _index_of(dataset: Any) -> pd.Index:
    df = getattr(dataset, "df", None)
    column = getattr(dataset, "filename_column", None)
    if isinstance(df, pd.DataFrame) and column is not None and column in df.columns:
        names = [str(v) for v in df[column]]
    elif isinstance(df, pd.DataFrame):
        names = [str(v) for v in df.index]
    elif getattr(dataset, "paths", None) is not None:
        names = [str(p) for p in dataset.paths]
    else:
        return pd.RangeIndex(len(dataset), name="file")
    index: pd.Index = pd.Index(names, name="file")
    return index


def _columns(label_dict: Mapping[Any, Any] | None, n: int) -> list[Any]:
    if label_dict is None:
        return list(range(n))
    keys = sorted(label_dict)
    if len(keys) != n:
        raise ClassifierInputError(f"label_dict names {len(keys)} classes but the model has {n}")
    return [label_dict[k] for k in keys]


def _activate(logits: torch.Tensor, apply_softmax: bool, multi_target: bool) -> torch.Tensor:
    if not apply_softmax:
        return logits
    return torch.sigmoid(logits) if multi_target else torch.softmax(logits, dim=1)


def predict(
    model: nn.Module,
    prediction_dataset: Any,
    batch_size: int = 1,
    num_workers: int = 0,
    apply_softmax: bool = True,
    label_dict: Mapping[Any, Any] | None = None,
    *,
    multi_target: bool = False,
) -> pd.DataFrame:
    """Score every sample of a dataset with a model, in eval mode under ``inference_mode``.

    Parameters
    ----------
    model
        A torch model.
    prediction_dataset
        A dataset yielding ``{"X": (C, H, W)}`` (e.g. ``SingleTargetAudioDataset`` without a
        label column).
    batch_size, num_workers
        DataLoader batch size and worker processes; every sample gets exactly one row.
    apply_softmax
        True: softmax over classes (sigmoid per class if ``multi_target``); False: raw logits.
    label_dict
        ``{index: class name}`` naming the columns; None keeps 0..n-1.
    multi_target
        The model scores classes independently (sigmoid instead of softmax).

    Returns
    -------
    pandas.DataFrame
        One row per sample, indexed by its file (the dataset's ``filename_column`` or
        ``paths``), one column per class.
    """
    if batch_size < 1:
        raise ParameterError(f"batch_size must be >= 1, got {batch_size}")
    device = next(model.parameters()).device
    model.eval()
    loader = DataLoader(prediction_dataset, batch_size=batch_size, num_workers=num_workers)
    chunks: list[NDArray[np.float32]] = []
    with torch.inference_mode():
        for batch in loader:
            x = batch["X"] if isinstance(batch, Mapping) else batch
            out = _activate(model(x.to(device)), apply_softmax, multi_target)
            chunks.append(out.float().cpu().numpy())
    index = _index_of(prediction_dataset)
    if not chunks:
        return pd.DataFrame(index=index)
    scores = np.concatenate(chunks)
    if len(scores) != len(index):
        raise ClassifierInputError(
            f"the dataset gave {len(scores)} samples but names {len(index)} files"
        )
    return pd.DataFrame(scores, index=index, columns=_columns(label_dict, scores.shape[1]))


class ImageDataset(Dataset[dict[str, torch.Tensor]]):
    """Spectrogram images from files, as normalized tensors ``{"X": (3, H, W)}``.

    Pixels are scaled to 0-1 and then to ``(v - 0.5) / 0.5``, the same input scale as the
    audio datasets. ``img_shape`` is ``(height, width)``.
    """

    def __init__(self, paths: Sequence[str | Path], img_shape: tuple[int, int]) -> None:
        self.paths = [Path(p) for p in paths]
        self.img_shape = (int(img_shape[0]), int(img_shape[1]))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        from PIL import Image, UnidentifiedImageError

        path = self.paths[i]
        try:
            with Image.open(path) as img:
                rgb = img.convert("RGB").resize(
                    (self.img_shape[1], self.img_shape[0]), Image.Resampling.BILINEAR
                )
                arr = np.asarray(rgb, dtype=np.float32) / 255.0
        except FileNotFoundError:
            raise
        except (UnidentifiedImageError, OSError) as e:
            raise OpsoLoadAudioInputError(f"{path}: not a readable image ({e})") from e
        x = torch.from_numpy(arr).permute(2, 0, 1)
        return {"X": (x - 0.5) / 0.5}


def predict_images(
    model: nn.Module,
    img_paths: Sequence[str | Path],
    img_shape: tuple[int, int],
    batch_size: int = 1,
    num_workers: int = 12,
    apply_softmax: bool = True,
) -> pd.DataFrame:
    """Score spectrogram image files (``pytorch_prediction.predict`` of the spec).

    Parameters
    ----------
    model
        A torch model (not a path to weights).
    img_paths
        Paths of RGB spectrogram images.
    img_shape
        ``(height, width)`` the images are resized to.
    batch_size, num_workers
        DataLoader settings (workers are capped at the number of CPUs).
    apply_softmax
        Softmax over the model's outputs.

    Returns
    -------
    pandas.DataFrame
        Scores indexed by file, columns 0..n-1.
    """
    workers = min(num_workers, os.cpu_count() or 1)
    return predict(
        model,
        ImageDataset(img_paths, img_shape),
        batch_size=batch_size,
        num_workers=workers,
        apply_softmax=apply_softmax,
    )


def last_feature_module(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Return the module that last produces a spatial feature map (4-D, more than 1x1).

    Found by running ``x`` through ``model`` once; for torchvision CNNs this is the end of
    the convolutional body (e.g. ResNet's ``layer4``, EfficientNet's ``features``).

    Raises
    ------
    ClassifierInputError
        If no module produces a 4-D output with more than one spatial position.
    """
    order: list[nn.Module] = []

    pooling = (
        nn.modules.pooling._AdaptiveAvgPoolNd,
        nn.modules.pooling._AdaptiveMaxPoolNd,
        nn.modules.pooling._AvgPoolNd,
        nn.modules.pooling._MaxPoolNd,
    )

    def hook(m: nn.Module, _inp: Any, out: Any) -> None:
        spatial = (
            isinstance(out, torch.Tensor) and out.ndim == 4 and out.shape[-1] * out.shape[-2] > 1
        )
        if spatial and not isinstance(m, pooling):
            order.append(m)

    handles = [m.register_forward_hook(hook) for m in model.modules() if m is not model]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    if not order:
        raise ClassifierInputError(
            f"cannot find a convolutional feature map in {type(model).__name__} for Grad-CAM"
        )
    return order[-1]


def gradcam(
    model: nn.Module, x: torch.Tensor, target: Sequence[int] | None = None
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Compute Grad-CAM maps for a batch, upsampled to the input size.

    Parameters
    ----------
    model
        A CNN; the last spatial feature map is found automatically.
    x
        Input batch [shape=(batch, C, H, W)].
    target
        Class index per sample; None uses each sample's top-scoring class.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Maps [shape=(batch, H, W)] scaled to 0-1 (all 0 where no evidence), and the class
        indices they explain.
    """
    model.eval()
    device = next(model.parameters()).device
    x = x.to(device)
    layer = last_feature_module(model, x[:1])
    acts: list[torch.Tensor] = []

    def hook(_m: nn.Module, _inp: Any, out: torch.Tensor) -> None:
        out.retain_grad()
        acts.append(out)

    handle = layer.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            logits = model(x)
            cls = logits.argmax(dim=1) if target is None else torch.as_tensor(list(target))
            cls = cls.to(logits.device)
            model.zero_grad(set_to_none=True)
            logits.gather(1, cls[:, None]).sum().backward()
    finally:
        handle.remove()
    act = acts[-1]
    grad = act.grad
    if grad is None:
        raise ClassifierInputError("Grad-CAM got no gradient at the feature map")
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * act).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.amax(dim=(1, 2), keepdim=True)
    cam = torch.where(peak > 0, cam / peak.clamp_min(1e-12), torch.zeros_like(cam))
    return (
        cam.detach().cpu().numpy().astype(np.float32),
        cls.detach().cpu().numpy().astype(np.int64),
    )


def gradcam_region(
    model: nn.Module,
    img_paths: Sequence[str | Path],
    img_shape: tuple[int, int],
    predictions: Sequence[Any] | None = None,
    save_gcams: bool = True,
    box_threshold: float = 0.2,
) -> list[BoxLimits | None] | tuple[list[BoxLimits | None], list[NDArray[np.float32]]]:
    """Compute the Grad-CAM region of each image: where the CNN looked for its top class.

    Parameters
    ----------
    model
        A torchvision-style CNN.
    img_paths
        Spectrogram image files.
    img_shape
        ``(height, width)`` the images are resized to.
    predictions
        Optional scores per image [shape=(n_images, n_classes)]; each image's argmax is the
        class explained (default: the model's own top class).
    save_gcams
        Also return the Grad-CAM arrays.
    box_threshold
        Activation (0-1) that counts as inside the region.

    Returns
    -------
    list, or (list, list)
        Per image ``[[min_row, max_row], [min_col, max_col]]`` (None if nothing exceeds the
        threshold); with ``save_gcams`` also the arrays [shape=img_shape].
    """
    dataset = ImageDataset(img_paths, img_shape)
    targets = None if predictions is None else [int(np.argmax(p)) for p in predictions]
    boxes: list[BoxLimits | None] = []
    gcams: list[NDArray[np.float32]] = []
    for i in range(len(dataset)):
        cams, _ = gradcam(model, dataset[i]["X"][None], None if targets is None else [targets[i]])
        boxes.append(activation_region_limits(cams[0], box_threshold))
        gcams.append(cams[0])
    return (boxes, gcams) if save_gcams else boxes


def embed(
    model: nn.Module,
    prediction_dataset: Any,
    batch_size: int = 1,
    num_workers: int = 0,
) -> pd.DataFrame:
    """Return penultimate-layer features of every sample, indexed like :func:`predict`.

    The features are the input of the model's final linear layer (e.g. 512 values for a
    ResNet-18), useful for clustering or as input to a small classifier.
    """
    from opso.adapters.torch_models import penultimate_features

    device = next(model.parameters()).device
    model.eval()
    loader = DataLoader(prediction_dataset, batch_size=batch_size, num_workers=num_workers)
    chunks: list[NDArray[np.float32]] = []
    with torch.inference_mode():
        for batch in loader:
            x = batch["X"] if isinstance(batch, Mapping) else batch
            chunks.append(penultimate_features(model, x.to(device)).float().cpu().numpy())
    index = _index_of(prediction_dataset)
    if not chunks:
        return pd.DataFrame(index=index)
    return pd.DataFrame(np.concatenate(chunks), index=index)
