"""Figures of learned representations against ground-truth factors
(mi_utils.plotting.representation; headless Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from mi_utils.plotting import plot_latent_factors, plot_position_maps
from mi_utils.tasks import DSPRITES_FACTORS, dsprites_factor_values, sample_dsprites_factors

NAMES = list(DSPRITES_FACTORS)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _codes(n=600, seed=0):
    """Factors of n dSprites and a 3-d code: z_1 = pos_x index, z_2 = -pos_y index, z_3 noise."""
    g = torch.Generator().manual_seed(seed)
    factors = sample_dsprites_factors(n, generator=g)
    noise = torch.randn(n, generator=g, dtype=torch.float64)
    latents = torch.stack([factors[:, 3].double(), -factors[:, 4].double(), noise], dim=1)
    return latents, factors


def test_latent_factors_draws_the_level_means():
    latents, factors = _codes()
    values = dsprites_factor_values(dtype=torch.float64)
    fig, axes = plot_latent_factors(latents, factors, factor_names=NAMES,
                                    factor_values=[values[n] for n in NAMES])  # fmt: skip
    assert axes.shape == (3, 5)
    assert all(ax.figure is fig for ax in axes.flat)
    # panel (latent 1, pos_x): the mean of z_1 at each x level is the level index itself
    x, y = axes[0, 3].lines[0].get_data()
    levels = np.rint(np.asarray(x) * 31).astype(int)
    np.testing.assert_allclose(y, levels)
    np.testing.assert_allclose(x, values["pos_x"].numpy()[levels])
    # panel (latent 2, pos_y) decreases; its row shares one y-range across factors
    _, y2 = axes[1, 4].lines[0].get_data()
    assert np.all(np.diff(y2) < 0)
    assert axes[1, 0].get_ylim() == axes[1, 4].get_ylim()
    assert axes[0, 0].get_title() == "shape" and axes[2, 2].get_xlabel() == "orientation"


def test_latent_factors_defaults_to_level_indices_and_skips_empty_levels():
    latents = np.array([[1.0], [3.0], [5.0]])
    factors = np.array([[0], [0], [2]])  # level 1 has no sample
    _, axes = plot_latent_factors(latents, factors, factor_names=["f"])
    x, y = axes[0, 0].lines[0].get_data()
    np.testing.assert_allclose(x, [0.0, 2.0])
    np.testing.assert_allclose(y, [2.0, 5.0])


def test_position_maps_colour_each_cell_by_its_mean():
    latents, factors = _codes(n=4000)
    _, axes = plot_position_maps(latents, factors[:, 3], factors[:, 4], num_positions=(32, 32))
    assert axes.shape == (3,)
    image = axes[0].images[0].get_array()
    assert image.shape == (32, 32)
    seen = ~np.ma.getmaskarray(image) & np.isfinite(np.ma.getdata(image))
    cols = np.broadcast_to(np.arange(32), (32, 32))
    np.testing.assert_allclose(np.ma.getdata(image)[seen], cols[seen])  # z_1 = x: columns
    rows = np.broadcast_to(np.arange(32)[:, None], (32, 32))
    image2 = np.ma.getdata(axes[1].images[0].get_array())
    np.testing.assert_allclose(image2[seen], -rows[seen])  # z_2 = -y: rows, y downwards


def test_draws_into_given_axes():
    latents, factors = _codes()
    fig, given = plt.subplots(2, 3)
    out_fig, axes = plot_position_maps(latents, factors[:, 3], factors[:, 4], axes=given[0])
    assert out_fig is fig and axes[2] is given[0, 2]
    with pytest.raises(ValueError, match="axes"):
        plot_position_maps(latents, factors[:, 3], factors[:, 4], axes=given[0, :2])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(latents=np.zeros(5)), ValueError, "latents"),
        (dict(latents=np.full((4, 2), np.nan)), ValueError, "finite"),
        (dict(latents=np.array([["a", "b"]] * 4)), TypeError, "latents"),
        (dict(factors=np.zeros((4, 2))), TypeError, "factors"),
        (dict(factors=np.zeros((3, 2), dtype=int)), ValueError, "factors"),
        (dict(factors=-np.ones((4, 2), dtype=int)), ValueError, "factors"),
        (dict(factor_names=["a"]), ValueError, "factor_names"),
        (dict(factor_values=[[0.0]]), ValueError, "factor_values"),
        (dict(factor_values=[[0.0], [0.0, 1.0]]), ValueError, r"factor_values\[0\]"),
        (dict(latent_names=["only one"]), ValueError, "latent_names"),
    ],
)
def test_latent_factors_rejects_bad_input(kwargs, error, match):
    args = dict(latents=np.zeros((4, 2)), factors=np.array([[1, 0], [0, 1], [1, 1], [0, 0]]),
                factor_names=["a", "b"])  # fmt: skip
    args.update(kwargs)
    latents, factors = args.pop("latents"), args.pop("factors")
    with pytest.raises(error, match=match):
        plot_latent_factors(latents, factors, **args)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(pos_x=np.zeros(3, dtype=int)), ValueError, "pos_x"),
        (dict(pos_y=np.zeros(4)), TypeError, "pos_y"),
        (dict(num_positions=(2,)), ValueError, "num_positions"),
        (dict(num_positions=(1, 1)), ValueError, "num_positions"),
    ],
)
def test_position_maps_rejects_bad_input(kwargs, error, match):
    args = dict(latents=np.zeros((4, 2)), pos_x=np.array([0, 1, 1, 0]),
                pos_y=np.array([1, 1, 0, 0]))  # fmt: skip
    args.update(kwargs)
    with pytest.raises(error, match=match):
        plot_position_maps(args.pop("latents"), args.pop("pos_x"), args.pop("pos_y"), **args)
