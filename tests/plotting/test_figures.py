"""The book's recurring figures: the staircase grid and the bias-variance panels
(mi_utils.plotting.figures; headless Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mi_utils import book, estimators
from mi_utils.experiments import bias_variance, staircase_settings
from mi_utils.plotting import (
    CEILING_COLOR,
    CRITIC_COLORS,
    TRUE_MI_COLOR,
    estimator_color,
    plot_bias_variance,
    plot_bias_variance_alpha,
    plot_staircase,
)
from mi_utils.train import Run, train
from tests.conftest import TINY, gen


def _alpha_frame(mis=(2.0, 6.0), alphas=(0.0, 0.01, 0.5, 1.0), batch_sizes=(64,)):
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
    plt.close("all")  # a closed figure's artists can still be inspected


# ----------------------------------------------------------------------------- staircase
@pytest.fixture(scope="module")
def staircase_frame() -> pd.DataFrame:
    """Every staircase setting, both critics, both tasks: 2 levels of 2 steps, d = 3."""
    runs = []
    for task in book.STAIRCASE_TASKS:
        schedule = book.staircase_schedule(task=task, levels=(1.0, 2.0), steps=2, dim=3)
        for critic in ("separable", "concat"):
            for name, opts in staircase_settings():
                runs.append(Run(name, critic, schedule, seed=len(runs), **opts))
    return train(runs, None, TINY, device="cpu", progress=False).frame


@pytest.fixture(scope="module")
def staircase_axes(staircase_frame) -> tuple:
    """The staircase figure of ``staircase_frame`` (K = 8, EMA rate 0.5) as a 2 x 9 grid."""
    fig = plot_staircase(staircase_frame, batch_size=8, ema_rate=0.5)
    return fig, np.array(fig.axes).reshape(2, 9)


def _dashed(ax) -> list[float]:
    return [round(ln.get_ydata()[0], 9) for ln in ax.lines if ln.get_linestyle() == "--"]


def test_plot_staircase_panels_follow_the_registry(staircase_axes):
    _, axes = staircase_axes
    titles = [ax.get_title() for ax in axes[0]]
    expected = [estimators.get(n).display(**o) for n, o in staircase_settings()]
    assert titles == expected
    assert titles[:6] == ["NWJ", "TUBA", "DV", "MINE", "JS", "InfoNCE"]
    assert titles[6] == r"$I_{\alpha}$, $\alpha$ = 0.01" and "0.99" in titles[8]
    assert all(ax.get_title() == "" for ax in axes[1])
    assert [ax.get_ylabel().split("\n")[0] for ax in axes[:, 0]] == ["gaussian", "cubic"]
    assert all(ax.get_xlabel() == "step" for ax in axes[1])


def test_plot_staircase_ceilings_are_the_registry_paper_ceilings(staircase_axes):
    _, axes = staircase_axes
    for r in range(2):
        assert _dashed(axes[r, 5]) == [round(math.log(8), 9)]  # log K on InfoNCE
        for c, alpha in zip((6, 7, 8), (0.01, 0.5, 0.99), strict=True):
            assert _dashed(axes[r, c]) == [round(math.log(8 / alpha), 9)]  # log(K / alpha)
        for c in range(5):
            assert _dashed(axes[r, c]) == []  # no paper ceiling for NWJ ... JS
    dashed = [ln for ln in axes[0, 5].lines if ln.get_linestyle() == "--"]
    assert dashed[0].get_color() == CEILING_COLOR and dashed[0].get_label() == "log K"


def test_plot_staircase_draws_each_critic_and_the_true_mi(staircase_frame, staircase_axes):
    fig, axes = staircase_axes
    for ax in axes.flat:
        colors = [ln.get_color() for ln in ax.lines]
        assert colors.count(CRITIC_COLORS["separable"]) == 2  # raw and smoothed, one run
        assert colors.count(CRITIC_COLORS["concat"]) == 2
        truth = [ln for ln in ax.lines if ln.get_color() == TRUE_MI_COLOR]
        assert len(truth) == 1 and list(truth[0].get_ydata()) == [1.0, 1.0, 2.0, 2.0]
    raw, smooth = [ln for ln in axes[0, 0].lines if ln.get_color() == CRITIC_COLORS["concat"]]
    sel = staircase_frame[(staircase_frame.task == "gaussian") & (staircase_frame.critic ==
                          "concat") & (staircase_frame.estimator == "nwj")]  # fmt: skip
    np.testing.assert_allclose(raw.get_ydata(), sel.estimate)
    v, expected = sel.estimate.to_numpy(), [sel.estimate.iloc[0]]
    for x in v:
        expected.append(0.5 * expected[-1] + 0.5 * x)
    np.testing.assert_allclose(smooth.get_ydata(), expected[1:])
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["separable", "concat", "true MI"]
    assert axes[0, 0].get_ylim() == (-1.0, 12.0)


def test_plot_staircase_of_a_subset_and_of_a_new_estimator(staircase_frame):
    sub = staircase_frame[staircase_frame.estimator.isin(["infonce", "nwj"])
                          & (staircase_frame.task == "cubic")]  # fmt: skip
    fig = plot_staircase(sub, batch_size=8, ylim=(0.0, 5.0))
    assert [ax.get_title() for ax in fig.axes] == ["NWJ", "InfoNCE"]  # registry order
    assert fig.axes[0].get_ylim() == (0.0, 5.0)
    plt.close(fig)
    spec = estimators.Estimator("toy", "Toy {scale:g}", "#123456",
                                lambda s, a, st, o: (o["scale"] * s.mean((-2, -1)), None),
                                options={"scale": 1.0},
                                paper_ceiling=lambda k, o: (o["scale"] * k, "scale K"))  # fmt: skip
    estimators.register(spec)
    try:
        schedule = book.staircase_schedule(levels=(1.0,), steps=2, dim=3)
        runs = [Run("toy", "separable", schedule, scale=s) for s in (0.5, 2.0)]
        frame = train(runs, None, TINY, progress=False, device="cpu").frame
        fig = plot_staircase(frame, batch_size=4)
        assert [ax.get_title() for ax in fig.axes] == ["Toy 0.5", "Toy 2"]
        assert [_dashed(ax) for ax in fig.axes] == [[2.0], [8.0]]
        plt.close(fig)
    finally:
        estimators.unregister("toy")


def test_plot_staircase_rejects_bad_input(staircase_frame):
    with pytest.raises(ValueError, match="batch_size"):
        plot_staircase(staircase_frame, batch_size=1)
    with pytest.raises(ValueError, match="batch_size"):
        plot_staircase(staircase_frame, batch_size=True)
    with pytest.raises(ValueError, match="column 'estimate'"):
        plot_staircase(staircase_frame.drop(columns="estimate"), batch_size=8)
    with pytest.raises(ValueError, match="column"):
        plot_staircase("not a frame", batch_size=8)
    with pytest.raises(ValueError, match="rate"):
        plot_staircase(staircase_frame, batch_size=8, ema_rate=0.0)


# ----------------------------------------------------------------------------- bias/variance
def test_plot_bias_variance_panels():
    df = bias_variance(mis=(1.0, 3.0), batch_sizes=(8,), alphas=(0.5,), num_batches=20, dim=2,
                       generator=gen(1))  # fmt: skip
    axes = plot_bias_variance(df, "true_mi")
    assert len(axes) == 3 and axes[1].get_yscale() == "log" and axes[2].get_yscale() == "log"
    assert [ax.get_ylabel() for ax in axes] == ["bias (nats)", "variance (nats²)", "MSE (nats²)"]
    assert axes[0].get_xlabel() == "true MI (nats)"
    assert len(axes[0].lines) == 6  # five estimator settings and the zero line
    lines = {ln.get_label(): ln for ln in axes[0].lines}
    for name in ("nwj", "tuba", "dv", "infonce"):
        spec = estimators.get(name)
        assert lines[spec.label].get_color() == spec.color
        row = df[df.estimator == name].sort_values("true_mi")
        np.testing.assert_allclose(lines[spec.label].get_ydata(), row.bias)
    interp = lines[estimators.get("interpolated").display(alpha=0.5)]
    assert interp.get_alpha() == pytest.approx(0.35 + 0.65 * 0.5)
    np.testing.assert_allclose(axes[2].lines[0].get_ydata(), df[df.estimator == "nwj"].mse)
    assert axes[-1].get_legend() is not None


def test_plot_bias_variance_against_the_batch_size():
    df = bias_variance(mis=(2.0,), batch_sizes=(4, 8, 16), estimators=("infonce",),
                       num_batches=10, dim=2, generator=gen(2))  # fmt: skip
    axes = plot_bias_variance(df, "batch_size")
    assert all(ax.get_xscale() == "log" for ax in axes)
    assert axes[0].get_xlabel() == "batch size K"
    np.testing.assert_allclose(axes[0].lines[0].get_xdata(), [4, 8, 16])
    with pytest.raises(ValueError, match="x must be one of"):
        plot_bias_variance(df, "K")
    with pytest.raises(ValueError, match="x must be one of"):
        plot_bias_variance(df, "alpha")
    with pytest.raises(ValueError, match="column 'mse'"):
        plot_bias_variance(df.drop(columns="mse"), "true_mi")


# ----------------------------------------------------------------------------- against alpha
def test_one_line_per_mi_at_equally_spaced_alphas():
    df = _alpha_frame()
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
    out = plot_bias_variance_alpha(_alpha_frame(mis=(4.0,)), axes=given)
    assert list(out) == list(given)
    assert out[0].get_lines()[0].get_alpha() == 1.0


@pytest.mark.parametrize(
    "df, kwargs, err, match",
    [
        (pd.DataFrame({"x": [1]}), {}, ValueError, "column"),
        ("not a frame", {}, ValueError, "column"),
        (_alpha_frame().query("estimator == 'infonce'"), {}, ValueError, "no rows"),
        (_alpha_frame(batch_sizes=(16, 64)), {}, ValueError, "one batch size"),
        (_alpha_frame(), {"axes": [None, None]}, ValueError, "3 Axes"),
        (_alpha_frame(), {"axes": [None, None, None]}, TypeError, "Axes"),
    ],
)
def test_rejects_bad_input(df, kwargs, err, match):
    with pytest.raises(err, match=match):
        plot_bias_variance_alpha(df, **kwargs)
