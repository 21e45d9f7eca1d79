"""Dependencies point one way: models <- service <- workers and the CLI (read from the import statements)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _offenders(package: str, forbidden: tuple[str, ...], allowed_under: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in sorted((REPO / package).rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative.startswith(allowed_under):
            continue
        bad = sorted(n for n in _imports(path) if n.split(".")[0] in forbidden)
        found += [f"{relative} imports {name}" for name in bad]
    return found


@pytest.mark.parametrize(("package", "forbidden", "allowed_under"), [
    ("models", ("service", "workers"), ()),
    ("service", ("workers",), ("service/cli/",)),  # the CLI is a top layer, like the workers (`lcad worker`)
])
def test_lower_layers_do_not_import_upper_ones(package, forbidden, allowed_under):
    assert _offenders(package, forbidden, allowed_under) == []
