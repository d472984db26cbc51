import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from opso.cli import main


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for name in sorted(main.commands):
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output


def test_installed_entry_point_runs() -> None:
    exe = Path(sys.executable).parent / "opso"
    assert exe.exists(), f"the opso console script is not installed beside {sys.executable}"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    assert "split" in out.stdout


def test_every_clipping_command_defaults_to_the_same_final_clip() -> None:
    """split, label, predict and runs levels cut the tail of a recording the same way."""
    import click

    commands = {
        "split": main.commands["split"],
        "label": main.commands["label"],
        "predict": main.commands["predict"],
        "runs levels": main.commands["runs"].commands["levels"],  # type: ignore[attr-defined]
    }
    defaults = {}
    for name, command in commands.items():
        (option,) = [p for p in command.params if p.name == "final_clip"]
        assert isinstance(option, click.Option)
        defaults[name] = option.default
    assert set(defaults.values()) == {"none"}, defaults
