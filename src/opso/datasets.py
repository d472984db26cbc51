"""datasets: the spec's ``opso.datasets`` module (re-exports only; one line per name)."""

from opso.datasets_labels import (
    SplitterDataset as SplitterDataset,
    annotations_with_overlaps_with_clip as annotations_with_overlaps_with_clip,
    get_md5_digest as get_md5_digest,
)
