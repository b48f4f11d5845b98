"""Preprocessing fitted on training data, tiled score matrices, blockwise bounds, t quantiles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mi_utils import estimators
from mi_utils.estimate import (
    Gaussianize,
    Standardize,
    evaluation,
    make_preprocessor,
    student_t_quantile,
)
from mi_utils.nn import make_critic
from tests.conftest import gen


# ----------------------------------------------------------------------------- preprocessing
def test_standardize_uses_the_statistics_of_the_data_it_was_fitted_on():
    train = torch.randn(500, 3, generator=gen(0), dtype=torch.float64) * 5 + 2
    other = torch.randn(200, 3, generator=gen(1), dtype=torch.float64) * 50 - 7
    s = Standardize().fit(train)
    z = s(train)
    torch.testing.assert_close(z.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(z.std(0), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(s(other), (other - train.mean(0)) / train.std(0))


def test_standardize_only_centres_a_constant_coordinate():
    data = torch.tensor([[1.0, 3.0], [2.0, 3.0], [4.0, 3.0]])
    z = Standardize().fit(data)(data)
    assert torch.isfinite(z).all() and torch.equal(z[:, 1], torch.zeros(3))


def test_gaussianize_maps_training_points_to_normal_scores():
    train = torch.randn(999, 2, generator=gen(2), dtype=torch.float64).exp() ** 3  # heavy tail
    z = Gaussianize().fit(train)(train)
    n = train.shape[0]
    levels = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    expected = math.sqrt(2) * torch.special.erfinv(2 * levels - 1)
    for d in range(2):
        torch.testing.assert_close(z[:, d].sort().values, expected)
        # The order of the training points is kept: a strictly increasing map.
        assert torch.equal(z[:, d].argsort(), train[:, d].argsort())


def test_gaussianize_is_increasing_between_points_and_clamped_outside_the_range():
    train = torch.tensor([[0.0], [1.0], [2.0], [4.0]], dtype=torch.float64)
    g = Gaussianize().fit(train)
    grid = torch.linspace(-1.0, 5.0, 601, dtype=torch.float64)[:, None]
    z = g(grid)[:, 0]
    inside = (grid[:, 0] >= 0) & (grid[:, 0] <= 4)
    assert (z[inside].diff() > 0).all()
    assert torch.equal(z[grid[:, 0] <= 0], z[grid[:, 0] <= 0][:1].expand(int((grid <= 0).sum())))
    assert z.max() == g(torch.tensor([[4.0]], dtype=torch.float64)).item()


def test_gaussianize_gives_ties_their_mean_rank():
    train = torch.tensor([[1.0], [2.0], [2.0], [3.0]], dtype=torch.float64)
    z = Gaussianize().fit(train)(train)[:, 0]
    assert z[1] == z[2] and z[0] < z[1] < z[3]
    assert z[1].item() == pytest.approx(0.0, abs=1e-12)  # ranks 1 and 2 -> 1.5 -> level 1/2


def test_preprocessors_refuse_use_before_fit_and_unknown_names():
    for cls in (Standardize, Gaussianize):
        with pytest.raises(RuntimeError, match="fit"):
            cls()(torch.zeros(2, 1))
    with pytest.raises(ValueError, match="preprocess"):
        make_preprocessor("whiten")


# ----------------------------------------------------------------------------- evaluation
def test_tiled_concat_score_matrix_equals_the_direct_one(monkeypatch):
    critic = make_critic("concat", 3, 2, num_runs=2, hidden_dim=8, generator=gen(0))
    x = torch.randn(2, 13, 3, generator=gen(1))
    y = torch.randn(2, 13, 2, generator=gen(2))
    direct = critic(x, y)
    monkeypatch.setattr(evaluation, "TILE_ELEMENTS", 2 * 8 * 16)  # tiles of 4 x 4 (and 1 x 4)
    tiled = evaluation.score_matrix(critic, x, y, hidden=8, pairwise=True)
    torch.testing.assert_close(tiled, direct)


def test_blocks_are_nearly_equal_and_cover_every_sample():
    assert evaluation.block_sizes(10, 4) == [4, 3, 3]
    assert evaluation.block_sizes(8, 8) == [8]
    for n, b in [(2001, 2048), (5000, 2048), (7, 2)]:
        sizes = evaluation.block_sizes(n, b)
        assert sum(sizes) == n and max(sizes) <= b and max(sizes) - min(sizes) <= 1


def test_evaluate_blocks_is_the_size_weighted_mean_of_block_bounds():
    critic = make_critic("separable", 2, 2, num_runs=1, hidden_dim=8, embed_dim=4, generator=gen(0))
    x, y = torch.randn(1, 10, 2, generator=gen(1)), torch.randn(1, 10, 2, generator=gen(2))
    spec = estimators.get("infonce")
    got = evaluation.evaluate_blocks(spec, critic, None, x, y, block=4, hidden=8,
                                     pairwise=False, options={})  # fmt: skip
    with torch.no_grad():
        cuts = [(0, 4), (4, 7), (7, 10)]
        parts = [(spec(critic(x[:, a:b], y[:, a:b]))[0], b - a) for a, b in cuts]
    expected = sum(v * (m / 10) for v, m in parts)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize(
    "p, dof, expected",
    [(0.975, 1, 12.706205), (0.975, 4, 2.776445), (0.95, 9, 1.833113), (0.975, 10_000, 1.960201)],
)
def test_student_t_quantile_matches_tables(p, dof, expected):
    assert student_t_quantile(p, dof) == pytest.approx(expected, abs=2e-5)


def test_student_t_quantile_refuses_levels_below_the_median():
    with pytest.raises(ValueError, match="p"):
        student_t_quantile(0.4, 3)
    assert np.isfinite(student_t_quantile(0.5, 3))


# ----------------------------------------------------------------------------- gaussian_mi
def test_gaussian_mi_is_consistent_on_gaussian_data_and_invariant_to_monotone_maps():
    from mi_utils.estimate import gaussian_mi
    from mi_utils.tasks import CorrelatedGaussian

    task = CorrelatedGaussian.from_mi(1.5, 3)
    x, y = task.sample(20_000, generator=gen(4), dtype=torch.float64)
    raw = gaussian_mi(x, y, gaussianize=False)
    assert raw == pytest.approx(task.mi, abs=0.03)
    copula = gaussian_mi(x, y)
    assert copula == pytest.approx(task.mi, abs=0.03)
    # Normal scores are rank-based: a monotone map of each coordinate changes nothing.
    assert gaussian_mi(x.exp(), y**3) == pytest.approx(copula, abs=1e-12)
    assert gaussian_mi(x, y, units="bits") == pytest.approx(copula / math.log(2))


def test_gaussian_mi_refuses_too_few_samples_and_dependent_coordinates():
    from mi_utils.estimate import gaussian_mi

    x = torch.randn(50, 2, generator=gen(0), dtype=torch.float64)
    with pytest.raises(ValueError, match="N > d_x"):
        gaussian_mi(x[:3], x[:3])
    with pytest.raises(ValueError, match="linearly dependent"):
        gaussian_mi(torch.cat([x, x[:, :1]], 1), x, gaussianize=False)
    with pytest.raises(ValueError, match="same number"):
        gaussian_mi(x, x[:10])
    with pytest.raises(ValueError, match="units"):
        gaussian_mi(x, x, units="hartleys")
