"""estimate_mi: held-out values, restored best weights, intervals, diagnostics, bad input."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import mi_utils
from mi_utils import estimators
from mi_utils.estimate import MIEstimate, estimate_mi, neural_estimators
from mi_utils.tasks import CorrelatedGaussian
from tests.conftest import gen

SMALL = dict(hidden_dim=16, embed_dim=8, batch_size=64, max_steps=60, eval_every=20,
             num_runs=3, ksg=False, progress=False, lr=3e-3)  # fmt: skip


def gaussian_data(mi=0.5, dim=1, n=600, seed=0):
    task = CorrelatedGaussian.from_mi(mi, dim)
    x, y = task.sample(n, generator=gen(seed), dtype=torch.float64)
    return x.numpy(), y.numpy(), task.mi


def test_top_level_name_and_result_fields():
    x, y, _ = gaussian_data()
    r = mi_utils.estimate_mi(x, y, **SMALL)
    assert isinstance(r, MIEstimate) and mi_utils.estimate_mi is estimate_mi
    assert r.runs.shape == (3,) and r.estimate == pytest.approx(r.runs.mean())
    lo, hi = r.ci
    assert lo < r.estimate < hi and r.std_error > 0
    assert set(r.curves.columns) == {"run", "step", "split", "value"}
    assert set(r.curves.split) == {"train", "validation"}
    assert len(r.critics) == len(r.best_steps) == len(r.preprocessors) == 3
    assert r.settings["estimator"] == "infonce" and r.settings["eval_block"] == 2048
    json.dumps(r.to_dict())  # JSON-ready
    assert "MIEstimate(" in repr(r) and "<table>" in r._repr_html_()


def test_splits_are_disjoint_and_preprocessing_is_fitted_on_training_rows_only():
    x, y, _ = gaussian_data(n=500)
    r = estimate_mi(x * 10 + 3, y, preprocess="standardize", split=(0.5, 0.2, 0.3), **SMALL)
    for (px, _), split in zip(r.preprocessors, r.splits, strict=True):
        tr, va, te = split["train"], split["validation"], split["test"]
        assert (len(tr), len(va), len(te)) == (250, 100, 150)
        assert len(set(tr) | set(va) | set(te)) == 500  # disjoint, and all of them
        train_mean = torch.from_numpy(x[tr] * 10 + 3).mean(0)
        torch.testing.assert_close(px.mean[0], train_mean)
    assert not np.array_equal(r.splits[0]["test"], r.splits[1]["test"])  # one split per run


def test_kept_critics_are_the_best_validation_step_and_give_the_reported_test_value():
    x, y, _ = gaussian_data(mi=1.0, dim=2, n=800)
    r = estimate_mi(x, y, estimator="nwj", preprocess="standardize", **SMALL)
    spec = estimators.get("nwj")
    for run, (critic, (px, py), split) in enumerate(
        zip(r.critics, r.preprocessors, r.splits, strict=True)
    ):
        xt = torch.as_tensor(x, dtype=torch.float64)
        yt = torch.as_tensor(y, dtype=torch.float64)
        xs, ys = px(xt).float(), py(yt).float()
        with torch.no_grad():
            val = spec(critic(xs[split["validation"]], ys[split["validation"]]))[0].item()
            test = spec(critic(xs[split["test"]], ys[split["test"]]))[0].item()
        curve = r.curves[(r.curves.run == run) & (r.curves.split == "validation")]
        best = curve.loc[curve.value.idxmax()]
        assert int(best.step) == r.best_steps[run]
        assert val == pytest.approx(best.value, abs=1e-4)
        assert test == pytest.approx(r.runs[run], abs=1e-4)


def test_bits_are_nats_over_log_two_and_a_seed_reproduces_the_result():
    x, y, _ = gaussian_data()
    nats = estimate_mi(x, y, **SMALL)
    bits = estimate_mi(x, y, units="bits", **SMALL)
    again = estimate_mi(x, y, **SMALL)
    np.testing.assert_allclose(bits.runs, nats.runs / math.log(2), rtol=1e-6)
    assert bits.units == "bits" and again.estimate == nats.estimate
    other = estimate_mi(x, y, **{**SMALL, "seed": 1})
    assert other.estimate != nats.estimate


@pytest.mark.parametrize("kind", ["numpy", "torch", "pandas", "1d", "int"])
def test_accepts_arrays_tensors_frames_vectors_and_integers(kind):
    x, y, _ = gaussian_data()
    if kind == "torch":
        x, y = torch.from_numpy(x).float(), torch.from_numpy(y)
    elif kind == "pandas":
        x, y = pd.DataFrame(x), pd.Series(y[:, 0])
    elif kind == "1d":
        x, y = x[:, 0], y[:, 0]
    elif kind == "int":
        x = np.round(x * 100).astype(np.int64)
    r = estimate_mi(x, y, **SMALL)
    assert np.isfinite(r.estimate)


@pytest.mark.parametrize("name", neural_estimators())
def test_every_trainable_estimator_runs(name):
    x, y, _ = gaussian_data(n=300)
    r = estimate_mi(x, y, estimator=name, **{**SMALL, "max_steps": 20, "num_runs": 2})
    assert np.isfinite(r.runs).all() and r.estimator == name


def test_concat_critic_and_estimator_options():
    x, y, _ = gaussian_data(n=300)
    r = estimate_mi(x, y, estimator="interpolated", alpha=0.3, critic="concat", **SMALL)
    assert r.settings["options"] == {"alpha": 0.3} and r.settings["eval_block"] == 64
    assert np.isfinite(r.estimate)


def test_ksg_estimator_gives_an_interval_from_disjoint_subsets():
    pytest.importorskip("scipy")
    x, y, truth = gaussian_data(mi=0.5, n=2000)
    r = estimate_mi(x, y, estimator="ksg", num_runs=4)
    assert r.estimator == "ksg" and len(r.runs) == 4 and r.curves.empty
    assert r.ci[0] < r.estimate < r.ci[1]
    assert abs(r.estimate - truth) < 0.1


# ----------------------------------------------------------------------------- diagnostics
def codes(r):
    return {d.code for d in r.diagnostics}


def test_no_interval_with_one_run():
    x, y, _ = gaussian_data()
    r = estimate_mi(x, y, **{**SMALL, "num_runs": 1})
    assert r.ci is None and math.isnan(r.std_error) and "no_interval" in codes(r)
    assert r.to_dict()["std_error"] is None


def test_still_increasing_when_training_stops_at_max_steps_while_improving():
    x, y, _ = gaussian_data(mi=1.0)
    r = estimate_mi(x, y, **{**SMALL, "lr": 1e-4, "max_steps": 40})
    assert "still_increasing" in codes(r)
    done = estimate_mi(x, y, **{**SMALL, "max_steps": 400, "patience": 2})
    assert "still_increasing" not in codes(done)


def test_near_ceiling_for_infonce_on_small_blocks():
    x, y, _ = gaussian_data(mi=3.0, dim=3, n=1200)
    r = estimate_mi(x, y, eval_block=4, **{**SMALL, "max_steps": 200})
    assert "near_ceiling" in codes(r)
    assert "near_ceiling" not in codes(estimate_mi(x, y, eval_block=512, **SMALL))


def test_overfitting_on_a_small_sample_with_a_large_critic():
    x, y, _ = gaussian_data(mi=0.3, dim=5, n=200)
    r = estimate_mi(x, y, **{**SMALL, "hidden_dim": 256, "max_steps": 400, "patience": 100,
                             "batch_size": 32})  # fmt: skip
    assert "overfitting" in codes(r)


def test_negative_and_ksg_disagreement_flags():
    pytest.importorskip("scipy")
    # An untrained critic (lr ~ 0) scores about 0 everywhere: NWJ(f = 0) = 0 - 1/e < 0.
    xs, ys, _ = gaussian_data(mi=2.0, n=600)
    r = estimate_mi(xs, ys, estimator="nwj", **{**SMALL, "lr": 1e-9, "ksg": True})
    assert r.estimate < -0.2 and "negative" in codes(r)
    # ... while KSG sees the strong dependence.
    assert r.ksg > 1.5 and "disagrees_with_ksg" in codes(r)
    trained = estimate_mi(xs, ys, **{**SMALL, "max_steps": 300})
    assert "negative" not in codes(trained)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "change, exc, match",
    [
        (dict(y=np.zeros((599, 1))), ValueError, "same number of samples"),
        (dict(x=np.zeros((3, 1)), y=np.zeros((3, 1))), ValueError, "too few"),
        (dict(x=np.full((600, 1), np.nan)), ValueError, "x must hold finite"),
        (dict(y=np.full((600, 1), np.inf)), ValueError, "y must hold finite"),
        (dict(x=np.array(["a"] * 600)), TypeError, "x must be numeric"),
        (dict(x=np.zeros(600, dtype=bool)), TypeError, "x must be numeric"),
        (dict(estimator="mine2"), ValueError, "estimator must be one of"),
        (dict(estimator="ba"), ValueError, "estimator must be one of"),
        (dict(split=(0.6, 0.3, 0.3)), ValueError, "split must sum"),
        (dict(split=(0.5, 0.5)), TypeError, "split"),
        (dict(split=(0.6, 0.0, 0.2)), ValueError, "split"),
        (dict(ci_level=1.0), ValueError, "ci_level"),
        (dict(units="shannons"), ValueError, "units"),
        (dict(preprocess="whiten"), ValueError, "preprocess"),
        (dict(critic="bilinear"), ValueError, "critic"),
        (dict(ksg="yes"), TypeError, "ksg"),
        (dict(clip=5.0), ValueError, "unknown option"),
        (dict(num_runs=0), ValueError, "num_runs"),
        (dict(batch_size=1), ValueError, "batch_size"),
        (dict(eval_block=1), ValueError, "eval_block"),
        (dict(lr=-1.0), ValueError, "lr"),
    ],
)
def test_bad_input_names_the_argument(change, exc, match):
    x, y, _ = gaussian_data()
    args = dict(x=x, y=y, **SMALL)
    args.update(change)
    with pytest.raises(exc, match=match):
        estimate_mi(**args)


@pytest.mark.slow
def test_default_settings_are_accurate_on_a_one_dimensional_gaussian():
    x, y, truth = gaussian_data(mi=0.5, dim=1, n=10_000, seed=3)
    r = estimate_mi(x, y, progress=False, ksg=False)
    assert abs(r.estimate - truth) < 0.05
    assert r.ci[0] - 0.05 < truth < r.ci[1] + 0.05


def test_gaussian_estimator_needs_no_training_and_gives_an_interval():
    x, y, truth = gaussian_data(mi=0.8, dim=2, n=4000)
    r = estimate_mi(x, y, estimator="gaussian", num_runs=4)
    assert r.estimator == "gaussian" and r.curves.empty and r.ksg is None
    assert r.ci[0] < r.estimate < r.ci[1] and abs(r.estimate - truth) < 0.05
    with pytest.raises(ValueError, match="takes no options"):
        estimate_mi(x, y, estimator="gaussian", alpha=0.5)


def test_plot_draws_every_run_and_split_and_the_estimate():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    x, y, _ = gaussian_data()
    r = estimate_mi(x, y, **SMALL)
    ax = r.plot()
    labels = [line.get_label() for line in ax.get_lines()]
    assert sum(1 for line in ax.get_lines() if len(line.get_xdata()) > 2) == 3 * 2
    assert any(label.startswith("estimate") for label in labels)
    matplotlib.pyplot.close("all")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_and_device_give_the_cpu_numbers_closely():
    x, y, _ = gaussian_data(n=800)
    cpu = estimate_mi(x, y, device="cpu", **SMALL)
    gpu = estimate_mi(torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda(), device="cuda",
                      **SMALL)  # fmt: skip
    assert gpu.settings["device"].startswith("cuda")
    assert abs(gpu.estimate - cpu.estimate) < 0.1


def test_a_non_finite_run_gives_no_interval_and_a_diagnostic_never_a_silent_inf():
    from mi_utils.estimate import core

    runs = np.array([0.4, -np.inf, 0.5])
    ci, se = core._interval(runs, 0.5, 0.95)
    assert ci is None and math.isnan(se)
    out = {
        "test": runs, "steps": np.array([50, 50, 50]), "last_step": 100,
        "stopped_early": True, "eval_ceiling": None, "block": 200,
        "at_best": {"train": np.array([0.1, -np.inf, 0.0]), "validation": -np.full(3, np.inf)},
    }  # fmt: skip
    settings = {"units": "nats", "max_steps": 100, "estimator": "nwj"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from inf - inf reaches the user
        diags = core._diagnostics(float(runs.mean()), ci, se, out, None, settings, 1.0)
    found = {d.code: d.message for d in diags}
    assert "non_finite" in found and "[1]" in found["non_finite"] and "no_interval" in found
    assert "gaussianize" in found["non_finite"]
    result = MIEstimate(
        estimate=float(runs.mean()), ci=None, ci_level=0.95, std_error=se, runs=runs,
        units="nats", estimator="nwj", curves=pd.DataFrame(),
    )  # fmt: skip
    assert json.loads(json.dumps(result.to_dict()))["runs"][1] == "-inf"
