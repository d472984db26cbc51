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
