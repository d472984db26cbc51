"""CLI commands, one module per topic; ``opso.cli`` assembles them.

The package is also OpenSoundscape's ``commands`` module: ``run_command`` and
``run_command_return_code`` run a program with an argument list, never a shell (they live in
``opso.api``; commands reach adapters only through the container and the API).
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_command", "run_command_return_code"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from opso import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
