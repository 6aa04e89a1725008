"""The layers point inward (STYLE.md): domain imports nothing of the project outside itself and
no third-party package; adapters and services never import the edges; sim imports no service."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import civicledger

ROOT = Path(civicledger.__file__).parent
EDGES = ("civicledger.api", "civicledger.web", "civicledger.cli", "civicledger.demo")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def files(package: str) -> list[Path]:
    base = ROOT / package
    return (
        sorted(base.rglob("*.py"))
        if base.is_dir()
        else ([base.with_suffix(".py")] if base.with_suffix(".py").exists() else [])
    )


def test_domain_imports_only_the_standard_library_and_itself() -> None:
    stdlib = sys.stdlib_module_names
    for path in files("domain"):
        for name in imports_of(path):
            top = name.split(".")[0]
            if top == "civicledger":
                assert name.startswith("civicledger.kernel"), f"{path} imports {name}"
            else:
                assert top in stdlib or top == "__future__", f"{path} imports third-party {name}"


def test_adapters_services_and_ports_never_import_the_edges() -> None:
    for package in ("adapters", "services", "ports"):
        for path in files(package):
            for name in imports_of(path):
                assert not name.startswith(EDGES), f"{path} imports the edge {name}"


def test_sim_uses_the_domain_not_the_edges() -> None:
    for path in files("sim"):
        for name in imports_of(path):
            assert not name.startswith(EDGES), f"{path} imports the edge {name}"
