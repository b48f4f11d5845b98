r"""Held-out evaluation of a trained critic, and the interval arithmetic of the estimate.

A bound that needs negatives (every bound here but Barber–Agakov) is evaluated on the full score
matrix of a block of held-out samples, not on training-sized minibatches: InfoNCE on a block of
``B`` samples has the ceiling :math:`\log B`, so a test set of 2,000 samples lifts it from
:math:`\log 256 \approx 5.5` nats (a training batch) to :math:`\log 2000 \approx 7.6`, and the
partition terms of NWJ, DV and their relatives average over :math:`B(B-1)` pairs. The matrix is
computed in square tiles so that no activation exceeds a memory budget, without gradients.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import estimators

__all__ = [
    "block_sizes", "evaluate_blocks", "score_matrix", "spec_ceiling", "student_t_quantile",
]  # fmt: skip

#: Memory budget of one tile's activations, in elements (64 MiB of float32).
TILE_ELEMENTS = 16 * 2**20


def score_matrix(critic, x: torch.Tensor, y: torch.Tensor, hidden: int, pairwise: bool):
    """``scores[r, i, j] = f_r(x_j, y_i)`` of ``x``, ``y`` ``[R, B, d]``, in square tiles.

    ``pairwise`` critics (concat) build ``[R, t, t, hidden]`` activations for a ``t x t`` tile,
    so ``t`` is chosen to keep them within ``TILE_ELEMENTS``; separable ones need
    ``[R, B, hidden]`` only and take the whole block at once.
    """
    r, b = x.shape[0], x.shape[1]
    if not pairwise:
        return critic(x, y)
    tile = max(1, min(b, int(math.sqrt(TILE_ELEMENTS / max(1, r * hidden)))))
    out = x.new_empty((r, b, b))
    for i in range(0, b, tile):
        for j in range(0, b, tile):
            rows, cols = slice(i, min(i + tile, b)), slice(j, min(j + tile, b))
            # A square tile of the critic's K x K output: pad the shorter side by repetition.
            xs, ys = x[:, cols], y[:, rows]
            k = max(xs.shape[1], ys.shape[1])
            xs = torch.cat([xs, xs[:, :1].expand(r, k - xs.shape[1], -1)], 1)
            ys = torch.cat([ys, ys[:, :1].expand(r, k - ys.shape[1], -1)], 1)
            tile_scores = critic(xs, ys)
            out[:, rows, cols] = tile_scores[:, : rows.stop - rows.start, : cols.stop - cols.start]
    return out


def block_sizes(n: int, block: int) -> list[int]:
    """Split ``n`` samples into the fewest nearly equal blocks of at most ``block``."""
    count = -(-n // block)
    base, extra = divmod(n, count)
    return [base + (i < extra) for i in range(count)]


def evaluate_blocks(spec, critic, baseline, x, y, *, block, hidden, pairwise, options):
    """The bound of every run on held-out ``x``, ``y`` ``[R, n, d]``: ``[R]``, no gradient.

    The ``n`` samples are cut into nearly equal blocks of at most ``block`` samples
    (:func:`~mi_utils.estimate.evaluation.block_sizes`); the bound is evaluated on each block's
    full score matrix and the
    block values are averaged, weighted by block size. A stateful estimator (MINE) is read
    through its value, which does not depend on the state.
    """
    total = x.new_zeros(x.shape[0])
    start = 0
    n = x.shape[1]
    with torch.no_grad():
        for size in block_sizes(n, block):
            xs, ys = x[:, start : start + size], y[:, start : start + size]
            scores = score_matrix(critic, xs, ys, hidden, pairwise)
            log_a = baseline(ys) if baseline is not None else None
            value, _ = spec(scores, log_baseline=log_a, state=None, **options)
            total += value * (size / n)
            start += size
    return total


def student_t_quantile(p: float, dof: int) -> float:
    """The ``p``-quantile of Student's t with ``dof`` degrees of freedom (no SciPy needed).

    Bisection on the CDF, itself a trapezoidal integral of the density on a fine grid; accurate
    to about 1e-6 for ``p`` in [0.5, 0.9995].
    """
    if not 0.5 <= p < 1.0:
        raise ValueError(f"p must lie in [0.5, 1); got {p}")
    log_c = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)

    def cdf(t: float) -> float:
        grid = np.linspace(0.0, t, 4001)
        dens = np.exp(log_c - (dof + 1) / 2 * np.log1p(grid**2 / dof))
        return 0.5 + float(np.trapezoid(dens, grid))

    lo, hi = 0.0, 1.0
    while cdf(hi) < p:
        hi *= 2.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return 0.5 * (lo + hi)


def spec_ceiling(name: str, k: int, options: dict) -> float | None:
    """The estimator's largest value on a block of ``k`` samples (``None``: unbounded)."""
    spec = estimators.get(name)
    return None if spec.ceiling is None else float(spec.ceiling(k, spec.resolve(options)))
