"""Use-cases over recordings' clock times: read the audio of a moment, find who covers a range.

A recording's start comes from its metadata (:class:`~opso.ports.metadata.MetadataReader`) and
its length from its header, so no samples are decoded to place it in time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from pathlib import Path

from opso.app.files import FileFailure, failure_reason
from opso.domain.audio import Audio
from opso.domain.errors import OpsoError, ParameterError, StartTimeUnknownError
from opso.domain.recording_info import RecordingInfo
from opso.domain.recording_span import RecordingSpan, aware_moment
from opso.ports.audio_io import AudioReader
from opso.ports.metadata import MetadataReader


def _span(path: Path, info: RecordingInfo, duration: float) -> RecordingSpan:
    """Return the span of ``path``, or raise naming it when its start is unknown."""
    if info.start is None:
        why = "; ".join(info.warnings) or "no metadata and no YYYYMMDD_HHMMSS in its name"
        raise StartTimeUnknownError(f"{path}: start time unknown ({why})")
    return RecordingSpan(path, info.start, duration)


@dataclass(frozen=True)
class ReadAtTime:
    """Read a recording, or the part of it from a moment on the clock, with its metadata."""

    reader: AudioReader
    metadata: MetadataReader

    def run(
        self,
        *,
        path: Path,
        start_timestamp: datetime | str | None = None,
        offset: float = 0.0,
        duration: float | None = None,
        sample_rate: int | None = None,
        resample_type: str = "kaiser_fast",
        max_duration: float | None = None,
        timezone: tzinfo | None = None,
    ) -> Audio:
        """Decode ``duration`` s from ``start_timestamp`` (or from ``offset`` s).

        Parameters
        ----------
        path
            The recording.
        start_timestamp
            Time-zone-aware moment to start at; the recording's start comes from its metadata.
        offset
            Seconds from the file's start, when ``start_timestamp`` is None.
        duration
            Seconds to read; None reads to the end. A stretch past the end is cut there.
        sample_rate, resample_type, max_duration
            As :meth:`AudioReader.read`.
        timezone
            Time zone of times written without one (file names).

        Returns
        -------
        Audio
            The samples, with ``metadata.start`` the moment of the first one (None if unknown).

        Raises
        ------
        ParameterError
            If both ``start_timestamp`` and ``offset`` are given, the moment has no time zone,
            or it lies outside the recording (naming the span the file covers).
        StartTimeUnknownError
            If ``start_timestamp`` is given and the recording's start is unknown.
        OpsoLoadAudioInputError, FileNotFoundError
            As the reader raises for the file.
        """
        moment = None
        if start_timestamp is not None:
            if offset:
                raise ParameterError("give start_timestamp or offset, not both")
            moment = aware_moment(start_timestamp)
        header = self.reader.info(path)  # refuses what is not a regular audio file first
        info = self.metadata.read(path, timezone=timezone)
        if moment is not None:
            offset = _span(path, info, header.duration).offset_of(moment)
        audio = self.reader.read(
            path,
            sample_rate=sample_rate,
            resample_type=resample_type,
            max_duration=max_duration,
            offset=offset,
            duration=duration,
        )
        first = round(offset * header.sample_rate) / header.sample_rate
        return replace(audio, metadata=info.moved(first))


@dataclass(frozen=True, slots=True)
class Coverage:
    """The part of a time range one recording holds.

    ``start_time`` and ``end_time`` are seconds from the recording's start, ready for
    ``Audio.from_file(path, offset=start_time, duration=end_time - start_time)``.
    """

    path: Path
    recording_start: datetime
    recording_end: datetime
    start_time: float
    end_time: float


@dataclass(frozen=True, slots=True)
class CoverReport:
    """The recordings that cover a range, in order of start, and those that could not say."""

    covering: list[Coverage] = field(default_factory=list)
    unknown_start: list[Path] = field(default_factory=list)
    failures: list[FileFailure] = field(default_factory=list)


@dataclass(frozen=True)
class FindRecordings:
    """Find which recordings hold audio of a range of clock time."""

    reader: AudioReader
    metadata: MetadataReader

    def run(
        self,
        *,
        recordings: Sequence[Path],
        start: datetime | str,
        end: datetime | str,
        timezone: tzinfo | None = None,
    ) -> CoverReport:
        """Place every recording in time (no audio decoded); keep those that share the range.

        Parameters
        ----------
        recordings
            Audio files.
        start, end
            The range ``[start, end)``, time-zone aware (zones may differ).
        timezone
            Time zone of times written without one (file names).

        Raises
        ------
        ParameterError
            If a bound has no time zone or ``end`` is not after ``start``.
        """
        begin, stop = aware_moment(start, name="start"), aware_moment(end, name="end")
        if not stop > begin:
            raise ParameterError(f"end {stop.isoformat()} must be after start {begin.isoformat()}")
        report = CoverReport()
        for path in recordings:
            try:
                duration = self.reader.info(path).duration
                info = self.metadata.read(path, timezone=timezone)
            except (OpsoError, OSError) as e:
                report.failures.append(FileFailure(path, failure_reason(e)))
                continue
            if info.start is None:
                report.unknown_start.append(path)
                continue
            span = RecordingSpan(path, info.start, duration)
            part = span.overlap(begin, stop)
            if part is not None:
                report.covering.append(Coverage(path, span.start, span.end, *part))
        report.covering.sort(key=lambda c: (c.recording_start, str(c.path)))
        return report
