"""Arrows point down only: a lower layer never imports a higher one (DESIGN.md, Layers)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "bucketshift"

RANK = {
    "errors": 0,
    "eventloop": 0.5,  # runs the work; says SIGTERM as an error of errors.py
    "heap": 0,
    "units": 0,
    "config": 1,
    "stores": 2,
    "urls": 1,
    "postgres_errors": 1,
    "retry": 1,
    "prices": 2,  # list prices, with the plan's [prices] over them
    "storage": 3,  # beside engine and provision: neither imports the other
    "database": 2,
    "provision": 3,  # above stores (it reads and writes buckets through them), beside engine
    "engine": 3,
    "report": 3.5,  # above engine and provision (reads the manifest, takes postures), below operations
    "operations": 4,
    "cli": 5,
}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "bucketshift" or len(parts) < 2:
        return None
    return parts[1]


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def test_every_module_has_a_known_layer() -> None:
    unknown = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.rglob("*.py")} - set(RANK)
    assert unknown <= {"__init__"}, f"modules outside the known layers: {unknown}"


def test_no_layer_imports_a_higher_one() -> None:
    offences = []
    for path in PACKAGE.rglob("*.py"):
        own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if own not in RANK:
            continue
        for module in imports(path):
            target = layer_of(module)
            if target in RANK and target != own and RANK[target] >= RANK[own]:
                offences.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert not offences, "\n".join(offences)


def test_core_never_imports_a_backend_module() -> None:
    backends = {"bucketshift.stores.supabase", "bucketshift.stores.s3", "bucketshift.stores.local"}
    offences = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "stores":
            continue
        offences += [f"{rel} imports {m}" for m in imports(path) if m in backends]
    assert not offences, "\n".join(offences)
