"""The composition root: one dependency-injector container wiring adapters into use-cases."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dependency_injector import containers, providers

from opso.adapters.csv_tables import CsvTableWriter
from opso.adapters.soundfile_io import SoundfileAudioIO
from opso.app.runs import ExportRunResults, ReadRunResults, RunBatch, RunStatus
from opso.app.split import SplitAudio, SplitRecordings

if TYPE_CHECKING:
    from opso.adapters.dask_runner import DaskRunner
    from opso.adapters.multiprocessing_runner import LocalRunner
    from opso.adapters.parquet_runs import ParquetRunStore


def _parquet_run_store() -> ParquetRunStore:
    from opso.adapters.parquet_runs import ParquetRunStore

    return ParquetRunStore()


def _local_runner(workers: int = 0, attempts: int = 3) -> LocalRunner:
    from opso.adapters.multiprocessing_runner import LocalRunner

    return LocalRunner(workers, attempts=attempts)


def _dask_runner(scheduler: str | None = None, workers: int = 2, attempts: int = 3) -> DaskRunner:
    from opso.adapters.dask_runner import DaskRunner

    return DaskRunner(scheduler=scheduler, workers=workers, attempts=attempts)


class Container(containers.DeclarativeContainer):
    """Default wiring. Tests and services override providers, e.g. ``c.audio_io.override(fake)``."""

    audio_io = providers.Singleton(SoundfileAudioIO)
    tables = providers.Singleton(CsvTableWriter)

    split_audio = providers.Factory(SplitAudio, writer=audio_io)
    split_recordings = providers.Factory(
        SplitRecordings, reader=audio_io, writer=audio_io, tables=tables
    )

    run_store = providers.Singleton(_parquet_run_store)
    local_runner = providers.Factory(_local_runner)
    dask_runner = providers.Factory(_dask_runner)
    run_batch = providers.Factory(
        RunBatch, reader=audio_io, store=run_store, parts=run_store, runner=local_runner
    )
    run_status = providers.Factory(RunStatus, store=run_store, parts=run_store)
    read_run = providers.Factory(ReadRunResults, parts=run_store)
    export_run = providers.Factory(ExportRunResults, parts=run_store)
