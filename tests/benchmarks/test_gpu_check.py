"""The GPU check script (benchmarks/gpu_check.py) on a CPU: arguments, a dry run, the JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import gpu_check

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_dry_run_writes_the_documented_json(tmp_path):
    out = tmp_path / "check.json"
    assert gpu_check.main(["--dry-run", "--slice-steps", "2", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert tuple(result) == gpu_check.JSON_KEYS
    assert result["dry_run"] is True and result["device"] == "cpu"
    assert result["tests"] == {"skipped": "dry run"}
    sweep = result["sweep"]
    assert sweep["num_runs"] == 36 and sweep["num_steps"] == 10  # 2 steps x 5 levels
    assert len(sweep["final_estimates"]) == 36 and sweep["wall_seconds"] > 0
    loop = result["loop"]
    assert loop["slice_steps"] == 2 and loop["extrapolated"] is True
    assert loop["extrapolated_seconds"] == pytest.approx(loop["measured_seconds"] * 10 / 2)
    assert result["loop_over_vectorized"] == pytest.approx(
        loop["extrapolated_seconds"] / sweep["wall_seconds"]
    )
    assert all(v == {"skipped": "dry run"} for v in result["chapters"].values())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a CPU-only machine")
def test_without_cuda_a_real_run_is_refused():
    with pytest.raises(RuntimeError, match="--dry-run"):
        gpu_check.run_check(dry_run=False)


def test_bad_arguments_are_rejected(capsys):
    with pytest.raises(SystemExit):
        gpu_check.main(["--slice-steps", "0", "--dry-run"])
    assert "--slice-steps" in capsys.readouterr().err


@pytest.mark.slow
def test_the_shell_wrapper_runs_the_dry_run(tmp_path):
    out = tmp_path / "check.json"
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--slice-steps", "1",
         "--no-chapters", "--out", str(out)],
        capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHON": sys.executable},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(out.read_text())["dry_run"] is True
