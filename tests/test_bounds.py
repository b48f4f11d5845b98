"""Tests of mi_utils.bounds: brute force, batching, Gaussian ground truth, gradients, stability."""

from __future__ import annotations

import inspect
import math
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mi_utils import bounds
from mi_utils.bounds import (
    ba_lower_bound,
    dv_lower_bound,
    infonce_lower_bound,
    interpolated_lower_bound,
    js_fgan_objective,
    js_lower_bound,
    log_loo_mean_exp,
    logmeanexp_nodiag,
    mine_lower_bound,
    nwj_lower_bound,
    smile_lower_bound,
    tuba_lower_bound,
)
from mi_utils.bounds.numerics import value_with_grad_of
from mi_utils.tasks import (
    gaussian_log_conditional,
    gaussian_log_marginal,
    gaussian_log_ratio,
    mi_to_rho,
    sample_correlated_gaussian,
)

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rand_scores(shape, scale=1.0, seed=0, dtype=F64) -> torch.Tensor:
    return scale * torch.randn(shape, generator=gen(seed), dtype=dtype)


# ----------------------------------------------------------------------------- brute force
# Independent float64 references: explicit loops over i, j on Python floats (math.fsum).
def _offdiag(k):
    return [(i, j) for i in range(k) for j in range(k) if i != j]


def _lse(values):
    m = max(values)
    return m + math.log(math.fsum(math.exp(v - m) for v in values))


def bf_lme_nodiag(s):
    k = len(s)
    return math.log(math.fsum(math.exp(s[i][j]) for i, j in _offdiag(k)) / (k * (k - 1)))


def bf_tuba(s, la=None):
    k = len(s)
    la = la or [0.0] * k
    joint = math.fsum(s[i][i] - la[i] for i in range(k)) / k
    marg = math.fsum(math.exp(s[i][j] - la[i]) for i, j in _offdiag(k)) / (k * (k - 1))
    return 1.0 + joint - marg


def bf_nwj(s):
    k = len(s)
    joint = math.fsum(s[i][i] for i in range(k)) / k
    return joint - math.fsum(math.exp(s[i][j] - 1.0) for i, j in _offdiag(k)) / (k * (k - 1))


def bf_dv(s):
    k = len(s)
    return math.fsum(s[i][i] for i in range(k)) / k - bf_lme_nodiag(s)


def bf_infonce(s):
    k = len(s)
    terms = [s[i][i] - math.log(math.fsum(math.exp(s[i][j]) for j in range(k))) for i in range(k)]
    return math.log(k) + math.fsum(terms) / k


def _softplus(x):
    return math.log1p(math.exp(x))


def bf_js_fgan(s):
    k = len(s)
    joint = math.fsum(-_softplus(-s[i][i]) for i in range(k)) / k
    return joint - math.fsum(_softplus(s[i][j]) for i, j in _offdiag(k)) / (k * (k - 1))


def bf_smile(s, clip):
    k = len(s)
    c = (lambda v: v) if clip is None else (lambda v: min(max(v, -clip), clip))
    z = math.fsum(math.exp(c(s[i][j])) for i, j in _offdiag(k)) / (k * (k - 1))
    return math.fsum(s[i][i] for i in range(k)) / k - math.log(z)


def bf_loo(s):
    k = len(s)
    return [
        [_lse([s[i][c] for c in range(k) if c != j]) - math.log(k - 1) for j in range(k)]
        for i in range(k)
    ]


def bf_interpolated(s, la, alpha):
    k = len(s)
    m = bf_loo(s)
    b = [
        [math.log(alpha * math.exp(m[i][j]) + (1.0 - alpha) * math.exp(la[i])) for j in range(k)]
        for i in range(k)
    ]
    joint = math.fsum(s[i][i] - b[i][j] for i, j in _offdiag(k)) / (k * (k - 1))
    marg = math.fsum(math.exp(s[i][j] - b[i][i]) for i, j in _offdiag(k)) / (k * (k - 1))
    return 1.0 + joint - marg


def _lb(s):
    return torch.linspace(-1.0, 1.5, s.shape[-1], dtype=s.dtype)  # a fixed log a(y_i)


def _lb_list(s):
    return _lb(torch.as_tensor(s, dtype=F64)).tolist()


# (library call on a [K, K] float64 tensor, brute force on nested lists)
BRUTE_FORCE = {
    "logmeanexp_nodiag": (logmeanexp_nodiag, bf_lme_nodiag),
    "tuba_a1": (tuba_lower_bound, bf_tuba),
    "tuba_baseline": (lambda s: tuba_lower_bound(s, _lb(s)), lambda s: bf_tuba(s, _lb_list(s))),
    "nwj": (nwj_lower_bound, bf_nwj),
    "dv": (dv_lower_bound, bf_dv),
    "infonce": (infonce_lower_bound, bf_infonce),
    "js_value": (js_lower_bound, bf_tuba),
    "js_fgan": (js_fgan_objective, bf_js_fgan),
    "smile_clip1": (lambda s: smile_lower_bound(s, 1.0), lambda s: bf_smile(s, 1.0)),
    "smile_clip5": (lambda s: smile_lower_bound(s, 5.0), lambda s: bf_smile(s, 5.0)),
    "smile_none": (lambda s: smile_lower_bound(s, None), lambda s: bf_smile(s, None)),
    "mine_value": (lambda s: mine_lower_bound(s)[0], bf_dv),
    **{
        f"interpolated_a{a}": (
            lambda s, a=a: interpolated_lower_bound(s, _lb(s), a),
            lambda s, a=a: bf_interpolated(s, _lb_list(s), a),
        )
        for a in (0.0, 0.3, 0.999, 1.0)
    },
}


SIZES = (2, 3, 7, 16)
SCALES = (0.1, 1.0, 10.0, 30.0)
DISCREPANCY: dict[str, float] = {}


def _discrepancy(got: float, want: float) -> float:
    """Absolute error, relative once |want| > 1 (NWJ/TUBA reach -e^100 at scale 30)."""
    return abs(got - want) / max(1.0, abs(want))


@pytest.mark.parametrize("name", list(BRUTE_FORCE))
def test_against_brute_force(name):
    lib, brute = BRUTE_FORCE[name]
    worst = 0.0
    for k in SIZES:
        for scale in SCALES:
            for seed in range(2):
                s = rand_scores((k, k), scale, seed=100 * k + seed)
                got = lib(s)
                assert got.shape == () and got.dtype == F64
                worst = max(worst, _discrepancy(got.item(), brute(s.tolist())))
    DISCREPANCY[name] = worst
    print(f"\n{name}: largest float64 discrepancy vs brute force {worst:.2e}")
    assert worst < 1e-10


@pytest.mark.parametrize("k", SIZES)
@pytest.mark.parametrize("scale", SCALES)
def test_log_loo_mean_exp_brute_force(k, scale):
    s = rand_scores((k, k), scale, seed=k)
    got = log_loo_mean_exp(s)
    want = torch.tensor(bf_loo(s.tolist()), dtype=F64)
    worst = ((got - want).abs() / want.abs().clamp_min(1.0)).max().item()
    DISCREPANCY[f"log_loo_mean_exp K={k} scale={scale}"] = worst
    assert worst < 1e-10


def test_ba_brute_force():
    log_q = rand_scores((7,), 3.0)
    got = ba_lower_bound(log_q, 12.5).item()
    want = 12.5 + math.fsum(log_q.tolist()) / 7
    DISCREPANCY["ba"] = _discrepancy(got, want)
    assert DISCREPANCY["ba"] < 1e-12


# ----------------------------------------------------------------------------- batching
def _all_bounds(s, lb, alpha=0.3):
    """Every bound on the same scores, as a dict name -> [...] tensor."""
    return {
        "tuba": tuba_lower_bound(s, lb),
        "nwj": nwj_lower_bound(s),
        "dv": dv_lower_bound(s),
        "infonce": infonce_lower_bound(s),
        "js": js_lower_bound(s),
        "js_fgan": js_fgan_objective(s),
        "smile": smile_lower_bound(s, 2.0),
        "mine": mine_lower_bound(s)[0],
        "interpolated": interpolated_lower_bound(s, lb, alpha),
        "lme": logmeanexp_nodiag(s),
        "loo": log_loo_mean_exp(s),
        "ba": ba_lower_bound(lb, 3.0),
    }


@pytest.mark.parametrize("k", [2, 5])
def test_batched_equals_loop_over_runs(k):
    s = rand_scores((3, 2, k, k), 2.0, seed=1)
    lb = rand_scores((3, 2, k), 1.0, seed=2)
    batched = _all_bounds(s, lb)
    for a in range(3):
        for b in range(2):
            single = _all_bounds(s[a, b], lb[a, b])
            for name, value in batched.items():
                torch.testing.assert_close(value[a, b], single[name], rtol=1e-12, atol=1e-12)
    for name, value in batched.items():
        want = (3, 2, k, k) if name == "loo" else (3, 2)
        assert value.shape == want, name


def test_per_run_alpha_tensor_equals_per_run_float():
    s = rand_scores((3, 2, 6, 6), 3.0, seed=3)
    lb = rand_scores((3, 2, 6), 1.0, seed=4)
    alpha = torch.tensor([[0.0, 0.1], [0.5, 0.9], [0.999, 1.0]], dtype=F64)
    got = interpolated_lower_bound(s, lb, alpha)
    for a in range(3):
        for b in range(2):
            want = interpolated_lower_bound(s[a, b], lb[a, b], alpha[a, b].item())
            torch.testing.assert_close(got[a, b], want, rtol=1e-12, atol=1e-12)
    # A [2] alpha broadcasts over the first leading dim.
    got = interpolated_lower_bound(s, lb, alpha[1])
    for a in range(3):
        for b in range(2):
            want = interpolated_lower_bound(s[a, b], lb[a, b], alpha[1, b].item())
            torch.testing.assert_close(got[a, b], want, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- alpha limits
def test_interpolated_alpha_zero_is_tuba_and_alpha_one_is_loo_infonce():
    s = rand_scores((2, 9, 9), 4.0, seed=5)
    lb = rand_scores((2, 9), 2.0, seed=6)
    torch.testing.assert_close(interpolated_lower_bound(s, lb, 0.0), tuba_lower_bound(s, lb))
    torch.testing.assert_close(
        interpolated_lower_bound(s, lb, torch.zeros(2, dtype=F64)), tuba_lower_bound(s, lb)
    )
    # alpha = 1: the marginal term is exactly 1, leaving mean_{i != j} [f_ii - m_{-j}(y_i)].
    k = 9
    for r in range(2):
        rows = s[r].tolist()
        m = bf_loo(rows)
        want = math.fsum(rows[i][i] - m[i][j] for i, j in _offdiag(k)) / (k * (k - 1))
        for alpha in (1.0, torch.ones((), dtype=F64)):
            got = interpolated_lower_bound(s[r], lb[r], alpha).item()
            assert got == pytest.approx(want, abs=1e-12)
    # ... and it does not depend on the baseline.
    torch.testing.assert_close(
        interpolated_lower_bound(s, lb, 1.0), interpolated_lower_bound(s, 100 + lb, 1.0)
    )


@pytest.mark.parametrize("as_tensor", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_interpolated_alpha_endpoints_have_no_nan(alpha, as_tensor):
    s = rand_scores((2, 8, 8), 50.0, seed=7).requires_grad_()
    lb = rand_scores((2, 8), 5.0, seed=8).requires_grad_()
    a = torch.full((2,), alpha, dtype=F64, requires_grad=True) if as_tensor else alpha
    value = interpolated_lower_bound(s, lb, a)
    inputs = [s, lb, a] if as_tensor else [s, lb]
    # At float alpha = 1 the baseline is unused: its gradient is materialised as zeros.
    grads = torch.autograd.grad(value.sum(), inputs, allow_unused=True, materialize_grads=True)
    assert torch.isfinite(value).all()
    for g in grads:
        assert torch.isfinite(g).all()
    if as_tensor:  # the tensor path agrees with the float branches
        torch.testing.assert_close(value, interpolated_lower_bound(s, lb, alpha))


# ----------------------------------------------------------------------------- Gaussian truth
@pytest.fixture(scope="module")
def gaussian():
    """2000 batches of K = 64 from the d = 20, I = 2 nats task, in float64."""
    mi, d, runs, k = 2.0, 20, 2000, 64
    rho = torch.full((runs,), mi_to_rho(mi, d), dtype=F64)
    x, y = sample_correlated_gaussian(k, d, rho, generator=gen(11), dtype=F64)
    return {
        "mi": mi,
        "k": k,
        "ratio": gaussian_log_ratio(x, y, rho),
        "log_cond": gaussian_log_conditional(x, y, rho),
        "log_marg": gaussian_log_marginal(y),
    }


def _mean_se(v: torch.Tensor) -> tuple[float, float]:
    return v.mean().item(), v.std().item() / math.sqrt(v.numel())


def _assert_unbiased(v: torch.Tensor, truth: float, label: str):
    mean, se = _mean_se(v)
    print(f"\n{label}: mean {mean:.4f} ± {se:.4f} (truth {truth:.4f})")
    assert abs(mean - truth) < 4 * se, (label, mean, se, truth)


def test_nwj_and_tuba_are_unbiased_at_the_optimal_critic(gaussian):
    mi = gaussian["mi"]
    _assert_unbiased(nwj_lower_bound(gaussian["ratio"] + 1.0), mi, "NWJ(f* + 1)")
    _assert_unbiased(
        tuba_lower_bound(gaussian["log_cond"], gaussian["log_marg"]), mi, "TUBA(log p(y|x), p(y))"
    )
    _assert_unbiased(
        interpolated_lower_bound(gaussian["log_cond"], gaussian["log_marg"], 0.0), mi, "I_0"
    )
    # Small alpha (the paper's low-bias end): the bias, O(alpha), is below Monte Carlo error.
    _assert_unbiased(
        interpolated_lower_bound(gaussian["log_cond"], gaussian["log_marg"], 0.01), mi, "I_0.01"
    )


def test_js_value_is_tight_where_nwj_at_the_js_optimum_loses_one_over_e(gaussian):
    mi = gaussian["mi"]
    _assert_unbiased(js_lower_bound(gaussian["ratio"]), mi, "JS value at f*")
    _assert_unbiased(nwj_lower_bound(gaussian["ratio"]), mi - 1 / math.e, "NWJ(f*)")


def test_interpolated_at_the_true_densities_is_a_biased_lower_bound(gaussian):
    # With f = log p(y|x) and a = p(y), I_alpha is unbiased only at alpha = 0: for alpha > 0 the
    # critic ratio e^f / (alpha m + (1 - alpha) a) differs from p(y|x)/p(y) because the
    # leave-one-out mean m is noisy, so the estimate stays a lower bound but sits below I.
    mi = gaussian["mi"]
    means = []
    for alpha in (0.5, 1.0):
        v = interpolated_lower_bound(gaussian["log_cond"], gaussian["log_marg"], alpha)
        mean, se = _mean_se(v)
        print(f"\nI_{alpha}: mean {mean:.4f} ± {se:.4f} (truth {mi})")
        assert mean < mi - 4 * se
        means.append(mean)
    assert means[0] > means[1]  # more NWJ-like, less bias here


def test_infonce_is_at_most_log_k_on_every_gaussian_batch(gaussian):
    v = infonce_lower_bound(gaussian["ratio"])
    assert (v <= math.log(gaussian["k"])).all()
    assert v.mean().item() < gaussian["mi"]  # biased low at I = 2, K = 64 ...
    assert v.mean().item() > gaussian["mi"] - 0.5  # ... but not absurdly


def test_infonce_is_accurate_when_mi_is_much_below_log_k():
    mi, d, k = 0.5, 20, 512
    rho = torch.full((8,), mi_to_rho(mi, d), dtype=F64)
    values = []
    for chunk in range(5):
        x, y = sample_correlated_gaussian(k, d, rho, generator=gen(20 + chunk), dtype=F64)
        values.append(infonce_lower_bound(gaussian_log_ratio(x, y, rho)))
    mean = torch.cat(values).mean().item()
    print(f"\nInfoNCE at I = 0.5, K = 512: {mean:.4f}")
    assert abs(mean - mi) < 0.05


@pytest.mark.parametrize("alpha", [0.1, 0.5, 0.9])
def test_interpolated_ceiling_with_a_peaked_critic(alpha):
    # A very peaked critic (100 x the log ratio at I = 30 nats, K = 16) saturates I_alpha.
    k, d = 16, 20
    rho = torch.full((200,), mi_to_rho(30.0, d), dtype=F64)
    x, y = sample_correlated_gaussian(k, d, rho, generator=gen(30), dtype=F64)
    s = 100.0 * gaussian_log_ratio(x, y, rho)
    # Negligible baseline (far below every score of its row): the marginal term tends to
    # 1/alpha, so I_alpha <= log(K/alpha).
    small = interpolated_lower_bound(s, s.amin(-1) - 100.0, alpha)
    assert small.mean().item() <= math.log(k / alpha)
    want = math.log((k - 1) / alpha) + 1.0 - 1.0 / alpha
    assert small.mean().item() == pytest.approx(want, abs=1e-6)
    # Baseline between the marginal and joint scores: the marginal term vanishes and the
    # estimate reaches the per-batch ceiling 1 + log((K-1)/alpha), above log(K/alpha).
    mid = interpolated_lower_bound(s, torch.zeros((200, k), dtype=F64), alpha)
    assert mid.max().item() <= 1.0 + math.log((k - 1) / alpha) + 1e-9
    assert mid.mean().item() == pytest.approx(1.0 + math.log((k - 1) / alpha), abs=1e-6)


# ----------------------------------------------------------------------------- properties
@settings(max_examples=100, deadline=None)
@given(
    k=st.integers(2, 24),
    log_scale=st.floats(-3.0, 3.0),
    seed=st.integers(0, 2**31 - 1),
    f32=st.booleans(),
)
def test_infonce_never_exceeds_log_k(k, log_scale, seed, f32):
    s = rand_scores((k, k), 10.0**log_scale, seed, torch.float32 if f32 else F64)
    s = s + torch.eye(k, dtype=s.dtype) * 10.0**log_scale  # favour the diagonal
    # Exactly, in floating point: log K (rounded to the dtype) plus a mean of log-softmaxes <= 0.
    assert infonce_lower_bound(s).item() <= torch.tensor(math.log(k), dtype=s.dtype).item()


@settings(max_examples=100, deadline=None)
@given(
    k=st.integers(2, 24),
    log_scale=st.floats(-3.0, 3.0),
    log_alpha=st.floats(-6.0, 0.0),
    baseline_shift=st.floats(-100.0, 100.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_interpolated_never_exceeds_one_plus_log_k_minus_one_over_alpha(
    k, log_scale, log_alpha, baseline_shift, seed
):
    s = rand_scores((k, k), 10.0**log_scale, seed) + 10.0**log_scale * torch.eye(k, dtype=F64)
    alpha = 10.0**log_alpha
    lb = torch.full((k,), baseline_shift, dtype=F64)
    assert interpolated_lower_bound(s, lb, alpha).item() <= 1.0 + math.log((k - 1) / alpha) + 1e-9


# ----------------------------------------------------------------------------- gradients
def test_js_gradient_is_the_fgan_gradient_and_value_is_tuba():
    s = rand_scores((2, 7, 7), 3.0, seed=9).requires_grad_()
    (g_js,) = torch.autograd.grad(js_lower_bound(s).sum(), s)
    (g_fgan,) = torch.autograd.grad(js_fgan_objective(s).sum(), s)
    (g_tuba,) = torch.autograd.grad(tuba_lower_bound(s).sum(), s)
    torch.testing.assert_close(g_js, g_fgan, rtol=0, atol=1e-15)
    assert not torch.allclose(g_js, g_tuba)  # the value's own gradient is not used
    torch.testing.assert_close(js_lower_bound(s), tuba_lower_bound(s))


def test_smile_gradient_is_the_fgan_gradient():
    s = rand_scores((7, 7), 3.0, seed=10).requires_grad_()
    (g_smile,) = torch.autograd.grad(smile_lower_bound(s, 1.0), s)
    (g_fgan,) = torch.autograd.grad(js_fgan_objective(s), s)
    torch.testing.assert_close(g_smile, g_fgan, rtol=0, atol=1e-15)


def test_mine_value_gradient_and_ema_state():
    k, rate = 6, 0.25
    s1 = rand_scores((k, k), 1.5, seed=11).requires_grad_()
    s2 = rand_scores((k, k), 1.5, seed=12).requires_grad_()
    z1 = math.fsum(
        math.exp(v) for i, row in enumerate(s1.tolist()) for j, v in enumerate(row) if i != j
    ) / (k * (k - 1))
    z2 = math.fsum(
        math.exp(v) for i, row in enumerate(s2.tolist()) for j, v in enumerate(row) if i != j
    ) / (k * (k - 1))

    value1, state1 = mine_lower_bound(s1, ema_rate=rate)
    assert state1.item() == pytest.approx(math.log(z1), abs=1e-12) and not state1.requires_grad
    value2, state2 = mine_lower_bound(s2, state1, ema_rate=rate)
    assert state2.item() == pytest.approx(math.log((1 - rate) * z1 + rate * z2), abs=1e-12)
    torch.testing.assert_close(value2, dv_lower_bound(s2))

    # Gradient: d/ds [mean diag s - Z(s) / EMA_new]: 1/K on the diagonal,
    # -exp(s_ij) / (K (K-1) EMA_new) off it.
    ema = (1 - rate) * z1 + rate * z2
    want = [
        [1.0 / k if i == j else -math.exp(v) / (k * (k - 1) * ema) for j, v in enumerate(row)]
        for i, row in enumerate(s2.tolist())
    ]
    (got,) = torch.autograd.grad(value2, s2)
    torch.testing.assert_close(got, torch.tensor(want, dtype=F64), rtol=1e-12, atol=1e-14)
    # On the first call (EMA = this batch's Z) the gradient is exactly the DV gradient.
    (g1,) = torch.autograd.grad(value1, s1)
    (g_dv,) = torch.autograd.grad(dv_lower_bound(s1), s1)
    torch.testing.assert_close(g1, g_dv)


def test_mine_state_is_batched():
    s = rand_scores((3, 2, 5, 5), 1.0, seed=13)
    _, state = mine_lower_bound(s)
    value, state2 = mine_lower_bound(s.flip(-1), state, ema_rate=0.1)
    assert state.shape == state2.shape == value.shape == (3, 2)
    for a in range(3):
        for b in range(2):
            _, st1 = mine_lower_bound(s[a, b])
            _, st2 = mine_lower_bound(s[a, b].flip(-1), st1, ema_rate=0.1)
            torch.testing.assert_close(state2[a, b], st2)


# ----------------------------------------------------------------------------- stability
def _huge_scores(k=16, off_low=-1e4, off_high=1e4, seed=14):
    off = torch.empty(k, k).uniform_(off_low, off_high, generator=gen(seed))
    return (off + torch.eye(k) * (1e4 - off)).requires_grad_()  # float32, diagonal = 1e4


def _finite_value_and_grad(fn, s):
    value = fn(s)
    (grad,) = torch.autograd.grad(value, s)
    return torch.isfinite(value).item() and torch.isfinite(grad).all().item()


@pytest.mark.parametrize(
    "name, fn",
    [
        ("infonce", infonce_lower_bound),
        ("dv", dv_lower_bound),
        ("smile", lambda s: smile_lower_bound(s, 5.0)),
        ("smile_none", lambda s: smile_lower_bound(s, None)),
        ("mine", lambda s: mine_lower_bound(s)[0]),
        *[
            (f"interp{a}", lambda s, a=a: interpolated_lower_bound(s, s.detach().amax(-1), a))
            for a in (0.0, 0.3, 0.999, 1.0)
        ],
        ("interp0.3_zero_baseline", lambda s: interpolated_lower_bound(s, torch.zeros(16), 0.3)),
    ],
)
def test_float32_huge_scores_stay_finite(name, fn):
    assert _finite_value_and_grad(fn, _huge_scores()), name


def test_js_with_huge_scores():
    # Off-diagonal scores up to -1e4: the bound is finite, and so is the float32 result.
    assert _finite_value_and_grad(js_lower_bound, _huge_scores(off_high=0.0))
    # Off-diagonal scores up to +1e4: the bound itself is -e^1e4 (-inf in float), never NaN,
    # and the f-GAN gradient stays finite.
    s = _huge_scores()
    value = js_lower_bound(s)
    (grad,) = torch.autograd.grad(value, s)
    assert value.item() == float("-inf") and torch.isfinite(grad).all()


@pytest.mark.parametrize("dtype, tol", [(F64, 1e-12), (torch.float32, 1e-5)])
def test_log_loo_mean_exp_with_a_dominant_entry(dtype, tol):
    k = 6
    s = rand_scores((k, k), 1.0, seed=15, dtype=dtype)
    s[torch.arange(k), torch.randperm(k, generator=gen(16))] += 1e4  # one huge entry per row
    s[0, :2] = torch.tensor([1e4, 1e4], dtype=dtype)  # a tie
    s.requires_grad_()
    got = log_loo_mean_exp(s)
    (grad,) = torch.autograd.grad(got.sum(), s)
    assert torch.isfinite(got).all() and torch.isfinite(grad).all()
    want = torch.tensor(bf_loo(s.detach().double().tolist()), dtype=F64)
    err = ((got.double() - want).abs() / want.abs().clamp_min(1.0)).max().item()
    print(f"\nlog_loo_mean_exp {dtype}, dominant entry 1e4: largest relative error {err:.1e}")
    assert err < tol
    # The dominant column's leave-one-out value is O(1), not 1e4 or -inf.
    assert got.detach()[1:].amin(-1).abs().max() < 10


def test_log_loo_mean_exp_k2_underflow_has_finite_gradient():
    s = torch.tensor([[0.0, -200.0], [300.0, 0.0]], requires_grad=True)  # float32
    got = log_loo_mean_exp(s)
    torch.testing.assert_close(got.detach(), torch.tensor([[-200.0, 0.0], [0.0, 300.0]]))
    (grad,) = torch.autograd.grad(got.sum(), s)
    torch.testing.assert_close(grad, torch.ones(2, 2))


# ----------------------------------------------------------------------------- bad inputs
S3 = torch.zeros(3, 3)
BAD = [
    (lambda: dv_lower_bound([[0.0, 1.0], [1.0, 0.0]]), TypeError, "scores"),
    (lambda: infonce_lower_bound(torch.zeros(3, 3, dtype=torch.int64)), TypeError, "scores"),
    (lambda: nwj_lower_bound(torch.zeros(3, 3, dtype=torch.bool)), TypeError, "scores"),
    (lambda: tuba_lower_bound(torch.zeros(3)), ValueError, r"scores.*\[\.\.\., K, K\].*\(3,\)"),
    (lambda: js_lower_bound(torch.zeros(3, 4)), ValueError, r"scores.*\(3, 4\)"),
    (lambda: smile_lower_bound(torch.zeros(2, 1, 1), 1.0), ValueError, "K >= 2"),
    (lambda: logmeanexp_nodiag(torch.zeros(1, 1)), ValueError, "K >= 2"),
    (lambda: log_loo_mean_exp(torch.zeros(4, 5)), ValueError, "scores"),
    (lambda: tuba_lower_bound(S3, torch.zeros(4)), ValueError, r"log_baseline.*\(3,\).*\(4,\)"),
    (lambda: tuba_lower_bound(S3, torch.zeros(3, 3)), ValueError, "log_baseline"),
    (lambda: tuba_lower_bound(S3, torch.zeros(3, dtype=torch.int32)), TypeError, "log_baseline"),
    (lambda: interpolated_lower_bound(S3, torch.zeros(2), 0.5), ValueError, "log_baseline"),
    (lambda: interpolated_lower_bound(S3, torch.zeros(3), 1.5), ValueError, r"alpha.*\[0, 1\]"),
    (lambda: interpolated_lower_bound(S3, torch.zeros(3), -0.1), ValueError, "alpha"),
    (lambda: interpolated_lower_bound(S3, torch.zeros(3), float("nan")), ValueError, "alpha"),
    (lambda: interpolated_lower_bound(S3, torch.zeros(3), "0.5"), TypeError, "alpha"),
    (lambda: interpolated_lower_bound(S3, torch.zeros(3), True), TypeError, "alpha"),
    (
        lambda: interpolated_lower_bound(torch.zeros(2, 3, 3), torch.zeros(2, 3), torch.ones(3)),
        ValueError,
        r"alpha.*\(2,\)",
    ),
    (lambda: interpolated_lower_bound(S3, torch.zeros(3), torch.ones(1, 1)), ValueError, "alpha"),
    (
        lambda: interpolated_lower_bound(S3, torch.zeros(3), torch.tensor(1)),
        TypeError,
        "alpha",
    ),
    (lambda: smile_lower_bound(S3, 0.0), ValueError, "clip"),
    (lambda: smile_lower_bound(S3, -1.0), ValueError, "clip"),
    (lambda: smile_lower_bound(S3, float("nan")), ValueError, "clip"),
    (lambda: smile_lower_bound(S3, "1"), TypeError, "clip"),
    (lambda: mine_lower_bound(S3, ema_rate=0.0), ValueError, r"ema_rate.*\(0, 1"),
    (lambda: mine_lower_bound(S3, ema_rate=1.5), ValueError, "ema_rate"),
    (lambda: mine_lower_bound(S3, ema_rate=float("nan")), ValueError, "ema_rate"),
    (lambda: mine_lower_bound(S3, torch.zeros(2)), ValueError, "log_ema"),
    (lambda: mine_lower_bound(S3, 0.0), TypeError, "log_ema"),
    (lambda: ba_lower_bound(torch.zeros(3, dtype=torch.int64), 1.0), TypeError, "log_q_x_given_y"),
    (lambda: ba_lower_bound(torch.zeros(()), 1.0), ValueError, "log_q_x_given_y"),
    (lambda: ba_lower_bound(torch.zeros(2, 3), "h"), TypeError, "entropy_x"),
    (lambda: ba_lower_bound(torch.zeros(2, 3), torch.zeros(3)), ValueError, "entropy_x"),
]


@pytest.mark.parametrize("call, exc, match", BAD)
def test_bad_input_raises_naming_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ----------------------------------------------------------------------------- API, devices
def test_public_api_documented_with_a_reference():
    for name in bounds.__all__:
        obj = getattr(bounds, name)
        if not callable(obj):
            continue
        doc = obj.__doc__ or ""
        assert "Reference" in doc and re.search(r"\((19|20)\d\d\)|(19|20)\d\d\)", doc), name
    assert "Poole" in (bounds.__doc__ or "")


@CUDA
def test_cuda_float32_matches_cpu():
    s = rand_scores((3, 16, 16), 3.0, seed=17, dtype=torch.float32)
    lb = rand_scores((3, 16), 1.0, seed=18, dtype=torch.float32)
    cpu = _all_bounds(s, lb)
    gpu = _all_bounds(s.cuda(), lb.cuda(), alpha=0.3)
    gpu_alpha = interpolated_lower_bound(s.cuda(), lb.cuda(), torch.full((3,), 0.3).cuda())
    _, state = mine_lower_bound(s.cuda())
    _, state = mine_lower_bound(s.cuda().flip(-1), state)
    for name, value in gpu.items():
        assert value.is_cuda and value.dtype == torch.float32, name
        torch.testing.assert_close(value.cpu(), cpu[name], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gpu_alpha.cpu(), cpu["interpolated"], rtol=1e-5, atol=1e-5)
    assert state.is_cuda and state.shape == (3,)


# ----------------------------------------------------------------------------- regressions
# Each test here failed on the version before the fix it guards (the docstrings say how).
HALF = (torch.float16, torch.bfloat16)
INF = math.inf


def _lbs(s):  # the fixed log a(y_i) of every run, on the device of s
    k = s.shape[-1]
    return torch.linspace(-1.0, 1.5, k, dtype=s.dtype, device=s.device).expand(s.shape[:-1])


# Every public function, as a callable on a [..., K, K] score tensor.
EVERY = {
    "logmeanexp_nodiag": logmeanexp_nodiag,
    "log_loo_mean_exp": log_loo_mean_exp,
    "tuba": tuba_lower_bound,
    "tuba_baseline": lambda s: tuba_lower_bound(s, _lbs(s)),
    "nwj": nwj_lower_bound,
    "dv": dv_lower_bound,
    "infonce": infonce_lower_bound,
    "js_fgan": js_fgan_objective,
    "js": js_lower_bound,
    "smile_clip2": lambda s: smile_lower_bound(s, 2.0),
    "smile_none": lambda s: smile_lower_bound(s, None),
    "mine": lambda s: mine_lower_bound(s)[0],
    "mine_step2": lambda s: mine_lower_bound(s, mine_lower_bound(s.flip(-1))[1], 0.3)[0],
    "mine_state": lambda s: mine_lower_bound(s, mine_lower_bound(s.flip(-1))[1], 0.3)[1],
    **{
        f"interpolated_a{a}": (lambda s, a=a: interpolated_lower_bound(s, _lbs(s), a))
        for a in (0.0, 0.5, 1.0)
    },
    "interpolated_tensor_alpha": lambda s: interpolated_lower_bound(s, None, torch.tensor(0.3)),
    "ba": lambda s: ba_lower_bound(s.diagonal(dim1=-2, dim2=-1) - 3.0, 4.5),
}


def _half_cases():
    """The reported failures (K(K-1) terms summed in 16 bits) and a random K = 64 batch."""
    noisy = 3.0 * torch.randn(2, 64, 64, generator=gen(40)) + 4.0 * torch.eye(64)
    return {
        "eye128x10": 10.0 * torch.eye(128),
        "full64x20": torch.full((64, 64), 20.0),
        "noisy": noisy,
    }


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("name", list(EVERY))
def test_regression_half_precision_matches_float64(name, dtype):
    """Fix 1: float16/bfloat16 scores are computed in float32 and returned in their own dtype.

    Before: interpolated_lower_bound(10 * eye(128) in float16) was inf, js_fgan_objective of a
    float16 matrix of 20s was -inf and js_lower_bound on it NaN (sums of K(K-1) terms in 16 bits).
    """
    fn, eps = EVERY[name], torch.finfo(dtype).eps
    for case, s32 in _half_cases().items():
        s = s32.to(dtype).requires_grad_()
        got, want = fn(s), fn(s.detach().double())  # float64 on the same (rounded) scores
        assert got.dtype == dtype and got.shape == want.shape, case
        assert not got.isnan().any(), case
        # Within the half dtype's resolution of the float64 value (rounded to the dtype, since
        # e.g. JS at 20s is -4.9e8, -inf in float16).
        torch.testing.assert_close(
            got.double(), want.to(dtype).double(), rtol=eps, atol=eps, msg=f"{name} {case}"
        )
        if got.requires_grad:  # (MINE's state is detached)
            (grad,) = torch.autograd.grad(got.sum(), s)
            s64 = s.detach().double().requires_grad_()
            (grad64,) = torch.autograd.grad(fn(s64).sum(), s64)
            assert grad.dtype == dtype and not grad.isnan().any(), case
            # (-e^20 / (K(K-1)) overflows float16 too: compare with the rounded float64 gradient)
            atol = 4 * eps * grad64.abs().max().item()
            torch.testing.assert_close(
                grad.double(), grad64.to(dtype).double(), rtol=4 * eps, atol=atol, msg=case
            )


def test_regression_half_precision_reported_examples():
    """Fix 1: the three reported values."""
    s = 10.0 * torch.eye(128)
    got = interpolated_lower_bound(s.half(), None, 0.5)
    assert got.dtype == torch.float16
    assert got.item() == pytest.approx(
        interpolated_lower_bound(s.double(), None, 0.5).item(), abs=4e-3
    )
    assert js_fgan_objective(torch.full((64, 64), 20.0).half()).item() == pytest.approx(-20.0)
    js = js_lower_bound(torch.full((64, 64), 20.0, dtype=torch.bfloat16))
    assert js.dtype == torch.bfloat16 and not js.isnan()
    assert js.item() == pytest.approx(21.0 - math.exp(20.0), rel=1e-2)


INF_CASES = {  # (row, column, value) of one infinite entry
    "+inf off-diagonal": (0, 1, INF),
    "-inf off-diagonal": (0, 1, -INF),
    "+inf diagonal": (0, 0, INF),
    "-inf diagonal": (0, 0, -INF),
}


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("case", list(INF_CASES))
@pytest.mark.parametrize("name", list(EVERY))
def test_regression_infinite_scores_give_the_limit(name, case, k):
    """Fix 2: every bound x one infinite score -> its limit, never NaN, finite gradients.

    The limit is taken from the same bound with the infinity replaced by +-1e6 (float64):
    above 1e3 in absolute value it is +-inf, else the finite limit (the remaining terms are
    e^-1e6 away). Run 0 of the batch stays finite and must not notice run 1's infinity.
    Before: the value/gradient split a + (b - a).detach() gave NaN for JS, SMILE and MINE,
    and logsumexp / log_softmax gave NaN for InfoNCE, I_alpha and the leave-one-out means.
    """
    fn = EVERY[name]
    row, col, value = INF_CASES[case]
    base = rand_scores((k, k), 1.5, seed=41 + k)
    big = base.clone()
    big[row, col] = math.copysign(1e6, value)
    limit = fn(torch.stack([base, big]))[1]
    want = torch.where(limit.abs() > 1e3, limit.sign() * INF, limit)
    s = base.clone()
    s[row, col] = value
    batch = torch.stack([base, s]).requires_grad_()
    got = fn(batch)
    assert not got.isnan().any(), f"{name}, {case}: {got}"
    torch.testing.assert_close(got[1], want, rtol=0, atol=1e-9, msg=f"{name}, {case}")
    torch.testing.assert_close(got[0], fn(base), rtol=0, atol=1e-12)
    if got.requires_grad:
        (grad,) = torch.autograd.grad(got.sum(), batch)
        assert not grad.isnan().any(), f"{name}, {case}: NaN gradient"
        if torch.isfinite(got[1]).all():
            assert torch.isfinite(grad[1]).all(), f"{name}, {case}: gradient not finite"
        b0 = base.clone().requires_grad_()
        (grad0,) = torch.autograd.grad(fn(b0).sum(), b0)
        torch.testing.assert_close(grad[0], grad0, rtol=0, atol=1e-12)


def test_regression_infinite_scores_reported_examples_and_hand_limits():
    """Fix 2: the reported NaNs, and limits worked out by hand."""
    s = torch.tensor([[0.0, INF], [0.0, 0.0]])
    assert js_lower_bound(s).item() == dv_lower_bound(s).item() == -INF
    s = torch.tensor([[-INF, 0.0], [1.0, 0.0]])
    assert mine_lower_bound(s)[0].item() == dv_lower_bound(s).item() == -INF
    s = torch.tensor([[0.0, -INF], [1.0, 0.0]])
    assert mine_lower_bound(s)[0].item() == pytest.approx(dv_lower_bound(s).item())
    k = 5
    s = torch.diag(torch.full((k,), INF))  # +inf diagonal, zeros elsewhere
    assert infonce_lower_bound(s).item() == pytest.approx(math.log(k))
    # Two +inf entries in row 0 (one on the diagonal): its softmax splits evenly.
    s = torch.zeros(k, k)
    s[0, :2] = INF
    want = math.log(k) + (-math.log(2.0) - 4 * math.log(k)) / k
    assert infonce_lower_bound(s).item() == pytest.approx(want)
    # +inf on and off the diagonal: the partition term wins in every partition bound.
    s = rand_scores((k, k), 1.0, seed=42)
    s[0, 0] = s[0, 1] = s[2, 2] = INF
    for name in ("tuba", "nwj", "dv", "js", "smile_none", "mine", "interpolated_a0.0"):
        assert EVERY[name](s).item() == -INF, name
    # I_alpha with f_00 = +inf: row 0's joint terms tend to log((K-1)/alpha).
    alpha, s = 0.5, rand_scores((k, k), 1.0, seed=42)
    big = s.clone()
    big[0, 0] = 50.0
    s[0, 0] = INF
    got = interpolated_lower_bound(s, None, alpha).item()
    assert got == pytest.approx(interpolated_lower_bound(big, None, alpha).item(), abs=1e-12)


def test_regression_value_with_grad_of_helper():
    """Fix 2: value with the surrogate's gradient; zero gradient where the surrogate is infinite."""
    value = torch.tensor([INF, -INF, 1.0, -INF, 2.0], dtype=F64)
    surrogate = torch.tensor([1.0, -INF, INF, 3.0, float("nan")], dtype=F64, requires_grad=True)
    out = value_with_grad_of(value, surrogate)
    torch.testing.assert_close(out.detach(), value)
    (grad,) = torch.autograd.grad(out.sum(), surrogate)
    torch.testing.assert_close(grad, torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0], dtype=F64))


def bf_interpolated_log(s, la, alpha):
    """bf_interpolated in log space: no overflow at scores of 1e8 (float64 loops)."""
    k, m = len(s), bf_loo(s)

    def log_b(i, j):
        terms = [math.log(alpha) + m[i][j]] if alpha > 0 else []
        return _lse(terms + ([math.log1p(-alpha) + la[i]] if alpha < 1 else []))

    joint = math.fsum(s[i][i] - log_b(i, j) for i, j in _offdiag(k)) / (k * (k - 1))
    marg = math.fsum(math.exp(s[i][j] - log_b(i, i)) for i, j in _offdiag(k)) / (k * (k - 1))
    return 1.0 + joint - marg


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("kind", ["eye", "eye+noise", "shift+noise"])
def test_regression_interpolated_float32_large_scores(kind, alpha):
    """Fix 3: no cancellation of f_ii - b_ij at large float32 scores (scale 1e2 .. 1e8).

    Before: interpolated_lower_bound(1e8 * eye(8), None, 0.5) was 0.0 (float64: 2.639), and it
    drifted already at 1e6 and 1e7. Reference: float64 loops on the same float32 scores.
    """
    k, worst = 8, 0.0
    noise = torch.randn(k, k, generator=gen(43))
    for scale in (1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8):
        s = {"eye": scale * torch.eye(k), "eye+noise": scale * torch.eye(k) + noise}.get(
            kind,
            scale + noise,  # every score near `scale`, with the baseline there too
        )
        lb = _lb(s) + (scale if kind == "shift+noise" else 0.0)
        lb = None if kind == "eye" else lb
        got = interpolated_lower_bound(s, lb, alpha).item()
        la = [0.0] * k if lb is None else lb.double().tolist()
        want = bf_interpolated_log(s.double().tolist(), la, alpha)
        err = _discrepancy(got, want)
        assert err < 1e-5, f"scale {scale:g}: got {got}, float64 {want}"
        worst = max(worst, err)
    print(f"\nI_{alpha} float32 {kind}, scale 1e2..1e8: largest relative error {worst:.1e}")


@pytest.mark.parametrize("kind", ["randn", "eye+noise"])
def test_log_loo_mean_exp_float32_large_scores(kind):
    """With fix 3: the leave-one-out means stay accurate at large float32 scores (this one
    already held before)."""
    k = 8
    noise = torch.randn(k, k, generator=gen(44))
    for scale in (1e2, 1e4, 1e6, 1e8):
        s = scale * noise if kind == "randn" else scale * torch.eye(k) + noise
        want = torch.tensor(bf_loo(s.double().tolist()), dtype=F64)
        err = ((log_loo_mean_exp(s).double() - want).abs() / want.abs().clamp_min(1.0)).max()
        assert err.item() < 1e-5, f"scale {scale:g}"


def test_regression_alpha_numpy_and_tensor_values():
    """Fix 4: alpha may be a NumPy scalar, a 0-d or n-d NumPy array or a floating tensor.

    Before: np.array(0.5) raised TypeError while np.float64(0.5) was accepted, and a tensor alpha
    outside [0, 1] was silently used.
    """
    s, lb = rand_scores((2, 5, 5), 2.0, seed=45), rand_scores((2, 5), 1.0, seed=46)
    want = interpolated_lower_bound(s, lb, 0.5)
    for alpha in (np.float64(0.5), np.float32(0.5), np.array(0.5), np.array(0.5, np.float32)):
        torch.testing.assert_close(interpolated_lower_bound(s, lb, alpha), want, msg=repr(alpha))
    per_run = interpolated_lower_bound(s, lb, np.array([0.2, 0.7]))
    torch.testing.assert_close(per_run, interpolated_lower_bound(s, lb, torch.tensor([0.2, 0.7])))


@pytest.mark.parametrize(
    "alpha, exc",
    [
        (torch.tensor(1.5), ValueError),
        (torch.tensor(-0.1, dtype=F64), ValueError),
        (torch.tensor(float("nan")), ValueError),
        (torch.tensor([0.5, 1.01]), ValueError),
        (np.array(1.5), ValueError),
        (np.array([0.2, -0.2]), ValueError),
        (np.array([0.2, np.nan]), ValueError),
        (np.array(True), TypeError),
        (np.array(["0.5"]), TypeError),
    ],
    ids=repr,
)
def test_regression_bad_alpha_values_raise(alpha, exc):
    """Fix 4: the values of array and tensor alphas are checked, and the error names alpha."""
    with pytest.raises(exc, match="alpha"):
        interpolated_lower_bound(torch.zeros(2, 3, 3), torch.zeros(2, 3), alpha)


def test_regression_docstrings():
    """Fix 5: TUBA's marginal term is a mean of exps; I_alpha's log_baseline has no default.
    Also: the module docstring documents half precision and infinite scores."""
    tuba_doc = " ".join(tuba_lower_bound.__doc__.split())
    assert "mean of exps" in tuba_doc and "marginal term is a log-mean-exp" not in tuba_doc
    doc = " ".join(interpolated_lower_bound.__doc__.split())
    assert "pass ``None`` for" in doc and "``None`` means" not in doc
    params = inspect.signature(interpolated_lower_bound).parameters
    assert list(params) == ["scores", "log_baseline", "alpha"]
    assert params["log_baseline"].default is inspect.Parameter.empty
    module_doc = bounds.lower.__doc__
    assert all(word in module_doc for word in ("float16", "bfloat16", "+inf", "-inf", "NaN"))


@CUDA
def test_regression_cuda_half_and_infinite_scores_without_host_sync():
    """Fixes 1 and 2 on the GPU: no host sync (Python-float alpha), the CPU's values."""
    s = rand_scores((2, 16, 16), 3.0, seed=47, dtype=torch.float32)
    s[1, 0, 1], s[1, 2, 2] = INF, -INF
    names = [n for n in EVERY if n != "interpolated_tensor_alpha"]  # (a tensor alpha syncs)
    for dtype in (torch.float32, *HALF):
        x = s.to(dtype)
        cpu, xc = {n: EVERY[n](x) for n in names}, x.cuda()
        for n in names:  # warm-up, outside the sync check
            EVERY[n](xc)
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                gpu = {n: EVERY[n](xc) for n in names}
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert not [w for w in caught if "synchroniz" in str(w.message)], dtype
        tol = 1e-5 if dtype == torch.float32 else torch.finfo(dtype).eps
        for n in names:
            assert gpu[n].is_cuda and gpu[n].dtype == dtype, n
            torch.testing.assert_close(gpu[n].cpu(), cpu[n], rtol=tol, atol=tol, msg=n)


# ----------------------------------------------------------------------------- summary
def test_report_largest_brute_force_discrepancy():
    """Runs last in file order: the largest float64 discrepancy over all comparisons above."""
    if not DISCREPANCY:
        pytest.skip("run together with the brute-force tests")
    name = max(DISCREPANCY, key=DISCREPANCY.get)
    print(
        f"\nlargest float64 discrepancy vs brute force over {len(DISCREPANCY)} comparisons: "
        f"{DISCREPANCY[name]:.2e} ({name})"
    )
    assert DISCREPANCY[name] < 1e-10
