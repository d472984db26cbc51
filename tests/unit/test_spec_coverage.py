"""Every class, function and method of the OpenSoundscape 0.4 spec exists in opso, same signature.

The spec's entries are facts kept in ``tests/data/spec/opensoundscape-0.4-signatures.jsonl``,
extracted once from the OpenSoundscape 0.4 API text (see ``tests/data/README.md``): each name is
looked up in the spec-named opso module (``opso.<module>``) when there is one, else at the top
level, and its parameter names, their order and their defaults are compared with the spec's.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import opso

SPEC = Path(__file__).resolve().parents[1] / "data" / "spec" / "opensoundscape-0.4-signatures.jsonl"


def parse_params(text: str) -> list[tuple[str, object]]:
    """``"a, b=1, c='x'"`` -> ``[("a", EMPTY), ("b", 1), ("c", "x")]``."""
    call = ast.parse(f"f({text})", mode="eval").body
    assert isinstance(call, ast.Call)
    found: list[tuple[str, object]] = []
    for arg in call.args:
        assert isinstance(arg, ast.Name)
        found.append((arg.id, inspect.Parameter.empty))
    for kw in call.keywords:
        assert kw.arg is not None
        found.append((kw.arg, ast.literal_eval(kw.value)))
    return found


def spec_entries() -> list[tuple[str, str, str | None, list[tuple[str, object]]]]:
    """``(module, owner or name, method or None, params)`` for every signature in the spec."""
    entries: list[tuple[str, str, str | None, list[tuple[str, object]]]] = []
    for line in SPEC.read_text().splitlines():
        e = json.loads(line)
        entries.append((e["module"], e["name"], e["method"], parse_params(e["params"])))
    return entries


def resolve(module: str, name: str) -> Any:
    try:
        spec_module = importlib.import_module(f"opso.{module}")
        if hasattr(spec_module, name):
            return getattr(spec_module, name)
    except ImportError:
        pass
    return getattr(opso, name)


ENTRIES = spec_entries()
#: Defaults the spec's text lost in rendering: 0.4's code says "\t" where the page shows "t".
RENDERING_LOSSES = {("SplitterDataset", "column_separator"): ("t", "\t")}


def test_the_spec_has_entries() -> None:
    assert len(ENTRIES) == 53


@pytest.mark.parametrize(
    ("module", "name", "method", "params"),
    ENTRIES,
    ids=[f"{m}.{n}" + (f".{meth}" if meth else "") for m, n, meth, _ in ENTRIES],
)
def test_spec_name_and_signature(
    module: str, name: str, method: str | None, params: list[tuple[str, object]]
) -> None:
    target: Callable[..., Any] = resolve(module, name)
    if method is not None:
        target = getattr(target, method)
    sig = inspect.signature(target)
    ours = [(p.name, p.default) for p in sig.parameters.values() if p.name != "self"]
    ours = [p for p in ours if p[0] not in ("args", "kwargs")]
    spec_names = [p for p, _ in params]
    assert [p for p, _ in ours][: len(spec_names)] == spec_names
    for (pname, default), (_, our_default) in zip(params, ours, strict=False):
        if default is inspect.Parameter.empty:
            continue
        lost, meant = RENDERING_LOSSES.get((name, pname), (None, None))
        expected = meant if default == lost else default
        expected = tuple(expected) if isinstance(expected, list) else expected
        got = tuple(our_default) if isinstance(our_default, list) else our_default
        assert got == expected, f"{pname}: spec default {default!r}, opso {our_default!r}"
