"""RIBBIT use-cases: species tables into presets, and scoring many recordings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from opso.app.files import AudioJob, FileFailure
from opso.app.start_times import BEGIN_DATETIME, read_start_times
from opso.domain.errors import OpsoError, ParameterError
from opso.domain.helpers import bound
from opso.domain.ribbit import Band, PulsePreset, ribbit_presets
from opso.domain.spectral import check_window
from opso.domain.spectrogram import Spectrogram
from opso.ports.audio_io import AudioReader
from opso.ports.metadata import MetadataReader
from opso.ports.progress import Progress, no_progress
from opso.ports.tables import TableWriter

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
        raise ParameterError(f"species table lacks column(s) {missing or list(PRESET_COLUMNS)}")
    if window_len == "from_df" and "window_length" not in species_df.columns:
        raise ParameterError("species table lacks column 'window_length' (needed for 'from_df')")
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
                    raise ParameterError("window_length is empty")
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
                            raise ParameterError(f"{lo_col} is set but {hi_col} is empty")
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
            raise ParameterError(f"species table row {name!r}: {e}") from e
    return presets


def analysable(presets: Sequence[PulsePreset | None]) -> list[PulsePreset]:
    """Return the presets that can be analysed (drop the None entries)."""
    return [p for p in presets if p is not None]


#: Columns of the score table ``opso ribbit`` writes: one row per file, preset and window.
SCORE_COLUMNS = ("file", "species", "start_time", "end_time", "score")


@dataclass(frozen=True, slots=True)
class WindowScore:
    """One window's RIBBIT score for one preset on one recording."""

    file: Path
    species: str
    start_time: float
    end_time: float
    score: float


@dataclass(frozen=True, slots=True)
class TooShort:
    """A recording too short for a preset's window: it got no score for that preset.

    A window is scored when it holds at least half of ``window`` seconds of audio.
    """

    file: Path
    duration: float
    species: str
    window: float


@dataclass(slots=True)
class RibbitReport:
    """What a RIBBIT run scored, which recordings were too short and which failed.

    ``time_note`` is set when the recordings were in several time zones (times in UTC).
    """

    scores: list[WindowScore] = field(default_factory=list)
    too_short: list[TooShort] = field(default_factory=list)
    failures: list[FileFailure] = field(default_factory=list)
    time_note: str | None = None


@dataclass(frozen=True)
class ScorePulses:
    """Score recordings with RIBBIT for one or more pulsed-call presets; write one table."""

    reader: AudioReader
    tables: TableWriter
    metadata: MetadataReader | None = None

    def run(
        self,
        *,
        jobs: Sequence[AudioJob],
        presets: Sequence[PulsePreset],
        destination: Path | None,
        sample_rate: int | None = None,
        window_samples: int = 512,
        overlap_samples: int = 256,
        timezone: tzinfo | None = None,
        progress: Progress = no_progress,
    ) -> RibbitReport:
        """Score every job's recording; a file that fails is reported and the rest still run.

        A recording shorter than half a preset's window gets no score for that preset; it is
        listed in ``too_short``. Each recording is decoded once and turned into one spectrogram
        (:meth:`Spectrogram.from_audio` with ``window_samples`` and ``overlap_samples``);
        every preset is scored on it with its own bands, pulse rates and window length.

        Parameters
        ----------
        jobs
            Recordings to score.
        presets
            What to look for (at least one).
        destination
            CSV file for the table (:data:`SCORE_COLUMNS`, with ``begin_datetime`` after
            ``end_time`` when a recording's start time is known), or None to write nothing.
        sample_rate
            Resample to this rate in Hz first; None keeps each file's rate.
        window_samples, overlap_samples
            Spectrogram window and overlap in samples.
        timezone
            Zone of start times written without one (file names); None reads them as UTC.
        progress
            Told after each recording.

        Raises
        ------
        ValueError
            If there is no preset or the spectrogram settings are invalid (checked before
            any file is read).
        """
        if not presets:
            raise ParameterError("RIBBIT needs at least one preset (signal band and pulse rates)")
        check_window(window_samples, overlap_samples)
        report = RibbitReport()
        for i, job in enumerate(jobs, start=1):
            try:
                audio = self.reader.read(job.source, sample_rate=sample_rate)
                spec = Spectrogram.from_audio(
                    audio, window_samples=window_samples, overlap_samples=overlap_samples
                )
                duration = audio.duration()
                for result in ribbit_presets(spec, presets):
                    w = result.preset.window_len
                    if not len(result.scores):
                        report.too_short.append(
                            TooShort(job.source, duration, result.preset.name, w)
                        )
                    report.scores.extend(
                        WindowScore(job.source, result.preset.name, t, min(t + w, duration), s)
                        for s, t in zip(
                            result.scores.tolist(), result.start_times.tolist(), strict=True
                        )
                    )
            except (OpsoError, OSError, ValueError) as e:
                report.failures.append(FileFailure(job.source, str(e)))
            progress(i, len(jobs), str(job.source))
        if destination is not None:
            sources = [j.source for j in jobs]
            starts = read_start_times(self.metadata, sources, timezone=timezone)
            report.time_note = starts.note
            when = [BEGIN_DATETIME] if starts.known else []
            rows = [
                {
                    "file": str(r.file),
                    "species": r.species,
                    "start_time": r.start_time,
                    "end_time": r.end_time,
                    **{c: starts.at(r.file, r.start_time) for c in when},
                    "score": r.score,
                }
                for r in report.scores
            ]
            columns = [*SCORE_COLUMNS[:4], *when, *SCORE_COLUMNS[4:]]
            self.tables.write(rows, destination, columns=columns)
        return report
