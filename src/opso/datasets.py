"""The spec's ``opensoundscape.datasets`` module (re-exports; the torch dataset loads lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opso.datasets_labels import (
    SplitterDataset as SplitterDataset,
    annotations_with_overlaps_with_clip as annotations_with_overlaps_with_clip,
    get_md5_digest as get_md5_digest,
)

if TYPE_CHECKING:
    from opso.adapters.torch_datasets import SingleTargetAudioDataset as SingleTargetAudioDataset


def __getattr__(name: str) -> Any:
    if name == "SingleTargetAudioDataset":
        from opso.adapters.torch_datasets import SingleTargetAudioDataset

        return SingleTargetAudioDataset
    raise AttributeError(f"module 'opso.datasets' has no attribute {name!r}")
