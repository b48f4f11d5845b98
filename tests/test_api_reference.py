"""The API reference of the built book documents every public name of every public module.

Reads the Sphinx inventory (``_build/html/objects.inv``) that ``make book`` writes; ``make test``
builds the book before running the tests.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
from pathlib import Path

import pytest

import mi_utils

pytestmark = pytest.mark.notebooks
#: The inventory to read (``MI_API_INVENTORY`` points at another build's).
INVENTORY = Path(
    os.environ.get(
        "MI_API_INVENTORY", Path(__file__).resolve().parents[1] / "_build/html/objects.inv"
    )
)


def _documented() -> set[str]:
    from sphinx.util.inventory import InventoryFile

    if not INVENTORY.exists():
        pytest.fail(f"{INVENTORY} is missing: build the book first (make book)")
    with INVENTORY.open("rb") as f:
        inv = InventoryFile.load(f, "", lambda base, uri: uri)
    return {name for kind, objs in inv.items() if kind.startswith("py:") for name in objs}


def _public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return [
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and getattr(v, "__module__", None) == module.__name__
        and (inspect.isfunction(v) or inspect.isclass(v))
    ]


def _missing(documented: set[str]) -> list[str]:
    missing = []
    modules = {s: importlib.import_module(f"mi_utils.{s}") for s in mi_utils.SUBMODULES}
    for module in modules.values():
        exported = {id(getattr(module, n)) for n in _public_names(module)}
        for name in _public_names(module):
            obj = getattr(module, name)
            if inspect.ismodule(obj):
                continue
            home = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
            elsewhere = any(
                getattr(m, name, None) is obj and f"{m.__name__}.{name}" in documented
                for m in modules.values()
            )
            if f"{module.__name__}.{name}" not in documented and home not in documented:
                if not elsewhere:
                    missing.append(f"{module.__name__}.{name}")
        for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
            if info.name.startswith("_"):
                continue
            sub = importlib.import_module(f"{module.__name__}.{info.name}")
            for name in _public_names(sub):
                obj = getattr(sub, name)
                if id(obj) not in exported and f"{sub.__name__}.{name}" not in documented:
                    missing.append(f"{sub.__name__}.{name}")
    return missing


def test_every_public_name_is_in_the_api_reference():
    documented = _documented()
    assert len(documented) > 100
    assert _missing(documented) == []


def test_the_coverage_check_can_fail():
    documented = _documented()
    assert "mi_utils.bounds.infonce_lower_bound" in documented
    assert "mi_utils.bounds.infonce_lower_bound" in _missing(
        documented
        - {"mi_utils.bounds.infonce_lower_bound", "mi_utils.bounds.lower.infonce_lower_bound"}
    )
