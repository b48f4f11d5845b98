"""The book's experiments: staircase runs, level summaries, bias and variance."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mi_utils.experiments import (
    STAIRCASE_ALPHAS,
    bias_variance,
    ema,
    level_summary,
    staircase,
    staircase_runs,
)
from mi_utils.train import Schedule, TrainConfig

TINY = TrainConfig(dim=3, batch_size=8, hidden_dim=8, embed_dim=4, lr=1e-2)


def test_staircase_runs_cover_every_estimator_critic_and_task():
    runs = staircase_runs()
    assert len(runs) == 9 * 2 * 2
    combos = {(r.estimator, r.alpha, r.critic, r.task) for r in runs}
    assert len(combos) == len(runs)
    assert {r.alpha for r in runs if r.estimator == "interpolated"} == {0.01, 0.5, 0.99}
    assert STAIRCASE_ALPHAS == (0.01, 0.5, 0.99)  # the labelled values, not sigmoid(+-5)
    assert len({r.seed for r in runs}) == len(runs)


def test_staircase_returns_the_trainer_frame():
    df = staircase(config=TINY, schedule=Schedule((2.0, 4.0), 3), critics=("separable",),
                   tasks=("gaussian",), progress=False)  # fmt: skip
    for col in ("estimator", "alpha", "critic", "task", "step", "true_mi", "estimate"):
        assert col in df
    assert df.run_id.nunique() == 9 and df.step.nunique() == 6
    assert set(df.true_mi) == {2.0, 4.0}


def test_level_summary_means_the_tail_of_each_level():
    rows = []
    for step in range(10):
        level = 2.0 if step < 5 else 4.0
        meta = dict(run_id=0, estimator="nwj", alpha=np.nan, critic="separable", task="gaussian")
        rows.append(dict(meta, step=step, true_mi=level, estimate=float(step)))
    out = level_summary(pd.DataFrame(rows), tail=0.4)
    got = out.set_index("true_mi")["mean"].to_dict()
    assert got == {2.0: 3.5, 4.0: 8.5}  # steps 3, 4 and 8, 9
    with pytest.raises(ValueError, match="tail"):
        level_summary(pd.DataFrame(rows), tail=0.0)
    with pytest.raises(TypeError, match="df"):
        level_summary([1, 2])


def test_ema():
    out = ema(np.array([0.0, 10.0, 10.0]), rate=0.5)
    np.testing.assert_allclose(out, [0.0, 5.0, 7.5])
    with pytest.raises(ValueError, match="rate"):
        ema(np.ones(3), rate=0.0)


def test_bias_variance_with_the_optimal_critic():
    g = torch.Generator().manual_seed(0)
    df = bias_variance(mis=(1.0, 8.0), batch_sizes=(16,), alphas=(0.0, 1.0), num_batches=400,
                       dim=4, generator=g)  # fmt: skip
    assert set(df.columns) >= {"estimator", "alpha", "true_mi", "batch_size", "bias", "variance"}
    tuba = df[(df.estimator == "tuba") & (df.true_mi == 1.0)].iloc[0]
    assert abs(tuba.bias) < 4 * tuba.se  # unbiased at the optimal critic
    i0 = df[(df.estimator == "interpolated") & (df.alpha == 0.0) & (df.true_mi == 1.0)].iloc[0]
    assert i0["mean"] == pytest.approx(tuba["mean"])  # alpha = 0 is TUBA
    nce = df[(df.estimator == "infonce") & (df.true_mi == 8.0)].iloc[0]
    assert nce["mean"] <= math.log(16) + 1e-9 and nce.bias < -4  # saturated at log K
    nwj = df[df.estimator == "nwj"].set_index("true_mi")["variance"]
    assert nwj[8.0] > 50 * nwj[1.0]  # the variance of NWJ explodes with the MI
    np.testing.assert_allclose(df.mse, df.bias**2 + df.variance)


def test_bias_variance_bad_input():
    with pytest.raises(ValueError, match="estimators"):
        bias_variance(estimators=("mine",), num_batches=2)
    with pytest.raises(ValueError, match="alphas"):
        bias_variance(alphas=(1.5,), num_batches=2)
    with pytest.raises(ValueError, match="batch_sizes"):
        bias_variance(batch_sizes=(1,), num_batches=2)
    with pytest.raises(ValueError, match="num_batches"):
        bias_variance(num_batches=1)


def test_plot_staircase_grid_and_ceilings():
    import matplotlib

    matplotlib.use("Agg")
    from mi_utils.plotting import CRITIC_COLORS, plot_staircase

    df = staircase(config=TINY, schedule=Schedule((1.0, 2.0), 4), progress=False)
    fig = plot_staircase(df, batch_size=8)
    axes = np.array(fig.axes).reshape(2, 9)
    titles = [ax.get_title() for ax in axes[0]]
    assert titles[0] == "NWJ" and titles[5] == "InfoNCE" and "0.99" in titles[8]
    dashed = {round(line.get_ydata()[0], 6) for line in axes[0, 5].lines if line.get_ls() == "--"}
    assert dashed == {round(math.log(8), 6)}  # log K on the InfoNCE panel
    dashed = {round(line.get_ydata()[0], 6) for line in axes[0, 6].lines if line.get_ls() == "--"}
    assert dashed == {round(math.log(8 / 0.01), 6)}  # log(K/alpha) on I_0.01
    colors = {line.get_color() for line in axes[1, 0].lines}
    assert set(CRITIC_COLORS.values()) <= colors
    with pytest.raises(ValueError, match="batch_size"):
        plot_staircase(df, batch_size=1)
    with pytest.raises(ValueError, match="column"):
        plot_staircase(df.drop(columns="alpha"), batch_size=8)


def test_plot_bias_variance_panels():
    import matplotlib

    matplotlib.use("Agg")
    from mi_utils.plotting import plot_bias_variance

    df = bias_variance(mis=(1.0, 3.0), batch_sizes=(8,), alphas=(0.5,), num_batches=20, dim=2,
                       generator=torch.Generator().manual_seed(1))  # fmt: skip
    axes = plot_bias_variance(df, "true_mi")
    assert len(axes) == 3 and axes[1].get_yscale() == "log"
    assert axes[0].get_ylabel() == "bias (nats)"
    assert len(axes[0].lines) == 6  # five estimator settings and the zero line
    with pytest.raises(ValueError, match="x must be one of"):
        plot_bias_variance(df, "K")
