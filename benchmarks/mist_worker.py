"""Benchmark worker for torch-mist: train its MI estimators as a user would, one after another.

Standalone: imports only torch, numpy, torch_mist and the standard library (never mi_utils or
pandas), because torch-mist 0.2.17 pins ``numpy<2`` and so lives in its own virtual environment::

    python3 -m venv .venv-mist
    .venv-mist/bin/pip install torch==2.13.0 torch-mist==0.2.17
    .venv-mist/bin/pip install "pandas<3" "numpy<2"  # torch-mist imports pandas, undeclared

Run it with a JSON config on stdin; it prints one JSON object on stdout::

    echo '{"estimators": ["nwj", "infonce"], "critics": ["separable", "concat"], "steps": 200,
           "batch_size": 64, "dim": 20, "mi": 2.0, "lr": 5e-4, "hidden_dim": 256,
           "embed_dim": 32, "num_layers": 2, "seed": 0, "device": "cpu"}' \\
        | .venv-mist/bin/python benchmarks/mist_worker.py

Optional keys: ``alpha`` (I_alpha, 0.01), ``smile_clip`` (tau, 5.0), ``ema_rate`` (MINE,
0.01, i.e. torch-mist's ``gamma = 1 - ema_rate``) and ``neg_samples``: ``"all"`` (default:
every other pair of the batch as a negative, as in Poole et al. and mi_utils; InfoNCE also
counts the positive) or ``"default"`` (torch-mist's per-class default, one negative per
positive for all but InfoNCE). Each (estimator, critic) pair gets fresh weights from
``torch.manual_seed(seed)`` and fresh batches from a ``torch.Generator`` seeded with ``seed``,
and is trained with Adam for ``steps`` steps on ``estimator.loss(x, y)``. The estimate of a step
is torch-mist's MI estimate on that step's batch (``estimator.mutual_information``, nats);
``final_estimate`` averages it over the last 10% of steps. Thread count is left to the caller.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from importlib.metadata import version

import numpy as np
import torch
from torch_mist.baseline import BatchLogMeanExp
from torch_mist.baseline.factories import baseline_nn
from torch_mist.critic import joint_critic, separable_critic
from torch_mist.estimators import JS, MINE, NWJ, SMILE, TUBA, AlphaTUBA, InfoNCE
from torch_mist.estimators.discriminative import (
    BaselineDiscriminativeMIEstimator,
    DiscriminativeMIEstimator,
)


def _dv(critic, baseline, cfg, neg):
    # torch-mist has no DV class. DV is the bound MINE *evaluates* (BatchLogMeanExp over all
    # negative scores); trained on it directly (no EMA) it is DV with its biased gradient.
    return BaselineDiscriminativeMIEstimator(critic, BatchLogMeanExp("all"), **neg)


# The translation of mi_utils' registry names into torch-mist constructors (this worker cannot
# import mi_utils: torch-mist pins numpy<2). Called as f(critic, baseline, cfg, neg) where
# `baseline` is a learned log-baseline MLP (for the estimators the payload's "needs_baseline"
# lists) and `neg` holds the neg_samples keyword (empty for torch-mist's own default).
TORCH_MIST_COUNTERPARTS = {
    # NWJ: ConstantBaseline(1): E_p[f] - E_q[e^(f - 1)].
    "nwj": lambda c, b, cfg, neg: NWJ(c, **neg),
    # TUBA with a learned baseline: torch-mist's LearnableBaseline a(x) (pyro DenseNN).
    "tuba": lambda c, b, cfg, neg: TUBA(c, b, **neg),
    # DV: composed from torch-mist building blocks, see _dv.
    "dv": _dv,
    # MINE: trains DV with an EMA of the partition term, evaluates DV.
    "mine": lambda c, b, cfg, neg: MINE(c, gamma=1.0 - cfg.get("ema_rate", 0.01), **neg),
    # JS: trains the JS f-GAN objective (softplus), evaluates E_p[f] + 1 - E_q[e^f].
    "js": lambda c, b, cfg, neg: JS(c, **neg),
    # InfoNCE: log-mean-exp over the batch including the positive (neg_samples=0).
    "infonce": lambda c, b, cfg, neg: InfoNCE(c, **neg),
    # I_alpha: AlphaTUBA, baseline log(alpha e^m + (1 - alpha) e^a(x)) (InterpolatedBaseline).
    "interpolated": lambda c, b, cfg, neg: AlphaTUBA(c, b, alpha=cfg.get("alpha", 0.01), **neg),
    # SMILE: trains JS, evaluates DV on scores clamped to [-tau, tau].
    "smile": lambda c, b, cfg, neg: SMILE(c, tau=cfg.get("smile_clip", 5.0), **neg),
}


def _neg_kwargs(name: str, mode: str) -> dict:
    if mode == "default":
        return {}
    if mode != "all":
        raise ValueError(f"neg_samples must be 'all' or 'default'; got {mode!r}")
    # 0: the whole batch (positive included); -1: all K - 1 other samples of the batch.
    return {"neg_samples": 0 if name == "infonce" else -1}


def build(name: str, critic_kind: str, cfg: dict) -> DiscriminativeMIEstimator:
    """A fresh torch-mist estimator for our estimator ``name`` and critic ``critic_kind``."""
    d, hidden = cfg["dim"], [cfg["hidden_dim"]] * cfg["num_layers"]
    if critic_kind == "separable":  # g(x)^T h(y): two ReLU MLPs with an embed_dim output
        critic = separable_critic(d, d, hidden_dims=hidden, k_dim=cfg["embed_dim"])
    elif critic_kind == "concat":  # MLP([x; y]) -> scalar
        # A concat critic may be narrower (mi_utils' quick profile): "concat_hidden_dim".
        width = cfg.get("concat_hidden_dim") or cfg["hidden_dim"]
        critic = joint_critic(d, d, hidden_dims=[width] * cfg["num_layers"])
    else:
        raise ValueError(f"critic must be 'separable' or 'concat'; got {critic_kind!r}")
    needs_baseline = name in cfg.get("needs_baseline", ())
    baseline = baseline_nn(d, hidden_dims=hidden) if needs_baseline else None
    neg = _neg_kwargs(name, cfg.get("neg_samples", "all"))
    return TORCH_MIST_COUNTERPARTS[name](critic, baseline, cfg, neg)


def _loss_is_minus_estimate(est: DiscriminativeMIEstimator) -> bool:
    # For these classes loss() is exactly -mutual_information() on the same batch, so the
    # estimate is read off the loss instead of evaluating the negative pairs a second time.
    return type(est).batch_loss is DiscriminativeMIEstimator.batch_loss


def train_one(name: str, critic_kind: str, cfg: dict) -> list[float]:
    """Train one estimator; returns its MI estimate (nats) at every step."""
    device = torch.device(cfg["device"])
    torch.manual_seed(cfg["seed"])
    est = build(name, critic_kind, cfg).to(device)
    opt = torch.optim.Adam(est.parameters(), lr=cfg["lr"])
    gen = torch.Generator(device=device).manual_seed(cfg["seed"])
    k, d = cfg["batch_size"], cfg["dim"]
    rho = math.sqrt(1.0 - math.exp(-2.0 * cfg["mi"] / d))
    read_off_loss = _loss_is_minus_estimate(est)
    estimates = []
    est.train()
    for _ in range(cfg["steps"]):
        x = torch.randn(k, d, generator=gen, device=device)
        eps = torch.randn(k, d, generator=gen, device=device)
        y = rho * x + math.sqrt(1.0 - rho * rho) * eps
        loss = est.loss(x, y)
        if read_off_loss:
            mi = -loss.detach()
        else:
            with torch.no_grad():
                mi = est.mutual_information(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        estimates.append(mi)
    return torch.stack(estimates).cpu().tolist()


def main() -> None:
    cfg = json.load(sys.stdin)
    pairs, unsupported = [], []
    for name in cfg["estimators"]:
        if name not in TORCH_MIST_COUNTERPARTS:
            unsupported.append({"estimator": name, "reason": "no torch-mist counterpart"})
            continue
        pairs += [(name, critic) for critic in cfg["critics"]]
    runs, wall = [], 0.0
    for name, critic in pairs:
        start = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the one JSON object
            estimates = train_one(name, critic, cfg)
        seconds = time.perf_counter() - start
        wall += seconds
        tail = estimates[-max(1, len(estimates) // 10) :]
        runs.append(
            {
                "estimator": name,
                "critic": critic,
                "final_estimate": float(np.mean(tail)),
                "wall_seconds": seconds,
                "supported": True,
            }
        )
    steps = cfg["steps"]
    out = {
        "method": "torch_mist",
        "torch_mist_version": version("torch_mist"),
        "torch_version": torch.__version__,
        "num_threads": torch.get_num_threads(),
        "neg_samples": cfg.get("neg_samples", "all"),
        "wall_seconds": wall,
        "steps": steps,
        "num_runs": len(runs),
        "steps_per_second": len(runs) * steps / wall if wall > 0 else None,
        "runs": runs,
        "unsupported": unsupported,
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
