"""Shell completion for ``opso`` (click's own)."""

from __future__ import annotations

from click.testing import CliRunner

from opso.cli import main


def test_completion_scripts() -> None:
    for shell, marker in [("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete")]:
        result = CliRunner().invoke(main, ["completion", shell])
        assert result.exit_code == 0
        assert marker in result.output and "_OPSO_COMPLETE" in result.output


def test_completion_offers_commands_and_options() -> None:
    runner = CliRunner()
    env = {"_OPSO_COMPLETE": "bash_complete", "COMP_WORDS": "opso ta", "COMP_CWORD": "1"}
    result = runner.invoke(main, [], env=env, prog_name="opso")
    assert "plain,taxa" in result.output.splitlines()
    env = {
        "_OPSO_COMPLETE": "bash_complete",
        "COMP_WORDS": "opso split --clip-d",
        "COMP_CWORD": "2",
    }
    result = runner.invoke(main, [], env=env, prog_name="opso")
    assert "plain,--clip-duration" in result.output.splitlines()
