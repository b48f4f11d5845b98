"""Tests of mi_utils.nn.baselines: the log-baselines log a(y), their factory and errors.

Batching, conversions and initialisation of every module are tested in test_layers.py.
"""

from __future__ import annotations

import math

import pytest
import torch

from mi_utils.nn import (
    BatchedConstantBaseline,
    BatchedMLPBaseline,
    ConstantBaseline,
    MLPBaseline,
    TrueMarginalBaseline,
    make_baseline,
)
from mi_utils.tasks import CorrelatedGaussian

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DX, DY, K, R = 3, 4, 5, 3


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(shape, generator=gen(seed), dtype=dtype)


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
    assert [tuple(layer.weight.shape) for layer in b.net.layers] == [(16, DY), (16, 16), (1, 16)]
    y = randn(2, K, DY, seed=1, dtype=torch.float64)
    h = y
    for layer in b.net.layers[:-1]:
        h = torch.relu(h @ layer.weight.T + layer.bias)
    expected = (h @ b.net.layers[-1].weight.T + b.net.layers[-1].bias).squeeze(-1)
    out = b(y)
    assert out.shape == (2, K)
    torch.testing.assert_close(out, expected)


def test_true_marginal_baseline_is_log_p_y():
    task = CorrelatedGaussian(dim=DY, rho=0.5)
    b = TrueMarginalBaseline(task)
    assert list(b.parameters()) == []
    y = randn(R, K, DY, seed=1, dtype=torch.float64)  # any leading shape, batched runs included
    torch.testing.assert_close(b(y), task.log_marginal(y))
    assert b(y).shape == (R, K)
    assert make_baseline("true", task=task, num_runs=R)(y).shape == (R, K)


def test_true_marginal_baseline_checks_y_dim_only_when_the_task_has_one():
    class Marginal:  # a duck-typed task: log p(y) of a standard normal, no y_dim
        def log_marginal(self, y):
            return -0.5 * (y.square() + math.log(2 * math.pi)).sum(-1)

    y = randn(K, 7, dtype=torch.float64)
    torch.testing.assert_close(TrueMarginalBaseline(Marginal())(y), Marginal().log_marginal(y))
    with pytest.raises(ValueError, match=r"y.shape\[-1\] must equal y_dim=4"):
        TrueMarginalBaseline(CorrelatedGaussian(DY, 0.5))(y)


def test_make_baseline_picks_the_class():
    assert type(make_baseline("constant", init=2.0)) is ConstantBaseline
    assert type(make_baseline("constant", num_runs=2)) is BatchedConstantBaseline
    assert type(make_baseline("mlp", DY)) is MLPBaseline
    assert type(make_baseline("mlp", DY, num_runs=2, hidden_dim=8)) is BatchedMLPBaseline
    task = CorrelatedGaussian(dim=DY, rho=0.3)
    assert type(make_baseline("true", task=task, generator=gen())) is TrueMarginalBaseline


x3, y4 = randn(K, DX), randn(K, DY)
yb = randn(R, K, DY)

BAD = [
    # constructors
    (lambda: MLPBaseline(DY, num_layers=0), ValueError, "num_layers"),
    (lambda: MLPBaseline(0), ValueError, "y_dim"),
    (lambda: MLPBaseline(DY, activation="gelu"), ValueError, "activation must be one of"),
    (lambda: BatchedMLPBaseline(-1, DY), ValueError, "num_runs"),
    (lambda: BatchedConstantBaseline(0), ValueError, "num_runs"),
    (lambda: ConstantBaseline(init="zero"), TypeError, "init must be a finite real"),
    (lambda: ConstantBaseline(init=math.inf), ValueError, "init"),
    (lambda: ConstantBaseline(dtype=torch.int32), TypeError, "dtype"),
    (lambda: TrueMarginalBaseline("gaussian"), TypeError, "task must have a log_marginal"),
    # forward inputs
    (lambda: MLPBaseline(DY)(x3), ValueError, "y_dim=4"),
    (lambda: MLPBaseline(DY)(y4.double()), TypeError, "y must be a tensor of the module's dtype"),
    (lambda: ConstantBaseline()(torch.ones(K)), ValueError, "y must have shape"),
    (lambda: BatchedConstantBaseline(R)(y4), ValueError, "num_runs=3"),
    (lambda: BatchedMLPBaseline(2, DY, 8)(yb), ValueError, "num_runs=2"),
    (lambda: TrueMarginalBaseline(CorrelatedGaussian(DY, 0.5))(x3), ValueError, "y_dim=4"),
    (lambda: TrueMarginalBaseline(CorrelatedGaussian(DY, 0.5))(y4.int()), TypeError, "y must"),
    # factory
    (lambda: make_baseline("learned"), ValueError, "'constant', 'mlp', 'true'"),
    (lambda: make_baseline("mlp"), ValueError, "y_dim is required"),
    (lambda: make_baseline("constant", num_runs=0), ValueError, "num_runs"),
    (lambda: make_baseline("true"), ValueError, "task is required"),
    (lambda: make_baseline("true", task=CorrelatedGaussian(2, 0.1), hidden_dim=3), TypeError, "no"),
]


@pytest.mark.parametrize(("bad", "error", "match"), BAD, ids=[m for _, _, m in BAD])
def test_bad_input_raises_naming_the_argument(bad, error, match):
    with pytest.raises(error, match=match):
        bad()


@CUDA
@pytest.mark.gpu
def test_cuda_baselines():
    base = BatchedMLPBaseline(R, DY, 8, generator=gen(), device="cuda")
    cpu = BatchedMLPBaseline(R, DY, 8, generator=gen())
    out = base(yb.cuda())
    assert out.is_cuda and out.shape == (R, K)
    torch.testing.assert_close(out.cpu(), cpu(yb), rtol=1e-4, atol=1e-4)
    const = BatchedConstantBaseline(R, 0.5, device="cuda")
    assert const(yb.cuda()).is_cuda
