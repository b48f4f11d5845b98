r"""Many MI estimators trained at once as one batched model.

:func:`train` builds, for :func:`mi_utils.fit.fit` (the library's one training loop, also
importable from here), the objective for a list of :class:`Run` s, each with its own
estimator (from :mod:`mi_utils.estimators`), critic type, task (:mod:`mi_utils.tasks`),
options and seed, and returns a :class:`TrainResult`: the tidy estimates and the trained
critics and baselines.

Runs with the same critic type and dimensions share one batched critic (stacked weights, one
forward for all of them, :mod:`mi_utils.nn`); within such a group, runs with the same estimator
and options form a contiguous slice of the ``[R, K, K]`` score tensor, and each slice is
evaluated once through the registry. One Adam step updates every run (Adam is elementwise, so
this is exactly ``R`` independent Adams). There is no Python loop over runs in a step.

Each run draws its initial weights from ``torch.Generator().manual_seed(seed)`` and its data
from a second generator seeded from the same ``seed``, ``config.chunk_steps`` steps at a time.
A run therefore follows the same trajectory whether it is trained alone or among others (up to
the rounding of batched matrix products), and on a CPU the same seeds give bit-identical
results. Estimates stay on the device and are copied to the host once, at the end.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np
import pandas as pd
import torch

from . import estimators
from .device import default_device
from .fit import PROGRESS_ENV_VAR, fit
from .nn import (
    ACTIVATIONS,
    CRITIC_KINDS,
    BatchedConcatCritic,
    BatchedMLPBaseline,
    BatchedSeparableCritic,
    MLPBaseline,
    make_critic,
)
from .tasks import Schedule, Task, check_task
from .validation import check_choice, check_int, check_real

__all__ = [
    "PROGRESS_ENV_VAR",
    "RESULT_COLUMNS",
    "Run",
    "TrainConfig",
    "TrainResult",
    "fit",
    "result_options",
    "train",
]

#: The columns of :attr:`TrainResult.frame`, in order; the estimators' option columns (such
#: as ``alpha``) come after ``label``.
RESULT_COLUMNS: tuple[str, ...] = (
    "run_id", "estimator", "label", "critic", "task", "seed", "step", "true_mi", "estimate",
)  # fmt: skip
_DATA_SEED_OFFSET = 0x9E3779B9  # the data stream's seed is the run's seed plus this
_BATCHED_CRITICS = {"separable": BatchedSeparableCritic, "concat": BatchedConcatCritic}


# ----------------------------------------------------------------------------- specification
class Run:
    """One training run: an estimator with its options, a critic type, a task and a seed.

    Args:
        estimator: a registered estimator that reads scores (:func:`mi_utils.estimators.names`
            with ``trainable=True``).
        critic: ``"separable"`` or ``"concat"``.
        task: a :class:`~mi_utils.tasks.Task` (trained for ``train``'s ``num_steps``) or a
            :class:`~mi_utils.tasks.Schedule` of tasks (such as the paper's staircase).
        seed: seeds the run's initial weights and its data stream.
        **options: the estimator's hyper-parameters (e.g. ``alpha=0.5``); defaults from the
            registry.
    """

    __slots__ = ("critic", "estimator", "options", "seed", "task")

    def __init__(self, estimator: str, critic: str, task: Task | Schedule, *, seed=0, **options):
        if not isinstance(estimator, str):
            raise TypeError(
                f"estimator must be a str, one of {estimators.names(trainable=True)}; "
                f"got {type(estimator).__name__}"
            )
        spec = estimators.get(estimator)
        if spec.kind == "upper":
            raise ValueError(
                f"estimator {estimator!r} is an upper bound: it needs the true conditional "
                "density, not a trained critic; evaluate it with mi_utils.estimators.evaluate. "
                f"Trainable: {estimators.names(trainable=True)}"
            )
        if not spec.scores_input:
            raise ValueError(
                f"estimator must read a score matrix, one of "
                f"{estimators.names(trainable=True)}; got {estimator!r}"
            )
        check_task(task)
        spec.resolve(options)  # rejects unknown options
        # Bad option values are rejected now, not mid-training: the bound itself checks them on
        # a dummy 2 x 2 batch and raises with the option's name.
        for name, value in options.items():
            if isinstance(value, torch.Tensor):
                raise TypeError(f"{name} must be a Python number for a Run; got a tensor")
            spec.call(torch.zeros(1, 2, 2), torch.zeros(1, 2) if spec.needs_baseline else None,
                      None, spec.resolve({name: value}))  # fmt: skip
        object.__setattr__(self, "estimator", spec.name)
        object.__setattr__(self, "critic", check_choice(critic, "critic", CRITIC_KINDS))
        object.__setattr__(self, "task", task)
        object.__setattr__(self, "seed", check_int(seed, "seed", minimum=0))
        object.__setattr__(self, "options", MappingProxyType(dict(options)))

    def __setattr__(self, name, value):
        raise AttributeError("Run is immutable")

    @property
    def spec(self) -> estimators.Estimator:
        """The registry entry of the run's estimator."""
        return estimators.get(self.estimator)

    @property
    def resolved_options(self) -> dict[str, object]:
        """The estimator's options with the registry's defaults filled in."""
        return self.spec.resolve(self.options)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__
        )

    def __hash__(self) -> int:
        return hash((self.estimator, self.critic, self.seed, tuple(sorted(self.options.items()))))

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"Run({self.estimator!r}, {self.critic!r}, {self.task!r}, seed={self.seed}{opts})"


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters shared by every run of a :func:`train` call.

    The defaults are the settings of Poole et al. (2019, Sec. 5, and their reference notebook):
    batch 64, Adam at 5e-4, critics with two hidden layers of 256 ReLU units and a
    32-dimensional embedding, learned baselines with two hidden layers of 512 ReLU units.

    Attributes:
        batch_size: ``K``, the joint pairs per step.
        lr: Adam's learning rate.
        hidden_dim: hidden width of the critics and of learned baselines, unless overridden by
            ``concat_hidden_dim`` or ``baseline_hidden_dim``.
        embed_dim: embedding dimension of separable critics.
        num_layers: hidden layers of every network.
        activation: hidden-layer activation, a key of :data:`mi_utils.nn.ACTIVATIONS`.
        concat_hidden_dim: hidden width of concat critics (``None``: ``hidden_dim``). A concat
            critic evaluates its MLP on all ``K^2`` pairs, so its width dominates the cost.
        baseline_hidden_dim: hidden width of learned baselines (default 512, the reference
            notebook's; ``None``: ``hidden_dim``).
        record_every: keep the estimate of every ``record_every``-th step.
        chunk_steps: data are drawn per run in chunks of this many steps.
        matmul_dtype: ``None`` (default), or ``torch.bfloat16`` for the critics' hidden-layer
            products in bfloat16 with fp32 accumulation (output layers, scores and bounds stay
            fp32): about 2x faster products on CPUs with AVX512-BF16 and on GPUs, at the price
            of rounding; opt-in (see the README's Performance section for its effect on the
            estimates).
        compile: ``torch.compile`` the critics, baselines and bounds of every step after the
            first (opt-in: compilation takes tens of seconds, so it pays on long runs of
            separable critics; a failed compilation falls back to eager execution).
    """

    batch_size: int = 64
    lr: float = 5e-4
    hidden_dim: int = 256
    concat_hidden_dim: int | None = None
    baseline_hidden_dim: int | None = 512
    embed_dim: int = 32
    num_layers: int = 2
    activation: str = "relu"
    record_every: int = 1
    chunk_steps: int = 200
    matmul_dtype: torch.dtype | None = None
    compile: bool = False

    def __post_init__(self) -> None:
        if self.matmul_dtype not in (None, torch.bfloat16, torch.float16):
            raise ValueError(
                "matmul_dtype must be None, torch.bfloat16 or torch.float16; "
                f"got {self.matmul_dtype!r}"
            )
        if not isinstance(self.compile, bool):
            raise TypeError(f"compile must be a bool; got {type(self.compile).__name__}")
        for name in ("hidden_dim", "embed_dim", "num_layers", "record_every", "chunk_steps"):
            check_int(getattr(self, name), name)
        for name in ("concat_hidden_dim", "baseline_hidden_dim"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name)
        check_int(self.batch_size, "batch_size", minimum=2)
        check_real(self.lr, "lr", 0.0, 10.0, open_low=True)
        check_choice(self.activation, "activation", sorted(ACTIVATIONS))  # not mid-training

    def replace(self, **changes) -> TrainConfig:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        frame: one row per run and recorded step, columns :data:`RESULT_COLUMNS` and the
            estimators' options (``alpha``, ...): ``estimate`` is the bound's value on that
            step's batch, before the update, in nats.
        runs: the runs, indexed by ``run_id``.
        critics: the trained critic of each run (a single, unbatched module).
        baselines: the trained learned baseline of each run, or ``None``.
        states: the final state of each stateful run (MINE's moving average), or ``None``.
        wall_seconds: the training time (the host's wall clock, set-up included).
        compile_seconds: with ``config.compile``, the time of the first compiled step of each
            critic group, compilation included (a list, one entry per group); else ``None``.
    """

    frame: pd.DataFrame
    runs: tuple[Run, ...]
    critics: tuple[torch.nn.Module, ...]
    baselines: tuple[torch.nn.Module | None, ...]
    states: tuple[object, ...]
    wall_seconds: float = float("nan")
    compile_seconds: list[float] | None = None


# ----------------------------------------------------------------------------- the model
class _Group:
    """The runs of one critic type and shape: a batched critic and baseline, estimator slices."""

    def __init__(self, runs, ids, schedules, config: TrainConfig, device, dtype):
        self.ids, self.schedules = ids, schedules
        x_dim, y_dim = schedules[0].x_dim, schedules[0].y_dim
        opts = dict(num_layers=config.num_layers, activation=config.activation)
        opts.update(device=device, dtype=dtype)
        kind = runs[0].critic
        width = config.concat_hidden_dim if kind == "concat" else None
        critic_opts = dict(opts, hidden_dim=width or config.hidden_dim)
        if kind == "separable":
            critic_opts["embed_dim"] = config.embed_dim
        base_opts = dict(opts, hidden_dim=config.baseline_hidden_dim or config.hidden_dim)
        critics, baselines = [], []
        for run in runs:  # set-up only: each run's weights come from its own generator
            g = torch.Generator().manual_seed(run.seed)
            critics.append(make_critic(kind, x_dim, y_dim, generator=g, **critic_opts))
            if run.spec.needs_baseline:
                baselines.append(MLPBaseline(y_dim, generator=g, **base_opts))
        self.critic = _BATCHED_CRITICS[kind].from_modules(critics)
        self.baseline = BatchedMLPBaseline.from_modules(baselines) if baselines else None
        need = [r.spec.needs_baseline for r in runs]
        self.baseline_rows = torch.tensor([i for i, n in enumerate(need) if n], device=device)
        # Contiguous slices of runs sharing an estimator and its options (runs arrive sorted);
        # options the bound takes per run (the spec's batched_options, e.g. I_alpha's alpha)
        # may differ within a slice and are passed as one tensor, built once here.
        self.slices: list[tuple[estimators.Estimator, dict, slice, slice | None]] = []
        start = b_start = 0
        while start < len(runs):
            key = _slice_key(runs[start])
            stop = start + 1
            while stop < len(runs) and _slice_key(runs[stop]) == key:
                stop += 1
            spec = runs[start].spec
            b_slice = slice(b_start, b_start + stop - start) if spec.needs_baseline else None
            b_start += (stop - start) if spec.needs_baseline else 0
            options = dict(runs[start].resolved_options)
            for name in spec.batched_options:
                values = [r.resolved_options[name] for r in runs[start:stop]]
                if len(set(values)) > 1:
                    options[name] = torch.tensor(values, device=device, dtype=dtype)
            self.slices.append((spec, options, slice(start, stop), b_slice))
            start = stop
        self.states: list[object] = [None] * len(self.slices)
        self.critic.set_matmul_dtype(config.matmul_dtype)
        self.compiled = torch.compile(self._values, dynamic=False) if config.compile else None
        self.compile_seconds: float | None = None  # the first compiled step, compilation included
        self.steps_done = 0
        self.gens = [
            torch.Generator(device=device).manual_seed(r.seed + _DATA_SEED_OFFSET) for r in runs
        ]
        self.config, self.device, self.dtype = config, device, dtype
        self.chunk_start, self.chunk = 0, None

    def parameters(self):
        yield from self.critic.parameters()
        if self.baseline is not None:
            yield from self.baseline.parameters()

    def batch(self, step: int, num_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``, ``y`` of every run for ``step``: ``[R, K, d]`` each, drawn chunk by chunk."""
        if self.chunk is None or step >= self.chunk_start + self.chunk[0].shape[1]:
            n = min(self.config.chunk_steps, num_steps - step)
            draws = [
                s.sample_steps(step, n, self.config.batch_size, generator=g, device=self.device,
                               dtype=self.dtype)
                for s, g in zip(self.schedules, self.gens, strict=True)
            ]  # fmt: skip
            self.chunk = tuple(torch.stack(t) for t in zip(*draws, strict=True))
            self.chunk_start = step
        return self.chunk[0][:, step - self.chunk_start], self.chunk[1][:, step - self.chunk_start]

    def _values(self, x, y, states):
        # Scores, baselines and every slice's bound: the part of a step that torch.compile may
        # fuse. Functional in the states, so that a compiled graph never mutates Python lists.
        scores = self.critic(x, y)
        log_a = None
        if self.baseline is not None:
            log_a = self.baseline(y.index_select(0, self.baseline_rows))
        values, new_states = [], []
        for n, (spec, options, sl, b_sl) in enumerate(self.slices):
            base = log_a[b_sl] if b_sl is not None else None
            value, state = spec(scores[sl], log_baseline=base, state=states[n], **options)
            values.append(value)
            new_states.append(state)
        return torch.cat(values), new_states

    def step_values(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The estimate of every run on one batch, ``[R]``, differentiable for training.

        With ``config.compile``, every step after the first runs the compiled graph (the first
        one, eager, gives every stateful estimator its tensor state, so one graph serves all
        later steps); a failed compilation falls back to eager execution with a warning.
        """
        if self.compiled is not None and self.steps_done > 0:
            start = time.perf_counter() if self.compile_seconds is None else None
            try:
                values, self.states = self.compiled(x, y, self.states)
            except Exception as err:  # any backend failure: run eagerly
                warnings.warn(f"torch.compile failed, training eagerly: {err}", stacklevel=3)
                self.compiled = None
                values, self.states = self._values(x, y, self.states)
            if start is not None:
                self.compile_seconds = time.perf_counter() - start
        else:
            values, self.states = self._values(x, y, self.states)
        self.steps_done += 1
        return values


def _slice_key(run: Run) -> tuple:
    batched = run.spec.batched_options
    options = {k: v for k, v in run.resolved_options.items() if k not in batched}
    return (run.estimator, tuple(sorted(options.items())))


def _schedule(run: Run, num_steps: int | None) -> Schedule:
    if isinstance(run.task, Schedule):
        if num_steps is not None and num_steps != run.task.num_steps:
            raise ValueError(
                f"num_steps={num_steps} differs from the schedule's {run.task.num_steps} steps"
            )
        return run.task
    if num_steps is None:
        raise ValueError("num_steps is required when a run's task is a Task, not a Schedule")
    return Schedule.fixed(run.task, num_steps)


# ----------------------------------------------------------------------------- training
def train(
    runs: list[Run],
    num_steps: int | None = None,
    config: TrainConfig | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    progress: bool | None = None,
) -> TrainResult:
    r"""Train every run in ``runs`` at once; return the estimates and the trained critics.

    Args:
        runs: the runs (:class:`Run`); their order gives ``run_id``.
        num_steps: steps per run; required when a run's task is a plain Task, and optional
            (it must then match) when every task is a :class:`~mi_utils.tasks.Schedule`.
        config: shared hyperparameters; default ``TrainConfig()`` (the paper's settings).
        device: default :func:`mi_utils.device.default_device` (CUDA if available).
        dtype: ``torch.float32`` or ``torch.float64``.
        progress: one progress bar for the whole call; ``None`` reads ``MI_UTILS_PROGRESS``.

    Returns:
        A :class:`TrainResult`.
    """
    if not isinstance(runs, (list, tuple)) or not runs or not all(isinstance(r, Run) for r in runs):
        raise TypeError("runs must be a non-empty list of mi_utils.train.Run")
    if num_steps is not None:
        check_int(num_steps, "num_steps")
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig or None; got {type(config).__name__}")
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64; got {dtype!r}")
    device = default_device(device)
    start = time.perf_counter()
    schedules = [_schedule(r, num_steps) for r in runs]
    lengths = {s.num_steps for s in schedules}
    if len(lengths) != 1:
        raise ValueError(f"every run's schedule must have the same length; got {sorted(lengths)}")
    (num_steps,) = lengths

    order = {name: i for i, name in enumerate(estimators.names())}
    keys = {}
    for i, (r, s) in enumerate(zip(runs, schedules, strict=True)):
        keys.setdefault((r.critic, s.x_dim, s.y_dim), []).append(i)
    groups = []
    for ids in keys.values():
        ids = sorted(ids, key=lambda i: (order[runs[i].estimator], _slice_key(runs[i]), i))
        groups.append(
            _Group([runs[i] for i in ids], ids, [schedules[i] for i in ids], config, device, dtype)
        )
    perm = torch.tensor([i for g in groups for i in g.ids], device=device)

    def objective(step: int) -> torch.Tensor:
        return torch.cat([g.step_values(*g.batch(step, num_steps)) for g in groups])

    params = [p for g in groups for p in g.parameters()]
    recorded = fit(
        objective, params, num_steps, lr=config.lr, record_every=config.record_every,
        progress=progress, desc=f"{len(runs)} runs",
    )  # fmt: skip
    table = torch.empty_like(recorded)
    table[:, perm] = recorded
    table = table.cpu().double().numpy()  # the one host copy of the run
    steps = np.arange(0, num_steps, config.record_every)
    true_mi = np.stack([s.true_mi()[steps] for s in schedules], axis=1)

    critics, baselines, states = [None] * len(runs), [None] * len(runs), [None] * len(runs)
    for g in groups:
        b = 0
        for pos, i in enumerate(g.ids):
            critics[i] = g.critic.unbatched(pos)
            if runs[i].spec.needs_baseline:
                baselines[i] = g.baseline.unbatched(b)
                b += 1
        for n, (spec, _, sl, _) in enumerate(g.slices):
            if spec.stateful and g.states[n] is not None:
                for pos in range(sl.start, sl.stop):
                    states[g.ids[pos]] = g.states[n][pos - sl.start].detach()
    frame = _results_frame(runs, schedules, steps, true_mi, table)
    compiled = [g.compile_seconds for g in groups if g.compile_seconds is not None]
    return TrainResult(
        frame, tuple(runs), tuple(critics), tuple(baselines), tuple(states),
        wall_seconds=time.perf_counter() - start, compile_seconds=compiled or None,
    )  # fmt: skip


def _results_frame(runs, schedules, steps, true_mi, table) -> pd.DataFrame:
    n_steps, n_runs = table.shape
    meta = pd.DataFrame(
        [
            dict(run_id=i, estimator=r.estimator, label=r.spec.display(**r.options),
                 critic=r.critic, task=s.name, seed=r.seed, **r.resolved_options)
            for i, (r, s) in enumerate(zip(runs, schedules, strict=True))
        ]
    )  # fmt: skip
    option_cols = sorted(set(meta.columns) - set(RESULT_COLUMNS))
    frame = pd.DataFrame(
        {
            "run_id": np.tile(np.arange(n_runs, dtype=np.int64), n_steps),
            "step": np.repeat(steps.astype(np.int64), n_runs),
            "true_mi": true_mi.reshape(-1),
            "estimate": table.reshape(-1),
        }
    ).merge(meta, on="run_id")
    for col in option_cols:
        frame[col] = frame[col].astype(np.float64)
    frame["seed"] = frame["seed"].astype(np.int64)
    columns = [*RESULT_COLUMNS[:3], *option_cols, *RESULT_COLUMNS[3:]]
    return frame.sort_values(["run_id", "step"], ignore_index=True)[columns]


def result_options(frame: pd.DataFrame) -> list[str]:
    """The option columns of a results frame (those not in :data:`RESULT_COLUMNS`)."""
    return [c for c in frame.columns if c not in RESULT_COLUMNS]
