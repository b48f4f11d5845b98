r"""Numerical building blocks of the bounds: stable, sync-free, with the right limits at ±inf.

Used by :mod:`mi_utils.bounds.lower` (and by any new bound): log-sum-exp around a detached
pivot that never yields a NaN value or gradient, the off-diagonal log-mean-exp and mean, the
leave-one-out log-sum-exp of each row in :math:`O(K^2)`, the value-with-a-surrogate's-gradient
split, and the float32 computation of half-precision inputs.
"""

from __future__ import annotations

import functools
import inspect
import math

import torch

__all__ = [
    "all_finite",
    "diag",
    "eye_mask",
    "half_in_float32",
    "lme_nodiag",
    "log_mix",
    "loo_parts",
    "lse",
    "mean_nodiag",
    "minus",
    "shift",
    "softplus",
    "value_with_grad_of",
]

HALF_DTYPES = (torch.float16, torch.bfloat16)
_INF = math.inf


def _is_half(value: object) -> bool:
    return isinstance(value, torch.Tensor) and value.dtype in HALF_DTYPES


def half_in_float32(*names: str):
    """Decorator: run a bound in float32 on float16/bfloat16 tensor arguments.

    Its result (or tuple of results) is cast back to the dtype that the arguments ``names``
    promote to, when that is a half dtype; gradients flow back to the half-precision inputs.
    """

    # Run fn in float32 on float16/bfloat16 tensor arguments; cast its result(s) back to the dtype
    # that the arguments `names` promote to (as before the upcast) when that is a half dtype.
    def decorate(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if not any(_is_half(v) for v in (*args, *kwargs.values())):
                return fn(*args, **kwargs)  # the common case, without binding the signature
            given = signature.bind(*args, **kwargs).arguments
            half = [
                n
                for n, v in given.items()
                if isinstance(v, torch.Tensor) and v.dtype in HALF_DTYPES
            ]
            if not half:
                return fn(*args, **kwargs)
            dtypes = [given[n].dtype for n in names if isinstance(given.get(n), torch.Tensor)]
            result = fn(**{n: v.float() if n in half else v for n, v in given.items()})
            out = functools.reduce(torch.promote_types, dtypes)
            if out not in HALF_DTYPES:
                return result
            return tuple(r.to(out) for r in result) if isinstance(result, tuple) else result.to(out)

        return wrapper

    return decorate


def all_finite(*tensors: torch.Tensor | None) -> bool:
    """``True`` when every tensor given (``None`` skipped) is on the CPU and holds no ±inf/NaN.

    The bounds call it once and then pass ``finite=True`` to the ``[..., K, K]`` helpers below
    (:func:`shift`, :func:`lse`, :func:`log_mix`, :func:`lme_nodiag`, :func:`loo_parts`),
    which then skip their infinity handling: on a CPU, where every small tensor op costs
    microseconds of overhead, that handling is a large share of a bound's time. Reading the
    values is free on a CPU; on any other device it would cost a host sync, so there it is
    always ``False`` and the exact, sync-free path runs.
    """
    for t in tensors:
        if t is None:
            continue
        if t.device.type != "cpu" or not bool(torch.isfinite(t).all()):
            return False
    return True


def diag(scores: torch.Tensor) -> torch.Tensor:
    """The diagonal (the joint pairs) of ``scores`` ``[..., K, K]``: ``[..., K]``."""
    return scores.diagonal(dim1=-2, dim2=-1)


def eye_mask(k: int, like: torch.Tensor) -> torch.Tensor:
    """The boolean ``[K, K]`` identity on ``like``'s device: ``True`` on the diagonal."""
    return torch.eye(k, dtype=torch.bool, device=like.device)


def shift(
    s: torch.Tensor, c: torch.Tensor, subtract: bool = True, finite: bool = False
) -> torch.Tensor:
    r"""``s - c`` for a detached pivot ``c`` (``s`` itself with ``subtract=False``).

    Where :math:`c = \pm\infty`: 0 where ``s == c`` and :math:`\mp\infty` elsewhere, never
    ``inf - inf`` in the value or the gradient. ``finite=True`` promises that ``c`` is finite
    (see :func:`all_finite`) and skips that handling.
    """
    if finite:
        return s - c.detach() if subtract else s
    # s - c for a detached pivot c (s itself if not subtract). Where c = ±inf: the limit of every
    # ±inf entry going to ±inf together with c, 0 where s == c and ∓inf elsewhere. Never
    # inf - inf, in the value or the gradient.
    c = c.detach()
    finite = c.abs() < _INF  # torch.isfinite in two kernels
    moved = s - torch.where(finite, c, 0.0) if subtract else s
    return torch.where(finite, moved, torch.where(s == c, 0.0, -c))


def lse(s: torch.Tensor, dim, finite: bool = False) -> torch.Tensor:
    """``logsumexp(s, dim)`` with neither a NaN value nor a NaN gradient at infinite entries.

    ``finite=True`` promises that no slice along ``dim`` has an infinite maximum (some entries
    may be ``-inf``, as in masked matrices): then it is :func:`torch.logsumexp`.
    """
    if finite:
        return torch.logsumexp(s, dim=dim)
    # logsumexp(s, dim) around the detached max c; where c = ±inf the value is c with zero
    # gradient: never a NaN value or gradient (torch.logsumexp's gradient is NaN there).
    c = s.detach().amax(dim=dim, keepdim=True)
    finite = c.abs() < _INF
    shifted = torch.where(finite, s - torch.where(finite, c, 0.0), 0.0)
    return (c + torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))).squeeze(dim)


def log_mix(x: torch.Tensor, log_w, y: torch.Tensor, log_v, finite: bool = False) -> torch.Tensor:
    r""":math:`\log(w e^x + v e^y)` from log weights, floats or tensors; :math:`0 \cdot e^x = 0`.

    ``finite=True`` promises finite ``x`` and ``y`` (a weight may still be zero, not both).
    """
    # log(w e^x + v e^y) for log weights (floats or tensors) with 0 * e^x = 0, even for x = +inf.
    if isinstance(log_w, float):
        if log_w == -_INF or log_v == -_INF:  # one term: no log-sum-exp needed
            return y + log_v if log_w == -_INF else x + log_w
        x, y = x + log_w, y + log_v
        if finite:
            return torch.logaddexp(x, y)
    elif finite:
        return torch.logaddexp(x + log_w, y + log_v)
    else:
        x = torch.where(log_w == -_INF, -_INF, x + log_w)
        y = torch.where(log_v == -_INF, -_INF, y + log_v)
    return lse(torch.stack(torch.broadcast_tensors(x, y), dim=-1), -1)


def minus(joint: torch.Tensor, partition: torch.Tensor) -> torch.Tensor:
    """``joint - partition``, and ``-inf`` wherever ``partition`` is ``+inf``."""
    # joint - partition, -inf wherever the partition term is +inf (it outgrows the joint term).
    return torch.where(partition == _INF, -_INF, joint - partition)


def value_with_grad_of(value: torch.Tensor, surrogate: torch.Tensor) -> torch.Tensor:
    """``value`` carrying ``surrogate``'s gradient (zero where the surrogate is not finite)."""
    # `value` with `surrogate`'s gradient; where the surrogate is not finite, `value` with zero
    # gradient. Never NaN from inf - inf (a NaN value stays NaN).
    finite = torch.isfinite(surrogate)
    safe = torch.where(finite, surrogate, 0.0)
    return torch.where(finite, safe + (value - safe).detach(), value.detach())


def lme_nodiag(scores: torch.Tensor, k: int, finite: bool = False) -> torch.Tensor:
    r""":math:`\log \frac{1}{K(K-1)} \sum_{i \ne j} e^{s_{ij}}` of ``[..., K, K]``: ``[...]``."""
    masked = scores.masked_fill(eye_mask(k, scores), -_INF)
    return lse(masked, (-2, -1), finite) - math.log(k * (k - 1))


def mean_nodiag(values: torch.Tensor, k: int) -> torch.Tensor:
    r""":math:`\frac{1}{K(K-1)} \sum_{i \ne j} v_{ij}` of ``[..., K, K]``: ``[...]``."""
    return values.masked_fill(eye_mask(k, values), 0.0).sum(dim=(-2, -1)) / (k * (k - 1))


def softplus(x: torch.Tensor) -> torch.Tensor:
    r""":math:`\log(1 + e^x)` to full precision, with a finite gradient at :math:`\pm\infty`."""
    # log(1 + e^x) to full precision (F.softplus returns x itself above x = 20); the gradient is
    # finite at ±inf too.
    return torch.logaddexp(x, torch.zeros_like(x))


def loo_parts(scores: torch.Tensor, finite: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Leave-one-out log-sum-exp of each row as ``(pivot, rest)``, both ``[..., K, K]``.

    :math:`\log \sum_{k \ne j} e^{s_{ik}}` = ``pivot[..., i, j] + rest[..., i, j]``, the pivot
    detached; :math:`O(K^2)`, with no cancelling subtraction. ``finite=True`` promises finite
    scores.
    """
    # Per row i: log sum_{k != j} exp s[i, k] = pivot[i, j] + rest[i, j], the pivot detached:
    # the row max m1, or for the argmax column the max m2 of the others. For j not the argmax
    # the max term stays in the sum, so S - e_j >= 1 and the subtraction loses at most a couple
    # of ulps; the argmax column gets one masked log-sum-exp per row. Infinite pivots: shift
    # (a row's +inf entries count as equals).
    m1 = scores.detach().amax(dim=-1, keepdim=True)
    e = torch.exp(shift(scores, m1, finite=finite))
    is_arg = torch.zeros_like(scores, dtype=torch.bool)
    is_arg.scatter_(-1, scores.detach().argmax(dim=-1, keepdim=True), True)
    others = scores.masked_fill(is_arg, -_INF)
    m2 = others.detach().amax(dim=-1, keepdim=True)
    # (also when m2 = -inf)
    e_others = torch.exp(shift(others, m2, finite=finite)).masked_fill(is_arg, 0.0)
    log_rest_arg = torch.log(e_others.sum(dim=-1, keepdim=True))
    # Placeholder 1 in the argmax column keeps log (and its gradient) away from 0.
    rest = torch.where(is_arg, 1.0, e.sum(dim=-1, keepdim=True) - e)
    return torch.where(is_arg, m2, m1), torch.where(is_arg, log_rest_arg, torch.log(rest))
