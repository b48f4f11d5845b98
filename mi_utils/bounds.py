r"""Variational lower bounds on mutual information as pure functions of a score matrix.

Score convention (``../shared/GUIDE.md``): ``scores[..., i, j] = f(x_j, y_i)``. Rows index
``y`` and columns index ``x``; the diagonal holds the ``K`` joint pairs and the off-diagonal
entries the ``K(K-1)`` pairs from the product of marginals. Leading dimensions ``[...]`` are
independent runs: every bound returns a differentiable tensor of shape ``[...]`` in nats.

Everything is computed with log-sum-exp, works in float32 and float64 on CPU and GPU, and never
synchronises the GPU: validation looks only at shapes, dtypes and Python numbers.

Reference: Poole, Ozair, van den Oord, Alemi & Tucker (2019), "On Variational Bounds of Mutual
Information", ICML, Sec. 2 (the bounds) and their reference notebook (the score convention).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .validation import (
    check_alpha,
    check_float_tensor,
    check_positive,
    check_real_or_tensor,
    check_scores,
    check_shape,
)

__all__ = [
    "BOUND_NAMES",
    "ba_lower_bound",
    "dv_lower_bound",
    "get_bound",
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


# ----------------------------------------------------------------------------- helpers
def _diag(scores: torch.Tensor) -> torch.Tensor:
    return scores.diagonal(dim1=-2, dim2=-1)


def _eye(k: int, like: torch.Tensor) -> torch.Tensor:
    return torch.eye(k, dtype=torch.bool, device=like.device)


def _lme_nodiag(scores: torch.Tensor, k: int) -> torch.Tensor:
    masked = scores.masked_fill(_eye(k, scores), float("-inf"))
    return torch.logsumexp(masked, dim=(-2, -1)) - math.log(k * (k - 1))


def _mean_nodiag(values: torch.Tensor, k: int) -> torch.Tensor:
    return values.masked_fill(_eye(k, values), 0.0).sum(dim=(-2, -1)) / (k * (k - 1))


def _softplus(x: torch.Tensor) -> torch.Tensor:
    # log(1 + e^x) to full precision (F.softplus returns x itself above x = 20).
    return torch.logaddexp(x, torch.zeros_like(x))


def _log_loo_mean_exp(scores: torch.Tensor, k: int) -> torch.Tensor:
    # Per row i: loo[i, j] = log sum_{k != j} exp s[i, k]. Shift by the row max m1 (detached;
    # the result does not depend on the shift). For j not the argmax the max term stays in the
    # sum, so S - e_j >= 1 and the subtraction loses at most a couple of ulps. The argmax
    # column gets one masked logsumexp per row.
    m1 = scores.detach().amax(dim=-1, keepdim=True)
    e = torch.exp(scores - m1)
    rest = e.sum(dim=-1, keepdim=True) - e
    is_arg = torch.zeros_like(scores, dtype=torch.bool)
    is_arg.scatter_(-1, scores.detach().argmax(dim=-1, keepdim=True), True)
    # Placeholder 1 in the argmax column keeps log (and its gradient) away from 0.
    loo_other = m1 + torch.log(torch.where(is_arg, torch.ones_like(rest), rest))
    loo_arg = torch.logsumexp(scores.masked_fill(is_arg, float("-inf")), dim=-1, keepdim=True)
    return torch.where(is_arg, loo_arg, loo_other) - math.log(k - 1)


# ----------------------------------------------------------------------------- public API
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
    return _lme_nodiag(scores, check_scores(scores))


def log_loo_mean_exp(scores: torch.Tensor) -> torch.Tensor:
    r"""Leave-one-out log-mean-exp of each row: :math:`m_{-j}(y_i)`, shape ``[..., K, K]``.

    .. math::

        m_{-j}(y_i) = \log \frac{1}{K-1} \sum_{k \ne j} e^{f(x_k, y_i)},

    computed stably in :math:`O(K^2)`: no cancelling :math:`\log(S - e^{s})` and no ``K``
    deletions. It is the leave-one-out InfoNCE baseline of the interpolated bound.

    Reference: Poole et al. (2019), Sec. 2 (the baseline of :math:`I_\alpha`).
    """
    return _log_loo_mean_exp(scores, check_scores(scores))


def tuba_lower_bound(
    scores: torch.Tensor, log_baseline: torch.Tensor | None = None
) -> torch.Tensor:
    r"""Tractable unnormalised Barber–Agakov bound :math:`I_{\rm TUBA}`.

    .. math::

        I_{\rm TUBA} = 1 + \frac1K\sum_i \big[f(x_i, y_i) - \log a(y_i)\big]
        - \frac{1}{K(K-1)} \sum_{i \ne j} e^{f(x_j, y_i) - \log a(y_i)} .

    Valid for any critic :math:`f` and baseline :math:`a(y) > 0`; tight at
    :math:`f(x, y) = \log a(y) + \log p(y\mid x)/p(y)`. The marginal term is a log-mean-exp
    over the off-diagonal entries.

    Args:
        scores: ``[..., K, K]``.
        log_baseline: ``[..., K]`` holding :math:`\log a(y_i)`; ``None`` means :math:`a = 1`.

    Returns:
        ``[...]`` nats.

    Reference: Poole et al. (2019), Sec. 2 (:math:`I_{\rm TUBA}`).
    """
    k = check_scores(scores)
    if log_baseline is not None:
        scores = (
            scores
            - check_shape(log_baseline, "log_baseline", scores.shape[:-1], "scores.shape[:-1]")[
                ..., :, None
            ]
        )
    return 1.0 + _diag(scores).mean(-1) - torch.exp(_lme_nodiag(scores, k))


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


def dv_lower_bound(scores: torch.Tensor) -> torch.Tensor:
    r"""The Donsker–Varadhan bound.

    .. math::

        I_{\rm DV} = \frac1K\sum_i f(x_i, y_i) - \log \frac{1}{K(K-1)}\sum_{i\ne j} e^{f(x_j,y_i)}.

    Its Monte Carlo estimate is biased (log of a mean); tight at :math:`f^* = \log p(y|x)/p(y)`
    up to a constant.

    Reference: Donsker & Varadhan (1983); Poole et al. (2019), Sec. 2 (:math:`I_{\rm DV}`).
    """
    k = check_scores(scores)
    return _diag(scores).mean(-1) - _lme_nodiag(scores, k)


def infonce_lower_bound(scores: torch.Tensor) -> torch.Tensor:
    r"""The InfoNCE (contrastive predictive coding) bound.

    .. math::

        I_{\rm NCE} = \log K + \frac1K \sum_i \Big[f(x_i, y_i)
        - \log \sum_{j} e^{f(x_j, y_i)}\Big] \le \log K,

    a softmax over the ``x``'s of each row. Every batch's value is at most :math:`\log K`.

    Reference: van den Oord et al. (2018); Poole et al. (2019), Sec. 2 (:math:`I_{\rm NCE}`).
    """
    k = check_scores(scores)
    return math.log(k) + _diag(torch.log_softmax(scores, dim=-1)).mean(-1)


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
    return -_softplus(-_diag(scores)).mean(-1) - _mean_nodiag(_softplus(scores), k)


def js_lower_bound(scores: torch.Tensor) -> torch.Tensor:
    r"""MI bound of a critic trained with the Jensen–Shannon f-GAN objective.

    Value: :math:`I_{\rm NWJ}(f + 1) = I_{\rm TUBA}(f; a = 1)`
    :math:`= 1 + \frac1K\sum_i f_{ii} - \frac{1}{K(K-1)}\sum_{i\ne j} e^{f_{ij}}`.
    Gradient: that of :func:`js_fgan_objective`.

    Why the :math:`+1`: the JS objective's optimum is the log density ratio
    :math:`f^* = \log p(x,y)/(p(x)p(y))`, while NWJ is tight at :math:`1 + f^*`. Evaluating
    :math:`I_{\rm NWJ}(f^*)` instead gives :math:`1 + \mathbb E_p[f^* - 1] - \mathbb E_q[e^{f^*-1}]
    = I - 1/e`; :math:`I_{\rm NWJ}(f^* + 1) = I` exactly.

    Returns:
        ``[...]`` nats; implemented as ``js + (value - js).detach()``.

    Reference: Poole et al. (2019) (:math:`I_{\rm JS}`); Nowozin et al. (2016); Hjelm et al. (2019).
    """
    fgan = js_fgan_objective(scores)
    value = tuba_lower_bound(scores)
    return fgan + (value - fgan).detach()


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

    Ceiling: :math:`m_{-j}(y_i) \ge f(x_i, y_i) - \log(K-1)` for :math:`j \ne i`, so the
    joint term is at most :math:`\log((K-1)/\alpha)` and every batch's value is at most
    :math:`1 + \log((K-1)/\alpha)`, not :math:`\log(K/\alpha)`: a peaked critic reaches it when
    :math:`(1-\alpha)a(y_i)` lies far above the product-of-marginals terms
    :math:`\alpha e^{m_{-i}(y_i)}` but far below :math:`\alpha e^{f(x_i,y_i)}/(K-1)` (the marginal
    term vanishes). With a negligible :math:`a` the marginal term tends to :math:`1/\alpha` and
    the value to :math:`\log((K-1)/\alpha) + 1 - 1/\alpha \le \log(K/\alpha)`.

    Args:
        scores: ``[..., K, K]``.
        log_baseline: ``[..., K]`` of :math:`\log a(y_i)`; ``None`` means :math:`a = 1`.
        alpha: weight of the InfoNCE baseline in [0, 1]: a Python float, or a floating
            tensor broadcastable to ``scores.shape[:-2]`` (per-run :math:`\alpha`; its values
            are not checked, to avoid a GPU sync).

    Returns:
        ``[...]`` nats. No NaN values or gradients at :math:`\alpha \in \{0, 1\}`.

    Reference: Poole et al. (2019), Sec. 2 (:math:`I_\alpha`) and their reference notebook.
    """
    k = check_scores(scores)
    if log_baseline is None:
        log_a = torch.zeros_like(scores[..., :, :1])
    else:
        log_a = check_shape(log_baseline, "log_baseline", scores.shape[:-1], "scores.shape[:-1]")[
            ..., :, None
        ]
    alpha = check_alpha(alpha, scores.shape[:-2])
    if isinstance(alpha, float) and alpha == 0.0:
        b = log_a.expand_as(scores)
    else:
        m = _log_loo_mean_exp(scores, k)
        if isinstance(alpha, float):
            if alpha == 1.0:
                b = m
            else:
                b = torch.logaddexp(m + math.log(alpha), log_a + math.log1p(-alpha))
        else:
            a = alpha.to(device=scores.device, dtype=scores.dtype)[..., None, None]
            neg_inf = torch.full_like(a, float("-inf"))
            pos, below_one = a > 0, a < 1
            log_w = torch.where(pos, torch.log(torch.where(pos, a, 1.0)), neg_inf)
            log_1mw = torch.where(below_one, torch.log1p(-torch.where(below_one, a, 0.0)), neg_inf)
            b = torch.logaddexp(m + log_w, log_a + log_1mw)
    joint = _mean_nodiag(_diag(scores)[..., :, None] - b, k)
    marginal = torch.exp(_lme_nodiag(scores - _diag(b)[..., :, None], k))
    return 1.0 + joint - marginal


def smile_lower_bound(scores: torch.Tensor, clip: float | None) -> torch.Tensor:
    r"""SMILE: the DV value with a clipped partition term, trained with the JS gradient.

    .. math::

        I_{\rm SMILE} = \frac1K\sum_i f(x_i, y_i)
        - \log\frac{1}{K(K-1)}\sum_{i\ne j} e^{\operatorname{clip}(f(x_j, y_i), -\tau, \tau)},

    with the gradient of :func:`js_fgan_objective`. Clipping bounds the variance of the
    partition estimate at the price of bias.

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
    value = _diag(scores).mean(-1) - _lme_nodiag(clipped, k)
    fgan = js_fgan_objective(scores)
    return fgan + (value - fgan).detach()


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
    moving average reduces the bias of the plain DV gradient :math:`\nabla Z / Z`.

    Args:
        scores: ``[..., K, K]``.
        log_ema: ``[...]`` previous :math:`\log\bar Z`, or ``None`` to start from this batch.
        ema_rate: :math:`r \in (0, 1]`.

    Returns:
        ``(value, new_log_ema)``, both ``[...]``; ``new_log_ema`` is detached.

    Reference: Belghazi et al. (2018), "Mutual Information Neural Estimation", ICML (the
    bias-corrected gradient); Poole et al. (2019), Sec. 2 (:math:`I_{\rm MINE}`).
    """
    k = check_scores(scores)
    rate = check_positive(ema_rate, "ema_rate", upper=1.0)
    if log_ema is not None:
        log_ema = check_shape(log_ema, "log_ema", scores.shape[:-2], "scores.shape[:-2]")
    log_z = _lme_nodiag(scores, k)
    if log_ema is None or rate == 1.0:
        new_log_ema = log_z.detach()
    else:
        prev = log_ema.detach().to(dtype=scores.dtype)
        new_log_ema = torch.logaddexp(prev + math.log1p(-rate), log_z.detach() + math.log(rate))
    joint = _diag(scores).mean(-1)
    value = joint - log_z
    surrogate = joint - torch.exp(log_z - new_log_ema)
    return surrogate + (value - surrogate).detach(), new_log_ema


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


_BOUNDS: dict[str, Callable[..., object]] = {
    "ba": ba_lower_bound,
    "tuba": tuba_lower_bound,
    "nwj": nwj_lower_bound,
    "dv": dv_lower_bound,
    "mine": mine_lower_bound,
    "js": js_lower_bound,
    "infonce": infonce_lower_bound,
    "interpolated": interpolated_lower_bound,
    "smile": smile_lower_bound,
}
BOUND_NAMES: tuple[str, ...] = tuple(_BOUNDS)


def get_bound(name: str) -> Callable[..., object]:
    """The bound function called ``name`` (case-insensitive), one of :data:`BOUND_NAMES`.

    Reference: the bounds of Poole et al. (2019), Sec. 2, plus MINE (Belghazi et al., 2018)
    and SMILE (Song & Ermon, 2020).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of {BOUND_NAMES}; got {type(name).__name__}")
    try:
        return _BOUNDS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown bound name {name!r}; accepted names: {BOUND_NAMES}") from None
