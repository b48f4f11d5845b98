"""Reading online: the GitHub Pages workflow and the .ipynb download of every chapter."""

from __future__ import annotations

import importlib.util
import json
from types import SimpleNamespace

import yaml

from tests.test_notebook_checks import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def test_pages_workflow_builds_with_the_readme_command_and_deploys_the_html():
    flow = yaml.safe_load(WORKFLOW.read_text())
    build = flow["jobs"]["build"]
    runs = " ".join(step.get("run", "") for step in build["steps"])
    assert "make book" in runs
    uploads = [
        s
        for s in build["steps"]
        if str(s.get("uses", "")).startswith("actions/upload-pages-artifact")
    ]
    assert uploads and uploads[0]["with"]["path"] == "_build/html"
    deploy = flow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert any(str(s.get("uses", "")).startswith("actions/deploy-pages") for s in deploy["steps"])
    # the CPU wheel of the pinned torch, never the CUDA wheels
    assert "download.pytorch.org/whl/cpu" in build["env"]["PIP_EXTRA_INDEX_URL"]


def _extension():
    path = ROOT / "book" / "_ext" / "notebook_download.py"
    spec = importlib.util.spec_from_file_location("notebook_download", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_download_extension_copies_the_executed_notebook(tmp_path):
    ext = _extension()
    out = tmp_path / "_build" / "html"
    executed = tmp_path / "_build" / "jupyter_execute" / "book" / "ch01.ipynb"
    executed.parent.mkdir(parents=True)
    executed.write_text(json.dumps({"cells": [{"outputs": [1]}]}))
    app = SimpleNamespace(outdir=str(out))
    context = {"sourcename": "book/ch01.md"}
    ext._add_notebook(app, "book/ch01", "page.html", context, None)
    assert context["ipynb_source"] == "book/ch01.ipynb"
    assert (out / "_sources" / "book" / "ch01.ipynb").read_text() == executed.read_text()


def test_download_extension_leaves_pages_without_a_notebook_alone(tmp_path):
    ext = _extension()
    app = SimpleNamespace(outdir=str(tmp_path / "_build" / "html"))
    for name, source in [("book/api/tasks", "book/api/tasks.md"), ("book/x", "book/x.rst")]:
        context = {"sourcename": source}
        ext._add_notebook(app, name, "page.html", context, None)
        assert "ipynb_source" not in context
