"""The composition root: one dependency-injector container wiring adapters into use-cases."""

from __future__ import annotations

from dependency_injector import containers, providers

from opso.adapters.csv_tables import CsvTableWriter
from opso.adapters.matplotlib_plots import MatplotlibPlotter
from opso.adapters.pillow_images import PillowImages
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.app.spectrogram import RenderSpectrogram
from opso.app.split import SplitAudio, SplitRecordings


class Container(containers.DeclarativeContainer):
    """Default wiring. Tests and services override providers, e.g. ``c.audio_io.override(fake)``."""

    audio_io = providers.Singleton(SoundfileAudioIO)
    tables = providers.Singleton(CsvTableWriter)

    split_audio = providers.Factory(SplitAudio, writer=audio_io)
    split_recordings = providers.Factory(
        SplitRecordings, reader=audio_io, writer=audio_io, tables=tables
    )

    spectrogram_images = providers.Singleton(PillowImages)
    spectrogram_plotter = providers.Singleton(MatplotlibPlotter)
    render_spectrogram = providers.Factory(
        RenderSpectrogram, reader=audio_io, images=spectrogram_images, plotter=spectrogram_plotter
    )
