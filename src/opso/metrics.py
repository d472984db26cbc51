"""The spec's ``opensoundscape.metrics`` module."""

from opso.domain.metrics import Metrics, MultiTargetMetrics

__all__ = ["Metrics", "MultiTargetMetrics"]
