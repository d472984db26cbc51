"""The spec's run_command helpers: argument lists, strings split with shlex, never a shell."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import opso
from opso.commands import run_command, run_command_return_code


def test_argument_list_output_and_error() -> None:
    out, err = run_command([sys.executable, "-c", "import sys; print('hi'); sys.stderr.write('e')"])
    assert out == b"hi\n" and err == b"e"


def test_string_is_split_not_given_to_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    out, _ = run_command(f"echo 'a b' ; touch {marker} $(touch {marker})")
    assert out == f"a b ; touch {marker} $(touch {marker})\n".encode()
    assert not marker.exists()


def test_return_codes() -> None:
    assert run_command_return_code([sys.executable, "-c", "raise SystemExit(3)"]) == 3
    assert run_command_return_code("true") == 0
    assert opso.run_command_return_code is run_command_return_code


def test_missing_program_and_empty_command() -> None:
    with pytest.raises(FileNotFoundError, match="program not found: 'opso-no-such-program'"):
        run_command("opso-no-such-program --flag")
    with pytest.raises(ValueError, match="empty command"):
        run_command_return_code("   ")
    with pytest.raises(ValueError, match="quotation"):
        run_command("echo 'unclosed")
