"""Tests of mi_utils.probe: the linear probe on frozen features."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mi_utils.nn import GaussianEncoder
from mi_utils.probe import ProbeResult, linear_probe

C, D = 4, 6


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def separable(n: int, seed: int, offset: float = 10.0):
    """Four well-separated Gaussian clusters with an offset and unequal scales per feature."""
    g = gen(seed)
    centres = 3.0 * torch.eye(C, D) * torch.tensor([1.0, 2.0, 0.5, 1.0])[:, None]
    labels = torch.randint(C, (n,), generator=g)
    features = centres[labels] + 0.2 * torch.randn(n, D, generator=g)
    return offset + features * torch.tensor([1.0, 100.0, 0.01, 1.0, 5.0, 1.0]), labels


def test_separable_data_is_read_off_perfectly():
    x_train, y_train = separable(400, seed=1)
    x_test, y_test = separable(2000, seed=2)
    res = linear_probe(x_train, y_train, x_test, y_test, num_steps=300)
    assert isinstance(res, ProbeResult)
    assert res.test_accuracy >= 0.995 and res.train_accuracy == 1.0
    assert res.weight.shape == (C, D) and res.bias.shape == (C,) and res.num_classes == C
    assert res.trace.shape == (300,) and res.trace[-1] < 0.1 * res.trace[0]
    assert math.isclose(res.trace[0].item(), math.log(C))  # zero weights: uniform prediction
    # standardised on the training split only
    torch.testing.assert_close(res.mean, x_train.double().mean(0))
    torch.testing.assert_close(res.scale, x_train.double().std(0, correction=0))
    assert (res.predict(x_test) == y_test).double().mean().item() == res.test_accuracy


def test_random_labels_give_chance_accuracy():
    # Test labels drawn independently of everything the probe saw: each prediction is right
    # with probability exactly 1/C, so the test accuracy is Binomial(M, 1/C) / M, whatever the
    # probe learned. Its standard deviation is sqrt((1/C)(1 - 1/C) / M) = 0.0097 for M = 2000;
    # 4 standard deviations (0.039) leave a false-failure rate of 6e-5.
    x_train, _ = separable(400, seed=3)
    x_test, _ = separable(2000, seed=4)
    y_train = torch.randint(C, (400,), generator=gen(5))
    y_test = torch.randint(C, (2000,), generator=gen(6))
    res = linear_probe(x_train, y_train, x_test, y_test, num_steps=300)
    sd = math.sqrt(res.chance * (1 - res.chance) / 2000)
    assert res.chance == 1 / C
    assert abs(res.test_accuracy - res.chance) < 4 * sd
    # The same features with their true labels pass: the check can tell the two apart.
    assert linear_probe(*separable(400, 3), *separable(2000, 4), num_steps=300).test_accuracy > 0.99


def test_features_are_detached_from_the_encoder():
    enc = GaussianEncoder(3, D, hidden_dim=8, generator=gen(7))
    x = torch.randn(200, 3, generator=gen(8))
    features = enc(x)[0]
    assert features.requires_grad
    labels = (x[:, 0] > 0).long()
    res = linear_probe(features, labels, features, labels, num_steps=50)
    assert all(p.grad is None for p in enc.parameters())
    assert not res.weight.requires_grad and not res.bias.requires_grad
    assert res.test_accuracy > 0.5


def test_minibatches_come_from_the_generator_and_accept_numpy():
    x_train, y_train = separable(300, seed=9)
    x_test, y_test = separable(300, seed=10)
    kw = dict(num_steps=100, batch_size=32)
    a = linear_probe(x_train, y_train, x_test, y_test, generator=gen(11), **kw)
    b = linear_probe(x_train.numpy(), y_train.numpy(), x_test, y_test, generator=gen(11), **kw)
    c = linear_probe(x_train, y_train, x_test, y_test, generator=gen(12), **kw)
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, c.weight)
    assert a.test_accuracy > 0.95


def test_num_classes_and_constant_features():
    x_train, y_train = separable(200, seed=13)
    x_train[:, 5] = 7.0  # a constant feature: scale 1, standardised to 0
    res = linear_probe(x_train, y_train, x_train, y_train, num_classes=6, num_steps=50)
    assert res.weight.shape == (6, D) and res.chance == 1 / 6 and res.scale[5] == 1.0


# ----------------------------------------------------------------------------- validation
def test_bad_inputs_raise_clear_errors():
    x, y = separable(50, seed=14)
    with pytest.raises(ValueError, match=r"train_labels must have shape \[N\] = \(50,\)"):
        linear_probe(x, y[:40], x, y)
    with pytest.raises(ValueError, match=r"test_labels must have shape \[N\] = \(30,\)"):
        linear_probe(x, y, x[:30], y)
    with pytest.raises(ValueError, match="same number of columns"):
        linear_probe(x, y, x[:, :3], y)
    with pytest.raises(ValueError, match="at least two distinct classes; got only class 2"):
        linear_probe(x, torch.full((50,), 2), x, y)
    with pytest.raises(ValueError, match=r"test_labels must be class indices in \[0, num_"):
        linear_probe(x, y, x, y + 1, num_classes=C)
    with pytest.raises(ValueError, match="train_labels must be class indices >= 0"):
        linear_probe(x, y - 1, x, y)
    bad = x.clone()
    bad[3, 2] = float("nan")
    with pytest.raises(ValueError, match="test_features must hold finite values"):
        linear_probe(x, y, bad, y)
    with pytest.raises(ValueError, match="train_features must hold finite values"):
        linear_probe(bad.numpy() * np.inf, y, x, y)
    with pytest.raises(TypeError, match="train_labels must hold integers"):
        linear_probe(x, y.float(), x, y)
    with pytest.raises(TypeError, match="test_labels must be a tensor or array"):
        linear_probe(x, y, x, "labels")
    with pytest.raises(ValueError, match="at least one row"):
        linear_probe(x[:0], y[:0], x, y)
    with pytest.raises(ValueError, match="num_classes"):
        linear_probe(x, y, x, y, num_classes=1)
    with pytest.raises(ValueError, match="weight_decay"):
        linear_probe(x, y, x, y, weight_decay=-1.0)
    with pytest.raises(TypeError, match="generator"):
        linear_probe(x, y, x, y, generator=3)


def test_linear_probe_is_exported_lazily_from_the_package():
    import mi_utils

    assert "probe" in mi_utils.SUBMODULES and "linear_probe" in dir(mi_utils)
    assert mi_utils.linear_probe is linear_probe
