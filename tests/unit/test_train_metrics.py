import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from opso.domain.metrics import Metrics, MultiTargetMetrics, precision_recall_f1


def _from_confusion(cm: list[list[int]]) -> Metrics:
    m = Metrics([0, 1, 2], dataset_len=int(np.sum(cm)))
    targets, predictions = [], []
    for t, row in enumerate(cm):
        for p, count in enumerate(row):
            targets += [t] * count
            predictions += [p] * count
    m.accumulate_batch_metrics(0.0, targets, predictions)
    return m


def test_known_confusion_matrix_values() -> None:
    out = _from_confusion([[7, 8, 9], [1, 2, 3], [3, 2, 1]]).compute_epoch_metrics()
    np.testing.assert_array_equal(out["confusion_matrix"], [[7, 8, 9], [1, 2, 3], [3, 2, 1]])
    np.testing.assert_allclose(out["precision"], [0.636, 0.167, 0.077], atol=5e-4)
    np.testing.assert_allclose(out["recall"], [0.292, 0.333, 0.167], atol=5e-4)
    np.testing.assert_allclose(out["f1"], [0.4, 0.222, 0.105], atol=5e-4)
    assert out["accuracy"] == pytest.approx(10 / 36)


def test_never_predicted_class_gives_zero_without_warning() -> None:
    m = Metrics(["a", "b", "c"], dataset_len=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.accumulate_batch_metrics(1.0, ["a", "b", "a", "b"], ["a", "a", "a", "b"])
        out = m.compute_epoch_metrics()
    assert out["precision"][2] == 0.0 and out["recall"][2] == 0.0 and out["f1"][2] == 0.0
    assert not np.isnan(out["f1"]).any()


def test_loss_is_a_per_sample_mean_whatever_the_batch_size() -> None:
    m = Metrics([0, 1], dataset_len=6)
    m.accumulate_batch_metrics(1.0, [0, 1, 0, 1], [0, 1, 0, 1])  # 4 samples, mean 1.0
    m.accumulate_batch_metrics(4.0, [0, 1], [1, 1])  # 2 samples, mean 4.0
    assert m.compute_epoch_metrics()["loss"] == pytest.approx((4 * 1.0 + 2 * 4.0) / 6)


def test_label_outside_classes_is_an_error() -> None:
    m = Metrics([0, 1], dataset_len=2)
    with pytest.raises(ValueError, match="not one of the classes"):
        m.accumulate_batch_metrics(0.0, [0, 5], [0, 1])
    with pytest.raises(ValueError, match="distinct"):
        Metrics([0, 0], dataset_len=1)


def test_multi_target_counts() -> None:
    m = MultiTargetMetrics(["x", "y"], dataset_len=3)
    m.accumulate_batch_metrics(0.5, [[1, 0], [1, 1], [0, 0]], [[1, 0], [0, 1], [0, 1]])
    out = m.compute_epoch_metrics()
    np.testing.assert_allclose(out["precision"], [1.0, 0.5])
    np.testing.assert_allclose(out["recall"], [0.5, 1.0])
    assert out["accuracy"] == pytest.approx(4 / 6)
    np.testing.assert_array_equal(out["confusion_matrix"][0], [[1, 0], [1, 1]])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=60))
def test_metrics_stay_in_unit_range(pairs: list[tuple[int, int]]) -> None:
    m = Metrics([0, 1, 2, 3], dataset_len=len(pairs))
    m.accumulate_batch_metrics(0.0, [t for t, _ in pairs], [p for _, p in pairs])
    out = m.compute_epoch_metrics()
    for key in ("precision", "recall", "f1"):
        assert ((out[key] >= 0) & (out[key] <= 1)).all()
    assert out["confusion_matrix"].sum() == len(pairs)
    agree = sum(t == p for t, p in pairs) / len(pairs)
    assert out["accuracy"] == pytest.approx(agree)


def test_precision_recall_f1_zero_denominators() -> None:
    p, r, f = precision_recall_f1(np.array([0, 2]), np.array([0, 4]), np.array([0, 2]))
    np.testing.assert_allclose(p, [0, 0.5])
    np.testing.assert_allclose(r, [0, 1.0])
    np.testing.assert_allclose(f, [0, 2 / 3])
