"""Sphinx configuration of the API reference (``docs/api``).

The page is built from the docstrings themselves (autodoc, Google style read by napoleon), so
what it shows is what ``help()`` and ``?`` show in a notebook. ``scripts/test`` builds it with
warnings as errors; it needs no network (no intersphinx, the bundled theme).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout, installed or not

import jupyter_privacy
from jupyter_privacy.frame.options import OPTIONS_SECTION

project = "jupyter-privacy"
release = version = jupyter_privacy.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]

napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True}

html_theme = "alabaster"
html_title = f"jupyter-privacy {release} API reference"


# Every release method's docstring carries the options section, so that ``help()`` shows it
# where it is read; on this page it is shown once, under ReleaseOptions, and linked from each.
_OPTIONS = OPTIONS_SECTION.rstrip("\n").splitlines()
_LINK = [
    "Takes the :class:`release options <jupyter_privacy.ReleaseOptions>`: ``epsilon``,"
    " ``accuracy``, ``alpha``, ``delta``, ``dry_run``.",
    "",
]


def _options_once(
    app: object, what: str, name: str, obj: object, opts: object, lines: list[str]
) -> None:
    if what != "method":
        return
    for i in range(len(lines) - len(_OPTIONS) + 1):
        if lines[i : i + len(_OPTIONS)] == _OPTIONS:
            lines[i : i + len(_OPTIONS)] = _LINK
            return


def setup(app: Any) -> None:
    # before napoleon (priority 500) turns the Google section into field lists
    app.connect("autodoc-process-docstring", _options_once, priority=400)
