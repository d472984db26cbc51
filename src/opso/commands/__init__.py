"""CLI commands, one module per topic; ``opso.cli`` assembles them."""

# The spec's ``commands`` module: run a program with an argument list, never a shell.
from opso.adapters.subprocess_commands import run_command, run_command_return_code

__all__ = ["run_command", "run_command_return_code"]
