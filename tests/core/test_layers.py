"""SPEC §4 layering: each layer imports only those below it; one package imports OpenDP."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "jupyter_privacy"
ORDER = ["core", "frame", "jupyter", "curator"]
JUPYTER_MODULES = (
    "IPython",
    "ipykernel",
    "ipywidgets",
    "anywidget",
    "traitlets",
    "comm",
    "jupyter",
)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _layer(path: Path) -> str | None:
    rel = path.relative_to(PACKAGE).parts
    return rel[0] if len(rel) > 1 and rel[0] in ORDER else None


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_layer_imports_only_layers_below_it(path: Path) -> None:
    layer = _layer(path)
    if layer is None:
        return
    allowed = ORDER[: ORDER.index(layer) + 1]
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "jupyter_privacy" and len(parts) > 1 and parts[1] in ORDER:
            assert parts[1] in allowed, f"{path.name} ({layer}) imports {name}"
        if parts[0] == "jupyter_privacy" and len(parts) > 1 and parts[1] not in ORDER:
            assert layer not in ("core", "frame"), f"{path.name} imports the top-level {name}"
        if layer in ("core", "frame"):
            assert parts[0] not in JUPYTER_MODULES, f"{path.name} ({layer}) imports {name}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_engine_imports_opendp(path: Path) -> None:
    in_engine = path.relative_to(PACKAGE).parts[:2] == ("core", "engine")
    uses_opendp = any(n.split(".")[0] == "opendp" for n in _imports(path))
    assert in_engine or not uses_opendp, f"{path.relative_to(PACKAGE)} imports opendp"


def test_the_layer_check_sees_a_violation() -> None:
    """The checker itself must be able to fail."""
    bad = ast.parse("from jupyter_privacy.frame import SensitiveFrame\nimport IPython")
    names = {n.module for n in ast.walk(bad) if isinstance(n, ast.ImportFrom)}
    names |= {a.name for n in ast.walk(bad) if isinstance(n, ast.Import) for a in n.names}
    assert "jupyter_privacy.frame" in names and "IPython" in names
