"""House rules of the floor_sensors package, checked on its source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import floor_sensors

PACKAGE = Path(floor_sensors.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
GATEWAY_MODULES = [m for m in MODULES if "firmware" not in m.parts and m.name != "__init__.py"]


def imports_of(tree: ast.AST) -> set[str]:
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return names


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_floor_sensors_never_imports_kiosk(module: Path) -> None:
    assert not any(n == "kiosk" or n.startswith("kiosk.") for n in imports_of(ast.parse(module.read_text())))


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_has_a_docstring_and_every_public_function_one_too(module: Path) -> None:
    tree = ast.parse(module.read_text())
    assert ast.get_docstring(tree), module.name

    def public(node: ast.AST, inside_private: bool) -> list[str]:
        missing = []
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                missing += public(child, inside_private or child.name.startswith("_"))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if not child.name.startswith("_") and not inside_private and not ast.get_docstring(child):
                    missing.append(child.name)
        return missing

    assert public(tree, False) == []


@pytest.mark.parametrize("module", GATEWAY_MODULES, ids=lambda p: p.name)
def test_every_gateway_module_has_its_module_logger(module: Path) -> None:
    assert "logger = logging.getLogger(__name__)" in module.read_text()


@pytest.mark.parametrize("module", GATEWAY_MODULES, ids=lambda p: p.name)
def test_logging_is_configured_only_in_the_entry_point(module: Path) -> None:
    if module.name != "cli.py":
        assert "basicConfig" not in module.read_text()
