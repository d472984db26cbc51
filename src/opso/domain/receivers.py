"""A receiver (recorder) array and the vectorised localization of many events at once."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from opso.domain.errors import LocalizationError, ParameterError
from opso.domain.localization import (
    ALGORITHMS,
    AMBIGUOUS,
    F64,
    SINGULAR,
    SINGULAR_SYSTEM,
    SOLVED,
    TWOFOLD,
    InvertAlg,
    geometry_problem,
    pseudorange_residuals,
    receiver_positions_array,
    solve_events,
    solver_problem,
    spd_inverse,
    speed_of_sound_for,
)

#: ``J.T @ J`` worse conditioned than this leaves a position undetermined (infinite covariance).
_CONDITION_LIMIT = 1e12


def _readonly(a: NDArray[np.generic]) -> None:
    a.flags.writeable = False


@dataclass(frozen=True, slots=True, eq=False)
class Localization:
    """Positions of a batch of events and how much to trust each one.

    Every array has one row per event; a row whose ``reasons`` entry is non-empty was not
    localized and holds NaN.

    Attributes
    ----------
    positions
        Estimated source positions in metres [shape=(E, d)].
    emission_times
        Estimated emission time of each event in seconds, on the clock of the arrival times
        [shape=(E,)].
    residuals
        Pseudorange residual per receiver, ``|x - s_i| - c * (t_i - t_emit)`` in metres, NaN for
        receivers that did not take part [shape=(E, n)].
    residual_rms
        Root mean square of each event's residuals in metres [shape=(E,)].
    covariances
        Covariance of each position in m² [shape=(E, d, d)], from the Jacobian of the residuals:
        ``sigma**2 * inv(J.T @ J)`` with ``sigma`` the larger of the residual scatter (when
        there are more receivers than unknowns) and ``c * timing_sigma``. Infinite where the
        geometry leaves the position undetermined.
    n_receivers
        Receivers used per event [shape=(E,)].
    reasons
        ``""`` for a localized event, otherwise why it was not localized.
    """

    positions: F64
    emission_times: F64
    residuals: F64
    residual_rms: F64
    covariances: F64
    n_receivers: NDArray[np.int64]
    reasons: tuple[str, ...]

    def __post_init__(self) -> None:
        for name in ("positions", "emission_times", "residuals", "residual_rms", "covariances"):
            _readonly(getattr(self, name))
        _readonly(self.n_receivers)

    def __len__(self) -> int:
        return len(self.reasons)

    @property
    def localized(self) -> NDArray[np.bool_]:
        """True for the events that have a position [shape=(E,)]."""
        return np.array([not r for r in self.reasons], dtype=np.bool_)

    @property
    def uncertainty(self) -> F64:
        """Root-mean-square position error in metres, ``sqrt(trace(cov))`` [shape=(E,)]."""
        return np.asarray(np.sqrt(np.einsum("ekk->e", self.covariances)), dtype=np.float64)

    def error_ellipses(self, confidence: float = 0.95) -> F64:
        """Return the horizontal (x-y) error ellipse of each event.

        Parameters
        ----------
        confidence
            Probability that the ellipse holds the true position, in ``(0, 1)``.

        Returns
        -------
        numpy.ndarray
            ``(semi_major, semi_minor, angle)`` per event [shape=(E, 3)]: semi-axes in metres
            and the major axis's angle from the x axis in degrees.
        """
        return error_ellipses(self.covariances[:, :2, :2], confidence)


def error_ellipses(covariances: ArrayLike, confidence: float = 0.95) -> F64:
    """Return ``(semi_major, semi_minor, angle_deg)`` of 2-D covariance ellipses [shape=(E, 3)].

    Raises
    ------
    ValueError
        If ``confidence`` is not in ``(0, 1)`` or the covariances are not ``(E, 2, 2)``.
    """
    if not 0 < confidence < 1:
        raise ParameterError(f"confidence must be in (0, 1), got {confidence!r}")
    cov = np.asarray(covariances, dtype=np.float64)
    if cov.ndim != 3 or cov.shape[1:] != (2, 2):
        raise ParameterError(f"covariances must have shape (E, 2, 2), got {cov.shape}")
    out = np.full((len(cov), 3), np.nan)
    ok = np.all(np.isfinite(cov), axis=(1, 2))
    if ok.any():
        vals, vecs = np.linalg.eigh(cov[ok])
        # A 2-D normal's Mahalanobis radius squared is chi-square(2): P(r**2 <= k) = 1 - exp(-k/2).
        scale = math.sqrt(-2.0 * math.log(1.0 - confidence))
        out[ok, 0] = scale * np.sqrt(np.maximum(vals[:, 1], 0.0))
        out[ok, 1] = scale * np.sqrt(np.maximum(vals[:, 0], 0.0))
        out[ok, 2] = np.degrees(np.arctan2(vecs[:, 1, 1], vecs[:, 0, 1]))
    inf = ~ok & np.any(np.isinf(cov), axis=(1, 2))
    out[inf, :2] = np.inf
    return out


@dataclass(frozen=True, slots=True, eq=False)
class ReceiverArray:
    """Receivers at known positions, and the maths to localize events they heard.

    Parameters
    ----------
    positions
        ``[x, y]`` or ``[x, y, z]`` per receiver in metres [shape=(n, d)], all finite.
    names
        One unique name per receiver (e.g. its recording's file); empty gives ``r0, r1, ...``.

    Raises
    ------
    LocalizationError
        If the positions are not ``(n, 2)`` or ``(n, 3)`` finite values, or names are missing,
        repeated, or not one per receiver.
    """

    positions: F64
    names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        pos = receiver_positions_array(self.positions)
        if len(pos) == 0:
            raise LocalizationError("a receiver array needs at least one receiver")
        names = tuple(str(n) for n in self.names) or tuple(f"r{i}" for i in range(len(pos)))
        if len(names) != len(pos):
            raise LocalizationError(f"got {len(names)} names for {len(pos)} receivers")
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise LocalizationError(f"receiver names must be unique; repeated: {dupes}")
        _readonly(pos)
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "names", names)

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"<ReceiverArray({len(self)} receivers, {self.dim}-D)>"

    @property
    def dim(self) -> int:
        """Number of spatial dimensions, 2 or 3."""
        return int(self.positions.shape[1])

    def index(self, name: str) -> int:
        """Return the row of the receiver called ``name``.

        Raises
        ------
        KeyError
            If no receiver has that name.
        """
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no receiver named {name!r}") from None

    def distances(self) -> F64:
        """Return the distance in metres between every pair of receivers [shape=(n, n)]."""
        diff = self.positions[:, None, :] - self.positions[None, :, :]
        return np.asarray(np.linalg.norm(diff, axis=-1), dtype=np.float64)

    def max_delays(self, *, temperature: float = 20.0, speed_of_sound: float | None = None) -> F64:
        """Return the largest physically possible time difference of arrival, in seconds.

        Sound cannot reach receiver ``j`` more than ``distance(i, j) / c`` after (or before)
        receiver ``i`` [shape=(n, n)]. ``speed_of_sound`` (m/s) overrides ``temperature`` (°C).
        """
        return self.distances() / speed_of_sound_for(temperature, speed_of_sound)

    def geometry_problem(self, mask: ArrayLike | None = None) -> str:
        """Return why the receivers in ``mask`` (default: all) cannot fix a source, or ``""``."""
        pos = self.positions if mask is None else self.positions[np.asarray(mask, dtype=bool)]
        return geometry_problem(pos)

    def arrival_times(
        self,
        sources: ArrayLike,
        *,
        temperature: float = 20.0,
        emission_times: ArrayLike = 0.0,
        speed_of_sound: float | None = None,
    ) -> F64:
        """Return when sound from each source reaches each receiver, in seconds.

        Parameters
        ----------
        sources
            Source positions in metres [shape=(E, d)] or one source [shape=(d,)].
        temperature
            Air temperature in °C.
        emission_times
            When each source emitted, in seconds (scalar or [shape=(E,)]).
        speed_of_sound
            Speed of sound in m/s; overrides ``temperature`` when given.

        Returns
        -------
        numpy.ndarray
            Arrival times [shape=(E, n)].
        """
        src = self._sources(sources)
        c = speed_of_sound_for(temperature, speed_of_sound)
        dist = np.linalg.norm(src[:, None, :] - self.positions[None, :, :], axis=-1)
        emit = np.broadcast_to(np.asarray(emission_times, dtype=np.float64), (len(src),))
        return np.asarray(emit[:, None] + dist / c, dtype=np.float64)

    def residuals(
        self,
        sources: ArrayLike,
        arrival_times: ArrayLike,
        *,
        temperature: float = 20.0,
        speed_of_sound: float | None = None,
    ) -> F64:
        """Return each receiver's pseudorange residual for given source positions, in metres.

        The emission time of each event is the one that fits best (the mean over its
        receivers), so only the positions are judged. Receivers with a NaN time get NaN.
        ``speed_of_sound`` (m/s) overrides ``temperature`` (°C).

        Returns
        -------
        numpy.ndarray
            ``|x - s_i| - c * (t_i - t_emit)`` [shape=(E, n)].
        """
        src = self._sources(sources)
        times = self._times(arrival_times)
        if len(times) != len(src):
            raise LocalizationError(f"got {len(src)} sources but {len(times)} rows of times")
        c = speed_of_sound_for(temperature, speed_of_sound)
        dist = np.linalg.norm(src[:, None, :] - self.positions[None, :, :], axis=-1)
        gap = dist - c * times
        return np.asarray(gap - np.nanmean(gap, axis=1, keepdims=True), dtype=np.float64)

    def localize(
        self,
        arrival_times: ArrayLike,
        *,
        temperature: float = 20.0,
        speed_of_sound: float | None = None,
        algorithm: InvertAlg = "gps",
        center: bool = True,
        pseudo: bool = True,
        timing_sigma: float = 1e-4,
    ) -> Localization:
        """Localize many events at once from their arrival times.

        Events heard by the same receivers are solved together in one vectorised call, so a
        batch of thousands takes milliseconds.

        Parameters
        ----------
        arrival_times
            Arrival time in seconds of each event at each receiver [shape=(E, n)] (or one event
            [shape=(n,)]); any time origin per event, e.g. delays relative to a reference
            receiver. NaN marks a receiver that did not hear (or was dropped from) an event.
        temperature
            Air temperature in °C (speed of sound).
        speed_of_sound
            Speed of sound in m/s; overrides ``temperature`` when given.
        algorithm
            ``"gps"``: the Sound Finder closed form; ``"lstsq"``: nonlinear least squares on the
            pseudorange residuals (Levenberg-Marquardt per event, from the closed-form roots);
            ``"gillette"``: the linear closed form of Gillette and Silverman (needs ``d + 2``
            receivers; the reference is each event's time nearest zero).
        center, pseudo
            As in :func:`opso.localize`.
        timing_sigma
            Standard deviation in seconds of the timing error assumed a priori; it sets a floor
            on the uncertainty so that events with few receivers are not over-trusted.

        Returns
        -------
        Localization
            One row per event. Events with fewer than ``d + 1`` receivers (``d + 2`` for
            gillette), collinear (2-D) or coplanar (3-D) receivers, a singular system, or (with
            exactly ``d + 1`` receivers) two causal positions that fit equally well get NaN and
            a reason.

        Raises
        ------
        LocalizationError
            If the times do not have one column per receiver.
        ValueError
            If ``algorithm``, ``temperature``, ``speed_of_sound`` or ``timing_sigma`` is
            invalid.
        """
        if algorithm not in ALGORITHMS:
            raise ParameterError(
                f"algorithm must be 'gps', 'lstsq' or 'gillette', got {algorithm!r}"
            )
        if not timing_sigma >= 0 or not math.isfinite(timing_sigma):
            raise ParameterError(
                f"timing_sigma must be a finite number >= 0 s, got {timing_sigma!r}"
            )
        c = speed_of_sound_for(temperature, speed_of_sound)
        times = self._times(arrival_times)
        e_count, n = times.shape
        d, p = self.dim, self.dim + 1
        sol = np.full((e_count, p), np.nan)
        residuals = np.full((e_count, n), np.nan)
        cov = np.full((e_count, d, d), np.nan)
        reasons = [""] * e_count
        failed = np.zeros(e_count, dtype=bool)
        mask = np.isfinite(times)
        for pattern, rows in _patterns(mask):
            pos = self.positions[pattern]
            problem = solver_problem(pos, algorithm)
            if problem:
                failed[rows] = True
                for r in rows:
                    reasons[r] = problem
                continue
            every = pattern.all() and len(rows) == e_count
            rho = c * (times if every else times[np.ix_(rows, pattern)])
            group, status = solve_events(
                pos, rho, algorithm=algorithm, center=center, pseudo=pseudo
            )
            failed[rows] = status != SOLVED
            for r in rows[status == SINGULAR_SYSTEM]:
                reasons[r] = SINGULAR
            for r in rows[status == TWOFOLD]:
                reasons[r] = AMBIGUOUS
            res = pseudorange_residuals(pos, rho, group)
            if every:
                sol, residuals = group, res
            else:
                sol[rows] = group
                residuals[np.ix_(rows, pattern)] = res
            cov[rows] = _covariance(pos, group, res, c * timing_sigma)
        n_used = mask.sum(axis=1).astype(np.int64)
        sq = np.where(mask & ~failed[:, None], residuals**2, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            rms = np.sqrt(sq.sum(axis=1) / np.where(failed, 0, n_used))
        return Localization(
            positions=np.ascontiguousarray(sol[:, :d]),
            emission_times=np.ascontiguousarray(sol[:, d] / c),
            residuals=residuals,
            residual_rms=rms,
            covariances=cov,
            n_receivers=n_used,
            reasons=tuple(reasons),
        )

    def _sources(self, sources: ArrayLike) -> F64:
        src = np.asarray(sources, dtype=np.float64)
        if src.ndim == 1:
            src = src[None, :]
        if src.ndim != 2 or src.shape[1] != self.dim:
            raise LocalizationError(
                f"sources must be {self.dim}-D positions [shape=(E, {self.dim})], got {src.shape}"
            )
        return src

    def _times(self, arrival_times: ArrayLike) -> F64:
        times = np.asarray(arrival_times, dtype=np.float64)
        if times.ndim == 1:
            times = times[None, :]
        if times.ndim != 2 or times.shape[1] != len(self):
            raise LocalizationError(
                f"arrival times need one column per receiver ({len(self)}), got shape {times.shape}"
            )
        if np.any(np.isinf(times)):
            raise LocalizationError("arrival times must be finite or NaN (missing), not infinite")
        return times

    def subset(self, names: Sequence[str]) -> ReceiverArray:
        """Return the array of the named receivers, in the given order."""
        rows = [self.index(n) for n in names]
        return ReceiverArray(self.positions[rows], tuple(names))


def _patterns(mask: NDArray[np.bool_]) -> list[tuple[NDArray[np.bool_], NDArray[np.intp]]]:
    """Group events by which receivers heard them: ``(receivers, rows)`` per pattern."""
    if mask.all():
        return [(mask[0], np.arange(len(mask)))] if len(mask) else []
    keys = mask @ (1 << np.arange(mask.shape[1], dtype=np.int64))
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return [(mask[f], np.flatnonzero(inverse == k)) for k, f in enumerate(first)]


def _covariance(positions: F64, solutions: F64, residuals: F64, sigma_floor: float) -> F64:
    """Position covariances from the Jacobian at each solution [shape=(E, d, d)]."""
    e_count, n = residuals.shape
    d = positions.shape[1]
    p = d + 1
    out = np.full((e_count, d, d), np.nan)
    ok = np.all(np.isfinite(solutions), axis=1)
    if not ok.any():
        return out
    # J = [unit vectors from the receivers to x, 1]: J.T @ J from per-axis sums
    sol = solutions[ok]
    diff = [sol[:, k : k + 1] - positions[:, k] for k in range(d)]
    dist = np.sqrt(sum((v * v for v in diff), np.zeros((len(sol), n))))
    safe = np.where(dist > 0, dist, 1.0)
    unit = [v / safe for v in diff]
    jtj = np.empty((len(sol), p, p))
    for k in range(d):
        for m in range(k, d):
            jtj[:, k, m] = jtj[:, m, k] = np.add.reduce(unit[k] * unit[m], axis=1)
        jtj[:, k, d] = jtj[:, d, k] = np.add.reduce(unit[k], axis=1)
    jtj[:, d, d] = n
    rss = np.einsum("en,en->e", residuals[ok], residuals[ok])
    scatter = rss / (n - p) if n > p else np.zeros_like(rss)
    sigma2 = np.maximum(scatter, sigma_floor**2)
    inv, undetermined = spd_inverse(jtj, condition_limit=_CONDITION_LIMIT)
    cov = sigma2[:, None, None] * inv[:, :d, :d]
    cov[undetermined] = np.inf
    out[ok] = cov
    return out
