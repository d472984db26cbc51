"""The localization guide's examples run: its Python blocks in order, then its `opso` commands."""

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from opso.cli import main

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide" / "localization.md"
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.S | re.M)


def test_guide_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = FENCE.findall(GUIDE.read_text())
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for lang, body in blocks:
        if lang == "python":
            exec(compile(body, str(GUIDE), "exec"), namespace)
    assert (tmp_path / "positions.csv").is_file()
    commands = [
        line.removeprefix("$ ").strip()
        for lang, body in blocks
        if lang == "console"
        for line in body.splitlines()
        if line.startswith("$ opso ")
    ]
    assert len(commands) == 3
    for command in commands:
        result = CliRunner().invoke(main, shlex.split(command)[1:])
        assert result.exit_code == 0, f"`{command}` failed:\n{result.output}"
        assert "5 detection(s) are 1 call(s): 1 localized, 0 flagged" in result.output
    assert (tmp_path / "map.png").stat().st_size > 1000
