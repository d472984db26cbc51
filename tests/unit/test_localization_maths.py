import math

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import opso
from opso import LocalizationError, calc_speed_of_sound, localize, lorentz_ip, travel_time
from opso.domain.localization import geometry_problem

SQUARE = [[0, 0], [0, 20], [20, 20], [20, 0]]


def test_spec_names_are_exported_from_opso_and_the_spec_module() -> None:
    import opso.localization as spec

    for name in ("calc_speed_of_sound", "travel_time", "lorentz_ip", "localize", "ReceiverArray"):
        assert getattr(opso, name) is getattr(spec, name)


def test_speed_of_sound_known_values() -> None:
    assert calc_speed_of_sound(20) == pytest.approx(343.2146, abs=1e-4)
    assert calc_speed_of_sound(0) == pytest.approx(331.3)
    assert calc_speed_of_sound(-10) < calc_speed_of_sound(0) < calc_speed_of_sound(30)


@pytest.mark.parametrize("bad", [-273.15, -300.0, math.nan, math.inf])
def test_speed_of_sound_rejects_impossible_temperatures(bad: float) -> None:
    with pytest.raises(ValueError, match="temperature"):
        calc_speed_of_sound(bad)


def test_travel_time_is_distance_over_speed() -> None:
    assert travel_time([0, 0], [3, 4], 343.0) == pytest.approx(5 / 343.0)
    assert travel_time([1, 2, 3], [1, 2, 3], 343.0) == 0.0
    with pytest.raises(ValueError, match="one length"):
        travel_time([0, 0], [0, 0, 0], 343.0)
    with pytest.raises(ValueError, match="speed_of_sound"):
        travel_time([0, 0], [1, 1], 0.0)


def test_lorentz_inner_product() -> None:
    assert lorentz_ip([1, 1, 2], [1, 1, 2]) == -2
    assert lorentz_ip([1, 1, 2]) == -2
    assert lorentz_ip([1, 2, 3, 4], [2, 3, 4, 5]) == 2 + 6 + 12 - 20


@pytest.mark.parametrize(
    ("u", "v"), [([1, 2], None), ([1, 2, 3, 4, 5], None), ([1, 2, 3], [1, 2, 3, 4])]
)
def test_lorentz_inner_product_raises_for_other_lengths(u: list[int], v: list[int] | None) -> None:
    with pytest.raises(ValueError, match="length 3 or 4"):
        lorentz_ip(u, v)


@pytest.mark.parametrize("alg", ["gps", "lstsq"])
@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("pseudo", [True, False])
def test_square_with_equal_times_is_its_centre(alg: str, center: bool, pseudo: bool) -> None:
    out = localize(SQUARE, [1, 1, 1, 1], invert_alg=alg, center=center, pseudo=pseudo)  # type: ignore[arg-type]
    assert out[:2] == pytest.approx([10, 10], abs=0.01)
    # b = c * t_emit: the sound left sqrt(200) m before it arrived at t = 1 s.
    assert out[2] == pytest.approx(calc_speed_of_sound(20) - math.sqrt(200), abs=1e-6)


def test_equal_zero_times_are_solved_when_centred() -> None:
    assert localize(SQUARE, [0, 0, 0, 0])[:2] == pytest.approx([10, 10], abs=1e-6)


@pytest.mark.parametrize("alg", ["gps", "lstsq"])
def test_three_d_source_is_recovered_exactly(alg: str) -> None:
    rx = np.array([[0, 0, 1], [40, 0, 8], [40, 40, 2], [0, 40, 12], [20, 5, 20], [8, 30, 4.0]])
    src = np.array([12.0, 27.0, 6.0])
    c = calc_speed_of_sound(25)
    times = [travel_time(src, r, c) + 100.0 for r in rx]
    out = localize(rx, times, temperature=25, invert_alg=alg)  # type: ignore[arg-type]
    assert out[:3] == pytest.approx(src, abs=1e-6)
    assert out[3] == pytest.approx(100.0 * c, rel=1e-9)


def test_result_does_not_depend_on_the_time_origin() -> None:
    rng = np.random.default_rng(4)
    rx = rng.uniform(0, 50, (6, 2))
    times = np.linalg.norm(rx - [20, 30], axis=1) / 343 + rng.normal(0, 2e-4, 6)
    a = localize(rx, times)
    b = localize(rx, times + 1234.5)
    assert a[:2] == pytest.approx(b[:2], abs=1e-6)


def test_least_squares_beats_the_closed_form_on_noisy_times() -> None:
    rng = np.random.default_rng(0)
    rx = np.column_stack([rng.uniform(0, 50, (6, 2)), rng.uniform(1, 15, 6)])
    c = calc_speed_of_sound(20)
    errors: dict[str, list[float]] = {"gps": [], "lstsq": []}
    for _ in range(60):
        src = np.array([*rng.uniform(0, 50, 2), rng.uniform(0, 20)])
        times = np.linalg.norm(rx - src, axis=1) / c + rng.normal(0, 1e-4, 6)
        for alg in errors:
            out = localize(rx, times, invert_alg=alg)  # type: ignore[arg-type]
            errors[alg].append(float(np.linalg.norm(out[:3] - src)))
    assert np.median(errors["lstsq"]) < np.median(errors["gps"])
    assert np.median(errors["lstsq"]) < 0.3


@pytest.mark.parametrize(
    ("positions", "times", "match"),
    [
        ([[0, 0, 0], [10, 0, 0], [0, 10, 5]], [0, 0, 0], "need at least 4"),
        ([[0, 0], [10, 0]], [0, 0], "need at least 3"),
        ([[0, 0], [10, 0], [20, 0], [30, 0]], [0, 0.01, 0.02, 0.03], "collinear"),
        ([[0, 0, 0], [10, 0, 0], [0, 10, 0], [10, 10, 0], [5, 3, 0]], [0] * 5, "coplanar"),
        ([[0, 0], [0, 20], [20, 20], [20, 0]], [0, np.nan, 0, 0], "not finite"),
        ([[0, 0], [0, 20], [20, 20], [20, np.nan]], [0, 0, 0, 0], "not finite"),
        ([[0, 0], [0, 20], [20, 20], [20, 0]], [0, 0, 0], "4 receiver positions but 3"),
        ([[0], [1], [2], [3]], [0, 0, 0, 0], r"\[x, y\] or \[x, y, z\]"),
    ],
)
def test_degenerate_input_raises_a_clear_error(
    positions: list[list[float]], times: list[float], match: str
) -> None:
    with pytest.raises(LocalizationError, match=match):
        localize(positions, times)


def test_singular_system_without_centering_raises() -> None:
    with pytest.raises(LocalizationError, match="singular"):
        localize(SQUARE, [0, 0, 0, 0], center=False)


def test_unknown_algorithm_is_rejected() -> None:
    with pytest.raises(ValueError, match="invert_alg"):
        localize(SQUARE, [1, 1, 1, 1], invert_alg="magic")  # type: ignore[arg-type]


def test_geometry_problem_accepts_a_good_array() -> None:
    assert geometry_problem([[0, 0, 0], [10, 0, 1], [0, 10, 2], [10, 10, 9]]) == ""
    assert "same place" in geometry_problem([[1, 1], [1, 1], [1, 1]])


_coord = st.floats(-60, 60, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(
    dim=st.sampled_from([2, 3]),
    n_extra=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    source=st.tuples(_coord, _coord, st.floats(0, 30)),
    alg=st.sampled_from(["gps", "lstsq"]),
    emit=st.floats(-10, 10),
)
def test_round_trip_place_a_source_and_recover_it(
    dim: int,
    n_extra: int,
    seed: int,
    source: tuple[float, float, float],
    alg: str,
    emit: float,
) -> None:
    rng = np.random.default_rng(seed)
    rx = rng.uniform(-50, 50, (dim + 1 + n_extra, dim))
    if dim == 3:
        rx[:, 2] = rng.uniform(0, 25, len(rx))
    spread = np.linalg.svd(rx - rx.mean(axis=0), compute_uv=False)
    assume(spread[-1] > 5.0)  # a well-spread array (degenerate ones are tested above)
    src = np.array(source[:dim])
    c = calc_speed_of_sound(20)
    times = [emit + travel_time(src, r, c) for r in rx]
    out = localize(rx, times, invert_alg=alg)  # type: ignore[arg-type]
    assert np.linalg.norm(out[:dim] - src) < 1e-3
    assert out[dim] == pytest.approx(emit * c, abs=1e-3)


def _gillette_opensoundscape(rx: np.ndarray, times: np.ndarray, c: float) -> np.ndarray:
    """OpenSoundscape 0.13's ``gillette_localize`` as published (``d_m`` where the maths has
    ``d_m**2``), for contrast."""
    ref = int(np.argmin(np.abs(times)))
    order = np.roll(np.arange(len(rx)), -ref)
    r, t = rx[order], times[order]
    a = np.column_stack([r[0] - r[1:], t[1:] * c])
    w = 0.5 * (t[1:] * c + np.sum(r[0] ** 2) - np.sum(r[1:] ** 2, axis=1))
    return np.asarray(np.linalg.lstsq(a, w, rcond=None)[0][: rx.shape[1]], dtype=np.float64)


@pytest.mark.parametrize("offset", [0.0, 5e5])  # local metres and UTM-sized coordinates
def test_gillette_recovers_exact_sources(offset: float) -> None:
    c = calc_speed_of_sound(20)
    rx = np.array([[0, 50], [50, 0], [20, 30], [30, 20], [-10, -15.0]]) + offset
    src = np.array([10.0, 15.0]) + offset
    times = np.linalg.norm(rx - src, axis=1) / c
    tdoas = times - times[0]  # delays relative to the first receiver, as OpenSoundscape takes
    out = localize(rx, tdoas, invert_alg="gillette")
    assert out[:2] == pytest.approx(src, abs=1e-6)
    # b = c * t_emit: the sound left |x - s_0| before it reached receiver 0 at t = 0
    assert out[2] == pytest.approx(-np.linalg.norm(rx[0] - src), abs=1e-6)
    if offset == 0:  # OpenSoundscape's published code lands about a metre off
        assert np.linalg.norm(_gillette_opensoundscape(rx, tdoas, c) - src) > 0.5
    rx3 = np.array([[0, 0, 1], [40, 0, 8], [40, 40, 2], [0, 40, 12], [20, 5, 20], [8, 30, 4.0]])
    src3 = np.array([12.0, 27.0, 6.0])
    times3 = np.linalg.norm(rx3 - src3, axis=1) / c + 3.0  # any time origin
    assert localize(rx3, times3, invert_alg="gillette")[:3] == pytest.approx(src3, abs=1e-6)


def test_gillette_needs_two_receivers_more_than_dimensions() -> None:
    with pytest.raises(LocalizationError, match=r"3 receivers .* \(need at least 4\)"):
        localize(SQUARE[:3], [0, 0.01, 0.02], invert_alg="gillette")
    with pytest.raises(LocalizationError, match=r"4 receivers .* \(need at least 5\)"):
        localize([[0, 0, 0], [10, 0, 1], [0, 10, 2], [10, 10, 9]], [0] * 4, invert_alg="gillette")
    # equal times: only the range to the reference is unknown; the position is the centre
    assert localize(SQUARE, [0.0] * 4, invert_alg="gillette")[:2] == pytest.approx([10, 10])


@pytest.mark.parametrize("alg", ["gps", "lstsq", "gillette"])
def test_localize_takes_many_events_at_once(alg: str) -> None:
    rng = np.random.default_rng(2)
    rx = np.column_stack([rng.uniform(0, 50, (6, 2)), rng.uniform(1, 15, 6)])
    c = calc_speed_of_sound(20)
    src = np.column_stack([rng.uniform(0, 50, (40, 2)), rng.uniform(0, 20, 40)])
    times = np.linalg.norm(src[:, None] - rx, axis=-1) / c + rng.normal(0, 1e-4, (40, 6))
    many = localize(rx, times, invert_alg=alg)  # type: ignore[arg-type]
    assert many.shape == (40, 4)
    one_by_one = np.array([localize(rx, t, invert_alg=alg) for t in times])  # type: ignore[arg-type]
    np.testing.assert_allclose(many, one_by_one, atol=1e-6)  # lstsq stops within ~1e-7 m
    assert np.median(np.linalg.norm(many[:, :3] - src, axis=1)) < 0.3


def test_localize_many_events_names_the_first_that_fails() -> None:
    times = np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    with pytest.raises(LocalizationError, match=r"1 of 2 events .* event 1: the closed-form"):
        localize(SQUARE, times, center=False)
    with pytest.raises(LocalizationError, match="arrival times of 1 event"):
        localize(SQUARE, np.array([[0, 0, 0, 0], [0, np.nan, 0, 0]]))
    assert localize(SQUARE, np.zeros((0, 4))).shape == (0, 3)


def test_speed_of_sound_overrides_temperature() -> None:
    rx = np.array([[0, 0], [0, 20], [20, 20], [20, 0], [7, 3.0]])
    src = np.array([5.0, 12.0])
    times = np.linalg.norm(rx - src, axis=1) / 330.0  # sound at 330 m/s, whatever the air
    for alg in ("gps", "lstsq", "gillette"):
        out = localize(rx, times, temperature=35, invert_alg=alg, speed_of_sound=330.0)
        assert out[:2] == pytest.approx(src, abs=1e-6)
    assert np.linalg.norm(localize(rx, times)[:2] - src) > 0.05  # 343 m/s at 20 °C is wrong
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="speed_of_sound must be a finite number > 0"):
            localize(rx, times, speed_of_sound=bad)
