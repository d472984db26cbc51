"""The composition root: one dependency-injector container wiring adapters into use-cases."""

from __future__ import annotations

from dependency_injector import containers, providers

from opso.adapters.csv_tables import CsvTableWriter
from opso.adapters.ffmpeg_tools import FfmpegAudioTools
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.app.ribbit import ScorePulses
from opso.app.split import SplitAudio, SplitRecordings


class Container(containers.DeclarativeContainer):
    """Default wiring. Tests and services override providers, e.g. ``c.audio_io.override(fake)``."""

    audio_io = providers.Singleton(SoundfileAudioIO)
    tables = providers.Singleton(CsvTableWriter)

    split_audio = providers.Factory(SplitAudio, writer=audio_io)
    split_recordings = providers.Factory(
        SplitRecordings, reader=audio_io, writer=audio_io, tables=tables
    )

    audio_tools = providers.Singleton(FfmpegAudioTools)
    score_pulses = providers.Factory(ScorePulses, reader=audio_io, tables=tables)
