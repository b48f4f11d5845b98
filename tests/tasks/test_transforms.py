"""MI-preserving transforms: bijections, Jacobians, densities through the change of variables,
preserved MI, the (mixed) cubic task and bad input."""

from __future__ import annotations

import math

import pytest
import torch

from mi_utils.tasks import (
    CorrelatedGaussian,
    Cube,
    MixedCube,
    Task,
    Transform,
    TransformedTask,
    cubic,
    gaussian_log_marginal,
)
from tests.conftest import gen

F64 = torch.float64


def _skewed_weight(dim: int) -> torch.Tensor:
    """A full-rank, non-orthogonal, non-symmetric matrix with every entry non-zero."""
    w = torch.full((dim, dim), 0.3, dtype=F64) + torch.diag(torch.linspace(1.0, 2.0, dim))
    w[0, -1] = -0.7
    return w


def transforms(dim: int = 3) -> dict[str, Transform]:
    return {
        "cube": Cube(),
        "mixed-orthogonal": MixedCube.random(dim, generator=gen(5), condition=1.0),
        "mixed-random": MixedCube.random(dim, generator=gen(6)),
        "mixed-skewed": MixedCube(_skewed_weight(dim)),
    }


TRANSFORM_IDS = list(transforms())


def _points(n: int, dim: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=gen(seed), dtype=F64)


# ----------------------------------------------------------------------------- bijections
@pytest.mark.parametrize("which", TRANSFORM_IDS)
def test_inverse_undoes_forward(which):
    t = transforms()[which]
    z = _points(500).reshape(5, 100, 3)  # leading dims are kept
    y = t.forward(z)
    assert y.shape == z.shape
    torch.testing.assert_close(t.inverse(y), z, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(t(z), y)  # calling a transform is its forward


@pytest.mark.parametrize("which", TRANSFORM_IDS)
def test_log_abs_det_jacobian_matches_autograd(which):
    t = transforms()[which]
    z = _points(4, seed=1)
    got = t.log_abs_det_jacobian(z)
    assert got.shape == (4,)
    for k in range(4):
        jac = torch.autograd.functional.jacobian(t.forward, z[k])
        assert got[k].item() == pytest.approx(torch.linalg.slogdet(jac)[1].item(), abs=1e-10)


def test_mixed_cube_random_spectrum_and_seed():
    a = MixedCube.random(4, generator=gen(3))
    b = MixedCube.random(4, generator=gen(3))
    c = MixedCube.random(4, generator=gen(4))
    # singular values spread geometrically over the condition number 4, |det W| = 1
    s = torch.linalg.svdvals(a.weight)
    torch.testing.assert_close(s, 4.0 ** ((torch.arange(3, -1, -1, dtype=F64) - 1.5) / 3))
    assert a.log_abs_det_w == pytest.approx(0.0, abs=1e-12)
    assert (a.weight @ a.weight.T - torch.eye(4, dtype=F64)).abs().max() > 0.1  # not orthogonal
    ortho = MixedCube.random(4, generator=gen(3), condition=1.0)
    torch.testing.assert_close(ortho.weight @ ortho.weight.T, torch.eye(4, dtype=F64))
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, c.weight)
    state = torch.get_rng_state()
    MixedCube.random(4, generator=gen(3))
    assert torch.equal(state, torch.get_rng_state())


def test_mixed_cube_float32_inputs():
    t = MixedCube(_skewed_weight(3))
    z = _points(10).float()
    y = t.forward(z)
    assert y.dtype == torch.float32 and t.log_abs_det_jacobian(z).dtype == torch.float32
    torch.testing.assert_close(t.inverse(y), z, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "weight, exc, match",
    [
        (torch.tensor([[1.0, 2.0], [2.0, 4.0]]), ValueError, "full-rank"),  # singular
        (torch.zeros(3, 3), ValueError, "full-rank"),
        (torch.tensor([[1.0, 0.0], [0.0, 1e-12]]), ValueError, "well-conditioned"),
        (torch.ones(2, 3), ValueError, "square"),
        (torch.ones(3), ValueError, "square"),
        ([[1.0, 0.0], [0.0, 1.0]], TypeError, "weight"),
        (torch.eye(2, dtype=torch.int64), TypeError, "weight"),
    ],
)
def test_bad_weights_are_rejected(weight, exc, match):
    with pytest.raises(exc, match=match):
        MixedCube(weight)


def test_transform_base_class_is_abstract_in_practice():
    t = Transform()
    z = torch.zeros(2, 2)
    for method in (t.forward, t.inverse, t.log_abs_det_jacobian):
        with pytest.raises(NotImplementedError):
            method(z)


# ----------------------------------------------------------------------------- densities
def _transformed(which: str, dim: int = 3, rho: float = 0.7) -> TransformedTask:
    return TransformedTask(CorrelatedGaussian(dim, rho), y_transform=transforms(dim)[which])


@pytest.mark.parametrize("which", TRANSFORM_IDS)
def test_log_marginal_is_the_change_of_variables(which):
    # Directly: log p_Y(y) = log N(z; 0, I) - log|det J(z)| with z = g^{-1}(y), with the
    # Jacobian from autograd and the density from torch.distributions.
    task = _transformed(which)
    t = task.y_transform
    _, y = task.sample(5, generator=gen(2), dtype=F64)
    z = t.inverse(y)
    torch.testing.assert_close(t.forward(z), y)
    normal = torch.distributions.MultivariateNormal(
        torch.zeros(3, dtype=F64), torch.eye(3, dtype=F64)
    )
    for k in range(5):
        jac = torch.autograd.functional.jacobian(t.forward, z[k])
        expected = normal.log_prob(z[k]) - torch.linalg.slogdet(jac)[1]
        assert task.log_marginal(y)[k].item() == pytest.approx(expected.item(), abs=1e-9)


@pytest.mark.parametrize("which", TRANSFORM_IDS)
def test_inverse_and_log_det_is_the_inverse_and_its_log_det(which):
    t = transforms()[which]
    y = t.forward(_points(50, seed=3))
    z, log_det = t.inverse_and_log_det(y)
    torch.testing.assert_close(z, t.inverse(y))
    torch.testing.assert_close(log_det, t.log_abs_det_jacobian(z))
    z, log_det = Transform.inverse_and_log_det(t, y)  # the base class's default
    torch.testing.assert_close(log_det, t.log_abs_det_jacobian(t.inverse(y)))


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_mixed_cube_density_stays_accurate_near_an_axis(dtype):
    # A y with one tiny coordinate beside a large one: u = y^(1/3) recomputed as W (W^-1 u)
    # would lose the tiny coordinate to rounding (giving log 0 and an infinite density).
    w = _skewed_weight(2)
    task = TransformedTask(CorrelatedGaussian(2, 0.5), y_transform=MixedCube(w))
    y = torch.tensor([[-335.5, 1e-30], [2.0, -1e-20], [1e-25, 0.5]], dtype=F64)
    u = torch.sign(y) * y.abs() ** (1 / 3)
    z = u @ torch.linalg.inv(w).T
    expected = (
        gaussian_log_marginal(z)
        - torch.linalg.slogdet(w)[1]
        - (math.log(3.0) + 2.0 * torch.log(u.abs())).sum(-1)
    )
    got = task.log_marginal(y.to(dtype))
    assert torch.isfinite(got).all()
    rtol = 1e-4 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(got.double(), expected, rtol=rtol, atol=0)


def test_cubic_density_integrates_to_one_in_1d():
    # p(y^3) has an integrable |y|^(-2/3) spike at 0; integrate on the grid y = t^5 (a change of
    # variables unrelated to the cube) so that the integrand p(t^5) * 5 t^4 is smooth.
    task = cubic(CorrelatedGaussian(dim=1, rho=0.3))
    t = torch.linspace(-2.5, 2.5, 200_001, dtype=F64)
    t = t[t != 0]
    y = t**5
    dens = task.log_marginal(y[:, None]).exp() * 5 * t**4
    assert torch.trapezoid(dens, t).item() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("which", ["mixed-orthogonal", "mixed-skewed"])
def test_mixed_cubic_density_integrates_to_one_in_2d(which):
    # The density of (W z)^3 is singular where a coordinate of y vanishes, i.e. on the axes:
    # the grid y_k = t_k^5 smooths each axis out, as in 1-D.
    task = _transformed(which, dim=2, rho=0.5)
    t = torch.linspace(-3.2, 3.2, 1201, dtype=F64)
    t = t[t != 0]
    t1, t2 = torch.meshgrid(t, t, indexing="ij")
    y = torch.stack([t1**5, t2**5], -1)
    dens = task.log_marginal(y.reshape(-1, 2)).exp().reshape(t1.shape) * 25 * (t1 * t2) ** 4
    total = torch.trapezoid(torch.trapezoid(dens, t, dim=1), t).item()
    assert total == pytest.approx(1.0, abs=5e-3)


@pytest.mark.parametrize("which", TRANSFORM_IDS)
def test_log_conditional_is_the_change_of_variables(which):
    task = _transformed(which, rho=0.6)
    x, y = task.sample(6, batch_shape=(2,), generator=gen(3), dtype=F64)
    z = task.y_transform.inverse(y)
    expected = (
        task.task.log_conditional(x, z) - task.y_transform.log_abs_det_jacobian(z)[..., :, None]
    )
    torch.testing.assert_close(task.log_conditional(x, y), expected)
    # The conditional integrates to one as well: E_{y ~ p(y|x)} of p(y|x') / p(y|x) = 1.
    assert task.log_conditional(x, y).shape == (2, 6, 6)


@pytest.mark.parametrize("which", TRANSFORM_IDS)
def test_log_ratio_is_the_base_log_ratio_at_the_inverse_points(which):
    task = _transformed(which)
    x, y = task.sample(7, generator=gen(4), dtype=F64)
    base = task.task.log_ratio(x, task.y_transform.inverse(y))
    torch.testing.assert_close(task.log_ratio(x, y), base)
    # and it is the conditional minus the marginal (the Jacobians cancel)
    torch.testing.assert_close(task.log_ratio(x, y), Task.log_ratio(task, x, y))


@pytest.mark.parametrize("which", TRANSFORM_IDS)
def test_monte_carlo_entropy_of_y_matches_its_closed_form(which):
    # y = (W z)^3 with z ~ N(0, I_d): u = W z ~ N(0, W W^T) and u_k ~ N(0, s_k^2), so
    # h(Y) = h(Z) + log|det W| + sum_k (log 3 + 2 E log|u_k|), E log|u_k| = log s_k - (γ + log 2)/2
    # (W = I for the plain cube). Checked against the Monte Carlo E[-log p(y)] of the task.
    dim = 2
    task = _transformed(which, dim=dim, rho=0.5)
    t = task.y_transform
    w = t.weight if isinstance(t, MixedCube) else torch.eye(dim, dtype=F64)
    s = (w @ w.T).diagonal().sqrt()
    e_log_abs = torch.log(s) - 0.5 * (0.5772156649015329 + math.log(2.0))
    h_y = (
        0.5 * dim * (1.0 + math.log(2 * math.pi))
        + torch.linalg.slogdet(w)[1].item()
        + (math.log(3.0) + 2.0 * e_log_abs).sum().item()
    )
    _, y = task.sample(40_000, generator=gen(6), dtype=F64)
    neg_log_p = -task.log_marginal(y)
    se = neg_log_p.std().item() / math.sqrt(len(y))
    assert abs(neg_log_p.mean().item() - h_y) < 4 * se


@pytest.mark.parametrize("which", TRANSFORM_IDS)
@pytest.mark.parametrize("mi", [0.5, 3.0])
def test_monte_carlo_mi_is_preserved(which, mi):
    base = CorrelatedGaussian.from_mi(mi, dim=3)
    task = TransformedTask(base, y_transform=transforms(3)[which])
    assert task.mi == base.mi
    x, y = task.sample(20_000, generator=gen(7), dtype=F64)
    joint = (
        task.log_conditional(x[:, None, :], y[:, None, :])[:, 0, 0]
        - task.log_marginal(y[:, None, :])[:, 0]
    )
    se = joint.std().item() / math.sqrt(joint.numel())
    assert abs(joint.mean().item() - mi) < 4 * se


# ----------------------------------------------------------------------------- separability
def _cross_correlation(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``C[k, j] = corr(u_k, x_j)``."""
    xc, uc = x - x.mean(0), u - u.mean(0)
    return (uc.T @ xc) / (len(x) * uc.std(0)[:, None] * xc.std(0)[None, :])


def test_mixed_cube_couples_coordinates_and_cube_does_not():
    n, rho = 40_000, 0.8
    base = CorrelatedGaussian(dim=3, rho=rho)
    noise = 4.0 / math.sqrt(n)  # 4 SE of a zero correlation
    off = ~torch.eye(3, dtype=torch.bool)

    x, y = cubic(base).sample(n, generator=gen(8), dtype=F64)
    c_cube = _cross_correlation(x, torch.sign(y) * y.abs() ** (1 / 3))
    assert c_cube[off].abs().max().item() < noise  # y_k depends on x_k alone
    torch.testing.assert_close(
        c_cube.diagonal(), torch.full((3,), rho, dtype=F64), atol=0.02, rtol=0
    )

    mixed = cubic(base, mix=True, generator=gen(9))
    x, y = mixed.sample(n, generator=gen(8), dtype=F64)
    c_mixed = _cross_correlation(x, torch.sign(y) * y.abs() ** (1 / 3))
    # y^(1/3) = W y_base: corr(y^(1/3)_k, x_j) = rho W[k, j] / sqrt((W W^T)_kk)
    w = mixed.y_transform.weight
    expected = rho * w / (w @ w.T).diagonal().sqrt()[:, None]
    torch.testing.assert_close(c_mixed, expected, atol=noise, rtol=0)
    assert c_mixed[off].abs().max().item() > 10 * noise  # some y_k depends on several x_j


# ----------------------------------------------------------------------------- the tasks
def test_cubic_sample_is_the_cube_of_the_gaussian_sample():
    base = CorrelatedGaussian(dim=3, rho=0.5)
    xg, yg = base.sample(10, batch_shape=(2,), generator=gen(7))
    xc, yc = cubic(base).sample(10, batch_shape=(2,), generator=gen(7))
    torch.testing.assert_close(xc, xg)
    torch.testing.assert_close(yc, yg**3)


def test_cubic_names_and_attributes():
    base = CorrelatedGaussian.from_mi(2.0, dim=4)
    plain, mixed = cubic(base), cubic(base, mix=True, generator=gen())
    assert plain.name == "cubic" and mixed.name == "mixed-cubic"
    assert isinstance(plain.y_transform, Cube) and isinstance(mixed.y_transform, MixedCube)
    assert plain.task is base and plain.x_transform is None
    assert (plain.x_dim, plain.y_dim, plain.mi) == (4, 4, base.mi)
    assert plain.mi_error == base.mi_error
    assert plain.entropy_x == base.entropy_x
    other = cubic(cubic(base))  # a non-Gaussian base task keeps its name
    assert other.name == "cubic-cubic"
    # a mixed cubic task is determined by its generator
    again = cubic(base, mix=True, generator=gen())
    assert torch.equal(mixed.y_transform.weight, again.y_transform.weight)
    assert "TransformedTask(" in repr(plain) and "Cube()" in repr(plain)


def test_x_transform_and_default_name():
    base = CorrelatedGaussian(dim=2, rho=0.6)
    task = TransformedTask(base, x_transform=Cube(), y_transform=MixedCube.random(2))
    assert task.name == "cubic-mixed-cubic-gaussian"
    assert TransformedTask(base, name="mine").name == "mine"
    x, y = task.sample(5, generator=gen(2), dtype=F64)
    xb, yb = base.sample(5, generator=gen(2), dtype=F64)
    torch.testing.assert_close(x, xb**3)
    torch.testing.assert_close(task.log_ratio(x, y), base.log_ratio(xb, yb))
    with pytest.raises(AttributeError, match="entropy_x"):
        _ = task.entropy_x
    # an identity TransformedTask has the base densities
    same = TransformedTask(base)
    torch.testing.assert_close(same.log_marginal(yb), base.log_marginal(yb))
    torch.testing.assert_close(same.log_conditional(xb, yb), base.log_conditional(xb, yb))


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: TransformedTask("gaussian"), TypeError, "task"),
        (lambda: TransformedTask(CorrelatedGaussian(2, 0.1), y_transform=abs), TypeError,
         "y_transform"),
        (lambda: TransformedTask(CorrelatedGaussian(2, 0.1), x_transform="cube"), TypeError,
         "x_transform"),
        (lambda: TransformedTask(CorrelatedGaussian(2, 0.1), name=3), TypeError, "name"),
        (lambda: cubic("gaussian"), TypeError, "task"),
        (lambda: cubic(CorrelatedGaussian(2, 0.1), mix=1), TypeError, "mix"),
        (lambda: cubic(CorrelatedGaussian(2, 0.1), mix=True, generator=3), TypeError, "generator"),
        (lambda: MixedCube.random(0), ValueError, "dim"),
        (lambda: MixedCube.random(3, condition=0.5), ValueError, "condition"),
        (lambda: MixedCube.random(3, condition="4"), TypeError, "condition"),
        (lambda: cubic(CorrelatedGaussian(2, 0.1)).log_marginal(torch.zeros(3, 3)), ValueError,
         "y"),
        (lambda: cubic(CorrelatedGaussian(2, 0.1)).log_ratio(torch.zeros(3, 1),
                                                             torch.zeros(3, 2)), ValueError, "x"),
    ],
)  # fmt: skip
def test_bad_input_raises_naming_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
