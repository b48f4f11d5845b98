"""Schedule: the staircase's levels and steps, batches across level boundaries, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mi_utils.tasks import STAIRCASE_LEVELS, CorrelatedGaussian, Schedule, cubic
from tests.conftest import gen


def gaussian(mi: float, dim: int = 20) -> CorrelatedGaussian:
    return CorrelatedGaussian.from_mi(mi, dim)


def test_staircase_levels_are_exact():
    assert STAIRCASE_LEVELS == (2.0, 4.0, 6.0, 8.0, 10.0)
    s = Schedule.staircase(gaussian, 7)
    assert s.levels == STAIRCASE_LEVELS  # the requested values, not a float round trip
    assert s.num_steps == 35 and len(s.segments) == 5
    assert [n for _, n in s.segments] == [7] * 5
    for (task, _), level in zip(s.segments, STAIRCASE_LEVELS, strict=True):
        assert task.mi == pytest.approx(level, rel=1e-12)
    assert s.name == "gaussian" and (s.x_dim, s.y_dim) == (20, 20)
    assert "levels=(2.0, 4.0" in repr(s)


def test_true_mi_repeats_each_level_for_its_steps():
    s = Schedule.staircase(gaussian, 3, levels=(1.0, 2.5))
    mi = s.true_mi()
    assert isinstance(mi, np.ndarray) and mi.dtype == np.float64
    np.testing.assert_array_equal(mi, [1.0, 1.0, 1.0, 2.5, 2.5, 2.5])


def test_segments_of_unequal_length():
    a, b = gaussian(1.0, 3), gaussian(3.0, 3)
    s = Schedule([(a, 2), (b, 5)], name="two")
    assert s.num_steps == 7 and s.name == "two"
    assert s.levels == pytest.approx((1.0, 3.0))  # from the tasks' own MI
    np.testing.assert_allclose(s.true_mi(), [1.0] * 2 + [3.0] * 5)


def test_fixed_schedule():
    task = cubic(gaussian(2.0, 4))
    s = Schedule.fixed(task, 11)
    assert s.num_steps == 11 and s.segments == ((task, 11),)
    assert s.name == "cubic" and s.levels == pytest.approx((2.0,))
    np.testing.assert_allclose(s.true_mi(), np.full(11, task.mi))


def test_sample_steps_of_a_fixed_schedule_is_one_draw_of_its_task():
    task = gaussian(1.0, 3)
    x, y = Schedule.fixed(task, 10).sample_steps(2, 4, 8, generator=gen(1))
    xt, yt = task.sample(8, batch_shape=(4,), generator=gen(1))
    assert x.shape == y.shape == (4, 8, 3)
    assert torch.equal(x, xt) and torch.equal(y, yt)


def _corr(x: torch.Tensor, y: torch.Tensor) -> float:
    """Pooled empirical correlation of coordinate pairs (x_k, y_k) of one step's batch."""
    x, y = x - x.mean(0), y - y.mean(0)
    return ((x * y).sum() / torch.sqrt(x.square().sum() * y.square().sum())).item()


def test_sample_steps_across_a_level_boundary():
    # Steps 1..4 of a 3-step, 2-level schedule: steps 1, 2 at rho = 0.2 and 3, 4 at rho = 0.9.
    low, high = CorrelatedGaussian(2, 0.2), CorrelatedGaussian(2, 0.9)
    s = Schedule([(low, 3), (high, 3)])
    x, y = s.sample_steps(1, 4, 20_000, generator=gen(2), dtype=torch.float64)
    assert x.shape == y.shape == (4, 20_000, 2) and x.dtype == torch.float64
    rhos = [_corr(x[t], y[t]) for t in range(4)]
    assert rhos == pytest.approx([0.2, 0.2, 0.9, 0.9], abs=0.02)
    # one draw per touched segment, in step order, from the one generator
    g = gen(2)
    x_low, _ = low.sample(20_000, batch_shape=(2,), generator=g, dtype=torch.float64)
    x_high, _ = high.sample(20_000, batch_shape=(2,), generator=g, dtype=torch.float64)
    assert torch.equal(x, torch.cat([x_low, x_high]))


def test_sample_steps_of_the_staircase_matches_each_levels_rho():
    s = Schedule.staircase(lambda mi: gaussian(mi, 4), 2, levels=(0.5, 2.0, 4.0))
    x, y = s.sample_steps(0, 6, 20_000, generator=gen(3), dtype=torch.float64)
    rhos = [_corr(x[t], y[t]) for t in range(6)]
    expected = [t.rho for t, n in s.segments for _ in range(n)]
    assert rhos == pytest.approx(expected, abs=0.02)


def test_sample_steps_device_dtype_and_global_rng():
    s = Schedule.staircase(lambda mi: gaussian(mi, 2), 2, levels=(1.0, 2.0))
    state = torch.get_rng_state()
    x, y = s.sample_steps(0, 4, 3, generator=gen(), device="cpu", dtype=torch.float32)
    assert torch.equal(state, torch.get_rng_state())
    assert x.dtype == y.dtype == torch.float32 and x.device.type == "cpu"
    a = s.sample_steps(1, 2, 3, generator=gen(5))
    b = s.sample_steps(1, 2, 3, generator=gen(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: Schedule([]), ValueError, "segments"),
        (lambda: Schedule("gaussian"), ValueError, "segments"),
        (lambda: Schedule([gaussian(1.0)]), TypeError, "segments"),
        (lambda: Schedule([("gaussian", 3)]), TypeError, "Task"),
        (lambda: Schedule([(gaussian(1.0), 0)]), ValueError, "num_steps"),
        (lambda: Schedule([(gaussian(1.0), 2.5)]), TypeError, "num_steps"),
        (lambda: Schedule([(gaussian(1.0, 2), 3), (gaussian(1.0, 3), 3)]), ValueError, "x_dim"),
        (lambda: Schedule([(gaussian(1.0), 3)], name=1), TypeError, "name"),
        (lambda: Schedule.fixed(gaussian(1.0), 0), ValueError, "num_steps"),
        (lambda: Schedule.staircase("gaussian", 3), TypeError, "make_task"),
        (lambda: Schedule.staircase(gaussian, 0), ValueError, "steps_per_level"),
        (lambda: Schedule.staircase(gaussian, 3, levels=()), ValueError, "levels"),
        (lambda: Schedule.staircase(gaussian, 3, levels=2.0), ValueError, "levels"),
        (lambda: Schedule.staircase(gaussian, 3, levels=(1.0, -2.0)), ValueError, "levels"),
        (lambda: Schedule.staircase(gaussian, 3, levels=(1.0, "2")), TypeError, "levels"),
        (lambda: Schedule.fixed(gaussian(1.0), 5).sample_steps(-1, 2, 4), ValueError, "steps"),
        (lambda: Schedule.fixed(gaussian(1.0), 5).sample_steps(4, 2, 4), ValueError, "outside"),
        (lambda: Schedule.fixed(gaussian(1.0), 5).sample_steps(0, 0, 4), ValueError, "steps"),
        (lambda: Schedule.fixed(gaussian(1.0), 5).sample_steps(0, 1, 0), ValueError,
         "num_samples"),
    ],
)  # fmt: skip
def test_bad_input_raises_naming_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
