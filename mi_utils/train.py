r"""Train many MI estimators at once: ``R`` independent runs as one batched model.

Every run has its own estimator, :math:`\alpha`, critic type, task, initialisation and data
stream. Runs with the same critic type share one batched critic (stacked weights, one forward
for all of them, :mod:`mi_utils.critics`); within a group, runs are ordered by estimator so that
each bound is evaluated once on a contiguous slice of the ``[R, K, K]`` score tensor. One Adam
step updates every run (Adam is elementwise, so it is exactly ``R`` independent Adams). There
is no Python loop over runs in a training step.

Each run draws its initial weights from ``torch.Generator().manual_seed(seed)`` and its data
from a second generator seeded from the same ``seed``; data are drawn in chunks of
``config.chunk_steps`` steps per run. A run therefore follows the same trajectory whether it is
trained alone or among others (up to float rounding of the batched matrix products), and on a
CPU the same seeds give bit-identical results.

Estimates stay on the device during training and are copied to the host once, at the end, as a
tidy :class:`pandas.DataFrame`.

Reference: Poole et al. (2019), Sec. 5 (the MI staircase: d = 20, batch 64, Adam with learning
rate 5e-4, 4,000 steps at each of 2, 4, 6, 8, 10 nats).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace
from numbers import Real

import numpy as np
import pandas as pd
import torch

from . import bounds
from .validation import check_int
from .config import default_device, get_profile
from .critics import (
    BatchedConcatCritic,
    BatchedMLPBaseline,
    BatchedSeparableCritic,
    MLPBaseline,
    make_critic,
)
from .data import mi_to_rho

__all__ = [
    "CRITICS",
    "ESTIMATORS",
    "RESULT_COLUMNS",
    "TASKS",
    "Run",
    "Schedule",
    "TrainConfig",
    "estimate",
    "fixed_schedule",
    "staircase_schedule",
    "train",
]

# Estimators the trainer knows, in the order runs are grouped (those needing a learned
# baseline a(y) first, so that they form one contiguous block).
ESTIMATORS: tuple[str, ...] = (
    "tuba",
    "interpolated",
    "nwj",
    "dv",
    "mine",
    "js",
    "smile",
    "infonce",
)
_NEEDS_BASELINE = ("tuba", "interpolated")
CRITICS: tuple[str, ...] = ("separable", "concat")
TASKS: tuple[str, ...] = ("gaussian", "cubic")
RESULT_COLUMNS: tuple[str, ...] = (
    "run_id", "estimator", "alpha", "critic", "task", "seed", "step", "true_mi", "estimate",
)  # fmt: skip
PROGRESS_ENV_VAR = "MI_UTILS_PROGRESS"
_BATCHED_CRITICS = {"separable": BatchedSeparableCritic, "concat": BatchedConcatCritic}


# ----------------------------------------------------------------------------- specification
def _check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value


def _check_real(value: object, name: str, low: float, high: float, *, open_low=False) -> float:
    interval = f"{'(' if open_low else '['}{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number in {interval}; got {type(value).__name__}")
    value = float(value)
    if not ((value > low if open_low else value >= low) and value <= high):  # rejects NaN
        raise ValueError(f"{name} must lie in {interval}; got {value}")
    return value


@dataclass(frozen=True)
class Run:
    """One training run: which bound, critic and task, and its seed.

    Attributes:
        estimator: one of :data:`ESTIMATORS`.
        critic: ``"separable"`` or ``"concat"``.
        task: ``"gaussian"`` or ``"cubic"`` (:mod:`mi_utils.data`).
        alpha: the weight of :func:`~mi_utils.bounds.interpolated_lower_bound`, in [0, 1];
            required for ``"interpolated"`` and ``None`` for every other estimator.
        seed: seeds the run's initialisation and its data stream.
    """

    estimator: str
    critic: str = "separable"
    task: str = "gaussian"
    alpha: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        _check_choice(self.estimator, "estimator", ESTIMATORS)
        _check_choice(self.critic, "critic", CRITICS)
        _check_choice(self.task, "task", TASKS)
        if self.estimator == "interpolated":
            if self.alpha is None:
                raise ValueError("alpha in [0, 1] is required for estimator='interpolated'")
            object.__setattr__(self, "alpha", _check_real(self.alpha, "alpha", 0.0, 1.0))
        elif self.alpha is not None:
            raise ValueError(
                f"alpha is only used by estimator='interpolated'; got alpha={self.alpha!r} "
                f"for estimator={self.estimator!r}"
            )
        check_int(self.seed, "seed", minimum=0)


@dataclass(frozen=True)
class Schedule:
    """The true MI at every step: ``steps_per_level`` steps at each of ``levels`` (nats)."""

    levels: tuple[float, ...]
    steps_per_level: int

    def __post_init__(self) -> None:
        if not isinstance(self.levels, (tuple, list)) or len(self.levels) == 0:
            raise ValueError(f"levels must be a non-empty tuple of MI values; got {self.levels!r}")
        levels = tuple(_check_real(v, "levels", 0.0, 1e3) for v in self.levels)
        object.__setattr__(self, "levels", levels)
        check_int(self.steps_per_level, "steps_per_level")

    @property
    def num_steps(self) -> int:
        """Total number of training steps."""
        return len(self.levels) * self.steps_per_level

    def true_mi(self) -> np.ndarray:
        """The true MI (nats) at each step, shape ``[num_steps]``."""
        return np.repeat(np.asarray(self.levels, dtype=np.float64), self.steps_per_level)


def staircase_schedule(profile: str | None = None) -> Schedule:
    """The paper's staircase, 2, 4, 6, 8, 10 nats, with the profile's steps per level."""
    return Schedule((2.0, 4.0, 6.0, 8.0, 10.0), TrainConfig.for_profile(profile).steps_per_level)


def fixed_schedule(mi: float, num_steps: int) -> Schedule:
    """Train at one fixed true MI for ``num_steps`` steps."""
    return Schedule((mi,), num_steps)


# Settings per profile. `full` is the paper's (Sec. 5 and its reference notebook). `quick` keeps
# d, the batch size (so the log K = 4.16 nats ceiling of InfoNCE) and the MI levels, and shrinks
# the networks and the number of steps so that a whole sweep runs in about a minute on 2 CPU
# cores; the larger learning rate lets the small networks track each level within its steps.
_PROFILE_SETTINGS = {
    "full": dict(hidden_dim=256, embed_dim=32, lr=5e-4, steps_per_level=4000),
    "quick": dict(hidden_dim=128, concat_hidden_dim=32, embed_dim=32, lr=1e-3, steps_per_level=400),
}


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters shared by every run of a sweep.

    Attributes:
        dim: dimension ``d`` of ``x`` and ``y``.
        batch_size: ``K``.
        lr: Adam learning rate.
        hidden_dim, embed_dim, num_layers, activation: critic and baseline architecture.
        concat_hidden_dim: hidden width of concat critics (``None``: ``hidden_dim``). A concat
            critic evaluates its MLP on all ``K^2`` pairs, so its width dominates the cost.
        steps_per_level: steps per MI level of :func:`staircase_schedule`.
        ema_rate: MINE's moving-average rate.
        smile_clip: SMILE's clipping threshold :math:`\\tau`.
        record_every: keep the estimate of every ``record_every``-th step.
        chunk_steps: data are drawn per run in chunks of this many steps.
    """

    dim: int = 20
    batch_size: int = 64
    lr: float = 5e-4
    hidden_dim: int = 256
    concat_hidden_dim: int | None = None
    embed_dim: int = 32
    num_layers: int = 2
    activation: str = "relu"
    steps_per_level: int = 4000
    ema_rate: float = 0.01
    smile_clip: float = 5.0
    record_every: int = 1
    chunk_steps: int = field(default=200)

    def __post_init__(self) -> None:
        for name in ("dim", "batch_size", "hidden_dim", "embed_dim", "num_layers"):
            check_int(getattr(self, name), name)
        for name in ("steps_per_level", "record_every", "chunk_steps"):
            check_int(getattr(self, name), name)
        if self.concat_hidden_dim is not None:
            check_int(self.concat_hidden_dim, "concat_hidden_dim")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be an int >= 2; got {self.batch_size}")
        _check_real(self.lr, "lr", 0.0, 10.0, open_low=True)
        _check_real(self.ema_rate, "ema_rate", 0.0, 1.0, open_low=True)
        _check_real(self.smile_clip, "smile_clip", 0.0, math.inf, open_low=True)

    @classmethod
    def for_profile(cls, profile: str | None = None, **overrides) -> TrainConfig:
        """The settings of ``profile`` (``"quick"``/``"full"``, default: the active one)."""
        return cls(**{**_PROFILE_SETTINGS[get_profile(profile)], **overrides})

    def replace(self, **changes) -> TrainConfig:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


# ----------------------------------------------------------------------------- the model
class _Group:
    """The runs of one critic type: a batched critic, a batched baseline, estimator slices."""

    def __init__(self, runs, ids, config: TrainConfig, device, dtype):
        self.runs, self.ids = runs, ids
        opts = dict(hidden_dim=config.hidden_dim, num_layers=config.num_layers)
        opts.update(activation=config.activation, device=device, dtype=dtype)
        if runs[0].critic == "separable":
            critic_opts = dict(opts, embed_dim=config.embed_dim)
        else:
            critic_opts = dict(opts, hidden_dim=config.concat_hidden_dim or config.hidden_dim)
        critics, baselines = [], []
        for run in runs:  # set-up only: each run's weights come from its own generator
            g = torch.Generator().manual_seed(run.seed)
            critics.append(
                make_critic(run.critic, config.dim, config.dim, generator=g, **critic_opts)
            )
            if run.estimator in _NEEDS_BASELINE:
                baselines.append(MLPBaseline(config.dim, generator=g, **opts))
        self.critic = _BATCHED_CRITICS[runs[0].critic].from_modules(critics)
        self.num_baselines = len(baselines)
        self.baseline = BatchedMLPBaseline.from_modules(baselines) if baselines else None
        # Contiguous slices per estimator (runs are sorted by ESTIMATORS order).
        self.slices: list[tuple[str, slice]] = []
        start = 0
        for name in ESTIMATORS:
            n = sum(r.estimator == name for r in runs)
            if n:
                self.slices.append((name, slice(start, start + n)))
                start += n
        interp = [r.alpha for r in runs if r.estimator == "interpolated"]
        self.alpha = torch.tensor(interp, device=device, dtype=dtype) if interp else None
        self.cubic = torch.tensor([r.task == "cubic" for r in runs], device=device)[:, None, None]
        self.log_ema = None  # MINE's state, [number of MINE runs]
        self.config = config

    def parameters(self):
        yield from self.critic.parameters()
        if self.baseline is not None:
            yield from self.baseline.parameters()

    def step_values(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The estimate of every run on one batch, ``[R]``, differentiable for training."""
        y = torch.where(self.cubic, y * y * y, y)
        scores = self.critic(x, y)
        log_a = self.baseline(y[: self.num_baselines]) if self.baseline is not None else None
        values = []
        for name, sl in self.slices:
            log_b = log_a[sl] if name in _NEEDS_BASELINE else None
            v, state = estimate(name, scores[sl], self.config, log_b, self.alpha, self.log_ema)
            if name == "mine":
                self.log_ema = state
            values.append(v)
        return torch.cat(values)


def estimate(
    name: str,
    scores: torch.Tensor,
    config: TrainConfig,
    log_baseline: torch.Tensor | None = None,
    alpha: float | torch.Tensor | None = None,
    log_ema: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The training value of estimator ``name`` on ``scores`` and MINE's new state.

    ``log_baseline`` is used by TUBA and :math:`I_\\alpha`, ``alpha`` by :math:`I_\\alpha`,
    ``log_ema`` (the moving-average state) by MINE; SMILE clips at ``config.smile_clip``.
    Returns ``(value, new_log_ema)``, where ``new_log_ema`` is ``None`` except for MINE.
    """
    if name == "tuba":
        return bounds.tuba_lower_bound(scores, log_baseline), None
    if name == "interpolated":
        return bounds.interpolated_lower_bound(scores, log_baseline, alpha), None
    if name == "mine":
        return bounds.mine_lower_bound(scores, log_ema, config.ema_rate)
    if name == "smile":
        return bounds.smile_lower_bound(scores, config.smile_clip), None
    return bounds.get_bound(_check_choice(name, "estimator", ESTIMATORS))(scores), None


class _DataStream:
    """Per-run standard-normal draws, generated in chunks from each run's own generator."""

    def __init__(self, runs, num_steps: int, config: TrainConfig, device, dtype):
        self.gens = [
            torch.Generator(device=device).manual_seed(run.seed + 0x9E3779B9) for run in runs
        ]
        self.num_steps, self.config, self.device, self.dtype = num_steps, config, device, dtype
        self.start, self.chunk = 0, None

    def noise(self, step: int) -> torch.Tensor:
        """``[R, 2, K, d]`` standard normals for ``step`` (x and the noise of y)."""
        cfg = self.config
        if self.chunk is None or step >= self.start + self.chunk.shape[1]:
            n = min(cfg.chunk_steps, self.num_steps - step)
            shape = (n, 2, cfg.batch_size, cfg.dim)
            self.chunk = torch.stack(  # set-up of a chunk: one draw per run per chunk
                [
                    torch.randn(shape, generator=g, device=self.device, dtype=self.dtype)
                    for g in self.gens
                ]
            )
            self.start = step
        return self.chunk[:, step - self.start]


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        if not isinstance(progress, bool):
            raise TypeError(f"progress must be True, False or None; got {type(progress).__name__}")
        return progress
    env = os.environ.get(PROGRESS_ENV_VAR, "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return False
    if env in ("", "1", "true", "yes", "on"):
        return True
    raise ValueError(f"{PROGRESS_ENV_VAR} must be 0 or 1; got {env!r}")


def _progress_bar(total: int, enabled: bool, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", mininterval=0.5, leave=True)


# ----------------------------------------------------------------------------- training
def train(
    runs: list[Run],
    schedule: Schedule,
    config: TrainConfig | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    progress: bool | None = None,
) -> pd.DataFrame:
    r"""Train every run in ``runs`` on ``schedule`` at once and return the tidy results.

    Args:
        runs: the runs (:class:`Run`); their order gives ``run_id``.
        schedule: the true MI at each step (:func:`staircase_schedule`, :func:`fixed_schedule`).
        config: shared hyperparameters; default :meth:`TrainConfig.for_profile` of the active
            profile.
        device: default :func:`mi_utils.config.default_device` (CUDA if available).
        dtype: ``torch.float32`` or ``torch.float64``.
        progress: one progress bar for the whole sweep; ``None`` reads ``MI_UTILS_PROGRESS``
            (``0`` turns it off) and is on otherwise.

    Returns:
        A DataFrame with one row per run and recorded step, columns :data:`RESULT_COLUMNS`:
        ``run_id`` (int), ``estimator``, ``critic``, ``task`` (str), ``alpha`` (float, NaN
        unless interpolated), ``seed`` and ``step`` (int), ``true_mi`` and ``estimate`` (float,
        nats). ``estimate`` is the bound's value on that step's batch, before the update.
    """
    if not isinstance(runs, (list, tuple)) or not runs or not all(isinstance(r, Run) for r in runs):
        raise TypeError("runs must be a non-empty list of mi_utils.train.Run")
    if not isinstance(schedule, Schedule):
        raise TypeError(
            f"schedule must be a mi_utils.train.Schedule; got {type(schedule).__name__}"
        )
    config = TrainConfig.for_profile() if config is None else config
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig or None; got {type(config).__name__}")
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64; got {dtype!r}")
    device = default_device(device)
    show = _progress_enabled(progress)

    num_steps = schedule.num_steps
    true_mi = schedule.true_mi()
    rho = torch.tensor(
        [mi_to_rho(float(v), config.dim) for v in true_mi], device=device, dtype=dtype
    )
    sigma = torch.sqrt(1.0 - rho * rho)

    order = sorted(
        range(len(runs)), key=lambda i: (runs[i].critic, ESTIMATORS.index(runs[i].estimator))
    )
    groups = []
    for critic in CRITICS:
        ids = [i for i in order if runs[i].critic == critic]
        if ids:
            groups.append(_Group([runs[i] for i in ids], ids, config, device, dtype))
    streams = [_DataStream(g.runs, num_steps, config, device, dtype) for g in groups]
    params = [p for g in groups for p in g.parameters()]
    optimizer = torch.optim.Adam(params, lr=config.lr)

    record_steps = np.arange(0, num_steps, config.record_every)
    estimates = torch.empty(len(record_steps), len(runs), device=device, dtype=dtype)
    perm = torch.tensor([i for g in groups for i in g.ids], device=device)
    bar = _progress_bar(num_steps, show, f"{len(runs)} runs")
    try:
        for step in range(num_steps):
            values = []
            for group, stream in zip(groups, streams, strict=True):
                z = stream.noise(step)
                x = z[:, 0]
                y = rho[step] * x + sigma[step] * z[:, 1]
                values.append(group.step_values(x, y))
            values = torch.cat(values)
            optimizer.zero_grad(set_to_none=True)
            (-values.sum()).backward()
            optimizer.step()
            if step % config.record_every == 0:
                estimates[step // config.record_every, perm] = values.detach()
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    table = estimates.cpu().double().numpy()  # the one host copy of the run
    return _results_frame(runs, record_steps, true_mi[record_steps], table)


def _results_frame(runs, steps: np.ndarray, true_mi: np.ndarray, table: np.ndarray) -> pd.DataFrame:
    n_steps, n_runs = table.shape
    meta = pd.DataFrame([asdict(r) for r in runs])
    frame = pd.DataFrame(
        {
            "run_id": np.tile(np.arange(n_runs, dtype=np.int64), n_steps),
            "step": np.repeat(steps.astype(np.int64), n_runs),
            "true_mi": np.repeat(true_mi, n_runs),
            "estimate": table.reshape(-1),
        }
    )
    frame = frame.merge(meta.assign(run_id=np.arange(n_runs, dtype=np.int64)), on="run_id")
    frame["alpha"] = frame["alpha"].astype(np.float64)
    frame["seed"] = frame["seed"].astype(np.int64)
    return frame.sort_values(["run_id", "step"], ignore_index=True)[list(RESULT_COLUMNS)]
