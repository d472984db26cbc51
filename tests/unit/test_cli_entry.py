import shutil
import subprocess

from click.testing import CliRunner

from opso.cli import main


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for name in main.list_commands(None):  # type: ignore[arg-type]
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output


def test_installed_entry_point_runs() -> None:
    exe = shutil.which("opso")
    assert exe is not None, "the opso console script is not installed"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True)
    assert "split" in out.stdout
