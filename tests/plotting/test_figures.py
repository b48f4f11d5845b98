"""Tests for mi_utils.plotting.plot_bias_variance_alpha (Chapter 8; headless Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mi_utils.plotting import estimator_color, plot_bias_variance_alpha


def _frame(mis=(2.0, 6.0), alphas=(0.0, 0.01, 0.5, 1.0), batch_sizes=(64,)):
    rows = [
        dict(estimator="interpolated", alpha=a, true_mi=mi, batch_size=k, mean=mi - a,
             bias=-a * mi, variance=0.1 + a, mse=0.2 + a, se=0.01)
        for mi in mis for a in alphas for k in batch_sizes
    ]  # fmt: skip
    rows.append(dict(estimator="infonce", alpha=np.nan, true_mi=2.0, batch_size=64, mean=1.0,
                     bias=-1.0, variance=0.1, mse=1.1, se=0.01))  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_one_line_per_mi_at_equally_spaced_alphas():
    df = _frame()
    axes = plot_bias_variance_alpha(df)
    assert len(axes) == 3
    for ax in axes:
        lines = [ln for ln in ax.get_lines() if ln.get_label().startswith("I = ")]
        assert [ln.get_label() for ln in lines] == ["I = 2 nats", "I = 6 nats"]
        for ln in lines:
            np.testing.assert_allclose(ln.get_xdata(), [0, 1, 2, 3])
            assert ln.get_color() == estimator_color("interpolated")
        assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.01", "0.5", "1"]
    bias_line = axes[0].get_lines()[1]  # the second MI's bias
    np.testing.assert_allclose(bias_line.get_ydata(), [-0.0, -0.06, -3.0, -6.0])
    assert axes[1].get_yscale() == "log" and axes[2].get_yscale() == "log"
    assert axes[0].get_yscale() == "linear"
    assert axes[2].get_legend() is not None


def test_draws_on_given_axes():
    _fig, given = plt.subplots(1, 3)
    out = plot_bias_variance_alpha(_frame(mis=(4.0,)), axes=given)
    assert list(out) == list(given)
    assert out[0].get_lines()[0].get_alpha() == 1.0


@pytest.mark.parametrize(
    "df, kwargs, err, match",
    [
        (pd.DataFrame({"x": [1]}), {}, ValueError, "column"),
        ("not a frame", {}, ValueError, "column"),
        (_frame().query("estimator == 'infonce'"), {}, ValueError, "no rows"),
        (_frame(batch_sizes=(16, 64)), {}, ValueError, "one batch size"),
        (_frame(), {"axes": [None, None]}, ValueError, "3 Axes"),
        (_frame(), {"axes": [None, None, None]}, TypeError, "Axes"),
    ],
)
def test_rejects_bad_input(df, kwargs, err, match):
    with pytest.raises(err, match=match):
        plot_bias_variance_alpha(df, **kwargs)
