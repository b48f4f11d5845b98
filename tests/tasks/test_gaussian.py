"""The correlated Gaussian task: closed forms, the Task interface, shapes, dtypes, seeds."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mi_utils import tasks
from mi_utils.tasks import (
    LOG_2PI,
    CorrelatedGaussian,
    Task,
    gaussian_log_conditional,
    gaussian_log_marginal,
    gaussian_log_ratio,
    mi_to_rho,
    rho_to_mi,
    sample_correlated_gaussian,
)
from tests.conftest import DEVICES, gen, requires_cuda


# ----------------------------------------------------------------------------- closed forms
def test_staircase_rhos_of_the_paper():
    # Poole et al. (2019) train at 2, 4, 6, 8, 10 nats in d = 20.
    expected = [0.4258, 0.5742, 0.6717, 0.7421, 0.7951]
    got = [mi_to_rho(mi, 20) for mi in (2, 4, 6, 8, 10)]
    assert got == pytest.approx(expected, abs=5e-5)


def test_rho_to_mi_closed_form_values():
    assert rho_to_mi(0.0, 5) == 0.0
    assert rho_to_mi(0.5, 1) == pytest.approx(-0.5 * math.log(0.75))
    assert rho_to_mi(-0.5, 4) == pytest.approx(rho_to_mi(0.5, 4))
    assert rho_to_mi(0.9, 20) == pytest.approx(-10 * math.log(1 - 0.81))


@settings(max_examples=200, deadline=None)
@given(mi=st.floats(0.0, 50.0), dim=st.integers(1, 64))
def test_mi_rho_round_trip(mi, dim):
    assume(mi / dim <= 8.0)  # beyond, 1 - rho^2 < 1e-7 and rho loses digits in float64
    rho = mi_to_rho(mi, dim)
    assert 0.0 <= rho < 1.0
    # rho -> 1 is ill-conditioned (1 - rho^2 ~ exp(-2 mi / dim)); 1e-6 nats is still exact enough.
    assert rho_to_mi(rho, dim) == pytest.approx(mi, rel=1e-9, abs=1e-6)


def test_conversions_accept_tensors():
    mi = torch.tensor([0.0, 2.0, 10.0], dtype=torch.float64)
    rho = mi_to_rho(mi, 20)
    assert isinstance(rho, torch.Tensor) and rho.shape == (3,)
    torch.testing.assert_close(rho_to_mi(rho, 20), mi)


def test_entropy_of_x():
    task = CorrelatedGaussian(dim=3, rho=0.2)
    assert task.entropy_x == pytest.approx(1.5 * math.log(2 * math.pi * math.e))


def test_log_marginal_is_standard_normal_density():
    y = torch.tensor([[0.0, 0.0], [1.0, -2.0]], dtype=torch.float64)
    expected = torch.tensor(
        [-math.log(2 * math.pi), -math.log(2 * math.pi) - 2.5], dtype=torch.float64
    )
    torch.testing.assert_close(gaussian_log_marginal(y), expected)
    torch.testing.assert_close(CorrelatedGaussian(2, 0.3).log_marginal(y), expected)
    assert LOG_2PI == pytest.approx(math.log(2 * math.pi), abs=1e-15)


def test_log_conditional_matches_torch_distributions():
    task = CorrelatedGaussian(dim=4, rho=0.6)
    x, y = task.sample(7, generator=gen(1), dtype=torch.float64)
    scale = math.sqrt(1 - 0.36)
    ref = torch.distributions.Normal(0.6 * x[None, :, :], scale).log_prob(y[:, None, :]).sum(-1)
    torch.testing.assert_close(task.log_conditional(x, y), ref)


def test_log_ratio_is_conditional_minus_marginal_brute_force():
    task = CorrelatedGaussian(dim=5, rho=0.7)
    x, y = task.sample(9, generator=gen(2), dtype=torch.float64)
    ratio = task.log_ratio(x, y)
    ref = torch.empty(9, 9, dtype=torch.float64)
    for i in range(9):
        for j in range(9):
            ref[i, j] = (
                task.log_conditional(x[j : j + 1], y[i : i + 1])[0, 0]
                - task.log_marginal(y[i : i + 1])[0]
            )
    torch.testing.assert_close(ratio, ref)


def test_closed_form_log_ratio_equals_the_protocols_default():
    # CorrelatedGaussian overrides log_ratio with a closed form; it must equal the Task default
    # (log_conditional - log_marginal), also with batch dimensions.
    task = CorrelatedGaussian(dim=3, rho=-0.45)
    x, y = task.sample(6, batch_shape=(2, 3), generator=gen(3), dtype=torch.float64)
    torch.testing.assert_close(task.log_ratio(x, y), Task.log_ratio(task, x, y))
    torch.testing.assert_close(task.log_ratio(x, y), gaussian_log_ratio(x, y, -0.45))


# ----------------------------------------------------------------------------- Monte Carlo
@pytest.mark.parametrize("mi", [0.5, 2.0, 8.0])
def test_monte_carlo_mi_matches_closed_form(mi):
    task = CorrelatedGaussian.from_mi(mi, dim=20)
    x, y = task.sample(20_000, generator=gen(3), dtype=torch.float64)
    joint = task.log_ratio(x[:, None, :], y[:, None, :])[:, 0, 0]  # the diagonal, one by one
    se = joint.std() / math.sqrt(joint.numel())
    assert abs(joint.mean().item() - mi) < 4 * se.item()
    assert task.mi == pytest.approx(mi, rel=1e-12)


def test_different_numbers_of_x_and_y():
    task = CorrelatedGaussian(dim=3, rho=0.4)
    x, y = task.sample(6, generator=gen(), dtype=torch.float64)
    s = task.log_ratio(x, y[:4])
    assert s.shape == (4, 6)
    torch.testing.assert_close(s, task.log_ratio(x, y)[:4])


def test_log_ratio_normalises_against_the_marginal():
    # E_{p(x)}[exp f*(x, y)] = 1 for every y: the mean over columns of exp(scores) -> 1.
    task = CorrelatedGaussian.from_mi(1.0, dim=2)
    x, y = task.sample(40_000, generator=gen(4), dtype=torch.float64)
    s = task.log_ratio(x, y[:5])
    assert s.exp().mean(-1).sub(1).abs().max().item() < 0.05


def test_sample_moments():
    task = CorrelatedGaussian(dim=3, rho=0.8)
    x, y = task.sample(200_000, generator=gen(5), dtype=torch.float64)
    torch.testing.assert_close(x.var(0), torch.ones(3, dtype=torch.float64), atol=0.02, rtol=0)
    torch.testing.assert_close(y.var(0), torch.ones(3, dtype=torch.float64), atol=0.02, rtol=0)
    corr = ((x - x.mean(0)) * (y - y.mean(0))).mean(0) / (x.std(0) * y.std(0))
    torch.testing.assert_close(corr, torch.full((3,), 0.8, dtype=torch.float64), atol=0.01, rtol=0)
    # coordinates are independent
    assert abs(torch.corrcoef(x.T)[0, 1].item()) < 0.01


# ----------------------------------------------------------------------------- the Task interface
def test_task_attributes():
    task = CorrelatedGaussian.from_mi(4.0, dim=20)
    assert isinstance(task, Task)
    assert (task.x_dim, task.y_dim, task.dim) == (20, 20, 20)
    assert task.name == "gaussian" and task.mi_error == 0.0
    assert task.mi == pytest.approx(4.0)
    assert task.rho == pytest.approx(0.5742, abs=5e-5)
    assert task == CorrelatedGaussian(20, task.rho) and hash(task) == hash(
        CorrelatedGaussian(20, task.rho)
    )
    assert task != CorrelatedGaussian(20, 0.1)
    assert "CorrelatedGaussian(dim=20" in repr(task)


@pytest.mark.parametrize("batch_shape", [(), (3,), (2, 4)])
def test_sample_shapes_with_batch_shape(batch_shape):
    task = CorrelatedGaussian(dim=3, rho=0.5)
    x, y = task.sample(5, batch_shape=batch_shape, generator=gen())
    assert x.shape == y.shape == (*batch_shape, 5, 3)
    assert task.log_marginal(y).shape == (*batch_shape, 5)
    assert task.log_conditional(x, y).shape == (*batch_shape, 5, 5)
    assert task.log_ratio(x, y).shape == (*batch_shape, 5, 5)


def test_batch_shape_accepts_a_list():
    task = CorrelatedGaussian(dim=2, rho=0.5)
    x, _ = task.sample(4, batch_shape=[3], generator=gen())
    assert x.shape == (3, 4, 2)


def test_task_sample_is_determined_by_its_generator():
    task = CorrelatedGaussian(dim=4, rho=0.3)
    a = task.sample(16, batch_shape=(2,), generator=gen(11))
    b = task.sample(16, batch_shape=(2,), generator=gen(11))
    c = task.sample(16, batch_shape=(2,), generator=gen(12))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_task_sample_matches_the_free_function():
    task = CorrelatedGaussian(dim=3, rho=0.5)
    xt, yt = task.sample(10, generator=gen(7), dtype=torch.float64)
    xf, yf = sample_correlated_gaussian(10, 3, 0.5, generator=gen(7), dtype=torch.float64)
    torch.testing.assert_close(xt, xf)
    torch.testing.assert_close(yt, yf)


def test_global_rng_untouched():
    state = torch.get_rng_state()
    sample_correlated_gaussian(32, 4, 0.5, generator=gen(1))
    CorrelatedGaussian(dim=4, rho=0.5).sample(32, batch_shape=(3,), generator=gen(1))
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_task_dtype_and_device(device, dtype):
    task = CorrelatedGaussian(dim=3, rho=0.5)
    x, y = task.sample(6, batch_shape=(2,), generator=gen(0, device), device=device, dtype=dtype)
    for t in (x, y, task.log_marginal(y), task.log_conditional(x, y), task.log_ratio(x, y)):
        assert t.dtype == dtype and t.device.type == device


def test_default_dtype_is_torch_default():
    x, _ = sample_correlated_gaussian(2, 2, 0.1, generator=gen())
    assert x.dtype == torch.get_default_dtype()
    x, _ = CorrelatedGaussian(2, 0.1).sample(2, generator=gen())
    assert x.dtype == torch.get_default_dtype()


# ----------------------------------------------------------------------------- shapes etc.
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes_and_dtypes(dtype):
    x, y = sample_correlated_gaussian(16, 4, 0.3, generator=gen(), dtype=dtype)
    assert x.shape == y.shape == (16, 4) and x.dtype == y.dtype == dtype
    s = gaussian_log_ratio(x, y, 0.3)
    assert s.shape == (16, 16) and s.dtype == dtype
    assert gaussian_log_conditional(x, y, 0.3).shape == (16, 16)
    assert gaussian_log_marginal(y).shape == (16,)


def test_batched_rho_matches_per_run_scores():
    rho = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    x, y = sample_correlated_gaussian(8, 3, rho, generator=gen(6), dtype=torch.float64)
    assert x.shape == y.shape == (3, 8, 3)
    s = gaussian_log_ratio(x, y, rho)
    assert s.shape == (3, 8, 8)
    for r in range(3):
        torch.testing.assert_close(s[r], gaussian_log_ratio(x[r], y[r], float(rho[r])))
        torch.testing.assert_close(
            gaussian_log_conditional(x, y, rho)[r],
            gaussian_log_conditional(x[r], y[r], float(rho[r])),
        )


def test_extra_leading_dims_are_preserved():
    x, y = sample_correlated_gaussian(5, 2, 0.4, generator=gen(), dtype=torch.float64)
    xb, yb = x.expand(2, 3, 5, 2), y.expand(2, 3, 5, 2)
    s = gaussian_log_ratio(xb, yb, 0.4)
    assert s.shape == (2, 3, 5, 5)
    torch.testing.assert_close(s[1, 2], gaussian_log_ratio(x, y, 0.4))


def test_seed_reproduces_and_differs():
    a = sample_correlated_gaussian(32, 4, 0.5, generator=gen(11))
    b = sample_correlated_gaussian(32, 4, 0.5, generator=gen(11))
    c = sample_correlated_gaussian(32, 4, 0.5, generator=gen(12))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_float32_scores_are_accurate():
    task = CorrelatedGaussian.from_mi(10.0, dim=20)
    x, y = task.sample(64, generator=gen(9), dtype=torch.float64)
    s64 = task.log_ratio(x, y)
    s32 = task.log_ratio(x.float(), y.float())
    assert (s32.double() - s64).abs().max().item() < 1e-3


@requires_cuda
@pytest.mark.gpu
def test_cuda_sampling_and_scores():
    g = torch.Generator(device="cuda").manual_seed(0)
    x, y = sample_correlated_gaussian(64, 20, 0.5, generator=g, device="cuda")
    assert x.is_cuda and y.is_cuda
    s = gaussian_log_ratio(x, y, 0.5)
    torch.testing.assert_close(
        s.cpu(), gaussian_log_ratio(x.cpu(), y.cpu(), 0.5), rtol=1e-4, atol=1e-4
    )


# ----------------------------------------------------------------------------- bad input
_G = CorrelatedGaussian(dim=3, rho=0.5)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: rho_to_mi(1.0, 2), ValueError, "rho"),
        (lambda: rho_to_mi(-1.0, 2), ValueError, "rho"),
        (lambda: rho_to_mi(float("nan"), 2), ValueError, "rho"),
        (lambda: rho_to_mi("0.5", 2), TypeError, "rho"),
        (lambda: rho_to_mi(True, 2), TypeError, "rho"),
        (lambda: rho_to_mi(torch.tensor([0.1, 1.2]), 2), ValueError, "rho"),
        (lambda: rho_to_mi(torch.tensor([0, 1]), 2), TypeError, "rho"),
        (lambda: rho_to_mi(0.5, 0), ValueError, "dim"),
        (lambda: rho_to_mi(0.5, 2.0), TypeError, "dim"),
        (lambda: mi_to_rho(-0.1, 2), ValueError, "mi"),
        (lambda: mi_to_rho(float("inf"), 2), ValueError, "mi"),
        (lambda: mi_to_rho(torch.tensor([-1.0]), 2), ValueError, "mi"),
        (lambda: mi_to_rho(None, 2), TypeError, "mi"),
        (lambda: mi_to_rho(1.0, -3), ValueError, "dim"),
        (lambda: mi_to_rho(19.0, 1), ValueError, "mi is too large"),
        (lambda: mi_to_rho(torch.tensor([1.0, 400.0], dtype=torch.float64), 20), ValueError, "mi"),
        (lambda: sample_correlated_gaussian(0, 2, 0.5), ValueError, "batch_size"),
        (lambda: sample_correlated_gaussian(2.5, 2, 0.5), TypeError, "batch_size"),
        (lambda: sample_correlated_gaussian(4, 0, 0.5), ValueError, "dim"),
        (lambda: sample_correlated_gaussian(4, 2, 1.5), ValueError, "rho"),
        (lambda: sample_correlated_gaussian(4, 2, 0.5, dtype=torch.int64), TypeError, "dtype"),
        (lambda: sample_correlated_gaussian(4, 2, 0.5, generator=0), TypeError, "generator"),
        (
            lambda: gaussian_log_ratio(torch.zeros(3, 2), torch.zeros(3, 4), 0.5),
            ValueError,
            "x and y",
        ),
        (lambda: gaussian_log_ratio(torch.zeros(3), torch.zeros(3), 0.5), ValueError, "x"),
        (lambda: gaussian_log_ratio([[0.0]], torch.zeros(1, 1), 0.5), TypeError, "x"),
        (
            lambda: gaussian_log_ratio(torch.zeros(3, 2, dtype=torch.long), torch.zeros(3, 2), 0.5),
            TypeError,
            "x",
        ),
        (lambda: gaussian_log_ratio(torch.zeros(3, 2), torch.zeros(3, 2), 1.0), ValueError, "rho"),
        (lambda: gaussian_log_marginal(torch.zeros(3)), ValueError, "y"),
        (lambda: gaussian_log_marginal(torch.zeros(3, 2), dim=3), ValueError, "dim"),
        (lambda: CorrelatedGaussian(dim=0, rho=0.1), ValueError, "dim"),
        (lambda: CorrelatedGaussian(dim=2.0, rho=0.1), TypeError, "dim"),
        (lambda: CorrelatedGaussian(dim=2, rho=1.0), ValueError, "rho"),
        (lambda: CorrelatedGaussian(dim=2, rho=torch.tensor(0.1)), TypeError, "rho"),
        (lambda: CorrelatedGaussian(dim=2, rho="0.1"), TypeError, "rho"),
        (lambda: CorrelatedGaussian.from_mi(-1.0, dim=2), ValueError, "mi"),
        (lambda: CorrelatedGaussian.from_mi(torch.tensor(1.0), dim=2), TypeError, "mi"),
        (lambda: _G.sample(0), ValueError, "num_samples"),
        (lambda: _G.sample(4.0), TypeError, "num_samples"),
        (lambda: _G.sample(4, batch_shape=3), TypeError, "batch_shape"),
        (lambda: _G.sample(4, batch_shape=(0,)), ValueError, "batch_shape"),
        (lambda: _G.sample(4, batch_shape=(2.0,)), TypeError, "batch_shape"),
        (lambda: _G.sample(4, generator=1), TypeError, "generator"),
        (lambda: _G.sample(4, dtype=torch.int32), TypeError, "dtype"),
        (lambda: _G.log_ratio(torch.zeros(4, 2), torch.zeros(4, 3)), ValueError, "x"),
        (lambda: _G.log_ratio(torch.zeros(4, 3), torch.zeros(4, 2)), ValueError, "y"),
        (lambda: _G.log_conditional(torch.zeros(4, 3), [[0.0] * 3]), TypeError, "y"),
        (lambda: _G.log_marginal(torch.zeros(4, 2)), ValueError, "y"),
    ],
)
def test_bad_input_raises_naming_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_public_api_documented():
    for name in tasks.__all__:
        obj = getattr(tasks, name)
        if isinstance(obj, (int, float, tuple)):
            continue  # constants are documented by the module's docstring
        assert obj.__doc__ and len(obj.__doc__.strip()) > 20, name


# ----------------------------------------------------------------------------- nwj_variance
@pytest.mark.parametrize(("mi", "dim", "k"), [(0.5, 2, 8), (1.0, 5, 16), (2.0, 20, 4)])
def test_nwj_variance_matches_monte_carlo(mi, dim, k):
    # The variance of NWJ's batch estimate at f = 1 + f*, over many independent batches.
    from mi_utils.bounds import nwj_lower_bound

    task = CorrelatedGaussian.from_mi(mi, dim)
    gen = torch.Generator().manual_seed(3)
    x, y = task.sample(k, batch_shape=(200_000,), generator=gen, dtype=torch.float64)
    est = nwj_lower_bound(task.log_ratio(x, y) + 1.0)
    predicted = task.nwj_variance(k)
    # The sample variance of 200k draws: relative SE sqrt((kurtosis - 1) / n), a few %.
    assert est.var().item() == pytest.approx(predicted, rel=0.08)
    assert est.mean().item() == pytest.approx(mi, abs=4 * math.sqrt(predicted / 200_000))


def test_nwj_variance_grows_like_exp_2i_over_k_squared():
    task = CorrelatedGaussian.from_mi(10.0, 20)
    k = 64
    assert task.nwj_variance(k) == pytest.approx(math.exp(20.0) / (k * (k - 1)), rel=0.01)


def test_nwj_variance_can_fail_the_monte_carlo_check():
    # The same comparison with K off by one must fail: the test above can catch a wrong formula.
    from mi_utils.bounds import nwj_lower_bound

    task = CorrelatedGaussian.from_mi(2.0, 20)
    gen = torch.Generator().manual_seed(3)
    x, y = task.sample(4, batch_shape=(200_000,), generator=gen, dtype=torch.float64)
    measured = nwj_lower_bound(task.log_ratio(x, y) + 1.0).var().item()
    assert measured != pytest.approx(task.nwj_variance(5), rel=0.08)


@pytest.mark.parametrize("k", [1, 0, 2.0, True, "8"])
def test_nwj_variance_rejects_bad_batch_size(k):
    with pytest.raises((TypeError, ValueError), match="batch_size must be an int >= 2"):
        CorrelatedGaussian.from_mi(1.0, 4).nwj_variance(k)


def test_nwj_variance_overflow_is_an_error_not_inf():
    with pytest.raises(OverflowError, match="exceeds the float range"):
        CorrelatedGaussian.from_mi(400.0, 2000).nwj_variance(64)
