"""Spec-compatible conveniences over the default adapters (``Audio.from_file``, ...)."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Self

import pandas as pd

from opso.adapters.pillow_images import PillowImages
from opso.adapters.soxr_resampling import resample_samples
from opso.adapters.subprocess_commands import (
    run_command as run_command,
    run_command_return_code as run_command_return_code,
)
from opso.app.levels import ClipLevels
from opso.app.predict_runs import PredictShards
from opso.app.runs import RunProgress, RunResult
from opso.app.settings import RunSettings
from opso.container import Container
from opso.domain import audio as _audio, dsp, spectrogram as _spectrogram
from opso.domain.audio import FinalClip
from opso.domain.recording_info import RecordingInfo, parse_timezone
from opso.ports.audio_io import AudioReader, AudioWriter
from opso.ports.images import ImageMode
from opso.ports.runner import BatchRunner, ShardJob

if TYPE_CHECKING:
    import PIL.Image


@functools.cache
def default_container() -> Container:
    """Return the process-wide default container used by the spec-style API."""
    return Container()


def _reader() -> AudioReader:
    reader: AudioReader = default_container().audio_io()
    return reader


def _writer() -> AudioWriter:
    writer: AudioWriter = default_container().audio_io()
    return writer


class Audio(_audio.Audio):
    """Mono audio with the spec's file I/O: ``from_file``, ``from_bytesio`` and ``save``.

    See :class:`opso.domain.Audio` for the samples, the validation and the time-domain methods.
    """

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        sample_rate: int | None = None,
        resample_type: str = "kaiser_fast",
        max_duration: float | None = None,
        *,
        offset: float = 0.0,
        duration: float | None = None,
        start_timestamp: datetime | str | None = None,
        timezone: str | None = None,
    ) -> Self:
        """Load an audio file (WAV, FLAC, OGG, MP3) as mono float32, or the part of it you ask.

        The result carries the recording's metadata (:func:`recording_info`), its
        ``start_timestamp`` being the moment of its first sample.

        Parameters
        ----------
        path
            Path to the file.
        sample_rate
            Resample to this rate in Hz; None keeps the file's rate.
        resample_type
            ``"kaiser_fast"`` (soxr HQ), ``"kaiser_best"`` (soxr VHQ) or a ``"soxr_*"`` name.
        max_duration
            Longest allowed file length in seconds, checked from the header before decoding.
        offset
            Start reading this many seconds into the file.
        duration
            Read this many seconds; None reads to the end. A stretch past the end of the
            file is cut there, with a ``UserWarning``.
        start_timestamp
            Start reading at this moment (a time-zone-aware ``datetime``, pandas
            ``Timestamp`` or ISO 8601 text), placed by the start time in the file's metadata
            or name; instead of ``offset``.
        timezone
            IANA time zone of times written without one (file names); UTC when None.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        OpsoLoadAudioInputError
            If the file is not readable audio or holds no frames.
        OpsoLoadAudioInputTooLong
            If the file is longer than ``max_duration``.
        ParameterError
            If ``start_timestamp`` has no time zone or lies outside the recording (the
            message names the span the file covers), or is given with ``offset``.
        StartTimeUnknownError
            If ``start_timestamp`` is given and no metadata or file name gives the start.
        """
        a = (
            default_container()
            .read_at_time()
            .run(
                path=Path(path),
                start_timestamp=start_timestamp,
                offset=offset,
                duration=duration,
                sample_rate=sample_rate,
                resample_type=resample_type,
                max_duration=max_duration,
                timezone=None if timezone is None else parse_timezone(timezone),
            )
        )
        if duration is not None and a.duration() < duration - 1.0 / a.sample_rate:
            warnings.warn(
                f"{path}: asked for {duration} s but the recording ends after "
                f"{a.duration():.3f} s of it",
                UserWarning,
                stacklevel=2,
            )
        return cls(
            a.samples,
            a.sample_rate,
            resample_type=resample_type,
            max_duration=max_duration,
            metadata=a.metadata,
        )

    @classmethod
    def from_bytesio(
        cls,
        bytesio: BinaryIO,
        sample_rate: int | None = None,
        max_duration: float | None = None,
        resample_type: str = "kaiser_fast",
    ) -> Self:
        """Load audio from a binary file-like object (e.g. ``io.BytesIO`` of a WAV file)."""
        a = _reader().read(
            bytesio,
            sample_rate=sample_rate,
            resample_type=resample_type,
            max_duration=max_duration,
        )
        return cls(a.samples, a.sample_rate, resample_type=resample_type, max_duration=max_duration)

    def save(self, path: str | Path) -> None:
        """Write the audio to ``path`` (format from the suffix), atomically."""
        _writer().write(self, Path(path))

    def resample(self, sample_rate: int, resample_type: str | None = None) -> Self:
        """Return the audio resampled to ``sample_rate`` Hz (soxr, as the file readers).

        ``Audio.from_file(p).resample(sr)`` gives the samples ``Audio.from_file(p,
        sample_rate=sr)`` gives. Metadata, ``max_duration`` and ``resample_type`` are kept.

        Parameters
        ----------
        sample_rate
            The new rate in Hz.
        resample_type
            ``"kaiser_fast"``, ``"kaiser_best"`` or a ``"soxr_*"`` name; None uses the
            audio's own ``resample_type``.

        Raises
        ------
        ParameterError
            If ``sample_rate`` is not a positive integer or ``resample_type`` is unknown.
        """
        kind = self.resample_type if resample_type is None else resample_type
        samples = resample_samples(self.samples, self.sample_rate, sample_rate, kind)
        return replace(self, samples=samples, sample_rate=int(sample_rate))


def split_and_save(
    audio: _audio.Audio,
    destination: str | Path,
    prefix: str,
    clip_duration: float,
    clip_overlap: float = 0,
    final_clip: FinalClip = None,
    dry_run: bool = False,
) -> pd.DataFrame:
    """Split audio into clips and write them to ``destination`` as ``{prefix}_{begin}s_{end}s.wav``.

    Parameters
    ----------
    audio
        The audio to split.
    destination
        Folder for the clips (created if missing).
    prefix
        Name put before each clip's times; it cannot lead outside ``destination``.
    clip_duration, clip_overlap, final_clip
        As :meth:`opso.Audio.split`.
    dry_run
        If True, write nothing and only return the clip table.

    Returns
    -------
    pandas.DataFrame
        Columns ``begin_time`` and ``end_time`` (s), indexed by each clip's output path.
    """
    records = (
        default_container()
        .split_audio()
        .run(
            audio=audio,
            destination=Path(destination),
            prefix=prefix,
            clip_duration=clip_duration,
            clip_overlap=clip_overlap,
            final_clip=final_clip,
            dry_run=dry_run,
        )
    )
    return pd.DataFrame(
        {"begin_time": [r.begin_time for r in records], "end_time": [r.end_time for r in records]},
        index=pd.Index([str(r.path) for r in records], name="clip"),
    )


def silence_filter(
    filename: str | Path,
    smoothing_factor: int = 10,
    window_len_samples: int = 256,
    overlap_len_samples: int = 128,
    threshold: float | None = None,
) -> float:
    """Score whether a file holds sound above its background.

    Returns the peak smoothed window energy over the mean energy, minus one, when
    ``threshold`` is None; otherwise 1 if that score exceeds ``threshold`` (sound) and 0 if not
    (silence).
    """
    samples = _reader().read(Path(filename)).samples
    score = dsp.silence_score(
        samples,
        smoothing_factor=smoothing_factor,
        window_len_samples=window_len_samples,
        overlap_len_samples=overlap_len_samples,
    )
    if threshold is None:
        return score
    return int(score > threshold)


def _images() -> PillowImages:
    images: PillowImages = default_container().spectrogram_images()
    return images


class Spectrogram(_spectrogram.Spectrogram):
    """A spectrogram with the spec's images and plots: ``to_image``, ``plot``, ``from_file``.

    See :class:`opso.domain.spectrogram.Spectrogram` for the values, validation and maths.
    """

    def to_image(
        self,
        shape: tuple[int, int] | None = None,
        mode: ImageMode = "RGB",
        spec_range: tuple[float, float] | list[float] = (-100, -20),
    ) -> PIL.Image.Image:
        """Return a Pillow image: loud is dark, low frequencies at the bottom.

        Values are mapped linearly from ``spec_range`` dB to grey levels 255 (quietest, white)
        to 0 (loudest, black).

        Parameters
        ----------
        shape
            ``(height, width)`` in pixels, resized with Pillow's bilinear filter
            (antialiased); None keeps one pixel per value.
        mode
            ``"RGB"`` for three channels or ``"L"`` for one grey channel.
        spec_range
            The ``(low, high)`` dB mapped to white and black.

        Raises
        ------
        SpectrogramParameterError
            If ``mode``, ``shape`` or ``spec_range`` is invalid, or the spectrogram is empty.
        """
        low, high = spec_range
        return _images().render(self.to_pixels((low, high)), shape=shape, mode=mode)

    def plot(
        self, inline: bool = True, fname: str | Path | None = None, show_colorbar: bool = False
    ) -> None:
        """Plot the spectrogram with matplotlib: time in s, frequency in Hz, loud is dark.

        Parameters
        ----------
        inline
            Show the figure through pyplot (inline in Jupyter); False only saves.
        fname
            Save the plot to this path (``.png``, ``.pdf``, ``.svg``, ...), atomically.
        show_colorbar
            Add a dB colour bar.
        """
        plotter = default_container().spectrogram_plotter()
        plotter.plot(
            self,
            path=None if fname is None else Path(fname),
            show=inline,
            show_colorbar=show_colorbar,
        )

    @classmethod
    def from_file(cls, file: str | Path, spec_range: tuple[float, float] | None = None) -> Self:
        """Read a spectrogram back from an image file made by :meth:`to_image` or the CLI.

        Grey levels map back to dB linearly (within one grey level,
        ``(high - low) / 255`` dB). PNG files written by ``opso spectrogram --image-only``
        carry tags with the dB range and axes; other images get ``spec_range`` (default
        ``(-100, -20)``) and row/column indices as axes.

        Raises
        ------
        FileNotFoundError
            If ``file`` does not exist.
        ImageReadError
            If ``file`` is not an image.
        """
        pixels, tags = _images().read(Path(file))
        return cls.from_image(pixels, tags, spec_range=spec_range)


class MelSpectrogram(_spectrogram.MelSpectrogram, Spectrogram):
    """A mel spectrogram (dB or PCEN) with the images and plots of :class:`Spectrogram`."""


def _configured(**settings: Any) -> Container:
    """Return a fresh container whose ``config`` holds ``settings`` (checked by RunSettings)."""
    c = Container()
    c.config.from_dict(RunSettings(**settings).as_config())
    return c


def make_runner(
    runner: Literal["local", "dask-local", "dask"] = "local",
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    attempts: int = 3,
) -> BatchRunner:
    """Build a batch runner: local worker processes, a Dask LocalCluster, or a Dask scheduler.

    Parameters
    ----------
    runner
        ``"local"`` (worker processes on this machine), ``"dask-local"`` (a LocalCluster for
        the run) or ``"dask"`` (the running scheduler at ``scheduler``).
    workers
        Worker processes (default: the usable CPUs); 0 runs shards in this process (local).
    scheduler
        Dask scheduler address, for ``runner="dask"``.
    attempts
        Worker deaths a shard may cause before it is reported failed.

    Raises
    ------
    ParameterError
        If the runner name or the scheduler option is wrong (the same rules as the CLI's).
    """
    c = _configured(runner=runner, workers=workers, scheduler=scheduler, attempts=attempts)
    built: BatchRunner = c.runner()
    return built


def run_shards(
    sources: Sequence[str | Path],
    run_dir: str | Path,
    job: ShardJob,
    settings: Mapping[str, Any],
    *,
    align: float | None = None,
    runner: BatchRunner | None = None,
    shard_duration: float = 3600.0,
    max_files: int = 1000,
    shard_index: int | None = None,
    shard_count: int | None = None,
    restart: bool = False,
) -> RunResult:
    """Run ``job`` over many recordings in a resumable run directory.

    Calling it again with the same arguments resumes: only shards without a result part run.

    Parameters
    ----------
    sources
        Audio files, in the order their rows should come out.
    run_dir
        The run directory (manifest, fingerprint, parts, errors, summary).
    job
        A picklable callable ``Shard -> ShardOutput`` (e.g. :func:`clip_levels`). Define it in
        an importable module, or under ``if __name__ == "__main__":`` in a script.
    settings
        Everything about the job that changes its results (JSON-like), for the fingerprint.
    align
        Clip step in seconds, so long files are cut on clip starts.
    runner
        From :func:`make_runner`; default: local worker processes, one per CPU.
    shard_duration, max_files, shard_index, shard_count, restart
        As ``opso runs levels`` options.

    Returns
    -------
    RunResult
        This call's counts and failures, and the run's progress.

    Raises
    ------
    RunMismatchError
        If ``run_dir`` holds a run with other settings and ``restart`` is False.
    """
    c = default_container()
    use_case = c.run_batch(runner=runner if runner is not None else make_runner())
    result: RunResult = use_case.run(
        sources=[Path(s) for s in sources],
        run_dir=Path(run_dir),
        job=job,
        settings=settings,
        align=align,
        shard_duration=shard_duration,
        max_files=max_files,
        shard_index=shard_index,
        shard_count=shard_count,
        restart=restart,
    )
    return result


def clip_levels(
    clip_duration: float = 5.0,
    clip_overlap: float = 0.0,
    final_clip: FinalClip = None,
    sample_rate: int | None = None,
) -> ClipLevels:
    """Return the per-clip RMS and peak job (for :func:`run_shards`) over the default reader."""
    levels: ClipLevels = default_container().clip_levels(
        clip_duration=clip_duration,
        clip_overlap=clip_overlap,
        final_clip=final_clip,
        sample_rate=sample_rate,
    )
    return levels


def predict_job(
    model: str | Path,
    *,
    clip_duration: float | None = None,
    clip_overlap: float = 0.0,
    final_clip: Literal["full", "extend"] | None = None,
    batch_size: int = 16,
    top_k: int | None = None,
    min_score: float | None = None,
    device: str | None = None,
    backend: Literal["fast", "eager"] = "fast",
    timezone: str | None = None,
) -> PredictShards:
    """Return the CNN scoring job for :func:`run_shards` (``opso predict --run-dir``).

    Pass ``job.settings()`` as the settings and ``job.step`` as ``align``. The model loads
    lazily, once per worker process; ``top_k``/``min_score`` give one row per kept
    ``(clip, class)`` instead of one row per clip. Rows give ``begin_datetime`` from each
    recording's metadata or name (``timezone``: IANA zone of names written in local time).
    """
    job: PredictShards = _configured(device=device, backend=backend).predict_shards(
        Path(model),
        clip_duration=clip_duration,
        clip_overlap=clip_overlap,
        final_clip=final_clip,
        batch_size=batch_size,
        top_k=top_k,
        min_score=min_score,
        timezone=timezone,
    )
    return job


def predict_clips(
    model: str | Path,
    paths: str | Path | Sequence[str | Path],
    *,
    clip_duration: float | None = None,
    clip_overlap: float = 0.0,
    final_clip: Literal["full", "extend"] | None = None,
    batch_size: int = 16,
    device: str | None = None,
    backend: Literal["fast", "eager"] = "fast",
) -> pd.DataFrame:
    """Score every clip of long recordings with a saved model, as ``opso predict`` does.

    Parameters
    ----------
    model
        A model file written by ``opso train`` (or :func:`save_model`).
    paths
        Audio files and folders (searched recursively).
    clip_duration
        Seconds per clip (default: the model's).
    clip_overlap, final_clip
        Overlap of consecutive clips (s), and what to do with audio after the last full
        clip (``"full"``: a clip ending at the end; ``"extend"``: the rest looped; None: drop).
    batch_size
        Clips per model call.
    device, backend
        Torch device (default: a GPU if there is one) and ``"fast"`` or ``"eager"`` kernels.

    Returns
    -------
    pandas.DataFrame
        One row per clip: ``file, start_time, end_time``, one score column per class, and
        ``error`` (empty, or why a recording could not be scored: its row has NaN scores).

    Raises
    ------
    ModelFileError
        If ``model`` is not an opso model.
    ParameterError
        If a setting is invalid.
    """
    return score_table(
        _configured(device=device, backend=backend),
        Path(model),
        paths,
        clip_duration=clip_duration,
        clip_overlap=clip_overlap,
        final_clip=final_clip,
        batch_size=batch_size,
    )


def score_table(
    c: Container,
    model: Path,
    paths: str | Path | Sequence[str | Path],
    **settings: Any,
) -> pd.DataFrame:
    """Run ``c``'s prediction use-case on recordings into a DataFrame (see :func:`predict_clips`).

    ``settings`` are those of :meth:`opso.app.predict.PredictScores.run` after ``output``.
    """
    from opso.adapters.memory import InMemoryRowSink
    from opso.app.files import find_audio_files

    given = [paths] if isinstance(paths, str | Path) else list(paths)
    sink = InMemoryRowSink()
    table = Path("scores")
    with c.row_sink.override(sink):
        c.predict_scores().run(
            model=model,
            jobs=find_audio_files([Path(p) for p in given]),
            output=table,
            **settings,
        )
    return pd.DataFrame(sink.tables[table])


def read_run(run_dir: str | Path) -> pd.DataFrame:
    """Return every row of a run directory, in shard order, as one DataFrame."""
    df: pd.DataFrame = default_container().read_run().run(run_dir=Path(run_dir))
    return df


def run_status(run_dir: str | Path) -> RunProgress:
    """Return a run directory's progress, failures and throughput."""
    progress: RunProgress = default_container().run_status().run(run_dir=Path(run_dir))
    return progress


def export_run(run_dir: str | Path, destination: str | Path) -> int:
    """Write a run's rows to one ``.csv`` or ``.parquet`` file; return the number of rows."""
    n: int = (
        default_container().export_run().run(run_dir=Path(run_dir), destination=Path(destination))
    )
    return n


def recording_info(path: str | Path, *, timezone: str | None = None) -> RecordingInfo:
    """Return what a recording's metadata says: start time, device, gain, battery, position.

    Read from GUANO, OpenSoundscape's ``opso_metadata``, AudioMoth comments and, last, a
    ``YYYYMMDD_HHMMSS`` file name; ``info.sources`` says where each field came from and
    ``info.warnings`` what could not be read.

    Parameters
    ----------
    path
        The recording.
    timezone
        IANA time zone (``Europe/London``) of times written without one (file names, GUANO
        local timestamps); UTC when None.

    Returns
    -------
    RecordingInfo
        ``info.start`` is time-zone aware (or None); ``info.start_at(12.5)`` is the moment
        12.5 s into the recording.

    Raises
    ------
    ParameterError
        If ``timezone`` is not a known time zone.
    OSError
        If the file cannot be opened.
    """
    zone = None if timezone is None else parse_timezone(timezone)
    info: RecordingInfo = default_container().metadata().read(Path(path), timezone=zone)
    return info


def recordings_covering(
    paths: str | Path | Sequence[str | Path],
    start: datetime | str,
    end: datetime | str,
    *,
    timezone: str | None = None,
) -> pd.DataFrame:
    """Return which recordings hold audio of the clock-time range ``[start, end)``.

    Each recording is placed in time by the start in its metadata or name
    (:func:`recording_info`) and the length in its header; no audio is decoded. Recordings
    whose start is unknown, or that cannot be read, are left out with a ``UserWarning``
    naming them.

    Parameters
    ----------
    paths
        Audio files and folders (searched recursively).
    start, end
        Time-zone-aware ``datetime``, pandas ``Timestamp`` or ISO 8601 text.
    timezone
        IANA time zone of times written without one (file names); UTC when None.

    Returns
    -------
    pandas.DataFrame
        One row per recording, by start: ``file``, ``recording_start`` and
        ``recording_end`` (in the time zone of ``start``), and ``start_time``, ``end_time``:
        the seconds of the file that fall in the range, e.g. for
        ``Audio.from_file(file, offset=start_time, duration=end_time - start_time)``.

    Raises
    ------
    ParameterError
        If a bound has no time zone, ``end`` is not after ``start``, or ``timezone`` is
        unknown.
    FileNotFoundError
        If a path does not exist.
    """
    from opso.app.files import find_audio_files

    given = [paths] if isinstance(paths, str | Path) else list(paths)
    report = (
        default_container()
        .find_recordings()
        .run(
            recordings=[job.source for job in find_audio_files([Path(p) for p in given])],
            start=start,
            end=end,
            timezone=None if timezone is None else parse_timezone(timezone),
        )
    )
    if report.unknown_start:
        names = ", ".join(str(p) for p in report.unknown_start)
        warnings.warn(f"start time unknown, left out: {names}", UserWarning, stacklevel=2)
    for failure in report.failures:
        warnings.warn(f"{failure.source}: {failure.reason}", UserWarning, stacklevel=2)
    zone = pd.Timestamp(start).tz
    rows = report.covering

    def moments(values: list[datetime]) -> pd.Series:
        return pd.Series(pd.to_datetime(values, utc=True)).dt.tz_convert(zone)

    return pd.DataFrame(
        {
            "file": [str(c.path) for c in rows],
            "recording_start": moments([c.recording_start for c in rows]),
            "recording_end": moments([c.recording_end for c in rows]),
            "start_time": pd.Series([c.start_time for c in rows], dtype=float),
            "end_time": pd.Series([c.end_time for c in rows], dtype=float),
        }
    )
