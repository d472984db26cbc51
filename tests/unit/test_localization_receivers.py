import math

import numpy as np
import pytest
from scipy import optimize

from opso import LocalizationError, ReceiverArray, calc_speed_of_sound, localize
from opso.domain.receivers import error_ellipses

RX3 = np.array([[0, 0, 1], [50, 0, 6], [50, 50, 2], [0, 50, 12], [25, 10, 15], [10, 35, 4.0]])


def _noisy(
    array: ReceiverArray, n: int, jitter: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    src = np.column_stack([rng.uniform(0, 50, (n, 2)), rng.uniform(0, 20, n)])
    times = array.arrival_times(src, emission_times=rng.uniform(-5, 5, n))
    return src, times + rng.normal(0, jitter, times.shape)


def test_array_validates_its_input() -> None:
    with pytest.raises(LocalizationError, match="not finite"):
        ReceiverArray(np.array([[0, 0], [1, np.nan]]))
    with pytest.raises(LocalizationError, match="unique"):
        ReceiverArray(np.array([[0.0, 0.0], [1.0, 1.0]]), ("a", "a"))
    with pytest.raises(LocalizationError, match="2 names for 3"):
        ReceiverArray(np.eye(3), ("a", "b"))
    with pytest.raises(LocalizationError, match=r"\[x, y\]"):
        ReceiverArray(np.zeros((3, 4)))


def test_array_is_immutable_and_names_default() -> None:
    arr = ReceiverArray(RX3)
    assert arr.names == ("r0", "r1", "r2", "r3", "r4", "r5")
    assert arr.dim == 3 and len(arr) == 6
    with pytest.raises(ValueError, match="read-only"):
        arr.positions[0, 0] = 5.0
    assert arr.index("r2") == 2
    with pytest.raises(KeyError):
        arr.index("nope")


def test_distances_and_max_delays() -> None:
    arr = ReceiverArray(np.array([[0.0, 0.0], [3.0, 4.0]]))
    assert arr.distances()[0, 1] == pytest.approx(5.0)
    assert arr.max_delays(temperature=20)[1, 0] == pytest.approx(5.0 / 343.2146, rel=1e-5)


def test_vectorised_gps_matches_the_per_event_function() -> None:
    arr = ReceiverArray(RX3)
    _, times = _noisy(arr, 200, 1e-4)
    batch = arr.localize(times)
    loop = np.array([localize(RX3, t)[:3] for t in times])
    np.testing.assert_allclose(batch.positions, loop, atol=1e-6)


def test_vectorised_lstsq_matches_scipy_per_event() -> None:
    arr = ReceiverArray(RX3)
    _, times = _noisy(arr, 60, 1e-4, seed=3)
    batch = arr.localize(times, algorithm="lstsq")
    c = calc_speed_of_sound(20)

    def residuals(u: np.ndarray, rho: np.ndarray) -> np.ndarray:
        return np.asarray(np.linalg.norm(u[:3] - RX3, axis=1) - rho + u[3])

    for k, t in enumerate(times):
        start = np.append(batch.positions[k] + 2.0, np.mean(c * t))  # from 3.5 m away
        fit = optimize.least_squares(residuals, start, args=(c * t,), xtol=1e-12, ftol=1e-12)
        np.testing.assert_allclose(batch.positions[k], fit.x[:3], atol=1e-4)
    loop = np.array([localize(RX3, t, invert_alg="lstsq")[:3] for t in times])
    np.testing.assert_allclose(batch.positions, loop, atol=1e-6)


def _sound_finder(positions: np.ndarray, times: np.ndarray, c: float) -> np.ndarray:
    """Sound Finder by the book, one event at a time: pseudo-inverse and the better root.

    Centred as opso centres (decision 0031): receivers about their centroid, pseudoranges moved
    so that the smallest equals the array's radius.
    """
    pos = positions - positions.mean(axis=0)
    radius = math.sqrt(np.mean(np.sum(pos**2, axis=1)))
    out = []
    for t in times:
        rho = c * (t - t.min()) + radius
        big_b = np.column_stack([pos, -rho])
        a = 0.5 * (np.sum(pos**2, axis=1) - rho**2)
        pinv = np.linalg.pinv(big_b)
        ba, be = pinv @ a, pinv @ np.ones(len(rho))

        def lor(u: np.ndarray, v: np.ndarray) -> float:
            return float(u[:-1] @ v[:-1] - u[-1] * v[-1])

        qa, qb, qc = lor(be, be), 2 * (lor(ba, be) - 1), lor(ba, ba)
        roots = [
            (-qb + sign * math.sqrt(max(qb**2 - 4 * qa * qc, 0))) / (2 * qa) for sign in (1, -1)
        ]
        cands = [ba + lam * be for lam in roots]
        cost = [np.sum((np.linalg.norm(u[:-1] - pos, axis=1) - rho + u[-1]) ** 2) for u in cands]
        out.append(cands[int(np.argmin(cost))][:-1] + positions.mean(axis=0))
    return np.array(out)


def test_closed_form_matches_sound_finder_by_the_book() -> None:
    arr = ReceiverArray(RX3)
    _, times = _noisy(arr, 300, 1e-4, seed=9)
    np.testing.assert_allclose(
        arr.localize(times).positions, _sound_finder(RX3, times, calc_speed_of_sound(20)), atol=1e-6
    )


def test_covariances_are_the_inverse_of_the_normal_matrix() -> None:
    arr = ReceiverArray(RX3)
    _, times = _noisy(arr, 200, 1e-4, seed=4)
    loc = arr.localize(times, algorithm="lstsq")
    c = calc_speed_of_sound(20)
    for k in range(0, 200, 17):
        diff = loc.positions[k] - RX3
        jac = np.column_stack([diff / np.linalg.norm(diff, axis=1, keepdims=True), np.ones(6)])
        rss = float(np.sum(loc.residuals[k] ** 2))
        sigma2 = max(rss / (6 - 4), (c * 1e-4) ** 2)
        expected = sigma2 * np.linalg.inv(jac.T @ jac)[:3, :3]
        np.testing.assert_allclose(loc.covariances[k], expected, rtol=1e-6, atol=1e-12)


def test_gillette_with_missing_receivers_and_too_few() -> None:
    arr = ReceiverArray(RX3)
    src, times = _noisy(arr, 5, 0.0, seed=2)
    times[0, 5] = np.nan  # 5 receivers: enough for 3-D (d + 2)
    times[1, [4, 5]] = np.nan  # 4: too few for the linear solver
    loc = arr.localize(times, algorithm="gillette")
    assert list(loc.localized) == [True, False, True, True, True]
    assert loc.reasons[1] == (
        "4 receivers cannot fix a position in 3-D with the gillette solver (need at least 5)"
    )
    np.testing.assert_allclose(loc.positions[loc.localized], src[loc.localized], atol=1e-6)
    np.testing.assert_allclose(loc.residual_rms[loc.localized], 0.0, atol=1e-6)
    assert np.all(loc.uncertainty[loc.localized] > 0)
    with pytest.raises(ValueError, match="'gps', 'lstsq' or 'gillette'"):
        arr.localize(times, algorithm="sound-finder")  # type: ignore[arg-type]


@pytest.mark.parametrize("alg", ["gps", "lstsq", "gillette"])
def test_speed_of_sound_can_be_given_directly(alg: str) -> None:
    arr = ReceiverArray(RX3)
    src = np.array([[20.0, 30.0, 4.0], [5.0, 45.0, 10.0]])
    times = arr.arrival_times(src, speed_of_sound=330.0)
    loc = arr.localize(times, speed_of_sound=330.0, temperature=35, algorithm=alg)  # type: ignore[arg-type]
    np.testing.assert_allclose(loc.positions, src, atol=1e-6)
    assert arr.max_delays(speed_of_sound=330.0)[0, 1] == pytest.approx(
        np.linalg.norm(RX3[0] - RX3[1]) / 330.0
    )
    assert np.abs(arr.residuals(src, times, speed_of_sound=330.0)).max() < 1e-9
    with pytest.raises(ValueError, match="speed_of_sound"):
        arr.localize(times, speed_of_sound=-1.0)


def test_exact_times_give_exact_positions_and_zero_residuals() -> None:
    arr = ReceiverArray(RX3)
    src, times = _noisy(arr, 50, 0.0)
    for alg in ("gps", "lstsq"):
        loc = arr.localize(times, algorithm=alg)
        np.testing.assert_allclose(loc.positions, src, atol=1e-6)
        assert np.all(loc.residual_rms < 1e-6)
        assert loc.localized.all()
        assert np.all(loc.n_receivers == 6)


def test_emission_times_are_recovered() -> None:
    arr = ReceiverArray(RX3)
    src = np.array([[10.0, 20.0, 5.0]])
    times = arr.arrival_times(src, emission_times=[3.25])
    assert arr.localize(times).emission_times[0] == pytest.approx(3.25, abs=1e-9)


def test_uncertainty_is_calibrated_against_the_true_error() -> None:
    arr = ReceiverArray(RX3)
    src, times = _noisy(arr, 3000, 1e-4, seed=7)
    loc = arr.localize(times, algorithm="lstsq", timing_sigma=1e-4)
    sd = np.sqrt(np.einsum("ekk->ek", loc.covariances))
    z = (loc.positions - src) / sd
    # Standardised errors should have unit spread per axis (a loose, robust check).
    spread = 1.4826 * np.median(np.abs(z), axis=0)
    assert np.all((spread > 0.8) & (spread < 1.25))
    # And most true positions fall inside their 95 % horizontal error ellipse.
    cov2 = loc.covariances[:, :2, :2]
    d = loc.positions[:, :2] - src[:, :2]
    m2 = np.einsum("ei,eij,ej->e", d, np.linalg.inv(cov2), d)
    assert 0.9 < np.mean(m2 <= -2 * math.log(0.05)) < 0.99


def test_missing_times_use_the_other_receivers() -> None:
    arr = ReceiverArray(RX3)
    src, times = _noisy(arr, 4, 0.0, seed=1)
    times[0, 5] = np.nan
    times[1, 4] = np.nan
    times[2, [0, 1, 2]] = np.nan  # 3 left: fewer than d + 1 = 4
    loc = arr.localize(times)
    np.testing.assert_allclose(loc.positions[[0, 1, 3]], src[[0, 1, 3]], atol=1e-6)
    assert list(loc.n_receivers) == [5, 5, 3, 6]
    assert loc.reasons[2].startswith("3 receivers cannot fix a position in 3-D")
    assert np.isnan(loc.positions[2]).all() and np.isnan(loc.residual_rms[2])
    assert list(loc.localized) == [True, True, False, True]
    assert np.isnan(loc.residuals[0, 5]) and np.isfinite(loc.residuals[0, :5]).all()


def test_coplanar_receivers_are_flagged_not_guessed() -> None:
    flat = RX3.copy()
    flat[:, 2] = 0.0
    arr = ReceiverArray(flat)
    loc = arr.localize(np.zeros((2, 6)))
    assert all("coplanar" in r for r in loc.reasons)
    assert np.isnan(loc.positions).all()


def test_infinite_times_and_wrong_widths_raise() -> None:
    arr = ReceiverArray(RX3)
    with pytest.raises(LocalizationError, match="one column per receiver"):
        arr.localize(np.zeros((2, 5)))
    with pytest.raises(LocalizationError, match="infinite"):
        arr.localize(np.full(6, np.inf))
    with pytest.raises(ValueError, match="algorithm"):
        arr.localize(np.zeros(6), algorithm="nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timing_sigma"):
        arr.localize(np.zeros(6), timing_sigma=-1)


def test_residuals_for_given_sources() -> None:
    arr = ReceiverArray(RX3)
    src = np.array([[10.0, 10.0, 3.0]])
    times = arr.arrival_times(src, emission_times=2.0)
    assert np.abs(arr.residuals(src, times)).max() < 1e-9
    off = arr.residuals(src + np.array([5.0, 0, 0]), times)
    assert np.abs(off).max() > 1.0
    assert off.shape == (1, 6)


def test_far_sources_have_large_uncertainty() -> None:
    arr = ReceiverArray(RX3)
    near = arr.arrival_times(np.array([25.0, 25.0, 5.0]))
    far = arr.arrival_times(np.array([2000.0, 25.0, 5.0]))
    loc = arr.localize(np.vstack([near, far]), algorithm="lstsq")
    assert loc.uncertainty[1] > 100 * loc.uncertainty[0]


def test_error_ellipses_of_known_covariances() -> None:
    cov = np.array([[[4.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 9.0]]])
    out = error_ellipses(cov, 0.95)
    k = math.sqrt(-2 * math.log(0.05))
    assert out[0] == pytest.approx([2 * k, k, 0.0], abs=1e-9)
    assert out[1, :2] == pytest.approx([3 * k, k])
    assert abs(out[1, 2]) == pytest.approx(90.0)
    with pytest.raises(ValueError, match="confidence"):
        error_ellipses(cov, 1.0)


def test_subset_keeps_order() -> None:
    arr = ReceiverArray(RX3, ("a", "b", "c", "d", "e", "f"))
    sub = arr.subset(["c", "a"])
    assert sub.names == ("c", "a")
    np.testing.assert_array_equal(sub.positions, RX3[[2, 0]])


def test_speed_of_sound_changes_with_temperature() -> None:
    arr = ReceiverArray(RX3)
    src = np.array([[20.0, 30.0, 4.0]])
    times = arr.arrival_times(src, temperature=35)
    right = arr.localize(times, temperature=35)
    wrong = arr.localize(times, temperature=0)
    assert np.linalg.norm(right.positions - src) < 1e-6
    assert np.linalg.norm(wrong.positions - src) > 0.01
    assert calc_speed_of_sound(35) > calc_speed_of_sound(0)


def test_two_exact_fits_with_the_minimum_receivers_are_flagged() -> None:
    arr = ReceiverArray(RX3[:4])
    rng = np.random.default_rng(11)
    src = np.column_stack([rng.uniform(0, 50, (300, 2)), rng.uniform(0, 20, 300)])
    loc = arr.localize(arr.arrival_times(src))
    twofold = np.array(["two positions fit" in r for r in loc.reasons])
    assert twofold.any()
    # Every answer that is given is the true source: ambiguity is reported, never guessed.
    ok = loc.localized
    np.testing.assert_allclose(loc.positions[ok], src[ok], atol=1e-5)
    assert np.isnan(loc.positions[twofold]).all()
