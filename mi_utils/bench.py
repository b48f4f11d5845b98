"""Benchmark: the vectorized trainer against a per-run loop and against torch-mist.

``python -m mi_utils.bench`` trains the same runs (estimators x critics on the correlated
Gaussian task, same architecture, batch size, learning rate and number of steps) three ways and
times each:

``vectorized``
    :func:`mi_utils.train.train`: every run in one batched model.
``loop``
    A plain per-run PyTorch loop, written here as the straightforward reference a user would
    write: ``torch.nn`` MLPs, one Adam per run, runs trained one after the other, the concat
    critic applied to all ``K^2`` concatenated pairs. It uses :mod:`mi_utils.bounds` for the
    bounds, so only the training machinery differs.
``torch_mist``
    The peer library torch-mist (PyPI ``torch-mist``), which pins ``numpy<2``: it runs in its
    own virtual environment (``.venv-mist``, made by ``make bench-setup``) through
    ``mi_utils/bench_mist_worker.py``. Skipped, and reported as unavailable, when that
    environment is missing (unless ``--mist require``).

It prints a table and, with ``--json``, one JSON object with each method's ``wall_seconds``
and ``steps_per_second`` (run-steps per second), the ratios ``loop_over_vectorized`` and
``torch_mist_over_vectorized``, the final estimates of every run, and whether the methods
agree (``comparable``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

from .config import default_device
from .data import mi_to_rho
from .train import ESTIMATORS, Run, TrainConfig, estimate, fixed_schedule, train

__all__ = ["JSON_KEYS", "main", "run_benchmark"]

JSON_KEYS = (
    "device", "config", "methods", "loop_over_vectorized", "torch_mist_over_vectorized",
    "estimates", "comparable",
)  # fmt: skip
ROOT = Path(__file__).resolve().parents[1]
MIST_PYTHON = ROOT / ".venv-mist" / "bin" / "python"
MIST_WORKER = Path(__file__).with_name("bench_mist_worker.py")
# The paper's I_alpha at alpha = 0.5 stands for the interpolated family in the benchmark.
BENCH_ALPHA = 0.5


# ----------------------------------------------------------------------------- the loop
def _mlp(in_dim: int, hidden: int, out_dim: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for d in [in_dim] + [hidden] * (layers - 1):
        mods += [nn.Linear(d, hidden), nn.ReLU()]
    return nn.Sequential(*mods, nn.Linear(hidden, out_dim))


class _LoopCritic(nn.Module):
    """A straightforward critic: separable h(y) g(x)^T, or an MLP on all K^2 concatenations."""

    def __init__(self, kind: str, cfg: TrainConfig):
        super().__init__()
        self.kind = kind
        if kind == "separable":
            self.g = _mlp(cfg.dim, cfg.hidden_dim, cfg.embed_dim, cfg.num_layers)
            self.h = _mlp(cfg.dim, cfg.hidden_dim, cfg.embed_dim, cfg.num_layers)
        else:
            hidden = cfg.concat_hidden_dim or cfg.hidden_dim
            self.net = _mlp(2 * cfg.dim, hidden, 1, cfg.num_layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.kind == "separable":
            return self.h(y) @ self.g(x).T
        k = x.shape[0]
        pairs = torch.cat([x[None, :, :].expand(k, k, -1), y[:, None, :].expand(k, k, -1)], -1)
        return self.net(pairs).squeeze(-1)  # [i, j] = f(x_j, y_i)


def _loop_train_one(run: Run, mi: float, steps: int, cfg: TrainConfig, device) -> torch.Tensor:
    torch.manual_seed(run.seed)  # the plain way (the caller restores the global RNG after)
    critic = _LoopCritic(run.critic, cfg).to(device)
    params = list(critic.parameters())
    baseline = None
    if run.estimator in ("tuba", "interpolated"):
        baseline = _mlp(cfg.dim, cfg.hidden_dim, 1, cfg.num_layers).to(device)
        params += list(baseline.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    rho = mi_to_rho(mi, cfg.dim)
    log_ema = None
    values = torch.empty(steps, device=device)
    for step in range(steps):
        x = torch.randn(cfg.batch_size, cfg.dim, device=device)
        y = rho * x + math.sqrt(1 - rho * rho) * torch.randn(cfg.batch_size, cfg.dim, device=device)
        scores = critic(x, y)
        log_a = baseline(y).squeeze(-1) if baseline is not None else None
        value, log_ema = estimate(run.estimator, scores, cfg, log_a, run.alpha, log_ema)
        opt.zero_grad()
        (-value).backward()
        opt.step()
        values[step] = value.detach()
    return values


# ----------------------------------------------------------------------------- benchmark
def _runs(estimators, critics) -> list[Run]:
    return [
        Run(e, c, "gaussian", alpha=BENCH_ALPHA if e == "interpolated" else None, seed=i)
        for i, (e, c) in enumerate((e, c) for c in critics for e in estimators)
    ]


def _tail_mean(values, frac: float = 0.1) -> float:
    n = max(1, int(len(values) * frac))
    return float(sum(values[-n:]) / n)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _mist(runs, steps, cfg: TrainConfig, mi: float, device, mode: str) -> dict | None:
    if mode == "skip":
        return None
    if not MIST_PYTHON.exists():
        if mode == "require":
            raise RuntimeError(f"{MIST_PYTHON} is missing: run `make bench-setup` first")
        return {"available": False, "reason": f"{MIST_PYTHON.parent.parent.name} not set up"}
    payload = dict(
        estimators=sorted({r.estimator for r in runs}, key=ESTIMATORS.index),
        critics=sorted({r.critic for r in runs}),
        steps=steps, batch_size=cfg.batch_size, dim=cfg.dim, mi=mi, lr=cfg.lr,
        hidden_dim=cfg.hidden_dim, embed_dim=cfg.embed_dim, num_layers=cfg.num_layers,
        concat_hidden_dim=cfg.concat_hidden_dim or cfg.hidden_dim,
        seed=0, device=str(device), alpha=BENCH_ALPHA,
    )  # fmt: skip
    res = subprocess.run(
        [str(MIST_PYTHON), str(MIST_WORKER)],
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


def run_benchmark(
    *,
    steps: int = 200,
    estimators=("nwj", "tuba", "dv", "mine", "js", "infonce", "interpolated"),
    critics=("separable", "concat"),
    device: str | None = None,
    mi: float = 2.0,
    config: TrainConfig | None = None,
    mist: str = "auto",
    tolerance: float = 0.5,
) -> dict:
    """Time the three methods on the same runs; return the JSON-ready result (``JSON_KEYS``)."""
    if mist not in ("auto", "skip", "require"):
        raise ValueError(f"mist must be one of ('auto', 'skip', 'require'); got {mist!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1; got {steps!r}")
    for e in estimators:
        if e not in ESTIMATORS:
            raise ValueError(f"estimators must be among {ESTIMATORS}; got {e!r}")
    cfg = config or TrainConfig.for_profile("full")
    dev = default_device(device)
    runs = _runs(estimators, critics)
    n = len(runs)

    # Untimed warm-up of both methods: one-time costs (thread pools, allocator, kernel caches)
    # would otherwise land on whichever method runs first.
    train(runs, fixed_schedule(mi, 2), cfg, device=dev, progress=False)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        _loop_train_one(runs[0], mi, 2, cfg, dev)
    _sync(dev)
    t0 = time.perf_counter()
    df = train(runs, fixed_schedule(mi, steps), cfg, device=dev, progress=False)
    _sync(dev)
    t_vec = time.perf_counter() - t0
    vec = {
        rid: _tail_mean(g.sort_values("step").estimate.tolist()) for rid, g in df.groupby("run_id")
    }

    t0 = time.perf_counter()
    loop = {}
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        for rid, run in enumerate(runs):  # the reference: one run after the other
            loop[rid] = _loop_train_one(run, mi, steps, cfg, dev)
    _sync(dev)
    t_loop = time.perf_counter() - t0
    loop = {rid: _tail_mean(v.cpu().tolist()) for rid, v in loop.items()}

    mist_out = _mist(runs, steps, cfg, mi, dev, mist)
    methods = {
        "vectorized": {"wall_seconds": t_vec, "steps_per_second": n * steps / t_vec},
        "loop": {"wall_seconds": t_loop, "steps_per_second": n * steps / t_loop},
    }
    mist_est = {}
    if mist_out and mist_out.get("available"):
        methods["torch_mist"] = {
            "wall_seconds": mist_out["wall_seconds"],
            "steps_per_second": mist_out["steps_per_second"],
            "num_runs": mist_out["num_runs"],
            "version": mist_out.get("torch_mist_version"),
            "unsupported": mist_out.get("unsupported", []),
        }
        mist_est = {(r["estimator"], r["critic"]): r["final_estimate"] for r in mist_out["runs"]}
    elif mist_out:
        methods["torch_mist"] = {"available": False, "reason": mist_out["reason"]}

    rows, comparable = [], True
    for rid, run in enumerate(runs):
        row = {"estimator": run.estimator, "critic": run.critic, "vectorized": vec[rid]}
        row["loop"] = loop[rid]
        row["torch_mist"] = mist_est.get((run.estimator, run.critic))
        others = [v for v in (row["loop"], row["torch_mist"]) if v is not None]
        row["comparable"] = all(abs(v - vec[rid]) <= max(tolerance, 0.15 * mi) for v in others)
        comparable &= row["comparable"]
        rows.append(row)

    mist_ratio = None
    if "wall_seconds" in methods.get("torch_mist", {}):
        # Per run-step, so that estimators torch-mist lacks do not skew the ratio.
        mist_ratio = (
            methods["vectorized"]["steps_per_second"] / methods["torch_mist"]["steps_per_second"]
        )
    return {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "config": {
            "steps": steps,
            "num_runs": n,
            "mi": mi,
            "batch_size": cfg.batch_size,
            "dim": cfg.dim,
            "hidden_dim": cfg.hidden_dim,
            "lr": cfg.lr,
            "torch_threads": torch.get_num_threads(),
        },
        "methods": methods,
        "loop_over_vectorized": t_loop / t_vec,
        "torch_mist_over_vectorized": mist_ratio,
        "estimates": rows,
        "comparable": comparable,
    }


def _table(result: dict) -> str:
    lines = [f"device: {result['device']}   config: {result['config']}", ""]
    lines.append(f"{'method':<12}{'wall s':>10}{'run-steps/s':>14}")
    for name, m in result["methods"].items():
        if "wall_seconds" in m:
            lines.append(f"{name:<12}{m['wall_seconds']:>10.2f}{m['steps_per_second']:>14.1f}")
        else:
            lines.append(f"{name:<12}  unavailable ({m['reason']})")
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
    """Command line entry point: ``python -m mi_utils.bench --help``."""
    p = argparse.ArgumentParser(prog="python -m mi_utils.bench", description=__doc__.split("\n")[0])
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--steps", type=int, default=200, help="training steps per run")
    p.add_argument(
        "--critics", nargs="+", default=["separable", "concat"], choices=["separable", "concat"]
    )
    default_estimators = ["nwj", "tuba", "dv", "mine", "js", "infonce", "interpolated"]
    p.add_argument("--estimators", nargs="+", default=default_estimators, choices=list(ESTIMATORS))
    p.add_argument("--mi", type=float, default=2.0, help="true MI of the task (nats)")
    p.add_argument(
        "--profile", choices=["quick", "full"], default="full", help="network sizes and lr"
    )
    p.add_argument("--mist", choices=["auto", "skip", "require"], default="auto")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = p.parse_args(argv)
    result = run_benchmark(
        steps=args.steps,
        estimators=tuple(args.estimators),
        critics=tuple(args.critics),
        device=args.device,
        mi=args.mi,
        config=TrainConfig.for_profile(args.profile),
        mist=args.mist,
    )
    print(json.dumps(result) if args.json else _table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
