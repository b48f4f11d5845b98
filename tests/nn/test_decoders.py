"""Tests of mi_utils.nn.decoders: the Gaussian decoder of the Barber–Agakov bound."""

from __future__ import annotations

import math

import pytest
import torch

from mi_utils.bounds import ba_lower_bound
from mi_utils.nn import VARIANCES, GaussianDecoder, fit_gaussian_decoder, gaussian_task_gap
from mi_utils.tasks import CorrelatedGaussian, Cube, TransformedTask

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def optimal_decoder(task: CorrelatedGaussian, variance: str = "learned") -> GaussianDecoder:
    """W = rho I, b = 0 and sigma^2 = 1 - rho^2 (learned) or 1 (fixed)."""
    d, rho = task.dim, task.rho
    var = torch.full((d,), 1 - rho**2, dtype=F64) if variance == "learned" else None
    return GaussianDecoder.from_parameters(
        rho * torch.eye(d, dtype=F64), torch.zeros(d, dtype=F64), var
    )


def fixed_variance_kl(task: CorrelatedGaussian) -> float:
    """E_y KL(N(rho y, (1-rho^2) I) || N(rho y, I)) = (d/2)[(1-rho^2) - 1 - log(1-rho^2)]."""
    s2 = 1 - task.rho**2
    return 0.5 * task.dim * (s2 - 1 - math.log(s2))


def mc_bound(decoder, task, num_batches=200, batch_size=250, seed=1):
    """BA estimates of ``num_batches`` independent batches: mean and standard error."""
    x, y = task.sample(batch_size, batch_shape=(num_batches,), generator=gen(seed), dtype=F64)
    with torch.no_grad():
        est = ba_lower_bound(decoder.log_prob(x, y), task.entropy_x)  # [R]
    assert est.shape == (num_batches,)
    return est.mean().item(), est.std().item() / math.sqrt(num_batches)


# ----------------------------------------------------------------------------- log_prob
@pytest.mark.parametrize("variance", VARIANCES)
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_log_prob_matches_torch_normal(variance, dtype):
    dec = GaussianDecoder(5, 3, variance, generator=gen(2), dtype=dtype)
    if variance == "learned":
        with torch.no_grad():
            dec.log_var.copy_(torch.linspace(-1.0, 0.7, 5, dtype=dtype))
    g = gen(3)
    x = torch.randn(4, 7, 5, generator=g, dtype=dtype)
    y = torch.randn(4, 7, 3, generator=g, dtype=dtype)
    mean = y @ dec.weight.T + dec.bias
    ref = torch.distributions.Normal(mean, dec.variance.sqrt()).log_prob(x).sum(-1)
    out = dec.log_prob(x, y)
    assert out.shape == (4, 7) and out.dtype == dtype
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(dec(x, y), out)
    assert dec.mean(y).shape == (4, 7, 5)


def test_shapes_parameters_and_fixed_variance():
    learned = GaussianDecoder(4, 6, "learned", generator=gen())
    fixed = GaussianDecoder(4, 6, "fixed", generator=gen())
    assert learned.weight.shape == (4, 6) and learned.bias.shape == (4,)
    assert {n for n, _ in learned.named_parameters()} == {"weight", "bias", "log_var"}
    assert {n for n, _ in fixed.named_parameters()} == {"weight", "bias"}
    assert torch.equal(fixed.variance, torch.ones(4))
    assert torch.equal(learned.variance, torch.ones(4))  # initialised at unit variance
    # same generator seed, same weights; weights within the nn.Linear range 1/sqrt(y_dim)
    torch.testing.assert_close(learned.weight, fixed.weight)
    assert learned.weight.abs().max() <= 1 / math.sqrt(6)
    x, y = torch.randn(10, 4, generator=gen(1)), torch.randn(10, 6, generator=gen(2))
    assert learned.log_prob(x, y).shape == (10,)
    assert "variance=fixed" in repr(fixed)


def test_log_prob_is_differentiable():
    dec = GaussianDecoder(3, 3, generator=gen())
    x, y = torch.randn(8, 3, generator=gen(1)), torch.randn(8, 3, generator=gen(2))
    ba_lower_bound(dec.log_prob(x, y), 1.0).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in dec.parameters())


def test_from_parameters_copies():
    w, b, v = torch.eye(3, dtype=F64), torch.ones(3, dtype=F64), torch.full((3,), 0.5, dtype=F64)
    dec = GaussianDecoder.from_parameters(w, b, v)
    assert dec.config["variance"] == "learned" and dec.weight.dtype == F64
    torch.testing.assert_close(dec.variance, v)
    with torch.no_grad():
        dec.weight.zero_()
    assert torch.equal(w, torch.eye(3, dtype=F64))  # a copy, not a view
    assert GaussianDecoder.from_parameters(w, b).config["variance"] == "fixed"


# ----------------------------------------------------------------------------- the BA bound
@pytest.mark.parametrize("mi", [1.0, 5.0])
def test_optimal_decoder_makes_ba_unbiased(mi):
    task = CorrelatedGaussian.from_mi(mi, dim=10)
    mean, se = mc_bound(optimal_decoder(task), task)
    assert abs(mean - mi) < 4 * se, (mean, se)
    assert abs(gaussian_task_gap(optimal_decoder(task), task).item()) < 1e-12


@pytest.mark.parametrize("mi", [1.0, 5.0])
def test_fixed_variance_gap_is_the_closed_form_kl(mi):
    task = CorrelatedGaussian.from_mi(mi, dim=10)
    dec = optimal_decoder(task, "fixed")
    kl = fixed_variance_kl(task)
    assert math.isclose(gaussian_task_gap(dec, task).item(), kl, rel_tol=1e-10)
    mean, se = mc_bound(dec, task)
    assert abs((mi - mean) - kl) < 4 * se, (mi - mean, kl, se)
    # the restricted optimum is d rho^2 / 2
    assert math.isclose(mi - kl, task.dim * task.rho**2 / 2, rel_tol=1e-10)


def test_gap_of_a_decoder_blind_to_y_is_the_mi():
    task = CorrelatedGaussian.from_mi(3.0, dim=8)
    dec = GaussianDecoder.from_parameters(torch.zeros(8, 8, dtype=F64), torch.zeros(8, dtype=F64))
    assert math.isclose(gaussian_task_gap(dec, task).item(), task.mi, rel_tol=1e-10)
    mean, se = mc_bound(dec, task)
    assert abs(mean) < 4 * se


def test_closed_form_gap_matches_monte_carlo_for_arbitrary_parameters():
    task = CorrelatedGaussian.from_mi(4.0, dim=6)
    dec = GaussianDecoder(6, 6, generator=gen(5), dtype=F64)
    with torch.no_grad():
        dec.log_var.copy_(torch.linspace(-0.8, 0.3, 6, dtype=F64))
    gap = gaussian_task_gap(dec, task).item()
    assert gap > 0
    mean, se = mc_bound(dec, task)
    assert abs((task.mi - mean) - gap) < 4 * se, (task.mi - mean, gap, se)


# ----------------------------------------------------------------------------- fitting
@pytest.mark.parametrize("variance", VARIANCES)
def test_fit_reaches_the_best_bound_of_the_family(variance):
    task = CorrelatedGaussian.from_mi(6.0, dim=10)
    dec, trace = fit_gaussian_decoder(
        task, variance, num_steps=600, batch_size=256, lr=0.02, generator=gen(7), dtype=F64
    )
    assert trace.shape == (600,) and torch.isfinite(trace).all()
    best = 0.0 if variance == "learned" else fixed_variance_kl(task)
    excess = gaussian_task_gap(dec, task).item() - best
    assert 0 <= excess < 0.05, excess
    assert trace[-100:].mean().item() > trace[:10].mean().item() + 1.0  # the bound climbed


def test_fit_is_reproducible_and_leaves_the_global_rng_alone():
    task = CorrelatedGaussian.from_mi(2.0, dim=4)
    state = torch.get_rng_state()
    a, ta = fit_gaussian_decoder(task, num_steps=20, batch_size=16, generator=gen(3))
    b, tb = fit_gaussian_decoder(task, num_steps=20, batch_size=16, generator=gen(3))
    GaussianDecoder(4, 4, generator=gen(4))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(ta, tb) and torch.equal(a.weight, b.weight)


def test_fit_uses_the_task_dims_and_records_one_value_per_step():
    class Shifted:  # x = y[:, :2] + noise: a task with x_dim != y_dim, duck-typed
        x_dim, y_dim, entropy_x = 2, 3, 0.0

        def sample(self, num_samples, *, batch_shape=(), generator=None, device=None, dtype=None):
            y = torch.randn(*batch_shape, num_samples, 3, generator=generator, dtype=dtype)
            noise = torch.randn(*batch_shape, num_samples, 2, generator=generator, dtype=dtype)
            return y[..., :2] + 0.1 * noise, y

    dec, trace = fit_gaussian_decoder(Shifted(), num_steps=300, batch_size=64, generator=gen(2))
    assert dec.weight.shape == (2, 3) and trace.shape == (300,)
    assert not trace.requires_grad
    target = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert (dec.weight.detach() - target).abs().max() < 0.1


def test_fit_on_the_cubic_task_stays_well_below_the_mi():
    # the best linear-Gaussian decoder of x from y^3 reaches only -(d/2) log(1 - 3 rho^2 / 5)
    gaussian = CorrelatedGaussian.from_mi(5.0, dim=5)
    task = TransformedTask(gaussian, y_transform=Cube())
    dec, _ = fit_gaussian_decoder(task, num_steps=600, batch_size=256, generator=gen(8), dtype=F64)
    best = -0.5 * gaussian.dim * math.log(1 - 0.6 * gaussian.rho**2)
    mean, se = mc_bound(dec, task)
    assert mean < best + 4 * se
    assert abs(mean - best) < 4 * se + 0.1
    assert mean < task.mi - 2.0


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kwargs, exc, word",
    [
        (dict(x_dim=0, y_dim=2), ValueError, "x_dim"),
        (dict(x_dim=2, y_dim=2.0), TypeError, "y_dim"),
        (dict(x_dim=2, y_dim=2, variance="diag"), ValueError, "variance"),
        (dict(x_dim=2, y_dim=2, generator=0), TypeError, "generator"),
        (dict(x_dim=2, y_dim=2, dtype=torch.int64), TypeError, "dtype"),
    ],
)
def test_constructor_rejects_bad_arguments(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        GaussianDecoder(**kwargs)


def test_log_prob_rejects_bad_inputs():
    dec = GaussianDecoder(3, 2, generator=gen())
    x, y = torch.zeros(5, 3), torch.zeros(5, 2)
    with pytest.raises(ValueError, match=r"x\.shape"):
        dec.log_prob(torch.zeros(5, 4), y)
    with pytest.raises(ValueError, match=r"y\.shape"):
        dec.log_prob(x, torch.zeros(5, 3))
    with pytest.raises(TypeError, match="x must be"):
        dec.log_prob(x.double(), y)
    with pytest.raises(TypeError, match="y must be"):
        dec.log_prob(x, [[0.0, 0.0]])
    with pytest.raises(ValueError, match="leading shape"):
        dec.log_prob(torch.zeros(4, 3), y)


def test_from_parameters_rejects_bad_inputs():
    w, b = torch.eye(2), torch.zeros(2)
    with pytest.raises(ValueError, match="weight"):
        GaussianDecoder.from_parameters(torch.zeros(2), b)
    with pytest.raises(ValueError, match="bias"):
        GaussianDecoder.from_parameters(w, torch.zeros(3))
    with pytest.raises(ValueError, match="variance"):
        GaussianDecoder.from_parameters(w, b, torch.tensor([1.0, 0.0]))
    with pytest.raises(TypeError, match="bias"):
        GaussianDecoder.from_parameters(w, [0.0, 0.0])


def test_fit_and_gap_reject_bad_inputs():
    task = CorrelatedGaussian.from_mi(1.0, dim=2)
    with pytest.raises(TypeError, match="task"):
        fit_gaussian_decoder(object())
    with pytest.raises(ValueError, match="num_steps"):
        fit_gaussian_decoder(task, num_steps=0)
    with pytest.raises(ValueError, match="lr"):
        fit_gaussian_decoder(task, lr=-1.0)
    with pytest.raises(ValueError, match="variance"):
        fit_gaussian_decoder(task, variance="full")
    dec = GaussianDecoder(2, 2, generator=gen())
    with pytest.raises(TypeError, match="task must be a CorrelatedGaussian"):
        gaussian_task_gap(dec, TransformedTask(task, y_transform=Cube()))
    with pytest.raises(ValueError, match=r"task\.dim"):
        gaussian_task_gap(dec, CorrelatedGaussian.from_mi(1.0, dim=3))
    with pytest.raises(TypeError, match="decoder"):
        gaussian_task_gap(None, task)
    with pytest.raises(TypeError, match="task"):
        gaussian_task_gap(dec, 0.5)
