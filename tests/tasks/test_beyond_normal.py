"""The Beyond Normal tasks: closed-form MIs checked numerically, densities against independent
formulas, the transforms (inverse, Jacobian), the Task protocol, the catalogue, bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from mi_utils.tasks import (
    BEYOND_NORMAL_TASKS,
    AdditiveUniform,
    Asinh,
    CorrelatedGaussian,
    GaussianMixtureQuantile,
    HalfCube,
    MultiNormal,
    NormalCDF,
    Spiral,
    StudentT,
    SwissRoll,
    Task,
    Transform,
    TransformedTask,
    Wiggly,
    beyond_normal_task,
    beyond_normal_tasks,
    beyond_normal_title,
    dense_covariance,
    sparse_covariance,
    student_t_mi_correction,
)
from tests.conftest import DEVICES, gen

F64 = torch.float64
WIGGLY_X = ((0.4, 0.2, 0.03), (1.0, 1.7, 3.3), (0.0, 1.0, -2.5))


def random_cov(d: int, seed: int) -> torch.Tensor:
    a = torch.randn(d, d, generator=gen(seed), dtype=F64)
    return a @ a.T / d + 0.3 * torch.eye(d, dtype=F64)


def mc_mi(task: Task, n: int = 20_000, seed: int = 0) -> tuple[float, float]:
    """Mean and standard error of the log density ratio over ``n`` joint samples."""
    x, y = task.sample(n, generator=gen(seed), dtype=F64)
    r = task.log_ratio(x[:, None, :], y[:, None, :])[:, 0, 0]
    return r.mean().item(), r.std().item() / math.sqrt(n)


def assert_mc_matches(task: Task, n: int = 20_000, seed: int = 0) -> None:
    mean, se = mc_mi(task, n, seed)
    assert abs(mean - task.mi) < 4 * se, (task.name, mean, task.mi, se)


def t_logpdf(v: torch.Tensor, omega: torch.Tensor, nu: float) -> torch.Tensor:
    """log t_nu(v; 0, omega) written out directly (no whitening), ``v`` ``[..., k]``."""
    k = v.shape[-1]
    q = (v * torch.linalg.solve(omega, v.unsqueeze(-1)).squeeze(-1)).sum(-1)
    return (
        math.lgamma((nu + k) / 2) - math.lgamma(nu / 2) - 0.5 * k * math.log(nu * math.pi)
        - 0.5 * torch.logdet(omega) - 0.5 * (nu + k) * torch.log1p(q / nu)
    )  # fmt: skip


# ----------------------------------------------------------------------------- multivariate normal
def test_multinormal_mi_is_the_determinant_formula():
    cov = random_cov(5, 1)
    task = MultiNormal(cov, 2, 3)
    expected = 0.5 * (
        np.linalg.slogdet(cov[:2, :2].numpy())[1]
        + np.linalg.slogdet(cov[2:, 2:].numpy())[1]
        - np.linalg.slogdet(cov.numpy())[1]
    )
    assert task.mi == pytest.approx(expected, rel=1e-12)
    # the cross block alone means unit marginal blocks; 1x1 is the correlated Gaussian
    assert MultiNormal([[0.6]], 1, 1).mi == pytest.approx(CorrelatedGaussian(1, 0.6).mi)
    block = torch.diag(torch.tensor([0.5, 0.8], dtype=F64))
    assert MultiNormal(block, 2, 2).mi == pytest.approx(-0.5 * math.log((1 - 0.25) * (1 - 0.64)))


def test_multinormal_densities_match_torch_distributions():
    cov = random_cov(5, 2)
    task = MultiNormal(cov, 3, 2)
    x, y = task.sample(6, generator=gen(3), dtype=F64)
    joint = torch.distributions.MultivariateNormal(torch.zeros(5, dtype=F64), cov)
    px = torch.distributions.MultivariateNormal(torch.zeros(3, dtype=F64), cov[:3, :3])
    py = torch.distributions.MultivariateNormal(torch.zeros(2, dtype=F64), cov[3:, 3:])
    torch.testing.assert_close(task.log_marginal(y), py.log_prob(y))
    pairs = torch.cat([x[None, :, :].expand(6, 6, 3), y[:, None, :].expand(6, 6, 2)], dim=-1)
    cond = joint.log_prob(pairs) - px.log_prob(x)[None, :]  # [i, j] = log p(y_i | x_j)
    torch.testing.assert_close(task.log_conditional(x, y), cond)
    torch.testing.assert_close(task.log_ratio(x, y), cond - py.log_prob(y)[:, None])


def test_multinormal_samples_have_the_covariance():
    cov = random_cov(4, 4)
    x, y = MultiNormal(cov, 1, 3).sample(200_000, generator=gen(5), dtype=F64)
    xy = torch.cat([x, y], dim=-1)
    torch.testing.assert_close(xy.T @ xy / len(xy), cov, atol=0.02, rtol=0)


@pytest.mark.parametrize(
    "task",
    [
        MultiNormal(random_cov(5, 6), 2, 3),
        MultiNormal(dense_covariance(3, 3, 0.5), 3, 3),
        MultiNormal(sparse_covariance(5, 5), 5, 5),
    ],
    ids=["random", "dense", "sparse"],
)
def test_multinormal_monte_carlo_mi(task):
    assert_mc_matches(task)


def test_covariance_structures():
    dense = dense_covariance(2, 3, 0.3)
    assert dense.shape == (5, 5) and dense.dtype == F64
    assert torch.equal(dense.diagonal(), torch.ones(5, dtype=F64))
    assert bool((dense[~torch.eye(5, dtype=torch.bool)] == 0.3).all())
    sparse = sparse_covariance(3, 4, n_interacting=2, strength=2.0)
    expected = torch.eye(7, dtype=F64)
    expected[0, 3] = expected[3, 0] = expected[1, 4] = expected[4, 1] = 0.8
    torch.testing.assert_close(sparse, expected)
    # the sparse MI is the same in every dimension: two pairs at rho = 0.8
    for d in (2, 5, 25):
        assert MultiNormal(sparse_covariance(d, d), d, d).mi == pytest.approx(-math.log(0.36))


# ----------------------------------------------------------------------------- Student-t
def _radial_entropy(k: int, nu: float) -> float:
    """Entropy of the standard k-variate t_nu by quadrature over the radius, r = exp(s)."""
    s = np.arange(-30.0, 60.0, 1e-3)
    r = np.exp(s)
    log_c = math.lgamma((nu + k) / 2) - math.lgamma(nu / 2) - 0.5 * k * math.log(nu * math.pi)
    log_p = log_c - 0.5 * (nu + k) * np.log1p(r**2 / nu)
    sphere = 2 * math.pi ** (k / 2) / math.gamma(k / 2)
    return float(-(sphere * r**k * np.exp(log_p) * log_p).sum() * 1e-3)


@pytest.mark.parametrize("nu, m, n", [(1, 1, 1), (1, 2, 2), (2, 3, 3), (3, 5, 5), (5, 1, 4)])
def test_student_correction_against_quadrature_of_the_entropies(nu, m, n):
    quad = _radial_entropy(m, nu) + _radial_entropy(n, nu) - _radial_entropy(m + n, nu)
    assert student_t_mi_correction(nu, m, n) == pytest.approx(quad, abs=1e-9)
    assert StudentT(torch.eye(m + n), m, n, nu).mi == pytest.approx(quad, abs=1e-9)


def test_student_correction_vanishes_for_many_degrees_of_freedom():
    values = [student_t_mi_correction(nu, 2, 3) for nu in (1, 3, 10, 100, 10_000)]
    assert all(a > b > 0 for a, b in itertools.pairwise(values))
    assert values[-1] < 1e-6


@pytest.mark.parametrize("nu", [2, 3])
def test_student_1x1_mi_against_a_2d_integral(nu):
    # I = integral of p log p(x, y) / p(x) p(y), with the density written out here, on the
    # grid x = sinh(a), |a| <= 9 (the tails beyond hold < 1e-6 of the mass for nu >= 2).
    rho, h = 0.5, 0.01
    a = np.arange(-9.0, 9.0, h)
    x, w = np.sinh(a), np.cosh(a) * h
    xx, yy = np.meshgrid(x, x, indexing="ij")

    def log_t(q, k, log_det):
        c = math.lgamma((nu + k) / 2) - math.lgamma(nu / 2) - 0.5 * k * math.log(nu * math.pi)
        return c - 0.5 * log_det - 0.5 * (nu + k) * np.log1p(q / nu)

    log_joint = log_t((xx**2 - 2 * rho * xx * yy + yy**2) / (1 - rho**2), 2, math.log(1 - rho**2))
    log_x = log_t(x**2, 1, 0.0)
    weights = w[:, None] * w[None, :]
    integral = (np.exp(log_joint) * (log_joint - log_x[:, None] - log_x[None, :]) * weights).sum()
    assert StudentT([[rho]], 1, 1, nu).mi == pytest.approx(integral, abs=1e-5)


def test_student_densities_match_the_written_out_density():
    omega = random_cov(5, 7)
    task = StudentT(omega, 2, 3, df=3)
    x, y = task.sample(5, generator=gen(8), dtype=F64)
    torch.testing.assert_close(task.log_marginal(y), t_logpdf(y, omega[2:, 2:], 3))
    pairs = torch.cat([x[None, :, :].expand(5, 5, 2), y[:, None, :].expand(5, 5, 3)], dim=-1)
    cond = t_logpdf(pairs, omega, 3) - t_logpdf(x, omega[:2, :2], 3)[None, :]
    torch.testing.assert_close(task.log_conditional(x, y), cond)
    # 1x1: the marginal is torch's StudentT, the conditional t_{nu+1}(rho x, (nu+x^2)/(nu+1) S)
    rho, nu = 0.6, 4
    t11 = StudentT([[rho]], 1, 1, nu)
    x, y = t11.sample(7, generator=gen(9), dtype=F64)
    torch.testing.assert_close(
        t11.log_marginal(y), torch.distributions.StudentT(nu, 0.0, 1.0).log_prob(y[:, 0])
    )
    scale = torch.sqrt((nu + x[:, 0] ** 2) / (nu + 1) * (1 - rho**2))
    ref = torch.distributions.StudentT(nu + 1, rho * x[None, :, 0], scale[None, :])
    torch.testing.assert_close(t11.log_conditional(x, y), ref.log_prob(y[:, :1]))


def test_student_samples_follow_the_distribution():
    # dof 1: x is standard Cauchy; compare the empirical CDF with the exact one
    n = 100_000
    x, _ = StudentT(torch.eye(3), 1, 2, df=1).sample(n, generator=gen(10), dtype=F64)
    grid = torch.tensor([-10.0, -2.0, -0.5, 0.0, 0.7, 3.0, 30.0], dtype=F64)
    empirical = (x[:, 0, None] <= grid).double().mean(0)
    exact = torch.distributions.Cauchy(0.0, 1.0).cdf(grid)
    assert (empirical - exact).abs().max().item() < 4 * 0.5 / math.sqrt(n)
    # dof 6: covariance nu / (nu - 2) Omega
    omega = dense_covariance(2, 2, 0.4)
    x, y = StudentT(omega, 2, 2, df=6).sample(400_000, generator=gen(11), dtype=F64)
    xy = torch.cat([x, y], dim=-1)
    torch.testing.assert_close(xy.T @ xy / len(xy), 1.5 * omega, atol=0.04, rtol=0)


@pytest.mark.parametrize(
    "task",
    [
        StudentT(torch.eye(4), 2, 2, 1),
        StudentT(dense_covariance(2, 3, 0.5), 2, 3, 3),
        StudentT(sparse_covariance(4, 4, 2, 1.0), 4, 4, 2),
    ],
    ids=["identity", "dense", "sparse"],
)
def test_student_monte_carlo_mi(task):
    assert_mc_matches(task)
    gaussian = MultiNormal(task.matrix, task.x_dim, task.y_dim).mi
    correction = student_t_mi_correction(task.df, task.x_dim, task.y_dim)
    assert task.mi == pytest.approx(gaussian + correction) and correction > 0


# ----------------------------------------------------------------------------- additive noise
@pytest.mark.parametrize("eps", [0.1, 0.3, 0.5, 0.75, 2.0])
def test_additive_uniform_mi_against_a_numerical_convolution(eps):
    # h(Y) from p_Y = 1_[0,1] * U(-eps, eps) convolved numerically; I = h(Y) - log 2 eps
    dx = 1e-4
    kernel = np.full(len(np.arange(-eps, eps, dx)), 1 / (2 * eps))
    p_y = np.convolve(np.ones(len(np.arange(0.0, 1.0, dx))), kernel) * dx
    p_y = p_y[p_y > 0]
    integral = -(p_y * np.log(p_y)).sum() * dx - math.log(2 * eps)
    assert AdditiveUniform(eps).mi == pytest.approx(integral, abs=1e-6)
    assert AdditiveUniform(eps).mi == pytest.approx(
        0.25 / eps if eps > 0.5 else eps - math.log(2 * eps)
    )


@pytest.mark.parametrize("eps", [0.1, 0.75])
def test_additive_uniform_densities(eps):
    task = AdditiveUniform(eps)
    assert_mc_matches(task)
    x, y = task.sample(50_000, generator=gen(12), dtype=F64)
    assert 0 <= x.min() and x.max() < 1 and (y - x).abs().max() <= eps
    # the marginal integrates to 1 and matches a histogram of y
    grid = torch.linspace(-eps - 0.5, 1 + eps + 0.5, 20_001, dtype=F64)[:, None]
    assert torch.trapezoid(task.log_marginal(grid).exp(), grid[:, 0]).item() == pytest.approx(1.0)
    hist = torch.histc(y[:, 0], bins=10, min=-eps, max=1 + eps) / (len(y) * (1 + 2 * eps) / 10)
    centres = torch.linspace(-eps, 1 + eps, 21, dtype=F64)[1::2, None]
    avg = task.log_marginal(centres).exp()  # exact at the centres of the linear pieces' bins
    assert (hist - avg).abs().max().item() < 0.1
    # -inf off the support, never NaN (also for y outside [-eps, 1 + eps])
    far = torch.tensor([[5.0]], dtype=F64)
    s = task.log_ratio(torch.cat([x[:3], far]), torch.cat([y[:3], far]))
    assert not s.isnan().any() and s[-1, :3].eq(-math.inf).all()
    assert task.log_conditional(x[:3], y[:3]).diagonal().eq(-math.log(2 * eps)).all()


# ----------------------------------------------------------------------------- transforms
def _invertible():
    return [
        (HalfCube(), 3),
        (Asinh(), 3),
        (NormalCDF(), 3),
        (Spiral(4, speed=0.7, plane=(1, 3)), 4),
        (Wiggly(*WIGGLY_X), 3),
        (GaussianMixtureQuantile((0.3, 0.7), (0.0, 5.0)), 2),
    ]


INVERTIBLE_IDS = [type(t).__name__ for t, _ in _invertible()]


@pytest.mark.parametrize("transform, d", _invertible(), ids=INVERTIBLE_IDS)
def test_inverse_of_forward_is_identity(transform, d):
    z = 1.5 * torch.randn(50, d, generator=gen(13), dtype=F64)
    y = transform.forward(z)
    assert y.shape == z.shape
    torch.testing.assert_close(transform.inverse(y), z, atol=1e-9, rtol=1e-9)
    z2, log_det = transform.inverse_and_log_det(y)
    torch.testing.assert_close(z2, z, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(log_det, transform.log_abs_det_jacobian(z))


@pytest.mark.parametrize("transform, d", _invertible(), ids=INVERTIBLE_IDS)
def test_log_det_matches_autograd(transform, d):
    z = 1.5 * torch.randn(4, d, generator=gen(14), dtype=F64)
    for zi in z:
        if isinstance(transform, GaussianMixtureQuantile):  # forward is a bisection: J of G
            jac = torch.autograd.functional.jacobian(transform.inverse, transform.forward(zi))
            expected = -torch.linalg.slogdet(jac)[1]
        else:
            expected = torch.linalg.slogdet(torch.autograd.functional.jacobian(transform, zi))[1]
        torch.testing.assert_close(transform.log_abs_det_jacobian(zi), expected)


def test_spiral_turns_by_the_squared_norm():
    z = torch.tensor([[1.0, 0.0, 2.0]], dtype=F64)  # ||z||^2 = 5: turn (0, 1) by 5 * 0.1
    y = Spiral(3, speed=0.1).forward(z)
    torch.testing.assert_close(y, torch.tensor([[math.cos(0.5), math.sin(0.5), 2.0]], dtype=F64))
    torch.testing.assert_close(y.norm(dim=-1), z.norm(dim=-1))


def test_wiggly_and_mixture_are_the_benchmark_maps():
    z = torch.tensor([-1.0, 0.3, 2.0], dtype=F64)
    expected = (
        z + 0.4 * torch.sin(z) + 0.2 * torch.sin(1.7 * z + 1) + 0.03 * torch.sin(3.3 * z - 2.5)
    )
    torch.testing.assert_close(Wiggly(*WIGGLY_X).forward(z), expected)
    # F^-1(Phi(z)): the mixture CDF at the image equals Phi(z)
    x = GaussianMixtureQuantile((0.3, 0.7), (0.0, 5.0)).forward(z)
    cdf = 0.3 * torch.special.ndtr(x) + 0.7 * torch.special.ndtr(x - 5)
    torch.testing.assert_close(cdf, torch.special.ndtr(z))


def test_swiss_roll_embedding():
    roll = SwissRoll()
    u = torch.rand(100, 1, generator=gen(15), dtype=F64)
    v = roll.forward(u)
    assert v.shape == (100, 2) and roll.output_dim(1) == 2 and roll.input_dim == 1
    t = 1.5 * math.pi * (1 + 2 * u[:, 0])
    torch.testing.assert_close(v.norm(dim=-1), t / 21)
    torch.testing.assert_close(torch.atan2(v[:, 1], v[:, 0]), torch.atan2(t.sin(), t.cos()))
    torch.testing.assert_close(roll.inverse(v), u)
    with pytest.raises(NotImplementedError, match="SwissRoll"):
        roll.log_abs_det_jacobian(u)


TRANSFORMED = [
    "normal_cdf-1v1-normal-0.75",
    "1v1-bimodal-0.75",
    "wiggly-1v1-normal-0.75",
    "half_cube-1v1-normal-0.75",
    "asinh-student-identity-1-1-1",
    "swissroll_x-normal_cdf-1v1-normal-0.75",
    "spiral-normal_cdf-multinormal-sparse-3-3-2-2.0",
    "asinh-student-identity-2-2-1",
]


@pytest.mark.parametrize("name", TRANSFORMED)
def test_transformed_log_ratio_is_the_base_log_ratio(name):
    task = beyond_normal_task(name)
    base = task
    while isinstance(base, TransformedTask):
        base = base.task
    x, y = task.sample(12, batch_shape=(2,), generator=gen(16), dtype=F64)
    xb, yb = base.sample(12, batch_shape=(2,), generator=gen(16), dtype=F64)
    assert task.mi == base.mi
    torch.testing.assert_close(task.log_ratio(x, y), base.log_ratio(xb, yb), atol=1e-7, rtol=1e-7)
    torch.testing.assert_close(
        task.log_ratio(x, y), task.log_conditional(x, y) - task.log_marginal(y)[..., None]
    )


@pytest.mark.parametrize(
    "name",
    [
        "1v1-bimodal-0.75",
        "wiggly-1v1-normal-0.75",
        "half_cube-1v1-normal-0.75",
        "normal_cdf-1v1-normal-0.75",
        "asinh-student-identity-1-1-1",
    ],
)
def test_transformed_marginal_density_integrates_to_one(name):
    # checks the Jacobian of the y transform: the integral of p(y) over a grid of y
    task = beyond_normal_task(name)
    if name.startswith("asinh"):  # asinh of a Cauchy: tails ~ exp(-|y|)
        y = torch.linspace(-40.0, 40.0, 200_000, dtype=F64)
    else:  # the image of a grid of the Gaussian y (dense where p(y) is peaked)
        z = torch.linspace(-8.0, 8.0, 50_000, dtype=F64)[:, None]
        y = task.y_transform.forward(z)[:, 0]
    mass = torch.trapezoid(task.log_marginal(y[:, None]).exp(), y).item()
    # 1e-5: the half-cube density has an integrable peak |y|^(-1/3) at 0
    assert mass == pytest.approx(1.0, abs=1e-5)


# ----------------------------------------------------------------------------- the Task protocol
PROTOCOL = [
    MultiNormal(random_cov(5, 17), 2, 3),
    StudentT(dense_covariance(2, 2, 0.5), 2, 2, 3),
    AdditiveUniform(0.3),
    beyond_normal_task("spiral-normal_cdf-multinormal-sparse-3-3-2-2.0"),
    beyond_normal_task("swissroll_x-normal_cdf-1v1-normal-0.75"),
    beyond_normal_task("1v1-bimodal-0.75"),
]


@pytest.mark.parametrize("task", PROTOCOL, ids=lambda t: t.name)
@pytest.mark.parametrize("batch_shape", [(), (3,), (2, 4)])
def test_sample_and_score_shapes(task, batch_shape):
    x, y = task.sample(5, batch_shape=batch_shape, generator=gen())
    assert x.shape == (*batch_shape, 5, task.x_dim) and y.shape == (*batch_shape, 5, task.y_dim)
    assert task.log_marginal(y).shape == (*batch_shape, 5)
    assert task.log_conditional(x, y).shape == (*batch_shape, 5, 5)
    assert task.log_ratio(x, y[..., :3, :]).shape == (*batch_shape, 3, 5)


@pytest.mark.parametrize("task", PROTOCOL, ids=lambda t: t.name)
def test_sample_is_determined_by_its_generator_alone(task):
    state = torch.get_rng_state()
    a = task.sample(32, batch_shape=(2,), generator=gen(21))
    b = task.sample(32, batch_shape=(2,), generator=gen(21))
    c = task.sample(32, batch_shape=(2,), generator=gen(22))
    assert torch.equal(state, torch.get_rng_state())
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0]) and not torch.equal(a[1], c[1])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("task", PROTOCOL, ids=lambda t: t.name)
def test_dtype_and_device(task, dtype, device):
    x, y = task.sample(6, batch_shape=(2,), generator=gen(0, device), device=device, dtype=dtype)
    for t in (x, y, task.log_marginal(y), task.log_conditional(x, y), task.log_ratio(x, y)):
        assert t.dtype == dtype and t.device.type == device
    assert task.sample(3, generator=gen())[0].dtype == torch.get_default_dtype()


def test_float32_scores_are_accurate():
    task = StudentT(sparse_covariance(3, 3), 3, 3, 2)
    x, y = task.sample(64, generator=gen(23), dtype=F64)
    s32 = task.log_ratio(x.float(), y.float()).double()
    assert (s32 - task.log_ratio(x, y)).abs().max().item() < 1e-3


# ----------------------------------------------------------------------------- the catalogue
#: True MIs of the forty tasks to two decimals, as published by Czyż et al. (2023).
PUBLISHED = {
    "1v1-normal-0.75": 0.41, "normal_cdf-1v1-normal-0.75": 0.41, "1v1-additive-0.1": 1.71,
    "1v1-additive-0.75": 0.33, "1v1-bimodal-0.75": 0.41, "wiggly-1v1-normal-0.75": 0.41,
    "half_cube-1v1-normal-0.75": 0.41, "student-identity-1-1-1": 0.22,
    "asinh-student-identity-1-1-1": 0.22, "swissroll_x-normal_cdf-1v1-normal-0.75": 0.41,
    "multinormal-dense-2-2-0.5": 0.29, "multinormal-dense-3-3-0.5": 0.41,
    "multinormal-dense-5-5-0.5": 0.59, "multinormal-dense-25-25-0.5": 1.29,
    "multinormal-dense-50-50-0.5": 1.62,
    **{f"multinormal-sparse-{d}-{d}-2-2.0": 1.02 for d in (2, 3, 5, 25)},
    "student-identity-2-2-1": 0.43, "student-identity-2-2-2": 0.19,
    "student-identity-3-3-2": 0.29, "student-identity-3-3-3": 0.18,
    "student-identity-5-5-2": 0.45, "student-identity-5-5-3": 0.30,
    **{f"{t}-multinormal-sparse-{d}-{d}-2-2.0": 1.02
       for t in ("normal_cdf", "half_cube", "spiral", "spiral-normal_cdf") for d in (3, 5, 25)},
    "asinh-student-identity-2-2-1": 0.43, "asinh-student-identity-3-3-2": 0.29,
    "asinh-student-identity-5-5-2": 0.45,
}  # fmt: skip


def test_catalogue_names_and_mis():
    assert len(BEYOND_NORMAL_TASKS) == len(set(BEYOND_NORMAL_TASKS)) == 40
    assert set(BEYOND_NORMAL_TASKS) == set(PUBLISHED)
    tasks = beyond_normal_tasks()
    assert list(tasks) == list(BEYOND_NORMAL_TASKS)
    for name, task in tasks.items():
        assert isinstance(task, Task) and task.name == name and task.mi_error == 0.0
        assert round(task.mi, 2) == PUBLISHED[name], name
        x, y = task.sample(4, generator=gen(24))
        assert x.shape == (4, task.x_dim) and y.shape == (4, task.y_dim)
        assert x.isfinite().all() and y.isfinite().all()
    assert (tasks["swissroll_x-normal_cdf-1v1-normal-0.75"].x_dim, tasks["1v1-normal-0.75"].y_dim) \
        == (2, 1)  # fmt: skip
    assert tasks["multinormal-sparse-5-5-2-2.0"].mi == pytest.approx(-math.log(1 - 0.8**2))
    assert list(beyond_normal_tasks(["1v1-additive-0.1"])) == ["1v1-additive-0.1"]


def test_titles_are_the_papers_labels():
    assert beyond_normal_title("multinormal-sparse-5-5-2-2.0") == "Multinormal 5 × 5 (2-pair)"
    assert beyond_normal_title("asinh-student-identity-1-1-1") == "Asinh @ Student-t 1 × 1 (dof=1)"
    assert beyond_normal_title("swissroll_x-normal_cdf-1v1-normal-0.75") == "Swiss roll 2 × 1"
    assert beyond_normal_title("1v1-additive-0.1") == "Uniform 1 × 1 (additive noise=0.1)"
    assert (
        beyond_normal_title("spiral-normal_cdf-multinormal-sparse-3-3-2-2.0")
        == "Spiral @ Normal CDF @ Multinormal 3 × 3 (2-pair)"
    )


def test_names_outside_the_catalogue():
    assert beyond_normal_task("1v1-additive-.1").name == "1v1-additive-0.1"
    assert beyond_normal_task("multinormal-sparse-4-6-3-1").name == "multinormal-sparse-4-6-3-1.0"
    dense = beyond_normal_task("student-dense-2-3-4-0.3")
    assert (dense.x_dim, dense.y_dim, dense.df) == (2, 3, 4)
    expected = MultiNormal(dense_covariance(2, 3, 0.3), 2, 3).mi + student_t_mi_correction(4, 2, 3)
    assert dense.mi == pytest.approx(expected)
    sparse = beyond_normal_task("student-sparse-3-3-2-1-1.5")
    torch.testing.assert_close(sparse.matrix, sparse_covariance(3, 3, 1, 1.5))
    assert beyond_normal_title("student-sparse-3-3-2-1-1.5") == "Student-t 3 × 3 (dof=2, sparse)"


@pytest.mark.parametrize("name", BEYOND_NORMAL_TASKS)  # 0.1-0.6 s each
def test_catalogue_monte_carlo_mi(name):
    assert_mc_matches(beyond_normal_task(name))


# ----------------------------------------------------------------------------- forward-only
class _Doubled(Transform):
    name = "doubled"

    def output_dim(self, dim):
        return 2 * dim

    def forward(self, z):
        return torch.cat([z, z], dim=-1)


def test_forward_only_transform_samples_but_has_no_densities():
    task = TransformedTask(CorrelatedGaussian(2, 0.5), y_transform=_Doubled())
    assert (task.x_dim, task.y_dim, task.name) == (2, 4, "doubled-gaussian")
    x, y = task.sample(5, generator=gen(25))
    assert y.shape == (5, 4) and torch.equal(y[:, :2], y[:, 2:])
    with pytest.raises(NotImplementedError, match="_Doubled has no inverse"):
        task.log_ratio(x, y)
    with pytest.raises(NotImplementedError, match="_Doubled has no inverse"):
        task.log_marginal(y)


# ----------------------------------------------------------------------------- bad input
_I4 = torch.eye(4, dtype=F64)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: MultiNormal(-_I4, 2, 2), ValueError, "cov must be positive definite"),
        (lambda: MultiNormal(torch.ones(4, 4), 2, 2), ValueError, "cov must be positive definite"),
        (lambda: MultiNormal([[1.0]], 1, 1), ValueError, "cov must be positive definite"),
        (lambda: MultiNormal(torch.triu(torch.ones(4, 4)), 2, 2), ValueError, "cov.*symmetric"),
        (lambda: MultiNormal(torch.eye(3), 2, 2), ValueError, "cov must have shape"),
        (lambda: MultiNormal("eye", 2, 2), TypeError, "cov"),
        (lambda: MultiNormal(torch.eye(4, dtype=torch.long), 2, 2), TypeError, "cov"),
        (lambda: MultiNormal(_I4, 0, 4), ValueError, "x_dim"),
        (lambda: MultiNormal(_I4, 2, 2.0), TypeError, "y_dim"),
        (lambda: MultiNormal(_I4, 2, 2, name=3), TypeError, "name"),
        (lambda: StudentT(_I4, 2, 2, 0), ValueError, "df"),
        (lambda: StudentT(_I4, 2, 2, 1.5), TypeError, "df"),
        (lambda: StudentT([[2.0]], 1, 1, 3), ValueError, "dispersion"),
        (lambda: student_t_mi_correction(0.0, 1, 1), ValueError, "df"),
        (lambda: AdditiveUniform(0.0), ValueError, "epsilon"),
        (lambda: AdditiveUniform(-1), ValueError, "epsilon"),
        (lambda: AdditiveUniform(math.inf), ValueError, "epsilon"),
        (lambda: AdditiveUniform("0.1"), TypeError, "epsilon"),
        (lambda: dense_covariance(2, 2, 1.5), ValueError, "off_diag"),
        (lambda: sparse_covariance(2, 2, n_interacting=3), ValueError, "n_interacting"),
        (lambda: sparse_covariance(2, 2, strength="2"), TypeError, "strength"),
        (lambda: Spiral(1), ValueError, "dim"),
        (lambda: Spiral(3, plane=(1, 3)), ValueError, "plane"),
        (lambda: Spiral(3, speed=None), TypeError, "speed"),
        (lambda: Wiggly((0.9,), (2.0,), (0.0,)), ValueError, "sum"),
        (lambda: Wiggly((0.1, 0.1), (1.0,), (0.0,)), ValueError, "same length"),
        (lambda: Wiggly(0.1, (1.0,), (0.0,)), TypeError, "amplitudes"),
        (lambda: GaussianMixtureQuantile((0.5, -0.5), (0.0, 1.0)), ValueError, "weights"),
        (lambda: GaussianMixtureQuantile((0.5, 0.5), (0.0,)), ValueError, "same length"),
        (lambda: TransformedTask(MultiNormal(_I4, 2, 2), x_transform=SwissRoll()), ValueError,
         "x_transform acts on 1-dimensional"),
        (lambda: TransformedTask(MultiNormal(_I4, 2, 2), y_transform=Spiral(3)), ValueError,
         "y_transform"),
        (lambda: beyond_normal_task("2v2-normal-0.5"), ValueError, "name"),
        (lambda: beyond_normal_task("spiral-1v1-normal-0.5"), ValueError, "name: spiral"),
        (lambda: beyond_normal_task("swissroll_x-multinormal-dense-2-2-0.5"), ValueError,
         "name: swissroll"),
        (lambda: beyond_normal_task(7), TypeError, "name"),
        (lambda: beyond_normal_title(None), TypeError, "name"),
        (lambda: beyond_normal_tasks("1v1-normal-0.5"), TypeError, "names"),
        (lambda: MultiNormal(_I4, 2, 2).sample(0), ValueError, "num_samples"),
        (lambda: StudentT(_I4, 2, 2, 1).sample(4, generator=1), TypeError, "generator"),
        (lambda: AdditiveUniform(0.1).sample(4, dtype=torch.int32), TypeError, "dtype"),
        (lambda: MultiNormal(_I4, 2, 2).log_marginal(torch.zeros(3, 3)), ValueError, "y"),
        (lambda: StudentT(_I4, 1, 3, 2).log_ratio(torch.zeros(3, 2), torch.zeros(3, 3)),
         ValueError, "x"),
        (lambda: AdditiveUniform(0.1).log_ratio(torch.zeros(3, 1), [[0.0]]), TypeError, "y"),
    ],
)  # fmt: skip
def test_bad_input_raises_naming_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
