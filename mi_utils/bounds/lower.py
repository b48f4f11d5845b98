r"""Variational lower bounds on mutual information as pure functions of a score matrix.

All of them are re-exported by :mod:`mi_utils.bounds`.

Score convention: ``scores[..., i, j] = f(x_j, y_i)``. Rows index
``y`` and columns index ``x``; the diagonal holds the ``K`` joint pairs and the off-diagonal
entries the ``K(K-1)`` pairs from the product of marginals. Leading dimensions ``[...]`` are
independent runs: every bound returns a differentiable tensor of shape ``[...]`` in nats.

Everything is computed with log-sum-exp, works in float32 and float64 on CPU and GPU, and never
synchronises the GPU: validation looks only at shapes, dtypes and Python numbers, except for
the values of a *tensor* ``alpha`` (:func:`~mi_utils.bounds.interpolated_lower_bound`; one
sync on CUDA).

Half precision: every public function computes float16 and bfloat16 inputs in float32 (16-bit
sums of ``K(K-1)`` terms overflow or lose all precision) and returns its result (MINE's state
too) in the input dtype; gradients flow back to the half-precision input.

Infinite scores give the mathematical limit, with tensor ops only. Several ``+inf`` entries of a
row go to infinity together (its softmax splits evenly among them). One infinite entry gives:

==================  ===============================  ==============  ========================
entry               TUBA NWJ DV JS MINE SMILE        InfoNCE         :math:`I_\alpha`, α > 0
==================  ===============================  ==============  ========================
off-diag ``+inf``   -inf (SMILE with clip: finite)   -inf            -inf (finite if K = 2)
off-diag ``-inf``   finite                           finite          finite
diagonal ``+inf``   +inf                             finite: row→0   finite: row→log((K-1)/α)
diagonal ``-inf``   -inf                             -inf            -inf (K = 2, α = 1: 0)
==================  ===============================  ==============  ========================

:math:`I_0` is TUBA; the f-GAN JS objective is -inf for an off-diagonal +inf or a diagonal -inf,
else finite. An off-diagonal +inf makes every partition bound (all but InfoNCE, clipped SMILE
and :math:`I_{\alpha>0}`) -inf whatever the diagonal holds. JS, SMILE and MINE return the value
with a surrogate's gradient, or with zero gradient where the surrogate is not finite; gradients
are finite wherever the value is. NaN scores propagate as NaN, and so do infinities with no common
limit (+inf and -inf both on the diagonal).

Reference: Poole, Ozair, van den Oord, Alemi & Tucker (2019), "On Variational Bounds of Mutual
Information", ICML, Sec. 2 (the bounds) and their reference notebook (the score convention).
"""

from __future__ import annotations

import math

import torch

from ..validation import (
    check_alpha,
    check_float_tensor,
    check_positive,
    check_real_or_tensor,
    check_scores,
    check_shape,
)
from .numerics import (
    all_finite,
    diag,
    half_in_float32,
    lme_nodiag,
    log_mix,
    loo_parts,
    mean_nodiag,
    minus,
    shift,
    softplus,
    value_with_grad_of,
)

__all__ = [
    "ba_lower_bound",
    "dv_lower_bound",
    "infonce_lower_bound",
    "interpolated_lower_bound",
    "js_fgan_objective",
    "js_lower_bound",
    "log_loo_mean_exp",
    "logmeanexp_nodiag",
    "mine_lower_bound",
    "nwj_lower_bound",
    "smile_lower_bound",
    "tuba_lower_bound",
]

_INF = math.inf


# ----------------------------------------------------------------------------- public API
@half_in_float32("scores")
def logmeanexp_nodiag(scores: torch.Tensor) -> torch.Tensor:
    r"""Log-mean-exp over the off-diagonal (product-of-marginals) entries.

    :math:`\log \frac{1}{K(K-1)} \sum_{i \ne j} e^{f(x_j, y_i)}`, the log of the Monte Carlo
    estimate of :math:`\mathbb E_{p(x)p(y)}[e^{f}]` used by the DV, NWJ, TUBA and MINE bounds.

    Args:
        scores: ``[..., K, K]``, ``K >= 2``.

    Returns:
        ``[...]``.

    Reference: Poole et al. (2019), Sec. 2 and their reference notebook.
    """
    return lme_nodiag(scores, check_scores(scores), all_finite(scores))


@half_in_float32("scores")
def log_loo_mean_exp(scores: torch.Tensor) -> torch.Tensor:
    r"""Leave-one-out log-mean-exp of each row: :math:`m_{-j}(y_i)`, shape ``[..., K, K]``.

    .. math::

        m_{-j}(y_i) = \log \frac{1}{K-1} \sum_{k \ne j} e^{f(x_k, y_i)},

    computed stably in :math:`O(K^2)`: no cancelling :math:`\log(S - e^{s})` and no ``K``
    deletions. It is the leave-one-out InfoNCE baseline of the interpolated bound.

    Reference: Poole et al. (2019), Sec. 2 (the baseline of :math:`I_\alpha`).
    """
    k = check_scores(scores)
    pivot, rest = loo_parts(scores, all_finite(scores))
    return pivot + rest - math.log(k - 1)


@half_in_float32("scores", "log_baseline")
def tuba_lower_bound(
    scores: torch.Tensor, log_baseline: torch.Tensor | None = None
) -> torch.Tensor:
    r"""Tractable unnormalised Barber–Agakov bound :math:`I_{\rm TUBA}`.

    .. math::

        I_{\rm TUBA} = 1 + \frac1K\sum_i \big[f(x_i, y_i) - \log a(y_i)\big]
        - \frac{1}{K(K-1)} \sum_{i \ne j} e^{f(x_j, y_i) - \log a(y_i)} .

    Valid for any critic :math:`f` and baseline :math:`a(y) > 0`; tight at
    :math:`f(x, y) = \log a(y) + \log p(y\mid x)/p(y)`. The marginal term is a mean of exps
    (not a log-mean-exp) over the off-diagonal entries, computed as the exp of their
    log-mean-exp.

    Args:
        scores: ``[..., K, K]``.
        log_baseline: ``[..., K]`` holding :math:`\log a(y_i)`; ``None`` means :math:`a = 1`.

    Returns:
        ``[...]`` nats.

    Reference: Poole et al. (2019), Sec. 2 (:math:`I_{\rm TUBA}`).
    """
    k = check_scores(scores)
    if log_baseline is not None:
        lb = check_shape(log_baseline, "log_baseline", scores.shape[:-1], "scores.shape[:-1]")
        scores = scores - lb[..., :, None]
    partition = torch.exp(lme_nodiag(scores, k, all_finite(scores)))
    return minus(1.0 + diag(scores).mean(-1), partition)


@half_in_float32("scores")
def nwj_lower_bound(scores: torch.Tensor) -> torch.Tensor:
    r"""The NWJ bound (f-GAN KL, MINE-f): :math:`I_{\rm TUBA}` with constant baseline :math:`a = e`.

    .. math::

        I_{\rm NWJ} = \frac1K\sum_i f(x_i, y_i) - \frac{1}{e\,K(K-1)}\sum_{i\ne j} e^{f(x_j,y_i)},

    tight at :math:`f^* = 1 + \log p(y\mid x)/p(y)`.

    Reference: Nguyen, Wainwright & Jordan (2010); Poole et al. (2019), Sec. 2
    (:math:`I_{\rm NWJ}`).
    """
    check_scores(scores)
    return tuba_lower_bound(scores - 1.0)


@half_in_float32("scores")
def dv_lower_bound(scores: torch.Tensor) -> torch.Tensor:
    r"""The Donsker–Varadhan bound.

    .. math::

        I_{\rm DV} = \frac1K\sum_i f(x_i, y_i) - \log \frac{1}{K(K-1)}\sum_{i\ne j} e^{f(x_j,y_i)}.

    Its Monte Carlo estimate is biased (log of a mean); tight at :math:`f^* = \log p(y|x)/p(y)`
    up to a constant.

    Reference: Donsker & Varadhan (1983); Poole et al. (2019), Sec. 2 (:math:`I_{\rm DV}`).
    """
    k = check_scores(scores)
    return minus(diag(scores).mean(-1), lme_nodiag(scores, k, all_finite(scores)))


@half_in_float32("scores")
def infonce_lower_bound(scores: torch.Tensor) -> torch.Tensor:
    r"""The InfoNCE (contrastive predictive coding) bound.

    .. math::

        I_{\rm NCE} = \log K + \frac1K \sum_i \Big[f(x_i, y_i)
        - \log \sum_{j} e^{f(x_j, y_i)}\Big] \le \log K,

    a softmax over the ``x``'s of each row. Every batch's value is at most :math:`\log K`.
    A row with ``n`` entries at ``+inf`` splits its softmax evenly among them.

    Reference: van den Oord et al. (2018); Poole et al. (2019), Sec. 2 (:math:`I_{\rm NCE}`).
    """
    k = check_scores(scores)
    limit = scores
    if not all_finite(scores):
        limit = shift(scores, scores.detach().amax(dim=-1, keepdim=True), subtract=False)
    return math.log(k) + diag(torch.log_softmax(limit, dim=-1)).mean(-1)


@half_in_float32("scores")
def js_fgan_objective(scores: torch.Tensor) -> torch.Tensor:
    r"""The f-GAN Jensen–Shannon objective (not itself a bound on MI).

    .. math::

        \frac1K\sum_i -\operatorname{softplus}(-f(x_i,y_i))
        - \frac{1}{K(K-1)}\sum_{i\ne j}\operatorname{softplus}(f(x_j,y_i)),

    maximised at :math:`f^* = \log p(x,y)/(p(x)p(y))`.

    Reference: Nowozin, Cseke & Tomioka (2016); Hjelm et al. (2019); Poole et al. (2019)
    (:math:`I_{\rm JS}`).
    """
    k = check_scores(scores)
    return -softplus(-diag(scores)).mean(-1) - mean_nodiag(softplus(scores), k)


@half_in_float32("scores")
def js_lower_bound(scores: torch.Tensor) -> torch.Tensor:
    r"""MI bound of a critic trained with the Jensen–Shannon f-GAN objective.

    Value: :math:`I_{\rm NWJ}(f + 1) = I_{\rm TUBA}(f; a = 1)`
    :math:`= 1 + \frac1K\sum_i f_{ii} - \frac{1}{K(K-1)}\sum_{i\ne j} e^{f_{ij}}`.
    Gradient: that of :func:`js_fgan_objective` (zero where that objective is infinite).

    Why the :math:`+1`: the JS objective's optimum is the log density ratio
    :math:`f^* = \log p(x,y)/(p(x)p(y))`, while NWJ is tight at :math:`1 + f^*`. Evaluating
    :math:`I_{\rm NWJ}(f^*)` instead gives :math:`1 + \mathbb E_p[f^* - 1] - \mathbb E_q[e^{f^*-1}]
    = I - 1/e`; :math:`I_{\rm NWJ}(f^* + 1) = I` exactly.

    Returns:
        ``[...]`` nats: the value carrying the f-GAN objective's gradient.

    Reference: Poole et al. (2019) (:math:`I_{\rm JS}`); Nowozin et al. (2016); Hjelm et al. (2019).
    """
    return value_with_grad_of(tuba_lower_bound(scores), js_fgan_objective(scores))


@half_in_float32("scores", "log_baseline")
def interpolated_lower_bound(
    scores: torch.Tensor,
    log_baseline: torch.Tensor | None,
    alpha: float | torch.Tensor,
) -> torch.Tensor:
    r"""The interpolated bound :math:`I_\alpha` between TUBA (:math:`\alpha=0`) and InfoNCE.

    With the leave-one-out InfoNCE baseline :math:`m_{-j}(y_i)` (:func:`log_loo_mean_exp`)
    and :math:`a(y_i)`, the log baseline is
    :math:`b_{ij} = \log\big(\alpha\, e^{m_{-j}(y_i)} + (1-\alpha)\, a(y_i)\big)` and

    .. math::

        I_\alpha = 1 + \frac{1}{K(K-1)}\sum_{i\ne j}\big[f(x_i, y_i) - b_{ij}\big]
        - \frac{1}{K(K-1)}\sum_{i \ne j} e^{f(x_j, y_i) - b_{ii}} .

    The joint term leaves out some other column ``j`` (so :math:`x_i` stays in the baseline);
    the marginal term leaves out :math:`x_i`, the sample paired with :math:`y_i`. At
    :math:`\alpha = 0` this is :func:`tuba_lower_bound`; at :math:`\alpha = 1` the marginal term
    is exactly 1 and :math:`I_1` is InfoNCE with ``K - 1`` leave-one-out negatives.

    Large scores do not cancel: row ``i`` of the joint term is computed relative to
    :math:`f_{ii}` (from :math:`m_{-j}(y_i) - f_{ii}` and :math:`\log a(y_i) - f_{ii}`), the
    marginal term as :math:`\frac1K\sum_i e^{m_{-i}(y_i) - b_{ii}}`.

    Ceiling: :math:`m_{-j}(y_i) \ge f(x_i, y_i) - \log(K-1)` for :math:`j \ne i`, so the
    joint term is at most :math:`\log((K-1)/\alpha)` and every batch's value is at most
    :math:`1 + \log((K-1)/\alpha)`, not :math:`\log(K/\alpha)`: a peaked critic reaches it when
    :math:`(1-\alpha)a(y_i)` lies far above the product-of-marginals terms
    :math:`\alpha e^{m_{-i}(y_i)}` but far below :math:`\alpha e^{f(x_i,y_i)}/(K-1)` (the marginal
    term vanishes). With a negligible :math:`a` the marginal term tends to :math:`1/\alpha` and
    the value to :math:`\log((K-1)/\alpha) + 1 - 1/\alpha \le \log(K/\alpha)`.

    Args:
        scores: ``[..., K, K]``.
        log_baseline: ``[..., K]`` of :math:`\log a(y_i)`; required: pass ``None`` for
            :math:`a \equiv 1`.
        alpha: weight of the InfoNCE baseline in [0, 1]: a real number (NumPy scalars and
            0-d arrays too), or a NumPy array or floating tensor broadcastable to
            ``scores.shape[:-2]`` (per-run :math:`\alpha`) whose values are checked too (a GPU
            tensor once per tensor and version: one host sync the first time it is seen).

    Returns:
        ``[...]`` nats. No NaN values or gradients at :math:`\alpha \in \{0, 1\}`.

    Reference: Poole et al. (2019), Sec. 2 (:math:`I_\alpha`) and their reference notebook.
    """
    k = check_scores(scores)
    log_a = torch.zeros_like(scores[..., :, :1])  # [..., K, 1]
    if log_baseline is not None:
        lb = check_shape(log_baseline, "log_baseline", scores.shape[:-1], "scores.shape[:-1]")
        log_a = lb[..., :, None]
    alpha = check_alpha(alpha, scores.shape[:-2])
    if isinstance(alpha, float):
        log_w = math.log(alpha) if alpha > 0.0 else -_INF
        log_1mw = math.log1p(-alpha) if alpha < 1.0 else -_INF
    else:
        a = alpha.to(device=scores.device, dtype=scores.dtype)[..., None, None]
        pos, below_one = a > 0, a < 1
        log_w = torch.where(pos, torch.log(torch.where(pos, a, 1.0)), -_INF)
        log_1mw = torch.where(below_one, torch.log1p(-torch.where(below_one, a, 0.0)), -_INF)
    # m_{-j}(y_i) = pivot + rest - log(K - 1); row i relative to its joint score f_ii = d_i.
    fin = all_finite(scores, log_a)
    pivot, rest = loo_parts(scores, fin)
    d = diag(scores)[..., :, None]
    m_minus_d = shift(pivot, d, finite=fin) + rest - math.log(k - 1)
    b_minus_d = log_mix(m_minus_d, log_w, shift(log_a, d, finite=fin), log_1mw, fin)  # b_ij - f_ii
    joint = mean_nodiag((shift(d, d, finite=fin) - b_minus_d).expand(scores.shape), k)
    # Marginal term (1/K) sum_i exp(m_{-i}(y_i) - b_ii), from log a(y_i) - m_{-i}(y_i).
    pivot_ii, rest_ii = diag(pivot)[..., :, None], diag(rest)[..., :, None]
    a_minus_m = shift(log_a, pivot_ii, finite=fin) - rest_ii + math.log(k - 1)
    zero = torch.zeros_like(a_minus_m)
    marginal = torch.exp(-log_mix(zero, log_w, a_minus_m, log_1mw, fin))
    return minus(1.0 + joint, marginal.mean(dim=(-2, -1)))


@half_in_float32("scores")
def smile_lower_bound(scores: torch.Tensor, clip: float | None) -> torch.Tensor:
    r"""SMILE: the DV value with a clipped partition term, trained with the JS gradient.

    .. math::

        I_{\rm SMILE} = \frac1K\sum_i f(x_i, y_i)
        - \log\frac{1}{K(K-1)}\sum_{i\ne j} e^{\operatorname{clip}(f(x_j, y_i), -\tau, \tau)},

    with the gradient of :func:`js_fgan_objective` (zero where that objective is infinite).
    Clipping bounds the variance of the partition estimate at the price of bias.

    Args:
        scores: ``[..., K, K]``.
        clip: :math:`\tau > 0`, or ``None`` for no clipping (then the value is
            :func:`dv_lower_bound`).

    Reference: Song & Ermon (2020), "Understanding the limitations of variational mutual
    information estimators", ICLR.
    """
    k = check_scores(scores)
    clipped = scores
    if clip is not None:
        tau = check_positive(clip, "clip")
        clipped = scores.clamp(-tau, tau)
    value = minus(diag(scores).mean(-1), lme_nodiag(clipped, k, all_finite(clipped)))
    return value_with_grad_of(value, js_fgan_objective(scores))


@half_in_float32("scores")
def mine_lower_bound(
    scores: torch.Tensor, log_ema: torch.Tensor | None = None, ema_rate: float = 0.01
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""MINE: the DV value with the moving-average–debiased gradient.

    State: :math:`\log \bar Z`, the log of an exponential moving average of the partition
    estimate :math:`Z = \frac{1}{K(K-1)}\sum_{i\ne j} e^{f(x_j, y_i)}`, updated as
    :math:`\bar Z' = (1 - r)\bar Z + r Z` in log space (:math:`\bar Z' = Z` on the first call).

    Value: :func:`dv_lower_bound`. Gradient:
    :math:`\nabla \frac1K\sum_i f(x_i,y_i) - \nabla Z / \bar Z'`, which is the gradient of
    :func:`tuba_lower_bound` with the adaptive baseline :math:`a = \bar Z'` held fixed: the
    moving average reduces the bias of the plain DV gradient :math:`\nabla Z / Z` (zero where
    that surrogate is not finite).

    Args:
        scores: ``[..., K, K]``.
        log_ema: ``[...]`` previous :math:`\log\bar Z`, or ``None`` to start from this batch.
        ema_rate: :math:`r \in (0, 1]`.

    Returns:
        ``(value, new_log_ema)``, both ``[...]`` in the dtype of ``scores``; ``new_log_ema``
        is detached (``+inf`` after a batch with an off-diagonal ``+inf``, and it stays so).

    Reference: Belghazi et al. (2018), "Mutual Information Neural Estimation", ICML (the
    bias-corrected gradient); Poole et al. (2019), Sec. 2 (:math:`I_{\rm MINE}`).
    """
    k = check_scores(scores)
    rate = check_positive(ema_rate, "ema_rate", upper=1.0)
    if log_ema is not None:
        log_ema = check_shape(log_ema, "log_ema", scores.shape[:-2], "scores.shape[:-2]")
    log_z = lme_nodiag(scores, k, all_finite(scores))
    if log_ema is None or rate == 1.0:
        new_log_ema = log_z.detach()
    else:
        prev = log_ema.detach().to(dtype=scores.dtype)
        new_log_ema = torch.logaddexp(prev + math.log1p(-rate), log_z.detach() + math.log(rate))
    joint = diag(scores).mean(-1)
    surrogate = joint - torch.exp(log_z - new_log_ema)
    return value_with_grad_of(minus(joint, log_z), surrogate), new_log_ema


@half_in_float32("log_q_x_given_y", "entropy_x")
def ba_lower_bound(log_q_x_given_y: torch.Tensor, entropy_x: float | torch.Tensor) -> torch.Tensor:
    r"""The Barber–Agakov bound with a normalised variational posterior :math:`q(x\mid y)`.

    .. math::

        I_{\rm BA} = h(X) + \frac1K \sum_i \log q(x_i \mid y_i) \le I(X; Y).

    Args:
        log_q_x_given_y: ``[..., K]`` of :math:`\log q(x_i\mid y_i)` on the joint pairs.
        entropy_x: :math:`h(X)` in nats, a float or a tensor broadcastable to ``[...]``.

    Returns:
        ``[...]`` nats.

    Reference: Barber & Agakov (2003); Poole et al. (2019), Sec. 2 (:math:`I_{\rm BA}`).
    """
    log_q = check_float_tensor(log_q_x_given_y, "log_q_x_given_y", "[..., K]")
    if log_q.dim() < 1 or log_q.shape[-1] < 1:
        raise ValueError(
            f"log_q_x_given_y must have shape [..., K] with K >= 1; got shape {tuple(log_q.shape)}"
        )
    check_real_or_tensor(entropy_x, "entropy_x", log_q.shape[:-1])
    return entropy_x + log_q.mean(-1)
