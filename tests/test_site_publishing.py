"""Reading online: the GitHub Pages workflow and the .ipynb download of every chapter."""

from __future__ import annotations

import importlib.util
import json
from types import SimpleNamespace

import nbformat
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
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "1 + 1",
            outputs=[
                nbformat.v4.new_output(
                    "execute_result", data={"text/plain": "2"}, execution_count=1
                )
            ],
        )
    ]
    nbformat.write(nb, executed)
    app = SimpleNamespace(outdir=str(out), env=SimpleNamespace())
    context = {"sourcename": "book/ch01.md"}
    ext._add_notebook(app, "book/ch01", "page.html", context, None)
    assert context["ipynb_source"] == "book/ch01.ipynb"
    copied = nbformat.read(out / "_sources" / "book" / "ch01.ipynb", as_version=4)
    assert copied.cells[0].outputs[0].data["text/plain"] == "2"


def test_download_extension_merges_outputs_from_the_execution_cache(tmp_path):
    # MyST-NB saves a cache hit's notebook without outputs; the extension restores them.
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    ext = _extension()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("1 + 1")]
    executed_nb = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    executed_nb.cells[0].outputs = [
        nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=1)
    ]
    cache = get_cache(tmp_path / "cache")
    cache.cache_notebook_bundle(
        CacheBundleIn(executed_nb, str(tmp_path / "ch01.md")), check_validity=False
    )
    out = tmp_path / "_build" / "html"
    executed = tmp_path / "_build" / "jupyter_execute" / "book" / "ch01.ipynb"
    executed.parent.mkdir(parents=True)
    nbformat.write(nb, executed)  # what MyST-NB writes on a cache hit: no outputs
    app = SimpleNamespace(
        outdir=str(out),
        env=SimpleNamespace(
            mystnb_config=SimpleNamespace(execution_cache_path=str(tmp_path / "cache"))
        ),
    )
    context = {"sourcename": "book/ch01.md"}
    ext._add_notebook(app, "book/ch01", "page.html", context, None)
    copied = nbformat.read(out / "_sources" / "book" / "ch01.ipynb", as_version=4)
    assert copied.cells[0].outputs[0].data["text/plain"] == "2"
    # without the cache the copy keeps what MyST-NB wrote: the check above can fail
    app.env.mystnb_config.execution_cache_path = ""
    ext._add_notebook(app, "book/ch01", "page.html", {"sourcename": "book/ch01.md"}, None)
    assert (
        not nbformat.read(out / "_sources" / "book" / "ch01.ipynb", as_version=4).cells[0].outputs
    )


def test_download_extension_leaves_pages_without_a_notebook_alone(tmp_path):
    ext = _extension()
    app = SimpleNamespace(outdir=str(tmp_path / "_build" / "html"))
    for name, source in [("book/api/tasks", "book/api/tasks.md"), ("book/x", "book/x.rst")]:
        context = {"sourcename": source}
        ext._add_notebook(app, name, "page.html", context, None)
        assert "ipynb_source" not in context
