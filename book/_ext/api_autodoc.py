"""Two autodoc fixes for the API reference (``book/api``).

Re-exported constants. autodoc reads a constant's ``#:`` doc comment only in the module named in
the directive. For a constant documented at its public path in a package that re-exports it
(``mi_utils.nn.ACTIVATIONS``, assigned in ``mi_utils.nn.layers``) it finds none and falls back to
the docstring of the value's type, so the page showed Python's help on ``dict`` or ``tuple``.
This takes the doc comment from the submodule that assigns the constant instead. A constant
with no doc comment anywhere gets no text rather than its type's, and a warning (an error under
``-W``): every documented constant says what it is.

Dataclass defaults. A field with a ``default_factory`` appears as ``= <factory>`` in the
signature that autodoc reads from the generated ``__init__``; that is not Python, so Sphinx
printed the whole signature as raw text, unwrapped and unlinked. This writes the factory's value
(``options={}``) instead.
"""

from __future__ import annotations

import dataclasses
import sys

from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

logger = logging.getLogger(__name__)
_MISSING = object()


def _doc_comment(modname: str, attr: str) -> list[str] | None:
    try:
        analyzer = ModuleAnalyzer.for_module(modname)
        analyzer.analyze()
    except PycodeError:
        return None
    doc = analyzer.attr_docs.get(("", attr))
    return list(doc) if doc else None


def _reexported_data_doc(app, what, name, obj, options, lines) -> None:
    if what != "data":
        return
    modname, _, attr = name.rpartition(".")
    if _doc_comment(modname, attr):
        return  # autodoc found it where the directive points
    for sub in sorted(m for m in list(sys.modules) if m.startswith(modname + ".")):
        if getattr(sys.modules[sub], attr, _MISSING) is obj:
            comment = _doc_comment(sub, attr)
            if comment:
                lines[:] = comment
                return
    if type(obj).__module__ == "builtins":
        lines[:] = []
        logger.warning("%s has no #: doc comment in %s or its submodules", name, modname)


def _dataclass_factory_defaults(app, what, name, obj, options, signature, return_annotation):
    if what != "class" or not signature or "<factory>" not in signature:
        return None
    if not dataclasses.is_dataclass(obj):
        return None
    for field in dataclasses.fields(obj):  # in signature order
        if field.default_factory is not dataclasses.MISSING:
            value = repr(field.default_factory())
            signature = signature.replace("= <factory>", f"= {value}", 1)
    return signature, return_annotation


def setup(app):
    # Before napoleon (priority 500), so that the comment is parsed like any docstring.
    app.connect("autodoc-process-docstring", _reexported_data_doc, priority=400)
    app.connect("autodoc-process-signature", _dataclass_factory_defaults)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
