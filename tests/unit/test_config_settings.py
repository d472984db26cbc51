"""Configuration: the spec's sections, strict validation, the config commands and --config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

import opso
from opso.app.settings import DEFAULT_CONFIG, OpsoConfig
from opso.cli import main
from opso.commands.base import config_problems
from opso.domain.errors import ConfigError


def test_default_config_has_the_spec_sections() -> None:
    cfg = opso.get_default_config()
    assert set(cfg) == {"runtime", "raven", "audio", "split_and_save"}
    assert cfg["audio"] == {
        "sample_rate": 22050,
        "max_duration": None,
        "resample_type": "kaiser_best",
    }
    assert cfg["split_and_save"]["clip_duration"] == 5
    assert cfg["runtime"] == {"cores_per_node": 1, "batch_size": 1}


def test_every_error_is_reported_with_its_key_path() -> None:
    text = "audio: {sample_rate: 4.5, bogus: 1}\nsplit_and_save: {clip_duration: -1}\nfoo: 2\n"
    with pytest.raises(ConfigError) as info:
        opso.validate(text)
    paths = [p for p, _ in info.value.errors]
    assert paths == ["audio.sample_rate", "audio.bogus", "split_and_save.clip_duration", "foo"]
    assert "4.5" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_floats_are_not_truncated_and_types_are_strict() -> None:
    assert (
        opso.validate("split_and_save: {clip_duration: 4.5}")["split_and_save"]["clip_duration"]
        == 4.5
    )
    for bad in (
        "runtime: {batch_size: 4.5}",
        "raven: {annotations: 'yes'}",
        "audio: {sample_rate: '22050'}",
    ):
        with pytest.raises(ConfigError):
            opso.validate(bad)


def test_partial_config_takes_defaults_and_models_are_frozen() -> None:
    cfg = opso.validate("audio: {sample_rate: null}")
    assert cfg["audio"]["sample_rate"] is None
    assert cfg["runtime"]["batch_size"] == 1
    model = OpsoConfig()
    with pytest.raises(ValueError, match="frozen"):
        model.runtime.batch_size = 3


def test_label_corrections_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"raven\.label_corrections"):
        opso.validate(f"raven: {{label_corrections: {tmp_path / 'none.csv'}}}")
    f = tmp_path / "fix.csv"
    f.write_text("raw,corrected\n")
    assert opso.validate(f"raven: {{label_corrections: {f}}}")["raven"]["label_corrections"] == str(
        f
    )


def test_validate_file_and_bad_yaml(tmp_path: Path) -> None:
    f = tmp_path / "c.yml"
    f.write_text(DEFAULT_CONFIG)
    assert opso.validate_file(f) == opso.get_default_config()
    f.write_text("audio: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        opso.validate_file(f)
    with pytest.raises(FileNotFoundError):
        opso.validate_file(tmp_path / "missing.yml")


def test_config_default_spec_prints_valid_yaml() -> None:
    result = CliRunner().invoke(main, ["config", "default", "--spec"])
    assert result.exit_code == 0
    assert opso.validate(result.output) == opso.get_default_config()
    assert set(yaml.safe_load(result.output)) == {"runtime", "raven", "audio", "split_and_save"}


def test_config_validate_lists_every_error(tmp_path: Path) -> None:
    f = tmp_path / "bad.yml"
    f.write_text("audio: {sample_rate: 4.5}\nsplit: {clip-duration: abc, nope: 1}\nwhat: 1\n")
    result = CliRunner().invoke(main, ["config", "validate", str(f)])
    assert result.exit_code == 1
    for key in ("audio.sample_rate", "split.clip-duration", "split.nope", "what"):
        assert f"{f}: {key}:" in result.output
    good = tmp_path / "good.yml"
    good.write_text("split: {clip_overlap: 0.5}\n")
    ok = CliRunner().invoke(main, ["config", "validate", str(good)])
    assert ok.exit_code == 0 and "valid" in ok.output


@pytest.fixture
def short_wav(tmp_path: Path) -> Path:
    import numpy as np
    import soundfile as sf

    path = tmp_path / "rec.wav"
    sf.write(path, np.zeros(10 * 8000, dtype=np.float32), 8000)
    return path


def _clips(result_output: str) -> list[tuple[float, float]]:
    rows = [line.split("\t") for line in result_output.splitlines() if "\t" in line]
    return [(float(b), float(e)) for _, b, e in rows]


def test_config_file_values_become_option_defaults(tmp_path: Path, short_wav: Path) -> None:
    cfg = tmp_path / "run.yml"
    cfg.write_text(
        "split_and_save: {clip_duration: 4, final_clip: remainder}\nsplit: {clip-overlap: 1}\n"
    )
    out = str(tmp_path / "clips")
    root = CliRunner().invoke(
        main, ["--config", str(cfg), "split", "-o", out, "--dry-run", str(short_wav)]
    )
    assert root.exit_code == 0, root.output
    assert _clips(root.output) == [(0, 4), (3, 7), (6, 10)]
    # the same file given to the command itself, and a command-line option wins over it
    own = CliRunner().invoke(
        main,
        [
            "split",
            "--config",
            str(cfg),
            "-o",
            out,
            "--dry-run",
            "--clip-overlap",
            "0",
            str(short_wav),
        ],
    )
    assert own.exit_code == 0, own.output
    assert _clips(own.output) == [(0, 4), (4, 8), (8, 10)]


def test_invalid_config_file_stops_the_command(tmp_path: Path, short_wav: Path) -> None:
    cfg = tmp_path / "run.yml"
    cfg.write_text("split: {clip_duration: -x}\n")
    result = CliRunner().invoke(
        main, ["--config", str(cfg), "split", "-o", str(tmp_path), str(short_wav)]
    )
    assert result.exit_code == 2
    assert "split.clip_duration" in result.output
    assert not (tmp_path / "clips.csv").exists()


def _leaves(group: click.Group, path: str = "") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            if name != "config":
                found += _leaves(cmd, f"{path}{name} ")
        else:
            found.append((f"{path}{name}", cmd))
    return found


def test_every_command_accepts_config() -> None:
    leaves = _leaves(main)
    assert {"split", "ribbit", "taxa"} <= {name for name, _ in leaves}
    for name, cmd in leaves:
        assert any(p.name == "config" for p in cmd.params), name


def test_shared_keys_reach_nested_commands(tmp_path: Path) -> None:
    root = click.Group("root", commands=[click.Group("grp", commands=[])])
    leaf = click.Command("leaf", params=[click.Option(["--batch-size"], type=int)])
    group = root.commands["grp"]
    assert isinstance(group, click.Group)
    group.add_command(leaf)
    defaults, problems = config_problems(root, {"runtime": {"batch_size": 8}, "grp": {"x": 1}})
    assert defaults == {"grp": {"leaf": {"batch_size": 8}}}
    assert [p for p, _ in problems] == ["grp.x"]  # a group's section maps its commands


def test_config_default_and_presets_write_files(tmp_path: Path) -> None:
    import pandas as pd

    from opso.app.ribbit import analysable, presets_from_table

    out = tmp_path / "run.yml"
    result = CliRunner().invoke(main, ["config", "default", "--spec", "-o", str(out)])
    assert result.exit_code == 0 and out.read_text() == DEFAULT_CONFIG
    presets = tmp_path / "presets.csv"
    result = CliRunner().invoke(main, ["config", "presets", "-o", str(presets)])
    assert result.exit_code == 0
    table = pd.read_csv(presets)
    assert [p.window_len for p in analysable(presets_from_table(table))] == [2, 15, 2, 5, 0.5]


def _leaf_paths(
    group: click.Group, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            found.extend(_leaf_paths(cmd, (*path, name)))
        else:
            found.append(((*path, name), cmd))
    return found


def test_config_default_reproduces_every_commands_own_defaults(tmp_path: Path) -> None:
    out = tmp_path / "run.yml"
    result = CliRunner().invoke(main, ["config", "default", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(out.read_text())
    assert data["train"]["batch-size"] == 16 and data["split"]["sample-rate"] is None
    defaults, problems = config_problems(main, data)
    assert problems == []
    checked = 0
    for path, cmd in _leaf_paths(main):
        mapping: Any = defaults
        for part in path:
            mapping = mapping.get(part, {})
        ctx = click.Context(cmd, info_name=path[-1])
        for p in cmd.params:
            if isinstance(p, click.Option) and p.name in mapping:
                built_in = p.type_cast_value(ctx, p.get_default(ctx, call=True))
                from_file = p.type_cast_value(ctx, mapping[p.name])
                assert from_file == built_in, (path, p.name)
                checked += 1
    assert checked > 50


def test_split_with_the_default_config_writes_the_same_clips(
    tmp_path: Path, birds_10s: Path
) -> None:
    cfg = tmp_path / "run.yml"
    assert CliRunner().invoke(main, ["config", "default", "-o", str(cfg)]).exit_code == 0
    args = ["split", str(birds_10s), "--clip-duration", "4"]
    plain = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "a")])
    configured = CliRunner().invoke(main, ["--config", str(cfg), *args, "-o", str(tmp_path / "b")])
    assert plain.exit_code == configured.exit_code == 0, configured.output
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_group_sections_configure_their_commands(tmp_path: Path) -> None:
    defaults, problems = config_problems(main, {"runs": {"levels": {"clip-duration": 2}}})
    assert problems == [] and defaults["runs"]["levels"]["clip_duration"] == 2
    _, problems = config_problems(main, {"runs": {"nope": {}}, "train": {"bogus": 1}})
    assert sorted(p for p, _ in problems) == ["runs.nope", "train.bogus"]
