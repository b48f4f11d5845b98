r"""The book's experiments as functions that return tidy :class:`pandas.DataFrame` s.

:func:`staircase`
    The MI staircase of Poole et al. (2019, Fig. 2): every estimator tagged ``"staircase"`` in
    :mod:`mi_utils.estimators` with separable and concat critics on the Gaussian and the cubic
    task, the true MI stepping through 2, 4, 6, 8, 10 nats. One :func:`mi_utils.train.train`
    call trains every run at once.
:func:`level_summary`
    Mean and standard deviation of each run's estimate over the last part of each level.
:func:`bias_variance`
    Bias, variance and MSE of each bound with the optimal critic (no training noise) as
    functions of the true MI, of :math:`\alpha` and of the batch size (Poole et al., 2019,
    Fig. 3).
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import pandas as pd
import torch

from . import book, estimators
from .device import default_device
from .nn import CRITIC_KINDS
from .tasks import CorrelatedGaussian, Task
from .train import Run, TrainConfig, result_options, train
from .validation import check_int

_registry_get = estimators.get  # bias_variance's argument `estimators` shadows the module

__all__ = [
    "STAIRCASE_ALPHAS",
    "bias_variance",
    "bias_variance_settings",
    "level_summary",
    "staircase",
    "staircase_runs",
    "staircase_settings",
]

#: The alphas of the staircase. Exactly these values, since the paper's reference notebook labels
#: alpha_logit = -5, 0, 5 as alpha = 0.01, 0.5, 0.99, but sigmoid(-5) = 0.0067 and
#: sigmoid(5) = 0.9933; we use the labelled values themselves.
STAIRCASE_ALPHAS: tuple[float, ...] = (0.01, 0.5, 0.99)


def _settings(tag: str, alphas) -> list[tuple[str, dict]]:
    """(estimator, options) for every estimator with ``tag``; ``alpha`` options expanded."""
    out = []
    for name in estimators.names(tag=tag):
        if "alpha" in estimators.get(name).options:
            out += [(name, {"alpha": float(a)}) for a in alphas]
        else:
            out.append((name, {}))
    return out


def staircase_settings() -> list[tuple[str, dict]]:
    """The estimator settings of the paper's Fig. 2: ``(name, options)`` pairs."""
    return _settings("staircase", STAIRCASE_ALPHAS)


def staircase_runs(
    critics: tuple[str, ...] = CRITIC_KINDS,
    tasks: tuple[str, ...] = book.STAIRCASE_TASKS,
    seed: int = 0,
    *,
    profile: str | None = None,
) -> list[Run]:
    """The runs of the paper's staircase figure, seeds ``seed, seed + 1, ...``.

    ``profile`` sets the steps per level (:func:`mi_utils.book.steps_per_level`).
    """
    check_int(seed, "seed", minimum=0)
    schedules = {t: book.staircase_schedule(profile, task=t) for t in tasks}
    specs = [(c, t, e, o) for t in tasks for c in critics for e, o in staircase_settings()]
    return [Run(e, c, schedules[t], seed=seed + i, **o) for i, (c, t, e, o) in enumerate(specs)]


def staircase(
    profile: str | None = None,
    *,
    critics: tuple[str, ...] = CRITIC_KINDS,
    tasks: tuple[str, ...] = book.STAIRCASE_TASKS,
    config: TrainConfig | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Train the staircase of Poole et al. (2019, Fig. 2) and return the results frame.

    Args:
        profile: ``"quick"`` or ``"full"`` (default: the active profile,
            :func:`mi_utils.book.get_profile`); picks ``config`` unless given and the steps
            per level. ``full`` is the paper's: d = 20, batch 64, Adam 5e-4, 4,000 steps at each
            of 2, 4, 6, 8, 10 nats.
        critics: a subset of ``("separable", "concat")``.
        tasks: a subset of ``("gaussian", "cubic")``.
        seed: the first run's seed; run ``i`` uses ``seed + i``.

    Returns:
        :attr:`mi_utils.train.TrainResult.frame`: columns ``run_id, estimator, label, alpha,
        ema_rate, critic, task, seed, step, true_mi, estimate``.
    """
    config = config or book.train_config(profile)
    runs = staircase_runs(tuple(critics), tuple(tasks), seed, profile=profile)
    return train(runs, None, config, device=device, progress=progress).frame


def level_summary(df: pd.DataFrame, tail: float = 0.5) -> pd.DataFrame:
    """Mean and SD of each run's estimate over the last ``tail`` fraction of every MI level.

    Returns one row per run and level: ``estimator``, ``label``, the option columns
    (``alpha``, ...), ``critic, task, true_mi, mean, std``.
    """
    if not isinstance(df, pd.DataFrame) or "estimate" not in df:
        raise TypeError("df must be the DataFrame returned by staircase() or train()")
    if isinstance(tail, bool) or not isinstance(tail, Real) or not 0.0 < tail <= 1.0:
        raise ValueError(f"tail must be a fraction in (0, 1]; got {tail!r}")
    label = ["label"] if "label" in df else []
    keys = ["run_id", "estimator", *label, *result_options(df), "critic", "task", "true_mi"]
    steps = df.groupby(keys, dropna=False)["step"].transform
    first, last = steps("min"), steps("max")
    keep = df["step"] >= last - tail * (last - first + 1) + 1
    out = df[keep].groupby(keys, dropna=False)["estimate"].agg(["mean", "std"]).reset_index()
    return out.drop(columns="run_id")


# ----------------------------------------------------------------------------- bias/variance
def bias_variance_settings(alphas=STAIRCASE_ALPHAS) -> list[tuple[str, dict]]:
    """The estimator settings of the paper's Fig. 3: ``(name, options)`` pairs."""
    return _settings("bias_variance", alphas)


def _optimal_value(spec, options, task: Task, x, y) -> torch.Tensor:
    """The estimator at its optimal critic (:attr:`Estimator.optimal_critic`)."""
    if spec.optimal_critic == "log_conditional":
        scores, log_a = task.log_conditional(x, y), task.log_marginal(y)
    else:
        scores, log_a = task.log_ratio(x, y), None
        if spec.optimal_critic == "log_ratio_plus_one":
            scores = scores + 1.0
    value, _ = spec(scores, log_baseline=log_a if spec.needs_baseline else None, **options)
    return value


def bias_variance(
    mis=(2.0, 4.0, 6.0, 8.0, 10.0),
    batch_sizes=(64,),
    alphas=STAIRCASE_ALPHAS,
    *,
    estimators: tuple[str, ...] | None = None,
    num_batches: int = 1000,
    dim: int = book.DIM,
    task_family=None,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float64,
    max_batch_elements: int = 2**24,
) -> pd.DataFrame:
    r"""Bias, variance and MSE of each bound with its optimal critic, on tasks of known MI.

    For every true MI in ``mis`` and batch size ``K`` in ``batch_sizes``, ``num_batches``
    independent batches are drawn from ``task_family(mi)`` and each estimator is evaluated at
    its optimal critic (:attr:`mi_utils.estimators.Estimator.optimal_critic`): NWJ at
    :math:`1 + \log p(y|x)/p(y)`; TUBA and :math:`I_\alpha` at :math:`\log p(y|x)` with
    baseline :math:`a(y) = p(y)`; DV and InfoNCE at :math:`\log p(y|x)/p(y)`.

    Args:
        mis: the true MIs of the tasks, in nats.
        batch_sizes: the batch sizes ``K >= 2``.
        alphas: the values of :math:`\alpha \in [0, 1]` for estimators with an ``alpha`` option.
        estimators: registry names with an optimal critic (default: those tagged
            ``"bias_variance"``, the estimators of the paper's Fig. 3); an estimator with an
            ``alpha`` option is evaluated at every value of ``alphas``.
        task_family: ``mi -> Task`` with known densities (default: the correlated Gaussian
            in dimension ``dim``).
        num_batches: independent batches per MI and batch size, an int >= 2.
        dim: the dimension of the default task family.
        generator: the source of randomness of the samples.
        device: where the samples and scores live (default:
            :func:`mi_utils.device.default_device`).
        dtype: of the samples and scores.
        max_batch_elements: batches are drawn together in chunks of at most this many score
            entries (``K^2`` per batch).

    Returns:
        One row per (estimator, alpha, mi, K): ``estimator, label, alpha, true_mi, batch_size,
        mean, bias, variance, mse, se`` (``label``: the registry's; ``se``: the standard error
        of ``mean``).
    """
    if estimators is None:
        settings = bias_variance_settings(alphas)
    else:
        if isinstance(estimators, str) or not estimators:
            raise ValueError(f"estimators must be a non-empty tuple of names; got {estimators!r}")
        settings = []
        for name in estimators:
            spec = _registry_get(name)
            if spec.optimal_critic is None:
                raise ValueError(f"estimator {name!r} has no known optimal critic")
            opts = [{"alpha": float(a)} for a in alphas] if "alpha" in spec.options else [{}]
            settings += [(spec.name, o) for o in opts]
    check_int(num_batches, "num_batches", minimum=2)
    check_int(dim, "dim")
    for k in batch_sizes:
        check_int(k, "batch_sizes", minimum=2)
    for a in alphas:
        if isinstance(a, bool) or not isinstance(a, Real) or not 0.0 <= a <= 1.0:
            raise ValueError(f"alphas must lie in [0, 1]; got {a!r}")
    if task_family is None:

        def task_family(mi):
            return CorrelatedGaussian.from_mi(mi, dim)

    device = default_device(device)
    rows = []
    for mi in mis:
        task = task_family(float(mi))
        if not isinstance(task, Task):
            raise TypeError(
                f"task_family must return a mi_utils.tasks.Task; got {type(task).__name__}"
            )
        for k in batch_sizes:
            chunk = max(1, min(num_batches, max_batch_elements // (k * k)))
            values = {i: [] for i in range(len(settings))}
            for start in range(0, num_batches, chunk):
                r = min(chunk, num_batches - start)
                x, y = task.sample(k, batch_shape=(r,), generator=generator, device=device,
                                   dtype=dtype)  # fmt: skip
                for i, (name, opts) in enumerate(settings):
                    spec = _registry_get(name)
                    values[i].append(_optimal_value(spec, opts, task, x, y))
            for i, (name, opts) in enumerate(settings):
                v = torch.cat(values[i]).double().cpu()
                mean, var = v.mean().item(), v.var().item()
                rows.append(
                    dict(estimator=name, label=_registry_get(name).display(**opts),
                         alpha=opts.get("alpha", np.nan), true_mi=float(mi),
                         batch_size=k, mean=mean, bias=mean - mi, variance=var,
                         mse=(mean - mi) ** 2 + var, se=math.sqrt(var / len(v)))
                )  # fmt: skip
    return pd.DataFrame(rows)
