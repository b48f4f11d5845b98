"""The vectorized trainer: equivalence with solo training, independence, results, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from mi_utils import critics
from mi_utils.train import (
    ESTIMATORS,
    PROGRESS_ENV_VAR,
    RESULT_COLUMNS,
    Run,
    Schedule,
    TrainConfig,
    fixed_schedule,
    staircase_schedule,
    train,
)

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
TINY = TrainConfig(dim=3, batch_size=8, hidden_dim=16, embed_dim=4, lr=1e-2, chunk_steps=3)

MIXED = [
    Run("infonce", "separable", "gaussian", seed=1),
    Run("interpolated", "concat", "cubic", alpha=0.5, seed=2),
    Run("mine", "separable", "cubic", seed=3),
    Run("tuba", "concat", "gaussian", seed=4),
    Run("js", "separable", "gaussian", seed=5),
    Run("interpolated", "separable", "gaussian", alpha=0.0, seed=6),
    Run("smile", "concat", "gaussian", seed=7),
    Run("nwj", "concat", "cubic", seed=8),
    Run("dv", "separable", "gaussian", seed=9),
]


def estimates(df: pd.DataFrame, run_id: int) -> np.ndarray:
    return df[df.run_id == run_id].sort_values("step").estimate.to_numpy()


# ----------------------------------------------------------------------------- schedules
def test_staircase_levels_and_rhos_of_the_paper():
    sched = staircase_schedule("full")
    assert sched.levels == (2.0, 4.0, 6.0, 8.0, 10.0)
    assert sched.steps_per_level == 4000 and sched.num_steps == 20_000
    from mi_utils.data import mi_to_rho

    rhos = [mi_to_rho(level, TrainConfig.for_profile("full").dim) for level in sched.levels]
    assert rhos == pytest.approx([0.4258, 0.5742, 0.6717, 0.7421, 0.7951], abs=5e-5)
    mi = sched.true_mi()
    assert mi.shape == (20_000,) and mi[0] == 2.0 and mi[3999] == 2.0 and mi[4000] == 4.0
    assert mi[-1] == 10.0


def test_full_profile_is_the_papers_settings():
    cfg = TrainConfig.for_profile("full")
    assert (cfg.dim, cfg.batch_size, cfg.lr) == (20, 64, 5e-4)
    assert (cfg.hidden_dim, cfg.embed_dim, cfg.num_layers) == (256, 32, 2)
    assert cfg.concat_hidden_dim in (None, 256)
    quick = TrainConfig.for_profile("quick")
    assert (quick.dim, quick.batch_size) == (20, 64)  # same task and log K ceiling
    assert staircase_schedule("quick").levels == (2.0, 4.0, 6.0, 8.0, 10.0)


def test_fixed_schedule():
    sched = fixed_schedule(3.0, 7)
    assert sched.num_steps == 7 and (sched.true_mi() == 3.0).all()


# ----------------------------------------------------------------------------- equivalence
def test_batched_runs_follow_their_solo_trajectories():
    sched = Schedule((1.0, 2.0), 4)  # crosses a level and two data chunks
    together = train(MIXED, sched, TINY, progress=False)
    for run_id, run in enumerate(MIXED):
        alone = train([run], sched, TINY, progress=False)
        np.testing.assert_allclose(
            estimates(together, run_id), estimates(alone, 0), rtol=1e-4, atol=1e-4
        )


def test_batched_equals_solo_in_float64_to_tight_tolerance():
    sched = Schedule((1.5,), 6)
    runs = MIXED[:4]
    together = train(runs, sched, TINY, dtype=torch.float64, progress=False)
    for run_id, run in enumerate(runs):
        alone = train([run], sched, TINY, dtype=torch.float64, progress=False)
        np.testing.assert_allclose(estimates(together, run_id), estimates(alone, 0), rtol=1e-10)


def test_same_seed_same_result_bit_for_bit_on_cpu():
    sched = Schedule((2.0,), 5)
    a = train(MIXED, sched, TINY, progress=False)
    b = train(MIXED, sched, TINY, progress=False)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_runs_are_independent():
    sched = Schedule((2.0,), 5)
    runs = [Run("nwj", seed=1), Run("nwj", seed=2), Run("nwj", seed=1)]
    df = train(runs, sched, TINY, progress=False)
    assert not np.allclose(estimates(df, 0), estimates(df, 1))
    np.testing.assert_array_equal(estimates(df, 0), estimates(df, 2))


def test_one_critic_forward_per_group_per_step(monkeypatch):
    calls = {"separable": 0, "concat": 0}
    for kind, cls in (("separable", critics.SeparableCritic), ("concat", critics.ConcatCritic)):
        original = cls.forward

        def counted(self, x, y, _original=original, _kind=kind):
            calls[_kind] += 1
            return _original(self, x, y)

        monkeypatch.setattr(cls, "forward", counted)
    train(MIXED, Schedule((2.0,), 5), TINY, progress=False)
    assert calls == {"separable": 5, "concat": 5}  # not 5 x (number of runs)


def test_learning_happens():
    cfg = TrainConfig(dim=5, batch_size=64, hidden_dim=64, embed_dim=16, lr=2e-3)
    df = train([Run("infonce", seed=0)], fixed_schedule(2.0, 300), cfg, progress=False)
    first = df.estimate.iloc[:20].mean()
    last = df.estimate.iloc[-50:].mean()
    assert last > 1.2 and last > first + 0.8


# ----------------------------------------------------------------------------- results
def test_results_frame_columns_dtypes_and_rows():
    cfg = TINY.replace(record_every=2)
    df = train(MIXED[:3], Schedule((1.0, 2.0), 3), cfg, progress=False)
    assert tuple(df.columns) == RESULT_COLUMNS
    assert len(df) == 3 * 3  # steps 0, 2, 4 of 6, for 3 runs
    assert df.run_id.dtype == np.int64 and df.step.dtype == np.int64 and df.seed.dtype == np.int64
    for col in ("alpha", "true_mi", "estimate"):
        assert df[col].dtype == np.float64, col
    for col in ("estimator", "critic", "task"):
        assert df[col].map(type).eq(str).all(), col
    assert sorted(df.step.unique()) == [0, 2, 4]
    assert df[df.step == 4].true_mi.eq(2.0).all() and df[df.step == 2].true_mi.eq(1.0).all()
    assert df[df.estimator == "interpolated"].alpha.eq(0.5).all()
    assert df[df.estimator != "interpolated"].alpha.isna().all()
    assert np.isfinite(df.estimate).all()


# ----------------------------------------------------------------------------- progress
def test_progress_bar_is_one_bar_and_can_be_turned_off(capsys, monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV_VAR, raising=False)
    train(MIXED[:2], Schedule((1.0,), 3), TINY, progress=True)
    err = capsys.readouterr().err
    assert "2 runs" in err and "3/3" in err
    assert err.count("100%") == 1
    train(MIXED[:2], Schedule((1.0,), 3), TINY, progress=False)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv(PROGRESS_ENV_VAR, "0")
    train(MIXED[:2], Schedule((1.0,), 3), TINY)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv(PROGRESS_ENV_VAR, "maybe")
    with pytest.raises(ValueError, match=PROGRESS_ENV_VAR):
        train(MIXED[:2], Schedule((1.0,), 3), TINY)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: Run("nce"), ValueError, "estimator must be one of"),
        (lambda: Run("nwj", critic="bilinear"), ValueError, "critic must be one of"),
        (lambda: Run("nwj", task="swiss"), ValueError, "task must be one of"),
        (lambda: Run("interpolated"), ValueError, "alpha in \\[0, 1\\] is required"),
        (lambda: Run("interpolated", alpha=1.5), ValueError, "alpha must lie in"),
        (lambda: Run("interpolated", alpha=-0.1), ValueError, "alpha must lie in"),
        (lambda: Run("interpolated", alpha="0.5"), TypeError, "alpha"),
        (lambda: Run("nwj", alpha=0.5), ValueError, "alpha is only used"),
        (lambda: Run("nwj", seed=-1), ValueError, "seed"),
        (lambda: Schedule((2.0,), 0), ValueError, "steps_per_level"),
        (lambda: Schedule((2.0,), -5), ValueError, "steps_per_level"),
        (lambda: Schedule((), 10), ValueError, "levels"),
        (lambda: Schedule((-1.0,), 10), ValueError, "levels"),
        (lambda: fixed_schedule(2.0, 0), ValueError, "steps_per_level"),
        (lambda: TrainConfig.for_profile("fast"), ValueError, "profile must be one of"),
        (lambda: staircase_schedule("medium"), ValueError, "profile must be one of"),
        (lambda: TrainConfig(lr=0.0), ValueError, "lr"),
        (lambda: TrainConfig(batch_size=1), ValueError, "batch_size"),
        (lambda: TrainConfig(record_every=0), ValueError, "record_every"),
        (lambda: TrainConfig(ema_rate=1.5), ValueError, "ema_rate"),
        (lambda: train([], Schedule((1.0,), 1), TINY), TypeError, "runs"),
        (lambda: train(["nwj"], Schedule((1.0,), 1), TINY), TypeError, "runs"),
        (lambda: train([Run("nwj")], (1.0,), TINY), TypeError, "schedule"),
        (lambda: train([Run("nwj")], Schedule((1.0,), 1), {}), TypeError, "config"),
        (
            lambda: train([Run("nwj")], Schedule((1.0,), 1), TINY, dtype=torch.int32),
            TypeError,
            "dtype",
        ),
        (
            lambda: train([Run("nwj")], Schedule((1.0,), 1), TINY, progress="yes"),
            TypeError,
            "progress",
        ),
    ],
)
def test_bad_configuration_raises(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_every_estimator_trains_without_nan():
    runs = [Run(e, alpha=0.3 if e == "interpolated" else None) for e in ESTIMATORS]
    df = train(runs, Schedule((4.0,), 5), TINY, progress=False)
    assert np.isfinite(df.estimate).all()
    assert set(df.estimator) == set(ESTIMATORS)


# ----------------------------------------------------------------------------- GPU
@CUDA
def test_cuda_training_has_no_per_step_host_sync():
    def count_syncs(steps: int) -> int:
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                train(MIXED, Schedule((2.0,), steps), TINY, device="cuda", progress=False)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        return sum("synchroniz" in str(w.message) for w in caught)

    assert count_syncs(4) == count_syncs(16)  # syncs do not grow with the number of steps
    df = train(MIXED, Schedule((2.0,), 4), TINY, device="cuda", progress=False)
    assert np.isfinite(df.estimate).all()


def test_progress_in_jupyter_is_a_widget_not_an_iprogress_warning():
    """What a reader sees in Jupyter: one widget bar, nothing on stderr."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "from mi_utils.train import Run, TrainConfig, fixed_schedule, train\n"
            "cfg = TrainConfig(dim=2, batch_size=4, hidden_dim=4, embed_dim=2)\n"
            "df = train([Run('nwj'), Run('dv')], fixed_schedule(1.0, 3), cfg, progress=True)"
        )
    )
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    stderr = [o for o in outputs if o.get("name") == "stderr"]
    assert not stderr, stderr
    widgets = [
        o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert len(widgets) == 1, outputs
    assert "IProgress" not in str(outputs)


def test_estimate_dispatches_every_estimator_and_rejects_unknown_names():
    from mi_utils import bounds
    from mi_utils.train import estimate

    scores = torch.randn(3, 6, 6, generator=torch.Generator().manual_seed(0))
    log_a = torch.zeros(3, 6)
    value, state = estimate("nwj", scores, TINY)
    torch.testing.assert_close(value, bounds.nwj_lower_bound(scores))
    assert state is None
    value, _ = estimate("interpolated", scores, TINY, log_a, 0.5)
    torch.testing.assert_close(value, bounds.interpolated_lower_bound(scores, log_a, 0.5))
    value, state = estimate("mine", scores, TINY)
    torch.testing.assert_close(value, bounds.dv_lower_bound(scores))
    assert state.shape == (3,)
    with pytest.raises(ValueError, match="estimator must be one of"):
        estimate("ba", scores, TINY)
