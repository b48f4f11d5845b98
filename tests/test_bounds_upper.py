"""Tests of mi_utils.bounds.upper: brute force, the TC decomposition, Monte Carlo validity on
Gaussians with closed-form MI and total correlation, a misuse that breaks validity, stability
and bad input."""

from __future__ import annotations

import math

import pytest
import torch

from mi_utils.bounds import (
    club_upper_bound,
    infonce_lower_bound,
    minibatch_upper_bound,
    total_correlation_upper_bound,
    variational_marginal_upper_bound,
)
from mi_utils.nn import gaussian_log_prob_matrix
from mi_utils.tasks import CorrelatedGaussian

F64 = torch.float64


def _brute_upper(s: torch.Tensor) -> float:
    k = s.shape[-1]
    total = 0.0
    for i in range(k):
        mix = sum(math.exp(s[i, j].item()) for j in range(k) if j != i) / (k - 1)
        total += s[i, i].item() - math.log(mix)
    return total / k


def _brute_tc(d: torch.Tensor) -> float:
    k, _, dims = d.shape
    total = 0.0
    for i in range(k):
        joint = math.log(sum(math.exp(d[i, j].sum().item()) for j in range(k)) / k)
        margs = 0.0
        for c in range(dims):
            mix = sum(math.exp(d[i, j, c].item()) for j in range(k) if j != i) / (k - 1)
            margs += math.log(mix)
        total += joint - margs
    return total / k


@pytest.mark.parametrize("k", [2, 3, 7])
def test_minibatch_upper_bound_matches_brute_force_with_run_dims(k):
    g = torch.Generator().manual_seed(k)
    s = 3.0 * torch.randn(2, 3, k, k, generator=g, dtype=F64)
    out = minibatch_upper_bound(s)
    assert out.shape == (2, 3) and out.dtype == F64
    for a in range(2):
        for b in range(3):
            assert out[a, b].item() == pytest.approx(_brute_upper(s[a, b]), abs=1e-12)


@pytest.mark.parametrize("k, d", [(2, 1), (4, 3), (6, 5)])
def test_total_correlation_bound_matches_brute_force(k, d):
    g = torch.Generator().manual_seed(10 * k + d)
    t = 2.0 * torch.randn(3, k, k, d, generator=g, dtype=F64)
    out = total_correlation_upper_bound(t)
    assert out.shape == (3,)
    for r in range(3):
        assert out[r].item() == pytest.approx(_brute_tc(t[r]), abs=1e-12)


def test_total_correlation_bound_is_per_dim_upper_bounds_minus_tnce():
    # TC <= sum_k I_upper(X; Z_k) - I_TNCE(X; Z): the identity behind the bound, batch by batch.
    g = torch.Generator().manual_seed(0)
    t = torch.randn(2, 9, 9, 4, generator=g, dtype=F64)
    per_dim = sum(minibatch_upper_bound(t[..., c]) for c in range(4))
    expected = per_dim - infonce_lower_bound(t.sum(-1))
    torch.testing.assert_close(total_correlation_upper_bound(t), expected)


def test_sandwich_on_the_correlated_gaussian_and_a_misuse_that_breaks_it():
    # With the true conditional: E[I_TNCE] <= I <= E[I_upper] (5-sigma Monte Carlo margins).
    task = CorrelatedGaussian.from_mi(4.0, dim=4)
    g = torch.Generator().manual_seed(1)
    x, y = task.sample(64, batch_shape=(400,), generator=g, dtype=F64)
    log_cond = task.log_conditional(x, y)
    up, low = minibatch_upper_bound(log_cond), infonce_lower_bound(log_cond)
    se_up, se_low = up.std() / 20.0, low.std() / 20.0
    assert low.mean() <= task.mi + 5 * se_low
    assert up.mean() >= task.mi - 5 * se_up
    assert up.mean() - task.mi < 1.5  # and not vacuous at K = 64, 4 nats
    # Shifting a row by a constant changes nothing (log p(y|x) and f* = log p(y|x) - log p(y)
    # give one value), but a critic that is not a conditional density in y, here the tempered
    # 0.3 log p(y|x), falls well below the truth: validity needs the true density.
    torch.testing.assert_close(minibatch_upper_bound(task.log_ratio(x, y)), up)
    wrong = minibatch_upper_bound(0.3 * log_cond)
    assert wrong.mean() < task.mi - 0.5


def _linear_gaussian_code(a: torch.Tensor, sigma: float, k: int, batches: int, seed: int):
    """z = A x + sigma * eps, x ~ N(0, I): per-dim log p(z_ik | x_j) and the true TC."""
    g = torch.Generator().manual_seed(seed)
    d, p = a.shape
    x = torch.randn(batches, k, p, generator=g, dtype=F64)
    mean = x @ a.T
    log_sigma = torch.full_like(mean, math.log(sigma))
    z = mean + sigma * torch.randn(mean.shape, generator=g, dtype=F64)
    cov = a @ a.T + sigma**2 * torch.eye(d, dtype=F64)
    tc = 0.5 * (torch.log(torch.diagonal(cov)).sum() - torch.logdet(cov)).item()
    return gaussian_log_prob_matrix(z, mean, log_sigma, per_dim=True), tc


def test_total_correlation_bound_on_a_gaussian_with_known_tc():
    a = torch.tensor([[1.0, 0.8, 0.0], [0.6, 1.0, 0.3], [0.0, 0.5, 1.0]], dtype=F64)
    dims, tc = _linear_gaussian_code(a, sigma=0.5, k=128, batches=300, seed=2)
    assert tc > 0.3  # a dependent code
    bound = total_correlation_upper_bound(dims)
    se = bound.std() / math.sqrt(bound.numel())
    assert bound.mean() >= tc - 5 * se
    assert bound.mean() - tc < 0.5  # informative at K = 128


def test_total_correlation_bound_is_near_zero_for_independent_latents():
    dims, tc = _linear_gaussian_code(torch.eye(3, dtype=F64), sigma=1.0, k=256, batches=100, seed=3)
    assert tc == pytest.approx(0.0, abs=1e-12)
    bound = total_correlation_upper_bound(dims)
    assert abs(bound.mean().item()) < 0.05


def test_half_precision_gradients_and_infinite_limits():
    g = torch.Generator().manual_seed(4)
    s = torch.randn(5, 5, generator=g).to(torch.bfloat16).requires_grad_()
    out = minibatch_upper_bound(s)
    assert out.dtype == torch.bfloat16
    out.backward()
    assert torch.isfinite(s.grad).all()
    t = torch.randn(5, 5, 3, generator=g, dtype=torch.float16)
    assert total_correlation_upper_bound(t).dtype == torch.float16
    # Large finite scores stay finite (log-sum-exp).
    big = 1e4 * torch.randn(6, 6, generator=g, dtype=F64)
    assert torch.isfinite(minibatch_upper_bound(big))
    # No other conditional gives y_0 any mass: the bound is +inf (the mathematical limit).
    s = torch.zeros(3, 3, dtype=F64)
    s[0, 1:] = -math.inf
    assert minibatch_upper_bound(s).item() == math.inf


@pytest.mark.parametrize(
    "fn, arg, exc, match",
    [
        (minibatch_upper_bound, torch.zeros(3, 4), ValueError, "log_cond must have shape"),
        (minibatch_upper_bound, torch.zeros(1, 1), ValueError, "log_cond must hold K >= 2"),
        (minibatch_upper_bound, torch.zeros(3, 3, dtype=torch.long), TypeError, "log_cond"),
        (minibatch_upper_bound, [[0.0, 1.0], [1.0, 0.0]], TypeError, "log_cond"),
        (total_correlation_upper_bound, torch.zeros(3, 3), ValueError, r"\[\.\.\., K, K, d\]"),
        (total_correlation_upper_bound, torch.zeros(3, 4, 2), ValueError, "log_cond_dims"),
        (total_correlation_upper_bound, torch.zeros(3, 3, 0), ValueError, "d >= 1"),
        (total_correlation_upper_bound, torch.zeros(1, 1, 2), ValueError, "K >= 2"),
        (total_correlation_upper_bound, torch.zeros(2, 2, 2, dtype=torch.int8), TypeError, "_dims"),
    ],
)  # fmt: skip
def test_bad_input_names_the_argument(fn, arg, exc, match):
    with pytest.raises(exc, match=match):
        fn(arg)


def test_per_dim_gaussian_matrix_sums_to_the_joint_matrix():
    g = torch.Generator().manual_seed(5)
    z, mean = torch.randn(2, 6, 3, generator=g, dtype=F64)
    log_sigma = 0.3 * torch.randn(6, 3, generator=g, dtype=F64)
    dims = gaussian_log_prob_matrix(z, mean, log_sigma, per_dim=True)
    assert dims.shape == (6, 6, 3)
    torch.testing.assert_close(dims.sum(-1), gaussian_log_prob_matrix(z, mean, log_sigma))
    i, j, c = 2, 4, 1
    ref = torch.distributions.Normal(mean[j, c], log_sigma[j, c].exp()).log_prob(z[i, c])
    torch.testing.assert_close(dims[i, j, c], ref)


def test_variational_marginal_bound_closed_form_gap_on_the_gaussian():
    # q = N(0, s^2 I): E[log p(y|x) - log q(y)] = I + KL(N(0, I) || N(0, s^2 I)).
    task = CorrelatedGaussian.from_mi(2.0, dim=5)
    g = torch.Generator().manual_seed(6)
    x, y = task.sample(256, batch_shape=(200,), generator=g, dtype=F64)
    log_cond = torch.diagonal(task.log_conditional(x, y), dim1=-2, dim2=-1)
    for s in (1.0, 0.5, 2.0):
        log_q = torch.distributions.Normal(0.0, s).log_prob(y).sum(-1)
        value = variational_marginal_upper_bound(log_cond, log_q)
        gap = 0.5 * task.dim * (1.0 / s**2 - 1.0 + math.log(s**2))
        se = value.std() / math.sqrt(value.numel())
        assert abs(value.mean().item() - (task.mi + gap)) < 5 * se
    # the true marginal is tight; an unnormalised q (here q/2) breaks validity by log 2
    exact = variational_marginal_upper_bound(log_cond, task.log_marginal(y))
    shifted = variational_marginal_upper_bound(log_cond, task.log_marginal(y) + math.log(2.0))
    torch.testing.assert_close(shifted, exact - math.log(2.0))


def test_club_closed_form_on_the_gaussian_and_brute_force():
    # I_CLUB = I + E_x KL(p(y) || p(y|x)) = d rho^2 / (1 - rho^2) on the correlated Gaussian.
    task = CorrelatedGaussian.from_mi(1.0, dim=4)
    g = torch.Generator().manual_seed(7)
    x, y = task.sample(128, batch_shape=(100,), generator=g, dtype=F64)
    value = club_upper_bound(task.log_conditional(x, y))
    closed = task.dim * task.rho**2 / (1.0 - task.rho**2)
    assert closed > task.mi + 0.2  # loose even with the true conditional
    se = value.std() / math.sqrt(value.numel())
    assert abs(value.mean().item() - closed) < 5 * se
    s = torch.randn(2, 5, 5, generator=g, dtype=F64)
    for r in range(2):
        diag = sum(s[r, i, i].item() for i in range(5)) / 5
        off = sum(s[r, i, j].item() for i in range(5) for j in range(5) if i != j) / 20
        assert club_upper_bound(s)[r].item() == pytest.approx(diag - off, abs=1e-12)


def test_club_with_a_wrong_conditional_falls_below_the_truth():
    # vCLUB: a learned q(y|x) that is too broad (here the true mean with 9x the variance)
    # gives d rho^2 / (9 (1 - rho^2)) < I: CLUB is an upper bound only with the true
    # conditional.
    task = CorrelatedGaussian.from_mi(2.0, dim=4)
    g = torch.Generator().manual_seed(8)
    x, y = task.sample(128, batch_shape=(100,), generator=g, dtype=F64)
    sd = 3.0 * math.sqrt(1.0 - task.rho**2)
    broad = torch.distributions.Normal(task.rho * x[..., None, :, :], sd)
    log_q = broad.log_prob(y[..., :, None, :]).sum(-1)  # [R, K, K]: log q(y_i | x_j)
    value = club_upper_bound(log_q)
    closed = task.dim * task.rho**2 / (9.0 * (1.0 - task.rho**2))
    assert abs(value.mean().item() - closed) < 5 * value.std() / math.sqrt(value.numel())
    assert closed < task.mi - 1.0


@pytest.mark.parametrize(
    "args, exc, match",
    [
        ((torch.zeros(4), torch.zeros(3)), ValueError, "log_q must have shape"),
        ((torch.zeros(()), torch.zeros(())), ValueError, "log_cond must have shape"),
        ((torch.zeros(4, dtype=torch.long), torch.zeros(4)), TypeError, "log_cond"),
        ((torch.zeros(4), [0.0] * 4), TypeError, "log_q"),
    ],
)
def test_variational_marginal_bad_input(args, exc, match):
    with pytest.raises(exc, match=match):
        variational_marginal_upper_bound(*args)


def test_club_bad_input():
    with pytest.raises(ValueError, match="log_cond must have shape"):
        club_upper_bound(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="K >= 2"):
        club_upper_bound(torch.zeros(1, 1))
