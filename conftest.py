"""Let nbval collect the book's jupytext MyST chapters (``.md``) directly.

nbval only collects ``.ipynb`` files. With ``--nbval`` or ``--nbval-lax``, this hook hands
every ``.md`` file that jupytext recognises as a notebook (a MyST front matter with a
``kernelspec``) to nbval's collector, reading it with jupytext instead of nbformat. The
chapters are stored without outputs, so nothing is compared: only cells that raise (an
``assert`` that fails included) make a test fail.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest


def _is_jupytext_notebook(path: Path) -> bool:
    if path.suffix != ".md":
        return False
    head = path.read_text(encoding="utf-8")[:2000]
    return head.startswith("---") and "kernelspec:" in head and "format_name: myst" in head


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    opt = parent.config.option
    if not (getattr(opt, "nbval", False) or getattr(opt, "nbval_lax", False)):
        return None
    if not _is_jupytext_notebook(file_path):
        return None
    from nbval.plugin import IPyNbFile

    class MystNotebookFile(IPyNbFile):
        def collect(self):
            import jupytext

            nb = jupytext.read(self.path)
            with mock.patch("nbval.plugin.nbformat.read", lambda *a, **k: nb):
                yield from super().collect()

    return MystNotebookFile.from_parent(parent, path=file_path)
