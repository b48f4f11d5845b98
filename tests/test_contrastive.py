"""Tests of mi_utils.contrastive: K-pair and triplet losses, the digits two-view loader."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from mi_utils.bounds import infonce_lower_bound
from mi_utils.contrastive import digits_halves, kpair_loss, triplet_loss


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def kpair_brute_force(scores: torch.Tensor) -> float:
    """Sohn (2016), Eq. 6, with Python loops over one [K, K] matrix."""
    k = scores.shape[-1]
    total = 0.0
    for i in range(k):
        inner = sum(math.exp(scores[i, j] - scores[i, i]) for j in range(k) if j != i)
        total += math.log1p(inner)
    return total / k


def triplet_brute_force(scores: torch.Tensor, margin: float, temperature: float) -> float:
    k = scores.shape[-1]
    total = 0.0
    for i, j in itertools.permutations(range(k), 2):
        z = margin + float(scores[i, j] - scores[i, i])
        total += (
            max(0.0, z) if temperature == 0 else temperature * math.log1p(math.exp(z / temperature))
        )
    return total / (k * (k - 1))


@pytest.mark.parametrize("k", [2, 3, 7])
def test_kpair_matches_brute_force_and_infonce(k):
    scores = 2.0 * torch.randn(4, k, k, generator=gen(k), dtype=torch.float64)
    loss = kpair_loss(scores)
    assert loss.shape == (4,)
    for r in range(4):
        assert math.isclose(loss[r].item(), kpair_brute_force(scores[r]), rel_tol=1e-12)
    torch.testing.assert_close(loss, math.log(k) - infonce_lower_bound(scores))


def test_kpair_is_log_k_for_equal_scores_and_stable_for_large_scores():
    k = 5
    assert math.isclose(kpair_loss(torch.zeros(k, k)).item(), math.log(k), rel_tol=1e-6)
    big = torch.full((k, k), 1e4, dtype=torch.float64)
    big.diagonal().fill_(0.0)  # every negative 1e4 above the positive: loss ~ 1e4 + log(K-1)
    assert math.isclose(kpair_loss(big).item(), 1e4 + math.log(k - 1), rel_tol=1e-12)


def test_kpair_gradient_is_finite():
    scores = torch.randn(6, 6, generator=gen(1), requires_grad=True)
    kpair_loss(100 * scores).backward()
    assert torch.isfinite(scores.grad).all()


@pytest.mark.parametrize(
    ("margin", "temperature"), [(0.0, 1.0), (1.0, 0.0), (0.5, 0.3), (-1.0, 2.0)]
)
def test_triplet_matches_brute_force(margin, temperature):
    scores = torch.randn(2, 4, 4, generator=gen(2), dtype=torch.float64)
    loss = triplet_loss(scores, margin=margin, temperature=temperature)
    assert loss.shape == (2,)
    for r in range(2):
        want = triplet_brute_force(scores[r], margin, temperature)
        assert math.isclose(loss[r].item(), want, rel_tol=1e-12, abs_tol=1e-15)


def test_logistic_triplet_is_the_kpair_loss_at_k_2():
    scores = torch.randn(10, 2, 2, generator=gen(3), dtype=torch.float64)
    torch.testing.assert_close(triplet_loss(scores), kpair_loss(scores))


def test_temperature_limit_is_uniform():
    scores = 5 * torch.randn(3, 8, 8, generator=gen(4), dtype=torch.float64)
    hinge = triplet_loss(scores, margin=1.0, temperature=0)
    for tau in (1.0, 0.1, 1e-3):
        gap = triplet_loss(scores, margin=1.0, temperature=tau) - hinge
        assert (gap >= 0).all() and (gap <= tau * math.log(2) + 1e-12).all()


def test_losses_reject_bad_input():
    with pytest.raises(ValueError, match="scores"):
        kpair_loss(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="scores"):
        triplet_loss(torch.zeros(1, 1))
    with pytest.raises(TypeError, match="scores"):
        kpair_loss([[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="temperature"):
        triplet_loss(torch.zeros(3, 3), temperature=-0.1)
    with pytest.raises(ValueError, match="margin"):
        triplet_loss(torch.zeros(3, 3), margin=float("inf"))
    with pytest.raises(TypeError, match="margin"):
        triplet_loss(torch.zeros(3, 3), margin=True)


def test_digits_halves_split_and_standardisation():
    data = digits_halves(num_test=500, generator=gen(5))
    assert data["top"].shape == data["bottom"].shape == (1797, 32)
    train, test = data["train"], data["test"]
    assert len(test) == 500 and len(train) == 1297
    assert torch.unique(torch.cat([train, test])).numel() == 1797  # disjoint and complete
    for view in ("top", "bottom"):
        x = data[view][train]
        assert torch.allclose(x.mean(0), torch.zeros(32), atol=1e-5)
        std = x.std(0)
        assert torch.all((torch.abs(std - 1) < 1e-4) | (std == 0))  # constant pixels: 0
    assert set(data["labels"].tolist()) == set(range(10))
    again = digits_halves(num_test=500, generator=gen(5))
    assert torch.equal(again["test"], test)  # the generator fixes the split
    assert not torch.equal(digits_halves(num_test=500, generator=gen(6))["test"], test)


def test_digits_halves_are_the_image_rows():
    from sklearn.datasets import load_digits

    images = torch.as_tensor(load_digits().images, dtype=torch.float64)
    data = digits_halves(num_test=100, generator=gen(7), dtype=torch.float64)
    train = data["train"]
    for view, rows in (("top", images[:, :4]), ("bottom", images[:, 4:])):
        flat = rows.reshape(-1, 32)
        std = flat[train].std(0)
        restored = data[view] * torch.where(std > 0, std, torch.ones_like(std))
        torch.testing.assert_close(restored + flat[train].mean(0), flat)


def test_digits_halves_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_test"):
        digits_halves(num_test=1797)
    with pytest.raises(ValueError, match="num_test"):
        digits_halves(num_test=0)
    with pytest.raises(TypeError, match="dtype"):
        digits_halves(dtype=torch.int64)
