"""The import rules of docs/architecture.md, enforced as one table.

Every module of ``src/civicledger`` falls in exactly one layer (``layer_of``); ``MAY_IMPORT`` lists,
for each layer, the layers of the project it may import, and ``THIRD_PARTY`` the outside packages
beyond the standard library. A mechanism's modules may import only their *own* mechanism's
modules: two mechanisms meet through the kernel's hooks, never directly. Relative imports are
refused everywhere (a reader should see where a name comes from). The walk covers every import
statement, including those inside functions.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import civicledger

ROOT = Path(civicledger.__file__).parent

KERNEL_ENGINE = {
    "engine",
    "audit",
    "incremental",
    "state",
    "snapshot",
    "signing",
    "bootstrap",
    "handlers",
    "payments",
    "records",
}
"""Kernel modules that run commands against a store; every other kernel module is pure code."""

MECHANISM_ROLES = {
    "rules": "mechanism.pure",
    "policy": "mechanism.pure",
    "messages": "mechanism.pure",
    "commands": "mechanism.pure",
    "events": "mechanism.pure",
    "values": "mechanism.pure",
    "coefficient": "mechanism.pure",
    "chain": "mechanism.pure",
    "routing": "mechanism.pure",
    "flow": "mechanism.compute",
    "solver": "mechanism.compute",
    "bulk": "mechanism.compute",
    "kernels": "mechanism.compute",
    "handlers": "mechanism.state",
    "queries": "mechanism.state",
    "state": "mechanism.state",
    "cli": "mechanism.cli",
    "api": "mechanism.api",
    "pages": "mechanism.pages",
    "demo": "mechanism.demo",
    "sim": "mechanism.sim",
}
"""The role of each module a mechanism package may hold; a module of another name fails the test."""

EDGE_KITS = {
    "civicledger.cli.app": "kit.cli",
    "civicledger.cli.output": "kit.cli",
    "civicledger.api.kit": "kit.api",
    "civicledger.api.problems": "kit.api",
    "civicledger.api.reads": "kit.api",
    "civicledger.web.site": "kit.web",
    "civicledger.web.charts": "kit.web",
    "civicledger.web.i18n": "kit.web",
    "civicledger.demo": "kit.demo",
    "civicledger.sim.sector": "kit.sim",
    "civicledger.sim.rules": "kit.sim",
    "civicledger.sim.draws": "kit.sim",
    "civicledger.sim.threads": "kit.sim",
}
"""The parts of the edges a mechanism's own edge modules build on (they name no mechanism)."""

KERNEL = {"kernel.pure", "kernel.engine"}
MECHANISM_CORE = {"mechanism.init", "mechanism.pure", "mechanism.compute", "mechanism.state"}
EDGES = {"edge.cli", "edge.api", "edge.web", "edge.demo", "edge.sim"}
KITS = set(EDGE_KITS.values())

MAY_IMPORT: dict[str, set[str]] = {
    "kernel.pure": {"kernel.pure"},
    "kernel.engine": KERNEL,
    "mechanism.init": {"kernel.pure", "mechanism.pure"},
    "mechanism.pure": {"kernel.pure", "mechanism.init", "mechanism.pure"},
    "mechanism.compute": {"kernel.pure", "mechanism.init", "mechanism.pure", "mechanism.compute"},
    "mechanism.state": KERNEL | MECHANISM_CORE,
    "mechanism.cli": KERNEL | MECHANISM_CORE | {"adapters", "kit.cli", "top"},
    "mechanism.api": KERNEL | MECHANISM_CORE | {"kit.api"},
    "mechanism.pages": KERNEL | MECHANISM_CORE | {"kit.api", "kit.web"},
    "mechanism.demo": KERNEL | MECHANISM_CORE | {"adapters", "kit.demo"},
    "mechanism.sim": {"kernel.pure", "mechanism.init", "mechanism.pure", "mechanism.compute", "kit.sim"},
    "adapters": KERNEL | {"adapters"},
    "edge.cli": KERNEL | {"adapters", "top"} | EDGES | KITS,
    "edge.api": KERNEL | {"adapters", "top", "edge.api", "edge.web"} | {"kit.api", "kit.web"},
    "edge.web": KERNEL | {"edge.web", "kit.web", "kit.api", "edge.api"},
    "edge.demo": KERNEL | {"adapters", "edge.demo", "kit.demo"},
    "edge.sim": {"kernel.pure", "edge.sim", "kit.sim"},
    "top": KERNEL | {"top", "edge.cli"},
    "kit.cli": KERNEL | {"adapters", "top", "kit.cli"},
    "kit.api": KERNEL | {"kit.api", "top"},
    "kit.web": KERNEL | {"kit.web", "kit.api"},
    "kit.demo": KERNEL | {"adapters", "kit.demo", "edge.demo"},
    "kit.sim": {"kernel.pure", "kit.sim"},
}
"""Which layers each layer may import (its own included where listed)."""

NUMERIC = {"numpy", "scipy"}
THIRD_PARTY: dict[str, set[str]] = {
    "kernel.pure": set(),
    "kernel.engine": set(),
    "mechanism.init": set(),
    "mechanism.pure": set(),
    "mechanism.compute": NUMERIC | {"numba"},
    "mechanism.state": set(),
    "mechanism.cli": {"typer", "rich", "matplotlib"},
    "mechanism.api": {"fastapi"},
    "mechanism.pages": {"fastapi", "markupsafe"},
    "mechanism.demo": set(),
    "mechanism.sim": NUMERIC,
    "adapters": {"sqlalchemy", "alembic", "psycopg", "cryptography"},
    "edge.cli": {"typer", "rich", "uvicorn", "numpy", "pyarrow", "matplotlib"},
    "edge.api": {"fastapi", "starlette", "uvicorn", "pydantic", "prometheus_client"},
    "edge.web": {"fastapi", "starlette", "jinja2", "markupsafe", "swagger_ui_bundle", "babel"},
    "edge.demo": set(),
    "edge.sim": {"numpy", "scipy", "pyarrow", "matplotlib", "ray"},
    "top": {"pydantic_settings", "pydantic"},
    "kit.cli": {"typer", "rich"},
    "kit.api": {"fastapi", "starlette"},
    "kit.web": {"fastapi", "starlette", "jinja2", "markupsafe", "babel"},
    "kit.demo": set(),
    "kit.sim": NUMERIC,
}
"""Outside packages beyond the standard library each layer may import."""


@dataclass(frozen=True)
class Module:
    name: str
    layer: str
    mechanism: str | None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(name: str) -> Module:
    """The layer of a project module, and the mechanism it belongs to."""
    if name in EDGE_KITS:
        return Module(name, EDGE_KITS[name], None)
    parts = name.split(".")
    if len(parts) == 1 or parts[1] in {"settings", "error_codes", "__main__"}:
        return Module(name, "top", None)
    package = parts[1]
    if package == "kernel":
        pure = len(parts) == 2 or parts[2] not in KERNEL_ENGINE
        return Module(name, "kernel.pure" if pure else "kernel.engine", None)
    if package == "mechanisms":
        if len(parts) == 2:
            return Module(name, "mechanism.init", None)
        mechanism = parts[2]
        if len(parts) == 3:
            return Module(name, "mechanism.init", mechanism)
        role = MECHANISM_ROLES.get(parts[3])
        assert role is not None, f"{name}: a mechanism module must be one of {sorted(MECHANISM_ROLES)}"
        return Module(name, role, mechanism)
    if package == "adapters":
        return Module(name, "adapters", None)
    if package in {"cli", "api", "web", "demo", "sim"}:
        return Module(name, f"edge.{package}", None)
    raise AssertionError(f"{name} is in no layer of docs/architecture.md")


def imports_of(path: Path) -> list[tuple[int, str, int]]:
    """(line, module, level) of every import in the file, including those inside functions."""
    found: list[tuple[int, str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module == "civicledger":
                found.extend((node.lineno, f"civicledger.{alias.name}", 0) for alias in node.names)
            elif node.level == 0 and node.module is not None and node.module.startswith("civicledger."):
                # ``from civicledger.kernel import state`` names a module; ``... import Engine`` does not
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    is_module = (ROOT.parent / Path(*candidate.split("."))).with_suffix(".py").exists() or (
                        ROOT.parent / Path(*candidate.split("."))
                    ).is_dir()
                    found.append((node.lineno, candidate if is_module else node.module, 0))
            else:
                found.append((node.lineno, node.module or "", node.level))
    return found


def project_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "migrations" not in p.parts)


def violations() -> list[str]:
    stdlib = sys.stdlib_module_names
    problems: list[str] = []
    for path in project_files():
        here = layer_of(module_name(path))
        for line, target, level in imports_of(path):
            where = f"{path.relative_to(ROOT.parent)}:{line}"
            if level:
                problems.append(f"{where}: relative import (.{target}); write the absolute module")
                continue
            top = target.split(".")[0]
            if top == "civicledger":
                there = layer_of(target)
                if there.layer not in MAY_IMPORT[here.layer] and there.name != here.name:
                    problems.append(f"{where}: {here.layer} may not import {there.layer} ({target})")
                if there.mechanism is not None and there.mechanism != here.mechanism:
                    problems.append(f"{where}: {here.name} imports another mechanism's module {target}")
            elif top not in stdlib and top != "__future__" and top not in THIRD_PARTY[here.layer]:
                problems.append(f"{where}: {here.layer} may not import the outside package {target}")
    return problems


def test_every_import_follows_the_table_of_docs_architecture() -> None:
    problems = violations()
    assert not problems, "\n".join(problems)


def test_every_module_is_in_a_layer_of_the_table() -> None:
    layers = {layer_of(module_name(p)).layer for p in project_files()}
    assert layers <= set(MAY_IMPORT), layers - set(MAY_IMPORT)
    assert {"kernel.pure", "kernel.engine", "mechanism.pure", "mechanism.state", "adapters"} <= layers


def test_the_kernel_and_the_edges_name_no_mechanism() -> None:
    """Edges and the kernel reach mechanisms through ``kernel.registry.installed()`` only."""
    for path in project_files():
        here = layer_of(module_name(path))
        if here.layer.startswith(("kernel", "edge", "adapters", "top")):
            named = [t for _, t, _ in imports_of(path) if t.startswith("civicledger.mechanisms")]
            assert not named, f"{path}: imports {named}"


@pytest.mark.parametrize(
    ("source", "target", "why"),
    [
        ("civicledger.kernel.ledger", "civicledger.kernel.engine", "kernel.pure may not import kernel.engine"),
        ("civicledger.mechanisms.gears.rules", "civicledger.kernel.state", "mechanism.pure may not import"),
        ("civicledger.mechanisms.gears.handlers", "civicledger.mechanisms.credits.rules", "another mechanism"),
        ("civicledger.adapters.memory", "civicledger.cli.app", "adapters may not import kit.cli"),
        ("civicledger.api.app", "civicledger.mechanisms.gears.queries", "edge.api may not import"),
        ("civicledger.kernel.audit", "civicledger.adapters.memory", "kernel.engine may not import adapters"),
    ],
)
def test_the_table_refuses_the_imports_it_forbids(
    source: str, target: str, why: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard itself: an import the table forbids is reported (so the test above can fail)."""
    here, there = layer_of(source), layer_of(target)
    refused = there.layer not in MAY_IMPORT[here.layer] or (
        there.mechanism is not None and there.mechanism != here.mechanism
    )
    assert refused, why


def test_relative_imports_are_found(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from . import sibling\nfrom .x import y\n\n\ndef f() -> None:\n    import json\n")
    found = imports_of(module)
    assert [(line, level) for line, _, level in found if level] == [(1, 1), (2, 1)]
    assert (6, "json", 0) in found
