"""The spec's ``opensoundscape.torch.tensor_augment`` module (SpecAugment)."""

from opso.adapters.torch_augment import freq_mask, time_mask, time_warp

__all__ = ["freq_mask", "time_mask", "time_warp"]
