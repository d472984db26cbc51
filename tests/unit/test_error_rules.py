"""Errors opso raises on purpose are OpsoErrors: argument errors are ParameterErrors."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import opso
from opso.cli import main
from opso.domain.audio import clip_times

SRC = Path(__file__).resolve().parents[2] / "src" / "opso"


def test_no_bare_builtin_value_errors_in_the_package() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                if isinstance(func, ast.Name) and func.id == "ValueError":
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert found == []


@pytest.mark.parametrize(
    "call",
    [
        lambda: clip_times(10.0, 0.0),
        lambda: opso.Audio(np.zeros(10, dtype=np.float32), 10).extend(-1.0),
        lambda: opso.binarize(np.zeros((2, 2, 2)), 0.5),
        lambda: opso.make_runner("slurm"),  # type: ignore[arg-type]
    ],
    ids=["clip_times", "extend", "binarize", "make_runner"],
)
def test_argument_errors_are_caught_as_opso_errors(call: object) -> None:
    with pytest.raises(opso.OpsoError) as caught:
        call()  # type: ignore[operator]
    assert isinstance(caught.value, opso.ParameterError) and isinstance(caught.value, ValueError)


def test_cli_argument_errors_exit_2_with_the_message(tmp_path: Path, short_moth: Path) -> None:
    args = ["split", str(short_moth), "-o", str(tmp_path), "--clip-duration", "1"]
    result = CliRunner().invoke(main, [*args, "--clip-overlap", "2"])
    assert result.exit_code == 2, result.output
    assert "clip_overlap must be in [0, clip_duration=1.0)" in result.output
    assert not list(tmp_path.glob("*.wav"))
