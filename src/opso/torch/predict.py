"""The spec's ``opensoundscape.torch.predict`` module (plus ``embed``)."""

from opso.adapters.torch_prediction import embed, predict

__all__ = ["embed", "predict"]
