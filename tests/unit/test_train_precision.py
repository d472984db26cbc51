"""Training precision (bf16 autocast where the hardware has it) and training without validation."""

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import opso.adapters.torch_training as tt
from opso.adapters.torch_training import (
    cpuinfo_flags,
    native_bf16,
    resolve_precision,
    train,
)
from opso.domain.classifier import EpochSummary, choose_precision
from opso.domain.errors import ParameterError
from tests.unit.test_train_loop import Blobs, tiny_cnn

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("requested", "native", "used"),
    [
        ("auto", True, "bf16"),
        ("auto", False, "fp32"),
        ("bf16", True, "bf16"),
        ("fp32", True, "fp32"),
        ("fp32", False, "fp32"),
    ],
)
def test_auto_is_bf16_only_where_the_hardware_computes_it(
    requested: str, native: bool, used: str
) -> None:
    assert choose_precision(requested, device="CPU", native_bf16=native) == used


def test_bf16_asked_for_without_native_bf16_is_refused_naming_the_problem() -> None:
    with pytest.raises(ParameterError, match=r"CPU has no native bfloat16.*auto or fp32"):
        choose_precision("bf16", device="CPU", native_bf16=False)
    with pytest.raises(ParameterError, match=r"one of auto, bf16, fp32, got 'fp16'"):
        choose_precision("fp16", device="CPU", native_bf16=True)


@pytest.mark.parametrize(
    ("capabilities", "native"),
    [
        ({"avx512_f": True, "avx512_bf16": True}, True),  # Cooper Lake, Zen 4
        ({"avx512_f": True, "amx_bf16": True, "amx_tile": True}, True),  # Sapphire Rapids
        ({"avx512_f": True, "avx512_bf16": False, "amx_bf16": False}, False),  # Skylake-X
        ({"avx2": True}, False),
        ({}, False),
    ],
)
def test_cpu_bf16_comes_from_avx512_bf16_or_amx(capabilities: dict[str, Any], native: bool) -> None:
    assert native_bf16(CPU, capabilities) is native
    assert resolve_precision("auto", CPU, capabilities) == ("bf16" if native else "fp32")


def test_mps_never_counts_as_native_bf16() -> None:
    assert not native_bf16(torch.device("mps"), {"avx512_bf16": True})


def test_cpuinfo_flags_read_the_flags_line() -> None:
    text = (
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R)\n"
        "flags\t\t: fpu sse avx512f avx512_bf16 amx_bf16 amx_tile\n\nprocessor\t: 1\n"
    )
    flags = cpuinfo_flags(text)
    assert flags["avx512_bf16"] and flags["amx_bf16"] and "fpu" in flags
    assert native_bf16(CPU, flags)
    assert not native_bf16(CPU, cpuinfo_flags("flags\t: fpu sse avx2 avx512f\n"))


def test_bf16_request_on_a_cpu_without_it_fails_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tt, "native_bf16", lambda device, capabilities=None: False)
    model = tiny_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = (Blobs(4), Blobs(2), opt, nn.CrossEntropyLoss())
    with pytest.raises(ParameterError, match="no native bfloat16"):
        train(tmp_path / "run", model, *data, precision="bf16")
    with pytest.raises(ParameterError, match="precision must be one of"):
        train(tmp_path / "run", model, *data, precision="half")
    assert not (tmp_path / "run").exists()


def _record_conv_dtypes(model: nn.Module) -> list[tuple[bool, torch.dtype]]:
    """Record (training mode, output dtype) of the model's first conv at each call."""
    seen: list[tuple[bool, torch.dtype]] = []
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    conv.register_forward_hook(lambda m, i, out: seen.append((m.training, out.dtype)))
    return seen


def test_bf16_autocast_trains_while_weights_validation_and_checkpoints_stay_float32(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tt, "native_bf16", lambda device, capabilities=None: True)
    model = tiny_cnn()
    seen = _record_conv_dtypes(model)
    valid = Blobs(6)
    paths = train(
        tmp_path,
        model,
        Blobs(16),
        valid,
        torch.optim.Adam(model.parameters(), lr=0.02),
        nn.CrossEntropyLoss(),
        epochs=1,
        batch_size=4,
        print_logging=False,
    )
    assert {dtype for training, dtype in seen if training} == {torch.bfloat16}
    assert {dtype for training, dtype in seen if not training} == {torch.float32}
    ck = torch.load(paths[0], weights_only=True)
    assert ck["precision"] == "bf16"
    assert {v.dtype for v in ck["model_state_dict"].values()} == {torch.float32}
    assert "precision: bf16 autocast (float32 weights)" in (tmp_path / "metadata.txt").read_text()
    # the validation loss is the float32 loss of the weights the checkpoint holds
    model.eval()
    with torch.inference_mode():
        x = torch.stack([valid[i]["X"] for i in range(6)])
        expected = nn.CrossEntropyLoss()(model(x), torch.tensor(valid.labels)).item()
    assert math.isfinite(expected)
    assert ck["valid_metrics"]["loss"] == pytest.approx(expected, rel=1e-5)


def test_fp32_asked_for_computes_in_float32(tmp_path: Path) -> None:
    model = tiny_cnn()
    seen = _record_conv_dtypes(model)
    paths = train(
        tmp_path,
        model,
        Blobs(8),
        Blobs(4),
        torch.optim.Adam(model.parameters(), lr=0.02),
        nn.CrossEntropyLoss(),
        epochs=1,
        batch_size=4,
        print_logging=False,
        precision="fp32",
    )
    assert {dtype for _, dtype in seen} == {torch.float32}
    assert torch.load(paths[0], weights_only=True)["precision"] == "fp32"


def test_training_without_a_validation_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tiny_cnn()
    summaries: list[EpochSummary] = []
    paths = train(
        tmp_path,
        model,
        Blobs(16),
        None,
        torch.optim.Adam(model.parameters(), lr=0.02),
        nn.CrossEntropyLoss(),
        epochs=2,
        batch_size=4,
        log_every=1,
        save_scores=True,
        on_epoch=summaries.append,
    )
    assert [p.name for p in paths] == ["epoch-1.tar", "epoch-2.tar"]
    ck = torch.load(paths[-1], weights_only=True)
    assert ck["valid_metrics"] is None and ck["train_metrics"]["loss"] > 0
    assert [math.isnan(s.valid_loss) and math.isfinite(s.train_loss) for s in summaries] == [
        True,
        True,
    ]
    assert (tmp_path / "epoch-2-train-scores.csv").exists()
    assert not list(tmp_path.glob("*valid-scores.csv"))
    assert "valid_dataset: none" in (tmp_path / "metadata.txt").read_text()
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("epoch ")]
    assert len(lines) == 2 and all("train loss" in ln and "valid" not in ln for ln in lines)


def test_an_empty_validation_set_is_an_error_that_says_how_to_train_without_one(
    tmp_path: Path,
) -> None:
    model = tiny_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ParameterError, match="valid_dataset=None"):
        train(tmp_path, model, Blobs(4), Blobs(0), opt, nn.CrossEntropyLoss())
