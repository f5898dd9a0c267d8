"""The layering rules of the architecture, checked on the source (issue #14).

- aiohttp is imported by the transport (``_http.py``) and the emulator only: everything
  else sees the project's own Response and errors.
- Integration names appear as code only in the emulator's vendor classes and the
  planner's capability table: adding a vendor touches those two places.
  (``"cursor"`` is also Truto's query parameter, so the check covers the other names.)
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from truto_stream.plan.capabilities import known_integrations

PACKAGE = Path(__file__).resolve().parents[2] / "truto_stream"
MAY_IMPORT_AIOHTTP = ("_http.py", "emulator/")
MAY_NAME_INTEGRATIONS = ("emulator/vendors/", "plan/capabilities.py")


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(), str(path))


def imported(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def code_strings(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """String constants that are code, not docstrings."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in docstrings:
            continue
        if isinstance(node.value, str):
            yield node.lineno, node.value


def test_aiohttp_is_imported_by_the_transport_and_the_emulator_only() -> None:
    offenders = [
        name
        for name, tree in modules()
        if not name.startswith(MAY_IMPORT_AIOHTTP)
        and any(m == "aiohttp" or m.startswith("aiohttp.") for m in imported(tree))
    ]
    assert offenders == []


def test_integration_names_live_in_the_vendors_and_the_capability_table() -> None:
    names = {name for name in known_integrations() if name != "cursor"}
    assert names, "the capability table names the integrations"
    offenders = [
        f"{name}:{line} {value!r}"
        for name, tree in modules()
        if not name.startswith(MAY_NAME_INTEGRATIONS)
        for line, value in code_strings(tree)
        if value.lower() in names
    ]
    assert offenders == []


@pytest.mark.parametrize("rule", [MAY_IMPORT_AIOHTTP, MAY_NAME_INTEGRATIONS])
def test_the_allowed_places_exist(rule: tuple[str, ...]) -> None:
    # A rule about a file that moved would pass for nothing.
    for place in rule:
        assert (PACKAGE / place).exists(), place


def test_the_readmes_module_map_names_every_module() -> None:
    # The architecture section is the newcomer's map: a module missing from it is lost.
    readme = (PACKAGE.parent / "README.md").read_text()
    section = readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    names = {
        path.name if path.is_dir() else path.stem
        for path in PACKAGE.iterdir()
        if not path.name.startswith(("__", "."))
        and (path.suffix == ".py" or (path / "__init__.py").exists())
    } - {"_version"}
    missing = sorted(name for name in names if not re.search(rf"\b{name}(\.py|/)", section))
    assert missing == []
