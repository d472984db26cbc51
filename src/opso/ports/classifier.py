"""Ports for CNN classifiers: score clips, load a saved model, train a new one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from opso.domain.classifier import LabelledClip, ModelConfig, Precision, TrainReport
from opso.ports.progress import Progress


class Classifier(Protocol):
    """A trained model that scores equal-length audio clips."""

    @property
    def config(self) -> ModelConfig:
        """The model's architecture, classes and preprocessing."""
        ...

    def predict(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        """Score clips [shape=(batch, clip_samples)] at the config's sample rate.

        Returns scores [shape=(batch, n_classes)]: softmax probabilities for single-target
        models, independent sigmoid probabilities for multi-target ones.
        """
        ...

    def embed(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        """Return penultimate-layer features [shape=(batch, n_features)] of clips."""
        ...


class ClassifierStore(Protocol):
    """Loads saved classifiers."""

    def load(self, path: Path) -> Classifier:
        """Load the model file at ``path``; never runs code from the file."""
        ...


class ClassifierTrainer(Protocol):
    """Trains a classifier from labelled clips and saves it."""

    def train(
        self,
        *,
        config: ModelConfig,
        train_clips: Sequence[LabelledClip],
        valid_clips: Sequence[LabelledClip],
        save_dir: Path,
        epochs: int,
        batch_size: int,
        learning_rate: float,
        log_every: int,
        pretrained_weights: Path | None,
        seed: int,
        progress: Progress,
        precision: Precision = "auto",
    ) -> TrainReport:
        """Train, writing checkpoints and the final model file under ``save_dir``.

        No ``valid_clips``: train without validation; the model file is the last epoch.
        ``precision``: ``bf16`` (bfloat16 autocast, float32 weights), ``fp32``, or ``auto`` (bf16
        where the hardware computes it natively); bf16 the hardware lacks is a ParameterError.
        """
        ...
