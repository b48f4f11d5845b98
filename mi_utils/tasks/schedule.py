r"""A task whose MI follows a schedule: the paper's MI staircase.

A :class:`Schedule` is a sequence of segments ``(task, num_steps)``: training step ``t`` draws
its batch from the task of the segment that contains ``t``. The staircase of Poole et al.
(2019, Fig. 2) is :meth:`~mi_utils.tasks.Schedule.staircase`: 2, 4, 6, 8, 10 nats, a fixed
number of steps each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..validation import check_int, check_real
from .base import Task

__all__ = ["STAIRCASE_LEVELS", "Schedule"]

#: The MI levels (nats) of the paper's staircase.
STAIRCASE_LEVELS: tuple[float, ...] = (2.0, 4.0, 6.0, 8.0, 10.0)


class Schedule:
    """A sequence of tasks, each trained for a number of steps.

    Every task must share ``x_dim`` and ``y_dim``. Build it with :meth:`fixed` (one task),
    :meth:`staircase` (a family of tasks at given MI levels) or directly from
    ``[(task, num_steps), ...]``.

    Args:
        segments: a non-empty sequence of ``(task, num_steps)`` pairs.
        name: a name for tables (default: the first task's name).
    """

    def __init__(self, segments: Sequence[tuple[Task, int]], *, name: str | None = None):
        if not isinstance(segments, (list, tuple)) or not segments:
            raise ValueError("segments must be a non-empty sequence of (task, num_steps) pairs")
        checked = []
        for seg in segments:
            if not (isinstance(seg, (tuple, list)) and len(seg) == 2):
                raise TypeError(f"segments must hold (task, num_steps) pairs; got {seg!r}")
            task, n = seg
            if not isinstance(task, Task):
                raise TypeError(
                    f"segments must hold mi_utils.tasks.Task; got {type(task).__name__}"
                )
            checked.append((task, check_int(n, "num_steps")))
        dims = {(t.x_dim, t.y_dim) for t, _ in checked}
        if len(dims) != 1:
            raise ValueError(f"the tasks of a schedule must share x_dim and y_dim; got {dims}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None; got {type(name).__name__}")
        self.segments = tuple(checked)
        ((self.x_dim, self.y_dim),) = dims
        self.name = name or checked[0][0].name
        self._ends = np.cumsum([n for _, n in checked])
        self._levels: tuple[float, ...] | None = None

    @classmethod
    def fixed(cls, task: Task, num_steps: int) -> Schedule:
        """Train on one task for ``num_steps`` steps."""
        return cls([(task, num_steps)])

    @classmethod
    def staircase(
        cls,
        make_task: Callable[[float], Task],
        steps_per_level: int,
        levels: Sequence[float] = STAIRCASE_LEVELS,
        *,
        name: str | None = None,
    ) -> Schedule:
        """``steps_per_level`` steps on ``make_task(mi)`` for each MI level (nats).

        Example: ``Schedule.staircase(lambda mi: CorrelatedGaussian.from_mi(mi, 20), 4000)``
        is the Gaussian staircase of Poole et al. (2019, Fig. 2).
        """
        if not callable(make_task):
            raise TypeError("make_task must be a callable mapping an MI (nats) to a Task")
        if not isinstance(levels, (list, tuple)) or not levels:
            raise ValueError(f"levels must be a non-empty sequence of MI values; got {levels!r}")
        levels = [check_real(v, "levels", 0.0, 1e3) for v in levels]
        n = check_int(steps_per_level, "steps_per_level")
        schedule = cls([(make_task(mi), n) for mi in levels], name=name)
        schedule._levels = tuple(levels)  # the requested values, free of float round trips
        return schedule

    @property
    def num_steps(self) -> int:
        """Total number of steps."""
        return int(self._ends[-1])

    @property
    def levels(self) -> tuple[float, ...]:
        """The true MI of each segment, nats."""
        return self._levels or tuple(float(t.mi) for t, _ in self.segments)

    def true_mi(self) -> np.ndarray:
        """The true MI (nats) at each step, shape ``[num_steps]``."""
        return np.repeat(np.asarray(self.levels, dtype=np.float64), [n for _, n in self.segments])

    def sample_steps(
        self,
        start: int,
        num_steps: int,
        num_samples: int,
        *,
        generator=None,
        device=None,
        dtype=None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Batches for steps ``start .. start + num_steps - 1``: ``[num_steps, K, d]`` each.

        One draw per segment that the steps touch, in step order, from ``generator``.
        """
        stop = start + num_steps
        if not (0 <= start < stop <= self.num_steps):
            raise ValueError(f"steps {start}..{stop - 1} lie outside 0..{self.num_steps - 1}")
        xs, ys, begin = [], [], 0
        for (task, _), end in zip(self.segments, self._ends, strict=True):
            lo, hi = max(start, begin), min(stop, int(end))
            if lo < hi:
                x, y = task.sample(
                    num_samples, batch_shape=(hi - lo,), generator=generator, device=device,
                    dtype=dtype,
                )  # fmt: skip
                xs.append(x)
                ys.append(y)
            begin = int(end)
        return torch.cat(xs), torch.cat(ys)

    def __repr__(self) -> str:
        return f"Schedule(name={self.name!r}, levels={self.levels}, num_steps={self.num_steps})"
