"""A task written by a user, in this file, with x_dim != y_dim: the Task protocol's defaults, and
training on it with mi_utils.train.train with no edit to the library."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mi_utils import estimators
from mi_utils.tasks import CorrelatedGaussian, Schedule, Task, check_task
from mi_utils.train import Run, train
from tests.conftest import TINY, gen

F64 = torch.float64


class LinearGaussian(Task):
    r"""``x ~ N(0, I_3)``, ``y = A x + σ ε`` with ``A`` ``[2, 3]``: a Gaussian channel.

    :math:`I(X;Y) = \tfrac12\log\det\Sigma_y - \tfrac12\log\det(\sigma^2 I)`, with
    :math:`\Sigma_y = A A^\top + \sigma^2 I`.
    """

    x_dim, y_dim = 3, 2

    def __init__(self, scale: float = 1.0, sigma: float = 1.0):
        self.a = scale * torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.5, 1.0]], dtype=F64)
        self.sigma = sigma
        self.cov_y = self.a @ self.a.T + sigma**2 * torch.eye(2, dtype=F64)

    @property
    def mi(self) -> float:
        return 0.5 * torch.logdet(self.cov_y).item() - self.y_dim * math.log(self.sigma)

    @property
    def name(self) -> str:
        return "linear-gaussian"

    def sample(self, num_samples, *, batch_shape=(), generator=None, device=None, dtype=None):
        shape, dtype = self._sample_args(num_samples, batch_shape, generator, dtype)
        z = torch.randn((*shape, 5), generator=generator, device=device, dtype=dtype)
        x = z[..., :3]
        return x, x @ self.a.to(z).T + self.sigma * z[..., 3:]

    def log_conditional(self, x, y):
        x, y = self._check_x(x), self._check_y(y)
        mean = x @ self.a.to(x).T  # [..., K, 2], the mean of y given x_j
        d2 = (y[..., :, None, :] - mean[..., None, :, :]).square().sum(-1)  # [..., K_y, K_x]
        return -0.5 * (2 * math.log(2 * math.pi * self.sigma**2) + d2 / self.sigma**2)

    def log_marginal(self, y):
        y = self._check_y(y)
        dist = torch.distributions.MultivariateNormal(
            torch.zeros(2, dtype=y.dtype), self.cov_y.to(y.dtype)
        )
        return dist.log_prob(y)


class MinimalTask(Task):
    """Only what the protocol requires: x_dim, y_dim, mi and sample."""

    x_dim, y_dim = 1, 4

    @property
    def mi(self) -> float:
        return 0.0

    def sample(self, num_samples, *, batch_shape=(), generator=None, device=None, dtype=None):
        shape, dtype = self._sample_args(num_samples, batch_shape, generator, dtype)
        z = torch.randn((*shape, 5), generator=generator, device=device, dtype=dtype)
        return z[..., :1], z[..., 1:]


# ----------------------------------------------------------------------------- the protocol
def test_task_is_abstract():
    with pytest.raises(TypeError):
        Task()

    class NoSample(Task):
        x_dim = y_dim = 1
        mi = 0.0

    with pytest.raises(TypeError, match="sample"):
        NoSample()


def test_protocol_defaults():
    task = MinimalTask()
    assert task.name == "minimaltask" and task.mi_error == 0.0
    assert repr(task) == "MinimalTask(x_dim=1, y_dim=4, mi=0)"
    x, y = task.sample(5, batch_shape=(2,), generator=gen())
    assert x.shape == (2, 5, 1) and y.shape == (2, 5, 4)
    for call in (lambda: task.log_marginal(y), lambda: task.log_conditional(x, y),
                 lambda: task.log_ratio(x, y)):  # fmt: skip
        with pytest.raises(NotImplementedError, match="MinimalTask"):
            call()
    assert check_task(task) is task
    schedule = Schedule.fixed(task, 3)
    assert check_task(schedule) is schedule
    with pytest.raises(TypeError, match=r"task must be a mi_utils\.tasks\.Task"):
        check_task("gaussian")


def test_custom_task_shapes_and_seeds():
    task = LinearGaussian()
    x, y = task.sample(7, batch_shape=(3,), generator=gen(1), dtype=F64)
    assert x.shape == (3, 7, 3) and y.shape == (3, 7, 2)
    assert task.log_marginal(y).shape == (3, 7)
    assert task.log_conditional(x, y).shape == task.log_ratio(x, y).shape == (3, 7, 7)
    again = task.sample(7, batch_shape=(3,), generator=gen(1), dtype=F64)
    assert torch.equal(x, again[0]) and torch.equal(y, again[1])
    with pytest.raises(ValueError, match="y"):
        task.log_marginal(x)  # x has 3 coordinates, y has 2
    with pytest.raises(ValueError, match="x"):
        task.log_ratio(y, y)


def test_custom_task_mi_by_monte_carlo_of_the_default_log_ratio():
    task = LinearGaussian()
    assert task.mi == pytest.approx(0.5 * math.log(5.0))  # det [[2.25, .25], [.25, 2.25]] = 5
    x, y = task.sample(20_000, generator=gen(2), dtype=F64)
    joint = task.log_ratio(x[:, None, :], y[:, None, :])[:, 0, 0]  # Task's default log_ratio
    se = joint.std().item() / math.sqrt(len(joint))
    assert abs(joint.mean().item() - task.mi) < 4 * se


# ----------------------------------------------------------------------------- training
NUM_STEPS = 300


@pytest.fixture(scope="module")
def trained():
    task = LinearGaussian()
    runs = [
        Run("nwj", "separable", task, seed=0),
        Run("infonce", "concat", task, seed=1),
        Run("interpolated", "separable", task, seed=2, alpha=0.5),
        Run("tuba", "concat", task, seed=3),
        Run("mine", "separable", task, seed=4),
        Run("js", "concat", task, seed=5),
    ]
    return task, train(runs, NUM_STEPS, TINY, device="cpu", progress=False)


def test_custom_task_trains(trained):
    task, result = trained
    frame = result.frame
    assert len(frame) == NUM_STEPS * len(result.runs)
    assert set(frame.task) == {"linear-gaussian"}
    np.testing.assert_allclose(frame.true_mi, task.mi)
    assert np.isfinite(frame.estimate).all()
    for run_id, run in enumerate(result.runs):
        est = frame[frame.run_id == run_id].sort_values("step").estimate.to_numpy()
        tail = est[-100:].mean()
        assert 0.0 < tail < task.mi + 0.5, (run, tail)
        assert tail > est[:20].mean(), (run, "did not learn")


def test_trained_critics_work_on_held_out_samples(trained):
    task, result = trained
    x, y = task.sample(256, generator=gen(123))  # never seen in training
    for run, critic, baseline, state in zip(
        result.runs, result.critics, result.baselines, result.states, strict=True
    ):
        spec = run.spec
        assert (baseline is not None) == spec.needs_baseline
        assert (state is not None) == spec.stateful
        with torch.no_grad():
            scores = critic(x, y)
            log_a = baseline(y) if baseline is not None else None
            value, _ = estimators.evaluate(
                run.estimator, scores, log_baseline=log_a, **run.resolved_options
            )
        assert scores.shape == (256, 256) and torch.isfinite(scores).all()
        # the convention scores[i, j] = f(x_j, y_i)
        torch.testing.assert_close(critic(x[3:4], y[2:3])[0, 0], scores[2, 3])
        assert 0.0 < value.item() < task.mi + 0.5, (run, value.item())


def test_custom_tasks_of_other_shapes_share_one_call():
    # x_dim != y_dim beside a square task: the trainer groups runs by critic and dimensions.
    runs = [
        Run("infonce", "separable", LinearGaussian(), seed=0),
        Run("infonce", "separable", CorrelatedGaussian(3, 0.5), seed=0),
        Run("tuba", "separable", MinimalTask(), seed=1),
    ]
    result = train(runs, 4, TINY, device="cpu", progress=False)
    assert list(result.frame.drop_duplicates("run_id").task) == [
        "linear-gaussian",
        "gaussian",
        "minimaltask",
    ]
    assert np.isfinite(result.frame.estimate).all()
    x, y = MinimalTask().sample(6, generator=gen())
    assert result.critics[2](x, y).shape == (6, 6) and result.baselines[2](y).shape == (6,)
