"""Benchmark: the vectorized trainer against a per-run loop and against torch-mist.

``python -m benchmarks.bench`` (from the repository root; ``make bench``) trains the same runs
(estimators x critics on the correlated Gaussian task, same architecture, batch size, learning
rate and number of steps) three ways and times each:

``vectorized``
    :func:`mi_utils.train.train`: every run in one batched model.
``loop``
    A plain per-run PyTorch loop, written here as the straightforward reference a user would
    write: ``torch.nn`` MLPs, one Adam per run (the library's fit loop, :func:`mi_utils.train.fit`,
    with one run), runs trained one after the other, the concat critic applied to all ``K^2``
    concatenated pairs. It evaluates the bounds through :mod:`mi_utils.estimators`, so only the
    batching differs.
``torch_mist``
    The peer library torch-mist (PyPI ``torch-mist``), which pins ``numpy<2``: it runs in its
    own virtual environment (``.venv-mist``, made by ``make bench-setup``; another one with
    ``--mist-python``) through ``benchmarks/mist_worker.py``. Skipped, and reported as
    unavailable, when that environment is missing (unless ``--mist require``).

It prints a table and, with ``--json``, one JSON object with each method's ``wall_seconds``
and ``steps_per_second`` (run-steps per second), the ratios ``loop_over_vectorized`` and
``torch_mist_over_vectorized``, the final estimates of every run, and whether the methods
agree (``comparable``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

from mi_utils import book, estimators
from mi_utils.device import default_device
from mi_utils.experiments import staircase_runs
from mi_utils.nn import CRITIC_KINDS
from mi_utils.tasks import CorrelatedGaussian, Schedule, Task
from mi_utils.train import Run, TrainConfig, fit, train

__all__ = [
    "JSON_KEYS",
    "main",
    "run_benchmark",
    "run_torch_mist",
    "sweep_benchmark",
    "time_loop_slice",
    "time_sweep",
]

JSON_KEYS = (
    "device", "config", "methods", "loop_over_vectorized", "torch_mist_over_vectorized",
    "estimates", "comparable",
)  # fmt: skip
ROOT = Path(__file__).resolve().parents[1]
MIST_PYTHON = ROOT / ".venv-mist" / "bin" / "python"
MIST_WORKER = Path(__file__).with_name("mist_worker.py")
# The paper's I_alpha at alpha = 0.5 stands for the interpolated family in the benchmark.
BENCH_ALPHA = 0.5
_get_estimator, _registry_names = estimators.get, estimators.names  # `estimators` is an argument


# ----------------------------------------------------------------------------- the loop
def _mlp(in_dim: int, hidden: int, out_dim: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for d in [in_dim] + [hidden] * (layers - 1):
        mods += [nn.Linear(d, hidden), nn.ReLU()]
    return nn.Sequential(*mods, nn.Linear(hidden, out_dim))


class _LoopCritic(nn.Module):
    """A straightforward critic: separable h(y) g(x)^T, or an MLP on all K^2 concatenations."""

    def __init__(self, kind: str, x_dim: int, y_dim: int, cfg: TrainConfig):
        super().__init__()
        self.kind = kind
        if kind == "separable":
            self.g = _mlp(x_dim, cfg.hidden_dim, cfg.embed_dim, cfg.num_layers)
            self.h = _mlp(y_dim, cfg.hidden_dim, cfg.embed_dim, cfg.num_layers)
        else:
            hidden = cfg.concat_hidden_dim or cfg.hidden_dim
            self.net = _mlp(x_dim + y_dim, hidden, 1, cfg.num_layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.kind == "separable":
            return self.h(y) @ self.g(x).T
        k = x.shape[0]
        pairs = torch.cat([x[None, :, :].expand(k, k, -1), y[:, None, :].expand(k, k, -1)], -1)
        return self.net(pairs).squeeze(-1)  # [i, j] = f(x_j, y_i)


def _loop_train_one(run: Run, steps: int, cfg: TrainConfig, device) -> torch.Tensor:
    """One run, the plain way: global RNG, torch.nn modules, the registry's evaluate."""
    torch.manual_seed(run.seed)  # the caller restores the global RNG afterwards
    task: Task | Schedule = run.task
    spec = run.spec
    critic = _LoopCritic(run.critic, task.x_dim, task.y_dim, cfg).to(device)
    params = list(critic.parameters())
    baseline = None
    if spec.needs_baseline:
        hidden = cfg.baseline_hidden_dim or cfg.hidden_dim
        baseline = _mlp(task.y_dim, hidden, 1, cfg.num_layers).to(device)
        params += list(baseline.parameters())
    state = [None]
    options = run.resolved_options

    def objective(step: int) -> torch.Tensor:
        if isinstance(task, Schedule):  # the global RNG, the step's task of the schedule
            x, y = (t[0] for t in task.sample_steps(step, 1, cfg.batch_size, device=device))
        else:
            x, y = task.sample(cfg.batch_size, device=device)
        log_a = baseline(y).squeeze(-1) if baseline is not None else None
        value, state[0] = spec(critic(x, y), log_baseline=log_a, state=state[0], **options)
        return value

    return fit(objective, params, steps, lr=cfg.lr, progress=False)


# ----------------------------------------------------------------------------- benchmark
def _runs(names, critics, task: Task) -> list[Run]:
    return [
        Run(e, c, task, seed=i, **({"alpha": BENCH_ALPHA} if "alpha" in estimators.get(e).options
                                  else {}))
        for i, (e, c) in enumerate((e, c) for c in critics for e in names)
    ]  # fmt: skip


def _tail_mean(values, frac: float = 0.1) -> float:
    n = max(1, int(len(values) * frac))
    return float(sum(values[-n:]) / n)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_torch_mist(
    runs, steps, cfg: TrainConfig, mi: float, device, mode: str, python: Path
) -> dict | None:
    """Train ``runs`` with torch-mist in its own environment (``python``); ``None`` for
    ``mode="skip"``, an ``available: False`` record where that environment is missing."""
    if mode == "skip":
        return None
    if not python.exists():
        if mode == "require":
            raise RuntimeError(f"{python} is missing: run `make bench-setup` first")
        return {"available": False, "reason": f"{python.parent.parent.name} not set up"}
    names = list(dict.fromkeys(r.estimator for r in runs))
    payload = dict(
        estimators=names,
        needs_baseline=[n for n in names if estimators.get(n).needs_baseline],
        critics=sorted({r.critic for r in runs}),
        steps=steps, batch_size=cfg.batch_size, dim=runs[0].task.x_dim, mi=mi, lr=cfg.lr,
        hidden_dim=cfg.hidden_dim, embed_dim=cfg.embed_dim, num_layers=cfg.num_layers,
        concat_hidden_dim=cfg.concat_hidden_dim or cfg.hidden_dim,
        seed=0, device=str(device), alpha=BENCH_ALPHA,
    )  # fmt: skip
    res = subprocess.run(
        [str(python), str(MIST_WORKER)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": ""},
    )
    if res.returncode != 0:
        raise RuntimeError(f"the torch-mist worker failed:\n{res.stderr[-2000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["available"] = True
    return out


def default_estimators() -> tuple[str, ...]:
    """The estimators of the paper's staircase (the registry's ``"staircase"`` tag)."""
    return estimators.names(tag="staircase")


def _time_vectorized(runs, steps, cfg, dev) -> tuple[float, dict]:
    _sync(dev)
    t0 = time.perf_counter()
    df = train(runs, steps, cfg, device=dev, progress=False).frame
    _sync(dev)
    seconds = time.perf_counter() - t0
    return seconds, {
        rid: _tail_mean(g.sort_values("step").estimate.tolist()) for rid, g in df.groupby("run_id")
    }


def _time_loop(runs, steps, cfg, dev) -> tuple[float, dict]:
    _sync(dev)
    t0 = time.perf_counter()
    out = {}
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        for rid, run in enumerate(runs):  # the reference: one run after the other
            out[rid] = _loop_train_one(run, steps, cfg, dev)
    _sync(dev)
    seconds = time.perf_counter() - t0
    return seconds, {rid: _tail_mean(v.cpu().tolist()) for rid, v in out.items()}


def run_benchmark(
    *,
    steps: int = 200,
    estimators: tuple[str, ...] | None = None,
    critics=("separable", "concat"),
    device: str | None = None,
    mi: float = 2.0,
    task: Task | None = None,
    config: TrainConfig | None = None,
    mist: str = "auto",
    mist_python: str | Path | None = None,
    tolerance: float = 0.5,
    repeats: int = 3,
) -> dict:
    """Time the three methods on the same runs; return the JSON-ready result.

    Each critic type is timed on its own: the vectorized trainer and the per-run loop
    ``repeats`` times each, alternating which goes first, after an untimed warm-up of both;
    the reported times are the medians. torch-mist (slow) is timed once per critic type.

    ``estimators`` defaults to :func:`default_estimators`; ``task`` to the correlated Gaussian
    with ``mi`` nats in dimension 20 (torch-mist runs only on that task). The result has the
    keys :data:`JSON_KEYS` plus ``per_critic`` and ``loop_over_vectorized_<critic>``.
    """
    if mist not in ("auto", "skip", "require"):
        raise ValueError(f"mist must be one of ('auto', 'skip', 'require'); got {mist!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1; got {steps!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1; got {repeats!r}")
    names = default_estimators() if estimators is None else tuple(estimators)
    for e in names:
        _get_estimator(e)  # unknown names raise, listing the accepted ones
    if task is None:
        task = CorrelatedGaussian.from_mi(mi, book.DIM)
    elif not isinstance(task, CorrelatedGaussian):
        mist = "skip"  # the torch-mist worker samples the correlated Gaussian itself
    mi = float(task.mi)
    cfg = config or book.train_config("full")
    dev = default_device(device)
    python = Path(mist_python) if mist_python is not None else MIST_PYTHON
    runs = _runs(names, critics, task)

    per_critic, vec, loop, mist_est, mist_runs = {}, {}, {}, {}, []
    for critic in dict.fromkeys(critics):
        ids = [i for i, r in enumerate(runs) if r.critic == critic]
        sub = [runs[i] for i in ids]
        # Untimed warm-up: one-time costs (thread pools, allocator, kernel caches) would
        # otherwise land on whichever method runs first.
        _time_vectorized(sub, 2, cfg, dev)
        _time_loop(sub[:1], 2, cfg, dev)
        t_vec, t_loop = [], []
        for rep in range(repeats):
            order = ("vectorized", "loop") if rep % 2 == 0 else ("loop", "vectorized")
            for method in order:
                if method == "vectorized":
                    seconds, est = _time_vectorized(sub, steps, cfg, dev)
                    t_vec.append(seconds)
                    vec.update({ids[r]: v for r, v in est.items()})
                else:
                    seconds, est = _time_loop(sub, steps, cfg, dev)
                    t_loop.append(seconds)
                    loop.update({ids[r]: v for r, v in est.items()})
        out = run_torch_mist(sub, steps, cfg, mi, dev, mist, python)
        entry = {
            "num_runs": len(sub),
            "vectorized_seconds": statistics.median(t_vec),
            "loop_seconds": statistics.median(t_loop),
            "vectorized_repeats": t_vec,
            "loop_repeats": t_loop,
        }
        entry["loop_over_vectorized"] = entry["loop_seconds"] / entry["vectorized_seconds"]
        entry["torch_mist_over_vectorized"] = None
        if out and out.get("available"):
            entry["torch_mist_seconds"] = out["wall_seconds"]
            # Per run-step, so that estimators torch-mist lacks do not skew the ratio.
            entry["torch_mist_over_vectorized"] = (
                len(sub) * steps / entry["vectorized_seconds"] / out["steps_per_second"]
            )
            mist_runs.append(out)
            mist_est.update(
                {(r["estimator"], r["critic"]): r["final_estimate"] for r in out["runs"]}
            )
        elif out:
            entry["torch_mist"] = {"available": False, "reason": out["reason"]}
        per_critic[critic] = entry

    n = len(runs)
    t_vec = sum(e["vectorized_seconds"] for e in per_critic.values())
    t_loop = sum(e["loop_seconds"] for e in per_critic.values())
    methods = {
        "vectorized": {"wall_seconds": t_vec, "steps_per_second": n * steps / t_vec},
        "loop": {"wall_seconds": t_loop, "steps_per_second": n * steps / t_loop},
    }
    mist_ratio = None
    if mist_runs:
        wall = sum(o["wall_seconds"] for o in mist_runs)
        run_steps = sum(o["steps_per_second"] * o["wall_seconds"] for o in mist_runs)
        methods["torch_mist"] = {
            "wall_seconds": wall,
            "steps_per_second": run_steps / wall,
            "num_runs": sum(o["num_runs"] for o in mist_runs),
            "version": mist_runs[0].get("torch_mist_version"),
            "unsupported": mist_runs[0].get("unsupported", []),
        }
        mist_ratio = (
            methods["vectorized"]["steps_per_second"] / methods["torch_mist"]["steps_per_second"]
        )
    elif mist != "skip":
        reasons = [e["torch_mist"]["reason"] for e in per_critic.values() if "torch_mist" in e]
        if reasons:
            methods["torch_mist"] = {"available": False, "reason": reasons[0]}

    rows, comparable = [], True
    for rid, run in enumerate(runs):
        row = {"estimator": run.estimator, "critic": run.critic, "vectorized": vec[rid]}
        row["loop"] = loop[rid]
        row["torch_mist"] = mist_est.get((run.estimator, run.critic))
        others = [v for v in (row["loop"], row["torch_mist"]) if v is not None]
        row["comparable"] = all(abs(v - vec[rid]) <= max(tolerance, 0.15 * mi) for v in others)
        comparable &= row["comparable"]
        rows.append(row)

    result = {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "config": {
            "steps": steps,
            "num_runs": n,
            "repeats": repeats,
            "mi": mi,
            "batch_size": cfg.batch_size,
            "dim": task.x_dim,
            "hidden_dim": cfg.hidden_dim,
            "concat_hidden_dim": cfg.concat_hidden_dim or cfg.hidden_dim,
            "lr": cfg.lr,
            "matmul_dtype": None if cfg.matmul_dtype is None else str(cfg.matmul_dtype),
            "torch_threads": torch.get_num_threads(),
            "torch_version": torch.__version__,
            "allocator": _allocator(),
        },
        "methods": methods,
        "loop_over_vectorized": t_loop / t_vec,
        "torch_mist_over_vectorized": mist_ratio,
        "estimates": rows,
        "comparable": comparable,
        "per_critic": per_critic,
    }
    for critic, entry in per_critic.items():
        result[f"loop_over_vectorized_{critic}"] = entry["loop_over_vectorized"]
    return result


# ----------------------------------------------------------------------------- the sweep
def time_sweep(
    profile: str, device, *, critics=None, steps_per_level: int | None = None, compile=False
) -> tuple[list, dict]:
    """Time the paper's staircase sweep (Fig. 2) with the vectorized trainer, one ``train`` call.

    ``critics`` selects critic types (default both: 36 runs); ``steps_per_level`` shortens the
    staircase (default: the profile's). Returns the runs and a JSON-ready dict.
    """
    runs = staircase_runs(critics=tuple(critics or CRITIC_KINDS), profile=profile)
    if steps_per_level is not None:
        schedules = {
            t: book.staircase_schedule(profile, task=t, steps=steps_per_level)
            for t in book.STAIRCASE_TASKS
        }
        runs = [Run(r.estimator, r.critic, schedules[r.task.name], seed=r.seed, **r.options)
                for r in runs]  # fmt: skip
    cfg = book.train_config(profile, compile=compile)
    _sync(device)
    start = time.perf_counter()
    result = train(runs, None, cfg, device=device, progress=False)
    _sync(device)
    seconds = time.perf_counter() - start
    num_steps = runs[0].task.num_steps
    return runs, {
        "profile": profile,
        "num_runs": len(runs),
        "num_steps": num_steps,
        "compile": compile,
        "compile_seconds": result.compile_seconds,
        "wall_seconds": seconds,
        "run_steps_per_second": len(runs) * num_steps / seconds,
        "final_estimates": result.frame.groupby("run_id")["estimate"].last().round(3).tolist(),
    }


def time_loop_slice(runs, profile: str, slice_steps: int, device) -> dict:
    """Time the per-run loop on the first ``slice_steps`` steps of every run, extrapolated to
    the runs' full length (the loop's cost per step does not depend on the MI level)."""
    total = runs[0].task.num_steps
    cfg = book.train_config(profile)
    _sync(device)
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for run in runs:
            _loop_train_one(run, slice_steps, cfg, device)
    _sync(device)
    seconds = time.perf_counter() - start
    return {
        "slice_steps": slice_steps,
        "measured_seconds": seconds,
        "extrapolated_seconds": seconds * total / slice_steps,
        "extrapolated": slice_steps != total,
    }


def sweep_benchmark(
    profile: str, critics, slice_steps: int, device=None, compile=False, steps_per_level=None
) -> dict:
    """The staircase sweep per critic type: vectorized (one call) against the per-run loop."""
    dev = default_device(device)
    out = {}
    for critic in critics:
        runs, vec = time_sweep(
            profile, dev, critics=(critic,), compile=compile, steps_per_level=steps_per_level
        )
        loop = time_loop_slice(runs, profile, min(slice_steps, vec["num_steps"]), dev)
        vec.pop("final_estimates")
        out[critic] = {
            "vectorized": vec,
            "loop": loop,
            "loop_over_vectorized": loop["extrapolated_seconds"] / vec["wall_seconds"],
        }
    return out


def _allocator() -> str:
    """``tcmalloc`` when it is preloaded into this process, else ``glibc``."""
    preload = os.environ.get("LD_PRELOAD", "")
    return "tcmalloc" if "tcmalloc" in preload else "glibc"


def _table(result: dict) -> str:
    lines = [f"device: {result['device']}   config: {result['config']}", ""]
    lines.append(f"{'method':<12}{'wall s':>10}{'run-steps/s':>14}")
    for name, m in result["methods"].items():
        if "wall_seconds" in m:
            lines.append(f"{name:<12}{m['wall_seconds']:>10.2f}{m['steps_per_second']:>14.1f}")
        else:
            lines.append(f"{name:<12}  unavailable ({m['reason']})")
    for critic, e in result.get("per_critic", {}).items():
        mist = e.get("torch_mist_over_vectorized")
        lines.append(
            f"{critic:<10} vectorized {e['vectorized_seconds']:.2f} s, "
            f"loop {e['loop_seconds']:.2f} s"
            f" (loop / vectorized {e['loop_over_vectorized']:.2f}x"
            + ("" if mist is None else f", torch-mist / vectorized {mist:.2f}x")
            + ")"
        )
    lines.append(f"\nloop / vectorized: {result['loop_over_vectorized']:.2f}x")
    if result["torch_mist_over_vectorized"] is not None:
        lines.append(f"torch-mist / vectorized: {result['torch_mist_over_vectorized']:.2f}x")
    lines.append(f"\n{'estimator':<14}{'critic':<11}{'vectorized':>11}{'loop':>8}{'mist':>8}")
    for r in result["estimates"]:
        mist = "-" if r["torch_mist"] is None else f"{r['torch_mist']:.2f}"
        lines.append(
            f"{r['estimator']:<14}{r['critic']:<11}{r['vectorized']:>11.2f}{r['loop']:>8.2f}"
            f"{mist:>8}{'' if r['comparable'] else '  (differs)'}"
        )
    lines.append(f"\nall methods comparable: {result['comparable']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: ``python -m benchmarks.bench --help``."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench", description=__doc__.split("\n")[0]
    )
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--steps", type=int, default=200, help="training steps per run")
    p.add_argument(
        "--critics", nargs="+", default=["separable", "concat"], choices=["separable", "concat"]
    )
    p.add_argument(
        "--estimators", nargs="+", default=list(default_estimators()),
        choices=list(_registry_names(trainable=True)),
    )  # fmt: skip
    p.add_argument("--mi", type=float, default=2.0, help="true MI of the task (nats)")
    p.add_argument(
        "--profile", choices=["quick", "full"], default=None,
        help="network sizes and lr (default: the book's profile for this device: full on CUDA, "
        "quick on a CPU, or MI_BOOK_PROFILE)",
    )  # fmt: skip
    p.add_argument("--repeats", type=int, default=3, help="alternated timing repeats (median)")
    p.add_argument(
        "--sweep", type=int, default=None, metavar="SLICE_STEPS",
        help="time the staircase sweep of Chapter 7 per critic type instead (vectorized, one "
        "call; the loop on SLICE_STEPS steps of every run, extrapolated)",
    )  # fmt: skip
    p.add_argument("--compile", action="store_true", help="with --sweep: TrainConfig.compile")
    p.add_argument(
        "--bf16", action="store_true",
        help="hidden-layer products of the vectorized trainer in bfloat16 (matmul_dtype)",
    )  # fmt: skip
    p.add_argument("--mist", choices=["auto", "skip", "require"], default="auto")
    p.add_argument(
        "--mist-python", default=None, help=f"torch-mist's python (default {MIST_PYTHON})"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument(
        "--estimate", action="store_true",
        help="time estimate_mi (default settings, N = 10,000) and ksg_mi instead "
        "(benchmarks.estimate_bench; one JSON object)",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.estimate:
        from .estimate_bench import estimate_benchmark

        print(json.dumps(estimate_benchmark(device=args.device)))
        return 0
    if args.sweep is not None:
        if args.sweep < 1:
            p.error("--sweep needs SLICE_STEPS >= 1")
        profile = book.get_profile(args.profile)
        result = sweep_benchmark(profile, args.critics, args.sweep, args.device, args.compile)
        print(json.dumps(result))
        return 0
    result = run_benchmark(
        steps=args.steps,
        estimators=tuple(args.estimators),
        critics=tuple(args.critics),
        device=args.device,
        mi=args.mi,
        config=book.train_config(
            book.get_profile(args.profile), matmul_dtype=torch.bfloat16 if args.bf16 else None
        ),
        mist=args.mist,
        mist_python=args.mist_python,
        repeats=args.repeats,
    )
    print(json.dumps(result) if args.json else _table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
