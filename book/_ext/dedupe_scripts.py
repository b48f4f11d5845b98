"""Page assets: load MathJax on every page, and drop duplicate <script> entries.

A chapter title with math (``I_\\alpha``) appears in the navigation of every page, so every page
needs MathJax, also those without math of their own (the bibliography): Sphinx's "always"
asset policy loads it everywhere.

Jupyter Book 1.x fires sphinx-thebe's set-up twice, so each page declared ``const THEBE_JS_URL``
twice and the browser raised "Identifier 'THEBE_JS_URL' has already been declared". Keeping the
first copy of each script (same source, same inline body) removes that error.
"""

from __future__ import annotations


def _dedupe(app, pagename, templatename, context, doctree):
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in context.get("script_files", []):
        # The same script may be registered twice with different priorities: compare what the
        # browser gets, the source and the attributes (the inline body included).
        attributes = getattr(script, "attributes", {})
        source = getattr(script, "filename", script) or ""  # None and "" both mean inline
        key = (str(source), repr(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.set_html_assets_policy("always")
    # Run after every other html-page-context handler (some add scripts there).
    app.connect("html-page-context", _dedupe, priority=999)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
