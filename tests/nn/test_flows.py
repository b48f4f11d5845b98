"""Tests of mi_utils.nn.flows: RealNVP couplings and the invertible encoder."""

from __future__ import annotations

import pytest
import torch

from mi_utils.nn import MIXINGS, AffineCoupling, InvertibleEncoder, alternating_mask

F64 = torch.float64
TOL = {torch.float32: 1e-5, F64: 1e-10}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def encoder(mixing="none", dtype=F64, seed=0, dim=5) -> InvertibleEncoder:
    return InvertibleEncoder(dim, 4, hidden_dim=16, mixing=mixing, generator=gen(seed), dtype=dtype)


def jacobian_log_det(fn, x: torch.Tensor) -> torch.Tensor:
    """log |det J| of ``fn`` at each row of ``x`` [N, d], by autograd."""
    out = []
    for row in x:
        jac = torch.autograd.functional.jacobian(fn, row)
        out.append(torch.linalg.slogdet(jac)[1])
    return torch.stack(out)


# ----------------------------------------------------------------------------- invertibility
@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("mixing", MIXINGS)
def test_inverse_undoes_forward(mixing, dtype):
    enc = encoder(mixing, dtype)
    x = 2.0 * torch.randn(3, 64, 5, generator=gen(1), dtype=dtype)
    y, log_det = enc(x)
    assert y.shape == x.shape and log_det.shape == (3, 64) and y.dtype == dtype
    torch.testing.assert_close(enc.inverse(y), x, rtol=0, atol=TOL[dtype])
    torch.testing.assert_close(enc(enc.inverse(y))[0], y, rtol=TOL[dtype], atol=TOL[dtype])
    assert not torch.allclose(y, x)  # not the identity


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_coupling_inverse_and_kept_coordinates(dtype):
    mask = torch.tensor([1, 0, 0, 1, 0])
    layer = AffineCoupling(mask, hidden_dim=8, generator=gen(2), dtype=dtype)
    x = torch.randn(100, 5, generator=gen(3), dtype=dtype)
    y, log_det = layer(x)
    assert torch.equal(y[:, [0, 3]], x[:, [0, 3]])  # x_a passes through unchanged
    torch.testing.assert_close(layer.inverse(y), x, rtol=0, atol=TOL[dtype])
    assert log_det.shape == (100,)
    assert log_det.abs().max() < 3 * layer.config["max_log_scale"]  # |s_k| < c, 3 coordinates


# ----------------------------------------------------------------------------- log-determinant
@pytest.mark.parametrize("mixing", MIXINGS)
def test_log_det_matches_the_autograd_jacobian(mixing):
    enc = encoder(mixing, F64, dim=4)
    x = torch.randn(6, 4, generator=gen(4), dtype=F64)
    ref = jacobian_log_det(lambda v: enc(v)[0], x)
    torch.testing.assert_close(enc.log_det(x), ref, rtol=0, atol=1e-10)
    torch.testing.assert_close(enc(x)[1], ref, rtol=0, atol=1e-10)
    assert ref.abs().max() > 0.01  # a non-trivial volume change


def test_coupling_log_det_matches_the_autograd_jacobian():
    layer = AffineCoupling(alternating_mask(3, 1), hidden_dim=8, generator=gen(5), dtype=F64)
    x = torch.randn(5, 3, generator=gen(6), dtype=F64)
    ref = jacobian_log_det(lambda v: layer(v)[0], x)
    torch.testing.assert_close(layer(x)[1], ref, rtol=0, atol=1e-12)


def test_log_scale_is_bounded_for_huge_inputs():
    layer = AffineCoupling(alternating_mask(4), max_log_scale=0.5, generator=gen(7), dtype=F64)
    x = 1e6 * torch.randn(50, 4, generator=gen(8), dtype=F64)
    _, log_det = layer(x)
    assert torch.isfinite(log_det).all() and log_det.abs().max() <= 2 * 0.5


# ----------------------------------------------------------------------------- randomness
@pytest.mark.parametrize("mixing", MIXINGS)
def test_generator_determinism(mixing):
    a, b, c = encoder(mixing, seed=0), encoder(mixing, seed=0), encoder(mixing, seed=1)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    state = torch.random.get_rng_state()
    encoder(mixing, seed=2)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is untouched


def test_mixing_matrices():
    perm = encoder("permutation").mixers
    orth = encoder("orthogonal").mixers
    assert encoder("none").mixers is None
    assert perm.shape == orth.shape == (3, 5, 5)
    eye = torch.eye(5, dtype=F64).expand(3, 5, 5)
    torch.testing.assert_close(orth @ orth.transpose(-1, -2), eye)
    assert torch.equal(perm.sum(-1), torch.ones(3, 5, dtype=F64))
    assert torch.equal(perm @ perm.transpose(-1, -2), eye)


def test_masks_alternate_and_gradients_flow():
    enc = encoder()
    masks = [c.mask for c in enc.couplings]
    assert torch.equal(masks[0], torch.tensor([True, False, True, False, True]))
    assert all(torch.equal(m, ~masks[0]) for m in masks[1::2])
    x = torch.randn(10, 5, generator=gen(9), dtype=F64)
    y, log_det = enc(x)
    (y.square().sum() - log_det.sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.parameters())


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "mask, match",
    [(torch.ones(4), "at least one"), (torch.zeros(4, dtype=torch.bool), "at least one"),
     (torch.tensor([0.0, 2.0, 1.0]), "only 0 and 1"), (torch.ones(2, 2), "1-d"),
     (torch.tensor([True]), "dim >= 2")],
)  # fmt: skip
def test_mask_validation(mask, match):
    with pytest.raises(ValueError, match=match):
        AffineCoupling(mask)
    with pytest.raises(TypeError, match=r"mask must be a 1-d torch\.Tensor"):
        AffineCoupling([1, 0])


def test_bad_arguments_raise_naming_them():
    with pytest.raises(ValueError, match="dim"):
        InvertibleEncoder(1)
    with pytest.raises(ValueError, match="mixing"):
        InvertibleEncoder(4, mixing="householder")
    with pytest.raises(ValueError, match="max_log_scale"):
        InvertibleEncoder(4, max_log_scale=0.0)
    with pytest.raises(ValueError, match="num_couplings"):
        InvertibleEncoder(4, num_couplings=0)
    with pytest.raises(ValueError, match="parity"):
        alternating_mask(4, 2)
    enc = encoder()
    with pytest.raises(ValueError, match=r"x must have shape \[\.\.\., 5\]"):
        enc(torch.zeros(3, 4, dtype=F64))
    with pytest.raises(TypeError, match="x must be a tensor of the module's dtype"):
        enc(torch.zeros(3, 5))
    with pytest.raises(TypeError, match="y must be"):
        enc.inverse([0.0] * 5)
    with pytest.raises(TypeError, match="y must be a floating"):
        enc.inverse(torch.zeros(3, 5, dtype=torch.int64))
