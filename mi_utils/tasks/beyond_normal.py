r"""The tasks of the "Beyond Normal" benchmark (Czyż et al., 2023), by their benchmark names.

:func:`~mi_utils.tasks.beyond_normal_task` builds a task from a name of the ``bmi`` package, the
paper's reference
implementation, with the same parameters and true MI, so that results compare with the paper's
tables; :func:`~mi_utils.tasks.beyond_normal_tasks` builds the catalogue
:data:`~mi_utils.tasks.BEYOND_NORMAL_TASKS`, the forty
tasks of the paper, and :func:`~mi_utils.tasks.beyond_normal_title` gives their labels in its
figures. A name is
a base task, optionally behind transform prefixes, each applied to both variables unless noted:

- ``1v1-normal-ρ``: the bivariate normal with correlation ρ;
- ``1v1-additive-ε``: :class:`~mi_utils.tasks.AdditiveUniform`;
- ``1v1-bimodal-ρ``: ``1v1-normal-ρ`` through :class:`~mi_utils.tasks.GaussianMixtureQuantile`;
- ``multinormal-dense-m-n-c``, ``multinormal-sparse-m-n-k-λ``: :class:`~mi_utils.tasks.MultiNormal`
  with :func:`~mi_utils.tasks.dense_covariance`, :func:`~mi_utils.tasks.sparse_covariance`;
- ``student-identity-m-n-ν``, ``student-dense-m-n-ν-c``, ``student-sparse-m-n-ν-k-λ``:
  :class:`~mi_utils.tasks.StudentT` with the identity, dense or sparse dispersion;
- prefixes ``asinh-``, ``half_cube-``, ``normal_cdf-``: :class:`~mi_utils.tasks.Asinh`,
  :class:`~mi_utils.tasks.HalfCube`, :class:`~mi_utils.tasks.NormalCDF`;
- ``wiggly-``: :class:`~mi_utils.tasks.Wiggly`, with the benchmark's maps of :math:`x` and
  :math:`y`;
- ``spiral-``: :class:`~mi_utils.tasks.Spiral` with speed :math:`1/d`, turning the plane (0, 1)
  of :math:`x` and (1, 2) of :math:`y`;
- ``swissroll_x-``: :class:`~mi_utils.tasks.SwissRoll` on :math:`x` alone.

Every transform is injective, so every task keeps the MI of its base task, and every task has
densities (:meth:`~mi_utils.tasks.Task.log_ratio`).

Reference: Czyż, Grabowski, Vogt, Beerenwinkel & Marx (2023), "Beyond Normal: On the Evaluation
of Mutual Information Estimators", NeurIPS; ``bmi.benchmark`` (github.com/cbg-ethz/bmi).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import torch

from ..validation import check_positive
from .base import Task
from .bmi_transforms import (
    Asinh,
    GaussianMixtureQuantile,
    HalfCube,
    NormalCDF,
    Spiral,
    SwissRoll,
    Wiggly,
)
from .elliptical import MultiNormal, StudentT, dense_covariance, sparse_covariance
from .transforms import TransformedTask

__all__ = [
    "BEYOND_NORMAL_TASKS",
    "AdditiveUniform",
    "beyond_normal_task",
    "beyond_normal_tasks",
    "beyond_normal_title",
]


class AdditiveUniform(Task):
    r"""Uniform signal, uniform noise: :math:`X \sim U(0, 1)`, :math:`Y = X + N`,
    :math:`N \sim U(-\varepsilon, \varepsilon)` independent of :math:`X`.

    :math:`I = h(Y) - h(Y \mid X) = h(Y) - \log 2\varepsilon`, and :math:`p_Y(y) =
    \lvert[y-\varepsilon, y+\varepsilon]\cap[0, 1]\rvert/2\varepsilon` is a trapezoid with two
    linear ramps of width :math:`w = \min(2\varepsilon, 1)` rising to :math:`w/2\varepsilon`.
    Each ramp contributes :math:`-\int_0^w \tfrac s{2\varepsilon}\log\tfrac s{2\varepsilon}\,ds`
    to :math:`h(Y)` and the flat part :math:`-\lvert 1 - 2\varepsilon\rvert\,\tfrac w{2\varepsilon}
    \log\tfrac w{2\varepsilon}`, which gives

    .. math::

        I(X;Y) = \begin{cases} \varepsilon - \log 2\varepsilon, & \varepsilon \le \tfrac12,\\
        1/(4\varepsilon), & \varepsilon > \tfrac12. \end{cases}

    :math:`\log p(y \mid x) = -\log 2\varepsilon` for :math:`|y - x| < \varepsilon`, else
    :math:`-\infty`: score matrices hold :math:`-\infty` off the support (never NaN).

    Args:
        epsilon: the noise half-width :math:`\varepsilon > 0`, finite.
        name: the task's name (default: the benchmark's ``"1v1-additive-ε"``).

    Reference: Czyż et al. (2023); ``bmi.samplers.AdditiveUniformSampler`` (same formula).
    """

    x_dim = 1
    y_dim = 1

    def __init__(self, epsilon: float, *, name: str | None = None):
        self.epsilon = check_positive(epsilon, "epsilon")
        if not math.isfinite(self.epsilon):
            raise ValueError(f"epsilon must be a finite real number > 0; got {self.epsilon}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None; got {type(name).__name__}")
        self._name = name or f"1v1-additive-{self.epsilon}"

    @property
    def name(self) -> str:
        """The ``name`` given, else ``"1v1-additive-ε"``."""
        return self._name

    @property
    def mi(self) -> float:
        """:math:`\\varepsilon - \\log 2\\varepsilon` (:math:`\\varepsilon \\le 1/2`), else
        :math:`1/4\\varepsilon`, in nats."""
        eps = self.epsilon
        return 0.25 / eps if eps > 0.5 else eps - math.log(2.0 * eps)

    def sample(self, num_samples, *, batch_shape=(), generator=None, device=None, dtype=None):
        """``(x, y)`` from one uniform draw ``[..., K, 2]``."""
        shape, dtype = self._sample_args(num_samples, batch_shape, generator, dtype)
        u = torch.rand((*shape, 2), generator=generator, device=device, dtype=dtype)
        x = u[..., :1]
        return x, x + self.epsilon * (2.0 * u[..., 1:] - 1.0)

    def log_marginal(self, y: torch.Tensor) -> torch.Tensor:
        y = self._check_y(y)[..., 0]
        eps = self.epsilon
        overlap = torch.minimum(y + eps, y.new_ones(())) - torch.clamp_min(y - eps, 0.0)
        return torch.log(overlap.clamp_min(0.0)) - math.log(2.0 * eps)

    def _inside(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = self._check_x(x), self._check_y(y)
        return (y[..., :, None, 0] - x[..., None, :, 0]).abs() < self.epsilon

    def log_conditional(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        inside = self._inside(x, y)
        value = torch.full_like(inside, -math.log(2.0 * self.epsilon), dtype=y.dtype)
        return value.masked_fill(~inside, -math.inf)

    def log_ratio(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Scores :math:`\\log p(y_i|x_j) - \\log p(y_i)`, :math:`-\\infty` off the support."""
        inside = self._inside(x, y)
        ratio = -math.log(2.0 * self.epsilon) - self.log_marginal(y)[..., :, None]
        return ratio.masked_fill(~inside, -math.inf)

    def __repr__(self) -> str:
        return f"AdditiveUniform(epsilon={self.epsilon!r})"


# ----------------------------------------------------------------------------- the catalogue
#: The forty tasks of Czyż et al. (2023), in the order of ``bmi.benchmark.BENCHMARK_TASKS``.
BEYOND_NORMAL_TASKS: tuple[str, ...] = (
    "1v1-normal-0.75",
    "normal_cdf-1v1-normal-0.75",
    "1v1-additive-0.1",
    "1v1-additive-0.75",
    "1v1-bimodal-0.75",
    "wiggly-1v1-normal-0.75",
    "half_cube-1v1-normal-0.75",
    "student-identity-1-1-1",
    "asinh-student-identity-1-1-1",
    "swissroll_x-normal_cdf-1v1-normal-0.75",
    *(f"multinormal-dense-{d}-{d}-0.5" for d in (2, 3, 5, 25, 50)),
    *(f"multinormal-sparse-{d}-{d}-2-2.0" for d in (2, 3, 5, 25)),
    *(f"student-identity-{d}-{d}-{df}"
      for d, df in ((2, 1), (2, 2), (3, 2), (3, 3), (5, 2), (5, 3))),
    *(f"{t}-multinormal-sparse-{d}-{d}-2-2.0" for t in ("normal_cdf", "half_cube", "spiral",
                                                       "spiral-normal_cdf") for d in (3, 5, 25)),
    *(f"asinh-student-identity-{d}-{d}-{df}" for d, df in ((2, 1), (3, 2), (5, 2))),
)  # fmt: skip

_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_INT = r"(\d+)"
#: The benchmark's wiggly maps of x and y: amplitudes, frequencies, phases.
_WIGGLY_X = ((0.4, 0.2, 0.03), (1.0, 1.7, 3.3), (0.0, 1.0, -2.5))
_WIGGLY_Y = ((-0.4, 0.17, 0.02), (0.4, 1.3, 4.3), (0.0, 3.5, -2.5))


def _pair_label(k: int) -> str:
    return "2-pair" if k == 2 else "sparse"


def _base(name: str) -> tuple[Task, str]:
    """The untransformed task of a benchmark name, and its title."""
    pats = {
        "normal": rf"1v1-normal-{_NUM}",
        "additive": rf"1v1-additive-{_NUM}",
        "bimodal": rf"1v1-bimodal-{_NUM}",
        "mn-dense": rf"multinormal-dense-{_INT}-{_INT}-{_NUM}",
        "mn-sparse": rf"multinormal-sparse-{_INT}-{_INT}-{_INT}-{_NUM}",
        "st-identity": rf"student-identity-{_INT}-{_INT}-{_INT}",
        "st-dense": rf"student-dense-{_INT}-{_INT}-{_INT}-{_NUM}",
        "st-sparse": rf"student-sparse-{_INT}-{_INT}-{_INT}-{_INT}-{_NUM}",
    }
    kind, g = next(((k, m.groups()) for k, p in pats.items() if (m := re.fullmatch(p, name))),
                   (None, ()))  # fmt: skip
    ints = [int(v) for v in (g if kind == "st-identity" else g[:-1])]  # then a number
    num = float(g[-1]) if g else 0.0
    if kind == "normal":
        return MultiNormal([[num]], 1, 1, name=f"1v1-normal-{num}"), "Bivariate normal 1 × 1"
    if kind == "additive":
        return AdditiveUniform(num), f"Uniform 1 × 1 (additive noise={num})"
    if kind == "bimodal":
        task = TransformedTask(
            MultiNormal([[num]], 1, 1),
            x_transform=GaussianMixtureQuantile((0.3, 0.7), (0.0, 5.0)),
            y_transform=GaussianMixtureQuantile((0.5, 0.5), (-1.0, 3.0)),
            name=f"1v1-bimodal-{num}",
        )
        return task, "Bimodal 1 × 1"
    if kind is None:
        raise ValueError(
            "name must be a Beyond Normal task name, such as '1v1-normal-0.75' or "
            f"'spiral-multinormal-sparse-5-5-2-2.0' (see BEYOND_NORMAL_TASKS); got {name!r}"
        )
    m, n = ints[0], ints[1]
    if kind == "st-identity":
        df = ints[2]
        task = StudentT(torch.eye(m + n), m, n, df, name=f"student-identity-{m}-{n}-{df}")
        return task, f"Student-t {m} × {n} (dof={df})"
    family, structure = kind.split("-")
    if structure == "dense":
        cov, label, params = dense_covariance(m, n, num), "dense", f"{num}"
    else:
        k = ints[-1]
        cov, label, params = sparse_covariance(m, n, k, num), _pair_label(k), f"{k}-{num}"
    if family == "mn":
        task = MultiNormal(cov, m, n, name=f"multinormal-{structure}-{m}-{n}-{params}")
        return task, f"Multinormal {m} × {n} ({label})"
    df = ints[2]
    task = StudentT(cov, m, n, df, name=f"student-{structure}-{m}-{n}-{df}-{params}")
    return task, f"Student-t {m} × {n} (dof={df}, {label})"


def _spiral(task: Task) -> tuple[Spiral, Spiral]:
    if task.x_dim < 2 or task.y_dim < 3:
        raise ValueError(
            f"name: spiral- needs x_dim >= 2 and y_dim >= 3; got {task.x_dim} and {task.y_dim}"
        )
    return Spiral(task.x_dim, 1.0 / task.x_dim, (0, 1)), Spiral(
        task.y_dim, 1.0 / task.y_dim, (1, 2)
    )


def _swissroll(task: Task) -> tuple[SwissRoll, None]:
    if task.x_dim != 1:
        raise ValueError(f"name: swissroll_x- needs x_dim = 1; got {task.x_dim}")
    return SwissRoll(), None


#: name prefix -> (title prefix, the (x, y) transforms for a base task)
_PREFIXES = {
    "asinh": ("Asinh", lambda t: (Asinh(), Asinh())),
    "half_cube": ("Half-cube", lambda t: (HalfCube(), HalfCube())),
    "normal_cdf": ("Normal CDF", lambda t: (NormalCDF(), NormalCDF())),
    "wiggly": ("Wiggly", lambda t: (Wiggly(*_WIGGLY_X), Wiggly(*_WIGGLY_Y))),
    "spiral": ("Spiral", _spiral),
    "swissroll_x": ("Swiss roll", _swissroll),
}


def _build(name: str) -> tuple[Task, str]:
    prefix, _, rest = name.partition("-")
    if prefix not in _PREFIXES:
        return _base(name)
    base, base_title = _build(rest)
    title, transforms = _PREFIXES[prefix]
    x_transform, y_transform = transforms(base)
    task = TransformedTask(
        base, x_transform=x_transform, y_transform=y_transform, name=f"{prefix}-{base.name}"
    )
    if prefix == "swissroll_x":
        return task, f"Swiss roll {task.x_dim} × {task.y_dim}"
    return task, f"{title} @ {base_title}"


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, a Beyond Normal task name; got {type(name).__name__}")
    return name


def beyond_normal_task(name: str) -> Task:
    """The Beyond Normal task named ``name`` (a name of ``bmi``, see the table above).

    The returned task's :attr:`~mi_utils.tasks.Task.name` is ``name`` with its numbers written
    as ``bmi`` writes them (``"1v1-additive-.1"`` gives ``"1v1-additive-0.1"``), its
    :attr:`~mi_utils.tasks.Task.mi` the closed form of its base task.

    Raises:
        ValueError: for a name that is not one, or a transform that does not fit the dimensions
            (``spiral-`` needs :math:`x` of dimension >= 2 and :math:`y` >= 3, ``swissroll_x-`` a
            1-dimensional :math:`x`).
    """
    return _build(_check_name(name))[0]


def beyond_normal_title(name: str) -> str:
    """The label of task ``name`` in the paper's figures, such as ``"Multinormal 5 × 5
    (2-pair)"`` or ``"Asinh @ Student-t 1 × 1 (dof=1)"`` (``bmi``'s ``task_name``)."""
    return _build(_check_name(name))[1]


def beyond_normal_tasks(names: Iterable[str] | None = None) -> dict[str, Task]:
    """``{name: task}`` for ``names`` (default: :data:`~mi_utils.tasks.BEYOND_NORMAL_TASKS`, the
    forty tasks of
    the paper), keyed by each task's :attr:`~mi_utils.tasks.Task.name`."""
    if names is None:
        names = BEYOND_NORMAL_TASKS
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise TypeError(f"names must be an iterable of task names or None; got {names!r}")
    tasks = [beyond_normal_task(n) for n in names]
    return {t.name: t for t in tasks}
