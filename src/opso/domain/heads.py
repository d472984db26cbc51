"""Small classifiers ("heads") on the embeddings of a pretrained model: records, maths, fitting.

A head standardises an embedding, then applies one linear layer (``logistic``: one-vs-rest
logistic regression) or a hidden ReLU layer and a linear layer (``mlp``), and a sigmoid per
class. It is fitted by L-BFGS on a class-weighted binary cross-entropy, so a rare class counts
as much as a common one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import NDArray

from opso.domain.errors import ParameterError

HeadKind = Literal["logistic", "mlp"]
HEAD_KINDS: tuple[HeadKind, ...] = ("logistic", "mlp")
#: Format tag and version of head files (``head.opso``).
HEAD_FORMAT = "opso-head"
HEAD_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class ModelReference:
    """How to load a pretrained model again, and the fingerprint of its file.

    ``load_as`` is what the model store loads (``"birdnet"``, or a model file path) with
    ``labels``; ``file`` is the model file that was read and ``sha256`` its digest.
    """

    name: str
    load_as: str
    labels: str | None
    file: str
    sha256: str

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-ready fields."""
        return {
            "name": self.name,
            "load_as": self.load_as,
            "labels": self.labels,
            "file": self.file,
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ModelReference:
        """Read the fields :meth:`to_dict` wrote.

        Raises
        ------
        ParameterError
            If a field is missing or of the wrong type (the message names it).
        """
        labels = data.get("labels")
        if labels is not None and not isinstance(labels, str):
            raise ParameterError(f"base model field 'labels' must be text, got {labels!r}")
        return cls(
            name=_text(data, "name"),
            load_as=_text(data, "load_as"),
            labels=labels,
            file=_text(data, "file"),
            sha256=_text(data, "sha256"),
        )


@dataclass(frozen=True, slots=True)
class EmbeddingSettings:
    """The model and windows that made a table of embeddings."""

    model: ModelReference
    sample_rate: int
    clip_duration: float
    overlap: float
    dimension: int

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-ready fields."""
        return {
            "model": self.model.to_dict(),
            "sample_rate": self.sample_rate,
            "clip_duration": self.clip_duration,
            "overlap": self.overlap,
            "dimension": self.dimension,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> EmbeddingSettings:
        """Read the fields :meth:`to_dict` wrote.

        Raises
        ------
        ParameterError
            If a field is missing or of the wrong type (the message names it).
        """
        model = data.get("model")
        if not isinstance(model, Mapping):
            raise ParameterError("embedding settings lack the base model ('model')")
        return cls(
            model=ModelReference.from_dict(model),
            sample_rate=int(_number(data, "sample_rate")),
            clip_duration=_number(data, "clip_duration"),
            overlap=_number(data, "overlap"),
            dimension=int(_number(data, "dimension")),
        )


def _read_only(array: NDArray[Any]) -> NDArray[Any]:
    view = np.asarray(array).view()
    view.flags.writeable = False
    return view


def _text(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ParameterError(f"field {key!r} must be text, got {value!r}")
    return value


def _number(data: Mapping[str, object], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ParameterError(f"field {key!r} must be a number, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True, eq=False)
class EmbeddingTable:
    """Embeddings of windows: ``files[i]``, ``begin[i]``-``end[i]`` s, ``vectors[i]``.

    ``vectors`` is float32 [shape=(n, dimension)]; ``settings`` says how they were made (None
    for a table from elsewhere).
    """

    files: tuple[str, ...]
    begin: NDArray[np.float64]
    end: NDArray[np.float64]
    vectors: NDArray[np.float32]
    settings: EmbeddingSettings | None = None

    def __post_init__(self) -> None:
        for name in ("begin", "end", "vectors"):
            object.__setattr__(self, name, _read_only(getattr(self, name)))
        n = len(self.files)
        if self.vectors.ndim != 2 or len(self.vectors) != n or len(self.begin) != n:
            raise ParameterError(
                f"embedding table: {n} files, {len(self.begin)} times and vectors of shape "
                f"{self.vectors.shape} do not fit together"
            )
        if len(self.end) != n:
            raise ParameterError(f"embedding table: {n} files but {len(self.end)} end times")

    @property
    def dimension(self) -> int:
        """Number of features per window."""
        return int(self.vectors.shape[1])


@dataclass(frozen=True, slots=True, eq=False)
class Head:
    """A trained head: embeddings [shape=(n, dimension)] in, per-class probabilities out.

    ``layers`` are ``(weights [shape=(inputs, outputs)], bias [shape=(outputs,)])`` pairs, a
    ReLU between them; ``mean`` and ``scale`` standardise the embedding first. ``overlap`` is
    the window overlap (s) of the embeddings it was trained on; ``metrics`` holds the held-out
    figures of :func:`class_metrics` as saved with it.
    """

    kind: HeadKind
    classes: tuple[str, ...]
    mean: NDArray[np.float32]
    scale: NDArray[np.float32]
    layers: tuple[tuple[NDArray[np.float32], NDArray[np.float32]], ...]
    settings: EmbeddingSettings
    metrics: tuple[ClassMetrics, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", _read_only(self.mean))
        object.__setattr__(self, "scale", _read_only(self.scale))
        object.__setattr__(
            self, "layers", tuple((_read_only(w), _read_only(b)) for w, b in self.layers)
        )
        if self.kind not in HEAD_KINDS:
            raise ParameterError(f"head kind must be one of {HEAD_KINDS}, got {self.kind!r}")
        if len(self.layers) != (1 if self.kind == "logistic" else 2):
            raise ParameterError(f"a {self.kind} head has the wrong number of layers")
        width = self.settings.dimension
        if self.mean.shape != (width,) or self.scale.shape != (width,):
            raise ParameterError(f"head standardisation does not have {width} features")
        for weights, bias in self.layers:
            if weights.ndim != 2 or weights.shape[0] != width or bias.shape != weights.shape[1:]:
                raise ParameterError(
                    f"head layer of shape {weights.shape} does not take {width} inputs"
                )
            width = weights.shape[1]
        if width != len(self.classes) or not self.classes:
            raise ParameterError(f"head has {width} outputs for {len(self.classes)} classes")

    @property
    def dimension(self) -> int:
        """Number of embedding features the head takes."""
        return self.settings.dimension

    def logits(self, embeddings: NDArray[np.float32]) -> NDArray[np.float32]:
        """Return raw outputs [shape=(n, n_classes)] of embeddings [shape=(n, dimension)].

        Raises
        ------
        ParameterError
            If the embeddings do not have the head's number of features.
        """
        x = np.asarray(embeddings, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dimension:
            raise ParameterError(
                f"the head takes embeddings of {self.dimension} features, got shape {x.shape}"
            )
        h = (x - self.mean) / self.scale
        for i, (weights, bias) in enumerate(self.layers):
            if i:
                h = np.maximum(h, 0)
            h = h @ weights + bias
        return np.asarray(h, dtype=np.float32)

    def scores(self, embeddings: NDArray[np.float32]) -> NDArray[np.float32]:
        """Return per-class probabilities [shape=(n, n_classes)] (a sigmoid per class)."""
        return sigmoid(self.logits(embeddings))


def sigmoid(z: NDArray[np.float32]) -> NDArray[np.float32]:
    """Return ``1 / (1 + exp(-z))`` without overflow, as float32."""
    z64 = np.asarray(z, dtype=np.float64)
    return np.asarray(np.exp(-np.logaddexp(0.0, -z64)), dtype=np.float32)


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    """Held-out figures of one class: positives and negatives, average precision, ROC AUC.

    ``average_precision`` is None without a positive, ``roc_auc`` None without a positive or
    a negative.
    """

    name: str
    positives: int
    negatives: int
    average_precision: float | None
    roc_auc: float | None

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-ready fields."""
        return {
            "name": self.name,
            "positives": self.positives,
            "negatives": self.negatives,
            "average_precision": self.average_precision,
            "roc_auc": self.roc_auc,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ClassMetrics:
        """Read the fields :meth:`to_dict` wrote."""
        ap, auc = data.get("average_precision"), data.get("roc_auc")
        return cls(
            name=_text(data, "name"),
            positives=int(_number(data, "positives")),
            negatives=int(_number(data, "negatives")),
            average_precision=None if ap is None else _number(data, "average_precision"),
            roc_auc=None if auc is None else _number(data, "roc_auc"),
        )


def average_precision(truth: NDArray[np.bool_], score: NDArray[np.floating]) -> float | None:
    """Average precision of ``score`` ranking the ``truth`` positives; None without positives.

    ``sum over thresholds of (recall_k - recall_{k-1}) * precision_k`` with tied scores taken
    as one threshold (scikit-learn's ``average_precision_score``).
    """
    y = np.asarray(truth, dtype=bool).reshape(-1)
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    positives = int(y.sum())
    if positives == 0:
        return None
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall_step = np.diff(np.r_[0, tp]) / positives
    return float(np.sum(recall_step * precision))


def roc_auc(truth: NDArray[np.bool_], score: NDArray[np.floating]) -> float | None:
    """Area under the ROC curve (ties count one half); None without positives or negatives."""
    from scipy.stats import rankdata

    y = np.asarray(truth, dtype=bool).reshape(-1)
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(s)
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def class_metrics(
    classes: Sequence[str], truth: NDArray[np.bool_], scores: NDArray[np.floating]
) -> tuple[ClassMetrics, ...]:
    """Per-class :class:`ClassMetrics` of scores [shape=(n, n_classes)] against truth."""
    y = np.asarray(truth, dtype=bool)
    return tuple(
        ClassMetrics(
            name=name,
            positives=int(y[:, c].sum()),
            negatives=int((~y[:, c]).sum()),
            average_precision=average_precision(y[:, c], scores[:, c]),
            roc_auc=roc_auc(y[:, c], scores[:, c]),
        )
        for c, name in enumerate(classes)
    )


def stratified_split(
    truth: NDArray[np.bool_], valid_fraction: float, *, seed: int = 0
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Split rows into training and validation indices, stratified by their rarest class.

    Each row belongs to the stratum of its rarest positive class (or the all-negative
    stratum); a stratum of ``n`` rows gives ``round(valid_fraction * n)`` of them to
    validation, at least one when ``n >= 2`` and never all of them, so a class with two or more
    positives is in both sets. ``valid_fraction = 0`` keeps every row for training.

    Raises
    ------
    ParameterError
        If ``valid_fraction`` is not in ``[0, 1)``.
    """
    if not 0 <= valid_fraction < 1:
        raise ParameterError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    y = np.asarray(truth, dtype=bool)
    n = len(y)
    if valid_fraction == 0:
        return np.arange(n), np.zeros(0, dtype=np.intp)
    counts = y.sum(axis=0)
    rarity = np.where(y, counts[None, :], np.iinfo(np.int64).max)
    stratum = np.where(y.any(axis=1), np.argmin(rarity, axis=1), -1)
    rng = np.random.default_rng(seed)
    valid: list[NDArray[np.intp]] = []
    for key in np.unique(stratum):
        members = rng.permutation(np.flatnonzero(stratum == key))
        k = round(valid_fraction * len(members))
        k = min(max(k, 1 if len(members) >= 2 else 0), len(members) - 1)
        valid.append(members[:k])
    chosen = np.sort(np.concatenate(valid)) if valid else np.zeros(0, dtype=np.intp)
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


@dataclass(frozen=True, slots=True)
class HeadTraining:
    """Settings of :func:`fit_head`: kind, hidden units (mlp), L2 penalty, seed, iterations."""

    kind: HeadKind = "logistic"
    hidden: int = 64
    l2: float = 1e-3
    seed: int = 0
    max_iter: int = 200

    def validate(self) -> None:
        """Refuse settings out of range.

        Raises
        ------
        ParameterError
            Naming the setting.
        """
        if self.kind not in HEAD_KINDS:
            raise ParameterError(f"head must be one of {', '.join(HEAD_KINDS)}, got {self.kind!r}")
        if self.hidden < 1:
            raise ParameterError(f"hidden units must be >= 1, got {self.hidden}")
        if not self.l2 >= 0 or not math.isfinite(self.l2):
            raise ParameterError(f"l2 must be a number >= 0, got {self.l2}")
        if self.max_iter < 1:
            raise ParameterError(f"max_iter must be >= 1, got {self.max_iter}")


#: The default training settings.
DEFAULT_TRAINING = HeadTraining()


def fit_head(
    vectors: NDArray[np.float32],
    truth: NDArray[np.bool_],
    *,
    classes: Sequence[str],
    settings: EmbeddingSettings,
    training: HeadTraining = DEFAULT_TRAINING,
) -> Head:
    """Fit a head on embeddings [shape=(n, dimension)] and 0/1 truth [shape=(n, n_classes)].

    Features are standardised with the training mean and standard deviation. The loss is the
    binary cross-entropy of every class, its positives weighted ``n / (2 * positives)`` and
    its negatives ``n / (2 * negatives)``, averaged over rows, plus ``l2 / 2`` times the
    squared weights (not biases). :func:`lbfgs` minimises it from zeros (logistic: a convex
    problem) or from seeded random weights (mlp).

    Raises
    ------
    ParameterError
        If shapes disagree, a value is not finite, or a class has no positive or no negative.
    """
    training.validate()
    x = np.asarray(vectors, dtype=np.float64)
    y = np.asarray(truth, dtype=bool)
    if x.ndim != 2 or y.shape != (len(x), len(classes)) or x.shape[1] != settings.dimension:
        raise ParameterError(
            f"embeddings {x.shape} and truth {y.shape} do not fit {len(classes)} classes of "
            f"{settings.dimension} features"
        )
    if not np.isfinite(x).all():
        raise ParameterError("embeddings hold NaN or infinite values")
    positives = y.sum(axis=0)
    degenerate = [name for name, p in zip(classes, positives, strict=True) if p == 0 or p == len(y)]
    if degenerate:
        raise ParameterError(
            "every class needs positive and negative training windows; not so for "
            + ", ".join(repr(name) for name in degenerate)
        )
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    scale = np.where(std > 1e-6, std, 1.0)
    xs = (x - mean) / scale
    n, d = xs.shape
    weight = np.where(y, n / (2.0 * positives), n / (2.0 * (n - positives))) / n
    target = y.astype(np.float64)
    shapes = _shapes(d, len(classes), training)
    start = _initial(shapes, training)
    theta = lbfgs(
        lambda t: _loss(t, xs, target, weight, shapes, training.l2),
        start,
        max_iter=training.max_iter,
    )
    layers = tuple((w.astype(np.float32), b.astype(np.float32)) for w, b in _unpack(theta, shapes))
    return Head(
        kind=training.kind,
        classes=tuple(classes),
        mean=mean.astype(np.float32),
        scale=scale.astype(np.float32),
        layers=layers,
        settings=settings,
    )


def _dot(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Inner product by a ufunc, not BLAS: BLAS level-1 threads thrash on busy machines."""
    return float(np.multiply(a, b).sum())


def lbfgs(
    fun: Callable[[NDArray[np.float64]], tuple[float, NDArray[np.float64]]],
    start: NDArray[np.float64],
    *,
    max_iter: int = 500,
    memory: int = 10,
    gtol: float = 1e-6,
    ftol: float = 1e-10,
) -> NDArray[np.float64]:
    """Minimise ``fun`` (value and gradient) by L-BFGS with a backtracking line search.

    Steps follow the two-loop recursion over the last ``memory`` updates (an update whose
    curvature ``s.y`` is not positive is skipped) and are halved until the Armijo condition
    holds. Stops after ``max_iter`` iterations, when the largest gradient component is at most
    ``gtol``, or when an iteration lowers the value by at most ``ftol`` relative to it.
    (SciPy's L-BFGS-B does the same but calls BLAS level-1 routines whose threads make it
    ~25x slower on a loaded two-core machine.)
    """
    x = np.array(start, dtype=np.float64)
    f, g = fun(x)
    history: list[tuple[NDArray[np.float64], NDArray[np.float64], float]] = []
    for _ in range(max_iter):
        if float(np.abs(g).max(initial=0.0)) <= gtol:
            break
        q = g.copy()
        alphas = []
        for s, y, rho in reversed(history):
            a = rho * _dot(s, q)
            q -= a * y
            alphas.append(a)
        if history:
            s, y, _ = history[-1]
            q *= _dot(s, y) / _dot(y, y)
        else:
            q /= max(1.0, float(np.abs(g).max()))
        for (s, y, rho), a in zip(history, reversed(alphas), strict=True):
            q += (a - rho * _dot(y, q)) * s
        slope = -_dot(g, q)
        if slope >= 0:  # not a descent direction: restart from the gradient
            history.clear()
            q = g / max(1.0, float(np.abs(g).max()))
            slope = -_dot(g, q)
        step = 1.0
        while True:
            x_new = x - step * q
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        s, y = x_new - x, g_new - g
        sy = _dot(s, y)
        if sy > 1e-12:
            history.append((s, y, 1.0 / sy))
            del history[:-memory]
        done = f - f_new <= ftol * max(abs(f), abs(f_new), 1.0)
        x, f, g = x_new, f_new, g_new
        if done:
            break
    return x


def _loss(
    theta: NDArray[np.float64],
    xs: NDArray[np.float64],
    target: NDArray[np.float64],
    weight: NDArray[np.float64],
    shapes: Sequence[tuple[int, int]],
    l2: float,
) -> tuple[float, NDArray[np.float64]]:
    """Weighted binary cross-entropy plus L2 of the weights, and its gradient in ``theta``."""
    params = _unpack(theta, shapes)
    acts = [xs]  # the input, then each layer's output before its ReLU
    for i, (w, b) in enumerate(params):
        h = acts[-1] if i == 0 else np.maximum(acts[-1], 0)
        acts.append(h @ w + b)
    z = acts[-1]
    value = float(np.sum(weight * (np.logaddexp(0.0, z) - target * z)))
    grad_z = weight * (np.exp(-np.logaddexp(0.0, -z)) - target)
    grads: list[NDArray[np.float64]] = []
    for i in range(len(params) - 1, -1, -1):
        w, _ = params[i]
        h = acts[i] if i == 0 else np.maximum(acts[i], 0)
        value += 0.5 * l2 * float(np.sum(w * w))
        grads = [(h.T @ grad_z + l2 * w).ravel(), grad_z.sum(axis=0), *grads]
        if i:
            grad_z = (grad_z @ w.T) * (acts[i] > 0)
    return value, np.concatenate(grads)


def _shapes(d: int, c: int, training: HeadTraining) -> list[tuple[int, int]]:
    return [(d, c)] if training.kind == "logistic" else [(d, training.hidden), (training.hidden, c)]


def _initial(shapes: Sequence[tuple[int, int]], training: HeadTraining) -> NDArray[np.float64]:
    if training.kind == "logistic":
        return np.zeros(sum(i * o + o for i, o in shapes))
    rng = np.random.default_rng(training.seed)
    parts = []
    for fan_in, fan_out in shapes:
        parts += [rng.normal(0.0, math.sqrt(2.0 / fan_in), fan_in * fan_out), np.zeros(fan_out)]
    return np.concatenate(parts)


def _unpack(
    theta: NDArray[np.float64], shapes: Sequence[tuple[int, int]]
) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]]:
    params = []
    at = 0
    for fan_in, fan_out in shapes:
        w = theta[at : at + fan_in * fan_out].reshape(fan_in, fan_out)
        at += fan_in * fan_out
        params.append((w, theta[at : at + fan_out]))
        at += fan_out
    return cast(list[tuple[NDArray[np.float64], NDArray[np.float64]]], params)
