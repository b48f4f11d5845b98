"""Tests for mi_utils.plotting.plot_batch_ceiling (Chapter 5; headless Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from mi_utils.plotting import CEILING_COLOR, plot_batch_ceiling


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_draws_log_k_dashed(ax):
    ks = [2, 4, 8, 1024]
    line = plot_batch_ceiling(ax, ks)
    np.testing.assert_allclose(line.get_xdata(), ks)
    np.testing.assert_allclose(line.get_ydata(), np.log(ks))
    assert line.get_linestyle() == "--"
    assert line.get_label() == "log K"
    assert line.get_color() == CEILING_COLOR


def test_alpha_shifts_the_ceiling_and_the_label(ax):
    line = plot_batch_ceiling(ax, np.array([4.0, 16.0]), alpha=0.25, color="red", label="c")
    np.testing.assert_allclose(line.get_ydata(), np.log([16.0, 64.0]))
    assert line.get_label() == "c"
    assert line.get_color() == "red"
    default = plot_batch_ceiling(ax, [4], alpha=0.5)
    assert default.get_label() == "log(K/α)"


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"batch_sizes": []}, ValueError, "non-empty"),
        ({"batch_sizes": [[2, 4]]}, ValueError, "1-D"),
        ({"batch_sizes": [0.5, 2]}, ValueError, "K >= 1"),
        ({"batch_sizes": [2, float("nan")]}, ValueError, "K >= 1"),
        ({"batch_sizes": [2], "alpha": 0.0}, ValueError, "alpha"),
        ({"batch_sizes": [2], "alpha": 1.5}, ValueError, "alpha"),
        ({"batch_sizes": [2], "alpha": True}, ValueError, "alpha"),
        ({"batch_sizes": [2], "label": 3}, TypeError, "label"),
        ({"batch_sizes": [2], "ls": ":"}, ValueError, "dashed"),
        ({"batch_sizes": [2], "linestyle": "-"}, ValueError, "dashed"),
    ],
)
def test_rejects_bad_arguments(ax, kwargs, err, match):
    with pytest.raises(err, match=match):
        plot_batch_ceiling(ax, **kwargs)


def test_rejects_a_non_axes():
    with pytest.raises(TypeError, match="ax"):
        plot_batch_ceiling("not an axes", [2, 4])
