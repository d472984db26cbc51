"""The composition root: one dependency-injector container wiring adapters into use-cases."""

from __future__ import annotations

from dependency_injector import containers, providers

# training and prediction: torch adapters are imported inside these factories, on first use
from opso.adapters.csv_stream import CsvRowSink
from opso.adapters.csv_tables import CsvTableWriter
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.app.predict import PredictScores
from opso.app.split import SplitAudio, SplitRecordings
from opso.app.train import TrainClassifier
from opso.ports.audio_io import AudioReader
from opso.ports.classifier import ClassifierStore, ClassifierTrainer


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

    # training and prediction
    row_sink = providers.Singleton(CsvRowSink)
    classifier_store = providers.Factory(_torch_classifier_store)
    classifier_trainer = providers.Factory(_torch_trainer, reader=audio_io)
    train_classifier = providers.Factory(TrainClassifier, trainer=classifier_trainer)
    predict_scores = providers.Factory(
        PredictScores, reader=audio_io, store=classifier_store, sink=row_sink
    )
