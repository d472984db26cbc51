"""The spec's ``opensoundscape.localization`` module: TDOA localization of sound events."""

from __future__ import annotations

from opso.domain.localization import calc_speed_of_sound, localize, lorentz_ip, travel_time
from opso.domain.receivers import Localization, ReceiverArray

__all__ = [
    "Localization",
    "ReceiverArray",
    "calc_speed_of_sound",
    "localize",
    "lorentz_ip",
    "travel_time",
]
