import pytest
import torch

from opso.adapters.torch_augment import augment_batch, freq_mask, time_mask, time_warp
from opso.domain.errors import ClassifierInputError


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_time_warp_keeps_shape_range_and_input() -> None:
    x = torch.rand(3, 1, 40, 80)
    before = x.clone()
    y = time_warp(x, W=8, generator=_g())
    assert y.shape == x.shape
    assert torch.equal(x, before)
    assert y.min() >= x.min() and y.max() <= x.max()
    assert not torch.equal(x, y)


def test_time_warp_moves_time_not_frequency() -> None:
    # each row constant in time: any time warp leaves it unchanged
    rows = torch.linspace(0, 1, 30)[:, None].expand(30, 60).clone()
    y = time_warp(rows[None, None], W=10, generator=_g(1))
    torch.testing.assert_close(y[0, 0], rows, atol=1e-5, rtol=0)


def test_time_warp_zero_is_identity_and_bad_input_raises() -> None:
    x = torch.rand(2, 20, 30)
    assert torch.equal(time_warp(x, W=0), x)
    with pytest.raises(ValueError, match="columns"):
        time_warp(torch.rand(1, 5, 6), W=5)
    with pytest.raises(ClassifierInputError):
        time_warp(torch.ones(5, dtype=torch.int64))


def test_time_mask_blanks_whole_columns_with_the_mean() -> None:
    x = torch.rand(16, 1, 20, 50)
    y = time_mask(x, T=20, max_masks=3, generator=_g(2))
    changed = y != x
    # a masked column is masked over every frequency row, never partly
    col_changed = changed.any(dim=-2)
    col_full = changed.all(dim=-2)
    assert torch.equal(col_changed, col_full)
    assert col_full.sum() > 0
    means = x.mean(dim=(-2, -1))
    for i in range(16):
        cols = col_full[i, 0].nonzero().flatten()
        if cols.numel():
            torch.testing.assert_close(y[i, 0][:, cols], means[i, 0].expand(20, cols.numel()))


def test_freq_mask_blanks_whole_rows_and_zero_option() -> None:
    x = torch.rand(16, 30, 40) + 1.0
    y = freq_mask(x, F=10, max_masks=2, replace_with_zero=True, generator=_g(3))
    changed = y != x
    assert torch.equal(changed.any(dim=-1), changed.all(dim=-1))
    assert changed.any()
    assert (y[changed] == 0).all()


def test_masks_respect_width_limit() -> None:
    x = torch.rand(64, 10, 100)
    y = time_mask(x, T=7, max_masks=1, generator=_g(4))
    widths = (y != x).all(dim=-2).sum(dim=-1)
    assert widths.max() <= 7


def test_augment_batch_repeats_first_channel() -> None:
    x = torch.rand(2, 3, 64, 64)
    y = augment_batch(x, generator=_g(5))
    assert y.shape == x.shape
    assert torch.equal(y[:, 0], y[:, 1]) and torch.equal(y[:, 0], y[:, 2])
