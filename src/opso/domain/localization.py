"""Sound-source localization from arrival times: the spec's functions and their batched maths.

A source at ``x`` emits at an unknown time; receiver ``i`` at ``s_i`` hears it at ``t_i``. With
pseudoranges ``rho_i = c * t_i`` the unknowns ``u = (x, b)`` satisfy ``|x - s_i| = rho_i - b``
(``b = c * t_emit``, in metres). Two solvers:

* ``gps``: the closed form of Bancroft's GPS algorithm as used by Sound Finder (Wilson et al.
  2014): a linear least-squares solve in Lorentz space and a quadratic for the scale, whose two
  roots are the two candidate positions.
* ``lstsq``: nonlinear least squares on the pseudorange residuals
  ``r_i = |x - s_i| - (rho_i - b)``, started from the closed-form roots.

Every solver works on a batch of events that share a receiver set (arrays ``[shape=(E, n)]``);
the spec's :func:`localize` is the one-event case. See ``docs/guide/localization.md``.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from opso.domain.errors import LocalizationError, ParameterError

InvertAlg = Literal["gps", "lstsq"]
F64 = NDArray[np.float64]

#: Receivers whose spread across their smallest principal axis is below this fraction of the
#: largest are treated as collinear (2-D) or coplanar (3-D): the source is then ambiguous.
PLANARITY_RTOL = 1e-3
_SINGULAR_RTOL = 1e-10
AMBIGUOUS = "two positions fit these times exactly (add a receiver to tell them apart)"


def calc_speed_of_sound(temperature: float = 20.0) -> float:
    """Calculate the speed of sound in air in metres per second.

    ``331.3 * sqrt(1 + T / 273.15)``; humidity has a negligible effect and is ignored.

    Parameters
    ----------
    temperature
        Ambient temperature in degrees Celsius.

    Returns
    -------
    float
        The speed of sound in m/s (343.2146 at 20 °C).

    Raises
    ------
    ValueError
        If the temperature is not a finite number above absolute zero.
    """
    t = float(temperature)
    if not math.isfinite(t) or t <= -273.15:
        raise ParameterError(f"temperature must be a finite number of °C above -273.15, got {t!r}")
    return 331.3 * math.sqrt(1.0 + t / 273.15)


def travel_time(source: ArrayLike, receiver: ArrayLike, speed_of_sound: float) -> float:
    """Calculate the time sound takes to travel from a source to a receiver.

    Parameters
    ----------
    source, receiver
        Cartesian positions ``[x, y]`` or ``[x, y, z]`` in metres.
    speed_of_sound
        Speed of sound in m/s (> 0).

    Returns
    -------
    float
        Travel time in seconds.

    Raises
    ------
    ValueError
        If the positions differ in shape or the speed is not positive.
    """
    s = np.asarray(source, dtype=np.float64)
    r = np.asarray(receiver, dtype=np.float64)
    if s.shape != r.shape or s.ndim != 1:
        raise ParameterError(
            f"source {s.shape} and receiver {r.shape} must be vectors of one length"
        )
    if not speed_of_sound > 0:
        raise ParameterError(f"speed_of_sound must be > 0 m/s, got {speed_of_sound!r}")
    return float(np.linalg.norm(s - r)) / float(speed_of_sound)


def lorentz_ip(u: ArrayLike, v: ArrayLike | None = None) -> float:
    """Compute the Lorentz inner product of two vectors.

    ``u[0]*v[0] + u[1]*v[1] + u[2]*v[2] - u[3]*v[3]`` for length 4, and
    ``u[0]*v[0] + u[1]*v[1] - u[2]*v[2]`` for length 3.

    Parameters
    ----------
    u
        Vector of shape ``(3,)`` or ``(4,)``.
    v
        Vector of the same shape; None (default) uses ``u``.

    Returns
    -------
    float
        The Lorentz inner product.

    Raises
    ------
    ValueError
        If a vector is not of length 3 or 4, or the two lengths differ (the seed returned the
        error instead of raising it; see ``docs/decisions/0033-lorentz-ip-raises.md``).
    """
    a = np.asarray(u, dtype=np.float64)
    b = a if v is None else np.asarray(v, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.shape[0] not in (3, 4):
        raise ParameterError(
            f"lorentz_ip takes two vectors of length 3 or 4, got shapes {a.shape} and {b.shape}"
        )
    return float(a[:-1] @ b[:-1] - a[-1] * b[-1])


def _lorentz(u: F64, v: F64) -> F64:
    """Lorentz inner product along the last axis of stacked vectors."""
    out = np.einsum("...i,...i->...", u[..., :-1], v[..., :-1]) - u[..., -1] * v[..., -1]
    return np.asarray(out, dtype=np.float64)


def geometry_problem(positions: ArrayLike) -> str:
    """Return why receivers cannot fix a source position, or ``""`` if they can.

    Parameters
    ----------
    positions
        Receiver positions in metres [shape=(n, d)], ``d`` 2 or 3.

    Returns
    -------
    str
        Empty for a usable array; otherwise a sentence naming the problem: fewer than ``d + 1``
        receivers, receivers all at one place, collinear (2-D) or coplanar (3-D) receivers
        (see :data:`PLANARITY_RTOL`).
    """
    p = np.asarray(positions, dtype=np.float64)
    n, d = p.shape
    if n < d + 1:
        return f"{n} receivers cannot fix a position in {d}-D (need at least {d + 1})"
    s = np.linalg.svd(p - p.mean(axis=0), compute_uv=False)
    if not s[0] > 0:
        return "all receivers are at the same place"
    if s[-1] <= PLANARITY_RTOL * s[0]:
        if d == 2 or s[1] <= PLANARITY_RTOL * s[0]:
            return "receivers are collinear, so the source is ambiguous"
        return (
            "receivers are coplanar, so the side of their plane the source is on is ambiguous; "
            "localize in 2-D (drop z) instead"
        )
    return ""


def pseudorange_residuals(positions: F64, pseudoranges: F64, solutions: F64) -> F64:
    """Return ``|x - s_i| - (rho_i - b)`` in metres for stacked solutions.

    Parameters
    ----------
    positions
        Receiver positions [shape=(n, d)].
    pseudoranges
        ``c * t_i`` [shape=(E, n)].
    solutions
        ``(x, b)`` per event [shape=(E, d + 1)], or ``(E, k, d + 1)`` for ``k`` candidates
        with pseudoranges [shape=(E, 1, n)].
    """
    d = positions.shape[1]
    dist = np.linalg.norm(solutions[..., None, :d] - positions, axis=-1)
    return np.asarray(dist - pseudoranges + solutions[..., d : d + 1], dtype=np.float64)


def gps_roots(
    positions: F64, pseudoranges: F64, *, center: bool = True, pseudo: bool = True
) -> tuple[F64, NDArray[np.bool_]]:
    """Return both roots of the GPS closed form for a batch of events, the better one first.

    Parameters
    ----------
    positions
        Receiver positions in metres [shape=(n, d)], ``n >= d + 1``.
    pseudoranges
        ``c * t_i`` in metres for each event [shape=(E, n)], all finite.
    center
        Move the receivers to their centroid and the pseudoranges so that the smallest equals
        the array radius before solving, then move the solution back. This conditions the linear
        system and makes the answer independent of where the time origin is
        (``docs/decisions/0031-centering-positions-and-times.md``).
    pseudo
        Rank the quadratic's two roots by their pseudorange residual ``sum(r_i**2)`` (True), or
        by the original Sound Finder's algebraic sum-of-squares discrepancy (False); see
        ``docs/decisions/0030-choosing-the-gps-root.md``.

    Returns
    -------
    roots : numpy.ndarray
        ``(x, b)`` of both roots per event, the chosen one first [shape=(E, 2, d + 1)]; NaN
        where the system is singular.
    singular : numpy.ndarray
        True where the linear system was rank-deficient or gave no finite root [shape=(E,)].
    """
    n, d = positions.shape
    e_count = pseudoranges.shape[0]
    if center:
        p_mean = positions.mean(axis=0)
        pos = positions - p_mean
        radius = float(np.sqrt(np.mean(np.sum(pos**2, axis=1)))) or 1.0
        shift = radius - pseudoranges.min(axis=1)
    else:
        p_mean = np.zeros(d)
        pos = positions
        shift = np.zeros(e_count)
    rho = pseudoranges + shift[:, None]
    big_b = np.empty((e_count, n, d + 1))
    big_b[..., :d] = pos
    big_b[..., d] = -rho
    a = 0.5 * _lorentz(big_b, big_b)
    u_mat, s, vt = np.linalg.svd(big_b, full_matrices=False)
    singular = ~(s[:, -1] > _SINGULAR_RTOL * s[:, 0])
    inv_s = np.divide(1.0, s, out=np.zeros_like(s), where=s > _SINGULAR_RTOL * s[:, :1])
    ba = np.einsum("ekj,ek->ej", vt, inv_s * np.einsum("enk,en->ek", u_mat, a))
    be = np.einsum("ekj,ek->ej", vt, inv_s * u_mat.sum(axis=1))
    c_a = _lorentz(be, be)
    c_b = 2.0 * (_lorentz(ba, be) - 1.0)
    c_c = _lorentz(ba, ba)
    disc = np.sqrt(np.maximum(c_b**2 - 4.0 * c_a * c_c, 0.0))
    # Numerically stable roots; with c_a ~ 0 the equation is linear and both roots coincide.
    q = -0.5 * (c_b + np.where(c_b >= 0, disc, -disc))
    with np.errstate(divide="ignore", invalid="ignore"):
        lam2 = c_c / q
        lam1 = np.where(np.abs(c_a) > 1e-12 * np.abs(q), q / c_a, lam2)
    lam = np.stack([lam1, lam2], axis=1)  # (E, 2)
    cand = ba[:, None, :] + lam[..., None] * be[:, None, :]  # (E, 2, d + 1)
    res = pseudorange_residuals(pos, rho[:, None, :], cand)
    score = np.sum(res**2, axis=-1)
    if not pseudo:
        fit = np.einsum("enk,erk->ern", big_b, cand) - (a[:, None, :] + lam[..., None])
        discrepancy = np.sum(fit**2, axis=-1)
        gap = np.abs(discrepancy[:, 0] - discrepancy[:, 1])
        tie = gap <= 1e-9 * (1.0 + np.max(np.abs(discrepancy), axis=1))
        score = np.where(tie[:, None], score, discrepancy)
    score = np.where(np.isfinite(score), score, np.inf)
    order = np.argsort(score, axis=1, kind="stable")
    roots = np.take_along_axis(cand, order[..., None], axis=1)
    roots[..., :d] += p_mean
    roots[..., d] -= shift[:, None]
    bad = singular | ~np.all(np.isfinite(roots[:, 0]), axis=1)
    roots[bad] = np.nan
    return np.asarray(roots, dtype=np.float64), np.asarray(bad, dtype=np.bool_)


def gps_solve(
    positions: F64, pseudoranges: F64, *, center: bool = True, pseudo: bool = True
) -> tuple[F64, NDArray[np.bool_]]:
    """Solve a batch of events with the GPS (Bancroft / Sound Finder) closed form.

    Parameters are those of :func:`gps_roots`.

    Returns
    -------
    solutions : numpy.ndarray
        ``(x, b)`` per event [shape=(E, d + 1)], NaN where the system is singular.
    singular : numpy.ndarray
        True where the event could not be solved [shape=(E,)].
    """
    roots, bad = gps_roots(positions, pseudoranges, center=center, pseudo=pseudo)
    return np.ascontiguousarray(roots[:, 0]), bad


def _jacobian(positions: F64, solutions: F64) -> F64:
    """Jacobian of the pseudorange residuals [shape=(E, n, d + 1)]."""
    d = positions.shape[1]
    diff = solutions[:, None, :d] - positions
    dist = np.linalg.norm(diff, axis=-1, keepdims=True)
    jac = np.empty((*diff.shape[:2], d + 1))
    jac[..., :d] = np.divide(diff, dist, out=np.zeros_like(diff), where=dist > 0)
    jac[..., d] = 1.0
    return jac


def centroid_start(positions: F64, pseudoranges: F64) -> F64:
    """Start at the receivers' centroid with the best ``b`` for it [shape=(E, d + 1)]."""
    e_count = pseudoranges.shape[0]
    x0 = np.broadcast_to(positions.mean(axis=0), (e_count, positions.shape[1]))
    dist = np.linalg.norm(x0[:, None, :] - positions, axis=-1)
    b0 = np.mean(pseudoranges - dist, axis=1)
    return np.concatenate([x0, b0[:, None]], axis=1)


def lm_solve(
    positions: F64, pseudoranges: F64, start: F64, *, max_iter: int = 50
) -> tuple[F64, F64]:
    """Minimise ``sum(r_i**2)`` for a batch of events by Levenberg-Marquardt.

    Each event keeps its own damping, so one hard event never slows or spoils another.

    Parameters
    ----------
    positions
        Receiver positions [shape=(n, d)].
    pseudoranges
        ``c * t_i`` [shape=(E, n)].
    start
        Initial ``(x, b)`` per event [shape=(E, d + 1)], finite.
    max_iter
        Most iterations per event.

    Returns
    -------
    solutions : numpy.ndarray
        ``(x, b)`` per event [shape=(E, d + 1)].
    cost : numpy.ndarray
        ``sum(r_i**2)`` at the solution, m² [shape=(E,)].
    """
    u = np.array(start, dtype=np.float64)
    p = u.shape[1]
    cost = np.sum(pseudorange_residuals(positions, pseudoranges, u) ** 2, axis=1)
    mu = np.full(len(u), 1e-3)
    active = np.flatnonzero(np.isfinite(cost))
    eye = np.eye(p)
    for _ in range(max_iter):
        if active.size == 0:
            break
        ua, rho = u[active], pseudoranges[active]
        r = pseudorange_residuals(positions, rho, ua)
        jac = _jacobian(positions, ua)
        jtj = np.einsum("enk,enl->ekl", jac, jac)
        g = np.einsum("enk,en->ek", jac, r)
        diag = np.einsum("ekk->ek", jtj)
        damped = (
            jtj
            + (mu[active, None] * diag + 1e-12 * (1.0 + diag.max(axis=1, keepdims=True)))[
                :, :, None
            ]
            * eye
        )
        step = -np.linalg.solve(damped, g[..., None])[..., 0]
        trial = ua + step
        new_cost = np.sum(pseudorange_residuals(positions, rho, trial) ** 2, axis=1)
        better = new_cost < cost[active]
        gain = cost[active] - np.where(better, new_cost, cost[active])
        u[active[better]] = trial[better]
        cost[active[better]] = new_cost[better]
        mu[active] = np.where(better, np.maximum(mu[active] / 3.0, 1e-12), mu[active] * 4.0)
        small_step = np.linalg.norm(step, axis=1) <= 1e-9
        converged = (better & (gain <= 1e-12 * (1.0 + cost[active]))) | small_step
        converged |= mu[active] > 1e12
        active = active[~converged]
    return u, cost


def lstsq_solve(
    positions: F64, pseudoranges: F64, *, center: bool = True, pseudo: bool = True
) -> tuple[F64, NDArray[np.bool_]]:
    """Solve a batch of events by nonlinear least squares on the pseudorange residuals.

    Levenberg-Marquardt starts from the better closed-form root (the centroid where it is not
    finite) and, where the other root is also causal (sound reaches every receiver after it was
    emitted), from that root too; each event keeps the end point with the lower cost.
    Parameters and returns as :func:`gps_solve` (``center`` and ``pseudo`` steer the start).
    """
    roots, _ = gps_roots(positions, pseudoranges, center=center, pseudo=pseudo)
    first = np.where(np.isfinite(roots[:, 0]), roots[:, 0], centroid_start(positions, pseudoranges))
    sol, cost = lm_solve(positions, pseudoranges, first)
    second = plausible_roots(positions, pseudoranges, roots[:, 1])
    if second.size:
        alt, alt_cost = lm_solve(positions, pseudoranges[second], roots[second, 1])
        won = alt_cost < cost[second]
        sol[second[won]] = alt[won]
    bad = ~np.all(np.isfinite(sol), axis=1)
    sol[bad] = np.nan
    return np.asarray(sol, dtype=np.float64), np.asarray(bad, dtype=np.bool_)


def ambiguous_events(
    positions: F64, pseudoranges: F64, *, center: bool = True, pseudo: bool = True
) -> NDArray[np.bool_]:
    """Flag events that two distinct, causal positions fit exactly [shape=(E,)].

    With exactly ``d + 1`` receivers both roots of the closed form fit every time, so when both
    are causal nothing in the data says which is the source. More receivers break the tie.
    """
    n, d = positions.shape
    out = np.zeros(pseudoranges.shape[0], dtype=np.bool_)
    if n != d + 1:
        return out
    roots, _ = gps_roots(positions, pseudoranges, center=center, pseudo=pseudo)
    both = plausible_roots(positions, pseudoranges, roots[:, 1])
    spread = positions - positions.mean(axis=0)
    scale = 1.0 + float(np.sqrt(np.mean(np.sum(spread**2, axis=1))))
    apart = np.linalg.norm(roots[both, 0, :d] - roots[both, 1, :d], axis=1) > 1e-6 * scale
    out[both[apart]] = True
    return out


def plausible_roots(positions: F64, pseudoranges: F64, roots: F64) -> NDArray[np.intp]:
    """Return the rows whose root is finite and causal: every range ``rho_i - b`` >= ~0."""
    d = positions.shape[1]
    spread = positions - positions.mean(axis=0)
    tol = 0.05 * float(np.sqrt(np.mean(np.sum(spread**2, axis=1))))
    with np.errstate(invalid="ignore"):
        causal = np.all(pseudoranges - roots[:, d : d + 1] >= -tol, axis=1)
    return np.flatnonzero(causal & np.all(np.isfinite(roots), axis=1))


def _scipy_lstsq(positions: F64, pseudoranges: F64, starts: list[F64]) -> F64:
    """One event by :func:`scipy.optimize.least_squares`, best end point of several starts."""
    from scipy import optimize  # only this path needs it; keeps ``import opso`` light

    def fun(u: F64) -> F64:
        return np.asarray(
            pseudorange_residuals(positions, pseudoranges[None, :], u[None, :])[0], np.float64
        )

    def jac(u: F64) -> F64:
        return np.asarray(_jacobian(positions, u[None, :])[0], dtype=np.float64)

    best: F64 | None = None
    best_cost = math.inf
    method: Literal["lm", "trf"] = "lm" if len(positions) >= positions.shape[1] + 1 else "trf"
    for x0 in starts:
        if not np.all(np.isfinite(x0)):
            continue
        fit = optimize.least_squares(fun, x0, jac=jac, method=method, xtol=1e-12, ftol=1e-12)
        cost = float(np.sum(np.asarray(fit.fun) ** 2))
        if cost < best_cost:
            best, best_cost = np.asarray(fit.x, dtype=np.float64), cost
    if best is None:
        return np.full(positions.shape[1] + 1, np.nan)
    return best


def check_event(positions: ArrayLike, arrival_times: ArrayLike) -> tuple[F64, F64]:
    """Validate one event's receivers and times and return them as float arrays.

    Raises
    ------
    LocalizationError
        If the shapes disagree, a value is not finite, or the geometry cannot fix a source.
    """
    pos = np.asarray(receiver_positions_array(positions), dtype=np.float64)
    times = np.asarray(arrival_times, dtype=np.float64).reshape(-1)
    if times.shape[0] != pos.shape[0]:
        raise LocalizationError(
            f"got {pos.shape[0]} receiver positions but {times.shape[0]} arrival times"
        )
    bad = np.flatnonzero(~np.isfinite(times))
    if bad.size:
        raise LocalizationError(
            f"arrival times of receivers {bad.tolist()} are not finite: {times[bad].tolist()}"
        )
    problem = geometry_problem(pos)
    if problem:
        raise LocalizationError(problem)
    return pos, times


def receiver_positions_array(positions: ArrayLike) -> F64:
    """Return receiver positions as a finite float array [shape=(n, d)], ``d`` 2 or 3.

    Raises
    ------
    LocalizationError
        If the array is not 2-D with 2 or 3 columns or holds a non-finite value.
    """
    pos = np.array(positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] not in (2, 3):
        raise LocalizationError(
            f"receiver positions must be [x, y] or [x, y, z] rows, got shape {pos.shape}"
        )
    bad = np.flatnonzero(~np.all(np.isfinite(pos), axis=1))
    if bad.size:
        raise LocalizationError(f"receiver positions {bad.tolist()} are not finite")
    return pos


def localize(
    receiver_positions: ArrayLike,
    arrival_times: ArrayLike,
    temperature: float = 20.0,
    invert_alg: InvertAlg = "gps",
    center: bool = True,
    pseudo: bool = True,
) -> F64:
    """Localize one sound event from its arrival times at several receivers (TDOA).

    Parameters
    ----------
    receiver_positions
        ``[x, y]`` or ``[x, y, z]`` per receiver, in metres (e.g. UTM) [shape=(n, d)].
    arrival_times
        Arrival (onset) time at each receiver, in seconds, any common origin [shape=(n,)].
    temperature
        Ambient temperature in °C (sets the speed of sound).
    invert_alg
        ``"gps"``: the Sound Finder closed form; ``"lstsq"``: nonlinear least squares on the
        pseudorange residuals (:func:`scipy.optimize.least_squares`), started from the
        closed-form root and, if it is causal too, the other root.
    center
        Solve relative to the receivers' centroid (and a shifted time origin), then translate
        back. True is the behaviour of the original Sound Finder.
    pseudo
        Choose between the two closed-form roots by the pseudorange residual (True) or by the
        original Sound Finder's sum-of-squares discrepancy (False).

    Returns
    -------
    numpy.ndarray
        The solution ``(x, y[, z], b)`` [shape=(d + 1,)]: the position in metres and
        ``b = c * t_emit``, the pseudorange offset in metres (``|x - s_i| = c * t_i - b``).

    Raises
    ------
    LocalizationError
        If there are fewer than ``d + 1`` receivers, the receivers are collinear (2-D) or
        coplanar (3-D), a time or position is not finite, the system is singular, or (with
        exactly ``d + 1`` receivers) two causal positions fit the times equally well.
    ValueError
        If ``invert_alg`` is unknown or the temperature invalid.
    """
    if invert_alg not in ("gps", "lstsq"):
        raise ParameterError(f"invert_alg must be 'gps' or 'lstsq', got {invert_alg!r}")
    pos, times = check_event(receiver_positions, arrival_times)
    rho = times[None, :] * calc_speed_of_sound(temperature)
    if ambiguous_events(pos, rho, center=center, pseudo=pseudo)[0]:
        roots, _ = gps_roots(pos, rho, center=center, pseudo=pseudo)
        raise LocalizationError(
            f"{AMBIGUOUS}: {roots[0, 0, :-1].round(3).tolist()} and "
            f"{roots[0, 1, :-1].round(3).tolist()}"
        )
    gps, singular = gps_solve(pos, rho, center=center, pseudo=pseudo)
    if invert_alg == "gps":
        if singular[0]:
            raise LocalizationError(
                "the closed-form system is singular for these receivers and times; "
                "try invert_alg='lstsq'"
            )
        return np.asarray(gps[0], dtype=np.float64)
    roots, _ = gps_roots(pos, rho, center=center, pseudo=pseudo)
    starts = [roots[0, 0] if np.all(np.isfinite(roots[0, 0])) else centroid_start(pos, rho)[0]]
    if plausible_roots(pos, rho, roots[:, 1]).size:
        starts.append(roots[0, 1])
    sol = _scipy_lstsq(pos, rho[0], starts)
    if not np.all(np.isfinite(sol)):
        raise LocalizationError("least squares found no finite solution")
    return sol
