"""The GPU check: everything that needs CUDA, in one run, written to one JSON file.

``python -m benchmarks.gpu_check --out gpu_check.json`` (or ``make gpu-check``) on a machine
with CUDA:

1. records the device, torch and CUDA versions;
2. runs the CUDA-marked tests (``pytest -m gpu``);
3. times the paper's full Fig. 2 sweep with the vectorized trainer: 36 runs (9 estimator
   settings x 2 critics x 2 tasks) x 20,000 steps at the full profile, one ``train`` call;
4. times the per-run loop and torch-mist on a slice of that sweep (``--slice-steps`` steps of
   every run; extrapolated to 20,000 steps, and the JSON says so), for the ratios;
5. executes Chapters 7 and 8 in the full profile (needs jupytext and nbclient; skipped, with the
   reason, where they are missing).

``--dry-run`` skips every CUDA-only part and shrinks the sweep to a few steps on the CPU, so
that the script, its arguments and the JSON schema are tested without a GPU
(``tests/benchmarks/test_gpu_check.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks.bench import MIST_PYTHON, run_torch_mist, time_loop_slice, time_sweep
from mi_utils import book
from mi_utils.device import default_device
from mi_utils.train import Run

ROOT = Path(__file__).resolve().parents[1]
#: The keys of the JSON object, in order.
JSON_KEYS = (
    "device", "torch_version", "cuda_version", "dry_run", "tests", "sweep", "loop", "torch_mist",
    "loop_over_vectorized", "torch_mist_over_vectorized", "chapters", "wall_seconds",
)  # fmt: skip


def _run(cmd: list[str], env: dict | None = None, timeout: float = 3600) -> dict:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})},
        timeout=timeout, check=False,
    )  # fmt: skip
    return {
        "command": " ".join(cmd),
        "returncode": proc.returncode,
        "seconds": time.perf_counter() - start,
        "tail": (proc.stdout + proc.stderr)[-2000:],
    }


def run_check(
    *, dry_run: bool = False, slice_steps: int = 500, chapters: bool = True, tests: bool = True
) -> dict:
    """Run the check and return the JSON-ready result (keys :data:`JSON_KEYS`)."""
    start = time.perf_counter()
    if not dry_run and not torch.cuda.is_available():
        raise RuntimeError("no CUDA device: run with --dry-run to check the script on a CPU")
    device = default_device("cpu" if dry_run else "cuda")
    out = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "dry_run": dry_run,
    }
    if tests and not dry_run:
        out["tests"] = _run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "tests"])
    else:
        out["tests"] = {"skipped": "dry run" if dry_run else "--no-tests"}

    profile = "quick" if dry_run else "full"
    runs, out["sweep"] = time_sweep(profile, device, steps_per_level=2 if dry_run else None)
    total = out["sweep"]["num_steps"]
    slice_steps = min(slice_steps, total)
    out["loop"] = time_loop_slice(runs, profile, slice_steps, device)
    out["loop_over_vectorized"] = out["loop"]["extrapolated_seconds"] / out["sweep"]["wall_seconds"]

    gaussian = [r for r in runs if r.task.name == "gaussian"]
    # torch-mist trains on the correlated Gaussian at one MI: the sweep's first level.
    mist_runs = [Run(r.estimator, r.critic, r.task.segments[0][0], seed=r.seed, **r.options)
                 for r in gaussian]  # fmt: skip
    mist = run_torch_mist(mist_runs, slice_steps, book.train_config(profile), 2.0, device, "auto",
                 MIST_PYTHON)  # fmt: skip
    if mist and mist.get("available"):
        per_step = mist["wall_seconds"] / (mist["num_runs"] * slice_steps)
        out["torch_mist"] = {
            "slice_steps": slice_steps,
            "num_runs": mist["num_runs"],
            "measured_seconds": mist["wall_seconds"],
            "extrapolated_seconds_per_sweep": per_step * len(runs) * total,
            "extrapolated": True,
        }
        vec_per_step = out["sweep"]["wall_seconds"] / (len(runs) * total)
        out["torch_mist_over_vectorized"] = per_step / vec_per_step
    else:
        out["torch_mist"] = mist or {"available": False, "reason": "skipped"}
        out["torch_mist_over_vectorized"] = None

    out["chapters"] = {}
    for chapter in ("book/ch07_staircase.md", "book/ch08_bias_variance.md"):
        if dry_run or not chapters:
            out["chapters"][chapter] = {"skipped": "dry run" if dry_run else "--no-chapters"}
            continue
        try:
            import jupytext  # noqa: F401
            import nbval  # noqa: F401
        except ImportError as err:
            out["chapters"][chapter] = {"skipped": f"needs jupytext and nbval: {err}"}
            continue
        out["chapters"][chapter] = _run(
            [sys.executable, "-m", "pytest", "-q", "--nbval-lax", "--nbval-current-env", chapter],
            env={"MI_BOOK_PROFILE": "full", "MI_UTILS_PROGRESS": "0", "MPLBACKEND": "Agg"},
        )
    out["wall_seconds"] = time.perf_counter() - start
    return {key: out[key] for key in JSON_KEYS}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: ``python -m benchmarks.gpu_check --help``."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu_check", description=__doc__.split("\n")[0]
    )
    p.add_argument("--out", default="gpu_check.json", help="where to write the JSON")
    p.add_argument("--dry-run", action="store_true", help="CPU only, tiny sizes, no CUDA parts")
    p.add_argument("--slice-steps", type=int, default=500, help="steps per run for loop/mist")
    p.add_argument("--no-chapters", action="store_true", help="skip Chapters 7 and 8")
    p.add_argument("--no-tests", action="store_true", help="skip the CUDA-marked tests")
    args = p.parse_args(argv)
    if args.slice_steps < 1:
        p.error("--slice-steps must be >= 1")
    result = run_check(dry_run=args.dry_run, slice_steps=args.slice_steps,
                       chapters=not args.no_chapters, tests=not args.no_tests)  # fmt: skip
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(
        json.dumps(
            {
                k: result[k]
                for k in (
                    "device",
                    "loop_over_vectorized",
                    "torch_mist_over_vectorized",
                    "wall_seconds",
                )
            }
        )
    )
    print(f"sweep: {result['sweep']['wall_seconds']:.1f} s for {result['sweep']['num_runs']} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
