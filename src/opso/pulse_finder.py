"""The spec's RIBBIT ("Pulse Finder") functions, with their ``plot`` options and DataFrames.

The maths lives in :mod:`opso.domain.ribbit`; this module adds the spec's signatures: optional
matplotlib plots of the pulse-rate spectrum, and species tables in and out as DataFrames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from opso.app.ribbit import WindowChoice, presets_from_table
from opso.domain import ribbit as _ribbit
from opso.domain.errors import ParameterError
from opso.domain.spectrogram import Spectrogram

__all__ = [
    "calculate_pulse_score",
    "pulse_finder_species_set",
    "ribbit",
    "summarize_top_scores",
]


def _plotter(
    pulse_rate_range: Sequence[float], title: str, window_len: float | None = None
) -> _ribbit.WindowObserver:
    """Return an observer that plots each pulse-rate spectrum with the range marked."""

    def plot(start: float, f: NDArray[np.float64], psd: NDArray[np.float64]) -> None:
        from matplotlib import pyplot as plt

        top = float(np.max(psd)) if psd.size else 1.0
        plt.figure()
        plt.plot(f, psd)
        for rate in pulse_rate_range:
            plt.plot([rate, rate], [0, top], "--")
        span = "" if window_len is None else f" ({start:g}-{start + window_len:g} s)"
        plt.title(f"{title}{span}")
        plt.xlabel("pulse rate (pulses/s)")
        plt.ylabel("power spectral density")
        plt.show()

    return plot


def calculate_pulse_score(
    amplitude: ArrayLike,
    amplitude_sample_rate: float,
    pulse_rate_range: Sequence[float],
    plot: bool = False,
    nfft: int = 1024,
) -> float:
    """Score amplitude pulsing: the highest power spectral density within the pulse rates.

    Parameters
    ----------
    amplitude
        Amplitude time series [shape=(n,)], e.g. a spectrogram band's net amplitude.
    amplitude_sample_rate
        Samples per second of ``amplitude`` in Hz (normally about 20-200 Hz).
    pulse_rate_range
        ``[low, high]`` pulse rates in Hz; densities strictly between them count.
    plot
        If True, plot the power spectral density with the range marked (matplotlib).
    nfft
        FFT length of the Welch power spectral density (pulse-rate resolution).

    Returns
    -------
    float
        The pulse score (>= 0); 0 when no spectrum frequency is inside the range.

    Raises
    ------
    ValueError
        If ``amplitude`` is empty or ``pulse_rate_range`` is not ``0 <= low < high``.
    """
    observer = _plotter(pulse_rate_range, "RIBBIT: power spectral density") if plot else None
    return _ribbit.calculate_pulse_score(
        amplitude, amplitude_sample_rate, pulse_rate_range, nfft=nfft, on_spectrum=observer
    )


def ribbit(
    spectrogram: Spectrogram,
    signal_band: Sequence[float],
    pulse_rate_range: Sequence[float],
    window_len: float,
    noise_bands: Sequence[Sequence[float]] | None = None,
    plot: bool = False,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Run RIBBIT: score each window of a spectrogram for periodically pulsing calls.

    For each window the net amplitude of ``signal_band`` (minus ``noise_bands``) is taken, its
    power spectral density computed, and the highest density between the pulse rates is the
    score. Window ``k`` starts at exactly ``k * window_len`` s; a final partial window is
    scored if it holds at least ``window_len / 2`` of audio (see :mod:`opso.domain.ribbit`).

    Parameters
    ----------
    spectrogram
        Spectrogram of the recording.
    signal_band
        ``[low, high]`` frequency range of the target call in Hz (pick it narrow).
    pulse_rate_range
        ``[low, high]`` pulses per second of the target call.
    window_len
        Seconds of audio per score: about the call's length, long enough for 5 pulses.
    noise_bands
        ``[[low, high], ...]`` Hz bands subtracted from the signal (low-frequency clicks, wind,
        confusion species); None for none.
    plot
        If True, plot each window's pulse-rate spectrum (matplotlib).

    Returns
    -------
    tuple of numpy.ndarray
        ``(pulse_scores, window_start_times)`` [shape=(n_windows,)].

    Raises
    ------
    ValueError
        If a band or rate range is invalid, ``window_len`` is not positive or the spectrogram
        has fewer than two frames.
    """
    observer = _plotter(pulse_rate_range, "RIBBIT", window_len) if plot else None
    return _ribbit.ribbit(
        spectrogram, signal_band, pulse_rate_range, window_len, noise_bands, on_window=observer
    )


def pulse_finder_species_set(
    spec: Spectrogram,
    species_df: pd.DataFrame,
    window_len: WindowChoice = "from_df",
    plot: bool = False,
) -> pd.DataFrame:
    """Run RIBBIT on one spectrogram for each species of a table, each with its own window.

    Parameters
    ----------
    spec
        Spectrogram of the recording.
    species_df
        One row per species; first column the species name, then ``pulse_rate_low``,
        ``pulse_rate_high``, ``low_f``, ``high_f`` (Hz), optional ``reject_low``,
        ``reject_high``, ``reject_low2``, ``reject_high2`` (noise bands, Hz) and
        ``window_length`` (s).
    window_len
        ``"from_df"``: each species' own ``window_length``; ``"dynamic"``: about five of its
        slowest pulses (0.5-10 s); a number: that many seconds for every species.
    plot
        If True, plot each window's pulse-rate spectrum.

    Returns
    -------
    pandas.DataFrame
        The table indexed by species, plus ``score`` (list per window), ``t`` (list of window
        start times), ``max_score`` and ``time_of_max_score``. A species whose
        ``pulse_rate_low`` is empty or 0 keeps empty lists and NaN.

    Raises
    ------
    ValueError
        If a column is missing or a row is invalid (the message names the species).
    """
    presets = presets_from_table(species_df, window_len)
    out = species_df.set_index(species_df.columns[0], drop=True)
    scores: list[list[float]] = []
    times: list[list[float]] = []
    best: list[float] = []
    when: list[float] = []
    for preset in presets:
        if preset is None:
            scores.append([])
            times.append([])
            best.append(math.nan)
            when.append(math.nan)
            continue
        observer = (
            _plotter(preset.pulse_rate_range, preset.name, preset.window_len) if plot else None
        )
        found, starts = _ribbit.ribbit(
            spec,
            preset.signal_band,
            preset.pulse_rate_range,
            preset.window_len,
            [list(b) for b in preset.noise_bands] or None,
            on_window=observer,
        )
        result = _ribbit.PresetScores(preset, found, starts)
        scores.append(result.scores.tolist())
        times.append(result.start_times.tolist())
        best.append(result.max_score)
        when.append(result.time_of_max_score)
    out["score"] = pd.Series(scores, index=out.index, dtype=object)
    out["t"] = pd.Series(times, index=out.index, dtype=object)
    out["max_score"] = np.asarray(best, dtype=np.float64)
    out["time_of_max_score"] = np.asarray(when, dtype=np.float64)
    return out


def _species_scores(df: pd.DataFrame) -> pd.Series[Any]:
    """Max score per species: from the index if it names species, else the first column."""
    if "max_score" not in df.columns:
        raise ParameterError("a RIBBIT result table needs a 'max_score' column")
    if isinstance(df.index, pd.RangeIndex) and df.columns[0] != "max_score":
        return pd.Series(df["max_score"].to_numpy(), index=df.iloc[:, 0].astype(str).to_numpy())
    return pd.Series(df["max_score"].to_numpy(), index=df.index.astype(str))


def summarize_top_scores(
    audio_files: Sequence[str | Path],
    list_of_result_dfs: Sequence[pd.DataFrame],
    scale_factor: float = 1.0,
) -> pd.DataFrame:
    """Tabulate the highest score of each species in each file.

    Parameters
    ----------
    audio_files
        File paths, one per result table.
    list_of_result_dfs
        Tables from :func:`pulse_finder_species_set` (species as index), or tables whose
        first column names the species; each needs a ``max_score`` column.
    scale_factor
        Multiply every score by this.

    Returns
    -------
    pandas.DataFrame
        Index ``file``, one float column per species (in order of first appearance); NaN
        where a file's table lacks the species.

    Raises
    ------
    ValueError
        If the numbers of files and tables differ, or a table has no ``max_score``.
    """
    if len(audio_files) != len(list_of_result_dfs):
        raise ParameterError(
            f"audio_files ({len(audio_files)}) and list_of_result_dfs "
            f"({len(list_of_result_dfs)}) must have the same length"
        )
    rows = [_species_scores(df) * scale_factor for df in list_of_result_dfs]
    columns: list[str] = []
    for r in rows:
        columns.extend(c for c in r.index if c not in columns)
    table = pd.DataFrame(
        [r.reindex(columns).to_numpy(dtype=np.float64) for r in rows],
        index=pd.Index([str(f) for f in audio_files], name="file"),
        columns=columns,
        dtype=np.float64,
    )
    return table
