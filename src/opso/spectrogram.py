"""The spec's ``opensoundscape.spectrogram`` module: ``Spectrogram`` (and ``MelSpectrogram``)."""

from opso.api import MelSpectrogram, Spectrogram
from opso.domain.spectrogram import Pcen

__all__ = ["MelSpectrogram", "Pcen", "Spectrogram"]
