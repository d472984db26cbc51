"""The spec's ``opensoundscape.datasets`` module."""

from opso.adapters.torch_datasets import SingleTargetAudioDataset as SingleTargetAudioDataset
