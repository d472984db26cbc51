"""The composition root: one dependency-injector container wiring adapters into use-cases."""

from __future__ import annotations

import os
from functools import partial
from typing import TYPE_CHECKING

from dependency_injector import containers, providers

from opso.adapters.atomic import AtomicTextWriter
from opso.adapters.audio_metadata import RiffMetadataReader
from opso.adapters.csv_stream import CsvRowSink
from opso.adapters.csv_tables import CsvTableWriter, PandasTableReader
from opso.adapters.ffmpeg_tools import FfmpegAudioTools
from opso.adapters.html_report import HtmlReportPage
from opso.adapters.html_review import HtmlReviewPages
from opso.adapters.html_summary import HtmlSummaryPage
from opso.adapters.http_review_server import ReviewServer
from opso.adapters.matplotlib_maps import MatplotlibMapPlotter
from opso.adapters.matplotlib_plots import MatplotlibPlotter
from opso.adapters.matplotlib_report import MatplotlibReportFigures
from opso.adapters.matplotlib_summary import MatplotlibActivityFigures
from opso.adapters.numpy_heads import NpzHeadStore
from opso.adapters.pillow_images import PillowImages
from opso.adapters.raven_files import RavenAnnotationStore
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.app.demo import RunDemo
from opso.app.heads import PredictWithHead, TrainHead
from opso.app.label import LabelRecordings
from opso.app.levels import ClipLevels
from opso.app.localize import LocalizeEvents
from opso.app.predict import PredictScores
from opso.app.predict_runs import PredictShards
from opso.app.pretrained import DetectSpecies, EmbedWindows
from opso.app.pretrained_runs import (
    DetectShards,
    EmbedShards,
    HeadShards,
    RunRavenTables,
)
from opso.app.raven import CheckAnnotations, ListClasses, LowercaseAnnotations, QueryAnnotations
from opso.app.recording_times import FindRecordings, ReadAtTime
from opso.app.review import BuildReview, SaveReviewMarks
from opso.app.ribbit import ScorePulses
from opso.app.runs import ExportRunResults, ReadRunResults, RunBatch, RunStatus
from opso.app.spectrogram import RenderSpectrogram
from opso.app.split import SplitAudio, SplitRecordings
from opso.app.summarize import SummarizeActivity
from opso.app.train import TrainClassifier
from opso.domain.taxa import Taxonomy
from opso.ports.audio_io import AudioReader
from opso.ports.classifier import ClassifierStore, ClassifierTrainer
from opso.ports.heads import EmbeddingReader
from opso.ports.pretrained import EmbeddingWriter, PretrainedModelStore


# training and prediction: torch adapters are imported inside these factories, on first use
def _torch_classifier_store(device: str | None = None, backend: str = "fast") -> ClassifierStore:
    from opso.adapters.torch_classifier import TorchClassifierStore

    return TorchClassifierStore(device=device, backend="eager" if backend == "eager" else "fast")


def _torch_trainer(reader: AudioReader, num_workers: int = 0) -> ClassifierTrainer:
    from opso.adapters.torch_classifier import TorchTrainer

    return TorchTrainer(reader, num_workers=num_workers)


# pretrained models: LiteRT (ai-edge-litert) and pyarrow are imported on first use
def _litert_store() -> PretrainedModelStore:
    from opso.adapters.litert_birdnet import LiteRTModelStore

    return LiteRTModelStore(threads=model_threads())


def _pretrained_store(device: str | None = None, backend: str = "fast") -> PretrainedModelStore:
    from opso.adapters.torch_pretrained import PretrainedModels

    return PretrainedModels(_litert_store, partial(_torch_classifier_store, device, backend))


def _taxonomy() -> Taxonomy:
    from opso.taxa import taxonomy

    return taxonomy()


def _embedding_writer() -> EmbeddingWriter:
    from opso.adapters.pyarrow_embeddings import ParquetEmbeddingWriter

    return ParquetEmbeddingWriter()


def _embedding_reader() -> EmbeddingReader:
    from opso.adapters.pyarrow_embeddings import ParquetEmbeddingReader

    return ParquetEmbeddingReader()


def usable_cpus() -> int:
    """CPUs this process may run on."""
    return max(1, len(os.sched_getaffinity(0)))


def model_threads() -> int:
    """Threads a LiteRT model uses: ``OMP_NUM_THREADS`` where set, else the usable CPUs.

    Run workers get their share of the CPUs through ``OMP_NUM_THREADS``.
    """
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else usable_cpus()


if TYPE_CHECKING:
    from opso.adapters.dask_runner import DaskRunner
    from opso.adapters.multiprocessing_runner import LocalRunner
    from opso.adapters.parquet_runs import ParquetRunStore


def _parquet_run_store() -> ParquetRunStore:
    from opso.adapters.parquet_runs import ParquetRunStore

    return ParquetRunStore()


def _local_runner(workers: int | None = None, attempts: int = 3) -> LocalRunner:
    from opso.adapters.multiprocessing_runner import LocalRunner

    return LocalRunner(usable_cpus() if workers is None else workers, attempts=attempts)


def _dask_runner(
    scheduler: str | None = None, workers: int | None = None, attempts: int = 3
) -> DaskRunner:
    from opso.adapters.dask_runner import DaskRunner

    n = usable_cpus() if workers is None else max(1, workers)
    return DaskRunner(scheduler=scheduler, workers=n, attempts=attempts)


#: Settings the container's providers read (see :class:`opso.app.settings.RunnerSettings`).
DEFAULTS = {
    "device": None,
    "backend": "fast",
    "runner": "local",
    "workers": None,
    "scheduler": None,
    "attempts": 3,
}


class Container(containers.DeclarativeContainer):
    """Default wiring. Tests and services override providers, e.g. ``c.audio_io.override(fake)``.

    ``config`` holds the run settings: ``device`` and ``backend`` (model loading), ``runner``
    (``local``, ``dask-local`` or ``dask``), ``workers``, ``scheduler`` and ``attempts``;
    set them with ``c.config.from_dict(...)`` after checking them with
    :class:`opso.app.settings.RunnerSettings`.
    """

    config = providers.Configuration(default=DEFAULTS)

    audio_io = providers.Singleton(SoundfileAudioIO)
    # recording metadata (start time, device, ...): WAV chunks, GUANO, file names
    metadata = providers.Singleton(RiffMetadataReader)
    read_at_time = providers.Factory(ReadAtTime, reader=audio_io, metadata=metadata)
    find_recordings = providers.Factory(FindRecordings, reader=audio_io, metadata=metadata)
    tables = providers.Singleton(CsvTableWriter)
    table_reader = providers.Singleton(PandasTableReader)
    text_files = providers.Singleton(AtomicTextWriter)

    split_audio = providers.Factory(SplitAudio, writer=audio_io)
    split_recordings = providers.Factory(
        SplitRecordings, clips=audio_io, tables=tables, metadata=metadata
    )

    # annotations and labels
    annotation_store = providers.Singleton(RavenAnnotationStore)
    label_recordings = providers.Factory(
        LabelRecordings,
        reader=audio_io,
        writer=audio_io,
        annotations=annotation_store,
        tables=tables,
        metadata=metadata,
    )
    check_annotations = providers.Factory(CheckAnnotations, store=annotation_store)
    lowercase_annotations = providers.Factory(LowercaseAnnotations, store=annotation_store)
    list_classes = providers.Factory(ListClasses, store=annotation_store)
    query_annotations = providers.Factory(QueryAnnotations, store=annotation_store)

    map_plotter = providers.Singleton(MatplotlibMapPlotter)
    localize_events = providers.Factory(
        LocalizeEvents,
        reader=audio_io,
        metadata=metadata,
        tables=tables,
        table_reader=table_reader,
        maps=map_plotter,
    )

    audio_tools = providers.Singleton(FfmpegAudioTools)
    score_pulses = providers.Factory(ScorePulses, reader=audio_io, tables=tables, metadata=metadata)

    # activity summaries: detections per species per hour, day or site, with plots
    summarize_activity = providers.Factory(
        SummarizeActivity,
        table_reader=table_reader,
        metadata=metadata,
        audio=audio_io,
        tables=tables,
        figures=providers.Singleton(MatplotlibActivityFigures),
        page=providers.Singleton(HtmlSummaryPage),
    )

    spectrogram_images = providers.Singleton(PillowImages)
    spectrogram_plotter = providers.Singleton(MatplotlibPlotter)
    render_spectrogram = providers.Factory(
        RenderSpectrogram, reader=audio_io, images=spectrogram_images, plotter=spectrogram_plotter
    )

    review_pages = providers.Singleton(HtmlReviewPages)
    build_review = providers.Factory(
        BuildReview,
        reader=audio_io,
        writer=audio_io,
        plotter=spectrogram_plotter,
        pages=review_pages,
    )
    save_review_marks = providers.Factory(
        SaveReviewMarks, tables=tables, annotations=annotation_store, metadata=metadata
    )
    # call with (folder, save, port=...): serves a review page on 127.0.0.1
    review_server = providers.Factory(ReviewServer)

    # training and prediction
    row_sink = providers.Singleton(CsvRowSink)
    classifier_store = providers.Factory(
        _torch_classifier_store, device=config.device, backend=config.backend
    )
    classifier_trainer = providers.Factory(_torch_trainer, reader=audio_io)
    train_classifier = providers.Factory(TrainClassifier, trainer=classifier_trainer)
    predict_scores = providers.Factory(
        PredictScores, reader=audio_io, store=classifier_store, sink=row_sink, metadata=metadata
    )

    # species names: the species table widened by BirdNET's labels (settles Alpha codes)
    taxonomy = providers.Singleton(_taxonomy)
    # pretrained models: ``c.pretrained_store().load("birdnet")`` or an opso model file
    pretrained_store = providers.Singleton(
        _pretrained_store, device=config.device, backend=config.backend
    )
    detect_species = providers.Factory(
        DetectSpecies,
        reader=audio_io,
        sink=row_sink,
        annotations=annotation_store,
        metadata=metadata,
        taxonomy=taxonomy,
    )
    embed_windows = providers.Factory(
        EmbedWindows,
        reader=audio_io,
        writer=providers.Singleton(_embedding_writer),
        metadata=metadata,
    )
    # heads trained on embeddings (``head.opso``: numpy arrays + JSON, no pickle)
    head_store = providers.Singleton(NpzHeadStore)
    train_head = providers.Factory(
        TrainHead,
        embeddings=providers.Singleton(_embedding_reader),
        tables=table_reader,
        store=head_store,
    )
    predict_with_head = providers.Factory(
        PredictWithHead,
        reader=audio_io,
        sink=row_sink,
        models=pretrained_store,
        heads=head_store,
    )

    # the main job end to end
    run_demo = providers.Factory(
        RunDemo,
        reader=audio_io,
        table_reader=table_reader,
        annotations=annotation_store,
        label=label_recordings,
        train=train_classifier,
        predict=predict_scores,
        ribbit=score_pulses,
        localize=localize_events,
        detect=detect_species,
        models=pretrained_store,
        figures=providers.Singleton(MatplotlibReportFigures),
        page=providers.Singleton(HtmlReportPage),
    )

    run_store = providers.Singleton(_parquet_run_store)
    local_runner = providers.Factory(
        _local_runner, workers=config.workers, attempts=config.attempts
    )
    dask_runner = providers.Factory(
        _dask_runner,
        scheduler=config.scheduler,
        workers=config.workers,
        attempts=config.attempts,
    )
    runner = providers.Selector(
        config.runner, local=local_runner, dask=dask_runner, **{"dask-local": dask_runner}
    )
    run_batch = providers.Factory(
        RunBatch, reader=audio_io, store=run_store, parts=run_store, runner=runner
    )
    # batch-run jobs: call with their own settings, e.g. ``c.predict_shards(model=path, ...)``
    clip_levels = providers.Factory(ClipLevels, audio_io)
    predict_shards = providers.Factory(PredictShards, audio_io, classifier_store, metadata=metadata)
    detect_shards = providers.Factory(
        DetectShards, audio_io, pretrained_store, metadata=metadata, taxonomy=taxonomy
    )
    embed_shards = providers.Factory(EmbedShards, audio_io, pretrained_store, metadata=metadata)
    # ``c.head_shards(head_path, overlap=...)``: score windows with a head in a run directory
    head_shards = providers.Factory(
        HeadShards.for_head, audio_io, pretrained_store, head_store, metadata=metadata
    )
    run_status = providers.Factory(RunStatus, store=run_store, parts=run_store)
    read_run = providers.Factory(ReadRunResults, parts=run_store)
    export_run = providers.Factory(ExportRunResults, parts=run_store)
    # Raven tables of a detection run (``--raven`` with ``--run-dir``), from its stored rows
    run_raven_tables = providers.Factory(
        RunRavenTables,
        store=run_store,
        parts=run_store,
        annotations=annotation_store,
        metadata=metadata,
    )
