"""Tests of mi_utils.nn.layers: weight layout, initialisation, batching, help() pages."""

from __future__ import annotations

import copy
import math
import pickle
import pydoc

import pytest
import torch

import mi_utils.nn
from mi_utils.nn import (
    MLP,
    BatchedConcatCritic,
    BatchedConstantBaseline,
    BatchedLinear,
    BatchedMLP,
    BatchedMLPBaseline,
    BatchedSeparableCritic,
    ConcatCritic,
    ConstantBaseline,
    GaussianDecoder,
    Linear,
    MLPBaseline,
    SeparableCritic,
    baselines,
    critics,
    decoders,
    layers,
)
from mi_utils.nn.layers import Module, ModuleMeta

DX, DY, K, R = 3, 4, 5, 3  # dx != dy so that swapping x and y cannot pass


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(shape, generator=gen(seed), dtype=dtype)


def params(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def assert_same_params(a, b) -> None:
    pa, pb = params(a), params(b)
    assert pa.keys() == pb.keys()
    for key in pa:
        assert torch.equal(pa[key], pb[key]), key


# ----------------------------------------------------------------------------- layout
def test_linear_has_the_torch_layout_and_state_dict():
    layer = Linear(DX, 6, generator=gen(), dtype=torch.float64)
    assert layer.weight.shape == (6, DX) and layer.bias.shape == (6,)
    reference = torch.nn.Linear(DX, 6, dtype=torch.float64)
    reference.load_state_dict(layer.state_dict())  # same names, same shapes
    x = randn(2, K, DX, seed=1, dtype=torch.float64)
    torch.testing.assert_close(layer(x), reference(x))
    torch.testing.assert_close(layer(x), x @ layer.weight.T + layer.bias)


def test_batched_linear_uses_the_stacked_layout():
    layer = BatchedLinear(R, DX, 6, generator=gen())
    assert layer.weight.shape == (R, 6, DX) and layer.bias.shape == (R, 1, 6)
    x = randn(R, K, DX)
    torch.testing.assert_close(layer(x), torch.bmm(x, layer.weight.transpose(1, 2)) + layer.bias)


def test_mlp_layers_and_activation():
    mlp = MLP(DX, 16, 2, 3, "tanh", generator=gen(), dtype=torch.float64)
    assert [tuple(layer.weight.shape) for layer in mlp.layers] == [
        (16, DX), (16, 16), (16, 16), (2, 16),
    ]  # fmt: skip
    h = randn(2, K, DX, seed=1, dtype=torch.float64)
    expected = h
    for layer in mlp.layers[:-1]:
        expected = torch.tanh(expected @ layer.weight.T + layer.bias)
    expected = expected @ mlp.layers[-1].weight.T + mlp.layers[-1].bias
    torch.testing.assert_close(mlp(h), expected)
    first = torch.tanh(h @ mlp.layers[0].weight.T + mlp.layers[0].bias)
    torch.testing.assert_close(mlp(first, start=1), expected)


def test_decoder_weight_has_the_layer_layout():
    # GaussianDecoder(x_dim, y_dim) maps y to x like a Linear(y_dim, x_dim), drawn alike.
    decoder, layer = GaussianDecoder(DX, DY, generator=gen(4)), Linear(DY, DX, generator=gen(4))
    assert torch.equal(decoder.weight, layer.weight) and torch.equal(decoder.bias, layer.bias)
    y = randn(K, DY, seed=1)
    torch.testing.assert_close(decoder.mean(y), layer(y))


# ----------------------------------------------------------------------------- initialisation
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
    first = ConcatCritic(DX, DY, generator=gen()).net.layers[0]
    assert first.bias.abs().max() <= 1 / math.sqrt(DX + DY)  # fan_in of the concatenation


def test_batched_linear_run_r_is_the_rth_linear_from_the_generator():
    g = gen(3)
    layers_ = [Linear(DX, 6, generator=g) for _ in range(R)]
    assert_same_params(
        BatchedLinear(R, DX, 6, generator=gen(3)), BatchedLinear.from_modules(layers_)
    )


ALL_BUILDERS = {
    "separable": lambda g: SeparableCritic(DX, DY, 16, 8, generator=g),
    "concat": lambda g: ConcatCritic(DX, DY, 16, generator=g),
    "mlp_baseline": lambda g: MLPBaseline(DY, 16, generator=g),
    "decoder": lambda g: GaussianDecoder(DX, DY, generator=g),
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
    assert all(not torch.equal(a[k], b[k]) for k in a if k != "log_var")


@pytest.mark.parametrize("name", ["batched_separable", "batched_concat", "batched_mlp_baseline"])
def test_runs_of_a_batched_module_differ(name):
    batched = ALL_BUILDERS[name](gen())
    for key, p in batched.named_parameters():
        for r in range(1, R):
            assert not torch.equal(p[0], p[r]), key


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


def singles_of(name, dtype=torch.float32):
    build, _ = CASES[name]
    return [build(generator=gen(10 + r), dtype=dtype) for r in range(R)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(CASES))
def test_batched_equals_separate_modules(name, dtype):
    modules = singles_of(name, dtype)
    batched = CASES[name][1].from_modules(modules)
    inputs = make_inputs(name, (R,), dtype)
    out = batched(*inputs)
    assert out.dtype == dtype
    for r, module in enumerate(modules):
        torch.testing.assert_close(out[r], module(*[t[r] for t in inputs]))


@pytest.mark.parametrize("name", sorted(CASES))
def test_from_modules_and_unbatched_round_trip(name):
    modules = singles_of(name)
    batched = CASES[name][1].from_modules(modules)
    assert batched.num_runs == R
    for r, module in enumerate(modules):
        copy_ = batched.unbatched(r)
        assert type(copy_) is type(module)
        assert_same_params(copy_, module)
    again = CASES[name][1].from_modules([batched.unbatched(r) for r in range(R)])
    assert_same_params(again, batched)
    # copies, not views: training the batched module leaves the single modules alone
    with torch.no_grad():
        for p in batched.parameters():
            p.add_(1.0)
    assert not torch.equal(next(batched.unbatched(0).parameters()), next(modules[0].parameters()))


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_of_one_run_touch_only_its_slice(name):
    modules = singles_of(name, torch.float64)
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


def test_mlp_for_follows_the_module():
    single, batched = SeparableCritic(DX, DY, 8, 4), BatchedSeparableCritic(R, DX, DY, 8, 4)
    assert type(layers.mlp_for(single, DX, 8, 1)) is MLP
    mlp = layers.mlp_for(batched, DX, 8, 1)
    assert type(mlp) is BatchedMLP and mlp.num_runs == R


BAD = [
    (lambda: Linear(0, 2), ValueError, "in_dim must be an int >= 1"),
    (lambda: MLP(DX, 8, 1, activation="gelu"), ValueError, "activation must be one of"),
    (lambda: BatchedLinear(0, DX, 2), ValueError, "num_runs must be an int >= 1"),
    (lambda: BatchedLinear.from_modules([MLP(DX, 8, 1)]), TypeError, "list of Linear"),
    (lambda: BatchedLinear(R, DX, 2).unbatched(-1), ValueError, r"r must be an int in \[0, 3\)"),
]


@pytest.mark.parametrize(("bad", "error", "match"), BAD, ids=[m for _, _, m in BAD])
def test_bad_input_raises_naming_the_argument(bad, error, match):
    with pytest.raises(error, match=match):
        bad()


# ----------------------------------------------------------------------------- help() pages
MODULES = [mi_utils.nn, layers, critics, baselines, decoders]
PUBLIC_CLASSES = [
    obj
    for obj in vars(mi_utils.nn).values()
    if isinstance(obj, type) and issubclass(obj, torch.nn.Module)
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_help_shows_our_docs_not_torch_modules(module):
    page = pydoc.render_doc(module, renderer=pydoc.plaintext)
    assert len(page.splitlines()) < 1500
    assert "register_forward_pre_hook" not in page  # one of nn.Module's ~100 members
    assert "Return the extra representation" not in page  # nn.Module's inherited docstring
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if isinstance(obj, type) and obj.__module__ == module.__name__:
            assert obj.__doc__.splitlines()[0] in page, name
            if getattr(obj.__init__, "__module__", "").startswith("mi_utils"):  # not ModuleMeta
                assert obj.__init__.__doc__.splitlines()[0] in page, name


@pytest.mark.parametrize("cls", PUBLIC_CLASSES, ids=lambda c: c.__name__)
def test_every_module_class_hides_the_inherited_members(cls):
    # Fails if a class drops the metaclass: help() would list all of nn.Module again.
    assert issubclass(cls, Module) and isinstance(cls, ModuleMeta)
    assert cls.__init__.__module__.startswith("mi_utils") and cls.__init__.__doc__
    assert "forward" in dir(cls) and "register_forward_pre_hook" not in dir(cls)
    assert callable(cls.register_forward_pre_hook)  # still inherited, only not listed
    page = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    assert len(page.splitlines()) < 200 and "register_forward_pre_hook" not in page


def test_the_metaclass_is_what_shortens_help():
    # The same class without ModuleMeta runs to a thousand lines of nn.Module's text.
    plain = type("Plain", (torch.nn.Module,), {"__doc__": "x", "__module__": "mi_utils.nn.x"})
    page = pydoc.render_doc(plain, renderer=pydoc.plaintext)
    assert "register_forward_pre_hook" in page and len(page.splitlines()) > 1000
    ours = ModuleMeta("Ours", (torch.nn.Module,), {"__doc__": "x", "__module__": "mi_utils.nn.x"})
    assert len(pydoc.render_doc(ours, renderer=pydoc.plaintext).splitlines()) < 50


def test_modules_still_behave_as_torch_modules():
    critic = BatchedConcatCritic(R, DX, DY, 8, generator=gen())
    assert isinstance(critic, torch.nn.Module) and isinstance(critic, ConcatCritic)
    assert issubclass(BatchedConcatCritic, layers.BatchedModule)
    members = dir(critic)  # an instance lists everything, for tab completion
    assert {"register_forward_pre_hook", "state_dict", "forward", "net", "config"} <= set(members)
    x, y = randn(R, K, DX, seed=1), randn(R, K, DY, seed=2)
    for clone in (pickle.loads(pickle.dumps(critic)), copy.deepcopy(critic)):
        assert type(clone) is BatchedConcatCritic
        torch.testing.assert_close(clone(x, y), critic(x, y))
    fresh = BatchedConcatCritic(R, DX, DY, 8, generator=gen(1))
    fresh.load_state_dict(critic.state_dict())
    torch.testing.assert_close(fresh(x, y), critic(x, y))
    calls = []
    critic.register_forward_pre_hook(lambda module, args: calls.append(len(args)))
    critic(x, y)
    assert calls == [2]


def test_modules_compile_with_torch_compile():
    critic = BatchedConcatCritic(R, DX, DY, 8, generator=gen())
    x, y = randn(R, K, DX, seed=1), randn(R, K, DY, seed=2)
    compiled = torch.compile(critic, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(x, y), critic(x, y))
