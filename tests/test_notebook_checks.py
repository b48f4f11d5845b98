"""The notebook check itself: nbval collects every chapter of _toc.yml, and it can fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parents[1]

HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter-like notebook

Some prose with math $I(X;Y)$.

```{code-cell} ipython3
import math

estimate = math.log(4.0)
```
"""


def toc_files() -> list[Path]:
    """Every file listed in _toc.yml, root first."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [ROOT / f"{f}.md" for f in files]


def run_nbval(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """pytest under the exact nbval configuration of the README's test command."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "pytest", "-p", "conftest", "--nbval-lax", "--nbval-current-env"]
    cmd += ["-p", "no:cacheprovider", "--rootdir", str(cwd), *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_toc_lists_existing_notebook_chapters():
    files = toc_files()
    assert len(files) >= 2
    for f in files:
        assert f.exists(), f"{f} is in _toc.yml but does not exist"


def test_every_toc_notebook_is_collected_by_nbval():
    res = run_nbval("--collect-only", "-q", "book", cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    collected = {line.split("::")[0] for line in res.stdout.splitlines() if "::" in line}
    notebooks = [f for f in toc_files() if "kernelspec:" in f.read_text()[:2000]]
    assert len(notebooks) >= 2, "the intro and Chapter 1 at least are notebooks"
    for nb in notebooks:
        assert str(nb.relative_to(ROOT)) in collected, f"{nb.name} was not collected by nbval"


@pytest.mark.parametrize(
    "cell, should_pass",
    [
        ("assert abs(estimate - math.log(4.0)) < 1e-12", True),
        ("assert estimate > 2.0, 'log 4 is not above 2 nats'", False),
        ("raise RuntimeError('a chapter cell that errors')", False),
    ],
)
def test_nbval_passes_a_true_chapter_and_fails_a_false_one(tmp_path, cell, should_pass):
    nb = tmp_path / "chapter.md"
    nb.write_text(HEADER + f"\n```{{code-cell}} ipython3\n{cell}\n```\n")
    res = run_nbval(str(nb), cwd=tmp_path)
    out = res.stdout + res.stderr
    if should_pass:
        assert res.returncode == 0, out
        assert "2 passed" in out
    else:
        assert res.returncode == 1, out
        assert "1 failed, 1 passed" in out
