"""The dependency rule the README states: `surveys/` imports neither the other packages
nor any Telegram, database, template or web library; `domain/` only `surveys/` and
`storage.models`; `storage/` never imports `bot/` or Telegram. So the rules stay testable
with plain tests, and SQL stays behind storage."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = {"telegram", "jinja2", "markupsafe", "sqlite3", "asyncpg", "starlette", "uvicorn"}
FORBIDDEN = {
    "surveys": {"bot", "storage", "domain", *LIBRARIES},
    "domain": {"bot", *LIBRARIES},
    "storage": {"bot", "telegram", "jinja2", "starlette", "uvicorn"},
}
# What of storage/ the domain may import: the plain types its rules take and return.
DOMAIN_FROM_STORAGE = {"storage.models"}


def imported_modules(path: Path) -> set[str]:
    """The modules a module imports (relative imports stay in its package)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def imported_packages(path: Path) -> set[str]:
    """The top-level names a module imports."""
    return {name.split(".")[0] for name in imported_modules(path)}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_its_layer_rules_out(package: str) -> None:
    broken = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {module: names for module, names in broken.items() if names} == {}


def test_the_domain_takes_from_storage_only_its_models() -> None:
    for path in sorted((ROOT / "domain").rglob("*.py")):
        storage = {m for m in imported_modules(path) if m.split(".")[0] == "storage"}
        assert storage <= DOMAIN_FROM_STORAGE, (path.relative_to(ROOT), storage)
