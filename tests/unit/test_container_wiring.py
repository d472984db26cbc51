"""The composition root: run settings checked once, then read by the runner, store and jobs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import opso.api
from opso.adapters.dask_runner import DaskRunner
from opso.adapters.multiprocessing_runner import LocalRunner
from opso.adapters.torch_classifier import TorchClassifierStore
from opso.app.settings import RunSettings
from opso.cli import main
from opso.container import Container, usable_cpus
from opso.domain.errors import OpsoError, ParameterError


def test_defaults_give_a_local_runner_on_every_usable_cpu() -> None:
    runner = Container().runner()
    assert isinstance(runner, LocalRunner)
    assert runner.workers == usable_cpus() and runner.attempts == 3


@pytest.mark.parametrize(
    ("settings", "kind", "scheduler"),
    [
        ({"runner": "dask-local", "workers": 2}, DaskRunner, None),
        ({"runner": "dask", "scheduler": "tcp://h:8786"}, DaskRunner, "tcp://h:8786"),
        ({"runner": "local", "workers": 0, "attempts": 5}, LocalRunner, None),
    ],
)
def test_config_selects_and_sets_up_the_runner(
    settings: dict[str, object], kind: type, scheduler: str | None
) -> None:
    c = Container()
    c.config.from_dict(RunSettings(**settings).as_config())  # type: ignore[arg-type]
    runner = c.runner()
    assert isinstance(runner, kind)
    if isinstance(runner, DaskRunner):
        assert runner.scheduler == scheduler
    elif isinstance(runner, LocalRunner):
        assert runner.workers == 0 and runner.attempts == 5


def test_config_reaches_the_model_store_of_every_job() -> None:
    c = Container()
    c.config.from_dict(RunSettings(device="cpu", backend="eager").as_config())
    store = c.classifier_store()
    assert isinstance(store, TorchClassifierStore)
    assert (store.device, store.backend) == ("cpu", "eager")
    job = c.predict_shards(Path("m.opso"), batch_size=4)
    assert isinstance(job.store, TorchClassifierStore)
    assert job.store.backend == "eager" and job.batch_size == 4


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"runner": "dask"}, "needs a scheduler"),
        ({"scheduler": "tcp://h:1"}, "only it takes one"),
        ({"runner": "slurm"}, "runner must be one of"),
        ({"runner": "dask-local", "workers": 0}, "needs workers >= 1"),
        ({"attempts": 0}, "attempts must be >= 1"),
        ({"backend": "gpu"}, "backend must be"),
    ],
)
def test_bad_settings_are_parameter_errors(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=message) as caught:
        RunSettings(**settings)  # type: ignore[arg-type]
    assert isinstance(caught.value, OpsoError) and isinstance(caught.value, ValueError)
    if "backend" not in settings:  # the Python API applies the same rules
        with pytest.raises(ParameterError, match=message):
            opso.api.make_runner(**settings)  # type: ignore[arg-type]


def test_cli_refuses_the_same_settings_as_usage_errors(tmp_path: Path) -> None:
    args = ["runs", "levels", str(tmp_path), "--run-dir", str(tmp_path / "run")]
    result = CliRunner().invoke(main, [*args, "--scheduler", "tcp://h:1"])
    assert result.exit_code == 2 and "only it takes one" in result.output
    result = CliRunner().invoke(main, [*args, "--runner", "dask-local", "--workers", "0"])
    assert result.exit_code == 2 and "needs workers >= 1" in result.output
    assert not (tmp_path / "run").exists()
