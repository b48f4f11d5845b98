"""Tests of mi_utils.nn.encoders: Gaussian encoders p(z|x) and their score matrix."""

from __future__ import annotations

import math

import pytest
import torch

from mi_utils.bounds import infonce_lower_bound, interpolated_lower_bound
from mi_utils.nn import (
    LOG_SIGMA_RANGE,
    ConvGaussianEncoder,
    GaussianEncoder,
    gaussian_log_prob,
    gaussian_log_prob_matrix,
    reparameterize,
)

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def mlp_encoder(dtype=F64, seed=0) -> GaussianEncoder:
    return GaussianEncoder(5, 3, hidden_dim=16, generator=gen(seed), dtype=dtype)


def conv_encoder(dtype=F64, seed=0) -> ConvGaussianEncoder:
    return ConvGaussianEncoder(
        3, in_channels=2, image_size=16, channels=(4, 8), hidden_dim=16,
        generator=gen(seed), dtype=dtype,
    )  # fmt: skip


def inputs(kind: str, lead=(4, 7), dtype=F64, seed=1) -> torch.Tensor:
    shape = (*lead, 5) if kind == "mlp" else (*lead, 2, 16, 16)
    return torch.randn(shape, generator=gen(seed), dtype=dtype)


ENCODERS = {"mlp": mlp_encoder, "conv": conv_encoder}


def brute_force_matrix(z, mean, log_sigma):
    """S[..., i, j] = log N(z_i; mean_j, sigma_j^2) by a double loop."""
    k = z.shape[-2]
    out = torch.empty(*z.shape[:-1], k, dtype=z.dtype)
    for i in range(k):
        for j in range(k):
            normal = torch.distributions.Normal(mean[..., j, :], log_sigma[..., j, :].exp())
            out[..., i, j] = normal.log_prob(z[..., i, :]).sum(-1)
    return out


# ----------------------------------------------------------------------------- densities
@pytest.mark.parametrize("kind", ENCODERS)
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_log_prob_matches_torch_normal(kind, dtype):
    enc, x = ENCODERS[kind](dtype), inputs(kind, dtype=dtype)
    mean, log_sigma = enc(x)
    assert mean.shape == log_sigma.shape == (4, 7, 3) and mean.dtype == dtype
    z = torch.randn(4, 7, 3, generator=gen(2), dtype=dtype)
    ref = torch.distributions.Normal(mean, log_sigma.exp()).log_prob(z).sum(-1)
    out = enc.log_prob(z, x)
    assert out.shape == (4, 7)
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("kind", ENCODERS)
def test_log_prob_matrix_matches_a_double_loop_and_its_diagonal_is_log_prob(kind):
    enc, x = ENCODERS[kind](), inputs(kind)
    z = enc.sample(x, gen(3))
    scores = enc.log_prob_matrix(x, z)
    assert scores.shape == (4, 7, 7) and scores.dtype == F64
    mean, log_sigma = enc(x)
    torch.testing.assert_close(scores, brute_force_matrix(z, mean, log_sigma), rtol=0, atol=1e-10)
    diag = scores.diagonal(dim1=-2, dim2=-1)
    torch.testing.assert_close(diag, enc.log_prob(z, x), rtol=0, atol=0)


def test_matrix_is_accurate_in_float32_with_small_sigma_and_offset_codes():
    # Codes far from the origin and sigma near the floor: the centring and the exact diagonal
    # keep float32 close to the float64 reference.
    g = gen(4)
    mean = 50.0 + torch.randn(3, 16, 4, generator=g, dtype=F64)
    log_sigma = torch.full_like(mean, -5.0)
    z = mean + log_sigma.exp() * torch.randn(mean.shape, generator=g, dtype=F64)
    z, mean, log_sigma = z.float(), mean.float(), log_sigma.float()  # exact in float64 too
    ref = brute_force_matrix(z.double(), mean.double(), log_sigma.double())
    out = gaussian_log_prob_matrix(z, mean, log_sigma).double()
    diag = torch.eye(16, dtype=torch.bool)
    assert (out - ref)[..., diag].abs().max() < 1e-4  # the joint pairs: direct, no cancellation
    assert ((out - ref) / ref.abs().clamp_min(1.0)).abs().max() < 1e-5


def test_functions_refuse_mismatched_parameters():
    z = torch.zeros(4, 3)
    with pytest.raises(ValueError, match="share one shape"):
        gaussian_log_prob_matrix(z, torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(TypeError, match="share one dtype"):
        gaussian_log_prob(z, torch.zeros(4, 3, dtype=F64), torch.zeros(4, 3))
    with pytest.raises(TypeError, match="mean"):
        reparameterize([0.0], torch.zeros(1))
    with pytest.raises(TypeError, match="generator"):
        reparameterize(z, z, generator=0)


def test_log_sigma_is_softly_clamped_to_its_range():
    enc = mlp_encoder()
    lo, hi = LOG_SIGMA_RANGE
    with torch.no_grad():
        enc.net.layers[-1].bias[3:] = torch.tensor([-1e3, 0.0, 1e3], dtype=F64)
        enc.net.layers[-1].weight[3:] = 0.0
    x = inputs("mlp", seed=5).requires_grad_(False)
    _, log_sigma = enc(x)
    assert lo <= log_sigma.min() and log_sigma.max() <= hi
    torch.testing.assert_close(log_sigma[..., 0], torch.full((4, 7), lo, dtype=F64))
    torch.testing.assert_close(log_sigma[..., 2], torch.full((4, 7), hi, dtype=F64))
    assert abs(log_sigma[0, 0, 1].item()) < 0.01  # near identity inside the range
    raw = torch.tensor([-5.0, -1.0, 3.0], dtype=F64)
    enc.net.layers[-1].bias.data[3:] = raw
    gap = torch.exp(lo - raw) + torch.exp(raw - hi)  # the documented distance from r
    assert ((enc(x)[1][0, 0] - raw).abs() <= gap).all()


# ----------------------------------------------------------------------------- bounds
def linear_encoder(a: float, sigma: float) -> GaussianEncoder:
    """p(z|x) = N(a x, s^2 I), s ~ sigma (soft clamp), in 3 dims: x = relu(x) - relu(-x)."""
    enc = GaussianEncoder(3, 3, hidden_dim=6, num_layers=1, generator=gen(6), dtype=F64)
    first, last = enc.net.layers
    eye = torch.eye(3, dtype=F64)
    with torch.no_grad():
        first.weight.copy_(torch.cat([eye, -eye]))
        first.bias.zero_()
        last.weight.zero_()
        last.weight[:3] = a * torch.cat([eye, -eye], dim=1)
        last.bias.copy_(torch.tensor([0.0] * 3 + [math.log(sigma)] * 3, dtype=F64))
    return enc


def test_structured_bounds_on_the_encoder_matrix_are_valid():
    # x ~ N(0, I_3), z = a x + sigma eps: I(X; Z) = 3/2 log(1 + a^2 / sigma^2) = 2.03 nats.
    a, k, runs = 1.0, 32, 400
    enc = linear_encoder(a, 0.5)
    x = torch.randn(runs, k, 3, generator=gen(7), dtype=F64)
    with torch.no_grad():
        mean, log_sigma = enc(x)
        torch.testing.assert_close(mean, a * x)
        sigma = log_sigma[0, 0, 0].exp().item()
        torch.testing.assert_close(log_sigma, torch.full_like(x, math.log(sigma)))
        assert abs(sigma - 0.5) < 0.01
        true_mi = 1.5 * math.log(1 + a**2 / sigma**2)
        z = enc.sample(x, gen(8))
        scores = enc.log_prob_matrix(x, z)
        infonce = infonce_lower_bound(scores)
        # I_alpha with the true marginal N(0, a^2 + sigma^2) as its baseline a(z)
        marginal = torch.distributions.Normal(0.0, math.sqrt(a**2 + sigma**2))
        i_alpha = interpolated_lower_bound(scores, marginal.log_prob(z).sum(-1), 0.5)
    for est in (infonce, i_alpha):
        mean_est, se = est.mean().item(), est.std().item() / math.sqrt(runs)
        assert true_mi - 0.4 < mean_est < true_mi + 3 * se, (mean_est, se, true_mi)
    assert infonce.max() <= math.log(k)


# ----------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("kind", ENCODERS)
def test_sampling_is_reproducible_and_differentiable(kind):
    enc, x = ENCODERS[kind](), inputs(kind)
    z1, z2 = enc.sample(x, gen(9)), enc.sample(x, gen(9))
    assert torch.equal(z1, z2) and z1.shape == (4, 7, 3)
    assert not torch.equal(z1, enc.sample(x, gen(10)))
    state = torch.random.get_rng_state()
    scores = enc.log_prob_matrix(x, enc.sample(x, gen(11)))
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is untouched
    infonce_lower_bound(scores).sum().backward()
    grads = [p.grad for p in enc.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_reparameterized_sample_has_the_right_moments():
    mean = torch.tensor([1.0, -2.0], dtype=F64).expand(20000, 2)
    log_sigma = torch.tensor([0.0, math.log(3.0)], dtype=F64).expand(20000, 2)
    z = reparameterize(mean, log_sigma, gen(12))
    torch.testing.assert_close(z.mean(0), mean[0], atol=0.1, rtol=0)
    torch.testing.assert_close(z.std(0), log_sigma[0].exp(), atol=0.1, rtol=0)


@pytest.mark.parametrize("kind", ENCODERS)
def test_weights_come_from_the_generator(kind):
    a, b, c = ENCODERS[kind](seed=0), ENCODERS[kind](seed=0), ENCODERS[kind](seed=1)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    state = torch.random.get_rng_state()
    ENCODERS[kind](seed=2)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_conv_encoder_default_is_the_dsprites_encoder():
    enc = ConvGaussianEncoder(10, generator=gen())
    x = torch.zeros(2, 1, 64, 64)
    mean, log_sigma = enc(x)
    assert mean.shape == log_sigma.shape == (2, 10)
    assert [tuple(w.shape) for w in enc.conv_weights] == [
        (32, 1, 4, 4), (32, 32, 4, 4), (32, 32, 4, 4), (32, 32, 4, 4)
    ]  # fmt: skip
    assert "image_size=64" in repr(enc)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kind", ENCODERS)
def test_bad_inputs_raise_naming_the_argument(kind):
    enc, x = ENCODERS[kind](), inputs(kind)
    z = torch.zeros(4, 7, 3, dtype=F64)
    with pytest.raises(TypeError, match="x must be"):
        enc(x.float())
    with pytest.raises(TypeError, match="x must be"):
        enc(x.numpy())
    with pytest.raises(ValueError, match=r"x must have shape|x.shape\[-1\]"):
        enc(x[..., :-1])
    with pytest.raises(ValueError, match="x must"):
        enc(x[0, 0])  # no K axis
    bad = x.clone()
    bad[0, 0].view(-1)[0] = float("nan")
    with pytest.raises(ValueError, match="x must hold finite"):
        enc.log_prob_matrix(bad, z)
    with pytest.raises(ValueError, match="z must have the leading shape"):
        enc.log_prob_matrix(x, z[:, :6])  # K mismatch
    with pytest.raises(ValueError, match=r"z\.shape"):
        enc.log_prob(torch.zeros(4, 7, 2, dtype=F64), x)
    with pytest.raises(TypeError, match="z must be"):
        enc.log_prob(z.float(), x)
    with pytest.raises(ValueError, match="z must hold finite"):
        enc.log_prob(torch.full_like(z, float("inf")), x)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="in_dim"):
        GaussianEncoder(0, 2)
    with pytest.raises(ValueError, match="activation"):
        GaussianEncoder(3, 2, activation="gelu")
    with pytest.raises(TypeError, match="generator"):
        GaussianEncoder(3, 2, generator=1)
    with pytest.raises(ValueError, match="divisible by 2 \\*\\* len\\(channels\\) = 16"):
        ConvGaussianEncoder(2, image_size=40)
    with pytest.raises(TypeError, match="channels"):
        ConvGaussianEncoder(2, channels=())
    with pytest.raises(ValueError, match=r"channels\[1\]"):
        ConvGaussianEncoder(2, channels=(4, 0))
    with pytest.raises(TypeError, match="dtype"):
        ConvGaussianEncoder(2, dtype=torch.int64)


def test_help_shows_the_encoders_docs():
    import pydoc

    from mi_utils.nn import encoders, flows

    for module in (encoders, flows):
        page = pydoc.render_doc(module, renderer=pydoc.plaintext)
        assert "register_forward_pre_hook" not in page and len(page.splitlines()) < 1500
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type):
                assert obj.__doc__.splitlines()[0] in page, name


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_from_one_seed():
    from mi_utils.nn import InvertibleEncoder
    from mi_utils.probe import linear_probe

    out = {}
    for device in ("cpu", "cuda"):
        enc = GaussianEncoder(5, 3, hidden_dim=16, generator=gen(0), device=device, dtype=F64)
        flow = InvertibleEncoder(3, mixing="orthogonal", generator=gen(1), device=device, dtype=F64)
        x = inputs("mlp").to(device)
        z = enc.sample(x, gen(2))  # a CPU generator, drawn there and moved
        y, log_det = flow(z)
        torch.testing.assert_close(flow.inverse(y), z, rtol=0, atol=1e-10)
        scores = enc.log_prob_matrix(x, z)
        labels = (x[..., 0].reshape(-1) > 0).long()
        feats = z.reshape(-1, 3).detach()
        acc = linear_probe(feats, labels, feats, labels, num_steps=20).train_accuracy
        out[device] = (z.cpu(), scores.detach().cpu(), log_det.detach().cpu(), acc)
    for a, b in zip(out["cpu"][:3], out["cuda"][:3], strict=True):
        torch.testing.assert_close(a, b)
    assert out["cuda"][3] == pytest.approx(out["cpu"][3], abs=0.05)
