"""data_selection: the spec's ``opso.data_selection`` module (re-exports)."""

from opso.app.data_selection import (
    add_binary_numeric_labels,
    add_numeric_labels,
    expand_multi_labeled,
    train_valid_split,
    upsample,
)

__all__ = [
    "add_binary_numeric_labels",
    "add_numeric_labels",
    "expand_multi_labeled",
    "train_valid_split",
    "upsample",
]
