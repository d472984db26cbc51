"""Sound-source localization from arrival times: the spec's functions and their batched maths.

A source at ``x`` emits at an unknown time; receiver ``i`` at ``s_i`` hears it at ``t_i``. With
pseudoranges ``rho_i = c * t_i`` the unknowns ``u = (x, b)`` satisfy ``|x - s_i| = rho_i - b``
(``b = c * t_emit``, in metres). Three solvers:

* ``gps``: the closed form of Bancroft's GPS algorithm as used by Sound Finder (Wilson et al.
  2014): a linear least-squares solve in Lorentz space and a quadratic for the scale, whose two
  roots are the two candidate positions.
* ``lstsq``: nonlinear least squares on the pseudorange residuals
  ``r_i = |x - s_i| - (rho_i - b)``, started from the closed-form roots.
* ``gillette``: the linear closed form of Gillette and Silverman (2008), as offered by
  OpenSoundscape 0.13: a least-squares solve in ``(x, range to the reference receiver)``; it
  needs ``d + 2`` receivers.

Every solver works on a batch of events that share a receiver set (arrays ``[shape=(E, n)]``);
the spec's :func:`localize` takes one event or many. See ``docs/guide/localization.md``.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from opso.domain.errors import LocalizationError, ParameterError

InvertAlg = Literal["gps", "lstsq", "gillette"]
ALGORITHMS: tuple[InvertAlg, ...] = ("gps", "lstsq", "gillette")
F64 = NDArray[np.float64]

#: Receivers whose spread across their smallest principal axis is below this fraction of the
#: largest are treated as collinear (2-D) or coplanar (3-D): the source is then ambiguous.
PLANARITY_RTOL = 1e-3
_SINGULAR_RTOL = 1e-10
AMBIGUOUS = "two positions fit these times exactly (add a receiver to tell them apart)"
SINGULAR = "the system is singular for these arrival times"

#: Status of each event solved by :func:`solve_events`.
SOLVED, SINGULAR_SYSTEM, TWOFOLD = 0, 1, 2


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


def speed_of_sound_for(temperature: float = 20.0, speed: float | None = None) -> float:
    """Return the speed of sound in m/s: ``speed`` when given, else the speed at ``temperature``.

    A measured speed of sound overrides the temperature (see
    ``docs/decisions/0096-speed-of-sound-overrides-temperature.md``).

    Parameters
    ----------
    temperature
        Ambient temperature in degrees Celsius, used when ``speed`` is None.
    speed
        Speed of sound in m/s, or None.

    Raises
    ------
    ValueError
        If ``speed`` is not a finite number > 0, or the temperature is invalid.
    """
    if speed is None:
        return calc_speed_of_sound(temperature)
    value = float(speed)
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(f"speed_of_sound must be a finite number > 0 m/s, got {speed!r}")
    return value


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
    p = np.ascontiguousarray(positions, dtype=np.float64)
    return _geometry_problem(p.tobytes(), *p.shape)


@functools.lru_cache(maxsize=64)
def _geometry_problem(key: bytes, n: int, d: int) -> str:
    """Check the positions in ``key`` as :func:`geometry_problem` does, remembering the answer.

    A loop of one-event calls with the same receivers then checks them once.
    """
    if n < d + 1:
        return f"{n} receivers cannot fix a position in {d}-D (need at least {d + 1})"
    p = np.frombuffer(key, dtype=np.float64).reshape(n, d)
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


def _shared_lstsq(shared: F64, column: F64, rhs: F64) -> tuple[F64, NDArray[np.bool_]]:
    """Solve ``[shared | column_e] @ u_e = rhs_e`` by least squares for a batch of events.

    The first ``d`` columns are the same for every event, so they are factored once (QR); each
    event's last column is orthogonalised against them (twice, for accuracy), which costs a few
    matrix products for the whole batch instead of one factorisation per event.

    Parameters
    ----------
    shared
        The columns common to all events [shape=(m, d)].
    column
        Each event's last column [shape=(E, m)].
    rhs
        Right-hand sides [shape=(E, m, k)].

    Returns
    -------
    u : numpy.ndarray
        Solutions [shape=(E, d + 1, k)]. Where the last column is (nearly) a combination of the
        shared ones its unknown is set to 0 and the others fit the shared columns alone; NaN
        everywhere if the shared columns are themselves rank-deficient.
    dependent : numpy.ndarray
        True where the last column is (nearly) a combination of the shared ones [shape=(E,)].
    """
    d = shared.shape[1]
    e_count, k = len(column), rhs.shape[-1]
    factors = _factor(np.ascontiguousarray(shared).tobytes(), *shared.shape)
    if factors is None:
        return np.full((e_count, d + 1, k), np.nan), np.ones(e_count, dtype=np.bool_)
    q0, r0_inv = factors
    coef = column @ q0
    w = column - coef @ q0.T
    again = w @ q0
    w -= again @ q0.T
    coef += again
    norm2 = np.einsum("em,em->e", w, w)
    scale = np.sqrt(float(np.sum(shared**2)) + np.einsum("em,em->e", column, column))
    dependent = ~(np.sqrt(norm2) > _SINGULAR_RTOL * scale)
    wty = np.einsum("em,emk->ek", w, rhs)
    last = np.divide(wty, norm2[:, None], out=np.zeros_like(wty), where=~dependent[:, None])
    u = np.empty((e_count, d + 1, k))
    u[:, d, :] = last
    u[:, :d, :] = r0_inv @ (q0.T @ rhs - coef[:, :, None] * last[:, None, :])
    return u, np.asarray(dependent, dtype=np.bool_)


@functools.lru_cache(maxsize=64)
def _factor(key: bytes, m: int, d: int) -> tuple[F64, F64] | None:
    """``Q`` and ``inv(R)`` of the ``m x d`` matrix in ``key``, or None if it is rank-deficient.

    Remembered, so that one-event calls with the same receivers factor them once.
    """
    q0, r0 = np.linalg.qr(np.frombuffer(key, dtype=np.float64).reshape(m, d))
    diag = np.abs(np.diag(r0))
    if not diag.min() > _SINGULAR_RTOL * diag.max():
        return None
    r0_inv = np.linalg.inv(r0)
    q0.flags.writeable = False
    r0_inv.flags.writeable = False
    return q0, r0_inv


def _cholesky(a: F64) -> tuple[list[list[F64]], F64]:
    """Cholesky factors of symmetric positive definite ``p x p`` matrices, elementwise.

    For the small systems here (``p <= 4``) a few array operations over the whole batch are far
    cheaper than one LAPACK call per matrix. Returns the lower factor as rows of [shape=(E,)]
    arrays (``low[i][k]`` for ``k <= i``) and the pivots ``L_jj**2`` [shape=(E, p)]; a pivot
    <= 0 marks a matrix that is not positive definite (its factor then holds placeholders).
    """
    p = a.shape[-1]
    low: list[list[F64]] = [[] for _ in range(p)]
    pivots = np.empty((len(a), p))
    for j in range(p):
        s = a[:, j, j].copy()
        for k in range(j):
            s -= low[j][k] * low[j][k]
        pivots[:, j] = s
        ljj = np.sqrt(np.where(s > 0, s, 1.0))
        low[j].append(ljj)
        for i in range(j + 1, p):
            v = a[:, i, j].copy()
            for k in range(j):
                v -= low[i][k] * low[j][k]
            v /= ljj
            low[i].append(v)
    return low, pivots


def spd_solve(a: F64, b: F64) -> F64:
    """Solve symmetric positive definite systems ``a @ x = b`` for a batch.

    Parameters
    ----------
    a
        Matrices [shape=(E, p, p)], positive definite (e.g. damped normal equations).
    b
        Right-hand sides [shape=(E, p)].

    Returns
    -------
    numpy.ndarray
        ``x`` [shape=(E, p)].
    """
    p = a.shape[-1]
    low, _ = _cholesky(a)
    y: list[F64] = []
    for i in range(p):
        v = b[:, i].copy()
        for k in range(i):
            v -= low[i][k] * y[k]
        v /= low[i][i]
        y.append(v)
    x = np.empty((len(a), p))
    for i in reversed(range(p)):
        v = y[i]
        for k in range(i + 1, p):
            v -= low[k][i] * x[:, k]
        v /= low[i][i]
        x[:, i] = v
    return x


def spd_inverse(a: F64, *, condition_limit: float) -> tuple[F64, NDArray[np.bool_]]:
    """Invert symmetric positive semi-definite ``p x p`` matrices for a batch.

    Parameters
    ----------
    a
        Matrices [shape=(E, p, p)].
    condition_limit
        A matrix whose smallest Cholesky pivot is below its largest diagonal entry divided by
        this is reported as singular (its condition number is then at least this large).

    Returns
    -------
    inverse : numpy.ndarray
        ``inv(a)`` [shape=(E, p, p)], unreliable where ``singular``.
    singular : numpy.ndarray
        True for matrices that are singular or too badly conditioned [shape=(E,)].
    """
    p = a.shape[-1]
    low, pivots = _cholesky(a)
    biggest = np.max(np.einsum("ekk->ek", a), axis=1)
    singular = ~(np.min(pivots, axis=1) > biggest / condition_limit)
    # m = inv(L), lower triangular; inv(a) = m.T @ m
    m = [[np.zeros(len(a)) for _ in range(p)] for _ in range(p)]
    for i in range(p):
        m[i][i] = 1.0 / low[i][i]
        for j in range(i):
            acc = sum((low[i][k] * m[k][j] for k in range(j, i)), np.zeros(len(a)))
            m[i][j] = -acc / low[i][i]
    inv = np.empty_like(a)
    for i in range(p):
        for j in range(i + 1):
            v = sum((m[k][i] * m[k][j] for k in range(i, p)), np.zeros(len(a)))
            inv[:, i, j] = v
            inv[:, j, i] = v
    return inv, np.asarray(singular, dtype=np.bool_)


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
    d = positions.shape[1]
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
    # Rows of B are (s_i, -rho_i); a_i = <B_i, B_i> / 2 in the Lorentz metric.
    a = 0.5 * (np.sum(pos**2, axis=1) - rho**2)
    u, singular = _shared_lstsq(pos, -rho, np.stack([a, np.ones_like(a)], axis=2))
    ba, be = u[..., 0], u[..., 1]
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
        fit = np.einsum("nk,erk->ern", pos, cand[..., :d]) - rho[:, None, :] * cand[..., d:]
        fit -= a[:, None, :] + lam[..., None]
        discrepancy = np.sum(fit**2, axis=-1)
        gap = np.abs(discrepancy[:, 0] - discrepancy[:, 1])
        tie = gap <= 1e-9 * (1.0 + np.max(np.abs(discrepancy), axis=1))
        score = np.where(tie[:, None], score, discrepancy)
    score = np.where(np.isfinite(score), score, np.inf)
    swap = score[:, 1] < score[:, 0]
    roots = np.where(swap[:, None, None], cand[:, ::-1], cand)
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


def gillette_solve(positions: F64, pseudoranges: F64) -> tuple[F64, NDArray[np.bool_]]:
    """Solve a batch of events with the linear closed form of Gillette and Silverman (2008).

    Each event's reference is the receiver whose pseudorange is nearest zero: the reference
    receiver when the times are delays relative to it (as OpenSoundscape 0.13 requires), the
    earliest when all times are positive. With ``d_m = rho_m - rho_ref`` and ``r`` the range
    from the source to the reference, each other receiver gives one linear equation::

        (s_ref - s_m) . x - d_m * r = (d_m**2 - |s_m|**2 + |s_ref|**2) / 2

    solved for ``(x, r)`` by least squares, with the receivers moved to their centroid first.
    ``b`` is then the value that fits the position best. OpenSoundscape 0.13 writes ``d_m``
    where the equation has ``d_m**2``; see ``docs/decisions/0097-gillette-silverman-solver.md``.

    Parameters
    ----------
    positions
        Receiver positions in metres [shape=(n, d)], ``n >= d + 2``.
    pseudoranges
        ``c * t_i`` in metres [shape=(E, n)], all finite.

    Returns
    -------
    solutions : numpy.ndarray
        ``(x, b)`` per event [shape=(E, d + 1)], NaN where the system is singular.
    singular : numpy.ndarray
        True where the event could not be solved [shape=(E,)].
    """
    n, d = positions.shape
    e_count = len(pseudoranges)
    p_mean = positions.mean(axis=0)
    pos = positions - p_mean
    sq = np.sum(pos**2, axis=1)
    sol = np.full((e_count, d + 1), np.nan)
    bad = np.zeros(e_count, dtype=np.bool_)
    ref = np.argmin(np.abs(pseudoranges), axis=1)
    for k in np.unique(ref):
        rows = np.flatnonzero(ref == k)
        others = np.delete(np.arange(n), k)
        rho = pseudoranges[rows]
        diff = rho[:, others] - rho[:, k : k + 1]
        shared = pos[k] - pos[others]
        rhs = 0.5 * (diff**2 - sq[others] + sq[k])
        u, dependent = _shared_lstsq(shared, -diff, rhs[..., None])
        # A delay column that is a combination of the geometry's leaves x undetermined, unless
        # it is zero (every delay 0): then x fits the geometry alone and only r is unknown.
        size = np.sqrt(np.sum(diff**2, axis=1))
        singular = dependent & (size > _SINGULAR_RTOL * np.sqrt(float(np.sum(shared**2))))
        x = u[:, :d, 0]
        dist = np.sqrt(np.sum((x[:, None, :] - pos) ** 2, axis=-1))
        sol[rows, :d] = x + p_mean
        sol[rows, d] = np.mean(rho - dist, axis=1)
        bad[rows] = singular | ~np.all(np.isfinite(sol[rows]), axis=1)
    sol[bad] = np.nan
    return sol, bad


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


def _cost(positions: F64, pseudoranges: F64, solutions: F64) -> F64:
    """``sum(r_i**2)`` per event [shape=(E,)]."""
    r = pseudorange_residuals(positions, pseudoranges, solutions)
    return np.asarray(np.einsum("en,en->e", r, r), dtype=np.float64)


def lm_solve(
    positions: F64, pseudoranges: F64, start: F64, *, max_iter: int = 50
) -> tuple[F64, F64]:
    """Minimise ``sum(r_i**2)`` for a batch of events by Levenberg-Marquardt.

    The emission offset is projected out (variable projection): for a position ``x`` the
    best ``b`` is the mean of ``rho_i - |x - s_i|``, so the iterations run on ``x`` alone. This
    removes the strong coupling of ``b`` and the range to the source, and the iterations
    converge in a few steps where the full problem crawls. Each event keeps its own damping, so
    one hard event never slows or spoils another. An event stops when a step gains (or, if
    rejected, would gain) less than ``1e-12`` of its cost, when its step is below 1 nm, or when
    its damping exceeds ``1e12``.

    Parameters
    ----------
    positions
        Receiver positions [shape=(n, d)].
    pseudoranges
        ``c * t_i`` [shape=(E, n)].
    start
        Initial ``(x, b)`` per event [shape=(E, d + 1)]; only ``x`` is used.
    max_iter
        Most iterations per event.

    Returns
    -------
    solutions : numpy.ndarray
        ``(x, b)`` per event [shape=(E, d + 1)].
    cost : numpy.ndarray
        ``sum(r_i**2)`` at the solution, m² [shape=(E,)].
    """
    d = positions.shape[1]
    x = np.array(start[:, :d], dtype=np.float64)
    r, unit = _projected(positions, pseudoranges, x)
    cost = np.einsum("en,en->e", r, r)
    active = np.flatnonzero(np.isfinite(cost))
    # State of the active rows, compressed as rows converge. Per-coordinate arrays
    # [shape=(E, n)] keep every operation on contiguous rows.
    xa, rho, ca, ra = x[active], pseudoranges[active], cost[active], r[active]
    ua = [u[active] for u in unit]
    mu = np.full(len(active), 1e-3)
    pairs = [(k, m) for k in range(d) for m in range(k, d)]
    diagonal = (slice(None), np.arange(d), np.arange(d))
    n = positions.shape[0]
    for _ in range(max_iter):
        if active.size == 0:
            break
        jac = [u - (np.add.reduce(u, axis=1) / n)[:, None] for u in ua]
        jtj = np.empty((len(active), d, d))
        for k, m in pairs:
            jtj[:, k, m] = jtj[:, m, k] = np.add.reduce(jac[k] * jac[m], axis=1)
        g = np.stack([np.add.reduce(j * ra, axis=1) for j in jac], axis=1)
        diag = jtj[diagonal]
        ridge = mu[:, None] * diag + 1e-12 * (1.0 + diag.max(axis=1, keepdims=True))
        damped = jtj.copy()
        damped[diagonal] += ridge
        step = -spd_solve(damped, g)
        trial = xa + step
        r_t, unit_t = _projected(positions, rho, trial)
        new_cost = np.einsum("en,en->e", r_t, r_t)
        better = new_cost < ca
        gain = np.where(better, ca - new_cost, 0.0)
        # The decrease the linear model promised, -step.(2 g + J'J step), with J'J step =
        # -g - ridge * step; ~0 at a minimum, where rounding rejects steps.
        promised = np.add.reduce(step * (ridge * step - g), axis=1)
        take = better[:, None]
        xa = np.where(take, trial, xa)
        ca = np.where(better, new_cost, ca)
        ra = np.where(take, r_t, ra)
        ua = [np.where(take, new, old) for new, old in zip(unit_t, ua, strict=True)]
        converged = (better & (gain <= 1e-12 * (1.0 + ca))) | (
            ~better & (promised <= 1e-12 * (1.0 + ca))
        )
        mu = np.where(better, np.maximum(mu / 3.0, 1e-12), mu * 4.0)
        converged |= (np.einsum("ek,ek->e", step, step) <= 1e-18) | (mu > 1e12)
        if converged.any():
            x[active], cost[active] = xa, ca
            keep = ~converged
            active, xa, rho, ca, mu, ra = (
                active[keep],
                xa[keep],
                rho[keep],
                ca[keep],
                mu[keep],
                ra[keep],
            )
            ua = [u[keep] for u in ua]
    x[active], cost[active] = xa, ca
    dist = np.sqrt(np.sum((x[:, None, :] - positions) ** 2, axis=-1))
    b = np.mean(pseudoranges - dist, axis=1)
    return np.concatenate([x, b[:, None]], axis=1), cost


def _projected(positions: F64, pseudoranges: F64, x: F64) -> tuple[F64, list[F64]]:
    """Residuals with the best ``b`` [shape=(E, n)], and unit vectors, one array per axis.

    ``r_i = g_i - mean(g)`` with ``g_i = |x - s_i| - rho_i``; its Jacobian is the unit vectors
    from the receivers to ``x`` minus their mean.
    """
    diff = [x[:, k : k + 1] - positions[:, k] for k in range(positions.shape[1])]
    dist = np.sqrt(sum((v * v for v in diff), np.zeros_like(pseudoranges)))
    gap = dist - pseudoranges
    r = gap - (np.add.reduce(gap, axis=1) / gap.shape[1])[:, None]
    safe = np.where(dist > 0, dist, 1.0)
    return r, [v / safe for v in diff]


def _refine(positions: F64, pseudoranges: F64, roots: F64) -> tuple[F64, NDArray[np.bool_]]:
    """Least squares from the closed-form roots (see :func:`lstsq_solve`)."""
    e_count = len(pseudoranges)
    first = np.where(np.isfinite(roots[:, 0]), roots[:, 0], centroid_start(positions, pseudoranges))
    second = plausible_roots(positions, pseudoranges, roots[:, 1])
    # Both starts in one batch: each row keeps its own damping, so this equals two runs.
    starts = np.concatenate([first, roots[second, 1]])
    sol_all, cost_all = lm_solve(
        positions, np.concatenate([pseudoranges, pseudoranges[second]]), starts
    )
    sol = sol_all[:e_count]
    won = cost_all[e_count:] < cost_all[second]
    sol[second[won]] = sol_all[e_count:][won]
    bad = ~np.all(np.isfinite(sol), axis=1)
    sol[bad] = np.nan
    return np.asarray(sol, dtype=np.float64), np.asarray(bad, dtype=np.bool_)


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
    return _refine(positions, pseudoranges, roots)


def ambiguous_events(positions: F64, pseudoranges: F64, roots: F64) -> NDArray[np.bool_]:
    """Flag events that two distinct, causal positions fit exactly [shape=(E,)].

    With exactly ``d + 1`` receivers both roots of the closed form (``roots`` from
    :func:`gps_roots`) fit every time, so when both are causal nothing in the data says which
    is the source. More receivers break the tie.
    """
    n, d = positions.shape
    out = np.zeros(pseudoranges.shape[0], dtype=np.bool_)
    if n != d + 1:
        return out
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


def solver_problem(positions: F64, algorithm: InvertAlg) -> str:
    """Return why ``algorithm`` cannot localize with these receivers, or ``""``.

    :func:`geometry_problem`, and for ``"gillette"`` fewer than ``d + 2`` receivers.
    """
    return geometry_problem(positions) or _too_few_for(positions, algorithm)


def _too_few_for(positions: F64, algorithm: InvertAlg) -> str:
    """Say if the linear solver lacks receivers (it needs ``d + 2``), or return ``""``."""
    n, d = positions.shape
    if algorithm == "gillette" and n < d + 2:
        return (
            f"{n} receivers cannot fix a position in {d}-D with the gillette solver "
            f"(need at least {d + 2})"
        )
    return ""


def solve_events(
    positions: F64,
    pseudoranges: F64,
    *,
    algorithm: InvertAlg,
    center: bool = True,
    pseudo: bool = True,
) -> tuple[F64, NDArray[np.int8]]:
    """Localize a batch of events heard by the same receivers.

    Parameters
    ----------
    positions
        Receiver positions in metres [shape=(n, d)], free of :func:`solver_problem`.
    pseudoranges
        ``c * t_i`` in metres [shape=(E, n)], all finite.
    algorithm, center, pseudo
        As in :func:`localize`.

    Returns
    -------
    solutions : numpy.ndarray
        ``(x, b)`` per event [shape=(E, d + 1)], NaN where not solved.
    status : numpy.ndarray
        :data:`SOLVED`, :data:`SINGULAR_SYSTEM` or :data:`TWOFOLD` (exactly ``d + 1``
        receivers and two causal positions fit) per event [shape=(E,)].
    """
    status = np.zeros(len(pseudoranges), dtype=np.int8)
    if algorithm == "gillette":
        sol, bad = gillette_solve(positions, pseudoranges)
        status[bad] = SINGULAR_SYSTEM
        return sol, status
    roots, bad = gps_roots(positions, pseudoranges, center=center, pseudo=pseudo)
    if algorithm == "gps":
        sol = np.ascontiguousarray(roots[:, 0])
    else:
        sol, bad = _refine(positions, pseudoranges, roots)
    status[bad] = SINGULAR_SYSTEM
    twofold = ambiguous_events(positions, pseudoranges, roots)
    status[twofold & ~bad] = TWOFOLD
    sol[twofold] = np.nan
    return sol, status


def check_events(positions: ArrayLike, arrival_times: ArrayLike) -> tuple[F64, F64]:
    """Validate receivers and the times of one event [shape=(n,)] or many [shape=(E, n)].

    Returns the positions [shape=(n, d)] and the times as a float array [shape=(E, n)].

    Raises
    ------
    LocalizationError
        If the shapes disagree, a value is not finite, or the geometry cannot fix a source.
    """
    pos = np.asarray(receiver_positions_array(positions), dtype=np.float64)
    given = np.asarray(arrival_times, dtype=np.float64)
    times = given.reshape(1, -1) if given.ndim <= 1 else given
    if times.ndim != 2 or times.shape[1] != pos.shape[0]:
        count = given.size if given.ndim <= 1 else f"shape {given.shape}"
        raise LocalizationError(f"got {pos.shape[0]} receiver positions but {count} arrival times")
    bad = ~np.isfinite(times)
    if bad.any():
        if given.ndim <= 1:
            cols = np.flatnonzero(bad[0])
            raise LocalizationError(
                f"arrival times of receivers {cols.tolist()} are not finite: "
                f"{times[0, cols].tolist()}"
            )
        rows = np.flatnonzero(bad.any(axis=1))
        raise LocalizationError(
            f"arrival times of {rows.size} event(s) are not finite, first event {int(rows[0])}"
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


def _failure(
    positions: F64, pseudoranges: F64, status: int, algorithm: InvertAlg, center: bool, pseudo: bool
) -> str:
    """Say why one event (pseudoranges [shape=(n,)]) was not solved."""
    if status == TWOFOLD:
        roots, _ = gps_roots(positions, pseudoranges[None, :], center=center, pseudo=pseudo)
        return (
            f"{AMBIGUOUS}: {roots[0, 0, :-1].round(3).tolist()} and "
            f"{roots[0, 1, :-1].round(3).tolist()}"
        )
    if algorithm == "lstsq":
        return "least squares found no finite solution"
    name = "closed-form" if algorithm == "gps" else "linear (gillette)"
    return f"the {name} system is singular for these receivers and times; try invert_alg='lstsq'"


def localize(
    receiver_positions: ArrayLike,
    arrival_times: ArrayLike,
    temperature: float = 20.0,
    invert_alg: InvertAlg = "gps",
    center: bool = True,
    pseudo: bool = True,
    *,
    speed_of_sound: float | None = None,
) -> F64:
    """Localize a sound event from its arrival times at several receivers (TDOA).

    One event, as in OpenSoundscape, or many at once (one vectorised solve: thousands of
    events in milliseconds; :meth:`opso.ReceiverArray.localize` adds missing receivers,
    per-event reasons and uncertainties).

    Parameters
    ----------
    receiver_positions
        ``[x, y]`` or ``[x, y, z]`` per receiver, in metres (e.g. UTM) [shape=(n, d)].
    arrival_times
        Arrival (onset) time at each receiver, in seconds, any common origin [shape=(n,)], or
        one row per event [shape=(E, n)].
    temperature
        Ambient temperature in °C (sets the speed of sound).
    invert_alg
        ``"gps"``: the Sound Finder closed form; ``"lstsq"``: nonlinear least squares on the
        pseudorange residuals (Levenberg-Marquardt), started from the closed-form root and, if
        it is causal too, the other root; ``"gillette"``: the linear closed form of Gillette
        and Silverman (needs ``d + 2`` receivers).
    center
        Solve relative to the receivers' centroid (and a shifted time origin), then translate
        back. True is the behaviour of the original Sound Finder. (gps and lstsq.)
    pseudo
        Choose between the two closed-form roots by the pseudorange residual (True) or by the
        original Sound Finder's sum-of-squares discrepancy (False). (gps and lstsq.)
    speed_of_sound
        Speed of sound in m/s; overrides ``temperature`` when given.

    Returns
    -------
    numpy.ndarray
        The solution ``(x, y[, z], b)`` [shape=(d + 1,)], or one row per event
        [shape=(E, d + 1)]: the position in metres and ``b = c * t_emit``, the pseudorange
        offset in metres (``|x - s_i| = c * t_i - b``).

    Raises
    ------
    LocalizationError
        If there are fewer than ``d + 1`` receivers (``d + 2`` for gillette), the receivers are
        collinear (2-D) or coplanar (3-D), a time or position is not finite, the system is
        singular, or (with exactly ``d + 1`` receivers) two causal positions fit the times
        equally well. With many events the message names the first event that failed.
    ValueError
        If ``invert_alg`` is unknown, or the temperature or speed of sound invalid.
    """
    if invert_alg not in ALGORITHMS:
        raise ParameterError(f"invert_alg must be 'gps', 'lstsq' or 'gillette', got {invert_alg!r}")
    c = speed_of_sound_for(temperature, speed_of_sound)
    pos, times = check_events(receiver_positions, arrival_times)  # geometry checked here
    problem = _too_few_for(pos, invert_alg)
    if problem:
        raise LocalizationError(problem)
    rho = times * c
    sol, status = solve_events(pos, rho, algorithm=invert_alg, center=center, pseudo=pseudo)
    failed = np.flatnonzero(status != SOLVED)
    single = np.ndim(arrival_times) <= 1
    if failed.size:
        first = int(failed[0])
        why = _failure(pos, rho[first], int(status[first]), invert_alg, center, pseudo)
        if single:
            raise LocalizationError(why)
        raise LocalizationError(
            f"{failed.size} of {len(rho)} events cannot be localized; event {first}: {why} "
            "(ReceiverArray.localize gives each event's reason instead of raising)"
        )
    return np.asarray(sol[0] if single else sol, dtype=np.float64)
