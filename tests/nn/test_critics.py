"""Tests of mi_utils.nn.critics: formulas, score convention, factory, errors, learnability.

Batching, conversions and initialisation of every module are tested in test_layers.py.
"""

from __future__ import annotations

import math

import pytest
import torch

from mi_utils.nn import (
    CRITIC_KINDS,
    BatchedConcatCritic,
    BatchedSeparableCritic,
    ConcatCritic,
    SeparableCritic,
    make_critic,
)
from mi_utils.tasks import CorrelatedGaussian

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
ACTS = {"relu": torch.relu, "tanh": torch.tanh, "elu": torch.nn.functional.elu}
ACTS["softplus"] = torch.nn.functional.softplus
DX, DY, K, R = 3, 4, 5, 3  # dx != dy so that swapping x and y cannot pass


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(shape, generator=gen(seed), dtype=dtype)


def mlp_by_hand(mlp, h: torch.Tensor, act) -> torch.Tensor:
    """The MLP written out: act(h W^T + b) through the hidden layers, then a linear output."""
    *hidden, last = mlp.layers
    for layer in hidden:
        h = act(h @ layer.weight.T + layer.bias)
    return h @ last.weight.T + last.bias


# ----------------------------------------------------------------------------- critics
@pytest.mark.parametrize("activation", sorted(ACTS))
def test_separable_is_h_of_y_times_g_of_x(activation):
    c = SeparableCritic(DX, DY, 16, 8, activation=activation, generator=gen(), dtype=torch.float64)
    x, y = randn(K, DX, seed=1, dtype=torch.float64), randn(K, DY, seed=2, dtype=torch.float64)
    act = ACTS[activation]
    expected = mlp_by_hand(c.h, y, act) @ mlp_by_hand(c.g, x, act).T
    scores = c(x, y)
    assert scores.shape == (K, K) and scores.dtype == torch.float64
    torch.testing.assert_close(scores, expected)


@pytest.mark.parametrize("activation", sorted(ACTS))
@pytest.mark.parametrize("num_layers", [1, 3])
def test_concat_equals_naive_concatenation_over_all_pairs(activation, num_layers):
    c = ConcatCritic(DX, DY, 16, num_layers, activation, generator=gen(), dtype=torch.float64)
    x, y = randn(K, DX, seed=1, dtype=torch.float64), randn(K, DY, seed=2, dtype=torch.float64)
    scores = c(x, y)
    assert scores.shape == (K, K)
    naive = torch.empty(K, K, dtype=torch.float64)
    for i in range(K):
        for j in range(K):
            naive[i, j] = mlp_by_hand(c.net, torch.cat([x[j], y[i]]), ACTS[activation])[0]
    torch.testing.assert_close(scores, naive)


def test_concat_gradients_equal_the_naive_ones():
    c = ConcatCritic(DX, DY, 16, generator=gen(), dtype=torch.float64)
    x, y = randn(K, DX, seed=1, dtype=torch.float64), randn(K, DY, seed=2, dtype=torch.float64)
    weights = randn(K, K, seed=3, dtype=torch.float64)
    pairs = torch.cat([x[None, :, :].expand(K, K, DX), y[:, None, :].expand(K, K, DY)], dim=-1)
    grads = []
    for scores in (c(x, y), c.net(pairs).squeeze(-1)):
        c.zero_grad()
        (weights * scores).sum().backward()
        grads.append({k: p.grad.clone() for k, p in c.named_parameters()})
    for key in grads[0]:
        torch.testing.assert_close(grads[0][key], grads[1][key])


@pytest.mark.parametrize("kind", CRITIC_KINDS)
def test_score_convention_rows_index_y_columns_index_x(kind):
    c = make_critic(kind, DX, DY, hidden_dim=16, generator=gen(), dtype=torch.float64)
    x, y = randn(K, DX, seed=1, dtype=torch.float64), randn(K, DY, seed=2, dtype=torch.float64)
    scores = c(x, y)
    for i, j in [(0, 3), (3, 0), (2, 2), (4, 1)]:  # f(x_j, y_i) from a batch of one pair
        torch.testing.assert_close(scores[i, j], c(x[j : j + 1], y[i : i + 1])[0, 0])


@pytest.mark.parametrize("kind", CRITIC_KINDS)
def test_critics_accept_leading_dimensions(kind):
    c = make_critic(kind, DX, DY, hidden_dim=16, generator=gen())
    x, y = randn(2, 3, K, DX, seed=1), randn(2, 3, K, DY, seed=2)
    scores = c(x, y)
    assert scores.shape == (2, 3, K, K)
    torch.testing.assert_close(scores[1, 2], c(x[1, 2], y[1, 2]))


def test_default_sizes_are_the_papers():
    # weights are [out_dim, in_dim], as in torch.nn.Linear
    shapes = [tuple(layer.weight.shape) for layer in SeparableCritic(20, 20).g.layers]
    assert shapes == [(256, 20), (256, 256), (32, 256)]
    shapes = [tuple(layer.weight.shape) for layer in ConcatCritic(20, 7).net.layers]
    assert shapes == [(256, 27), (256, 256), (1, 256)]


def test_concat_first_layer_splits_into_x_and_y_columns():
    c = ConcatCritic(DX, DY, 8, generator=gen(), dtype=torch.float64)
    w, b = c.net.layers[0].weight, c.net.layers[0].bias  # [8, DX + DY], [8]
    x, y = randn(K, DX, seed=1, dtype=torch.float64), randn(K, DY, seed=2, dtype=torch.float64)
    first = torch.relu(torch.cat([x[1], y[3]]) @ w.T + b)  # the pair (x_1, y_3) concatenated
    torch.testing.assert_close(c.net(first, start=1)[0], c(x, y)[3, 1])


def test_make_critic_picks_the_class():
    assert type(make_critic("separable", DX, DY)) is SeparableCritic
    assert type(make_critic("concat", DX, DY, num_runs=2, hidden_dim=8)) is BatchedConcatCritic
    assert type(make_critic("separable", DX, DY, num_runs=2)) is BatchedSeparableCritic
    assert make_critic("separable", DX, DY, embed_dim=4).g.layers[-1].weight.shape == (4, 256)


# ----------------------------------------------------------------------------- validation
x3, y4 = randn(K, DX), randn(K, DY)
xb, yb = randn(R, K, DX), randn(R, K, DY)
sep = SeparableCritic(DX, DY, 8, 4, generator=gen())
con = ConcatCritic(DX, DY, 8, generator=gen())
bsep = BatchedSeparableCritic(R, DX, DY, 8, 4, generator=gen())
bcon = BatchedConcatCritic(R, DX, DY, 8, generator=gen())

BAD = [
    # constructors
    (lambda: SeparableCritic(0, DY), ValueError, "x_dim must be an int >= 1"),
    (lambda: ConcatCritic(DX, -1), ValueError, "y_dim must be an int >= 1"),
    (lambda: SeparableCritic(DX, DY, hidden_dim=0), ValueError, "hidden_dim"),
    (lambda: SeparableCritic(DX, DY, embed_dim=0), ValueError, "embed_dim"),
    (lambda: ConcatCritic(DX, DY, num_layers=0), ValueError, "num_layers"),
    (lambda: SeparableCritic(DX, DY, hidden_dim=2.5), TypeError, "hidden_dim must be an int"),
    (lambda: SeparableCritic(True, DY), TypeError, "x_dim"),
    (lambda: ConcatCritic(DX, DY, activation="gelu"), ValueError, r"activation must be one of"),
    (lambda: SeparableCritic(DX, DY, activation=None), ValueError, "elu.*relu.*softplus.*tanh"),
    (lambda: SeparableCritic(DX, DY, generator=0), TypeError, "generator"),
    (lambda: ConcatCritic(DX, DY, dtype=torch.int64), TypeError, "dtype"),
    (lambda: BatchedSeparableCritic(0, DX, DY), ValueError, "num_runs must be an int >= 1"),
    (lambda: BatchedConcatCritic(2.0, DX, DY), TypeError, "num_runs"),
    # forward inputs
    (lambda: sep(x3.numpy(), y4), TypeError, "x must be a torch.Tensor"),
    (lambda: con(x3, [[1.0] * DY] * K), TypeError, "y must be a torch.Tensor"),
    (lambda: sep(x3.long(), y4), TypeError, "x must be a tensor of the module's dtype"),
    (lambda: con(x3, y4.double()), TypeError, "y must .* dtype torch.float32"),
    (lambda: sep(x3[:4], y4), ValueError, r"x and y .*\(4, 3\).*\(5, 4\)"),
    (lambda: con(x3, y4[:2]), ValueError, r"x and y .*\(5, 3\).*\(2, 4\)"),
    (lambda: sep(x3[:, :2], y4), ValueError, r"x.shape\[-1\] must equal x_dim=3"),
    (lambda: con(x3, y4[:, :3]), ValueError, r"y.shape\[-1\] must equal y_dim=4"),
    (lambda: con(y4, x3), ValueError, "x_dim=3"),
    (lambda: sep(x3[0], y4[0]), ValueError, r"x must have shape \[..., K, d\]"),
    (lambda: bsep(xb[:2], yb[:2]), ValueError, r"x must have shape \[num_runs=3, K, d\]"),
    (lambda: bcon(x3, y4), ValueError, "num_runs=3"),
    (lambda: bcon(xb, yb[:, :4]), ValueError, "x and y"),
    # conversions
    (lambda: bsep.unbatched(R), ValueError, r"r must be an int in \[0, 3\)"),
    (lambda: bsep.unbatched(0.0), TypeError, "r must be an int"),
    (lambda: BatchedSeparableCritic.from_modules([]), ValueError, "non-empty"),
    (lambda: BatchedSeparableCritic.from_modules(sep), TypeError, "modules must be a list of Sep"),
    (lambda: BatchedSeparableCritic.from_modules([con]), TypeError, "SeparableCritic"),
    (lambda: BatchedSeparableCritic.from_modules([bsep]), TypeError, "SeparableCritic"),
    (
        lambda: BatchedConcatCritic.from_modules([con, ConcatCritic(DX, DY, 16)]),
        ValueError,
        "share one config",
    ),
    (
        lambda: BatchedConcatCritic.from_modules(
            [con, ConcatCritic(DX, DY, 8, dtype=torch.float64)]
        ),
        ValueError,
        "share one dtype and device",
    ),
    # factories
    (lambda: make_critic("bilinear", DX, DY), ValueError, r"kind must be one of \('separable', 'c"),
    (lambda: make_critic("concat", DX, DY, num_runs=0), ValueError, "num_runs"),
]


@pytest.mark.parametrize(("bad", "error", "match"), BAD, ids=[m for _, _, m in BAD])
def test_bad_input_raises_naming_the_argument(bad, error, match):
    with pytest.raises(error, match=match):
        bad()


# ----------------------------------------------------------------------------- dtype, device
@pytest.mark.parametrize("kind", CRITIC_KINDS)
def test_float64_gradcheck(kind):
    c = make_critic(kind, DX, DY, num_runs=2, hidden_dim=6, activation="tanh", dtype=torch.float64)
    x = randn(2, K, DX, seed=1, dtype=torch.float64).requires_grad_()
    y = randn(2, K, DY, seed=2, dtype=torch.float64).requires_grad_()
    assert c(x, y).dtype == torch.float64
    assert torch.autograd.gradcheck(c, (x, y))


@CUDA
@pytest.mark.gpu
@pytest.mark.parametrize("kind", CRITIC_KINDS)
def test_cuda_modules_match_cpu(kind):
    # One CPU generator gives the same weights on either device (drawn on CPU, then moved).
    cpu = make_critic(kind, DX, DY, num_runs=R, hidden_dim=16, generator=gen())
    gpu = make_critic(kind, DX, DY, num_runs=R, hidden_dim=16, generator=gen(), device="cuda")
    assert all(p.is_cuda for p in gpu.parameters())
    for (key, p), q in zip(cpu.named_parameters(), gpu.parameters(), strict=True):
        assert torch.equal(p, q.cpu()), key
    x, y = randn(R, K, DX, seed=1), randn(R, K, DY, seed=2)
    out = gpu(x.cuda(), y.cuda())
    assert out.is_cuda and out.shape == (R, K, K)
    torch.testing.assert_close(out.cpu(), cpu(x, y), rtol=1e-4, atol=1e-4)
    assert all(p.is_cuda for p in gpu.unbatched(1).parameters())


# ----------------------------------------------------------------------------- learnability
def infonce(scores: torch.Tensor) -> torch.Tensor:
    """log K + mean_i [s_ii - logsumexp_j s_ij], written out here on purpose."""
    k = scores.shape[-1]
    diag = scores.diagonal(dim1=-2, dim2=-1)
    return math.log(k) + (diag - scores.logsumexp(dim=-1)).mean(dim=-1)


@pytest.mark.parametrize("num_runs", [None, 2])
def test_separable_critic_learns_the_gaussian_task(num_runs):
    task = CorrelatedGaussian.from_mi(2.0, dim=5)
    g = gen(0)
    critic = make_critic("separable", 5, 5, num_runs=num_runs, generator=g)
    lead = () if num_runs is None else (num_runs,)

    def batch():
        return task.sample(64, batch_shape=lead, generator=g)

    opt = torch.optim.Adam(critic.parameters(), lr=5e-4)
    for _ in range(200):
        loss = -infonce(critic(*batch())).sum()  # a sum over runs keeps each run's own gradient
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        estimate = torch.stack([infonce(critic(*batch())) for _ in range(20)]).mean(0)
    assert torch.all(estimate > 1.0), estimate  # true MI 2 nats, ceiling log 64 = 4.16 nats
