r""":func:`~mi_utils.estimate.estimate_mi`: the mutual information of paired samples, with an
honest error bar."""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from .. import estimators
from ..device import default_device
from ..nn import CRITIC_KINDS
from ..validation import check_choice, check_data, check_int, check_real
from .evaluation import student_t_quantile
from .gaussian import gaussian_mi
from .neural import split_sizes, train_runs
from .preprocess import PREPROCESSORS
from .result import Diagnostic, MIEstimate

__all__ = ["CLOSED_FORM", "KSG_MAX_DIM", "estimate_mi", "neural_estimators"]

#: ``ksg=None`` computes the KSG baseline only up to this total dimension ``d_x + d_y``: beyond
#: it, KSG's downward bias makes disagreement uninformative.
KSG_MAX_DIM = 20
#: The KSG baseline reads at most this many samples (a random subset beyond).
KSG_MAX_SAMPLES = 10_000
UNITS = {"nats": 1.0, "bits": 1.0 / math.log(2.0)}
#: Estimators computed directly from the data, without a critic.
CLOSED_FORM = ("ksg", "gaussian")


def neural_estimators() -> tuple[str, ...]:
    """The registry's estimators that :func:`~mi_utils.estimate.estimate_mi` can train (they read a
    score matrix)."""
    return estimators.names(trainable=True)


def estimate_mi(
    x,
    y,
    *,
    estimator: str = "infonce",
    critic: str = "separable",
    hidden_dim: int = 128,
    num_layers: int = 2,
    embed_dim: int = 32,
    batch_size: int = 256,
    lr: float = 5e-4,
    max_steps: int = 3000,
    eval_every: int = 50,
    patience: int = 5,
    split: tuple[float, float, float] = (0.6, 0.2, 0.2),
    num_runs: int = 5,
    preprocess: str | None = "gaussianize",
    eval_block: int | None = None,
    ksg: bool | None = None,
    ci_level: float = 0.95,
    units: str = "nats",
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: bool | None = None,
    **options,
) -> MIEstimate:
    r"""Estimate :math:`I(X; Y)` from paired samples, evaluated on data the critic never saw.

    Each of ``num_runs`` independent runs draws its own random split of the ``N`` pairs into
    training, validation and test sets, fits the preprocessing on its training set, trains a
    critic on minibatches of it with ``estimator``'s bound (all runs as one vectorized model),
    evaluates the bound on a training subset and on the validation set every ``eval_every``
    steps, keeps the weights of its best validation step and stops when no run has improved
    for ``patience`` evaluations. Each run's value is its bound on its own test set; the
    estimate is their mean.

    **Interval.** The runs differ in their split, their initialisation and their minibatches,
    so their spread measures how much the estimate moves with the data and the training.
    Random splits overlap, which makes the runs' values positively correlated; the interval
    therefore uses the corrected resampled-t variance of Nadeau & Bengio (2003),
    :math:`\big(\tfrac1R + \tfrac{n_{\rm test}}{n_{\rm train}}\big) s^2` for ``R`` runs with
    sample variance :math:`s^2`, and Student's t with ``R - 1`` degrees of freedom. It covers
    the variability of the procedure, not the bias of a lower bound: a critic that has not
    learned the density ratio gives an interval below the truth.

    Args:
        x, y: paired samples, ``[N, d_x]`` and ``[N, d_y]`` (a 1-d array is one feature):
            NumPy arrays, torch tensors (any device) or pandas objects, any real dtype.
        estimator: a trainable registry estimator (:func:`~mi_utils.estimate.neural_estimators`:
            ``"infonce"``, ``"nwj"``, ``"smile"``, ``"interpolated"``, ...), ``"ksg"``
            (:func:`mi_utils.ksg.ksg_mi`) or ``"gaussian"``
            (:func:`~mi_utils.estimate.gaussian_mi`): these two need no training; their
            interval comes from ``num_runs`` disjoint subsets, their variance scaled by
            ``1/num_runs``. Default ``"infonce"``: the lowest variance of the bounds, and
            evaluated on a whole test block its ceiling :math:`\log B` is far above most MIs of
            real data (a diagnostic says when not). The NWJ family (``"nwj"``, ``"tuba"``,
            ``"js"``, ...) averages exponentials of the critic over every held-out pair, which
            out of sample can fall far below the truth: the JS-trained critic read out through
            NWJ gave -4 ± 7 nats on :math:`y = x^3 + \epsilon` (10,000 samples) where InfoNCE
            gave 1.23.
        critic: ``"separable"`` :math:`h(y)^\top g(x)` (default: ``2B`` network evaluations per
            block of ``B``, so blocks of thousands are cheap) or ``"concat"``
            (:math:`B^2` evaluations; slower, more flexible).
        hidden_dim, num_layers, embed_dim: the critic's MLPs (and the baseline's). On
            10,000 samples of the Beyond Normal tasks 128 units gave the same or better
            held-out values than 256 (a fixed training set is overfitted sooner by a larger
            critic) in half the time.
        batch_size: training minibatch ``K`` (capped at the training set's size).
        lr: Adam's learning rate (5e-4, the paper's).
        max_steps: the most training steps.
        eval_every: steps between evaluations (a training subset of the validation set's size,
            and the validation set): about two epochs of 6,000 training pairs at the default
            batch, fine enough to catch the best step before the critic overfits.
        patience: evaluations without a validation improvement before stopping.
        split: fractions ``(train, validation, test)`` of the ``N`` pairs, each > 0, summing to
            at most 1; each set needs at least 2 pairs.
        num_runs: independent runs (>= 2 for an interval; 5 by default).
        preprocess: ``"gaussianize"`` (default; rank-based normal scores per coordinate,
            :class:`~mi_utils.estimate.Gaussianize`), ``"standardize"`` or ``"none"`` /
            ``None``; fitted on each run's training split only. MI is invariant to both maps.
            Measured on 10,000 samples of a bivariate Student-t with one degree of freedom
            (``student-identity-2-2-1``, 0.43 nats): InfoNCE 0.39 with normal scores against
            0.00 standardised and -26 raw, NWJ 0.36 against -inf standardised (test points far
            outside the training range overflow its exponential). Its cost: a sort per
            coordinate, and fresh points beyond the training range share the extreme level.
        eval_block: samples per held-out score matrix (default: 2048 for separable critics,
            ``batch_size`` for concat ones, whose cost grows as :math:`B^2`).
        ksg: compute the KSG baseline for the diagnostics (default: when
            :math:`d_x + d_y \le` :data:`~mi_utils.estimate.KSG_MAX_DIM`).
        ci_level: the interval's coverage, in [0.5, 0.999].
        units: ``"nats"`` or ``"bits"``.
        device: default :func:`mi_utils.device.default_device` (CUDA when available).
        seed: the seed of the splits, initialisations and minibatches.
        progress: a progress bar (``None`` reads ``MI_UTILS_PROGRESS``).
        **options: the estimator's options (e.g. ``alpha=0.5`` for ``"interpolated"``).

    Returns:
        An :class:`~mi_utils.estimate.MIEstimate`.

    Reference: Nadeau & Bengio (2003), "Inference for the generalization error", Machine
    Learning 52 (the corrected variance); Poole et al. (2019) (the bounds).
    """
    start = time.perf_counter()
    xs, ys = check_data(x, "x"), check_data(y, "y")
    n = xs.shape[0]
    if ys.shape[0] != n:
        raise ValueError(
            f"x and y must hold the same number of samples N; got x {tuple(xs.shape)} "
            f"and y {tuple(ys.shape)}"
        )
    accepted = (*neural_estimators(), *CLOSED_FORM)
    if not isinstance(estimator, str) or estimator.strip().lower() not in accepted:
        raise ValueError(f"estimator must be one of {accepted}; got {estimator!r}")
    estimator = estimator.strip().lower()
    settings = dict(
        estimator=estimator,
        critic=check_choice(critic, "critic", CRITIC_KINDS),
        hidden_dim=check_int(hidden_dim, "hidden_dim"),
        num_layers=check_int(num_layers, "num_layers"),
        embed_dim=check_int(embed_dim, "embed_dim"),
        batch_size=check_int(batch_size, "batch_size", 2),
        lr=check_real(lr, "lr", 0.0, 10.0, open_low=True),
        max_steps=check_int(max_steps, "max_steps"),
        eval_every=check_int(eval_every, "eval_every"),
        patience=check_int(patience, "patience"),
        split=_check_split(split, n),
        num_runs=check_int(num_runs, "num_runs"),
        preprocess="none" if preprocess is None else preprocess,
        ci_level=check_real(ci_level, "ci_level", 0.5, 0.999),
        units=check_choice(units, "units", UNITS),
        seed=check_int(seed, "seed", 0),
        ksg=ksg,
    )
    check_choice(settings["preprocess"], "preprocess", PREPROCESSORS)
    if eval_block is not None:
        check_int(eval_block, "eval_block", 2)
    if ksg is not None and not isinstance(ksg, bool):
        raise TypeError(f"ksg must be True, False or None; got {type(ksg).__name__}")
    dev = default_device(device)
    scale = UNITS[units]
    if estimator in CLOSED_FORM:
        if options:
            raise ValueError(f"estimator {estimator!r} takes no options; got {sorted(options)}")
        return _direct_estimate(xs, ys, settings, scale, start)
    spec = estimators.get(estimator)
    options = spec.resolve(options)
    settings.update(options=dict(options), device=str(dev))
    return _neural_estimate(
        xs, ys, spec, options, settings, eval_block, dev, scale, progress, start
    )


def _check_split(split, n: int) -> tuple[float, float, float]:
    if not isinstance(split, (tuple, list)) or len(split) != 3:
        raise TypeError(
            f"split must be a tuple (train, validation, test) of 3 fractions; got {split!r}"
        )
    parts = tuple(check_real(p, "split", 0.0, 1.0, open_low=True) for p in split)
    if sum(parts) > 1.0 + 1e-9:
        raise ValueError(f"split must sum to at most 1; got {parts} (sum {sum(parts):.4g})")
    sizes = split_sizes(parts, n)
    if min(sizes) < 2:
        raise ValueError(
            f"N = {n} samples are too few for split={parts}: sizes {sizes}, each needs >= 2"
        )
    return parts


def _interval(values: np.ndarray, correction: float, level: float):
    r = len(values)
    if r < 2 or not np.isfinite(values).all():
        return None, math.nan
    se = math.sqrt(correction * float(np.var(values, ddof=1)))
    half = student_t_quantile(0.5 + level / 2.0, r - 1) * se
    mean = float(values.mean())
    return (mean - half, mean + half), se


def _direct(name: str, xs, ys, seed: int) -> float:
    if name == "ksg":
        from ..ksg import ksg_mi

        return ksg_mi(xs, ys, seed=seed)
    return gaussian_mi(xs, ys)


def _direct_estimate(xs, ys, settings, scale, start) -> MIEstimate:
    name, r, n = settings["estimator"], settings["num_runs"], xs.shape[0]
    value = _direct(name, xs, ys, settings["seed"]) * scale
    runs = np.array([])
    if r >= 2 and n // r > xs.shape[1] + ys.shape[1] + 4:
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(settings["seed"]))
        parts = perm[: (n // r) * r].reshape(r, -1)
        runs = np.array([_direct(name, xs[p], ys[p], settings["seed"]) * scale for p in parts])
    # An estimate on N/R samples varies about R times as much as on N: scale the variance.
    ci, se = _interval(runs, 1.0 / r, settings["ci_level"]) if len(runs) else (None, math.nan)
    if ci is not None:
        ci = (value - (ci[1] - ci[0]) / 2, value + (ci[1] - ci[0]) / 2)
    diags = ()
    if ci is None:
        diags = (Diagnostic("no_interval", "too few runs or samples for an interval"),)
    return MIEstimate(
        estimate=value, ci=ci, ci_level=settings["ci_level"], std_error=se, runs=runs,
        units=settings["units"], estimator=name, curves=_empty_curves(),
        ksg=value if name == "ksg" else None,
        diagnostics=diags, settings=settings, seconds=time.perf_counter() - start,
    )  # fmt: skip


def _empty_curves():
    import pandas as pd

    return pd.DataFrame({"run": [], "step": [], "split": [], "value": []})


def _neural_estimate(xs, ys, spec, options, settings, eval_block, dev, scale, progress, start):
    import pandas as pd

    out = train_runs(xs, ys, spec, options, settings, eval_block, dev, progress)
    runs = out["test"] * scale
    correction = 1.0 / len(runs) + out["n_test"] / out["n_train"]
    ci, se = _interval(runs, correction, settings["ci_level"])
    estimate = float(runs.mean())
    curves = pd.DataFrame(
        [
            {"run": i, "step": step, "split": split, "value": float(v) * scale}
            for step, split, values in out["rows"]
            for i, v in enumerate(values)
        ]
    )
    ksg_value = None
    want_ksg = settings["ksg"]
    if want_ksg or (want_ksg is None and xs.shape[1] + ys.shape[1] <= KSG_MAX_DIM):
        g = torch.Generator().manual_seed(settings["seed"])
        keep = torch.randperm(xs.shape[0], generator=g)[:KSG_MAX_SAMPLES]
        ksg_value = _direct("ksg", xs[keep], ys[keep], settings["seed"]) * scale
    settings = dict(settings, eval_block=out["block"])
    diags = _diagnostics(estimate, ci, se, out, ksg_value, settings, scale)
    return MIEstimate(
        estimate=estimate, ci=ci, ci_level=settings["ci_level"], std_error=se, runs=runs,
        units=settings["units"], estimator=spec.name, curves=curves,
        best_steps=tuple(int(s) for s in out["steps"]), critics=out["critics"],
        baselines=out["baselines"], preprocessors=out["preprocessors"], splits=out["splits"],
        ksg=ksg_value,
        diagnostics=diags, settings=settings, seconds=time.perf_counter() - start,
    )  # fmt: skip


def _diagnostics(estimate, ci, se, out, ksg_value, settings, scale) -> tuple[Diagnostic, ...]:
    diags, units = [], settings["units"]
    steps = out["steps"]
    if not out["stopped_early"] and (steps == out["last_step"]).mean() >= 0.5:
        diags.append(Diagnostic(
            "still_increasing",
            f"the validation value of most runs was still rising at the last step "
            f"(max_steps={settings['max_steps']}); raise max_steps or lr.",
        ))  # fmt: skip
    ceiling = out["eval_ceiling"]
    if ceiling is not None and estimate > (ceiling - 1.0) * scale:
        diags.append(Diagnostic(
            "near_ceiling",
            f"{settings['estimator']} cannot exceed {ceiling * scale:.3f} {units} on held-out "
            f"blocks of {out['block']} samples and the estimate is within 1 nat of it, so it is "
            "biased down: use more held-out samples per block (eval_block, more data) or an "
            "estimator without a ceiling ('smile', 'nwj').",
        ))  # fmt: skip
    with np.errstate(invalid="ignore"):  # inf - inf: a non-finite run, diagnosed below
        gap = float((out["at_best"]["train"] - out["at_best"]["validation"]).mean()) * scale
    threshold = max(0.05 * scale, 2.0 * (se if not math.isnan(se) else 0.0))
    if gap > threshold:
        diags.append(Diagnostic(
            "overfitting",
            f"at the chosen steps the critics score their training data {gap:.3f} {units} "
            "higher than validation data: they memorise the training set; use more data, a "
            "smaller critic (hidden_dim) or a larger batch.",
        ))  # fmt: skip
    if ksg_value is not None and ci is not None and not ci[0] <= ksg_value <= ci[1]:
        side = "above" if ksg_value > ci[1] else "below"
        diags.append(Diagnostic(
            "disagrees_with_ksg",
            f"the KSG estimate {ksg_value:.3f} {units} lies {side} the interval. KSG is "
            "biased down at high MI and in high dimension; a lower bound is biased down when "
            "its critic underfits: check both before trusting either.",
        ))  # fmt: skip
    if estimate < 0:
        diags.append(Diagnostic(
            "negative",
            "the estimate is below zero: the critics did worse than a constant on held-out "
            "data. The variables may be independent, or training failed (try "
            "preprocess='gaussianize', a lower lr or estimator='infonce').",
        ))  # fmt: skip
    bad = [i for i, v in enumerate(out["test"]) if not math.isfinite(v)]
    if bad:
        diags.append(Diagnostic(
            "non_finite",
            f"run(s) {bad} give a test value of {out['test'][bad[0]]}: their critics' scores "
            "overflow the exponential of the bound on held-out points unlike any training point "
            "(heavy tails), or training diverged. Use preprocess='gaussianize', or an estimator "
            "whose value stays finite ('infonce', 'smile').",
        ))  # fmt: skip
    if ci is None:
        why = "the runs' values are not all finite" if bad else "set num_runs >= 2"
        diags.append(Diagnostic("no_interval", f"no interval: {why}."))
    return tuple(diags)
