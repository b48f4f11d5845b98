"""The book's experiments: staircase runs, level summaries, bias and variance."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mi_utils import book, estimators
from mi_utils.experiments import (
    STAIRCASE_ALPHAS,
    bias_variance,
    bias_variance_settings,
    level_summary,
    staircase,
    staircase_runs,
    staircase_settings,
)
from mi_utils.tasks import CorrelatedGaussian, Schedule, cubic
from mi_utils.train import RESULT_COLUMNS, Run, train
from tests.conftest import TINY, gen

STAIRCASE_NAMES = ("nwj", "tuba", "dv", "mine", "js", "infonce", "interpolated")


# ----------------------------------------------------------------------------- staircase
def test_staircase_settings_are_the_papers_nine():
    settings = staircase_settings()
    assert [name for name, _ in settings] == [*STAIRCASE_NAMES[:-1], *["interpolated"] * 3]
    assert [opts for name, opts in settings if name == "interpolated"] == [
        {"alpha": a} for a in (0.01, 0.5, 0.99)
    ]
    assert all(opts == {} for name, opts in settings if name != "interpolated")
    assert STAIRCASE_ALPHAS == (0.01, 0.5, 0.99)  # the labelled values, not sigmoid(+-5)
    assert estimators.names(tag="staircase") == STAIRCASE_NAMES


def test_staircase_runs_cover_every_setting_critic_and_task():
    runs = staircase_runs(profile="quick")
    assert len(runs) == 9 * 2 * 2
    assert all(isinstance(r, Run) for r in runs)
    combos = {(r.estimator, r.options.get("alpha"), r.critic, r.task.name) for r in runs}
    assert len(combos) == len(runs)
    assert {r.critic for r in runs} == {"separable", "concat"}
    assert {r.task.name for r in runs} == {"gaussian", "cubic"}
    assert {r.options["alpha"] for r in runs if r.estimator == "interpolated"} == {0.01, 0.5, 0.99}
    assert [r.seed for r in runs] == list(range(len(runs)))
    assert [r.seed for r in staircase_runs(seed=10, profile="quick")] == list(range(10, 46))
    schedule = runs[0].task
    assert schedule.levels == (2.0, 4.0, 6.0, 8.0, 10.0)
    assert schedule.num_steps == 5 * book.steps_per_level("quick")
    assert (schedule.x_dim, schedule.y_dim) == (book.DIM, book.DIM)
    assert staircase_runs(profile="full")[0].task.num_steps == 5 * 4000


def test_staircase_runs_subsets():
    runs = staircase_runs(("concat",), ("cubic",), profile="quick")
    assert len(runs) == 9
    assert {(r.critic, r.task.name) for r in runs} == {("concat", "cubic")}
    with pytest.raises(ValueError, match="critic"):
        staircase_runs(("bilinear",), profile="quick")
    with pytest.raises(ValueError, match="task"):
        staircase_runs(tasks=("swiss",), profile="quick")
    with pytest.raises(ValueError, match="seed"):
        staircase_runs(seed=-1, profile="quick")
    with pytest.raises(ValueError, match="profile"):
        staircase_runs(profile="medium")


def test_staircase_returns_the_trainer_frame(monkeypatch):
    monkeypatch.setattr(book, "steps_per_level", lambda profile=None: 3)
    df = staircase("quick", critics=("separable",), config=TINY, progress=False, device="cpu")
    assert list(df.columns) == [*RESULT_COLUMNS[:3], "alpha", "ema_rate", *RESULT_COLUMNS[3:]]
    assert df.run_id.nunique() == 9 * 2 and df.step.nunique() == 15
    assert set(df.task) == {"gaussian", "cubic"} and set(df.critic) == {"separable"}
    assert df.groupby("run_id").true_mi.apply(list).map(tuple).nunique() == 1
    assert df[df.run_id == 0].true_mi.tolist() == [float(v) for v in np.repeat([2, 4, 6, 8, 10], 3)]
    assert np.isfinite(df.estimate).all()
    # Same as building the runs and training them: staircase adds nothing but the choice.
    runs = staircase_runs(("separable",), profile="quick")
    direct = train(runs, None, TINY, device="cpu", progress=False).frame
    pd.testing.assert_frame_equal(df, direct, check_exact=True)


# ----------------------------------------------------------------------------- level summary
def _frame(steps_per_level: int = 5, estimate=lambda step: float(step)) -> pd.DataFrame:
    rows = []
    for run_id, (name, alpha) in enumerate((("nwj", np.nan), ("interpolated", 0.5))):
        for step in range(2 * steps_per_level):
            level = 2.0 if step < steps_per_level else 4.0
            rows.append(dict(run_id=run_id, estimator=name, label=name, alpha=alpha,
                             critic="separable", task="gaussian", seed=run_id, step=step,
                             true_mi=level, estimate=estimate(step) + 100 * run_id))  # fmt: skip
    return pd.DataFrame(rows)


def test_level_summary_means_the_tail_of_each_level():
    out = level_summary(_frame(), tail=0.4)
    assert list(out.columns) == [
        "estimator",
        "label",
        "alpha",
        "critic",
        "task",
        "true_mi",
        "mean",
        "std",
    ]
    assert len(out) == 4  # two runs x two levels
    nwj = out[out.estimator == "nwj"].set_index("true_mi")
    assert nwj["mean"].to_dict() == {2.0: 3.5, 4.0: 8.5}  # steps 3, 4 and 8, 9
    assert nwj["std"].to_dict() == pytest.approx({2.0: math.sqrt(0.5), 4.0: math.sqrt(0.5)})
    assert nwj.alpha.isna().all()  # a NaN option does not drop the rows
    interp = out[out.estimator == "interpolated"].set_index("true_mi")
    assert interp["mean"].to_dict() == {2.0: 103.5, 4.0: 108.5}
    assert interp.alpha.eq(0.5).all()


@pytest.mark.parametrize(
    "steps, tail, kept",
    [(5, 1.0, 5), (5, 0.5, 2), (5, 0.2, 1), (10, 0.3, 3), (10, 0.1, 1), (10, 0.7, 7), (4, 0.5, 2)],
)
def test_level_summary_keeps_floor_tail_times_the_level_length(steps, tail, kept):
    # The kept steps of a level are its last `kept`: their mean is known exactly.
    out = level_summary(_frame(steps), tail=tail)
    got = out[out.estimator == "nwj"].set_index("true_mi")["mean"]
    for level, last in ((2.0, steps - 1), (4.0, 2 * steps - 1)):
        assert got[level] == pytest.approx(np.mean(np.arange(last - kept + 1, last + 1)))


def test_level_summary_bad_input():
    with pytest.raises(ValueError, match="tail"):
        level_summary(_frame(), tail=0.0)
    with pytest.raises(ValueError, match="tail"):
        level_summary(_frame(), tail=1.5)
    with pytest.raises(ValueError, match="tail"):
        level_summary(_frame(), tail=True)
    with pytest.raises(TypeError, match="df"):
        level_summary([1, 2])
    with pytest.raises(TypeError, match="df"):
        level_summary(_frame().drop(columns="estimate"))


def test_level_summary_of_a_trained_staircase():
    schedule = Schedule.staircase(lambda mi: CorrelatedGaussian.from_mi(mi, 3), 4, (1.0, 3.0))
    runs = [Run("nwj", "separable", schedule), Run("interpolated", "concat", schedule, alpha=0.5)]
    frame = train(runs, None, TINY, progress=False, device="cpu").frame
    out = level_summary(frame, tail=0.5)
    assert len(out) == 4 and set(out.true_mi) == {1.0, 3.0}
    for _, row in out.iterrows():
        run_id = 0 if row.estimator == "nwj" else 1
        sel = frame[(frame.run_id == run_id) & (frame.true_mi == row.true_mi)].sort_values("step")
        assert row["mean"] == pytest.approx(sel.estimate.iloc[-2:].mean(), rel=1e-12)


# ----------------------------------------------------------------------------- bias/variance
def test_bias_variance_settings():
    assert bias_variance_settings((0.0, 1.0)) == [
        ("nwj", {}), ("tuba", {}), ("dv", {}), ("infonce", {}),
        ("interpolated", {"alpha": 0.0}), ("interpolated", {"alpha": 1.0}),
    ]  # fmt: skip
    assert estimators.names(tag="bias_variance") == ("nwj", "tuba", "dv", "infonce",
                                                     "interpolated")  # fmt: skip


def test_bias_variance_matches_a_direct_computation():
    task = CorrelatedGaussian.from_mi(1.5, 2)
    df = bias_variance(mis=(1.5,), batch_sizes=(5,), alphas=(0.3,), num_batches=7, dim=2,
                       generator=gen(3))  # fmt: skip
    assert list(df.columns) == ["estimator", "label", "alpha", "true_mi", "batch_size", "mean",
                                "bias", "variance", "mse", "se"]  # fmt: skip
    for name, label in zip(df["estimator"], df["label"], strict=True):
        spec = estimators.get(name)
        assert label == spec.display(**({"alpha": 0.3} if "alpha" in spec.options else {}))
    x, y = task.sample(5, batch_shape=(7,), generator=gen(3), dtype=torch.float64)
    f = task.log_ratio(x, y)
    log_p_cond, log_p = task.log_conditional(x, y), task.log_marginal(y)
    direct = {
        ("nwj", None): estimators.evaluate("nwj", f + 1.0)[0],
        ("tuba", None): estimators.evaluate("tuba", log_p_cond, log_baseline=log_p)[0],
        ("dv", None): estimators.evaluate("dv", f)[0],
        ("infonce", None): estimators.evaluate("infonce", f)[0],
        ("interpolated", 0.3): estimators.evaluate(
            "interpolated", log_p_cond, log_baseline=log_p, alpha=0.3
        )[0],
    }
    assert len(df) == len(direct)
    for row in df.itertuples():
        v = direct[(row.estimator, None if math.isnan(row.alpha) else row.alpha)].numpy()
        assert v.shape == (7,)
        assert row.true_mi == 1.5 and row.batch_size == 5
        assert row.mean == pytest.approx(v.mean(), rel=1e-12)
        assert row.variance == pytest.approx(v.var(ddof=1), rel=1e-12)
        assert row.bias == pytest.approx(v.mean() - 1.5, rel=1e-12)
        assert row.mse == pytest.approx((v.mean() - 1.5) ** 2 + v.var(ddof=1), rel=1e-12)
        assert row.se == pytest.approx(math.sqrt(v.var(ddof=1) / 7), rel=1e-12)


def test_bias_variance_does_not_depend_on_max_batch_elements():
    # As for the trainer's chunk_steps: batches drawn one after the other, 2 K d normals each
    # (16 and 32 here, multiples of torch's CPU block of 16), give the same numbers in chunks.
    kwargs = dict(mis=(1.0, 2.0), batch_sizes=(4, 8), alphas=(0.5,), num_batches=9, dim=2)
    one = bias_variance(**kwargs, generator=gen(0))
    chunked = bias_variance(**kwargs, generator=gen(0), max_batch_elements=40)  # 2, then 1
    pd.testing.assert_frame_equal(one, chunked, check_exact=False, rtol=1e-12)


def test_bias_variance_with_the_optimal_critic():
    df = bias_variance(mis=(1.0, 8.0), batch_sizes=(16,), alphas=(0.0, 1.0), num_batches=400,
                       dim=4, generator=gen(0))  # fmt: skip
    tuba = df[(df.estimator == "tuba") & (df.true_mi == 1.0)].iloc[0]
    assert abs(tuba.bias) < 4 * tuba.se  # unbiased at the optimal critic
    i0 = df[(df.estimator == "interpolated") & (df.alpha == 0.0) & (df.true_mi == 1.0)].iloc[0]
    assert i0["mean"] == pytest.approx(tuba["mean"])  # alpha = 0 is TUBA
    nce = df[(df.estimator == "infonce") & (df.true_mi == 8.0)].iloc[0]
    assert nce["mean"] <= math.log(16) + 1e-9 and nce.bias < -4  # saturated at log K
    nwj = df[df.estimator == "nwj"].set_index("true_mi")["variance"]
    assert nwj[8.0] > 50 * nwj[1.0]  # the variance of NWJ explodes with the MI
    np.testing.assert_allclose(df.mse, df.bias**2 + df.variance)
    assert set(df.batch_size) == {16}


def test_bias_variance_of_the_upper_bounds_sandwiches_the_mi():
    # The upper bounds run through the same study at their true conditional: biased upward,
    # the variational marginal (at q = p(y)) unbiased, CLUB at d rho^2 / (1 - rho^2).
    names = ("variational_marginal", "minibatch_upper", "club", "infonce")
    df = bias_variance(mis=(4.0,), batch_sizes=(32,), estimators=names, num_batches=300, dim=4,
                       generator=gen(1)).set_index("estimator")  # fmt: skip
    assert abs(df.loc["variational_marginal", "bias"]) < 4 * df.loc["variational_marginal", "se"]
    assert df.loc["minibatch_upper", "bias"] > 4 * df.loc["minibatch_upper", "se"]
    assert df.loc["infonce", "bias"] < -4 * df.loc["infonce", "se"]
    rho = CorrelatedGaussian.from_mi(4.0, 4).rho
    club = df.loc["club"]
    assert abs(club["mean"] - 4 * rho**2 / (1 - rho**2)) < 4 * club["se"]


def test_tuba_is_unbiased_at_the_optimal_critic_on_both_tasks():
    for family in (
        lambda mi: CorrelatedGaussian.from_mi(mi, 3),
        lambda mi: cubic(CorrelatedGaussian.from_mi(mi, 3)),
    ):
        df = bias_variance(mis=(0.5, 2.0), batch_sizes=(8,), estimators=("tuba",),
                           num_batches=500, task_family=family, generator=gen(1))  # fmt: skip
        for row in df.itertuples():
            assert abs(row.bias) < 4 * row.se, row


def test_infonce_never_exceeds_log_k_on_any_batch():
    k, task = 8, CorrelatedGaussian.from_mi(6.0, 3)
    df = bias_variance(mis=(6.0,), batch_sizes=(k,), estimators=("infonce",), num_batches=200,
                       dim=3, generator=gen(2))  # fmt: skip
    x, y = task.sample(k, batch_shape=(200,), generator=gen(2), dtype=torch.float64)
    values, _ = estimators.evaluate("infonce", task.log_ratio(x, y))
    assert (values <= math.log(k) + 1e-12).all()
    assert df["mean"].iloc[0] == pytest.approx(values.mean().item(), rel=1e-12)
    assert df["mean"].iloc[0] > math.log(k) - 0.1  # 6 nats of MI: close to the ceiling


def test_a_transformed_task_gives_the_gaussian_values_on_the_same_draws():
    # y -> y^3 changes neither the log density ratio nor conditional minus marginal, so every
    # estimator at its optimal critic sees the same numbers on the same underlying draws.
    names = ("nwj", "tuba", "dv", "mine", "js", "infonce", "interpolated", "smile")
    kwargs = dict(mis=(1.0, 4.0), batch_sizes=(6,), alphas=(0.2, 0.9), estimators=names,
                  num_batches=30)  # fmt: skip
    gauss = bias_variance(**kwargs, task_family=lambda mi: CorrelatedGaussian.from_mi(mi, 3),
                          generator=gen(5))  # fmt: skip
    cube = bias_variance(**kwargs, task_family=lambda mi: cubic(CorrelatedGaussian.from_mi(mi, 3)),
                         generator=gen(5))  # fmt: skip
    assert len(gauss) == (len(names) + 1) * 2
    pd.testing.assert_frame_equal(gauss, cube, check_exact=False, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(estimators=("ba",)), ValueError, "no known optimal critic"),
        (dict(estimators=("nce",)), ValueError, "unknown estimator"),
        (dict(estimators="nwj"), ValueError, "estimators must be a non-empty tuple"),
        (dict(estimators=()), ValueError, "estimators must be a non-empty tuple"),
        (dict(alphas=(1.5,)), ValueError, "alphas"),
        (dict(alphas=(-0.1,)), ValueError, "alphas"),
        (dict(batch_sizes=(1,)), ValueError, "batch_sizes"),
        (dict(batch_sizes=(2.5,)), TypeError, "batch_sizes"),
        (dict(num_batches=1), ValueError, "num_batches"),
        (dict(dim=0), ValueError, "dim"),
        (dict(mis=(-1.0,)), ValueError, "mi"),
        (dict(generator=0), TypeError, "generator"),
        (dict(dtype=torch.int64), TypeError, "dtype"),
        (dict(task_family=lambda mi: "gaussian"), TypeError, "task_family"),
    ],
)
def test_bias_variance_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        bias_variance(**{"num_batches": 2, "mis": (1.0,), "dim": 2, **kwargs})


def test_bias_variance_default_task_family_is_the_gaussian():
    df = bias_variance(mis=(2.0,), batch_sizes=(4,), alphas=(0.5,), num_batches=5, dim=3,
                       generator=gen(9))  # fmt: skip
    ref = bias_variance(mis=(2.0,), batch_sizes=(4,), alphas=(0.5,), num_batches=5,
                        task_family=lambda mi: CorrelatedGaussian.from_mi(mi, 3),
                        generator=gen(9))  # fmt: skip
    pd.testing.assert_frame_equal(df, ref, check_exact=True)
