"""A cheap batch job: RMS and peak level of every clip of many recordings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from opso.app.runs import segment_clips
from opso.domain.audio import FinalClip, clip_times
from opso.domain.errors import OpsoError
from opso.domain.runs import SegmentError, Shard, ShardOutput
from opso.ports.audio_io import AudioReader

LEVEL_COLUMNS = ("file", "start_time", "end_time", "rms", "peak")


@dataclass(frozen=True)
class ClipLevels:
    """Per-clip RMS and peak amplitude (full scale = 1.0): a recorder health check at scale.

    Rows: ``file, start_time, end_time, rms, peak``, one per clip, clips as
    :meth:`Audio.split` makes them. A recording that cannot be decoded becomes an error row.

    Parameters
    ----------
    reader
        Decodes the recordings.
    clip_duration, clip_overlap, final_clip
        Clip settings in seconds, as for :meth:`Audio.split`.
    sample_rate
        Resample to this rate in Hz before measuring; None keeps each file's rate.

    Raises
    ------
    ValueError
        If the clip settings are invalid.
    """

    reader: AudioReader
    clip_duration: float
    clip_overlap: float = 0.0
    final_clip: FinalClip = None
    sample_rate: int | None = None

    def __post_init__(self) -> None:
        clip_times(self.clip_duration, self.clip_duration, self.clip_overlap, self.final_clip)

    @property
    def step(self) -> float:
        """Seconds between clip starts (the alignment of long-file segments)."""
        return self.clip_duration - self.clip_overlap

    def settings(self) -> dict[str, Any]:
        """Return everything that changes this job's rows, for the run fingerprint."""
        return {
            "job": "clip_levels",
            "clip_duration": self.clip_duration,
            "clip_overlap": self.clip_overlap,
            "final_clip": self.final_clip,
            "sample_rate": self.sample_rate,
        }

    def __call__(self, shard: Shard) -> ShardOutput:
        """Measure every clip of the shard's segments."""
        table: dict[str, list[Any]] = {c: [] for c in LEVEL_COLUMNS}
        errors: list[SegmentError] = []
        for segment in shard.segments:
            try:
                clips = segment_clips(
                    self.reader,
                    segment,
                    clip_duration=self.clip_duration,
                    clip_overlap=self.clip_overlap,
                    final_clip=self.final_clip,
                    sample_rate=self.sample_rate,
                )
            except (OpsoError, OSError, ValueError) as e:
                errors.append(SegmentError(segment.source, segment.start, segment.end, str(e)))
                continue
            name = Path(segment.source).as_posix()
            for clip in clips:
                audio = clip["audio"]
                real = round((clip["end_time"] - clip["begin_time"]) * audio.sample_rate)
                x = audio.samples[:real].astype(np.float64)  # not the loop of an extended clip
                table["file"].append(name)
                table["start_time"].append(clip["begin_time"])
                table["end_time"].append(clip["end_time"])
                table["rms"].append(float(np.sqrt(np.mean(x * x))) if x.size else 0.0)
                table["peak"].append(float(np.max(np.abs(x))) if x.size else 0.0)
        return ShardOutput(table, tuple(errors))
