"""CNN architectures by name and the opso model file format."""

from opso.adapters.torch_classifier import TorchClassifier, load_classifier
from opso.adapters.torch_models import build_architecture, load_model, save_model

__all__ = ["TorchClassifier", "build_architecture", "load_classifier", "load_model", "save_model"]
