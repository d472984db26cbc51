"""opso's own CNN model files behind the pretrained-model port, beside BirdNET.

``opso embed --model model.opso``, heads trained on those embeddings and the Python
``opso.load_model("model.opso")`` go through :class:`PretrainedModels`, which loads BirdNET
(``"birdnet"`` or a ``.tflite`` file) with LiteRT and any other model file as an opso CNN.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from opso.domain.errors import ParameterError
from opso.domain.heads import ModelReference
from opso.ports.classifier import ClassifierStore
from opso.ports.pretrained import PretrainedModel, PretrainedModelStore

if TYPE_CHECKING:
    from opso.adapters.torch_classifier import TorchClassifier

#: Model names and file suffixes that LiteRT (BirdNET) loads; any other file is an opso CNN.
LITERT_SUFFIXES = (".tflite",)


class TorchPretrained(PretrainedModel):
    """A trained opso CNN as a pretrained model.

    Scores are its logits, embeddings its penultimate layer; windows have its own clip length
    and sample rate.
    """

    def __init__(self, classifier: TorchClassifier, path: Path) -> None:
        self.classifier = classifier
        self.path = path
        self._sha256: str | None = None

    @property
    def name(self) -> str:
        """``<architecture>:<file name>``, e.g. ``resnet18:model.opso``."""
        return f"{self.classifier.config.architecture}:{self.path.name}"

    @property
    def sample_rate(self) -> int:
        """The model's preprocessing sample rate (Hz)."""
        return self.classifier.config.preprocessing.sample_rate

    @property
    def clip_duration(self) -> float:
        """The model's clip length (s)."""
        return self.classifier.config.preprocessing.clip_duration

    @property
    def classes(self) -> Sequence[str]:
        """The model's classes in output order."""
        return list(self.classifier.config.classes)

    @property
    def reference(self) -> ModelReference:
        """The model file (loaded again by path) and its SHA-256."""
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()
        return ModelReference(
            name=self.name,
            load_as=str(self.path),
            labels=None,
            file=str(self.path),
            sha256=self._sha256,
        )

    def scores(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        """Logits [shape=(n, n_classes)] of windows [shape=(n, samples)]."""
        return self.classifier.raw_scores(clips)

    def embeddings(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        """Penultimate-layer features [shape=(n, n_features)] of windows."""
        return self.classifier.embed(clips)

    def occurrence(self, latitude: float, longitude: float, week: int) -> NDArray[np.float32]:
        """Refuse: an opso CNN has no species-range model.

        Raises
        ------
        ParameterError
            Always.
        """
        raise ParameterError(f"{self.path}: an opso model has no species-range model")


class PretrainedModels(PretrainedModelStore):
    """Load BirdNET through LiteRT and opso model files through torch.

    Parameters
    ----------
    litert
        Makes the LiteRT store on first use (so a missing ``birdnet`` extra only matters
        when BirdNET is asked for).
    classifiers
        Makes the store that loads opso model files, on first use (so BirdNET alone never
        imports torch).
    """

    def __init__(
        self,
        litert: Callable[[], PretrainedModelStore],
        classifiers: Callable[[], ClassifierStore],
    ) -> None:
        self._litert = litert
        self._classifiers = classifiers

    def load(self, model: str | Path, *, labels: Path | None = None) -> PretrainedModel:
        """Load ``"birdnet"``, a ``.tflite`` file (with ``labels``) or an opso model file.

        Raises
        ------
        MissingExtraError
            If BirdNET is asked for and ``opso[birdnet]`` is not installed.
        ModelFileError
            If the model file is missing, unreadable or not a model.
        ParameterError
            If ``labels`` is given for an opso model (it holds its own classes).
        """
        if str(model).lower() == "birdnet" or Path(model).suffix.lower() in LITERT_SUFFIXES:
            return self._litert().load(model, labels=labels)
        if labels is not None:
            raise ParameterError(f"{model}: an opso model holds its own classes; no --labels")
        from opso.adapters.torch_classifier import TorchClassifier  # torch only for opso models

        classifier = self._classifiers().load(Path(model))
        if not isinstance(classifier, TorchClassifier):
            raise ParameterError(f"{model}: not a torch model")
        return TorchPretrained(classifier, Path(model))
