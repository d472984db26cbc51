"""RIBBIT use-cases: species tables into presets, and scoring many recordings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import pandas as pd

from opso.domain.helpers import bound
from opso.domain.ribbit import Band, PulsePreset

WindowChoice = Literal["from_df", "dynamic"] | float

#: Columns a species table must have (the first column names the species).
PRESET_COLUMNS = ("pulse_rate_low", "pulse_rate_high", "low_f", "high_f")


def _number(value: Any) -> float | None:
    """Return a table cell as a float, or None for an empty / NaN cell."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    x = float(value)
    return None if math.isnan(x) else x


def dynamic_window(pulse_rate_low: float) -> float:
    """Return a window holding about 5 of the slowest pulses, within [0.5, 10] seconds."""
    return bound(5.0 / pulse_rate_low, (0.5, 10.0))


def presets_from_table(
    species_df: pd.DataFrame, window_len: WindowChoice = "from_df"
) -> list[PulsePreset | None]:
    """Read one RIBBIT preset per row of a species table.

    Parameters
    ----------
    species_df
        First column: species name. Columns ``pulse_rate_low``, ``pulse_rate_high``,
        ``low_f``, ``high_f`` (Hz), optional ``reject_low``/``reject_high`` and
        ``reject_low2``/``reject_high2`` (noise bands, Hz) and ``window_length`` (s).
    window_len
        ``"from_df"``: each row's own ``window_length``; ``"dynamic"``: about five of the
        row's slowest pulses (0.5-10 s); a number: that many seconds for every row.

    Returns
    -------
    list
        One :class:`PulsePreset` per row, in order; None for a row whose ``pulse_rate_low`` is
        empty or 0 (such a row cannot be analysed).

    Raises
    ------
    ValueError
        If a column is missing, or a row's values are invalid (the message names the row).
    """
    missing = [c for c in PRESET_COLUMNS if c not in species_df.columns]
    if species_df.shape[1] == 0 or missing:
        raise ValueError(f"species table lacks column(s) {missing or list(PRESET_COLUMNS)}")
    if window_len == "from_df" and "window_length" not in species_df.columns:
        raise ValueError("species table lacks column 'window_length' (needed for 'from_df')")
    name_col = species_df.columns[0]
    presets: list[PulsePreset | None] = []
    for _, row in species_df.iterrows():
        name = str(row[name_col])
        try:
            low_rate = _number(row["pulse_rate_low"])
            if low_rate is None or low_rate == 0:
                presets.append(None)
                continue
            if window_len == "from_df":
                w = _number(row["window_length"])
                if w is None:
                    raise ValueError("window_length is empty")
            elif window_len == "dynamic":
                w = dynamic_window(low_rate)
            else:
                w = float(window_len)
            noise: list[Band] = []
            for lo_col, hi_col in (("reject_low", "reject_high"), ("reject_low2", "reject_high2")):
                if lo_col in species_df.columns:
                    lo = _number(row[lo_col])
                    if lo is not None:
                        hi = _number(row.get(hi_col))
                        if hi is None:
                            raise ValueError(f"{lo_col} is set but {hi_col} is empty")
                        noise.append((lo, hi))
            presets.append(
                PulsePreset(
                    name=name,
                    signal_band=(float(row["low_f"]), float(row["high_f"])),
                    pulse_rate_range=(low_rate, float(row["pulse_rate_high"])),
                    window_len=w,
                    noise_bands=tuple(noise),
                )
            )
        except (TypeError, ValueError) as e:
            raise ValueError(f"species table row {name!r}: {e}") from e
    return presets


def analysable(presets: Sequence[PulsePreset | None]) -> list[PulsePreset]:
    """Return the presets that can be analysed (drop the None entries)."""
    return [p for p in presets if p is not None]
