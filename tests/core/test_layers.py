"""SPEC §4 layering: each layer imports only those below it; one package imports OpenDP.

The rules are functions of a file (``layer_violations``, ``opendp_violations``); the tests run
them on every module of the package, and the self-tests run the same functions on modules written
to a temporary package, so a rule that stopped seeing violations would fail here.
"""

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
    "jupyter_client",
    "jupyter_core",
    "jupyter_server",
    "jupyterlab",
    "nbformat",
)


def imports(path: Path, package: Path = PACKAGE) -> set[str]:
    """Every module ``path`` imports, absolute, relative imports resolved: for ``from a import b``
    both ``a`` and ``a.b`` (``b`` may be a submodule: ``from jupyter_privacy import frame``)."""
    module = [package.name, *path.relative_to(package).with_suffix("").parts]
    if module[-1] == "__init__":
        module.pop()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module[: len(module) - node.level + (path.name == "__init__.py")]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            found.add(origin)
            found.update(f"{origin}.{a.name}" for a in node.names if a.name != "*")
    return found


def layer_of(path: Path, package: Path = PACKAGE) -> str | None:
    rel = path.relative_to(package).parts
    return rel[0] if len(rel) > 1 and rel[0] in ORDER else None


def layer_violations(path: Path, package: Path = PACKAGE) -> list[str]:
    """What ``path`` imports against the layer order, one message per import."""
    layer = layer_of(path, package)
    if layer is None:
        return []
    allowed = ORDER[: ORDER.index(layer) + 1]
    found = []
    for name in sorted(imports(path, package)):
        parts = name.split(".")
        if parts[0] == package.name:
            if len(parts) > 1 and parts[1] in ORDER:
                if parts[1] not in allowed:
                    found.append(f"{path.name} ({layer}) imports {name}")
            elif layer in ("core", "frame"):  # the top-level package imports every layer
                found.append(f"{path.name} ({layer}) imports the top-level {name}")
        elif layer in ("core", "frame") and parts[0] in JUPYTER_MODULES:
            found.append(f"{path.name} ({layer}) imports {name}")
    return found


def opendp_violations(path: Path, package: Path = PACKAGE) -> list[str]:
    """An OpenDP import outside ``core/engine``."""
    if path.relative_to(package).parts[:2] == ("core", "engine"):
        return []
    return [
        f"{path.relative_to(package)} imports {name}"
        for name in sorted(imports(path, package))
        if name.split(".")[0] == "opendp"
    ]


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_package_has_every_layer() -> None:
    assert {layer_of(p) for p in MODULES} >= set(ORDER)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_layer_imports_only_layers_below_it(path: Path) -> None:
    assert layer_violations(path) == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_engine_imports_opendp(path: Path) -> None:
    assert opendp_violations(path) == []


# --- the rules themselves, on synthetic modules ----------------------------------------------------


def _module(tmp_path: Path, rel: str, code: str) -> tuple[Path, Path]:
    """Write ``code`` as ``jupyter_privacy/<rel>`` under tmp_path; (file, package root)."""
    package = tmp_path / "jupyter_privacy"
    path = package / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(code)
    return path, package


@pytest.mark.parametrize(
    "rel, code, expected",
    [
        ("core/plan.py", "from jupyter_privacy.frame import SensitiveFrame\n",
         "plan.py (core) imports jupyter_privacy.frame"),
        ("core/plan.py", "import jupyter_privacy.jupyter.widgets\n",
         "plan.py (core) imports jupyter_privacy.jupyter.widgets"),
        ("core/plan.py", "from jupyter_privacy import frame\n",
         "plan.py (core) imports jupyter_privacy.frame"),
        ("core/plan.py", "from ..frame import frame\n",
         "plan.py (core) imports jupyter_privacy.frame"),
        ("core/engine/__init__.py", "from ...curator import server\n",
         "__init__.py (core) imports jupyter_privacy.curator"),
        ("core/plan.py", "import jupyter_privacy\n",
         "plan.py (core) imports the top-level jupyter_privacy"),
        ("frame/frame.py", "from jupyter_privacy.api import workspace\n",
         "frame.py (frame) imports the top-level jupyter_privacy.api"),
        ("frame/frame.py", "import ipywidgets as widgets\n",
         "frame.py (frame) imports ipywidgets"),
        ("core/errors.py", "def f():\n    from IPython.display import display\n",
         "errors.py (core) imports IPython.display"),
        ("jupyter/magics.py", "from jupyter_privacy.curator.client import connect\n",
         "magics.py (jupyter) imports jupyter_privacy.curator.client"),
    ],
)  # fmt: skip
def test_the_layer_rule_reports_an_import_against_the_order(
    tmp_path: Path, rel: str, code: str, expected: str
) -> None:
    path, package = _module(tmp_path, rel, code)
    assert expected in layer_violations(path, package)


@pytest.mark.parametrize(
    "rel, code, expected",
    [
        ("frame/frame.py", "import opendp.prelude as dp\n", "frame/frame.py imports opendp.prelude"),
        ("core/budget.py", "from opendp.mod import enable_features\n",
         "core/budget.py imports opendp.mod"),
        ("core/engine.py", "import opendp\n", "core/engine.py imports opendp"),
        ("curator/server.py", "def f():\n    import opendp\n", "curator/server.py imports opendp"),
        ("api.py", "from opendp import prelude\n", "api.py imports opendp"),
    ],
)  # fmt: skip
def test_the_opendp_rule_reports_an_import_outside_the_engine(
    tmp_path: Path, rel: str, code: str, expected: str
) -> None:
    path, package = _module(tmp_path, rel, code)
    assert expected in opendp_violations(path, package)


@pytest.mark.parametrize(
    "rel, code",
    [
        ("core/plan.py", "import json\nfrom jupyter_privacy.core.errors import PrivacyError\n"
                         "from .budget import Budget\nimport polars as pl\n"),
        ("core/engine/mechanisms.py", "import opendp.prelude as dp\nfrom . import data\n"),
        ("frame/frame.py", "from jupyter_privacy.core.plan import Plan\n"
                           "from jupyter_privacy.frame.series import Series\n"),
        ("jupyter/magics.py", "from IPython.core.magic import Magics\n"
                              "from jupyter_privacy.frame import SensitiveFrame\n"),
        ("curator/client.py", "from jupyter_privacy.jupyter import widgets\nimport ipywidgets\n"),
        ("api.py", "from jupyter_privacy.curator import client\nimport IPython\n"),
    ],
)  # fmt: skip
def test_the_rules_report_nothing_in_a_module_that_keeps_them(
    tmp_path: Path, rel: str, code: str
) -> None:
    path, package = _module(tmp_path, rel, code)
    assert layer_violations(path, package) == []
    assert opendp_violations(path, package) == []
