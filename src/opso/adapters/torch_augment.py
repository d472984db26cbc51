"""SpecAugment on torch tensors: time warp, time masks and frequency masks.

After Park et al. (2019), https://arxiv.org/abs/1904.08779. Each function takes a tensor whose
last two dimensions are (frequency, time) -- e.g. a batch [shape=(batch, channels, freq,
time)] -- and returns a new tensor of the same shape; the input is never modified. Every
sample of a batch gets its own random draw. Pass a ``torch.Generator`` for repeatable draws.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias

from opso.domain.errors import ClassifierInputError, ParameterError

_EPS = 1e-10


def _check(spec: torch.Tensor) -> None:
    if not isinstance(spec, torch.Tensor) or spec.ndim < 2 or not spec.is_floating_point():
        raise ClassifierInputError(
            "spectrogram augmentation needs a float tensor [..., freq, time], got "
            f"{type(spec).__name__} {getattr(spec, 'shape', '')}"
        )


def _randint(low: int, high: int, size: tuple[int, ...], g: torch.Generator | None) -> torch.Tensor:
    """Uniform integers in ``[low, high]`` (inclusive)."""
    return torch.randint(low, high + 1, size, generator=g)


def _phi(r2: torch.Tensor) -> torch.Tensor:
    """Return the order-2 polyharmonic (thin-plate) kernel r^2 log r, from squared distances."""
    return 0.5 * r2 * torch.log(r2.clamp_min(_EPS))


def _spline_flow(centers: torch.Tensor, flows: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
    """Interpolate ``flows`` [n, 2] given at ``centers`` [n, 2] onto ``queries`` [m, 2].

    Fits a thin-plate spline with an affine part by solving its linear system with
    ``torch.linalg.solve``.
    """
    n = centers.shape[0]
    a = _phi(torch.cdist(centers, centers).square())
    b = torch.cat([centers, torch.ones(n, 1, dtype=centers.dtype)], dim=1)
    lhs = torch.zeros(n + 3, n + 3, dtype=centers.dtype)
    lhs[:n, :n] = a
    lhs[:n, n:] = b
    lhs[n:, :n] = b.T
    rhs = torch.zeros(n + 3, 2, dtype=centers.dtype)
    rhs[:n] = flows
    sol = torch.linalg.solve(lhs, rhs)
    w, v = sol[:n], sol[n:]
    q = torch.cat([queries, torch.ones(queries.shape[0], 1, dtype=queries.dtype)], dim=1)
    flow: torch.Tensor = _phi(torch.cdist(queries, centers).square()) @ w + q @ v
    return flow


def _boundary_points(height: int, width: int) -> torch.Tensor:
    """Corners and edge midpoints of an image, as (row, col) pairs."""
    ys = (0.0, (height - 1) / 2, height - 1.0)
    xs = (0.0, (width - 1) / 2, width - 1.0)
    pts = [(y, x) for y in ys for x in xs if y in (ys[0], ys[2]) or x in (xs[0], xs[2])]
    return torch.tensor(pts, dtype=torch.float64)


def time_warp(
    spec: torch.Tensor,
    W: int = 5,  # noqa: N803 - the paper's and the spec's name
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Warp each spectrogram in time: a random column moves by up to ``W`` columns.

    A point on the centre row at a random time ``t0`` in ``[W, n_time - W)`` moves to
    ``t0 + d`` with ``d`` uniform in ``[-W, W]``; the edges stay fixed and a thin-plate spline
    spreads the shift smoothly. Values are resampled bilinearly, so they stay within the
    input's range; rows (frequencies) never move.

    Parameters
    ----------
    spec
        Float tensor [shape=(..., n_freq, n_time)].
    W
        Largest shift in columns (0 returns a copy).
    generator
        Random source (None: torch's global one).

    Raises
    ------
    ClassifierInputError
        If ``spec`` is not a float tensor with at least two dimensions.
    ValueError
        If ``W`` is negative or the spectrogram has fewer than ``2 * W + 1`` columns.
    """
    _check(spec)
    if W < 0:
        raise ParameterError(f"W must be >= 0, got {W}")
    out = spec.clone()
    if W == 0:
        return out
    height, width = spec.shape[-2:]
    if width < 2 * W + 1:
        raise ParameterError(f"time_warp with W={W} needs at least {2 * W + 1} time columns")
    flat = out.reshape(-1, *spec.shape[-3:]) if spec.ndim >= 3 else out.reshape(1, 1, *spec.shape)
    if flat.ndim == 3:
        flat = flat.unsqueeze(1)
    boundary = _boundary_points(height, width)
    rows = torch.arange(height, dtype=torch.float64)
    cols = torch.arange(width, dtype=torch.float64)
    grid_y, grid_x = torch.meshgrid(rows, cols, indexing="ij")
    queries = torch.stack([grid_y.reshape(-1), grid_x.reshape(-1)], dim=1)
    centre = (height - 1) / 2
    grids = []
    for _ in range(flat.shape[0]):
        t0 = float(_randint(W, width - W - 1, (1,), generator).item())
        d = float(_randint(-W, W, (1,), generator).item())
        dest = torch.tensor([[centre, t0 + d]], dtype=torch.float64)
        centers = torch.cat([dest, boundary])
        flows = torch.zeros_like(centers)
        flows[0, 1] = d
        flow = _spline_flow(centers, flows, queries)  # output(x) = input(x - flow(x))
        src_x = queries[:, 1] - flow[:, 1]
        src_y = queries[:, 0]
        gx = 2 * src_x / max(width - 1, 1) - 1
        gy = 2 * src_y / max(height - 1, 1) - 1
        grids.append(torch.stack([gx, gy], dim=1).reshape(height, width, 2))
    grid = torch.stack(grids).to(dtype=flat.dtype, device=flat.device)
    warped = F.grid_sample(flat, grid, mode="bilinear", padding_mode="border", align_corners=True)
    lo = flat.amin(dim=(-2, -1), keepdim=True)
    hi = flat.amax(dim=(-2, -1), keepdim=True)
    warped = torch.minimum(torch.maximum(warped, lo), hi)  # guard against rounding
    return warped.reshape(spec.shape)


def _mask(
    spec: torch.Tensor,
    width: int,
    max_masks: int,
    replace_with_zero: bool,
    dim: int,
    generator: torch.Generator | None,
) -> torch.Tensor:
    _check(spec)
    if width < 0 or max_masks < 0:
        raise ParameterError(f"mask width and max_masks must be >= 0, got {width}, {max_masks}")
    out = spec.clone()
    length = spec.shape[dim]
    if width == 0 or max_masks == 0 or length == 0:
        return out
    flat = out.reshape(-1, *spec.shape[-2:])
    n = flat.shape[0]
    fill = torch.zeros(n) if replace_with_zero else flat.mean(dim=(-2, -1))
    positions = torch.arange(length)
    n_masks = _randint(1, max_masks, (n,), generator)
    for k in range(max_masks):
        size = _randint(0, min(width, length), (n,), generator)
        start = (torch.rand(n, generator=generator) * (length - size + 1)).long()
        active = (k < n_masks) & (size > 0)
        hit = (positions[None, :] >= start[:, None]) & (
            positions[None, :] < (start + size)[:, None]
        )
        hit &= active[:, None]
        hit = hit.to(flat.device)
        shape = (n, length, 1) if dim == -2 else (n, 1, length)
        flat = torch.where(hit.reshape(shape), fill.to(flat)[:, None, None], flat)
    return flat.reshape(spec.shape)


def time_mask(
    spec: torch.Tensor,
    T: int = 40,  # noqa: N803 - the paper's and the spec's name
    max_masks: int = 1,
    replace_with_zero: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Blank random time spans (whole columns) of each spectrogram.

    Each sample gets between 1 and ``max_masks`` masks, each ``0..T`` columns wide, filled
    with the sample's mean (or 0 with ``replace_with_zero``).

    Parameters
    ----------
    spec
        Float tensor [shape=(..., n_freq, n_time)].
    T
        Widest mask in columns.
    max_masks
        Most masks per sample.
    replace_with_zero
        Fill with 0 instead of the mean.
    generator
        Random source (None: torch's global one).
    """
    return _mask(spec, T, max_masks, replace_with_zero, -1, generator)


def freq_mask(
    spec: torch.Tensor,
    F: int = 30,  # noqa: N803 - the paper's and the spec's name
    max_masks: int = 1,
    replace_with_zero: bool = False,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Blank random frequency bands (whole rows) of each spectrogram.

    Each sample gets between 1 and ``max_masks`` masks, each ``0..F`` rows tall, filled with
    the sample's mean (or 0 with ``replace_with_zero``).

    Parameters
    ----------
    spec
        Float tensor [shape=(..., n_freq, n_time)].
    F
        Tallest mask in rows.
    max_masks
        Most masks per sample.
    replace_with_zero
        Fill with 0 instead of the mean.
    generator
        Random source (None: torch's global one).
    """
    return _mask(spec, F, max_masks, replace_with_zero, -2, generator)


def augment_batch(x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the training-time SpecAugment of :func:`opso.torch.train.train` to a batch.

    Time warp (W=10), up to 5 time masks (T=50) and up to 5 frequency masks (F=50) on the
    first channel, which is then repeated over all channels. [shape=(batch, channels, H, W)]
    """
    first = x[:, :1]
    w = min(10, (x.shape[-1] - 1) // 2)
    first = time_warp(first, W=w, generator=generator)
    first = time_mask(first, T=min(50, x.shape[-1]), max_masks=5, generator=generator)
    first = freq_mask(first, F=min(50, x.shape[-2]), max_masks=5, generator=generator)
    return first.expand_as(x).contiguous()
