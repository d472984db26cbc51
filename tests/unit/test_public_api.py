"""The public names of ``import opso``: lazy, complete, and visible to type checkers."""

import ast
import importlib
from pathlib import Path

import opso

INIT = Path(opso.__file__)


def _type_checking_imports() -> dict[str, str]:
    tree = ast.parse(INIT.read_text())
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    )
    found: dict[str, str] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.module is not None
        for alias in node.names:
            assert alias.asname == alias.name, (
                f"{alias.name}: use `X as X` so mypy sees the re-export"
            )
            found[alias.name] = node.module
    return found


def test_type_checking_block_matches_lazy_exports() -> None:
    assert _type_checking_imports() == opso._EXPORTS


def test_every_export_resolves_to_the_named_module() -> None:
    for name, module in opso._EXPORTS.items():
        assert getattr(opso, name) is getattr(importlib.import_module(module), name), name
