"""Use-cases for resumable batch runs: plan shards, run the missing ones, report and export.

A run directory holds::

    fingerprint.json     the settings that change results, their SHA-256, the engines used
    manifest.parquet     the frozen shard plan: shard, source, start, end, duration
    parts/part-NNNNNN.parquet    the rows of each finished shard (written atomically)
    errors/part-NNNNNN.parquet   the failed segments of a shard (a failed shard has no rows part)
    errors/unreadable.parquet    files whose header could not be read when planning
    ledger/shard-NNNNNN.json     the record of a shard's parts: only recorded parts count
    summary.json         progress, failures and throughput after the latest invocation
    run.lock             held by the invocation that runs (job-array tasks: locks/ too)
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from opso.domain.audio import Audio, Clip, FinalClip
from opso.domain.errors import (
    OpsoError,
    OpsoLoadAudioInputError,
    ParameterError,
    RunDirectoryError,
    RunMismatchError,
)
from opso.domain.runs import (
    Manifest,
    Segment,
    SegmentError,
    Shard,
    ShardFailure,
    ShardOutcome,
    ShardOutput,
    ShardReport,
    canonical_settings,
    fingerprint,
    has_undecodable,
    plan_shards,
    select_shards,
    settings_diff,
)
from opso.ports.audio_io import AudioReader
from opso.ports.progress import Progress, no_progress
from opso.ports.runner import BatchRunner, PartStore, RunStore, ShardJob

if TYPE_CHECKING:
    import pandas as pd

#: Bumped when the run directory layout or the meaning of its settings changes.
RUN_FORMAT = 2


def file_sha256(path: Path) -> str:
    """Return the SHA-256 hex digest of a file's bytes (e.g. a model file for a fingerprint)."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def sources_digest(sources: Sequence[Path]) -> str:
    """Return the SHA-256 of the input list (paths in order), so a resume checks the same inputs."""
    h = hashlib.sha256()
    for s in sources:
        h.update(str(s).encode("utf-8", "surrogateescape") + b"\0")
    return h.hexdigest()


def segment_clips(
    reader: AudioReader,
    segment: Segment,
    *,
    clip_duration: float,
    clip_overlap: float = 0.0,
    final_clip: FinalClip = None,
    sample_rate: int | None = None,
) -> list[Clip]:
    """Decode a segment's window once and slice its clips in memory.

    Clip ``(begin, end)`` covers samples ``round(begin * sr)`` to ``round(end * sr)`` of the
    recording, exactly as :meth:`Audio.split` on the whole file does (without resampling; a
    resampled window can differ from a whole-file resample in its first and last samples).

    Raises
    ------
    OpsoLoadAudioInputError
        If the file is unreadable or holds less audio than its header says.
    FileNotFoundError
        If the file is gone.
    """
    times = segment.clip_times(clip_duration, clip_overlap, final_clip)
    if not times:
        return []
    first, last = times[0][0], max(e for _, e in times)
    whole = first == 0 and segment.is_last
    audio = reader.read(
        Path(segment.source),
        sample_rate=sample_rate,
        offset=first,
        duration=None if whole else last - first,
    )
    sr = audio.sample_rate
    origin = round(first * sr)
    samples = audio.samples
    need = round(last * sr) - origin
    if len(samples) < need - max(2, sr // 1000):
        raise OpsoLoadAudioInputError(
            f"{segment.source}: audio ends at {(origin + len(samples)) / sr:.3f} s, "
            f"the header says {segment.duration:.3f} s"
        )
    clips: list[Clip] = []
    for begin, end in times:
        clip = Audio(samples[round(begin * sr) - origin : round(end * sr) - origin], sr)
        if final_clip == "extend" and end - begin < clip_duration - 1e-9:
            clip = clip.extend(clip_duration)
        clips.append(Clip(audio=clip, begin_time=begin, end_time=end))
    return clips


@dataclass(frozen=True)
class StoreShard:
    """The task a runner executes per shard: run the job, store its part, report back."""

    job: ShardJob
    parts: PartStore
    run_dir: Path

    def __call__(self, shard: Shard) -> ShardReport:
        """Compute ``shard`` and write its parts; return its report."""
        started = time.time()
        out = self.job(shard)
        errors = tuple(replace(e, shard=shard.index) for e in out.errors)
        report = ShardReport(
            shard=shard.index,
            rows=out.n_rows,
            errors=len(errors),
            files=shard.files,
            audio_seconds=shard.audio_seconds,
            started=started,
            finished=time.time(),
            worker=f"{socket.gethostname()}:{os.getpid()}",
        )
        self.parts.write_part(self.run_dir, shard, ShardOutput(out.columns, errors), report)
        return report


@dataclass(frozen=True, slots=True)
class RunProgress:
    """Where a run stands, from its run directory alone."""

    run_dir: Path
    fingerprint: str
    shards: int
    shards_done: int
    shards_failed: int
    files: int
    unreadable: int
    audio_seconds: float
    audio_seconds_done: float
    rows: int
    errors: list[SegmentError]
    busy_seconds: float
    files_done: int
    last_finished: float | None

    @property
    def complete(self) -> bool:
        """Whether every shard has its rows part."""
        return self.shards_done == self.shards

    @property
    def files_per_second(self) -> float:
        """Files finished per second of wall time while parts were being written."""
        return self.files_done / self.busy_seconds if self.busy_seconds > 0 else 0.0

    @property
    def realtime_factor(self) -> float:
        """Seconds of audio processed per second of wall time."""
        return self.audio_seconds_done / self.busy_seconds if self.busy_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return the figures as plain JSON values (for ``summary.json``)."""
        return {
            "fingerprint": self.fingerprint,
            "complete": self.complete,
            "shards": self.shards,
            "shards_done": self.shards_done,
            "shards_failed": self.shards_failed,
            "files": self.files,
            "unreadable": self.unreadable,
            "audio_seconds": round(self.audio_seconds, 3),
            "audio_seconds_done": round(self.audio_seconds_done, 3),
            "rows": self.rows,
            "errors": len(self.errors),
            "busy_seconds": round(self.busy_seconds, 3),
            "files_per_second": round(self.files_per_second, 3),
            "realtime_factor": round(self.realtime_factor, 3),
        }


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one invocation of :class:`RunBatch` did, and where the whole run stands."""

    progress: RunProgress
    ran: int
    skipped: int
    failures: list[ShardFailure] = field(default_factory=list)
    seconds: float = 0.0
    #: Warnings for the user: a changed engine, a lock taken over from a run that is gone.
    notes: list[str] = field(default_factory=list)
    #: Rows written to the ``export`` file, or None when not exported (run incomplete).
    exported: int | None = None


def _busy_seconds(reports: Sequence[ShardReport]) -> float:
    """Length of the union of the parts' ``[started, finished]`` intervals."""
    total, end = 0.0, -np.inf
    for r in sorted(reports, key=lambda r: r.started):
        if r.finished > end:
            total += r.finished - max(r.started, end)
            end = r.finished
    return float(total)


@dataclass(frozen=True)
class RunStatus:
    """Report a run's progress, failures and throughput from its run directory."""

    store: RunStore
    parts: PartStore

    def run(self, *, run_dir: Path) -> RunProgress:
        """Read ``run_dir`` and summarize it.

        Raises
        ------
        RunDirectoryError
            If ``run_dir`` holds no planned run.
        """
        settings = self.store.read_fingerprint(run_dir)
        manifest = self.store.read_manifest(run_dir)
        if settings is None or manifest is None:
            raise RunDirectoryError(f"{run_dir}: not a run directory (no fingerprint or manifest)")
        done = self.parts.completed(run_dir)
        reports = [r for r in self.parts.reports(run_dir) if r.shard in done]
        errors = self.parts.read_errors(run_dir)
        failed = {e.shard for e in errors if e.shard >= 0} - done
        by_index = {s.index: s for s in manifest.shards}
        return RunProgress(
            run_dir=run_dir,
            fingerprint=fingerprint(settings),
            shards=len(manifest.shards),
            shards_done=len(done & by_index.keys()),
            shards_failed=len(failed),
            files=manifest.files,
            unreadable=len(manifest.unreadable),
            audio_seconds=manifest.audio_seconds,
            audio_seconds_done=sum(by_index[i].audio_seconds for i in done if i in by_index),
            rows=sum(r.rows for r in reports),
            errors=errors,
            busy_seconds=_busy_seconds(reports),
            files_done=sum(r.files for r in reports),
            last_finished=max((r.finished for r in reports), default=None),
        )


@dataclass(frozen=True)
class RunBatch:
    """Run a job over many recordings in a resumable run directory, through a batch runner."""

    reader: AudioReader
    store: RunStore
    parts: PartStore
    runner: BatchRunner

    def run(
        self,
        *,
        sources: Sequence[Path],
        run_dir: Path,
        job: ShardJob,
        settings: Mapping[str, Any],
        align: float | None = None,
        shard_duration: float = 3600.0,
        max_files: int = 1000,
        shard_index: int | None = None,
        shard_count: int | None = None,
        restart: bool = False,
        engine: Mapping[str, Any] | None = None,
        export: Path | None = None,
        header_threads: int = 8,
        progress: Progress = no_progress,
    ) -> RunResult:
        """Plan (or reload) the run, compute the shards without a rows part, write the summary.

        The invocation holds ``run_dir`` from start to end (planning, shards, summary,
        export): another run is refused while it does, ``opso runs status`` is not.

        Parameters
        ----------
        sources
            Recordings, in the order their rows should come out.
        run_dir
            The run directory; created if missing, resumed if it holds the same run.
        job
            Computes one shard's rows; must pickle (see :class:`~opso.ports.runner.ShardJob`).
        settings
            Everything about the job that changes its results (model hash, classes,
            preprocessing, clip settings), JSON-like. With the inputs and the sharding it
            makes the run's fingerprint.
        align
            Clip step in seconds, so long recordings are cut on clip starts; None for jobs
            that are not clip-based.
        shard_duration, max_files
            Audio seconds and most segments per shard (see :func:`plan_shards`).
        shard_index, shard_count
            Job-array mode: run only shards ``i`` with ``i % shard_count == shard_index``.
            Tasks of one array share the run directory; each holds its own slice.
        restart
            Delete the run's results first, whatever its fingerprint (only files the run
            recorded writing; this needs the run directory alone, also in job-array mode).
        engine
            How results are computed where that does not change them beyond rounding (e.g.
            backend, device, batch size), JSON-like. Recorded with the fingerprint; a resume
            with another engine goes on, with a note.
        export
            Also write every row to this ``.csv`` or ``.parquet`` file when the run is
            complete (see :class:`ExportRunResults`).
        header_threads
            Threads reading file headers while planning.
        progress
            Told ``(done, total, shard)`` as shards finish.

        Returns
        -------
        RunResult
            This invocation's counts, failures and notes, and the run's progress.

        Raises
        ------
        RunMismatchError
            If ``run_dir`` holds a run with other settings and ``restart`` is False.
        RunDirectoryError
            If another run holds ``run_dir``, or it is a folder opso did not make (see
            :meth:`~opso.ports.runner.RunStore.read_fingerprint`).
        ValueError
            If the settings are not JSON-like or the sharding options are invalid.
        """
        t0 = time.perf_counter()
        if (shard_index is None) != (shard_count is None):
            raise ParameterError("give both shard_index and shard_count, or neither")
        if export is not None and export.suffix.lower() not in {".csv", ".parquet"}:
            raise ParameterError(f"{export}: export to a .csv or .parquet file")
        full = canonical_settings(
            {
                "format": RUN_FORMAT,
                "job": dict(settings),
                "inputs": {"files": len(sources), "digest": sources_digest(sources)},
                "sharding": {
                    "shard_duration": shard_duration,
                    "max_files": max_files,
                    "align": align,
                },
            }
        )
        engine = None if engine is None else canonical_settings(engine)
        plan_shards([], shard_duration=shard_duration, max_files=max_files, align=align)
        array = None
        if shard_index is not None and shard_count is not None:
            select_shards([], index=shard_index, count=shard_count)  # validate
            array = None if restart else (shard_index, shard_count)
        with self.store.lock(run_dir, job_array=array) as note:
            notes = [] if note is None else [note]
            notes += self._open(run_dir, full, engine, restart=restart)
            result = self._run(
                run_dir,
                sources,
                job,
                shard_duration=shard_duration,
                max_files=max_files,
                align=align,
                shard_index=shard_index,
                shard_count=shard_count,
                header_threads=header_threads,
                progress=progress,
            )
            exported = None
            if export is not None and result.progress.complete:
                exported = self.parts.export(run_dir, export)
        seconds = time.perf_counter() - t0
        return replace(result, seconds=seconds, notes=notes, exported=exported)

    def _open(
        self,
        run_dir: Path,
        full: dict[str, Any],
        engine: dict[str, Any] | None,
        *,
        restart: bool,
    ) -> list[str]:
        """Check (or start) the run in ``run_dir``; return notes about a changed engine."""
        if restart:
            self.store.reset(run_dir)
        old = self.store.read_fingerprint(run_dir)
        if old is not None and old != full:
            diff = "; ".join(settings_diff(old, full)[:6])
            raise RunMismatchError(
                f"{run_dir} holds a run made with other settings ({diff}); use another run "
                "directory, or restart (--restart) to delete its results and start over"
            )
        engines = [] if old is None else self.store.read_engines(run_dir)
        notes = []
        if engine is not None and engines and engines[-1] != engine:
            diff = "; ".join(settings_diff(engines[-1], engine))
            notes.append(
                f"{run_dir}: resuming with another engine ({diff}); its results agree with "
                "the earlier parts only up to rounding (about 1e-6)"
            )
        if old is None or (engine is not None and (not engines or engines[-1] != engine)):
            used = engines if engine is None else [*engines, engine]
            self.store.write_fingerprint(run_dir, full, engines=used)
        return notes

    def _run(
        self,
        run_dir: Path,
        sources: Sequence[Path],
        job: ShardJob,
        *,
        shard_duration: float,
        max_files: int,
        align: float | None,
        shard_index: int | None,
        shard_count: int | None,
        header_threads: int,
        progress: Progress,
    ) -> RunResult:
        """Plan if needed, run the shards without a recorded rows part, write the summary."""
        t0 = time.perf_counter()
        manifest = self.store.read_manifest(run_dir)
        if manifest is None:
            manifest = self._plan(sources, shard_duration, max_files, align, header_threads)
            if manifest.unreadable:
                self.parts.write_errors(run_dir, None, manifest.unreadable)
            self.store.write_manifest(run_dir, manifest)
        shards: Sequence[Shard] = manifest.shards
        if shard_index is not None and shard_count is not None:
            shards = select_shards(shards, index=shard_index, count=shard_count)
        done = self.parts.completed(run_dir)
        todo = [s for s in shards if s.index not in done]
        failures: list[ShardFailure] = []
        finished = 0

        def on_outcome(outcome: ShardOutcome) -> None:
            nonlocal finished
            finished += 1
            if isinstance(outcome, ShardFailure):
                failures.append(outcome)
                shard = manifest.shards[outcome.shard]
                self.parts.write_errors(
                    run_dir,
                    shard.index,
                    [
                        SegmentError(s.source, s.start, s.end, outcome.reason, shard.index)
                        for s in shard.segments
                    ],
                )
            progress(finished, len(todo), f"shard {outcome.shard}")

        if todo:
            self.runner.run(StoreShard(job, self.parts, run_dir), todo, on_outcome=on_outcome)
        status = RunStatus(self.store, self.parts).run(run_dir=run_dir)
        seconds = time.perf_counter() - t0
        self.store.write_summary(
            run_dir,
            {
                **status.as_dict(),
                "last_invocation": {
                    "shards_run": len(todo),
                    "shards_skipped": len(shards) - len(todo),
                    "shards_failed": len(failures),
                    "seconds": round(seconds, 3),
                    "shard_index": shard_index,
                    "shard_count": shard_count,
                    "finished": time.time(),
                },
            },
        )
        return RunResult(status, len(todo), len(shards) - len(todo), failures, seconds)

    def _plan(
        self,
        sources: Sequence[Path],
        shard_duration: float,
        max_files: int,
        align: float | None,
        threads: int,
    ) -> Manifest:
        def duration(source: Path) -> float | str:
            try:
                return self.reader.info(source).duration
            except (OpsoError, OSError, ValueError) as e:
                return str(e) or type(e).__name__

        def durations(chunk: Sequence[Path]) -> list[float | str]:
            return [duration(s) for s in chunk]

        # Chunks keep the per-future overhead small; threads hide file-system latency.
        size = 256
        chunks = [sources[i : i + size] for i in range(0, len(sources), size)]
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            found = [d for part in pool.map(durations, chunks) for d in part]
        pairs = list(zip(sources, found, strict=True))
        readable = [(str(s), d) for s, d in pairs if isinstance(d, float)]
        unreadable = tuple(
            SegmentError(str(s), 0.0, 0.0, d) for s, d in pairs if isinstance(d, str)
        )
        shards = plan_shards(
            readable, shard_duration=shard_duration, max_files=max_files, align=align
        )
        return Manifest(shards, unreadable)


def _frame(columns: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """Return ``columns`` as a DataFrame; text columns with undecodable names stay Python str.

    pandas keeps text in Arrow strings, which cannot hold the lone surrogates ``os.listdir``
    gives for bytes of a file name that are not UTF-8: such columns get ``object`` dtype.
    """
    import pandas as pd  # here, so worker processes that run shards never import it

    try:
        return pd.DataFrame(dict(columns))
    except UnicodeEncodeError:
        return pd.DataFrame(
            {
                name: pd.Series(values, dtype=object)
                if any(isinstance(v, str) and has_undecodable(v) for v in values)
                else values
                for name, values in columns.items()
            }
        )


@dataclass(frozen=True)
class ReadRunResults:
    """Load a run's rows (all parts, in shard order) as one table."""

    parts: PartStore

    def run(self, *, run_dir: Path) -> pd.DataFrame:
        """Return every row of ``run_dir`` as a DataFrame (empty when no part has rows)."""
        import pandas as pd  # here, so worker processes that run shards never import it

        frames = [_frame(p.columns) for p in self.parts.read_parts(run_dir)]
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class ExportRunResults:
    """Write a run's rows (or its error rows) to one CSV or Parquet file."""

    parts: PartStore

    def run(self, *, run_dir: Path, destination: Path, errors: bool = False) -> int:
        r"""Export every row of ``run_dir`` in shard order to ``destination``; return the count.

        With ``errors``, write the error rows instead (``shard, file, start, end, reason``, a
        ``.csv`` file). File names that are not UTF-8 are written exactly to CSV files (as
        their bytes), in printable form (``\xNN`` per byte) to Parquet files.

        Raises
        ------
        ValueError
            If the destination suffix is neither ``.csv`` nor ``.parquet`` (``.csv`` for
            errors).
        """
        if errors:
            if destination.suffix.lower() != ".csv":
                raise ParameterError(f"{destination}: error rows export to a .csv file")
            return self.parts.export_errors(run_dir, destination)
        if destination.suffix.lower() not in {".csv", ".parquet"}:
            raise ParameterError(f"{destination}: export to a .csv or .parquet file")
        return self.parts.export(run_dir, destination)
