"""The CPU short path of the bounds for finite scores equals the exact (infinity-safe) path.

Every bound checks once, with :func:`mi_utils.bounds.numerics.all_finite`, whether its inputs
are finite CPU tensors and then skips the infinity handling of its helpers. These tests force
the exact path (by patching ``all_finite`` to ``False``) and compare values and gradients, show
that the short path is really taken on finite CPU input (so the comparison is not exact against
exact), and that infinite or non-CPU input never takes it.
"""

from __future__ import annotations

import math

import pytest
import torch

from mi_utils import estimators
from mi_utils.bounds import lower, numerics

from .conftest import gen

SCORE_BOUNDS = [n for n in estimators.names() if estimators.get(n).scores_input]


def _call(name, scores, log_a, state=None):
    spec = estimators.get(name)
    opts = dict(spec.options)
    base = log_a if spec.needs_baseline else None
    value, _ = spec(scores, log_baseline=base, state=state, **opts)
    return value


def _value_and_grads(name, scores, log_a, exact: bool, monkeypatch):
    if exact:
        monkeypatch.setattr(lower, "all_finite", lambda *t: False)
    s = scores.clone().requires_grad_(True)
    a = log_a.clone().requires_grad_(True)
    value = _call(name, s, a)
    value.sum().backward()
    monkeypatch.undo()
    return value.detach(), s.grad, (a.grad if a.grad is not None else torch.zeros_like(a))


@pytest.mark.parametrize("name", SCORE_BOUNDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [0.1, 3.0, 30.0])
def test_short_path_equals_exact_path(name, dtype, scale, monkeypatch):
    g = gen(7)
    scores = (scale * torch.randn(3, 9, 9, generator=g, dtype=torch.float64)).to(dtype)
    scores.diagonal(dim1=-2, dim2=-1).add_(scale)
    log_a = torch.randn(3, 9, generator=g, dtype=torch.float64).to(dtype)
    fast = _value_and_grads(name, scores, log_a, exact=False, monkeypatch=monkeypatch)
    exact = _value_and_grads(name, scores, log_a, exact=True, monkeypatch=monkeypatch)
    tol = dict(rtol=1e-5, atol=1e-5 * max(1.0, scale)) if dtype == torch.float32 else {}
    for f, e in zip(fast, exact, strict=True):
        torch.testing.assert_close(f, e, **tol)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0, "tensor"])
def test_interpolated_short_path_at_extreme_alpha_and_scores(alpha, monkeypatch):
    # Scores of 1e8 in float32 keep their precision on the short path too (relative to f_ii).
    g = gen(3)
    scores = torch.randn(4, 6, 6, generator=g) + 1e8
    scores.diagonal(dim1=-2, dim2=-1).add_(3.0)
    log_a = torch.randn(4, 6, generator=g) + 1e8
    a = torch.tensor([0.0, 0.25, 0.75, 1.0]) if alpha == "tensor" else alpha
    fast = lower.interpolated_lower_bound(scores, log_a, a)
    monkeypatch.setattr(lower, "all_finite", lambda *t: False)
    exact = lower.interpolated_lower_bound(scores, log_a, a)
    assert torch.isfinite(fast).all()
    torch.testing.assert_close(fast, exact, rtol=0, atol=1e-5)


def test_short_path_is_taken_on_finite_cpu_scores(monkeypatch):
    # Without this, the comparisons above could compare the exact path with itself.
    seen = []

    def spy(*tensors):
        result = numerics.all_finite(*tensors)
        seen.append(result)
        return result

    monkeypatch.setattr(lower, "all_finite", spy)
    scores = torch.randn(2, 5, 5, generator=gen(1))
    for name in SCORE_BOUNDS:
        _call(name, scores, torch.zeros(2, 5))
    assert seen and all(seen)


def test_all_finite_refuses_infinite_nan_and_non_cpu_tensors():
    x = torch.zeros(3, 3)
    assert numerics.all_finite(x, None)
    for bad in (math.inf, -math.inf, math.nan):
        y = x.clone()
        y[1, 2] = bad
        assert not numerics.all_finite(x, y)
    # A tensor on another device never has its values read (that would sync a GPU).
    assert not numerics.all_finite(torch.empty(3, device="meta"))


def test_short_path_helpers_differ_from_exact_ones_only_at_infinity():
    # The exact helpers give the limit at an infinite pivot; the short path would not: it must
    # only ever run on finite input, which is what all_finite guarantees.
    s = torch.tensor([[math.inf, 1.0]])
    c = s.amax(dim=-1, keepdim=True)
    exact = numerics.shift(s, c)
    short = numerics.shift(s, c, finite=True)
    assert torch.equal(exact, torch.tensor([[0.0, -math.inf]]))
    assert torch.isnan(short[0, 0])
