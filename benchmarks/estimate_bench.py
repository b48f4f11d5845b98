"""Benchmark of :func:`mi_utils.estimate_mi` and :func:`mi_utils.ksg_mi` on data sets of the
Beyond Normal benchmark: wall time and accuracy at the library's default settings.

``python -m benchmarks.estimate_bench`` (or ``python -m benchmarks.bench --estimate``) prints one
JSON object: for each task, the true MI, the estimate, its interval, the chosen steps and the
wall time; and the KSG estimator's time on N = 10,000 samples of the 5 x 5 task.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from mi_utils import estimate_mi, ksg_mi
from mi_utils.device import default_device
from mi_utils.tasks import beyond_normal_task

__all__ = ["DEFAULT_TASKS", "KSG_TASK", "estimate_benchmark", "main"]

#: Tasks timed with estimate_mi's defaults (N = 10,000): the issue's largest case is 25 x 25.
DEFAULT_TASKS = (
    "1v1-normal-0.75",
    "multinormal-sparse-5-5-2-2.0",
    "spiral-multinormal-sparse-5-5-2-2.0",
    "student-identity-5-5-2",
    "multinormal-sparse-25-25-2-2.0",
)
#: The task KSG is timed on.
KSG_TASK = "multinormal-sparse-5-5-2-2.0"


def _sample(name: str, n: int, seed: int):
    task = beyond_normal_task(name)
    x, y = task.sample(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return task, x, y


def estimate_benchmark(
    tasks=DEFAULT_TASKS, n: int = 10_000, device=None, seed: int = 0, **options
) -> dict:
    """Time ``estimate_mi`` (defaults, plus ``options``) on ``n`` samples of each task, and
    ``ksg_mi`` on ``n`` samples of :data:`KSG_TASK`; returns a JSON-ready dict."""
    dev = default_device(device)
    rows = []
    for name in tasks:
        task, x, y = _sample(name, n, seed)
        start = time.perf_counter()
        r = estimate_mi(x, y, device=dev, seed=seed, progress=False, **options)
        rows.append({
            "task": name, "dims": [task.x_dim, task.y_dim], "true_mi": task.mi,
            "estimate": r.estimate, "ci": list(r.ci) if r.ci else None,
            "best_steps": list(r.best_steps), "ksg": r.ksg,
            "diagnostics": [d.code for d in r.diagnostics],
            "wall_seconds": time.perf_counter() - start,
        })  # fmt: skip
    task, x, y = _sample(KSG_TASK, n, seed)
    start = time.perf_counter()
    value = ksg_mi(x, y)
    ksg = {"task": KSG_TASK, "n": n, "true_mi": task.mi, "estimate": value,
           "wall_seconds": time.perf_counter() - start}  # fmt: skip
    return {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(),
        "n": n,
        "options": options,
        "estimate_mi": rows,
        "ksg_mi": ksg,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.estimate_bench --help``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.estimate_bench")
    p.add_argument("--tasks", nargs="+", default=list(DEFAULT_TASKS))
    p.add_argument("--n", type=int, default=10_000, help="samples per data set")
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)
    if args.n < 10:
        p.error("--n must be >= 10")
    print(json.dumps(estimate_benchmark(tuple(args.tasks), args.n, args.device)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
