"""The fit loop and the vectorized trainer: equivalence with solo training, independence,
chunking, results, trained critics and states, progress bars and errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from mi_utils import book, bounds, estimators
from mi_utils.nn import ConcatCritic, SeparableCritic
from mi_utils.tasks import CorrelatedGaussian, Schedule, Task, cubic
from mi_utils.train import (
    PROGRESS_ENV_VAR,
    RESULT_COLUMNS,
    Run,
    TrainConfig,
    TrainResult,
    fit,
    result_options,
    train,
)
from tests.conftest import TINY, gen, requires_cuda

DIM = 3
GAUSS = CorrelatedGaussian.from_mi(1.0, DIM)
CUBIC = cubic(CorrelatedGaussian.from_mi(1.0, DIM))


def gaussian_stairs(steps: int, levels=(1.0, 2.0)) -> Schedule:
    return Schedule.staircase(lambda mi: CorrelatedGaussian.from_mi(mi, DIM), steps, levels)


def cubic_stairs(steps: int, levels=(1.0, 2.0)) -> Schedule:
    return Schedule.staircase(lambda mi: cubic(CorrelatedGaussian.from_mi(mi, DIM)), steps, levels)


def mixed(gaussian, cubic_task) -> list[Run]:
    """Every trainable estimator, both critics, both tasks, interleaved (nine runs)."""
    return [
        Run("infonce", "separable", gaussian, seed=1),
        Run("interpolated", "concat", cubic_task, seed=2, alpha=0.5),
        Run("mine", "separable", cubic_task, seed=3),
        Run("tuba", "concat", gaussian, seed=4),
        Run("js", "separable", gaussian, seed=5),
        Run("interpolated", "separable", gaussian, seed=6, alpha=0.0),
        Run("smile", "concat", gaussian, seed=7),
        Run("nwj", "concat", cubic_task, seed=8),
        Run("dv", "separable", gaussian, seed=9),
    ]


MIXED = mixed(GAUSS, CUBIC)


def estimates(frame: pd.DataFrame, run_id: int) -> np.ndarray:
    return frame[frame.run_id == run_id].sort_values("step").estimate.to_numpy()


def recording_batches(monkeypatch) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
    """Record every ``(start, x, y)`` that the trainer draws from a Schedule."""
    calls = []
    original = Schedule.sample_steps

    def recorded(self, start, n, k, **kw):
        x, y = original(self, start, n, k, **kw)
        calls.append((start, x, y))
        return x, y

    monkeypatch.setattr(Schedule, "sample_steps", recorded)
    return calls


# ----------------------------------------------------------------------------- fit
def test_fit_maximises_a_concave_objective_for_independent_runs():
    targets = torch.tensor([3.0, -1.0, 0.5])
    p = torch.nn.Parameter(torch.zeros(3))
    values = fit(lambda step: -((p - targets) ** 2), [p], 200, lr=0.1, progress=False)
    assert values.shape == (200, 3)
    torch.testing.assert_close(p.detach(), targets, atol=1e-3, rtol=0)
    assert (values[-1] > -1e-5).all() and (values[0] < -0.2).all()


def test_fit_records_values_before_each_update_every_record_every_steps():
    # Objective p with p = 0 at the start: Adam's step on a constant gradient is lr/(1 + eps),
    # so p = t * lr before step t, and the recorded value of step t is that, not the next one.
    p = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
    values = fit(lambda step: p * 1.0, [p], 7, lr=0.1, record_every=3, progress=False)
    assert values.shape == (3,)  # steps 0, 3, 6
    np.testing.assert_allclose(values.numpy(), [0.0, 0.3, 0.6], rtol=1e-6)
    assert p.item() == pytest.approx(0.7, rel=1e-6)
    assert not values.requires_grad


def test_fit_applies_lr_lambda_at_every_step():
    p = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
    factors = [1.0, 0.5, 0.0, 2.0, 0.25]
    seen = []

    def objective(step):
        seen.append(step)
        return p * 1.0

    values = fit(objective, [p], 5, lr=0.1, lr_lambda=lambda t: factors[t], progress=False)
    assert seen == [0, 1, 2, 3, 4]
    expected_before = 0.1 * np.concatenate([[0.0], np.cumsum(factors)[:-1]])
    np.testing.assert_allclose(values.numpy(), expected_before, rtol=1e-6, atol=1e-12)
    assert p.item() == pytest.approx(0.1 * sum(factors), rel=1e-6)


def test_fit_on_step_sees_every_updated_step_and_can_stop_training():
    p = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
    seen = []

    def on_step(step):
        seen.append((step, p.item()))  # called after the update of `step`
        return step == 4

    values = fit(lambda step: p * 1.0, [p], 10, lr=0.1, record_every=2, progress=False,
                 on_step=on_step)  # fmt: skip
    assert [s for s, _ in seen] == [0, 1, 2, 3, 4]
    np.testing.assert_allclose([v for _, v in seen], [0.1, 0.2, 0.3, 0.4, 0.5], rtol=1e-6)
    assert values.shape == (3,)  # steps 0, 2, 4 were recorded before stopping
    assert p.item() == pytest.approx(0.5, rel=1e-6)


def test_fit_leaves_parameters_it_is_not_given_alone():
    a, b = torch.nn.Parameter(torch.zeros(())), torch.nn.Parameter(torch.zeros(()))
    fit(lambda step: (a + b).reshape(1), [a], 3, lr=0.1, progress=False)
    assert a.item() > 0.29 and b.item() == 0.0


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(objective="not callable"), TypeError, "objective"),
        (dict(parameters=[]), ValueError, "parameters"),
        (dict(parameters=[1.0]), ValueError, "parameters"),
        (dict(num_steps=0), ValueError, "num_steps"),
        (dict(num_steps=2.5), TypeError, "num_steps"),
        (dict(lr=0.0), ValueError, "lr"),
        (dict(lr=-1e-3), ValueError, "lr"),
        (dict(lr_lambda=0.5), TypeError, "lr_lambda"),
        (dict(record_every=0), ValueError, "record_every"),
        (dict(progress="yes"), TypeError, "progress"),
        (dict(on_step=3), TypeError, "on_step"),
    ],
)
def test_fit_bad_input_names_the_argument(kwargs, exc, match):
    p = torch.nn.Parameter(torch.zeros(()))
    args = dict(objective=lambda step: p * 1.0, parameters=[p], num_steps=2, lr=0.1,
                progress=False)  # fmt: skip
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        fit(args.pop("objective"), args.pop("parameters"), args.pop("num_steps"), **args)


# ----------------------------------------------------------------------------- equivalence
def test_batched_runs_follow_their_solo_trajectories():
    runs = mixed(gaussian_stairs(4), cubic_stairs(4))  # crosses a level and two data chunks
    together = train(runs, None, TINY, progress=False, device="cpu").frame
    for run_id, run in enumerate(runs):
        alone = train([run], None, TINY, progress=False, device="cpu").frame
        np.testing.assert_allclose(
            estimates(together, run_id), estimates(alone, 0), rtol=1e-4, atol=1e-4
        )


def test_batched_equals_solo_in_float64_to_tight_tolerance():
    together = train(MIXED, 6, TINY, dtype=torch.float64, progress=False, device="cpu").frame
    for run_id, run in enumerate(MIXED):
        alone = train([run], 6, TINY, dtype=torch.float64, progress=False, device="cpu").frame
        np.testing.assert_allclose(estimates(together, run_id), estimates(alone, 0), rtol=1e-10)


def test_same_seed_same_result_bit_for_bit_on_cpu():
    a = train(MIXED, 5, TINY, progress=False, device="cpu")
    b = train(MIXED, 5, TINY, progress=False, device="cpu")
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
    for ca, cb in zip(a.critics, b.critics, strict=True):
        for pa, pb in zip(ca.parameters(), cb.parameters(), strict=True):
            assert torch.equal(pa, pb)


def test_runs_are_independent():
    runs = [Run("nwj", "separable", GAUSS, seed=s) for s in (1, 2, 1)]
    frame = train(runs, 5, TINY, progress=False, device="cpu").frame
    assert not np.allclose(estimates(frame, 0), estimates(frame, 1))
    np.testing.assert_array_equal(estimates(frame, 0), estimates(frame, 2))


def test_a_run_does_not_depend_on_its_position_or_neighbours():
    a = train(MIXED, 4, TINY, dtype=torch.float64, progress=False, device="cpu").frame
    b = train(MIXED[::-1], 4, TINY, dtype=torch.float64, progress=False, device="cpu").frame
    n = len(MIXED)
    for run_id in range(n):
        np.testing.assert_allclose(
            estimates(a, run_id), estimates(b, n - 1 - run_id), rtol=1e-10, atol=0
        )


@pytest.mark.parametrize("chunk_steps", [2, 3, 7, 200])
def test_chunk_steps_does_not_change_the_trajectories(chunk_steps):
    # A schedule of 4 + 3 steps: with chunk_steps = 3 the task changes inside a chunk (step 4).
    # Chunking is invisible when a task draws its batches step after step (batch_shape
    # outermost) and, on a CPU, a step's draw holds a multiple of 16 normals (torch fills
    # normals in blocks of 16): here 2 K d = 2 x 8 x 3 = 48, and the paper's 2 x 64 x 20.
    assert 2 * TINY.batch_size * DIM % 16 == 0
    schedule = Schedule([(GAUSS, 4), (cubic(CorrelatedGaussian.from_mi(2.0, DIM)), 3)])
    runs = [
        Run("nwj", "separable", schedule, seed=1),
        Run("interpolated", "concat", schedule, seed=2, alpha=0.5),
        Run("mine", "separable", schedule, seed=3),
    ]
    cfg = TINY.replace(chunk_steps=1)
    ref = train(runs, None, cfg, dtype=torch.float64, progress=False, device="cpu").frame
    got = train(runs, None, cfg.replace(chunk_steps=chunk_steps), dtype=torch.float64,
                progress=False, device="cpu").frame  # fmt: skip
    np.testing.assert_allclose(got.estimate, ref.estimate, rtol=1e-12, atol=0)


class Marked(Task):
    """The correlated Gaussian with a constant last coordinate of x, ``mark``, which leaves the
    MI unchanged and tells in any batch which task it was drawn from."""

    def __init__(self, mark: float, mi: float):
        self.base, self.mark = CorrelatedGaussian.from_mi(mi, DIM), mark
        self.x_dim, self.y_dim = DIM + 1, DIM

    @property
    def mi(self) -> float:
        return self.base.mi

    def sample(self, num_samples, *, batch_shape=(), generator=None, device=None, dtype=None):
        x, y = self.base.sample(num_samples, batch_shape=batch_shape, generator=generator,
                                device=device, dtype=dtype)  # fmt: skip
        return torch.cat([x, torch.full_like(x[..., :1], self.mark)], -1), y


def test_a_schedule_changes_task_inside_a_chunk(monkeypatch):
    schedule = Schedule([(Marked(1.0, 1.0), 4), (Marked(2.0, 2.0), 3)], name="two-tasks")
    calls = recording_batches(monkeypatch)
    marks = []
    original = SeparableCritic.forward

    def spy(self, x, y):
        marks.append(x[..., -1].unique().tolist())
        return original(self, x, y)

    monkeypatch.setattr(SeparableCritic, "forward", spy)
    frame = train(
        [Run("nwj", "separable", schedule)], None, TINY, progress=False, device="cpu"
    ).frame
    assert [(start, x.shape[0]) for start, x, _ in calls] == [(0, 3), (3, 3), (6, 1)]
    assert [x[:, 0, -1].tolist() for _, x, _ in calls] == [[1, 1, 1], [1, 2, 2], [2]]
    assert marks == [[1.0]] * 4 + [[2.0]] * 3  # the batch of step t is from t's task
    assert frame.step.tolist() == list(range(7))
    assert frame.true_mi.tolist() == pytest.approx([1.0] * 4 + [2.0] * 3, rel=1e-12)
    assert set(frame.task) == {"two-tasks"}
    assert np.isfinite(frame.estimate).all()


def test_one_critic_forward_per_group_per_step(monkeypatch):
    calls = {"separable": 0, "concat": 0}
    for kind, cls in (("separable", SeparableCritic), ("concat", ConcatCritic)):
        original = cls.forward

        def counted(self, x, y, _original=original, _kind=kind):
            calls[_kind] += 1
            return _original(self, x, y)

        monkeypatch.setattr(cls, "forward", counted)
    train(MIXED, 5, TINY, progress=False, device="cpu")
    assert calls == {"separable": 5, "concat": 5}  # not 5 x (number of runs)


def test_runs_of_other_dimensions_train_together():
    wide = CorrelatedGaussian.from_mi(1.0, 5)
    runs = [Run("nwj", "separable", GAUSS, seed=1), Run("nwj", "separable", wide, seed=1)]
    result = train(runs, 3, TINY, dtype=torch.float64, progress=False, device="cpu")
    alone = train(runs[1:], 3, TINY, dtype=torch.float64, progress=False, device="cpu")
    np.testing.assert_allclose(estimates(result.frame, 1), estimates(alone.frame, 0), rtol=1e-10)
    assert result.critics[0].config["x_dim"] == 3 and result.critics[1].config["x_dim"] == 5


def test_learning_happens():
    cfg = TrainConfig(batch_size=64, hidden_dim=64, embed_dim=16, lr=2e-3)
    task = CorrelatedGaussian.from_mi(2.0, 5)
    frame = train([Run("infonce", "separable", task)], 300, cfg, progress=False, device="cpu").frame
    first, last = frame.estimate.iloc[:20].mean(), frame.estimate.iloc[-50:].mean()
    assert last > 1.2 and last > first + 0.8


def test_cubic_task_is_learned():
    cfg = TrainConfig(batch_size=64, hidden_dim=64, embed_dim=16, lr=2e-3)
    task = cubic(CorrelatedGaussian.from_mi(2.0, 5))
    frame = train([Run("infonce", "separable", task)], 300, cfg, progress=False, device="cpu").frame
    first, last = frame.estimate.iloc[:20].mean(), frame.estimate.iloc[-50:].mean()
    assert last > 1.0 and last > first + 0.6


def test_every_estimator_trains_on_the_cubic_staircase_without_nan():
    schedule = book.staircase_schedule(task="cubic", steps=2)  # d = 20, 2 to 10 nats
    runs = [Run(name, "separable", schedule, seed=i)
            for i, name in enumerate(estimators.names(trainable=True))]  # fmt: skip
    frame = train(runs, None, TINY, progress=False, device="cpu").frame
    assert set(frame.estimator) == set(estimators.names(trainable=True))
    assert set(frame.task) == {"cubic"}
    assert frame[frame.run_id == 0].true_mi.tolist() == [2.0, 2.0, 4.0, 4.0, 6.0, 6.0, 8.0,
                                                         8.0, 10.0, 10.0]  # fmt: skip
    assert np.isfinite(frame.estimate).all()


# ----------------------------------------------------------------------------- results
def test_results_frame_columns_dtypes_and_rows():
    cfg = TINY.replace(record_every=2)
    runs = mixed(gaussian_stairs(3), cubic_stairs(3))
    assert {r.task.name for r in runs} == {"gaussian", "cubic"}
    result = train(runs, None, cfg, progress=False, device="cpu")
    assert isinstance(result, TrainResult) and result.runs == tuple(runs)
    frame = result.frame
    options = ["alpha", "clip", "ema_rate"]  # sorted, those of the estimators present
    assert list(frame.columns) == [*RESULT_COLUMNS[:3], *options, *RESULT_COLUMNS[3:]]
    assert result_options(frame) == options
    assert len(frame) == len(runs) * 3  # steps 0, 2, 4 of 6
    for col in ("run_id", "step", "seed"):
        assert frame[col].dtype == np.int64, col
    for col in (*options, "true_mi", "estimate"):
        assert frame[col].dtype == np.float64, col
    for col in ("estimator", "label", "critic", "task"):
        assert frame[col].map(type).eq(str).all(), col
    assert sorted(frame.step.unique()) == [0, 2, 4]
    assert frame[frame.step == 4].true_mi.eq(2.0).all()
    assert frame[frame.step == 2].true_mi.eq(1.0).all()
    assert frame.run_id.tolist() == sorted(frame.run_id.tolist())
    by_run = frame.drop_duplicates("run_id").set_index("run_id")
    for run_id, run in enumerate(runs):
        row = by_run.loc[run_id]
        assert (row.estimator, row.critic, row.seed) == (run.estimator, run.critic, run.seed)
        assert row.task == run.task.name
        assert row.label == run.spec.display(**run.options)
        for opt in options:
            if opt in run.spec.options:
                assert row[opt] == run.resolved_options[opt], (run_id, opt)
            else:
                assert math.isnan(row[opt]), (run_id, opt)
    assert by_run.loc[1].alpha == 0.5 and by_run.loc[5].alpha == 0.0
    assert by_run.loc[2, "ema_rate"] == 0.01 and by_run.loc[6, "clip"] == 5.0  # the defaults
    assert by_run.loc[1].label == r"$I_{\alpha}$, $\alpha$ = 0.5"
    assert by_run.loc[0].label == "InfoNCE" and by_run.loc[7].label == "NWJ"
    assert np.isfinite(frame.estimate).all()


def test_results_frame_has_only_the_options_of_its_estimators():
    frame = train([Run("nwj", "separable", GAUSS)], 2, TINY, progress=False, device="cpu").frame
    assert tuple(frame.columns) == RESULT_COLUMNS and result_options(frame) == []
    frame = train([Run("nwj", "separable", GAUSS), Run("interpolated", "separable", GAUSS,
                   alpha=0.25)], 2, TINY, progress=False, device="cpu").frame  # fmt: skip
    assert result_options(frame) == ["alpha"]
    assert frame.alpha.isna().tolist() == [True, True, False, False]


def test_task_names_come_from_the_tasks():
    named = Schedule.fixed(GAUSS, 2)
    runs = [Run("nwj", "separable", t) for t in (GAUSS, CUBIC, cubic(GAUSS, mix=True,
            generator=gen(0)))]  # fmt: skip
    frame = train(runs, 2, TINY, progress=False, device="cpu").frame
    assert frame.drop_duplicates("run_id").task.tolist() == ["gaussian", "cubic", "mixed-cubic"]
    renamed = Schedule([(GAUSS, 2)], name="mine-own")
    frame = train([Run("dv", "concat", renamed), Run("dv", "concat", named)], None, TINY,
                  progress=False, device="cpu").frame  # fmt: skip
    assert frame.drop_duplicates("run_id").task.tolist() == ["mine-own", "gaussian"]


def test_record_every_keeps_every_nth_step_of_the_same_training():
    runs = MIXED[:4]
    every = train(runs, 7, TINY, progress=False, device="cpu").frame
    sparse = train(runs, 7, TINY.replace(record_every=3), progress=False, device="cpu").frame
    assert sorted(sparse.step.unique()) == [0, 3, 6]
    expected = every[every.step.isin([0, 3, 6])].reset_index(drop=True)
    pd.testing.assert_frame_equal(sparse, expected, check_exact=True)


# ----------------------------------------------------------------------------- trained modules
def test_trained_critic_and_baseline_reproduce_the_recorded_estimate(monkeypatch):
    # The estimate recorded at step n is the bound on batch n before update n, i.e. with the
    # critic after n updates: the critic returned by an n-step training, on that batch.
    cfg = TINY.replace(chunk_steps=1)
    n = 4
    for run in (Run("interpolated", "concat", Schedule.fixed(GAUSS, n + 1), seed=3, alpha=0.3),
                Run("nwj", "separable", Schedule.fixed(CUBIC, n + 1), seed=4),
                Run("tuba", "separable", Schedule.fixed(GAUSS, n + 1), seed=5)):  # fmt: skip
        calls = recording_batches(monkeypatch)
        longer = train([run], None, cfg, dtype=torch.float64, progress=False, device="cpu")
        _, x, y = calls[n]
        shorter = Run(run.estimator, run.critic, Schedule.fixed(run.task.segments[0][0], n),
                      seed=run.seed, **run.options)  # fmt: skip
        result = train([shorter], None, cfg, dtype=torch.float64, progress=False, device="cpu")
        critic, baseline = result.critics[0], result.baselines[0]
        assert (baseline is not None) == run.spec.needs_baseline
        with torch.no_grad():
            log_a = baseline(y[0]) if baseline is not None else None
            value, _ = run.spec(critic(x[0], y[0]), log_baseline=log_a, **run.options)
        assert value.item() == pytest.approx(estimates(longer.frame, 0)[n], rel=1e-10)
        monkeypatch.undo()


def test_unbatched_critics_are_the_runs_own_whatever_the_batch():
    together = train(MIXED, 4, TINY, dtype=torch.float64, progress=False, device="cpu")
    x, y = GAUSS.sample(6, generator=gen(7), dtype=torch.float64)
    for run_id, run in enumerate(MIXED):
        alone = train([run], 4, TINY, dtype=torch.float64, progress=False, device="cpu")
        critic = together.critics[run_id]
        assert isinstance(critic, SeparableCritic if run.critic == "separable" else ConcatCritic)
        assert not hasattr(critic, "unbatched")  # a single module, not the batched one
        with torch.no_grad():
            torch.testing.assert_close(critic(x, y), alone.critics[0](x, y), rtol=1e-10, atol=0)
            if run.spec.needs_baseline:
                torch.testing.assert_close(
                    together.baselines[run_id](y), alone.baselines[0](y), rtol=1e-10, atol=0
                )
            else:
                assert together.baselines[run_id] is None
    assert len(together.critics) == len(together.baselines) == len(MIXED)


def test_states_are_those_of_stateful_runs():
    result = train(MIXED, 3, TINY, progress=False, device="cpu")
    for run, state in zip(MIXED, result.states, strict=True):
        if run.spec.stateful:
            assert isinstance(state, torch.Tensor) and state.shape == ()
            assert torch.isfinite(state) and not state.requires_grad
        else:
            assert state is None


@pytest.mark.parametrize("ema_rate", [1.0, 0.3])
def test_mine_state_is_the_moving_average_of_the_log_partition(monkeypatch, ema_rate):
    # The state after n steps is log(EMA) with EMA' = (1 - r) EMA + r Z(batch n - 1, critic
    # after n - 1 updates); with r = 1 it is the log partition of the last batch.
    cfg = TINY.replace(chunk_steps=1)
    n = 4

    def run(steps):
        return Run("mine", "separable", Schedule.fixed(GAUSS, steps), seed=2, ema_rate=ema_rate)

    calls = recording_batches(monkeypatch)
    after = train([run(n)], None, cfg, dtype=torch.float64, progress=False, device="cpu")
    _, x, y = calls[n - 1]
    monkeypatch.undo()
    before = train([run(n - 1)], None, cfg, dtype=torch.float64, progress=False, device="cpu")
    with torch.no_grad():
        log_z = bounds.logmeanexp_nodiag(before.critics[0](x[0], y[0]))
    if ema_rate == 1.0:
        expected = log_z
    else:
        expected = torch.logaddexp(before.states[0] + math.log1p(-ema_rate),
                                   log_z + math.log(ema_rate))  # fmt: skip
        assert abs(expected.item() - log_z.item()) > 1e-6  # the average differs from the last Z
    assert after.states[0].item() == pytest.approx(expected.item(), rel=1e-10)


# ----------------------------------------------------------------------------- run lengths
def test_num_steps_is_optional_when_every_task_is_a_schedule():
    runs = [Run("nwj", "separable", gaussian_stairs(2)), Run("dv", "concat", cubic_stairs(2))]
    a = train(runs, None, TINY, progress=False, device="cpu").frame
    b = train(runs, 4, TINY, progress=False, device="cpu").frame
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    mix = [Run("nwj", "separable", gaussian_stairs(2)), Run("nwj", "separable", GAUSS)]
    frame = train(mix, 4, TINY, progress=False, device="cpu").frame  # a Task run takes num_steps
    assert frame.groupby("run_id").step.max().tolist() == [3, 3]


@pytest.mark.parametrize(
    "runs, num_steps, match",
    [
        ([Run("nwj", "separable", GAUSS)], None, "num_steps is required"),
        ([Run("nwj", "separable", gaussian_stairs(2)), Run("nwj", "separable", GAUSS)], None,
         "num_steps is required"),
        ([Run("nwj", "separable", gaussian_stairs(2))], 5, "num_steps=5 differs"),
        ([Run("nwj", "separable", gaussian_stairs(2)), Run("nwj", "separable", GAUSS)], 3,
         "num_steps=3 differs"),
        ([Run("nwj", "separable", gaussian_stairs(2)), Run("nwj", "separable", gaussian_stairs(3))],
         None, "same length"),
    ],
)  # fmt: skip
def test_runs_of_different_lengths_are_refused(runs, num_steps, match):
    with pytest.raises(ValueError, match=match):
        train(runs, num_steps, TINY, progress=False, device="cpu")


# ----------------------------------------------------------------------------- run spec
def test_run_exposes_its_spec_and_options():
    run = Run("interpolated", "concat", GAUSS, seed=3, alpha=0.25)
    assert run.spec is estimators.get("interpolated")
    assert dict(run.options) == {"alpha": 0.25}
    assert run.resolved_options == {"alpha": 0.25}
    assert Run("mine", "separable", GAUSS).resolved_options == {"ema_rate": 0.01}
    assert Run("MINE", "separable", GAUSS).estimator == "mine"
    assert run == Run("interpolated", "concat", GAUSS, seed=3, alpha=0.25)
    assert run != Run("interpolated", "concat", GAUSS, seed=3, alpha=0.5)
    assert hash(run) == hash(Run("interpolated", "concat", GAUSS, seed=3, alpha=0.25))
    with pytest.raises(AttributeError, match="immutable"):
        run.seed = 4


# ----------------------------------------------------------------------------- progress
def test_progress_bar_is_one_bar_and_can_be_turned_off(capsys, monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV_VAR, raising=False)
    train(
        MIXED[:2], 3, TINY, progress=True, device="cpu"
    )  # not a notebook: tqdm's text bar on stderr
    err = capsys.readouterr().err
    assert "2 runs" in err and "3/3" in err
    assert err.count("100%") == 1
    train(MIXED[:2], 3, TINY, device="cpu")  # None and no variable: a bar
    assert "3/3" in capsys.readouterr().err
    train(MIXED[:2], 3, TINY, progress=False, device="cpu")
    assert capsys.readouterr().err == ""
    monkeypatch.setenv(PROGRESS_ENV_VAR, "0")
    train(MIXED[:2], 3, TINY, device="cpu")
    assert capsys.readouterr().err == ""
    train(MIXED[:2], 3, TINY, progress=True, device="cpu")  # the argument wins over the variable
    assert "3/3" in capsys.readouterr().err
    monkeypatch.setenv(PROGRESS_ENV_VAR, "1")
    train(MIXED[:2], 3, TINY, progress=False, device="cpu")
    assert capsys.readouterr().err == ""
    monkeypatch.setenv(PROGRESS_ENV_VAR, "maybe")
    with pytest.raises(ValueError, match=PROGRESS_ENV_VAR):
        train(MIXED[:2], 3, TINY, device="cpu")


def test_fit_progress_bar_shows_its_description(capsys, monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV_VAR, raising=False)
    p = torch.nn.Parameter(torch.zeros(()))
    fit(lambda step: p * 1.0, [p], 4, lr=0.1, progress=True, desc="toy fit")
    err = capsys.readouterr().err
    assert "toy fit" in err and "4/4" in err


@pytest.mark.slow
def test_progress_in_jupyter_is_a_widget_not_an_iprogress_warning():
    """What a reader sees in Jupyter: one widget bar, nothing on stderr."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")

    nb = nbformat.v4.new_notebook()
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "from mi_utils.tasks import CorrelatedGaussian\n"
            "from mi_utils.train import Run, TrainConfig, train\n"
            "task = CorrelatedGaussian.from_mi(1.0, 2)\n"
            "cfg = TrainConfig(batch_size=4, hidden_dim=4, embed_dim=2)\n"
            "runs = [Run('nwj', 'separable', task), Run('dv', 'separable', task)]\n"
            "result = train(runs, 3, cfg, device='cpu', progress=True)"
        )
    )
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    stderr = [o for o in outputs if o.get("name") == "stderr"]
    assert not stderr, stderr
    widgets = [
        o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert len(widgets) == 1, outputs
    assert "IProgress" not in str(outputs)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: Run("nce", "separable", GAUSS), ValueError, "unknown estimator 'nce'"),
        (lambda: Run("ba", "separable", GAUSS), ValueError, "estimator must read a score"),
        (lambda: Run("uba", "separable", GAUSS), ValueError, "estimator must read a score"),
        (lambda: Run(3, "separable", GAUSS), TypeError, "estimator must be a str"),
        (lambda: Run("nwj", "bilinear", GAUSS), ValueError, "critic must be one of"),
        (lambda: Run("nwj", "separable", "gaussian"), TypeError, "task must be"),
        (lambda: Run("nwj", "separable", [GAUSS]), TypeError, "task must be"),
        (lambda: Run("interpolated", "separable", GAUSS, alpha=1.5), ValueError, "alpha"),
        (lambda: Run("interpolated", "separable", GAUSS, alpha=-0.1), ValueError, "alpha"),
        (lambda: Run("interpolated", "separable", GAUSS, alpha=math.nan), ValueError, "alpha"),
        (lambda: Run("interpolated", "separable", GAUSS, alpha="0.5"), TypeError, "alpha"),
        (lambda: Run("interpolated", "separable", GAUSS, alpha=True), TypeError, "alpha"),
        (lambda: Run("interpolated", "separable", GAUSS, alpha=torch.tensor(0.5)), TypeError,
         "alpha must be a Python number"),
        (lambda: Run("mine", "separable", GAUSS, ema_rate=0.0), ValueError, "ema_rate"),
        (lambda: Run("mine", "separable", GAUSS, ema_rate=1.5), ValueError, "ema_rate"),
        (lambda: Run("smile", "separable", GAUSS, clip=-1.0), ValueError, "clip"),
        (lambda: Run("nwj", "separable", GAUSS, alpha=0.5), ValueError,
         r"unknown option\(s\) \['alpha'\] for estimator 'nwj'"),
        (lambda: Run("interpolated", "separable", GAUSS, beta=0.5), ValueError,
         "accepted: \\['alpha'\\]"),
        (lambda: Run("nwj", "separable", GAUSS, seed=-1), ValueError, "seed"),
        (lambda: Run("nwj", "separable", GAUSS, seed=1.5), TypeError, "seed"),
        (lambda: TrainConfig(lr=0.0), ValueError, "lr"),
        (lambda: TrainConfig(batch_size=1), ValueError, "batch_size"),
        (lambda: TrainConfig(record_every=0), ValueError, "record_every"),
        (lambda: TrainConfig(chunk_steps=0), ValueError, "chunk_steps"),
        (lambda: TrainConfig(hidden_dim=0), ValueError, "hidden_dim"),
        (lambda: TrainConfig(concat_hidden_dim=0), ValueError, "concat_hidden_dim"),
        (lambda: TrainConfig(activation="swish"), ValueError, "activation must be one of"),
        (lambda: TrainConfig(dim=3), TypeError, "dim"),
        (lambda: train([], 2, TINY), TypeError, "runs"),
        (lambda: train(["nwj"], 2, TINY), TypeError, "runs"),
        (lambda: train(Run("nwj", "separable", GAUSS), 2, TINY), TypeError, "runs"),
        (lambda: train([Run("nwj", "separable", GAUSS)], 0, TINY), ValueError, "num_steps"),
        (lambda: train([Run("nwj", "separable", GAUSS)], 2, {}), TypeError, "config"),
        (lambda: train([Run("nwj", "separable", GAUSS)], 2, TINY, dtype=torch.int32), TypeError,
         "dtype"),
        (lambda: train([Run("nwj", "separable", GAUSS)], 2, TINY, dtype=torch.float16),
         TypeError, "dtype"),
        (lambda: train([Run("nwj", "separable", GAUSS)], 2, TINY, device="tpu"), ValueError,
         "device"),
        (lambda: train([Run("nwj", "separable", GAUSS)], 2, TINY, device=0), TypeError, "device"),
        (lambda: train([Run("nwj", "separable", GAUSS)], 2, TINY, progress="yes"), TypeError,
         "progress"),
    ],
)  # fmt: skip
def test_bad_input_raises_naming_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error where CUDA is absent")
def test_cuda_without_cuda_is_refused():
    with pytest.raises(ValueError, match="CUDA"):
        train([Run("nwj", "separable", GAUSS)], 2, TINY, device="cuda", progress=False)


# ----------------------------------------------------------------------------- GPU
@requires_cuda
@pytest.mark.gpu
def test_cuda_training_has_no_per_step_host_sync():
    def count_syncs(steps: int) -> int:
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                train(MIXED, steps, TINY, device="cuda", progress=False)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        return sum("synchroniz" in str(w.message) for w in caught)

    assert count_syncs(4) == count_syncs(16)  # syncs do not grow with the number of steps
    result = train(MIXED, 4, TINY, device="cuda", progress=False)
    assert np.isfinite(result.frame.estimate).all()
    assert all(next(c.parameters()).device.type == "cuda" for c in result.critics)


@requires_cuda
@pytest.mark.gpu
def test_cuda_batched_equals_solo_in_float64():
    together = train(MIXED, 4, TINY, device="cuda", dtype=torch.float64, progress=False).frame
    for run_id, run in enumerate(MIXED):
        alone = train([run], 4, TINY, device="cuda", dtype=torch.float64, progress=False).frame
        np.testing.assert_allclose(estimates(together, run_id), estimates(alone, 0), rtol=1e-9)


# ----------------------------------------------------------------------------- speed options
def test_fit_uses_fused_adam_on_cpu():
    from mi_utils.fit import make_adam

    p = [torch.nn.Parameter(torch.zeros(3))]
    assert make_adam(p, 1e-3).defaults["fused"] is True
    # a step of the fused Adam is Adam's: the first update moves each entry by lr * sign(grad)
    p[0].grad = torch.tensor([1.0, -2.0, 0.5])
    make_adam(p, 1e-2).step()
    torch.testing.assert_close(p[0].detach(), torch.tensor([-1e-2, 1e-2, -1e-2]))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"matmul_dtype": torch.float64}, ValueError, "matmul_dtype"),
        ({"matmul_dtype": "bf16"}, ValueError, "matmul_dtype"),
        ({"compile": 1}, TypeError, "compile"),
    ],
)
def test_speed_options_are_checked(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        TrainConfig(**kwargs)


def test_bf16_products_stay_close_to_fp32(gaussian_task):
    runs = [Run("nwj", "separable", gaussian_task, seed=1), Run("tuba", "concat", gaussian_task)]
    full = train(runs, 20, TINY, device="cpu", progress=False).frame.estimate.to_numpy()
    bf16 = TINY.replace(matmul_dtype=torch.bfloat16)
    half = train(runs, 20, bf16, device="cpu", progress=False)
    est = half.frame.estimate.to_numpy()
    assert np.isfinite(est).all() and 0 < np.abs(est - full).max() < 0.05


def test_a_failed_compilation_falls_back_to_eager(gaussian_task, monkeypatch):
    def broken(fn, **kwargs):
        def call(*args):
            raise RuntimeError("no backend here")

        return call

    monkeypatch.setattr(torch, "compile", broken)
    runs = [Run("mine", "separable", gaussian_task, seed=1)]
    eager = train(runs, 5, TINY, device="cpu", progress=False)
    with pytest.warns(UserWarning, match="torch.compile failed"):
        fallback = train(runs, 5, TINY.replace(compile=True), device="cpu", progress=False)
    np.testing.assert_array_equal(eager.frame.estimate, fallback.frame.estimate)
    assert fallback.compile_seconds is not None and eager.compile_seconds is None


@pytest.mark.slow
def test_compiled_training_matches_eager(gaussian_task):
    runs = [Run("mine", "separable", gaussian_task, seed=1),
            Run("interpolated", "separable", gaussian_task, seed=2, alpha=0.5)]  # fmt: skip
    eager = train(runs, 6, TINY, device="cpu", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch's own deprecations while compiling
        compiled = train(runs, 6, TINY.replace(compile=True), device="cpu", progress=False)
    np.testing.assert_allclose(compiled.frame.estimate, eager.frame.estimate, atol=1e-4)
    assert compiled.compile_seconds is not None and compiled.compile_seconds[0] > 0


def test_runs_differing_only_in_alpha_share_one_call_and_match_solo(gaussian_task):
    runs = [Run("interpolated", "separable", gaussian_task, seed=s, alpha=a)
            for s, a in ((1, 0.01), (2, 0.5), (3, 0.99))]  # fmt: skip
    together = train(runs, 8, TINY, device="cpu", dtype=torch.float64, progress=False).frame
    for run_id, run in enumerate(runs):
        solo = train([run], 8, TINY, device="cpu", dtype=torch.float64, progress=False).frame
        np.testing.assert_allclose(estimates(together, run_id), solo.estimate, rtol=1e-10)
    assert sorted(together["alpha"].unique()) == [0.01, 0.5, 0.99]
