"""dSprites rendered from its factors: the grid, the images, translation, seeds, errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from mi_utils.tasks import (
    DSPRITES_FACTORS,
    DSPRITES_SHAPES,
    dsprites_factor_values,
    render_dsprites,
    sample_dsprites,
    sample_dsprites_factors,
)
from tests.conftest import requires_cuda


def one(shape=0, scale=5, orientation=0, pos_x=16, pos_y=16):
    return torch.tensor([[shape, scale, orientation, pos_x, pos_y]])


# ----------------------------------------------------------------------------- the factor grid
def test_factor_grid_is_the_datasets():
    assert DSPRITES_FACTORS == {"shape": 3, "scale": 6, "orientation": 40, "pos_x": 32, "pos_y": 32}
    assert DSPRITES_SHAPES == ("square", "ellipse", "heart")
    values = dsprites_factor_values(dtype=torch.float64)
    assert {k: len(v) for k, v in values.items()} == DSPRITES_FACTORS
    assert values["scale"][0] == 0.5 and values["scale"][-1] == 1.0
    assert values["orientation"][0] == 0.0
    assert values["orientation"][-1].item() == pytest.approx(2 * math.pi)
    for pos in ("pos_x", "pos_y"):
        assert values[pos][0] == 0.0 and values[pos][-1] == 1.0
        assert torch.allclose(values[pos].diff(), torch.full((31,), 1 / 31, dtype=torch.float64))


def test_sampled_factors_are_in_range_and_cover_every_level():
    f = sample_dsprites_factors(20_000, generator=torch.Generator().manual_seed(0))
    assert f.shape == (20_000, 5) and f.dtype == torch.int64
    for col, size in enumerate(DSPRITES_FACTORS.values()):
        counts = torch.bincount(f[:, col], minlength=size)
        assert len(counts) == size and (counts > 0).all()
        # uniform: every level within 6 binomial SDs of n / size
        n, p = 20_000, 1 / size
        assert (counts - n * p).abs().max() < 6 * math.sqrt(n * p * (1 - p)), counts


# ----------------------------------------------------------------------------- images
@pytest.mark.parametrize("resolution", [64, 32, 16])
def test_images_are_binary_of_the_requested_size(resolution):
    x, f = sample_dsprites(64, resolution=resolution, generator=torch.Generator().manual_seed(1))
    assert x.shape == (64, resolution, resolution) and x.dtype == torch.float32
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    assert (x.sum((-1, -2)) > 0).all()  # every image shows its sprite
    assert f.shape == (64, 5)


def test_leading_dimensions_and_batching_give_the_same_images():
    f = sample_dsprites_factors(12, generator=torch.Generator().manual_seed(2))
    batched = render_dsprites(f.reshape(3, 4, 5), dtype=torch.float64)
    assert batched.shape == (3, 4, 64, 64) and batched.dtype == torch.float64
    singles = torch.stack([render_dsprites(row[None])[0] for row in f])
    assert torch.equal(batched.reshape(12, 64, 64).float(), singles)


@pytest.mark.parametrize("shape", [0, 1, 2])
def test_two_position_steps_translate_the_image_by_three_pixels(shape):
    base = render_dsprites(one(shape=shape, orientation=7, pos_x=10, pos_y=12))[0]
    right = render_dsprites(one(shape=shape, orientation=7, pos_x=12, pos_y=12))[0]
    down = render_dsprites(one(shape=shape, orientation=7, pos_x=10, pos_y=14))[0]
    assert torch.equal(torch.roll(base, 3, dims=1), right)
    assert torch.equal(torch.roll(base, 3, dims=0), down)
    # and one step (1.5 pixels) is not a whole-pixel shift: the check can fail
    half = render_dsprites(one(shape=shape, orientation=7, pos_x=11, pos_y=12))[0]
    assert not any(torch.equal(torch.roll(base, k, dims=1), half) for k in range(4))


def test_position_moves_the_sprite_left_to_right_and_top_to_bottom():
    def centre(img):
        rows, cols = img.nonzero(as_tuple=True)
        return cols.float().mean().item(), rows.float().mean().item()

    (x0, y0), (x1, y1) = (centre(render_dsprites(one(pos_x=i, pos_y=i))[0]) for i in (2, 29))
    assert x1 - x0 == pytest.approx(27 * 1.5, abs=0.5) and y1 - y0 == pytest.approx(40.5, abs=0.5)


def test_scale_grows_the_sprite_and_shapes_differ():
    areas = [render_dsprites(one(scale=s))[0].sum().item() for s in range(6)]
    assert all(a < b for a, b in itertools.pairwise(areas))
    assert areas[-1] == pytest.approx(256, rel=0.1)  # a 16-pixel square at scale 1
    square, ellipse, heart = (render_dsprites(one(shape=s))[0].sum().item() for s in range(3))
    assert ellipse == pytest.approx(math.pi * 8 * 4, rel=0.1)  # a 16 x 8 ellipse
    assert ellipse < heart < square


def test_orientation_turns_the_ellipse_and_wraps_around():
    flat = render_dsprites(one(shape=1, orientation=0))[0]
    turned = render_dsprites(one(shape=1, orientation=10))[0]  # 10 * 2pi/39: about 92 degrees
    rows, cols = flat.nonzero(as_tuple=True)
    assert cols.max() - cols.min() > 1.8 * (rows.max() - rows.min())  # wide at 0
    rows, cols = turned.nonzero(as_tuple=True)
    assert rows.max() - rows.min() > 1.8 * (cols.max() - cols.min())  # tall near 90 degrees
    # 2 pi (the last level) draws the image of 0, up to pixels on the sprite's boundary
    full = render_dsprites(one(shape=1, orientation=39))[0]
    assert (full != flat).sum() <= 0.02 * flat.sum()


def test_a_positive_angle_turns_counter_clockwise_on_screen():
    # the heart's point starts at the bottom; a quarter turn counter-clockwise moves it right
    heart = render_dsprites(one(shape=2, orientation=10))[0]
    _, cols = heart.nonzero(as_tuple=True)
    col_centre = cols.float().mean()
    right, left = (cols > col_centre).sum(), (cols < col_centre).sum()
    assert right < left  # fewer pixels on the side of the point


def test_same_seed_same_images_other_seed_other_images():
    a = sample_dsprites(32, generator=torch.Generator().manual_seed(7))
    b = sample_dsprites(32, generator=torch.Generator().manual_seed(7))
    c = sample_dsprites(32, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_the_global_rng_is_untouched():
    state = torch.random.get_rng_state()
    sample_dsprites(8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(state, torch.random.get_rng_state())


@requires_cuda
def test_cuda_renders_the_cpu_images():
    f = sample_dsprites_factors(64, generator=torch.Generator().manual_seed(3))
    assert torch.equal(render_dsprites(f.cuda()).cpu(), render_dsprites(f))


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("factors", "error", "match"),
    [
        ([[0, 0, 0, 0, 0]], TypeError, "torch.Tensor"),
        (torch.zeros(2, 5), TypeError, "integer indices"),
        (torch.zeros(2, 4, dtype=torch.long), ValueError, r"\[\.\.\., 5\]"),
        (torch.tensor([[3, 0, 0, 0, 0]]), ValueError, "shape"),
        (torch.tensor([[0, 0, 40, 0, 0]]), ValueError, "orientation"),
        (torch.tensor([[0, 0, 0, 0, -1]]), ValueError, "pos_y"),
    ],
)
def test_bad_factors_are_refused(factors, error, match):
    with pytest.raises(error, match=match):
        render_dsprites(factors)


@pytest.mark.parametrize(
    ("resolution", "error"), [(4, ValueError), (True, TypeError), (32.0, TypeError)]
)
def test_bad_resolution_is_refused(resolution, error):
    with pytest.raises(error, match="resolution"):
        render_dsprites(one(), resolution=resolution)


def test_bad_sampling_arguments_are_refused():
    with pytest.raises(ValueError, match="num_samples"):
        sample_dsprites_factors(0)
    with pytest.raises(TypeError, match="generator"):
        sample_dsprites_factors(4, generator=0)
    with pytest.raises(TypeError, match="dtype"):
        render_dsprites(one(), dtype=torch.int64)
