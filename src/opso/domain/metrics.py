"""Classification metrics accumulated over batches: loss, accuracy, precision, recall, F1.

Pure numpy. Division by zero (a class never predicted, or never present) gives 0, never NaN
or a warning.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, TypedDict

import numpy as np
from numpy.typing import NDArray

from opso.domain.errors import ParameterError


class EpochMetrics(TypedDict):
    """What :meth:`Metrics.compute_epoch_metrics` returns."""

    loss: float
    accuracy: float
    precision: NDArray[np.float64]
    recall: NDArray[np.float64]
    f1: NDArray[np.float64]
    confusion_matrix: NDArray[np.int64]


def _ratio(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return ``num / den`` elementwise, 0 where ``den`` is 0."""
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def precision_recall_f1(
    true_positives: NDArray[Any], predicted: NDArray[Any], actual: NDArray[Any]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Return per-class precision, recall and F1 from counts, with 0 where undefined.

    Parameters
    ----------
    true_positives, predicted, actual
        Per-class counts [shape=(n_classes,)]: correct positives, predicted positives and
        actual positives.
    """
    tp = np.asarray(true_positives, dtype=np.float64)
    precision = _ratio(tp, np.asarray(predicted, dtype=np.float64))
    recall = _ratio(tp, np.asarray(actual, dtype=np.float64))
    f1 = _ratio(2 * precision * recall, precision + recall)
    return precision, recall, f1


def _as_1d(values: Any, name: str) -> NDArray[Any]:
    if hasattr(values, "detach"):  # a torch tensor: numpy() without importing torch here
        values = values.detach().cpu().numpy()
    arr = np.asarray(values).reshape(-1)
    if arr.dtype == object:
        raise ParameterError(f"{name} must be an array of class labels, got dtype object")
    return arr


class Metrics:
    """Accumulate a confusion matrix and the loss over an epoch of single-target batches.

    Parameters
    ----------
    classes
        The class labels, in the order of the confusion matrix rows and columns (e.g.
        ``[0, 1, 2]``, the model's output indices).
    dataset_len
        Number of samples in the epoch; the epoch loss is the summed sample loss over it.

    Raises
    ------
    ValueError
        If ``classes`` is empty or has duplicates, or ``dataset_len`` is not positive.

    Examples
    --------
    >>> m = Metrics([0, 1], dataset_len=4)
    >>> m.accumulate_batch_metrics(0.5, [0, 1, 1, 0], [0, 1, 0, 0])
    >>> float(m.compute_epoch_metrics()["accuracy"])
    0.75
    """

    def __init__(self, classes: Sequence[Hashable], dataset_len: int) -> None:
        self.classes = list(classes)
        if not self.classes:
            raise ParameterError("classes must not be empty")
        if len(set(self.classes)) != len(self.classes):
            raise ParameterError(f"classes must be distinct, got {self.classes!r}")
        if dataset_len <= 0:
            raise ParameterError(f"dataset_len must be a positive count, got {dataset_len!r}")
        self.dataset_len = int(dataset_len)
        self.loss = 0.0
        self.n_samples = 0
        self._index = {c: i for i, c in enumerate(self.classes)}
        n = len(self.classes)
        self.confusion_matrix: NDArray[np.int64] = np.zeros((n, n), dtype=np.int64)

    def _indices(self, values: Any, name: str) -> NDArray[np.intp]:
        arr = _as_1d(values, name)
        try:
            return np.fromiter((self._index[v.item()] for v in arr), dtype=np.intp, count=len(arr))
        except KeyError as e:
            raise ParameterError(
                f"{name} holds {e.args[0]!r}, which is not one of the classes {self.classes!r}"
            ) from None

    def accumulate_batch_metrics(self, loss: float, targets: Any, predictions: Any) -> None:
        """Add one batch: its mean loss and its targets against its predicted labels.

        Parameters
        ----------
        loss
            Mean loss over the batch (pass 0 when no loss is known). It is weighted by the
            batch size, so the epoch loss is a per-sample mean whatever the batch size.
        targets, predictions
            True and predicted class labels [shape=(batch,)] (arrays, lists or tensors).

        Raises
        ------
        ValueError
            If the two have different lengths or hold a label outside ``classes``.
        """
        t = self._indices(targets, "targets")
        p = self._indices(predictions, "predictions")
        if t.shape != p.shape:
            raise ParameterError(f"{len(t)} targets but {len(p)} predictions")
        np.add.at(self.confusion_matrix, (t, p), 1)
        self.loss += float(loss) * len(t)
        self.n_samples += len(t)

    def compute_epoch_metrics(self) -> EpochMetrics:
        """Return loss, accuracy, per-class precision/recall/F1 and the confusion matrix.

        The confusion matrix has one row per target class and one column per predicted class.
        A class with no predictions (or no targets) gets precision (or recall) 0.
        """
        cm = self.confusion_matrix
        tp = np.diag(cm)
        precision, recall, f1 = precision_recall_f1(tp, cm.sum(axis=0), cm.sum(axis=1))
        total = cm.sum()
        return EpochMetrics(
            loss=self.loss / self.dataset_len,
            accuracy=float(tp.sum() / total) if total else 0.0,
            precision=precision,
            recall=recall,
            f1=f1,
            confusion_matrix=cm.copy(),
        )


class MultiTargetEpochMetrics(TypedDict):
    """What :meth:`MultiTargetMetrics.compute_epoch_metrics` returns."""

    loss: float
    accuracy: float
    precision: NDArray[np.float64]
    recall: NDArray[np.float64]
    f1: NDArray[np.float64]
    confusion_matrix: NDArray[np.int64]


class MultiTargetMetrics:
    """Accumulate per-class counts over an epoch of multi-target (multi-label) batches.

    Parameters
    ----------
    classes
        The class names, one per column of the targets and predictions.
    dataset_len
        Number of samples in the epoch.

    Notes
    -----
    ``confusion_matrix`` is per class ``[[TN, FP], [FN, TP]]`` [shape=(n_classes, 2, 2)];
    ``accuracy`` is the fraction of (sample, class) decisions that are right.
    """

    def __init__(self, classes: Sequence[Hashable], dataset_len: int) -> None:
        self.classes = list(classes)
        if not self.classes:
            raise ParameterError("classes must not be empty")
        if dataset_len <= 0:
            raise ParameterError(f"dataset_len must be a positive count, got {dataset_len!r}")
        self.dataset_len = int(dataset_len)
        self.loss = 0.0
        self.confusion_matrix: NDArray[np.int64] = np.zeros(
            (len(self.classes), 2, 2), dtype=np.int64
        )

    def accumulate_batch_metrics(self, loss: float, targets: Any, predictions: Any) -> None:
        """Add one batch of 0/1 targets and 0/1 predictions [shape=(batch, n_classes)].

        Raises
        ------
        ValueError
            If the shapes differ or do not have one column per class.
        """
        t = _to_binary(targets, "targets")
        p = _to_binary(predictions, "predictions")
        n = len(self.classes)
        if t.shape != p.shape or t.ndim != 2 or t.shape[1] != n:
            raise ParameterError(
                f"targets {t.shape} and predictions {p.shape} must both be (batch, {n})"
            )
        for ti in (0, 1):
            for pi in (0, 1):
                self.confusion_matrix[:, ti, pi] += ((t == ti) & (p == pi)).sum(axis=0)
        self.loss += float(loss) * t.shape[0]

    def compute_epoch_metrics(self) -> MultiTargetEpochMetrics:
        """Return loss, accuracy and per-class precision/recall/F1 and confusion matrices."""
        cm = self.confusion_matrix
        tp = cm[:, 1, 1]
        precision, recall, f1 = precision_recall_f1(tp, cm[:, :, 1].sum(axis=1), cm[:, 1].sum(1))
        total = cm.sum()
        right = cm[:, 0, 0].sum() + tp.sum()
        return MultiTargetEpochMetrics(
            loss=self.loss / self.dataset_len,
            accuracy=float(right / total) if total else 0.0,
            precision=precision,
            recall=recall,
            f1=f1,
            confusion_matrix=cm.copy(),
        )


def _to_binary(values: Any, name: str) -> NDArray[np.int64]:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim == 1:
        arr = arr[None, :]
    if not np.isin(arr, (0, 1)).all():
        raise ParameterError(f"{name} must hold only 0 and 1")
    return arr.astype(np.int64)
