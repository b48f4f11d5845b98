"""Offer every executed chapter as a ``.ipynb`` download beside its ``.md`` source.

sphinx-book-theme lists a page's ``.ipynb`` in its download menu when the page context has
``ipynb_source``, but sets that only when a launch service (Binder, Colab, ...) is configured,
which this book, built and read offline, has none of. MyST-NB writes each executed notebook to
``_build/jupyter_execute``; this extension copies the page's notebook, with its outputs, into
``_build/html/_sources`` and names it in the context just before the theme builds its buttons.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def _add_notebook(app, pagename, templatename, context, doctree):
    if context.get("ipynb_source") or not str(context.get("sourcename", "")).endswith(".md"):
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return  # not a notebook page (the API reference, the bibliography)
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    # Before sphinx-book-theme's add_header_buttons (priority 501) reads the context.
    app.connect("html-page-context", _add_notebook, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
