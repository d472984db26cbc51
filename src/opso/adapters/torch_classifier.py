"""The torch backend of the Classifier ports: load, score, embed and train CNNs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from opso.adapters.torch_datasets import AudioClipDataset, SpectrogramInput
from opso.adapters.torch_models import (
    build_architecture,
    load_model,
    penultimate_features,
    save_model as _save_model,
)
from opso.adapters.torch_training import resolve_precision, train, training_device
from opso.domain.classifier import (
    EpochSummary,
    LabelledClip,
    ModelConfig,
    Precision,
    TrainReport,
    choose_best_epoch,
)
from opso.domain.errors import ClassifierInputError, ParameterError
from opso.ports.audio_io import AudioReader
from opso.ports.classifier import Classifier, ClassifierStore, ClassifierTrainer
from opso.ports.progress import Progress

log = logging.getLogger(__name__)

Backend = Literal["eager", "fast"]
#: Largest difference from eager scores accepted from the fast path (else eager is used).
FAST_TOLERANCE = 1e-4
#: Seed of the noise clips every fast engine is checked on (never the user's audio).
PROBE_SEED = 0


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def available_devices() -> list[str]:
    """Torch devices this machine can run on: ``cpu``, ``cuda:N`` for each GPU, ``mps``."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        found.append("mps")
    return found


def check_device(device: str | None) -> str:
    """Return ``device`` (default: a GPU if there is one), refusing one this machine lacks.

    Raises
    ------
    ParameterError
        If the name is not a torch device or that device is not here; the message lists the
        devices that are.
    """
    if device is None:
        return _default_device()
    here = available_devices()
    try:
        wanted = torch.device(device)
    except (RuntimeError, ValueError) as e:
        raise ParameterError(f"{device!r} is not a torch device; here: {', '.join(here)}") from e
    index = wanted.index if wanted.index is not None else 0
    name = wanted.type if wanted.type in ("cpu", "mps") else f"{wanted.type}:{index}"
    if name not in here:
        raise ParameterError(f"device {device!r} is not available here; here: {', '.join(here)}")
    return device


Forward = Callable[[torch.Tensor], torch.Tensor]


def _onnxruntime_forward(model: nn.Module, example: torch.Tensor) -> Forward | None:
    """Export ``model`` to ONNX in memory and run it with ONNX Runtime (CPU), if installed."""
    try:
        import io
        import warnings

        import onnxruntime as ort

        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # exporter deprecation and tracing notes
            torch.onnx.export(
                model,
                (example,),
                buffer,  # type: ignore[arg-type]  # the TorchScript exporter takes file objects
                dynamo=False,
                input_names=["x"],
                output_names=["y"],
                dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
            )
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = torch.get_num_threads()
        options.log_severity_level = 3
        session = ort.InferenceSession(
            buffer.getvalue(), options, providers=["CPUExecutionProvider"]
        )
    except Exception as e:  # not installed, or an operator the exporter cannot handle
        log.info("ONNX Runtime path unavailable (%s)", e)
        return None

    def forward(x: torch.Tensor) -> torch.Tensor:
        out = session.run(["y"], {"x": x.detach().contiguous().numpy()})[0]
        return torch.from_numpy(np.asarray(out, dtype=np.float32))

    return forward


def _onednn_forward(model: nn.Module, example: torch.Tensor) -> Forward | None:
    """Fold batch norms into convolutions and run on oneDNN (MKLDNN) tensors, if it traces."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit deprecation notes
            from torch.fx.experimental import optimization

            fast: Forward = optimization.optimize_for_inference(model)
    except Exception as e:  # an architecture fx cannot trace
        log.info("oneDNN path unavailable (%s)", e)
        return None
    return fast


#: CPU inference engines tried in order by ``backend="fast"``; each must match eager.
CPU_ENGINES: tuple[tuple[str, Callable[[nn.Module, torch.Tensor], Forward | None]], ...] = (
    ("onnxruntime", _onnxruntime_forward),
    ("onednn", _onednn_forward),
)


class TorchClassifier(Classifier):
    """A CNN with its preprocessing: waveforms in, class scores or features out.

    Parameters
    ----------
    model
        A torch CNN with one output per class.
    config
        Its architecture, classes and preprocessing.
    device
        ``"cpu"``, ``"cuda"``, ... (default: a GPU if there is one).
    backend
        ``"fast"`` (default): on CPU the first of :data:`CPU_ENGINES` (ONNX Runtime, then
        torch.fx with batch norms folded and oneDNN kernels) whose scores match eager PyTorch
        within 1e-4 on two clips of seeded noise, checked once when the classifier is made (so
        the engine never depends on the audio scored); eager if none does. On GPU,
        channels-last memory. ``"eager"``: plain PyTorch, the reference. ``engine`` names
        the one in use.
    """

    def __init__(
        self,
        model: nn.Module,
        config: ModelConfig,
        *,
        device: str | None = None,
        backend: Backend = "fast",
    ) -> None:
        self.device = torch.device(device or _default_device())
        self.model = model.to(self.device).eval()
        self._config = config
        self.input = SpectrogramInput(config.preprocessing, device=str(self.device))
        self.backend = backend
        self._forward: Forward = self.model
        self.engine = "eager"
        if backend == "fast":
            if self.device.type == "cpu":
                self._choose_engine()
            else:
                self.model = self.model.to(memory_format=torch.channels_last)
                self._forward = self.model
                self.engine = "channels-last"

    @property
    def config(self) -> ModelConfig:
        """The model's architecture, classes and preprocessing."""
        return self._config

    def _inputs(self, clips: NDArray[np.float32]) -> torch.Tensor:
        arr = np.asarray(clips, dtype=np.float32)
        if not arr.flags.writeable:
            arr = arr.copy()
        if arr.ndim != 2:
            raise ClassifierInputError(f"clips must be [batch, samples], got shape {arr.shape}")
        x = self.input(torch.from_numpy(arr).to(self.device))
        if self.device.type != "cpu" and self.backend == "fast":
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _activate(self, logits: torch.Tensor) -> torch.Tensor:
        if self._config.multi_target:
            return torch.sigmoid(logits)
        return torch.softmax(logits, dim=1)

    def _probe(self) -> torch.Tensor:
        """Model input of two clips of seeded noise: the same for every run and every file."""
        pre = self._config.preprocessing
        noise = np.random.default_rng(PROBE_SEED).standard_normal((2, pre.clip_samples))
        return self._inputs((0.1 * noise).astype(np.float32))

    def _choose_engine(self) -> None:
        """Keep the first fast engine whose scores on :meth:`_probe` match eager within 1e-4."""
        probe = self._probe()
        with torch.inference_mode():
            ref = self._activate(self.model(probe))
        for name, make in CPU_ENGINES:
            forward = make(self.model, probe[:1].clone())
            if forward is None:
                continue
            try:
                with torch.inference_mode():
                    got = self._activate(forward(probe))
            except RuntimeError as e:  # an operator the engine does not support
                log.info("%s failed on the check clips (%s)", name, e)
                continue
            diff = float((got - ref).abs().max())
            if diff <= FAST_TOLERANCE:
                self._forward, self.engine = forward, name
                return
            log.warning("%s differs from eager by %.2g; not used", name, diff)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Return raw outputs for model input ``x`` [shape=(batch, C, H, W)]."""
        with torch.inference_mode():
            out: torch.Tensor = self._forward(x)
        return out

    def predict(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        """Score clips [shape=(batch, clip_samples)] at the config's sample rate.

        Returns
        -------
        numpy.ndarray
            float32 [shape=(batch, n_classes)]: softmax (single-target) or sigmoid
            (multi-target) probabilities.
        """
        if len(clips) == 0:
            return np.zeros((0, len(self._config.classes)), dtype=np.float32)
        scores = self._activate(self.logits(self._inputs(clips)))
        return np.asarray(scores.float().cpu().numpy(), dtype=np.float32)

    def raw_scores(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        """Return the logits [shape=(batch, n_classes)] of clips, before sigmoid or softmax."""
        if len(clips) == 0:
            return np.zeros((0, len(self._config.classes)), dtype=np.float32)
        return np.asarray(self.logits(self._inputs(clips)).float().cpu().numpy(), np.float32)

    def embed(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        """Return penultimate-layer features [shape=(batch, n_features)] of clips."""
        with torch.inference_mode():
            feats = penultimate_features(self.model, self._inputs(clips))
        return np.asarray(feats.float().cpu().numpy(), dtype=np.float32)

    def save(self, path: str | Path) -> Path:
        """Write the model file (weights + versioned JSON config)."""
        return _save_model(self.model, self._config, path)


class TorchClassifierStore(ClassifierStore):
    """Load opso model files as :class:`TorchClassifier` objects."""

    def __init__(self, *, device: str | None = None, backend: Backend = "fast") -> None:
        self.device = device
        self.backend = backend

    def load(self, path: Path) -> TorchClassifier:
        """Load ``path`` (``torch.load(weights_only=True)``; no code from it is run).

        Raises
        ------
        ParameterError
            If the store's device is not on this machine (checked before the file is read).
        """
        check_device(self.device)
        model, config = load_model(path)
        return TorchClassifier(model, config, device=self.device, backend=self.backend)


class TorchTrainer(ClassifierTrainer):
    """Train a CNN by name on labelled clips with :func:`opso.torch.train.train`.

    Parameters
    ----------
    reader
        Decodes the clips' audio.
    num_workers
        DataLoader worker processes.
    print_logging
        Print per-epoch metrics and show batch progress bars.
    """

    def __init__(
        self, reader: AudioReader, *, num_workers: int = 0, print_logging: bool = False
    ) -> None:
        self.reader = reader
        self.num_workers = num_workers
        self.print_logging = print_logging

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
        """Train; save the best epoch as ``save_dir/model.opso`` and the last as ``last.opso``.

        The best epoch has the lowest validation loss (:func:`choose_best_epoch`); its weights
        are kept in memory when it ends, so it need not have a checkpoint. Without validation
        clips, ``model.opso`` is the last epoch (no ``last.opso``). Checkpoints
        (``epoch-N.tar`` every ``log_every`` epochs and after the last) hold the weights and
        metrics only: no optimizer state, since nothing resumes from them. ``precision``: see
        :func:`opso.adapters.torch_training.resolve_precision`.
        """
        used = resolve_precision(precision, training_device())
        torch.manual_seed(seed)
        model = build_architecture(
            config.architecture, len(config.classes), weights=pretrained_weights
        )
        common = dict(
            classes=config.classes,
            preprocessing=config.preprocessing,
            multi_target=config.multi_target,
            reader=self.reader,
        )
        train_set = AudioClipDataset(train_clips, random_start=True, **common)  # type: ignore[arg-type]
        valid_set = (
            AudioClipDataset(valid_clips, random_start=False, **common)  # type: ignore[arg-type]
            if valid_clips
            else None
        )
        loss_fn: nn.Module = (
            nn.BCEWithLogitsLoss() if config.multi_target else nn.CrossEntropyLoss()
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        summaries: list[EpochSummary] = []
        best_state: dict[str, torch.Tensor] = {}

        def keep_best(summary: EpochSummary) -> None:
            summaries.append(summary)
            if valid_set is not None and choose_best_epoch(summaries) is summary:
                best_state.clear()
                for k, v in model.state_dict().items():
                    best_state[k] = v.detach().to("cpu", copy=True)

        checkpoints = train(
            save_dir,
            model,
            train_set,
            valid_set,
            optimizer,
            loss_fn,
            epochs=epochs,
            batch_size=batch_size,
            num_workers=self.num_workers,
            log_every=log_every,
            print_logging=self.print_logging,
            progress=progress,
            on_epoch=keep_best,
            save_optimizer=False,
            precision=used,
        )
        model.cpu()
        if valid_set is None:
            model_path = _save_model(model, config, save_dir / "model.opso")
            return TrainReport(
                model_path=model_path,
                checkpoints=checkpoints,
                epochs=summaries,
                last_model_path=model_path,
                precision=used,
            )
        last_path = _save_model(model, config, save_dir / "last.opso")
        model.load_state_dict(best_state)
        model_path = _save_model(model, config, save_dir / "model.opso")
        return TrainReport(
            model_path=model_path,
            checkpoints=checkpoints,
            epochs=summaries,
            best_epoch=choose_best_epoch(summaries).epoch,
            last_model_path=last_path,
            precision=used,
        )


def load_classifier(
    path: str | Path, *, device: str | None = None, backend: Backend = "fast"
) -> TorchClassifier:
    """Load an opso model file as a :class:`TorchClassifier` (scores and embeds waveforms).

    Raises
    ------
    ModelFileError
        If the file is not an opso model or was tampered with (no code from it is run).
    """
    return TorchClassifierStore(device=device, backend=backend).load(Path(path))
