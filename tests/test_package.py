"""The package as a whole: lazy imports, light dependencies, typing marker, source hygiene,
no estimator list outside the registry, and default_device."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tomllib
import torch

import mi_utils
from mi_utils import estimators
from mi_utils.device import default_device

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mi_utils"
SOURCES = sorted(PACKAGE.rglob("*.py"))

#: Modules allowed above MAX_LINES, with the reason.
MAX_LINES = 400
LONG_MODULES = {
    "mi_utils/bounds/lower.py": "every lower bound with its derivation-level docstring",
    "mi_utils/train.py": "Run, TrainConfig, TrainResult and the batched model read top to bottom",
}


def run_python(*parts: str) -> subprocess.CompletedProcess:
    """The code ``parts`` (each dedented) in a fresh interpreter, from the repository root."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    code = "\n".join(textwrap.dedent(part) for part in parts)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


# ----------------------------------------------------------------------------- lazy imports
def test_import_then_attribute_access_loads_a_submodule():
    res = run_python("""
        import sys
        import mi_utils
        assert "mi_utils.train" not in sys.modules  # lazy: nothing heavy at import
        assert "pandas" not in sys.modules
        train = mi_utils.train
        assert train is sys.modules["mi_utils.train"] and callable(train.train)
        assert mi_utils.default_device("cpu").type == "cpu"
        print("ok")
    """)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_dir_lists_the_submodules():
    listing = dir(mi_utils)
    for name in ("book", "bounds", "estimators", "nn", "plotting", "tasks", "train"):
        assert name in listing and name in mi_utils.SUBMODULES
    assert "default_device" in listing and "__version__" in listing
    for name in mi_utils.SUBMODULES:
        assert (PACKAGE / f"{name}.py").exists() or (PACKAGE / name / "__init__.py").exists()
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = mi_utils.no_such_thing


BLOCKER = """
    import importlib.abc, sys

    BLOCKED = {"pandas", "matplotlib", "seaborn", "tqdm", "scipy", "sklearn"}

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Blocker())
"""


def test_core_modules_need_only_torch_and_numpy():
    res = run_python(
        BLOCKER,
        """
        import torch
        import mi_utils.bounds, mi_utils.estimators, mi_utils.tasks, mi_utils.nn
        from mi_utils import estimators
        from mi_utils.nn import make_critic
        from mi_utils.tasks import CorrelatedGaussian, cubic

        task = cubic(CorrelatedGaussian(3, 0.5))
        x, y = task.sample(8, generator=torch.Generator().manual_seed(0))
        scores = make_critic("separable", 3, 3, generator=torch.Generator().manual_seed(0))(x, y)
        value, _ = estimators.evaluate("infonce", scores)
        assert value.isfinite()
        assert not BLOCKED & {m.split(".")[0] for m in sys.modules}
        print("ok")
    """,
    )
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_the_blocker_works():
    # The control: modules that do need a blocked package fail under the same blocker.
    res = run_python(
        BLOCKER,
        """
        for module in ("mi_utils.plotting", "mi_utils.train"):
            try:
                __import__(module)
            except ImportError as err:
                assert "is blocked in this test" in str(err), err
                print(module, "blocked")
        """,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[:2] == ["mi_utils.plotting blocked", "mi_utils.train blocked"]


# ----------------------------------------------------------------------------- packaging
def test_py_typed_is_shipped():
    assert (PACKAGE / "py.typed").is_file()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["mi_utils"]
    deps = " ".join(pyproject["project"]["dependencies"])
    for heavy in ("matplotlib", "seaborn", "scipy", "scikit-learn"):
        assert heavy not in deps  # figures are the `plot` extra


# ----------------------------------------------------------------------------- source hygiene
def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def test_sources_never_point_at_the_authors_notes():
    offenders = [
        f"{_rel(p)}:{n}"
        for p in SOURCES
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if "GUIDE.md" in line or "../shared" in line
    ]
    assert not offenders, offenders


def test_no_module_imports_a_private_name_of_another():
    offenders = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            internal = node.level > 0 or (node.module or "").split(".")[0] == "mi_utils"
            if not internal:
                continue
            for alias in node.names:
                parts = [*(node.module or "").split("."), alias.name]
                if any(p.startswith("_") and not p.startswith("__") for p in parts if p):
                    offenders.append(f"{_rel(path)}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, "\n".join(offenders)


def test_modules_stay_short():
    counts = {_rel(p): len(p.read_text().splitlines()) for p in SOURCES}
    too_long = {
        path: n for path, n in counts.items() if n >= MAX_LINES and path not in LONG_MODULES
    }
    report = "\n".join(f"{n:5d} {path}" for path, n in sorted(counts.items(), key=lambda c: -c[1]))
    assert not too_long, f"modules of {MAX_LINES}+ lines: {too_long}\nall counts:\n{report}"


# ----------------------------------------------------------------------------- one registry
#: Files that may name several estimators: the registry itself, and the torch-mist worker's
#: documented translation table from our names to torch-mist's classes.
NAME_LIST_EXEMPT = {"mi_utils/estimators.py", "benchmarks/mist_worker.py"}


def name_lists(path: Path, names: set[str]) -> list[str]:
    """``file:line`` of each tuple/list/set/dict literal holding 2+ registry names as strings."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            elements = node.elts
        elif isinstance(node, ast.Dict):
            elements = [k for k in node.keys if k is not None] + node.values
        else:
            continue
        found = {e.value for e in elements if isinstance(e, ast.Constant) and e.value in names}
        if len(found) >= 2:
            out.append(f"{_rel(path)}:{node.lineno}: {sorted(found)}")
    return out


def test_name_list_scan_finds_a_list(tmp_path):
    # The scan itself can fail: a literal with two names is found, one name alone is not.
    path = tmp_path / "probe.py"
    path.write_text(
        'A = ("nwj", "infonce")\nB = {"dv": 1, "x": 2}\nC = ["js"]\nD = {"tuba": "mine"}\n'
    )
    found = name_lists(path, set(estimators.names()))
    assert len(found) == 2, found
    assert found[0].endswith(":1: ['infonce', 'nwj']") and found[1].endswith(":4: ['mine', 'tuba']")


def test_no_estimator_name_list_outside_the_registry():
    names = set(estimators.names())
    files = [*SOURCES, *sorted((ROOT / "benchmarks").glob("*.py"))]
    offenders = [
        hit for p in files if _rel(p) not in NAME_LIST_EXEMPT for hit in name_lists(p, names)
    ]
    assert not offenders, "estimator names listed outside the registry:\n" + "\n".join(offenders)


# ----------------------------------------------------------------------------- default_device
def test_default_device_cpu_and_none(monkeypatch):
    assert default_device("cpu") == torch.device("cpu")
    assert default_device(torch.device("cpu")) == torch.device("cpu")
    for cuda in (True, False):
        monkeypatch.setattr(torch.cuda, "is_available", lambda cuda=cuda: cuda)
        assert default_device() == torch.device("cuda" if cuda else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
def test_default_device_refuses_cuda_without_cuda(device):
    with pytest.raises(ValueError, match="CUDA"):
        default_device(device)


def test_default_device_refuses_cuda_when_unavailable(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device='cuda'.*'cpu' or None"):
        default_device("cuda")


@pytest.mark.parametrize(
    "device, exc",
    [(0.5, TypeError), (0, TypeError), (["cpu"], TypeError), ("gpu", ValueError),
     ("nonsense", ValueError), ("", ValueError)],
)  # fmt: skip
def test_default_device_bad_input(device, exc):
    with pytest.raises(exc, match="device"):
        default_device(device)
