"""The spec's ``torch.train.train`` loop: epochs, metrics, checkpoints, metadata.

Single-target datasets yield ``{"X": (C, H, W) float, "y": (1,) long}`` and are trained with a
loss such as ``CrossEntropyLoss``; multi-target datasets yield ``"y"`` as a (n_classes,) float
0/1 vector and are trained with ``BCEWithLogitsLoss`` (predictions: sigmoid > 0.5).

Training passes run under bfloat16 autocast where the device computes bfloat16 natively (see
:func:`resolve_precision`); the weights, the validation passes and the files stay float32.
Models that accept it train in channels-last memory (convolutions about 20% faster on CPU, in
bfloat16 and float32 alike); checkpoints and the model handed back are in the usual layout.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import platform
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from opso.adapters.atomic import atomic_path, write_text_atomic
from opso.adapters.torch_augment import augment_batch
from opso.domain.classifier import EpochSummary, UsedPrecision, choose_precision
from opso.domain.errors import ParameterError
from opso.domain.metrics import Metrics, MultiTargetMetrics
from opso.ports.progress import Progress

EpochCallback = Callable[[EpochSummary], None]


class _Indexed(Dataset[dict[str, Any]]):
    """Wrap a dataset so that each item also carries its index."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = dict(self.dataset[i])
        item["index"] = i
        return item


def _label_names(dataset: Any) -> list[Hashable] | None:
    """Return the dataset's class labels in model-output order, if it names them."""
    label_dict = getattr(dataset, "label_dict", None)
    if isinstance(label_dict, dict) and label_dict:
        return [label_dict[k] for k in sorted(label_dict)]
    classes = getattr(dataset, "classes", None)
    if classes is not None:
        return list(classes)
    return None


def training_device() -> torch.device:
    """Return the device :func:`train` uses: the GPU if there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cpuinfo_flags(text: str) -> dict[str, bool]:
    """Return the CPU feature flags of a Linux ``/proc/cpuinfo`` text as ``{flag: True}``."""
    return {
        flag: True
        for line in text.splitlines()
        if line.partition(":")[0].strip() == "flags"
        for flag in line.partition(":")[2].split()
    }


def cpu_capabilities() -> Mapping[str, Any]:
    """Return the CPU's instruction-set features (``torch.cpu.get_capabilities()``).

    Torch versions without it: the flags of ``/proc/cpuinfo``, or none where it is missing.
    """
    get = getattr(torch.cpu, "get_capabilities", None)
    if get is not None:
        return cast(Mapping[str, Any], get())
    try:
        return cpuinfo_flags(Path("/proc/cpuinfo").read_text(encoding="utf-8"))
    except OSError:
        return {}


def native_bf16(device: torch.device, capabilities: Mapping[str, Any] | None = None) -> bool:
    """Whether ``device`` computes bfloat16 natively.

    CPUs: AVX512-BF16 or AMX-BF16 instructions (``capabilities``, default
    :func:`cpu_capabilities`); CUDA GPUs: compute capability 8.0 (Ampere) or later; other
    devices (MPS): no.
    """
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device) >= (8, 0)
    if device.type != "cpu":
        return False
    caps = cpu_capabilities() if capabilities is None else capabilities
    return bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))


def resolve_precision(
    precision: str, device: torch.device, capabilities: Mapping[str, Any] | None = None
) -> UsedPrecision:
    """Return what training on ``device`` computes in for ``precision`` (auto, bf16 or fp32).

    ``auto`` is ``bf16`` (bfloat16 autocast) where :func:`native_bf16`, else ``fp32``.

    Raises
    ------
    ParameterError
        If ``precision`` is not auto, bf16 or fp32, or is bf16 on a device without native
        bfloat16 (emulated, it trains far slower than float32).
    """
    where = "CPU" if device.type == "cpu" else str(device)
    return choose_precision(precision, device=where, native_bf16=native_bf16(device, capabilities))


def _plain(value: Any) -> Any:
    """Metrics as plain Python data (``torch.load(weights_only=True)`` reads it)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _targets(y: torch.Tensor, multi: bool) -> torch.Tensor:
    if multi:
        return y.float()
    return y.reshape(-1).long()


def _batches(loader: DataLoader[dict[str, Any]], desc: str, show: bool) -> Iterator[dict[str, Any]]:
    from tqdm import tqdm

    yield from tqdm(loader, desc=desc, unit="batch", leave=False, disable=None if show else True)


def _run_epoch(
    model: nn.Module,
    loader: DataLoader[dict[str, Any]],
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer | None,
    labels: list[Hashable],
    multi: bool,
    n: int,
    tensor_augment: bool,
    device: torch.device,
    bf16: bool,
    channels_last: bool,
    show: bool,
    desc: str,
    scores: list[list[Any]] | None,
    debug_dir: Path | None,
) -> dict[str, Any]:
    training = optimizer is not None
    # bfloat16 autocast for training passes only: validation measures the float32 model
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=training and bf16)
    model.train(training)
    metrics: Metrics | MultiTargetMetrics = (
        MultiTargetMetrics(labels, n) if multi else Metrics(list(range(len(labels))), n)
    )
    context = torch.enable_grad() if training else torch.inference_mode()
    with context:
        for b, batch in enumerate(_batches(loader, desc, show)):
            x = batch["X"].to(device, non_blocking=True)
            y = _targets(batch["y"], multi).to(device)
            if training and tensor_augment:
                x = augment_batch(x.cpu()).to(device)
            if channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            if debug_dir is not None and b == 0:
                from torchvision.utils import save_image

                with atomic_path(debug_dir / f"{desc}-batch0.png") as tmp:
                    save_image(x[:16].detach().cpu() * 0.5 + 0.5, tmp)
            with autocast:
                out = model(x)
            out = out.float()
            loss = loss_fn(out, y)
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
            out = out.detach()
            if multi:
                predictions = (out > 0).long().cpu()
                prob = torch.sigmoid(out).cpu()
            else:
                predictions = out.argmax(dim=1).cpu()
                prob = torch.softmax(out, dim=1).cpu()
            metrics.accumulate_batch_metrics(float(loss.item()), y.long().cpu(), predictions)
            if scores is not None:
                for i, t, p in zip(
                    batch["index"].tolist(), y.cpu().tolist(), prob.tolist(), strict=True
                ):
                    scores.append([i, json.dumps(t), *p])
    return dict(metrics.compute_epoch_metrics())


def _channels_last_fits(model: nn.Module, sample: Any, device: torch.device) -> bool:
    """Put ``model`` in channels-last memory if it runs on one channels-last sample.

    Convolutions run about 20% faster in that layout; a model that calls ``view`` on a
    channels-last tensor fails on it, and stays as it is.
    """
    x = torch.as_tensor(sample)
    if x.dim() != 3:  # not one (C, H, W) image
        return False
    training = model.training
    model.eval()
    try:
        model.to(memory_format=torch.channels_last)
        with torch.inference_mode():
            model(x[None].to(device).contiguous(memory_format=torch.channels_last))
    except RuntimeError:
        model.to(memory_format=torch.contiguous_format)
        return False
    finally:
        model.train(training)
    return True


def _write_scores(path: Path, labels: Sequence[Hashable], rows: list[list[Any]]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "target", *map(str, labels)])
        rows.sort(key=lambda r: int(r[0]))
        w.writerows(rows)


def train(
    save_dir: str | Path,
    model: nn.Module,
    train_dataset: Any,
    valid_dataset: Any,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    epochs: int = 25,
    batch_size: int = 1,
    num_workers: int = 0,
    log_every: int = 5,
    tensor_augment: bool = False,
    debug: bool = False,
    print_logging: bool = True,
    save_scores: bool = False,
    *,
    progress: Progress | None = None,
    on_epoch: EpochCallback | None = None,
    save_optimizer: bool = True,
    precision: str = "auto",
) -> list[Path]:
    """Train a model, writing checkpoints every ``log_every`` epochs and after the last.

    Parameters
    ----------
    save_dir
        Folder for ``metadata.txt``, ``epoch-{n}.tar`` checkpoints (epochs counted from 1)
        and, if asked, score tables and debug images.
    model
        A torch CNN whose final layer has one output per class (e.g. from
        :func:`opso.torch.models.build_architecture`). It is moved to the GPU when one exists.
    train_dataset, valid_dataset
        Datasets yielding ``{"X", "y"}`` (see the module doc). Their ``label_dict`` (or
        ``classes``) names the classes. ``valid_dataset`` None: no validation passes (the
        validation loss and accuracy of each epoch are NaN).
    optimizer
        A torch optimizer over ``model``'s parameters.
    loss_fn
        E.g. ``CrossEntropyLoss()`` (single-target) or ``BCEWithLogitsLoss()`` (multi-target).
    epochs, batch_size, num_workers
        Passes over the training set, samples per batch, DataLoader worker processes.
    log_every
        Save a checkpoint when ``epoch % log_every == 0`` (and after the last epoch).
    tensor_augment
        Apply SpecAugment (time warp, time and frequency masks) to training batches.
    debug
        Save each epoch's first training and validation batch as PNG under ``save_dir/debug``.
    print_logging
        Show progress bars and print each epoch's metrics.
    save_scores
        Write each checkpoint epoch's per-sample scores as ``epoch-{n}-{train,valid}-scores.csv``.
    progress
        Told after each epoch (``done`` epochs of ``epochs``).
    on_epoch
        Called with each epoch's loss and accuracy summary, while ``model`` still holds that
        epoch's weights.
    save_optimizer
        True (the spec): each checkpoint also holds ``optimizer_state_dict`` (for Adam, twice
        the size of the weights). False: checkpoints hold the weights only.
    precision
        ``auto``: bfloat16 autocast in the training passes where the device computes bfloat16
        natively (:func:`native_bf16`), float32 elsewhere; ``bf16`` or ``fp32`` to choose. The
        weights, the optimizer, the validation passes and the checkpoints stay float32.

    Returns
    -------
    list of pathlib.Path
        The checkpoint files written, in order. Each loads with
        ``torch.load(path, weights_only=True)`` and holds ``epoch``, ``model_state_dict``,
        ``optimizer_state_dict`` (if ``save_optimizer``), ``labels`` (YAML text of the label dict),
        ``train_metrics`` and ``valid_metrics`` (loss, accuracy, precision, recall, f1,
        confusion_matrix; the validation loss is computed with ``loss_fn``; None without a
        validation set) and ``precision`` (``bf16`` or ``fp32``).

    Raises
    ------
    ParameterError
        If ``epochs``, ``batch_size`` or ``log_every`` is not positive, a dataset is empty, or
        ``precision`` is not one :func:`resolve_precision` accepts here.
    """
    import yaml

    if epochs < 1 or batch_size < 1 or log_every < 1:
        raise ParameterError(
            f"epochs, batch_size and log_every must be >= 1, got {epochs}, {batch_size}, "
            f"{log_every}"
        )
    if len(train_dataset) == 0:
        raise ParameterError("training needs samples: the training set is empty")
    if valid_dataset is not None and len(valid_dataset) == 0:
        raise ParameterError(
            "the validation set is empty; pass valid_dataset=None to train without validation"
        )
    device = training_device()
    used = resolve_precision(precision, device)
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    model.to(device)
    first = train_dataset[0]
    y0 = torch.as_tensor(first["y"])
    multi = bool(y0.is_floating_point())  # float 0/1 targets, one class included
    labels = _label_names(train_dataset)
    if labels is None:
        labels = _infer_labels(model, first, multi)
    label_dict = getattr(train_dataset, "label_dict", None)
    write_text_atomic(
        save_dir / "metadata.txt",
        _metadata(
            model,
            optimizer,
            loss_fn,
            train_dataset,
            valid_dataset,
            locals_=dict(
                epochs=epochs,
                batch_size=batch_size,
                num_workers=num_workers,
                log_every=log_every,
                tensor_augment=tensor_augment,
                debug=debug,
                print_logging=print_logging,
                save_scores=save_scores,
                multi_target=multi,
                classes=[str(c) for c in labels],
                device=str(device),
                precision=_precision_text(used),
            ),
        ),
    )
    pin = device.type == "cuda"
    train_loader = DataLoader(
        _Indexed(train_dataset),
        batch_size=batch_size,
        shuffle=True,
        num_workers=num_workers,
        pin_memory=pin,
        # a last batch of one sample breaks batch norm in training mode: drop it (it is a
        # different random sample each epoch)
        drop_last=len(train_dataset) > 1 and len(train_dataset) % batch_size == 1,
    )
    valid_loader = (
        None
        if valid_dataset is None
        else DataLoader(
            _Indexed(valid_dataset),
            batch_size=batch_size,
            shuffle=False,
            num_workers=num_workers,
            pin_memory=pin,
        )
    )
    labels_yaml = yaml.safe_dump(
        {
            int(k) if isinstance(k, int | np.integer) else str(k): str(v)
            for k, v in (label_dict.items() if isinstance(label_dict, dict) else enumerate(labels))
        }
    )
    debug_dir = save_dir / "debug" if debug else None
    if print_logging:
        print(f"training on {device} in {_precision_text(used)}")
    written: list[Path] = []
    run_epoch = functools.partial(
        _run_epoch,
        model,
        loss_fn=loss_fn,
        labels=labels,
        multi=multi,
        device=device,
        bf16=used == "bf16",
        channels_last=_channels_last_fits(model, first["X"], device),
        show=print_logging,
        debug_dir=debug_dir,
    )
    try:
        for epoch in range(1, epochs + 1):
            checkpoint = epoch % log_every == 0 or epoch == epochs
            train_scores: list[list[Any]] | None = [] if save_scores and checkpoint else None
            valid_scores: list[list[Any]] | None = [] if save_scores and checkpoint else None
            train_m = run_epoch(
                train_loader,
                optimizer=optimizer,
                n=len(train_dataset),
                tensor_augment=tensor_augment,
                desc=f"epoch {epoch} train",
                scores=train_scores,
            )
            valid_m = (
                None
                if valid_loader is None
                else run_epoch(
                    valid_loader,
                    optimizer=None,
                    n=len(valid_dataset),
                    tensor_augment=False,
                    desc=f"epoch {epoch} valid",
                    scores=valid_scores,
                )
            )
            summary = EpochSummary(
                epoch=epoch,
                train_loss=float(train_m["loss"]),
                train_accuracy=float(train_m["accuracy"]),
                valid_loss=math.nan if valid_m is None else float(valid_m["loss"]),
                valid_accuracy=math.nan if valid_m is None else float(valid_m["accuracy"]),
            )
            if print_logging:
                print(f"epoch {epoch}/{epochs}: {_epoch_text(summary, valid_m, ' | ')}")
            if not (math.isfinite(summary.train_loss)):
                raise FloatingPointError(
                    f"training loss became {summary.train_loss} in epoch {epoch}"
                )
            if checkpoint:
                path = save_dir / f"epoch-{epoch}.tar"
                state: dict[str, Any] = {
                    "epoch": epoch,
                    "model_state_dict": {
                        k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
                    },
                    "labels": labels_yaml,
                    "train_metrics": _plain(train_m),
                    "valid_metrics": None if valid_m is None else _plain(valid_m),
                    "precision": used,
                }
                if save_optimizer:
                    state["optimizer_state_dict"] = optimizer.state_dict()
                with atomic_path(path) as tmp:
                    torch.save(state, tmp)
                written.append(path)
                if train_scores is not None:
                    _write_scores(
                        save_dir / f"epoch-{epoch}-train-scores.csv", labels, train_scores
                    )
                if valid_scores is not None and valid_m is not None:
                    _write_scores(
                        save_dir / f"epoch-{epoch}-valid-scores.csv", labels, valid_scores
                    )
            if on_epoch is not None:
                on_epoch(summary)
            if progress is not None:
                progress(epoch, epochs, f"epoch {epoch}: {_epoch_text(summary, valid_m, '  ')}")
    finally:  # hand the model back in the usual layout, as it came
        model.to(memory_format=torch.contiguous_format)
    return written


def _epoch_text(summary: EpochSummary, valid: dict[str, Any] | None, sep: str) -> str:
    text = f"train loss {summary.train_loss:.4f} acc {summary.train_accuracy:.3f}"
    if valid is None:
        return text
    return f"{text}{sep}valid loss {summary.valid_loss:.4f} acc {summary.valid_accuracy:.3f}"


def _precision_text(used: UsedPrecision) -> str:
    return "bf16 autocast (float32 weights)" if used == "bf16" else "fp32"


def _infer_labels(model: nn.Module, first: dict[str, Any], multi: bool) -> list[Hashable]:
    if multi:
        return list(range(int(torch.as_tensor(first["y"]).numel())))
    model_device = next(model.parameters()).device
    was = model.training
    model.eval()
    with torch.inference_mode():
        n = int(model(torch.as_tensor(first["X"])[None].to(model_device)).shape[1])
    model.train(was)
    return list(range(n))


def _metadata(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Any,
    train_dataset: Any,
    valid_dataset: Any,
    *,
    locals_: dict[str, Any],
) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        opso_version = version("opso")
    except PackageNotFoundError:  # pragma: no cover
        opso_version = "unknown"
    lines = [
        f"model: {type(model).__name__}",
        f"optimizer: {type(optimizer).__name__} {optimizer.defaults}",
        f"loss_fn: {loss_fn!r}",
        f"train_dataset: {type(train_dataset).__name__} ({len(train_dataset)} samples)",
        "valid_dataset: none"
        if valid_dataset is None
        else f"valid_dataset: {type(valid_dataset).__name__} ({len(valid_dataset)} samples)",
        *(f"{k}: {v}" for k, v in locals_.items()),
        f"opso: {opso_version}",
        f"torch: {torch.__version__}",
        f"python: {platform.python_version()}",
    ]
    return "\n".join(lines) + "\n"
