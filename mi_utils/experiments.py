r"""The book's experiments as functions that return tidy :class:`pandas.DataFrame` s.

:func:`staircase`
    The MI staircase of Poole et al. (2019, Fig. 2): every estimator with separable and concat
    critics on the Gaussian and the cubic task, the true MI stepping through 2, 4, 6, 8, 10
    nats. One call to :func:`mi_utils.train.train` trains every run at once.
:func:`level_summary`
    Mean and standard deviation of each run's estimate over the last part of each level.
:func:`bias_variance`
    Bias, variance and MSE of each bound with the analytic optimal critic (no training noise)
    as functions of the true MI, of :math:`\alpha` and of the batch size (Poole et al., 2019,
    Fig. 3).
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import pandas as pd
import torch

from . import bounds
from .validation import check_int
from .config import default_device
from .data import gaussian_log_conditional, gaussian_log_marginal, mi_to_rho
from .train import CRITICS, TASKS, Run, Schedule, TrainConfig, staircase_schedule, train

__all__ = [
    "BIAS_VARIANCE_ESTIMATORS",
    "STAIRCASE_ALPHAS",
    "STAIRCASE_ESTIMATORS",
    "bias_variance",
    "ema",
    "level_summary",
    "staircase",
    "staircase_runs",
]

# The alphas of the staircase. Exactly these values: the paper's reference notebook labels
# alpha_logit = -5, 0, 5 as alpha = 0.01, 0.5, 0.99, but sigmoid(-5) = 0.0067 and
# sigmoid(5) = 0.9933; we use the labelled values themselves.
STAIRCASE_ALPHAS: tuple[float, ...] = (0.01, 0.5, 0.99)
STAIRCASE_ESTIMATORS: tuple[tuple[str, float | None], ...] = (
    ("nwj", None),
    ("tuba", None),
    ("dv", None),
    ("mine", None),
    ("js", None),
    ("infonce", None),
    *(("interpolated", a) for a in STAIRCASE_ALPHAS),
)
BIAS_VARIANCE_ESTIMATORS: tuple[str, ...] = ("nwj", "tuba", "dv", "infonce", "interpolated")


def staircase_runs(
    critics: tuple[str, ...] = CRITICS, tasks: tuple[str, ...] = TASKS, seed: int = 0
) -> list[Run]:
    """The runs of the paper's staircase figure, seeds ``seed, seed + 1, ...``."""
    check_int(seed, "seed", minimum=0)
    specs = [(c, t, e, a) for t in tasks for c in critics for e, a in STAIRCASE_ESTIMATORS]
    return [Run(e, c, t, alpha=a, seed=seed + i) for i, (c, t, e, a) in enumerate(specs)]


def staircase(
    profile: str | None = None,
    *,
    critics: tuple[str, ...] = CRITICS,
    tasks: tuple[str, ...] = TASKS,
    config: TrainConfig | None = None,
    schedule: Schedule | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Train the staircase of Poole et al. (2019, Fig. 2) and return the trainer's DataFrame.

    Args:
        profile: ``"quick"`` or ``"full"`` (default: the active profile); picks ``config``
            and ``schedule`` unless they are given. ``full`` is the paper's: d = 20, batch 64,
            Adam 5e-4, 4,000 steps at each of 2, 4, 6, 8, 10 nats.
        critics, tasks: subsets of :data:`mi_utils.train.CRITICS` and ``TASKS``.
        seed: the first run's seed; run ``i`` uses ``seed + i``.

    Returns:
        Columns ``run_id, estimator, alpha, critic, task, seed, step, true_mi, estimate``;
        estimators NWJ, TUBA (learned baseline), DV, MINE, JS, InfoNCE and I_alpha at
        :data:`STAIRCASE_ALPHAS`.
    """
    config = config or TrainConfig.for_profile(profile)
    schedule = schedule or staircase_schedule(profile)
    runs = staircase_runs(tuple(critics), tuple(tasks), seed)
    return train(runs, schedule, config, device=device, progress=progress)


def level_summary(df: pd.DataFrame, tail: float = 0.5) -> pd.DataFrame:
    """Mean and SD of each run's estimate over the last ``tail`` fraction of every MI level.

    Returns one row per run and level: ``estimator, alpha, critic, task, true_mi, mean, std``.
    """
    if not isinstance(df, pd.DataFrame) or "estimate" not in df:
        raise TypeError("df must be the DataFrame returned by staircase() or train()")
    if isinstance(tail, bool) or not isinstance(tail, Real) or not 0.0 < tail <= 1.0:
        raise ValueError(f"tail must be a fraction in (0, 1]; got {tail!r}")
    keys = ["run_id", "estimator", "alpha", "critic", "task", "true_mi"]
    steps = df.groupby(keys, dropna=False)["step"].transform
    first, last = steps("min"), steps("max")
    keep = df["step"] >= last - tail * (last - first + 1) + 1
    out = df[keep].groupby(keys, dropna=False)["estimate"].agg(["mean", "std"]).reset_index()
    return out.drop(columns="run_id")


def ema(values: np.ndarray | pd.Series, rate: float = 0.01) -> np.ndarray:
    r"""Exponential moving average :math:`s_t = (1-r)s_{t-1} + r v_t`, started at ``v_0``."""
    if isinstance(rate, bool) or not isinstance(rate, Real) or not 0.0 < rate <= 1.0:
        raise ValueError(f"rate must lie in (0, 1]; got {rate!r}")
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"values must be 1-D; got shape {v.shape}")
    out = np.empty_like(v)
    acc = v[0] if len(v) else 0.0
    for t, x in enumerate(v):
        acc = (1.0 - rate) * acc + rate * x
        out[t] = acc
    return out


def _bound_values(name: str, alpha, log_cond, log_marg, ratio) -> torch.Tensor:
    if name == "nwj":
        return bounds.nwj_lower_bound(ratio + 1.0)  # NWJ's optimal critic is 1 + log ratio
    if name == "tuba":
        return bounds.tuba_lower_bound(log_cond, log_marg)
    if name == "dv":
        return bounds.dv_lower_bound(ratio)
    if name == "infonce":
        return bounds.infonce_lower_bound(ratio)
    return bounds.interpolated_lower_bound(log_cond, log_marg, alpha)


def bias_variance(
    mis=(2.0, 4.0, 6.0, 8.0, 10.0),
    batch_sizes=(64,),
    alphas=(0.01, 0.5, 0.99),
    *,
    estimators: tuple[str, ...] = BIAS_VARIANCE_ESTIMATORS,
    num_batches: int = 1000,
    dim: int = 20,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float64,
    max_batch_elements: int = 2**24,
) -> pd.DataFrame:
    r"""Bias, variance and MSE of each bound with the optimal critic on the Gaussian task.

    For every true MI in ``mis`` and batch size ``K`` in ``batch_sizes``, ``num_batches``
    independent batches are drawn and each bound is evaluated with its optimal critic: NWJ at
    :math:`1 + \log p(y|x)/p(y)`; TUBA and :math:`I_\alpha` at :math:`\log p(y|x)` with baseline
    :math:`a(y) = p(y)`; DV and InfoNCE at :math:`\log p(y|x)/p(y)`.

    Returns:
        One row per (estimator, alpha, mi, K): ``estimator, alpha, true_mi, batch_size, mean,
        bias, variance, mse, se`` (``se``: the standard error of ``mean``).
    """
    if not set(estimators) <= set(BIAS_VARIANCE_ESTIMATORS) or not estimators:
        raise ValueError(f"estimators must be among {BIAS_VARIANCE_ESTIMATORS}; got {estimators!r}")
    check_int(num_batches, "num_batches", minimum=2)
    check_int(dim, "dim")
    for k in batch_sizes:
        check_int(k, "batch_sizes", minimum=2)
    for a in alphas:
        if isinstance(a, bool) or not isinstance(a, Real) or not 0.0 <= a <= 1.0:
            raise ValueError(f"alphas must lie in [0, 1]; got {a!r}")
    device = default_device(device)
    settings = [(e, None) for e in estimators if e != "interpolated"]
    if "interpolated" in estimators:
        settings += [("interpolated", float(a)) for a in alphas]
    rows = []
    for mi in mis:
        rho = mi_to_rho(float(mi), dim)
        for k in batch_sizes:
            chunk = max(1, min(num_batches, max_batch_elements // (k * k)))
            values = {s: [] for s in settings}
            for start in range(0, num_batches, chunk):
                r = min(chunk, num_batches - start)
                z = torch.randn((2, r, k, dim), generator=generator, device=device, dtype=dtype)
                x, y = z[0], rho * z[0] + math.sqrt(1.0 - rho * rho) * z[1]
                log_cond = gaussian_log_conditional(x, y, rho)
                log_marg = gaussian_log_marginal(y)
                ratio = log_cond - log_marg[..., :, None]
                for name, a in settings:
                    values[(name, a)].append(_bound_values(name, a, log_cond, log_marg, ratio))
            for (name, a), vals in values.items():
                v = torch.cat(vals).double().cpu()
                mean, var = v.mean().item(), v.var().item()
                rows.append(
                    dict(estimator=name, alpha=np.nan if a is None else a, true_mi=float(mi),
                         batch_size=k, mean=mean, bias=mean - mi, variance=var,
                         mse=(mean - mi) ** 2 + var, se=math.sqrt(var / len(v)))
                )  # fmt: skip
    return pd.DataFrame(rows)
