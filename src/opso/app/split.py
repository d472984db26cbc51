"""Use-cases that split recordings into clip files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from pathlib import Path

from opso.app.files import AudioJob, FileFailure
from opso.app.start_times import BEGIN_DATETIME, in_one_zone
from opso.domain.audio import Audio, FinalClip, clip_times
from opso.domain.errors import OpsoError, ParameterError
from opso.domain.recording_info import RecordingInfo
from opso.ports.audio_io import AudioWriter, ClipReader, ClipSource
from opso.ports.metadata import MetadataReader
from opso.ports.progress import Progress, no_progress
from opso.ports.tables import TableWriter

CLIP_COLUMNS = ("clip", "source", "begin_time", "end_time")
#: Tolerance of a final clip's length, as in :meth:`Audio.split`.
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class ClipRecord:
    """One clip: the file it was (or would be) written to and its place in the source."""

    path: Path
    source: Path | None
    begin_time: float
    end_time: float


@dataclass(slots=True)
class SplitReport:
    """What a split run wrote and which recordings failed.

    ``time_note`` is set when the recordings were in several time zones (times in UTC).
    """

    clips: list[ClipRecord] = field(default_factory=list)
    failures: list[FileFailure] = field(default_factory=list)
    time_note: str | None = None


def _seconds(t: float) -> str:
    return f"{t:.3f}".rstrip("0").rstrip(".")


def check_prefix(destination: Path, prefix: str) -> None:
    """Check that clips named ``{prefix}_...`` land inside ``destination``.

    Raises
    ------
    ValueError
        If the prefix is empty, has surrounding spaces, or would lead outside ``destination``.
    """
    if not prefix or prefix.strip() != prefix:
        raise ParameterError(
            f"prefix must be a non-empty name without surrounding spaces: {prefix!r}"
        )
    probe = os.path.normpath(Path("root") / f"{prefix}_0s")
    if Path(prefix).is_absolute() or not probe.startswith("root" + os.sep):
        raise ParameterError(f"prefix {prefix!r} would write outside the destination {destination}")


def clip_path(destination: Path, prefix: str, begin_time: float, end_time: float) -> Path:
    """Return ``destination/{prefix}_{begin}s_{end}s.wav`` after :func:`check_prefix`."""
    check_prefix(destination, prefix)
    return destination / f"{prefix}_{_seconds(begin_time)}s_{_seconds(end_time)}s.wav"


@dataclass(frozen=True)
class AudioClips(ClipSource):
    """The :class:`ClipSource` of an :class:`Audio` in memory: ``writer`` writes each clip."""

    audio: Audio
    writer: AudioWriter

    def duration(self) -> float:
        """Return the length of the audio in seconds."""
        return self.audio.duration()

    def write_clip(
        self,
        begin_time: float,
        end_time: float,
        path: Path,
        *,
        length: float | None = None,
        metadata: RecordingInfo | None = None,
    ) -> None:
        """Write ``audio.trim(begin_time, end_time)`` (extended to ``length`` s) to ``path``.

        The clip carries ``metadata`` if given, else the audio's own moved to its start.
        """
        clip = self.audio.trim(begin_time, end_time)
        if metadata is not None:
            clip = replace(clip, metadata=metadata)
        self.writer.write(clip if length is None else clip.extend(length), path)


def _cut_clips(
    clips: ClipSource,
    *,
    destination: Path,
    prefix: str,
    clip_duration: float,
    clip_overlap: float = 0,
    final_clip: FinalClip = None,
    dry_run: bool = False,
    source: Path | None = None,
    metadata: RecordingInfo | None = None,
) -> list[ClipRecord]:
    """Write the clips :meth:`Audio.split` would make of ``clips`` (none if ``dry_run``).

    Each clip carries ``metadata`` (the recording's) with its start moved to the clip's.

    Returns
    -------
    list of ClipRecord
        One per clip, in time order.
    """
    times = clip_times(clips.duration(), clip_duration, clip_overlap, final_clip)
    records = [ClipRecord(clip_path(destination, prefix, b, e), source, b, e) for b, e in times]
    if not dry_run:
        for r in records:
            looped = final_clip == "extend" and r.end_time - r.begin_time < clip_duration - _EPS
            own = None if metadata is None else metadata.moved(r.begin_time)
            clips.write_clip(
                r.begin_time,
                r.end_time,
                r.path,
                length=clip_duration if looped else None,
                metadata=own,
            )
    return records


@dataclass(frozen=True)
class SplitAudio:
    """Split one :class:`Audio` into clips and write each clip file."""

    writer: AudioWriter

    def run(
        self,
        *,
        audio: Audio,
        destination: Path,
        prefix: str,
        clip_duration: float,
        clip_overlap: float = 0,
        final_clip: FinalClip = None,
        dry_run: bool = False,
        source: Path | None = None,
    ) -> list[ClipRecord]:
        """Split ``audio`` and write its clips to ``destination`` (none if ``dry_run``).

        Returns
        -------
        list of ClipRecord
            One per clip, in time order.
        """
        return _cut_clips(
            AudioClips(audio, self.writer),
            destination=destination,
            prefix=prefix,
            clip_duration=clip_duration,
            clip_overlap=clip_overlap,
            final_clip=final_clip,
            dry_run=dry_run,
            source=source,
        )


@dataclass(frozen=True)
class SplitRecordings:
    """Split many recordings into clips, carrying on past bad files, and write ``clips.csv``.

    Each recording is decoded once by ``clips`` (see :class:`ClipReader`), which writes the
    clips in the recording's own sample format where it can. With a ``metadata`` reader, each
    clip file carries its recording's metadata with its own start time, and the table gives
    ``begin_datetime`` when a recording's start is known.
    """

    clips: ClipReader
    tables: TableWriter
    metadata: MetadataReader | None = None

    def run(
        self,
        *,
        jobs: Sequence[AudioJob],
        destination: Path,
        clip_duration: float,
        clip_overlap: float = 0,
        final_clip: FinalClip = None,
        sample_rate: int | None = None,
        dry_run: bool = False,
        timezone: tzinfo | None = None,
        progress: Progress = no_progress,
    ) -> SplitReport:
        """Split every job's recording; a file that fails is reported and the rest still run.

        The clip table (``clip, source, begin_time, end_time``, then ``begin_datetime`` when
        a start time is known) goes to ``destination/clips.csv`` unless ``dry_run``;
        ``timezone`` places start times written without one (file names; None: UTC).

        Raises
        ------
        ValueError
            If the clip settings are invalid, or two jobs share a name (their clips would
            overwrite each other); both are checked before any file is read.
        """
        clip_times(clip_duration, clip_duration, clip_overlap, final_clip)  # validate up front
        named: dict[str, Path] = {}
        for job in jobs:
            if job.name in named:
                raise ParameterError(
                    f"{named[job.name]} and {job.source} would both write the clips "
                    f"{job.name}_*.wav: give each recording once, or split them separately"
                )
            named[job.name] = job.source
        report = SplitReport()
        starts: dict[str, datetime] = {}
        for i, job in enumerate(jobs, start=1):
            try:
                recording = self.clips.read_clips(job.source, sample_rate=sample_rate)
                info = None
                if self.metadata is not None:
                    info = self.metadata.read(job.source, timezone=timezone)
                    if info.start is not None:
                        starts[str(job.source)] = info.start
                made = _cut_clips(
                    recording,
                    destination=destination,
                    prefix=job.name,
                    clip_duration=clip_duration,
                    clip_overlap=clip_overlap,
                    final_clip=final_clip,
                    dry_run=dry_run,
                    source=job.source,
                    metadata=info,
                )
                if not made:
                    report.failures.append(
                        FileFailure(
                            job.source,
                            f"{recording.duration():.3f} s, shorter than one {clip_duration:g} s "
                            "clip: no clips (--final-clip remainder, full or extend keeps it)",
                        )
                    )
                report.clips.extend(made)
            except (OpsoError, OSError, ValueError) as e:
                report.failures.append(FileFailure(job.source, str(e)))
            progress(i, len(jobs), str(job.source))
        times = in_one_zone(starts)
        report.time_note = times.note
        if not dry_run:
            when = [BEGIN_DATETIME] if times.known else []
            rows = [
                {
                    "clip": c.path.relative_to(destination).as_posix(),
                    "source": str(c.source),
                    "begin_time": c.begin_time,
                    "end_time": c.end_time,
                    **{col: times.at(str(c.source), c.begin_time) for col in when},
                }
                for c in report.clips
            ]
            columns = [*CLIP_COLUMNS, *when]
            self.tables.write(rows, destination / "clips.csv", columns=columns)
        return report
