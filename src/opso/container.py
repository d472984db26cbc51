"""The composition root: one dependency-injector container wiring adapters into use-cases."""

from __future__ import annotations

from dependency_injector import containers, providers

from opso.adapters.csv_stream import CsvRowSink
from opso.adapters.csv_tables import CsvTableWriter
from opso.adapters.ffmpeg_tools import FfmpegAudioTools
from opso.adapters.html_report import HtmlReportPage
from opso.adapters.html_review import HtmlReviewPages
from opso.adapters.matplotlib_maps import MatplotlibMapPlotter
from opso.adapters.matplotlib_plots import MatplotlibPlotter
from opso.adapters.matplotlib_report import MatplotlibReportFigures
from opso.adapters.pillow_images import PillowImages
from opso.adapters.raven_files import RavenAnnotationStore
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.app.demo import RunDemo
from opso.app.label import LabelRecordings
from opso.app.localize import LocalizeEvents
from opso.app.predict import PredictScores
from opso.app.raven import CheckAnnotations, ListClasses, LowercaseAnnotations, QueryAnnotations
from opso.app.review import BuildReview, SaveReviewMarks
from opso.app.ribbit import ScorePulses
from opso.app.spectrogram import RenderSpectrogram
from opso.app.split import SplitAudio, SplitRecordings
from opso.app.train import TrainClassifier
from opso.ports.audio_io import AudioReader
from opso.ports.classifier import ClassifierStore, ClassifierTrainer


# training and prediction: torch adapters are imported inside these factories, on first use
def _torch_classifier_store(device: str | None = None, backend: str = "fast") -> ClassifierStore:
    from opso.adapters.torch_classifier import TorchClassifierStore

    return TorchClassifierStore(device=device, backend="eager" if backend == "eager" else "fast")


def _torch_trainer(reader: AudioReader, num_workers: int = 0) -> ClassifierTrainer:
    from opso.adapters.torch_classifier import TorchTrainer

    return TorchTrainer(reader, num_workers=num_workers)


class Container(containers.DeclarativeContainer):
    """Default wiring. Tests and services override providers, e.g. ``c.audio_io.override(fake)``."""

    audio_io = providers.Singleton(SoundfileAudioIO)
    tables = providers.Singleton(CsvTableWriter)

    split_audio = providers.Factory(SplitAudio, writer=audio_io)
    split_recordings = providers.Factory(
        SplitRecordings, reader=audio_io, writer=audio_io, tables=tables
    )

    # annotations and labels
    annotation_store = providers.Singleton(RavenAnnotationStore)
    label_recordings = providers.Factory(
        LabelRecordings,
        reader=audio_io,
        writer=audio_io,
        annotations=annotation_store,
        tables=tables,
    )
    check_annotations = providers.Factory(CheckAnnotations, store=annotation_store)
    lowercase_annotations = providers.Factory(LowercaseAnnotations, store=annotation_store)
    list_classes = providers.Factory(ListClasses, store=annotation_store)
    query_annotations = providers.Factory(QueryAnnotations, store=annotation_store)

    map_plotter = providers.Singleton(MatplotlibMapPlotter)
    localize_events = providers.Factory(
        LocalizeEvents, reader=audio_io, tables=tables, maps=map_plotter
    )

    audio_tools = providers.Singleton(FfmpegAudioTools)
    score_pulses = providers.Factory(ScorePulses, reader=audio_io, tables=tables)

    spectrogram_images = providers.Singleton(PillowImages)
    spectrogram_plotter = providers.Singleton(MatplotlibPlotter)
    render_spectrogram = providers.Factory(
        RenderSpectrogram, reader=audio_io, images=spectrogram_images, plotter=spectrogram_plotter
    )

    review_pages = providers.Singleton(HtmlReviewPages)
    build_review = providers.Factory(
        BuildReview, reader=audio_io, writer=audio_io, images=spectrogram_images, pages=review_pages
    )
    save_review_marks = providers.Factory(
        SaveReviewMarks, tables=tables, annotations=annotation_store
    )

    # training and prediction
    row_sink = providers.Singleton(CsvRowSink)
    classifier_store = providers.Factory(_torch_classifier_store)
    classifier_trainer = providers.Factory(_torch_trainer, reader=audio_io)
    train_classifier = providers.Factory(TrainClassifier, trainer=classifier_trainer)
    predict_scores = providers.Factory(
        PredictScores, reader=audio_io, store=classifier_store, sink=row_sink
    )

    # the main job end to end
    run_demo = providers.Factory(
        RunDemo,
        reader=audio_io,
        annotations=annotation_store,
        label=label_recordings,
        train=train_classifier,
        predict=predict_scores,
        ribbit=score_pulses,
        localize=localize_events,
        figures=providers.Singleton(MatplotlibReportFigures),
        page=providers.Singleton(HtmlReportPage),
    )
