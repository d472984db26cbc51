"""Selecting and reshaping label tables: multi-label expansion, splits, numeric labels, balancing.

These are the spec's ``data_selection`` functions. None of them changes its input DataFrame.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from opso.domain.errors import ParameterError

RandomState = int | np.random.Generator | None


def _rng(random_state: RandomState) -> np.random.Generator:
    """Return a generator from a seed (0 included), a generator, or None (fresh entropy)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    if name not in df.columns:
        raise KeyError(f"column {name!r} not found; columns are {list(df.columns)}")
    return df[name]


def expand_multi_labeled(
    input_df: pd.DataFrame, column_header: str = "Labels", label_separator: str = "|"
) -> pd.DataFrame:
    """Split multi-labelled rows (``"hello|world"``) into one row per label.

    Parameters
    ----------
    input_df
        A table with a multi-label column.
    column_header
        The column holding labels joined by ``label_separator``.
    label_separator
        What separates labels.

    Returns
    -------
    pandas.DataFrame
        One row per (row, label), other columns repeated, index renumbered from 0.

    Raises
    ------
    KeyError
        If ``column_header`` is not a column.
    """
    labels = _column(input_df, column_header)
    out = input_df.copy()
    out[column_header] = [
        v.split(label_separator) if isinstance(v, str) else [v] for v in labels.tolist()
    ]
    return out.explode(column_header, ignore_index=True)


def train_valid_split(
    input_df: pd.DataFrame,
    stratify_from_column: str | None = "Labels",
    train_size: float = 0.8,
    random_state: RandomState = 101,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a table into training and validation tables, stratified by a label column.

    The validation set gets ``len(df) - floor(train_size * len(df))`` rows. With
    stratification each class gets its share (largest remainders, ties broken at random),
    and every class keeps at least one training row, so a class with a single row is
    allowed: it goes to training (see ``docs/decisions/0025-stratified-split-single-rows.md``).

    Parameters
    ----------
    input_df
        The table to split.
    stratify_from_column
        Column whose values are the classes; None splits without stratifying.
    train_size
        Fraction of rows for training, ``0 < train_size < 1``.
    random_state
        Seed (0 is a seed) or a numpy Generator; None draws fresh entropy.

    Returns
    -------
    train_df, valid_df
        The two tables, rows in their original order.

    Raises
    ------
    ValueError
        If ``train_size`` is not in (0, 1).
    KeyError
        If ``stratify_from_column`` is not a column.
    """
    if not 0 < train_size < 1:
        raise ParameterError(f"train_size must be between 0 and 1, got {train_size!r}")
    rng = _rng(random_state)
    n = len(input_df)
    n_valid = n - math.floor(train_size * n + 1e-9)
    if stratify_from_column is None:
        valid_pos = rng.permutation(n)[:n_valid]
    else:
        codes, _ = pd.factorize(_column(input_df, stratify_from_column), use_na_sentinel=False)
        counts = np.bincount(codes) if n else np.zeros(0, dtype=np.int64)
        ideal = counts * (n_valid / n) if n else counts.astype(float)
        share = np.floor(ideal).astype(np.int64)
        cap = np.maximum(counts - 1, 0)  # every class keeps a training row
        share = np.minimum(share, cap)
        left = n_valid - int(share.sum())
        # Hand out the remaining validation rows by largest remainder, random tie-break.
        order = np.lexsort((rng.random(len(counts)), -(ideal - share)))
        while left > 0:
            given = 0
            for k in order:
                if left == 0:
                    break
                if share[k] < cap[k]:
                    share[k] += 1
                    left -= 1
                    given += 1
            if given == 0:
                break
        valid_pos_parts = [
            rng.permutation(np.flatnonzero(codes == k))[: share[k]] for k in range(len(counts))
        ]
        valid_pos = (
            np.concatenate(valid_pos_parts) if valid_pos_parts else np.zeros(0, dtype=np.int64)
        )
    is_valid = np.zeros(n, dtype=bool)
    is_valid[valid_pos] = True
    return input_df.iloc[~is_valid], input_df.iloc[is_valid]


def add_binary_numeric_labels(
    input_df: pd.DataFrame,
    label: str,
    input_column: str = "Labels",
    output_column: str = "NumericLabels",
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Add a 0/1 column: 1 where ``input_column`` equals ``label``.

    Returns
    -------
    output_df, label_map
        A copy with ``output_column`` added, and ``{f"not_{label}": 0, label: 1}``.

    Raises
    ------
    KeyError
        If ``input_column`` is not a column.
    """
    values = _column(input_df, input_column)
    out = input_df.copy()
    out[output_column] = (values == label).astype(np.int64)
    return out, {f"not_{label}": 0, label: 1}


def add_numeric_labels(
    input_df: pd.DataFrame, input_column: str = "Labels", output_column: str = "NumericLabels"
) -> tuple[pd.DataFrame, dict[object, int]]:
    """Add a column numbering each distinct label 0, 1, 2, ... in order of first appearance.

    Returns
    -------
    output_df, label_map
        A copy with ``output_column`` added, and the label -> number map.

    Raises
    ------
    KeyError
        If ``input_column`` is not a column.
    """
    values = _column(input_df, input_column)
    label_map = {label: i for i, label in enumerate(values.unique().tolist())}
    out = input_df.copy()
    out[output_column] = values.map(label_map).astype(np.int64)
    return out, label_map


def upsample(
    input_df: pd.DataFrame, label_column: str = "Labels", random_state: RandomState = None
) -> pd.DataFrame:
    """Balance classes by repeating rows until every class has as many as the largest.

    Each class's rows are repeated ``max_count // n`` times, then ``max_count % n`` of them
    are drawn at random without replacement to fill up.

    Parameters
    ----------
    input_df
        The table to balance.
    label_column
        Column whose values are the classes.
    random_state
        Seed (0 is a seed, not "unseeded"; see
        ``docs/decisions/0026-upsample-random-state-zero-is-a-seed.md``), a numpy Generator,
        or None for fresh entropy.

    Returns
    -------
    pandas.DataFrame
        Rows grouped by class in order of first appearance.

    Raises
    ------
    KeyError
        If ``label_column`` is not a column.
    """
    labels = _column(input_df, label_column)
    if len(input_df) == 0:
        return input_df.copy()
    rng = _rng(random_state)
    codes, _ = pd.factorize(labels, use_na_sentinel=False)
    counts = np.bincount(codes)
    max_count = int(counts.max())
    positions: list[np.ndarray] = []
    for k, n_k in enumerate(counts.tolist()):
        rows = np.flatnonzero(codes == k)
        repeats, remainder = divmod(max_count, n_k)
        positions.append(np.tile(rows, repeats))
        positions.append(np.sort(rng.choice(rows, size=remainder, replace=False)))
    return input_df.iloc[np.concatenate(positions)]
