"""CNN architectures by name and the opso model file (weights + versioned JSON config).

A model file is written with ``torch.save`` as a dict of plain data: the configuration as JSON
text, the ``state_dict`` tensors and a SHA-256 digest over both. It is read with
``torch.load(weights_only=True)``, so no code in a file is ever run; a file that is not an
opso model, whose digest does not match, or whose weights do not fit the architecture is
refused with :class:`~opso.domain.errors.ModelFileError`.
"""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from opso.adapters.atomic import atomic_path
from opso.domain.classifier import ARCHITECTURES, MODEL_FORMAT, ModelConfig
from opso.domain.errors import ClassifierInputError, ModelFileError, ParameterError


def _torchvision_builder(architecture: str) -> Any:
    import torchvision.models as tvm

    builders = {
        "resnet18": tvm.resnet18,
        "resnet34": tvm.resnet34,
        "resnet50": tvm.resnet50,
        "efficientnet_b0": tvm.efficientnet_b0,
        "mobilenet_v3": tvm.mobilenet_v3_large,
        "mobilenet_v3_large": tvm.mobilenet_v3_large,
        "mobilenet_v3_small": tvm.mobilenet_v3_small,
    }
    return builders[architecture]


def classifier_head(model: nn.Module) -> tuple[nn.Linear, str]:
    """Return the final linear layer of a torchvision CNN and its attribute path.

    Raises
    ------
    ClassifierInputError
        If the model has no ``fc`` or ``classifier`` ending in a ``Linear`` layer.
    """
    fc = getattr(model, "fc", None)
    if isinstance(fc, nn.Linear):
        return fc, "fc"
    head = getattr(model, "classifier", None)
    if isinstance(head, nn.Sequential) and isinstance(head[-1], nn.Linear):
        return head[-1], f"classifier.{len(head) - 1}"
    if isinstance(head, nn.Linear):
        return head, "classifier"
    raise ClassifierInputError(
        f"cannot find the final linear layer of {type(model).__name__} (no fc or classifier)"
    )


def _set_head(model: nn.Module, n_classes: int) -> None:
    head, path = classifier_head(model)
    parent_path, _, last = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, last, nn.Linear(head.in_features, n_classes))


def build_architecture(
    architecture: str, n_classes: int, *, weights: str | Path | None = None
) -> nn.Module:
    """Build a torchvision CNN by name with a fresh ``n_classes`` output layer.

    Parameters
    ----------
    architecture
        One of ``resnet18``, ``resnet34``, ``resnet50``, ``efficientnet_b0``,
        ``mobilenet_v3`` (large), ``mobilenet_v3_large``, ``mobilenet_v3_small``.
    n_classes
        Outputs of the new final layer.
    weights
        None for random initial weights, or a local file of the architecture's ``state_dict``
        (e.g. ImageNet weights saved by torchvision); its final layer is replaced. Nothing is
        ever downloaded.

    Raises
    ------
    ValueError
        If the architecture is unknown or ``n_classes`` < 1.
    ModelFileError
        If ``weights`` cannot be read as a state dict that fits the architecture.
    """
    if architecture not in ARCHITECTURES:
        raise ParameterError(
            f"unknown architecture {architecture!r}; use one of {list(ARCHITECTURES)}"
        )
    if n_classes < 1:
        raise ParameterError(f"n_classes must be >= 1, got {n_classes}")
    model: nn.Module = _torchvision_builder(architecture)(weights=None)
    if weights is not None:
        state: Mapping[str, Any] = _load_plain(Path(weights))
        if "state_dict" in state and isinstance(state["state_dict"], Mapping):
            state = state["state_dict"]
        _, head_path = classifier_head(model)
        body = {k: v for k, v in state.items() if not k.startswith(head_path + ".")}
        try:
            missing, unexpected = model.load_state_dict(body, strict=False)
        except RuntimeError as e:
            raise ModelFileError(f"{weights}: weights do not fit {architecture} ({e})") from e
        missing = [k for k in missing if not k.startswith(head_path + ".")]
        if missing or unexpected:
            raise ModelFileError(
                f"{weights}: weights do not fit {architecture} "
                f"(missing {missing[:3]}, unexpected {list(unexpected)[:3]})"
            )
    _set_head(model, n_classes)
    return model


def _load_plain(path: Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` with every failure turned into ModelFileError."""
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ModelFileError(
            f"{path}: refused to load: the file holds objects other than plain weights "
            f"(not an opso model, or tampered with) ({str(e).splitlines()[0]})"
        ) from e
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        raise ModelFileError(f"{path}: not a readable model file ({e})") from e
    except Exception as e:  # a corrupt pickle stream fails in many ways (KeyError, ...)
        raise ModelFileError(
            f"{path}: not a readable model file (corrupt: {type(e).__name__}: {e})"
        ) from e
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: not an opso model (holds {type(data).__name__})")
    return data


def _digest(config_json: str, state: Mapping[str, torch.Tensor]) -> str:
    h = hashlib.sha256(config_json.encode("utf-8"))
    for name in sorted(state):
        t = state[name]
        h.update(name.encode("utf-8"))
        h.update(str(t.dtype).encode("ascii"))
        h.update(str(tuple(t.shape)).encode("ascii"))
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_model(model: nn.Module, config: ModelConfig, path: str | Path) -> Path:
    """Write ``model``'s weights and ``config`` to an opso model file, atomically.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    text = config.to_json()
    payload = {
        "format": MODEL_FORMAT,
        "config": text,
        "state_dict": state,
        "sha256": _digest(text, state),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_model(path: str | Path) -> tuple[nn.Module, ModelConfig]:
    """Read an opso model file: rebuild its architecture and load its weights.

    Returns
    -------
    (torch.nn.Module, ModelConfig)
        The model in eval mode on the CPU, and its configuration.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ModelFileError
        If the file is not an opso model, holds anything but plain data, fails its digest
        (tampered or corrupted), is from a newer opso, or its weights do not fit.
    """
    path = Path(path)
    data = _load_plain(path)
    if data.get("format") != MODEL_FORMAT or not isinstance(data.get("config"), str):
        raise ModelFileError(f"{path}: not an opso model (no '{MODEL_FORMAT}' format tag)")
    config = ModelConfig.from_json(data["config"], source=path)
    state = data.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{path}: the model file holds no weights")
    if data.get("sha256") != _digest(data["config"], state):
        raise ModelFileError(
            f"{path}: checksum mismatch: the model file was modified or corrupted after saving"
        )
    model = build_architecture(config.architecture, len(config.classes))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelFileError(f"{path}: weights do not fit {config.architecture} ({e})") from e
    return model.eval(), config


def penultimate_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Return the input of the final linear layer for a batch [shape=(batch, n_features)]."""
    head, _ = classifier_head(model)
    captured: list[torch.Tensor] = []

    def hook(_m: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        captured.append(inputs[0])

    handle = head.register_forward_pre_hook(hook)
    try:
        model(x)
    finally:
        handle.remove()
    return captured[0].flatten(1)
