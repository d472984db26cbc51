"""Use-case: score long recordings with a trained classifier, streaming rows to a table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from opso.app.files import AudioJob, FileFailure, decoded_ahead, failure_reason
from opso.app.start_times import BEGIN_DATETIME, read_start_times
from opso.domain.audio import clip_times, clip_windows
from opso.domain.errors import ParameterError
from opso.ports.audio_io import AudioReader
from opso.ports.classifier import ClassifierStore
from opso.ports.metadata import MetadataReader
from opso.ports.progress import Progress, no_progress
from opso.ports.rows import RowSink, RowStream

#: Columns before the class scores; ``error`` comes after them.
KEY_COLUMNS = ("file", "start_time", "end_time")
PredictFinalClip = Literal["full", "extend"] | None


@dataclass(slots=True)
class PredictReport:
    """What a prediction run wrote."""

    output: Path
    files: int = 0
    clips: int = 0
    failures: list[FileFailure] = field(default_factory=list)
    time_note: str | None = None


@dataclass(slots=True)
class _Pending:
    rows: list[dict[str, object]] = field(default_factory=list)
    clips: list[NDArray[np.float32]] = field(default_factory=list)
    clip_rows: list[int] = field(default_factory=list)
    finished: int = 0  # rows[:finished] belong to recordings whose clips are all in rows


@dataclass(frozen=True)
class PredictScores:
    """Score every clip of every recording; a bad file gets one row with NaN scores.

    With a ``metadata`` reader, rows of recordings whose start time is known also get the
    moment each clip begins (``begin_datetime``).
    """

    reader: AudioReader
    store: ClassifierStore
    sink: RowSink
    metadata: MetadataReader | None = None

    def run(
        self,
        *,
        model: Path,
        jobs: Sequence[AudioJob],
        output: Path,
        clip_duration: float | None = None,
        clip_overlap: float = 0.0,
        final_clip: PredictFinalClip = None,
        batch_size: int = 16,
        timezone: tzinfo | None = None,
        progress: Progress = no_progress,
    ) -> PredictReport:
        """Decode each recording once, cut its clips in memory, score them in batches.

        Parameters
        ----------
        model
            The model file, loaded through the store.
        jobs
            Recordings to score, in output order.
        output
            Score table (``file, start_time, end_time[, begin_datetime], <classes>, error``);
            rows are streamed
            to a partial file renamed to ``output`` when the run ends. If the run is interrupted
            (Ctrl-C), the rows of the recordings scored to the end are kept in
            ``<stem>.partial<suffix>`` (``scores.partial.csv``).
        clip_duration
            Seconds per clip (default: the model's).
        clip_overlap
            Overlap of consecutive clips in seconds.
        final_clip
            Audio after the last full clip: None drops it; ``"full"`` adds a clip ending at
            the end of the recording; ``"extend"`` loops the remainder to a full clip. A
            recording shorter than one clip is looped to one clip whatever ``final_clip`` is.
        batch_size
            Clips per model call (batches span recordings).
        timezone
            Zone of start times written without one (file names); None reads them as UTC.
        progress
            Told after each recording.

        Returns
        -------
        PredictReport
            Counts and the failed recordings (also in the table's ``error`` column).

        Raises
        ------
        ValueError
            If the clip settings or batch size are invalid (checked before any file is read).
        """
        classifier = self.store.load(model)
        config = classifier.config
        pre = config.preprocessing
        duration = pre.clip_duration if clip_duration is None else clip_duration
        if batch_size < 1:
            raise ParameterError(f"batch_size must be >= 1, got {batch_size}")
        if final_clip not in (None, "full", "extend"):
            raise ParameterError(f"final_clip must be None, 'full' or 'extend', got {final_clip!r}")
        clip_times(duration, duration, clip_overlap, final_clip)  # validate up front
        n = round(duration * pre.sample_rate)
        classes = list(config.classes)
        starts = read_start_times(self.metadata, (j.source for j in jobs), timezone=timezone)
        when = [BEGIN_DATETIME] if starts.known else []
        columns = [*KEY_COLUMNS, *when, *classes, "error"]
        report = PredictReport(output=output, time_note=starts.note)
        pending = _Pending()

        def flush(stream: RowStream) -> None:
            if pending.clips:
                scores = classifier.predict(np.stack(pending.clips))
                for row_index, row_scores in zip(pending.clip_rows, scores, strict=True):
                    pending.rows[row_index].update(zip(classes, row_scores.tolist(), strict=True))
            # rows of recordings already finished, then a checkpoint, then the current one's
            stream.write(pending.rows[: pending.finished])
            stream.checkpoint()
            stream.write(pending.rows[pending.finished :])
            pending.rows.clear()
            pending.clips.clear()
            pending.clip_rows.clear()
            pending.finished = 0

        def fail(source: Path, reason: str) -> None:
            report.failures.append(FileFailure(source, reason))
            row: dict[str, object] = {"file": str(source), "error": reason}
            row.update(dict.fromkeys(classes, math.nan))
            pending.rows.append(row)

        with self.sink.open(output, columns=columns) as stream:
            for i, (job, result) in enumerate(
                decoded_ahead(self.reader, jobs, pre.sample_rate), start=1
            ):
                report.files += 1
                if isinstance(result, BaseException):
                    fail(job.source, failure_reason(result))
                else:
                    times = clip_times(result.duration(), duration, clip_overlap, final_clip)
                    if not times:  # shorter than one clip: scored once, looped
                        times = [(0.0, round(result.duration(), 9))]
                    clips = clip_windows(result.samples, result.sample_rate, times, n)
                    for (begin, end), clip in zip(times, clips, strict=True):
                        pending.clip_rows.append(len(pending.rows))
                        pending.rows.append(
                            {
                                "file": str(job.source),
                                "start_time": begin,
                                "end_time": end,
                                **{c: starts.at(job.source, begin) for c in when},
                                "error": "",
                            }
                        )
                        pending.clips.append(clip)
                        report.clips += 1
                        if len(pending.clips) >= batch_size:
                            flush(stream)
                pending.finished = len(pending.rows)
                progress(i, len(jobs), str(job.source))
            flush(stream)
        return report
