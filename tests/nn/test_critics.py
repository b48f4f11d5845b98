"""Tests of mi_utils.critics: formulas, score convention, batching, seeds, errors, learnability."""

from __future__ import annotations

import math

import pytest
import torch

from mi_utils.critics import (
    MLP,
    BatchedConcatCritic,
    BatchedConstantBaseline,
    BatchedLinear,
    BatchedMLP,
    BatchedMLPBaseline,
    BatchedSeparableCritic,
    ConcatCritic,
    ConstantBaseline,
    Linear,
    MLPBaseline,
    SeparableCritic,
    TrueMarginalBaseline,
    make_baseline,
    make_critic,
)
from mi_utils.data import CorrelatedGaussian

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
ACTS = {"relu": torch.relu, "tanh": torch.tanh, "elu": torch.nn.functional.elu}
ACTS["softplus"] = torch.nn.functional.softplus
DX, DY, K, R = 3, 4, 5, 3  # dx != dy so that swapping x and y cannot pass


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(shape, generator=gen(seed), dtype=dtype)


def mlp_by_hand(mlp, h: torch.Tensor, act) -> torch.Tensor:
    """The MLP written out: act(h W + b) through the hidden layers, then a linear output."""
    *hidden, last = mlp.layers
    for layer in hidden:
        h = act(h @ layer.weight + layer.bias)
    return h @ last.weight + last.bias


def params(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def assert_same_params(a, b) -> None:
    pa, pb = params(a), params(b)
    assert pa.keys() == pb.keys()
    for key in pa:
        assert torch.equal(pa[key], pb[key]), key


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


@pytest.mark.parametrize("kind", ["separable", "concat"])
def test_score_convention_rows_index_y_columns_index_x(kind):
    c = make_critic(kind, DX, DY, hidden_dim=16, generator=gen(), dtype=torch.float64)
    x, y = randn(K, DX, seed=1, dtype=torch.float64), randn(K, DY, seed=2, dtype=torch.float64)
    scores = c(x, y)
    for i, j in [(0, 3), (3, 0), (2, 2), (4, 1)]:  # f(x_j, y_i) from a batch of one pair
        torch.testing.assert_close(scores[i, j], c(x[j : j + 1], y[i : i + 1])[0, 0])


@pytest.mark.parametrize("kind", ["separable", "concat"])
def test_critics_accept_leading_dimensions(kind):
    c = make_critic(kind, DX, DY, hidden_dim=16, generator=gen())
    x, y = randn(2, 3, K, DX, seed=1), randn(2, 3, K, DY, seed=2)
    scores = c(x, y)
    assert scores.shape == (2, 3, K, K)
    torch.testing.assert_close(scores[1, 2], c(x[1, 2], y[1, 2]))


def test_default_sizes_are_the_papers():
    shapes = [tuple(layer.weight.shape) for layer in SeparableCritic(20, 20).g.layers]
    assert shapes == [(20, 256), (256, 256), (256, 32)]
    shapes = [tuple(layer.weight.shape) for layer in ConcatCritic(20, 7).net.layers]
    assert shapes == [(27, 256), (256, 256), (256, 1)]
    assert [tuple(layer.weight.shape) for layer in MLPBaseline(7).net.layers][-1] == (256, 1)


# ----------------------------------------------------------------------------- baselines
def test_constant_baseline_is_one_learned_scalar():
    b = ConstantBaseline(init=1.5)
    assert [p.shape for p in b.parameters()] == [torch.Size([])]
    out = b(randn(2, K, DY))
    assert out.shape == (2, K)
    assert torch.all(out == 1.5)
    out.sum().backward()
    assert b.log_a.grad.item() == 2 * K


def test_mlp_baseline_is_an_mlp_on_y():
    b = MLPBaseline(DY, 16, generator=gen(), dtype=torch.float64)
    y = randn(2, K, DY, seed=1, dtype=torch.float64)
    out = b(y)
    assert out.shape == (2, K)
    torch.testing.assert_close(out, mlp_by_hand(b.net, y, torch.relu).squeeze(-1))


def test_true_marginal_baseline_is_log_p_y():
    task = CorrelatedGaussian(dim=DY, rho=0.5)
    b = TrueMarginalBaseline(task)
    assert list(b.parameters()) == []
    y = randn(R, K, DY, seed=1, dtype=torch.float64)  # any leading shape, batched runs included
    torch.testing.assert_close(b(y), task.log_marginal(y))
    assert b(y).shape == (R, K)
    assert make_baseline("true", task=task, num_runs=R)(y).shape == (R, K)


# ----------------------------------------------------------------------------- batching
# name -> (build a single module from keyword arguments generator and dtype, its batched class)
CASES = {
    "separable": (lambda **kw: SeparableCritic(DX, DY, 16, 8, **kw), BatchedSeparableCritic),
    "concat": (lambda **kw: ConcatCritic(DX, DY, 16, activation="tanh", **kw), BatchedConcatCritic),
    "constant": (
        lambda generator, **kw: ConstantBaseline(torch.randn(1, generator=generator).item(), **kw),
        BatchedConstantBaseline,
    ),
    "mlp_baseline": (lambda **kw: MLPBaseline(DY, 16, activation="elu", **kw), BatchedMLPBaseline),
    "mlp": (lambda **kw: MLP(DX, 16, 2, 2, "softplus", **kw), BatchedMLP),
    "linear": (lambda **kw: Linear(DX, 6, **kw), BatchedLinear),
}


def make_inputs(name, leading, dtype):
    if name in ("separable", "concat"):
        x = randn(*leading, K, DX, seed=1, dtype=dtype)
        return x, randn(*leading, K, DY, seed=2, dtype=dtype)
    if name in ("constant", "mlp_baseline"):
        return (randn(*leading, K, DY, seed=2, dtype=dtype),)
    return (randn(*leading, K, DX, seed=1, dtype=dtype),)


def singles(name, dtype=torch.float32):
    build, _ = CASES[name]
    return [build(generator=gen(10 + r), dtype=dtype) for r in range(R)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(CASES))
def test_batched_equals_separate_modules(name, dtype):
    modules = singles(name, dtype)
    batched = CASES[name][1].from_modules(modules)
    inputs = make_inputs(name, (R,), dtype)
    out = batched(*inputs)
    assert out.dtype == dtype
    for r, module in enumerate(modules):
        torch.testing.assert_close(out[r], module(*[t[r] for t in inputs]))


@pytest.mark.parametrize("name", sorted(CASES))
def test_from_modules_and_unbatched_round_trip(name):
    modules = singles(name)
    batched = CASES[name][1].from_modules(modules)
    assert batched.num_runs == R
    for r, module in enumerate(modules):
        copy = batched.unbatched(r)
        assert type(copy) is type(module)
        assert_same_params(copy, module)
    again = CASES[name][1].from_modules([batched.unbatched(r) for r in range(R)])
    assert_same_params(again, batched)
    # copies, not views: training the batched module leaves the single modules alone
    with torch.no_grad():
        for p in batched.parameters():
            p.add_(1.0)
    assert not torch.equal(next(batched.unbatched(0).parameters()), next(modules[0].parameters()))


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_of_one_run_touch_only_its_slice(name):
    modules = singles(name, torch.float64)
    batched = CASES[name][1].from_modules(modules)
    inputs = make_inputs(name, (R,), torch.float64)
    r = 1
    batched(*inputs)[r].square().sum().backward()
    modules[r](*[t[r] for t in inputs]).square().sum().backward()
    single_grads = {k: p.grad for k, p in modules[r].named_parameters()}
    for key, p in batched.named_parameters():
        others = torch.cat([p.grad[:r].flatten(), p.grad[r + 1 :].flatten()])
        assert torch.all(others == 0), key
        torch.testing.assert_close(p.grad[r].reshape(single_grads[key].shape), single_grads[key])
    assert any(p.grad[r].abs().sum() > 0 for p in batched.parameters())


def test_batched_linear_uses_the_stacked_layout():
    layer = BatchedLinear(R, DX, 6, generator=gen())
    assert layer.weight.shape == (R, DX, 6) and layer.bias.shape == (R, 1, 6)
    x = randn(R, K, DX)
    torch.testing.assert_close(layer(x), torch.bmm(x, layer.weight) + layer.bias)


def test_make_critic_and_make_baseline_pick_the_classes():
    assert type(make_critic("separable", DX, DY)) is SeparableCritic
    assert type(make_critic("concat", DX, DY, num_runs=2, hidden_dim=8)) is BatchedConcatCritic
    assert type(make_critic("separable", DX, DY, num_runs=2)) is BatchedSeparableCritic
    assert make_critic("separable", DX, DY, embed_dim=4).g.layers[-1].weight.shape == (256, 4)
    assert type(make_baseline("constant", init=2.0)) is ConstantBaseline
    assert type(make_baseline("constant", num_runs=2)) is BatchedConstantBaseline
    assert type(make_baseline("mlp", DY)) is MLPBaseline
    assert type(make_baseline("mlp", DY, num_runs=2, hidden_dim=8)) is BatchedMLPBaseline
    task = CorrelatedGaussian(dim=DY, rho=0.3)
    assert type(make_baseline("true", task=task, generator=gen())) is TrueMarginalBaseline


# ----------------------------------------------------------------------------- initialisation
ALL_BUILDERS = {
    "separable": lambda g: SeparableCritic(DX, DY, 16, 8, generator=g),
    "concat": lambda g: ConcatCritic(DX, DY, 16, generator=g),
    "mlp_baseline": lambda g: MLPBaseline(DY, 16, generator=g),
    "batched_separable": lambda g: BatchedSeparableCritic(R, DX, DY, 16, 8, generator=g),
    "batched_concat": lambda g: BatchedConcatCritic(R, DX, DY, 16, generator=g),
    "batched_mlp_baseline": lambda g: BatchedMLPBaseline(R, DY, 16, generator=g),
}


def test_construction_and_conversion_leave_the_global_rng_alone():
    state = torch.get_rng_state()
    for build in ALL_BUILDERS.values():
        build(gen())
    BatchedConstantBaseline(R, generator=gen())
    batched = BatchedSeparableCritic.from_modules([SeparableCritic(DX, DY, 8, generator=gen())])
    batched.unbatched(0)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("name", sorted(ALL_BUILDERS))
def test_same_seed_same_weights_other_seed_other_weights(name):
    build = ALL_BUILDERS[name]
    assert_same_params(build(gen(7)), build(gen(7)))
    a, b = params(build(gen(7))), params(build(gen(8)))
    assert all(not torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", ["batched_separable", "batched_concat", "batched_mlp_baseline"])
def test_runs_of_a_batched_module_differ(name):
    batched = ALL_BUILDERS[name](gen())
    for key, p in batched.named_parameters():
        for r in range(1, R):
            assert not torch.equal(p[0], p[r]), key


def test_batched_linear_run_r_is_the_rth_linear_from_the_generator():
    g = gen(3)
    layers = [Linear(DX, 6, generator=g) for _ in range(R)]
    assert_same_params(
        BatchedLinear(R, DX, 6, generator=gen(3)), BatchedLinear.from_modules(layers)
    )


def test_init_is_torch_linear_default_uniform():
    layer = Linear(400, 300, generator=gen(), dtype=torch.float64)
    bound = 1 / math.sqrt(400)  # nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), weight and bias
    for t in (layer.weight.detach(), layer.bias.detach()):
        assert t.abs().max() <= bound
    w = layer.weight.detach()
    assert w.abs().max() > 0.999 * bound  # 120 000 draws reach the edge of the support
    assert abs(w.mean()) < 0.01 * bound
    assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    assert (w.abs() < bound / 2).double().mean().item() == pytest.approx(0.5, abs=0.01)
    reference = torch.nn.Linear(400, 300, dtype=torch.float64).weight.detach()
    assert reference.abs().max() <= bound  # the same bound as torch's own default
    first = ConcatCritic(DX, DY, generator=gen()).net.layers[0]
    assert first.bias.abs().max() <= 1 / math.sqrt(DX + DY)


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
    (lambda: MLPBaseline(DY, num_layers=0), ValueError, "num_layers"),
    (lambda: SeparableCritic(DX, DY, hidden_dim=2.5), TypeError, "hidden_dim must be an int"),
    (lambda: SeparableCritic(True, DY), TypeError, "x_dim"),
    (lambda: MLPBaseline(0), ValueError, "y_dim"),
    (lambda: ConcatCritic(DX, DY, activation="gelu"), ValueError, r"activation must be one of"),
    (lambda: SeparableCritic(DX, DY, activation=None), ValueError, "elu.*relu.*softplus.*tanh"),
    (lambda: SeparableCritic(DX, DY, generator=0), TypeError, "generator"),
    (lambda: ConcatCritic(DX, DY, dtype=torch.int64), TypeError, "dtype"),
    (lambda: BatchedSeparableCritic(0, DX, DY), ValueError, "num_runs must be an int >= 1"),
    (lambda: BatchedConcatCritic(2.0, DX, DY), TypeError, "num_runs"),
    (lambda: BatchedMLPBaseline(-1, DY), ValueError, "num_runs"),
    (lambda: BatchedConstantBaseline(0), ValueError, "num_runs"),
    (lambda: ConstantBaseline(init="zero"), TypeError, "init must be a finite real"),
    (lambda: ConstantBaseline(init=math.inf), ValueError, "init"),
    (lambda: TrueMarginalBaseline("gaussian"), TypeError, "task must have a log_marginal"),
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
    (lambda: MLPBaseline(DY)(x3), ValueError, "y_dim=4"),
    (lambda: ConstantBaseline()(torch.ones(K)), ValueError, "y must have shape"),
    (lambda: BatchedConstantBaseline(R)(y4), ValueError, "num_runs=3"),
    (lambda: BatchedMLPBaseline(2, DY, 8)(yb), ValueError, "num_runs=2"),
    (lambda: TrueMarginalBaseline(CorrelatedGaussian(DY, 0.5))(x3), ValueError, "y_dim=4"),
    (lambda: TrueMarginalBaseline(CorrelatedGaussian(DY, 0.5))(y4.int()), TypeError, "y must"),
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
    (lambda: make_critic("bilinear", DX, DY), ValueError, r"kind must be one of \['concat', 'sep"),
    (lambda: make_critic("concat", DX, DY, num_runs=0), ValueError, "num_runs"),
    (lambda: make_baseline("learned"), ValueError, "'constant', 'mlp', 'true'"),
    (lambda: make_baseline("mlp"), ValueError, "y_dim is required"),
    (lambda: make_baseline("true"), ValueError, "task is required"),
    (lambda: make_baseline("true", task=CorrelatedGaussian(2, 0.1), hidden_dim=3), TypeError, "no"),
]


@pytest.mark.parametrize(("bad", "error", "match"), BAD, ids=[m for _, _, m in BAD])
def test_bad_input_raises_naming_the_argument(bad, error, match):
    with pytest.raises(error, match=match):
        bad()


# ----------------------------------------------------------------------------- dtype, device
@pytest.mark.parametrize("kind", ["separable", "concat"])
def test_float64_gradcheck(kind):
    c = make_critic(kind, DX, DY, num_runs=2, hidden_dim=6, activation="tanh", dtype=torch.float64)
    x = randn(2, K, DX, seed=1, dtype=torch.float64).requires_grad_()
    y = randn(2, K, DY, seed=2, dtype=torch.float64).requires_grad_()
    assert c(x, y).dtype == torch.float64
    assert torch.autograd.gradcheck(c, (x, y))


@CUDA
@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["separable", "concat"])
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
    base = BatchedMLPBaseline(R, DY, 8, generator=gen(), device="cuda")
    assert base(y.cuda()).is_cuda


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
        x, y = task.sample(math.prod(lead) * 64, generator=g)
        return x.reshape(*lead, 64, 5), y.reshape(*lead, 64, 5)

    opt = torch.optim.Adam(critic.parameters(), lr=5e-4)
    for _ in range(200):
        loss = -infonce(critic(*batch())).sum()  # a sum over runs keeps each run's own gradient
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        estimate = torch.stack([infonce(critic(*batch())) for _ in range(20)]).mean(0)
    assert torch.all(estimate > 1.0), estimate  # true MI 2 nats, ceiling log 64 = 4.16 nats
