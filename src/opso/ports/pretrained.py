"""Ports for pretrained models (BirdNET): score and embed fixed-length windows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from opso.domain.heads import EmbeddingSettings, ModelReference


class PretrainedModel(Protocol):
    """A pretrained detector that scores and embeds fixed-length audio windows."""

    @property
    def name(self) -> str:
        """Short name of the model (e.g. ``BirdNET_GLOBAL_6K_V2.4``)."""
        ...

    @property
    def sample_rate(self) -> int:
        """Sample rate (Hz) the windows must have."""
        ...

    @property
    def clip_duration(self) -> float:
        """Window length in seconds."""
        ...

    @property
    def classes(self) -> Sequence[str]:
        """Class labels in output order (BirdNET: ``"Scientific name_Common name"``)."""
        ...

    @property
    def reference(self) -> ModelReference:
        """How to load this model again, and the SHA-256 of its file."""
        ...

    def scores(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        """Raw outputs (BirdNET: logits) [shape=(n, n_classes)] of clips [shape=(n, samples)]."""
        ...

    def embeddings(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        """Pre-classifier features [shape=(n, n_features)] of clips [shape=(n, samples)]."""
        ...

    def occurrence(self, latitude: float, longitude: float, week: int) -> NDArray[np.float32]:
        """Species-range scores [shape=(n_classes,)] at a place and week (-1: all year).

        Raises
        ------
        ParameterError
            If the model has no range model.
        """
        ...


class PretrainedModelStore(Protocol):
    """Loads pretrained models by name or file."""

    def load(self, model: str | Path, *, labels: Path | None = None) -> PretrainedModel:
        """Load ``model`` (a known name such as ``"birdnet"``, or a model file with ``labels``).

        Raises
        ------
        MissingExtraError
            If the optional packages the model needs are not installed.
        ModelFileError
            If the model or labels file is missing, unreadable, or they disagree.
        """
        ...


class EmbeddingWriter(Protocol):
    """Writes a table of key columns plus one feature vector per row, atomically."""

    def write(
        self,
        rows: Sequence[dict[str, object]],
        vectors: NDArray[np.float32],
        path: Path,
        *,
        settings: EmbeddingSettings | None = None,
    ) -> None:
        """Write ``rows`` (same keys each) with ``vectors`` [shape=(len(rows), d)] to ``path``.

        ``settings`` (the model and windows that made them) are stored with the table.
        """
        ...
