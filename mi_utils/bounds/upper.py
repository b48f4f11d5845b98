r"""Upper bounds on mutual information that need the true conditional density.

A critic can be anything for a lower bound; an upper bound needs a *normalised* density. Both
functions here read log densities of a known (tractable) conditional, for example a stochastic
encoder :math:`p(z \mid x)` (:mod:`mi_utils.nn.encoders`) or a task's
:meth:`~mi_utils.tasks.Task.log_conditional`, laid out like a score matrix:
``log_cond[..., i, j] = log p(y_i | x_j)`` (rows index the samples :math:`y_i \sim p(y \mid x_i)`,
columns the conditioning :math:`x_j`; the diagonal holds the ``K`` joint pairs). With any other
matrix (a learned critic) the value is *not* an upper bound on anything.

- :func:`~mi_utils.bounds.variational_marginal_upper_bound`:
  :math:`\mathbb E \log p(y|x) - \log q(y)` with any normalised :math:`q(y)`, the other face of
  Barber–Agakov (Poole et al., 2019, Sec. 2.1);
- :func:`~mi_utils.bounds.minibatch_upper_bound`: the leave-one-out ("minibatch") upper bound
  of Poole et al. (2019), the upper half of the sandwich
  :math:`I_{\rm TNCE} \le I(X;Y) \le I_{\rm upper}`;
- :func:`~mi_utils.bounds.club_upper_bound`: the contrastive log-ratio upper bound (CLUB) of
  Cheng et al. (2020);
- :func:`~mi_utils.bounds.total_correlation_upper_bound`: a minibatch upper bound on the total
  correlation :math:`\mathrm{TC}(Z) = \mathrm{KL}(p(z) \,\|\, \prod_k p(z_k))` of a code
  drawn from a conditional that factorises over its dimensions.

All hold *in expectation* over batches, not batch by batch. They are stable (log-sum-exp), take
any leading run dimensions, return ``[...]`` in nats, are differentiable, never sync a GPU, and
compute half precision in float32 like :mod:`mi_utils.bounds.lower`.

Reference: Poole, Ozair, van den Oord, Alemi & Tucker (2019), "On Variational Bounds of Mutual
Information", ICML, Sec. 2 (structured bounds with a tractable encoder).
"""

from __future__ import annotations

import math

import torch

from ..validation import check_float_tensor, check_scores, check_shape
from .numerics import eye_mask, half_in_float32, mean_nodiag

__all__ = [
    "club_upper_bound",
    "minibatch_upper_bound",
    "total_correlation_upper_bound",
    "variational_marginal_upper_bound",
]


def _loo_log_mean(log_cond: torch.Tensor, k: int) -> torch.Tensor:
    r""":math:`\log \frac{1}{K-1} \sum_{j \ne i} e^{s_{ij}}` of ``[..., K, K]``: ``[..., K]``."""
    masked = log_cond.masked_fill(eye_mask(k, log_cond), -math.inf)
    return torch.logsumexp(masked, dim=-1) - math.log(k - 1)


@half_in_float32("log_cond")
def minibatch_upper_bound(log_cond: torch.Tensor) -> torch.Tensor:
    r"""Leave-one-out upper bound on :math:`I(X;Y)` with the true conditional, ``[...]`` nats.

    .. math::

        I(X; Y) \;\le\; \mathbb E\left[\frac1K \sum_{i=1}^{K}
        \log \frac{p(y_i \mid x_i)}{\frac{1}{K-1} \sum_{j \ne i} p(y_i \mid x_j)}\right],

    over batches :math:`(x_i, y_i) \sim p(x, y)`. The leave-one-out mixture is an unbiased
    estimate of :math:`p(y_i)` independent of :math:`y_i`, so by Jensen its expected log is at
    most :math:`\mathbb E \log p(y)`; the gap is :math:`\mathbb E\,\mathrm{KL}` between
    :math:`p(y)` and the mixture's expectation taken inside the log. Unlike InfoNCE it has no
    ceiling: it goes to :math:`+\infty` when the other conditionals give :math:`y_i` no mass.

    Valid only when ``log_cond`` holds the true, normalised :math:`\log p(y_i \mid x_j)`.

    Args:
        log_cond: ``[..., K, K]``, ``K >= 2``: ``log_cond[..., i, j] = log p(y_i | x_j)``.

    Returns:
        ``[...]``: the batch's value; average over batches for the bound.

    Reference: Poole et al. (2019), Sec. 2, the minibatch upper bound of their structured bounds.
    """
    k = check_scores(log_cond, "log_cond")
    positive = torch.diagonal(log_cond, dim1=-2, dim2=-1)
    return (positive - _loo_log_mean(log_cond, k)).mean(-1)


@half_in_float32("log_cond", "log_q")
def variational_marginal_upper_bound(log_cond: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    r"""Variational-marginal upper bound on :math:`I(X;Y)`, ``[...]`` nats.

    For any normalised density :math:`q(y)`,

    .. math::

        I(X; Y) = \mathbb E_{p(x,y)}\left[\log \frac{p(y \mid x)}{q(y)}\right]
        - \mathrm{KL}\big(p(y) \,\|\, q(y)\big)
        \;\le\; \mathbb E_{p(x,y)}\left[\log p(y \mid x) - \log q(y)\right],

    with gap :math:`\mathrm{KL}(p(y) \| q(y))`: zero when :math:`q` is the true marginal. This
    is the "rate" of the variational information bottleneck (Alemi et al., 2017).

    Valid only when ``log_cond`` is the true, normalised :math:`\log p(y_i \mid x_i)` and
    ``q`` integrates to one; an unnormalised ``q`` shifts the value by its log normaliser.

    Args:
        log_cond: ``[..., K]``, :math:`\log p(y_i \mid x_i)` of the ``K`` joint pairs (the
            diagonal of the matrix the other functions here take).
        log_q: ``[..., K]``, :math:`\log q(y_i)`, of the same shape.

    Returns:
        ``[...]``: the batch mean of :math:`\log p(y_i \mid x_i) - \log q(y_i)`, unbiased.

    Reference: Poole et al. (2019), Sec. 2.1 (the upper bound with a variational marginal);
    Alemi et al. (2017), the rate of the variational information bottleneck.
    """
    log_cond = check_float_tensor(log_cond, "log_cond", "[..., K]")
    if log_cond.dim() < 1 or log_cond.shape[-1] < 1:
        raise ValueError(
            f"log_cond must have shape [..., K] with K >= 1; got {tuple(log_cond.shape)}"
        )
    log_q = check_shape(log_q, "log_q", log_cond.shape, "[..., K] (the shape of log_cond)")
    return (log_cond - log_q).mean(-1)


@half_in_float32("log_cond")
def club_upper_bound(log_cond: torch.Tensor) -> torch.Tensor:
    r"""The contrastive log-ratio upper bound (CLUB) on :math:`I(X;Y)`, ``[...]`` nats.

    .. math::

        I_{\rm CLUB} = \mathbb E_{p(x,y)}\left[\log p(y \mid x)\right]
        - \mathbb E_{p(x)}\mathbb E_{p(y)}\left[\log p(y \mid x)\right]
        = I(X;Y) + \mathbb E_{p(x)}\,\mathrm{KL}\big(p(y) \,\|\, p(y \mid x)\big),

    estimated by the mean of the diagonal (joint pairs) minus the mean of the off-diagonal
    entries (the ``K(K-1)`` product-of-marginals pairs; Cheng et al. average all ``K^2``
    entries, which puts the joint pairs into the second term too). Unbiased; on the correlated
    Gaussian of dimension :math:`d` it equals :math:`d\rho^2/(1-\rho^2)`.

    Valid only with the true conditional. With a learned :math:`q(y \mid x)` (vCLUB) the
    value is *not* guaranteed to bound the MI from above: it can fall below it.

    Args:
        log_cond: ``[..., K, K]``, ``K >= 2``: ``log_cond[..., i, j] = log p(y_i | x_j)``.

    Returns:
        ``[...]``.

    Reference: Cheng, Hao, Dai, Liu, Gan & Carin (2020), "CLUB: A Contrastive Log-ratio Upper
    Bound of Mutual Information", ICML.
    """
    k = check_scores(log_cond, "log_cond")
    positive = torch.diagonal(log_cond, dim1=-2, dim2=-1).mean(-1)
    return positive - mean_nodiag(log_cond, k)


@half_in_float32("log_cond_dims")
def total_correlation_upper_bound(log_cond_dims: torch.Tensor) -> torch.Tensor:
    r"""Minibatch upper bound on the total correlation of a factorised code, ``[...]`` nats.

    For a code :math:`z \sim p(z \mid x) = \prod_{k=1}^{d} p(z_k \mid x)` the total correlation
    of its marginal is :math:`\mathrm{TC}(Z) = \sum_k I(X; Z_k) - I(X; Z)` (the conditional
    entropies cancel). Bound each :math:`I(X; Z_k)` above with the leave-one-out bound and
    :math:`I(X; Z)` below with :math:`I_{\rm TNCE}` (InfoNCE with the positive included):

    .. math::

        \mathrm{TC}(Z) \;\le\; \mathbb E\left[\frac1K \sum_{i=1}^K \left(
        \log \frac1K \sum_{j=1}^K p(z_i \mid x_j)
        - \sum_{k=1}^d \log \frac{1}{K-1} \sum_{j \ne i} p(z_{ik} \mid x_j)\right)\right].

    The first term overestimates :math:`\mathbb E \log p(z)` and each second-term mixture
    underestimates :math:`\mathbb E \log p(z_k)`, so the bound holds in expectation. The
    :math:`I_{\rm TNCE}` half is capped at :math:`\log K`: once :math:`I(X;Z)` exceeds it, the
    bound is loose by at least the difference.

    Args:
        log_cond_dims: ``[..., K, K, d]``, ``K >= 2``, ``d >= 1``:
            ``log_cond_dims[..., i, j, k] = log p(z_ik | x_j)``, the per-dimension log
            densities of the true conditional (their sum over ``k`` is ``log p(z_i | x_j)``).

    Returns:
        ``[...]``: the batch's value; average over batches for the bound.

    References: Watanabe (1960) (total correlation); Poole et al. (2019), Sec. 2 (the two
    structured bounds it combines).
    """
    t = check_float_tensor(log_cond_dims, "log_cond_dims", "[..., K, K, d]")
    if t.dim() < 3 or t.shape[-1] < 1:
        raise ValueError(
            f"log_cond_dims must have shape [..., K, K, d] with d >= 1; got {tuple(t.shape)}"
        )
    k = check_scores(t[..., 0], "log_cond_dims[..., 0]")
    joint = torch.logsumexp(t.sum(-1), dim=-1) - math.log(k)  # [..., K]
    per_dim = _loo_log_mean(t.movedim(-1, -3), k).sum(-2)  # [..., d, K] -> [..., K]
    return (joint - per_dim).mean(-1)
