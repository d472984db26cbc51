"""The spec's ``opensoundscape.pytorch_prediction`` module: image prediction and Grad-CAM.

``predict`` here scores image files; :func:`opso.predict` scores audio datasets.
"""

from opso.adapters.torch_prediction import gradcam_region, predict_images as predict
from opso.domain.gradcam import activation_region_limits, activation_region_to_box, in_box

__all__ = [
    "activation_region_limits",
    "activation_region_to_box",
    "gradcam_region",
    "in_box",
    "predict",
]
