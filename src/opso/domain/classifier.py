"""What a trained classifier is, independent of any backend: its classes and preprocessing.

A model file stores weights next to this configuration as versioned JSON, so a saved model
reloads in later opso versions and nothing in the file is executable.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from opso.domain.errors import ModelFileError, ParameterError

#: Version of the model configuration JSON this opso writes (and the newest it reads).
MODEL_FORMAT_VERSION = 1
#: The ``format`` tag every opso model file carries.
MODEL_FORMAT = "opso-model"

Architecture = Literal[
    "resnet18",
    "resnet34",
    "resnet50",
    "efficientnet_b0",
    "mobilenet_v3",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
]
#: Architectures that can be built by name.
ARCHITECTURES: tuple[str, ...] = (
    "resnet18",
    "resnet34",
    "resnet50",
    "efficientnet_b0",
    "mobilenet_v3",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
)


@dataclass(frozen=True, slots=True)
class Preprocessing:
    """How audio becomes the model's input: clip length, spectrogram and image size.

    Parameters
    ----------
    sample_rate
        Audio is resampled to this rate (Hz).
    clip_duration
        Length of each clip in seconds; shorter audio is looped, longer audio cut.
    window_samples, overlap_samples
        Spectrogram window length and overlap, in samples.
    decibel_limits
        ``(low, high)`` dB mapped to the image's white (quiet) and black (loud).
    bandpass
        ``(low, high)`` Hz rows kept, or None for all.
    height, width
        Input image size in pixels.
    channels
        Image channels (the grey image is repeated).
    """

    sample_rate: int = 22050
    clip_duration: float = 5.0
    window_samples: int = 512
    overlap_samples: int = 256
    decibel_limits: tuple[float, float] = (-100.0, -20.0)
    bandpass: tuple[float, float] | None = None
    height: int = 224
    width: int = 224
    channels: int = 3

    def __post_init__(self) -> None:
        for name in ("sample_rate", "window_samples", "height", "width", "channels"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ParameterError(f"preprocessing {name} must be a positive integer, got {v!r}")
        if not isinstance(self.overlap_samples, int) or not (
            0 <= self.overlap_samples < self.window_samples
        ):
            raise ParameterError(
                f"preprocessing overlap_samples must be in [0, window_samples), "
                f"got {self.overlap_samples!r}"
            )
        if not (isinstance(self.clip_duration, int | float) and self.clip_duration > 0) or (
            not math.isfinite(self.clip_duration)
        ):
            raise ParameterError(
                f"preprocessing clip_duration must be positive seconds, got {self.clip_duration!r}"
            )
        low, high = self.decibel_limits
        if not low < high:
            raise ParameterError(
                f"preprocessing decibel_limits must be (low, high), got {low}, {high}"
            )
        object.__setattr__(self, "decibel_limits", (float(low), float(high)))
        if self.bandpass is not None:
            b_low, b_high = self.bandpass
            if not 0 <= b_low < b_high <= self.sample_rate / 2:
                raise ParameterError(
                    f"preprocessing bandpass must be 0 <= low < high <= {self.sample_rate / 2} Hz, "
                    f"got {self.bandpass!r}"
                )
            object.__setattr__(self, "bandpass", (float(b_low), float(b_high)))

    @property
    def clip_samples(self) -> int:
        """Samples per clip at ``sample_rate``."""
        return round(self.clip_duration * self.sample_rate)


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """A classifier's architecture, classes, task and preprocessing.

    Parameters
    ----------
    architecture
        One of :data:`ARCHITECTURES`.
    classes
        Class names, in the order of the model's outputs.
    multi_target
        True: each class is scored independently (sigmoid); False: one class per clip
        (softmax).
    preprocessing
        How clips become inputs.
    """

    architecture: str
    classes: tuple[str, ...]
    multi_target: bool = False
    preprocessing: Preprocessing = field(default_factory=Preprocessing)

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ParameterError(
                f"unknown architecture {self.architecture!r}; use one of {list(ARCHITECTURES)}"
            )
        classes = tuple(self.classes)
        if not classes or not all(isinstance(c, str) and c for c in classes):
            raise ParameterError(f"classes must be non-empty strings, got {self.classes!r}")
        if len(set(classes)) != len(classes):
            raise ParameterError(f"classes must be distinct, got {list(classes)!r}")
        if not self.multi_target and len(classes) < 2:
            raise ParameterError("a single-target model needs at least two classes")
        object.__setattr__(self, "classes", classes)

    def to_dict(self) -> dict[str, Any]:
        """Return the versioned JSON-ready description (``format``, ``format_version``, ...)."""
        pre = asdict(self.preprocessing)
        pre["decibel_limits"] = list(self.preprocessing.decibel_limits)
        if self.preprocessing.bandpass is not None:
            pre["bandpass"] = list(self.preprocessing.bandpass)
        return {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "architecture": self.architecture,
            "classes": list(self.classes),
            "multi_target": self.multi_target,
            "preprocessing": pre,
        }

    def to_json(self) -> str:
        """Return :meth:`to_dict` as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | Path = "<model>") -> ModelConfig:
        """Build a config from :meth:`to_dict` output, checking format and version.

        Raises
        ------
        ModelFileError
            If it is not an opso model description, was written by a newer opso, or holds an
            invalid value; the message names ``source`` and the key at fault.
        """
        if not isinstance(data, Mapping) or data.get("format") != MODEL_FORMAT:
            raise ModelFileError(f"{source}: not an opso model (no '{MODEL_FORMAT}' format tag)")
        version = data.get("format_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ModelFileError(f"{source}: invalid model format_version {version!r}")
        if version > MODEL_FORMAT_VERSION:
            raise ModelFileError(
                f"{source}: model format version {version} is newer than this opso reads "
                f"({MODEL_FORMAT_VERSION}); upgrade opso"
            )
        try:
            pre = dict(data["preprocessing"])
            unknown = set(pre) - set(Preprocessing.__dataclass_fields__)
            if unknown:
                raise ParameterError(f"unknown preprocessing keys {sorted(unknown)}")
            if "decibel_limits" in pre:
                pre["decibel_limits"] = tuple(pre["decibel_limits"])
            if pre.get("bandpass") is not None:
                pre["bandpass"] = tuple(pre["bandpass"])
            multi = data.get("multi_target", False)
            if not isinstance(multi, bool):
                raise ParameterError(f"multi_target must be true or false, got {multi!r}")
            return cls(
                architecture=data["architecture"],
                classes=tuple(data["classes"]),
                multi_target=multi,
                preprocessing=Preprocessing(**pre),
            )
        except KeyError as e:
            raise ModelFileError(f"{source}: model description lacks key {e.args[0]!r}") from e
        except (TypeError, ValueError) as e:
            raise ModelFileError(f"{source}: invalid model description ({e})") from e

    @classmethod
    def from_json(cls, text: str, *, source: str | Path = "<model>") -> ModelConfig:
        """Parse :meth:`to_json` text.

        Raises
        ------
        ModelFileError
            If the text is not valid JSON or not a valid opso model description.
        """
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as e:
            raise ModelFileError(f"{source}: model description is not valid JSON ({e})") from e
        return cls.from_dict(data, source=source)


@dataclass(frozen=True, slots=True)
class LabelledClip:
    """One training example: an audio file (or a window of it) and its 0/1 class targets.

    Parameters
    ----------
    source
        Audio file.
    targets
        One 0/1 value per class of the model (exactly one 1 for single-target models).
    start_time, end_time
        Window of the file in seconds; None reads the whole file.
    """

    source: Path
    targets: tuple[float, ...]
    start_time: float | None = None
    end_time: float | None = None


@dataclass(frozen=True, slots=True)
class EpochSummary:
    """Loss and accuracy of one training epoch, on the training and the validation set.

    ``valid_loss`` and ``valid_accuracy`` are NaN when training had no validation set.
    """

    epoch: int
    train_loss: float
    train_accuracy: float
    valid_loss: float
    valid_accuracy: float


#: Training precision asked for: ``auto`` picks ``bf16`` where the hardware computes it natively.
Precision = Literal["auto", "bf16", "fp32"]
#: The precision a training run used: bfloat16 autocast (weights stay float32) or float32.
UsedPrecision = Literal["bf16", "fp32"]
PRECISIONS: tuple[Precision, ...] = ("auto", "bf16", "fp32")


def choose_precision(requested: str, *, device: str, native_bf16: bool) -> UsedPrecision:
    """Return the precision to train in: ``auto`` is ``bf16`` where ``native_bf16``, else ``fp32``.

    Parameters
    ----------
    requested
        One of :data:`PRECISIONS`.
    device
        What trains, for messages (``"CPU"``, ``"cuda:0"``).
    native_bf16
        Whether the device computes bfloat16 natively (a CPU with AVX512-BF16 or AMX, a GPU of
        compute capability 8.0 or later). Elsewhere bfloat16 is emulated, far slower than
        float32.

    Raises
    ------
    ParameterError
        If ``requested`` is not a precision, or is ``bf16`` on a device without native bfloat16.
    """
    if requested not in PRECISIONS:
        raise ParameterError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested == "fp32" or (requested == "auto" and not native_bf16):
        return "fp32"
    if not native_bf16:
        raise ParameterError(
            f"precision bf16 asked for, but the {device} has no native bfloat16 (CPUs: "
            "AVX512-BF16 or AMX instructions; GPUs: compute capability 8.0 or later), so it "
            "would be emulated and train far slower than fp32; use precision auto or fp32"
        )
    return "bf16"


def choose_best_epoch(epochs: Sequence[EpochSummary]) -> EpochSummary:
    """Return the epoch with the lowest validation loss; of equal losses, the earliest.

    Epochs whose validation loss is not finite (NaN, inf) are never chosen unless every epoch's
    is, in which case the last epoch is returned.

    Raises
    ------
    ParameterError
        If ``epochs`` is empty.
    """
    if not epochs:
        raise ParameterError("no epochs to choose the best of")
    finite = [e for e in epochs if math.isfinite(e.valid_loss)]
    if not finite:
        return epochs[-1]
    return min(finite, key=lambda e: e.valid_loss)  # min keeps the first of equal keys


@dataclass(frozen=True, slots=True)
class TrainReport:
    """What a training run wrote: the model file, the checkpoints and the per-epoch summary.

    Parameters
    ----------
    model_path
        The model file: the weights of ``best_epoch``.
    checkpoints
        The checkpoint files written, in order.
    epochs
        Loss and accuracy of every epoch, in order.
    best_epoch
        The epoch (counted from 1) whose weights ``model_path`` holds, chosen by
        :func:`choose_best_epoch`; None if no validation set chose one (``model_path`` is then
        the last epoch).
    last_model_path
        The last epoch's model file (``model_path`` itself when training had no validation
        set), or None if none was written.
    precision
        What the training passes computed in: ``bf16`` (bfloat16 autocast; the weights, the
        validation passes and the files stay float32) or ``fp32``.
    """

    model_path: Path
    checkpoints: list[Path]
    epochs: list[EpochSummary]
    best_epoch: int | None = None
    last_model_path: Path | None = None
    precision: UsedPrecision = "fp32"

    @property
    def best(self) -> EpochSummary | None:
        """The summary of ``best_epoch``, or None."""
        return next((e for e in self.epochs if e.epoch == self.best_epoch), None)


def class_targets(labels: Sequence[str], classes: Sequence[str]) -> tuple[float, ...]:
    """Return the 0/1 target vector of ``labels`` over ``classes``.

    Raises
    ------
    ValueError
        If a label is not one of ``classes``.
    """
    unknown = [lab for lab in labels if lab not in classes]
    if unknown:
        raise ParameterError(f"label(s) {unknown!r} not in the class list {list(classes)!r}")
    return tuple(1.0 if c in labels else 0.0 for c in classes)
