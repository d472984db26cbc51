"""datasets: the spec's ``opso.datasets`` module (re-exports only; one line per name)."""

from opso.datasets_labels import SplitterDataset as SplitterDataset
from opso.datasets_labels import (
    annotations_with_overlaps_with_clip as annotations_with_overlaps_with_clip,
)
from opso.datasets_labels import get_md5_digest as get_md5_digest
