"""Offer every executed chapter as a ``.ipynb`` download beside its ``.md`` source.

sphinx-book-theme lists a page's ``.ipynb`` in its download menu when the page context has
``ipynb_source``, but sets that only when a launch service (Binder, Colab, ...) is configured,
which this book, built and read offline, has none of. MyST-NB writes each executed notebook to
``_build/jupyter_execute``; this extension copies the page's notebook, with its outputs, into
``_build/html/_sources`` and names it in the context just before the theme builds its buttons.

When a chapter's outputs come from the execution cache (its code did not change), MyST-NB
writes the notebook *without* them (it renders the merged copy but saves the original); the
outputs are then merged from the same cache, so the download always carries them.
"""

from __future__ import annotations

from pathlib import Path

import nbformat


def _has_outputs(nb) -> bool:
    return any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")


def _with_outputs(app, nb):
    """``nb`` with the outputs of its cached execution, or ``nb`` itself if there are none."""
    if _has_outputs(nb) or not any(cell.cell_type == "code" for cell in nb.cells):
        return nb
    cache_path = getattr(getattr(app.env, "mystnb_config", None), "execution_cache_path", "")
    if not cache_path:
        return nb
    try:
        from jupyter_cache import get_cache

        _, merged = get_cache(cache_path).merge_match_into_notebook(nb)
    except Exception:  # no cache record: the notebook was not executed
        return nb
    return merged


def _add_notebook(app, pagename, templatename, context, doctree):
    if context.get("ipynb_source") or not str(context.get("sourcename", "")).endswith(".md"):
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return  # not a notebook page (the API reference, the bibliography)
    nb = _with_outputs(app, nbformat.read(executed, as_version=4))
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    # Before sphinx-book-theme's add_header_buttons (priority 501) reads the context.
    app.connect("html-page-context", _add_notebook, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
