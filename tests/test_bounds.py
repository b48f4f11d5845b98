"""Tests of mi_utils.bounds: brute force, batching, Gaussian ground truth, gradients, stability."""

from __future__ import annotations

import math
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mi_utils import bounds
from mi_utils.bounds import (
    BOUND_NAMES,
    ba_lower_bound,
    dv_lower_bound,
    get_bound,
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
from mi_utils.data import (
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
    (lambda: get_bound("nce"), ValueError, "accepted names.*infonce"),
    (lambda: get_bound(3), TypeError, "name"),
]


@pytest.mark.parametrize("call, exc, match", BAD)
def test_bad_input_raises_naming_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ----------------------------------------------------------------------------- API, devices
def test_get_bound_by_name():
    assert BOUND_NAMES == (
        "ba", "tuba", "nwj", "dv", "mine", "js", "infonce", "interpolated", "smile"
    )  # fmt: skip
    assert get_bound("InfoNCE") is infonce_lower_bound
    assert get_bound("SMILE") is smile_lower_bound
    for name in BOUND_NAMES:
        fn = get_bound(name)
        assert fn is getattr(bounds, f"{name}_lower_bound")


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
