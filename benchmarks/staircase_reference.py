"""Record the full profile's level means for the book's side-by-side with the quick figure.

Trains the paper's staircase (Poole et al., 2019, Fig. 2) in the ``full`` profile for the
critics and tasks given (default: the separable critic on the Gaussian task, the part a CPU can
train in minutes) and writes, per estimator setting and level, the mean and SD of the estimate
over the last quarter of the level, with the machine and the wall time, to a CSV that Chapter 7
reads. Usage::

    python -m benchmarks.staircase_reference --out book/data/staircase_full_reference.csv
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from mi_utils import book
from mi_utils.experiments import level_summary, staircase

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "book" / "data" / "staircase_full_reference.csv"
TAIL = 0.25  # the chapter's level mean: the last quarter of each level


def cpu_name() -> str:
    """The CPU's model name (Linux), else the platform's machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--critics", nargs="+", default=["separable"])
    parser.add_argument("--tasks", nargs="+", default=["gaussian"])
    parser.add_argument("--device", default=None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    df = staircase(
        "full", critics=tuple(args.critics), tasks=tuple(args.tasks), device=args.device,
        progress=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    summary = level_summary(df, tail=TAIL)
    summary["profile"] = "full"
    summary["steps_per_level"] = book.steps_per_level("full")
    summary["device"] = str(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    summary["machine"] = f"{cpu_name()}, {torch.get_num_threads()} torch thread(s)"
    summary["torch"] = torch.__version__
    summary["wall_seconds"] = round(seconds, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary.to_csv(args.out, index=False)
    print(f"wrote {args.out} ({len(summary)} rows) in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
