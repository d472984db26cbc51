import numpy as np

from opso.domain.gradcam import activation_region_limits, activation_region_to_box, in_box


def test_limits_and_box_on_a_non_square_array() -> None:
    gcam = np.zeros((4, 10))
    gcam[1, 7] = 0.9
    gcam[2, 8] = 0.5
    assert activation_region_limits(gcam) == [[1, 2], [7, 8]]
    box = activation_region_to_box(gcam)
    assert box.shape == (4, 10)
    expected = np.zeros((4, 10), dtype=int)
    expected[1:3, 7:9] = 1
    np.testing.assert_array_equal(box, expected)


def test_tall_array_keeps_rows_as_rows() -> None:
    gcam = np.zeros((12, 3))
    gcam[9:11, 0] = 1.0
    box = activation_region_to_box(gcam, threshold=0.5)
    assert box.shape == (12, 3)
    assert box[9:11, 0].all() and box.sum() == 2


def test_nothing_activated() -> None:
    gcam = np.full((3, 5), 0.1)
    assert activation_region_limits(gcam) is None
    assert activation_region_to_box(gcam).sum() == 0


def test_in_box_is_inclusive() -> None:
    lims = [[1, 2], [7, 8]]
    assert in_box(1, 7, lims) and in_box(2, 8, lims)
    assert not in_box(3, 7, lims) and not in_box(1, 9, lims)
