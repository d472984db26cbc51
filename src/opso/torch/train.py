"""The spec's ``opensoundscape.torch.train`` module."""

from opso.adapters.torch_training import train

__all__ = ["train"]
