r"""The :class:`Task` protocol: a joint distribution :math:`p(x, y)` with a known MI.

A task knows the dimensions of :math:`x` and :math:`y`, its true MI in nats and draws
``[..., K, d]`` batches of joint samples from a :class:`torch.Generator`. Where the densities are
known it also exposes the log density ratio :math:`\log p(y\mid x)/p(y)` (the optimal critic of
every bound), the conditional :math:`\log p(y\mid x)` and the marginal :math:`\log p(y)`, as
score matrices in the library's convention ``scores[..., i, j] = f(x_j, y_i)``.

A new task is one subclass: set ``x_dim`` and ``y_dim``, implement
:attr:`~mi_utils.tasks.Task.mi` and :meth:`~mi_utils.tasks.Task.sample`; the trainer,
:func:`mi_utils.train.train`, needs nothing else.
"""

from __future__ import annotations

import abc

import torch

from ..validation import check_dtype, check_generator, check_int, check_samples

__all__ = ["Task", "check_task"]


class Task(abc.ABC):
    r"""A joint distribution :math:`p(x, y)` whose mutual information is known.

    Subclasses set the integer attributes ``x_dim`` and ``y_dim`` and implement :attr:`mi` and
    :meth:`sample`. The density methods are optional: the default ones raise
    :class:`NotImplementedError`.

    Attributes:
        x_dim: dimension of :math:`x`.
        y_dim: dimension of :math:`y`.
        mi_error: the numerical error of :attr:`mi` in nats (0 when :attr:`mi` is exact).
    """

    x_dim: int
    y_dim: int
    mi_error: float = 0.0

    @property
    @abc.abstractmethod
    def mi(self) -> float:
        """The true mutual information :math:`I(X;Y)` in nats."""

    @property
    def name(self) -> str:
        """A short name for tables and figures; by default the class name in lower case."""
        return type(self).__name__.lower()

    @abc.abstractmethod
    def sample(
        self,
        num_samples: int,
        *,
        batch_shape: tuple[int, ...] = (),
        generator: torch.Generator | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw joint samples ``(x, y)`` of shapes ``[*batch_shape, num_samples, x_dim]`` and
        ``[*batch_shape, num_samples, y_dim]``, from ``generator`` alone (never the global RNG
        when a generator is given), on ``device`` (default CPU) in ``dtype`` (default
        ``torch.get_default_dtype()``)."""

    # ------------------------------------------------------------------ optional densities
    def log_marginal(self, y: torch.Tensor) -> torch.Tensor:
        r""":math:`\log p(y_i)`, shape ``[..., K]`` from ``y`` ``[..., K, y_dim]``."""
        raise NotImplementedError(f"{type(self).__name__} does not know its marginal density")

    def log_conditional(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r"""Score matrix :math:`\log p(y_i\mid x_j)`, shape ``[..., K, K]``."""
        raise NotImplementedError(f"{type(self).__name__} does not know its conditional density")

    def log_ratio(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r"""The optimal critic :math:`f^*(x_j, y_i) = \log p(y_i\mid x_j) - \log p(y_i)`,
        shape ``[..., K, K]``. Default: :meth:`log_conditional` minus :meth:`log_marginal`."""
        return self.log_conditional(x, y) - self.log_marginal(y)[..., :, None]

    # ------------------------------------------------------------------ helpers for subclasses
    def _sample_args(self, num_samples, batch_shape, generator, dtype) -> tuple:
        """Validate the arguments of :meth:`sample`; returns ``(shape, dtype)``."""
        num_samples = check_int(num_samples, "num_samples")
        if not isinstance(batch_shape, (tuple, list)):
            raise TypeError(
                f"batch_shape must be a tuple of ints >= 1; got {type(batch_shape).__name__}"
            )
        batch_shape = tuple(check_int(n, "batch_shape") for n in batch_shape)
        check_generator(generator)
        dtype = check_dtype(dtype) or torch.get_default_dtype()
        return (*batch_shape, num_samples), dtype

    def _check_x(self, x: object) -> torch.Tensor:
        return check_samples(x, "x", self.x_dim)

    def _check_y(self, y: object) -> torch.Tensor:
        return check_samples(y, "y", self.y_dim)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(x_dim={self.x_dim}, y_dim={self.y_dim}, mi={self.mi:.4g})"


def check_task(task: object, name: str = "task") -> Task:
    """``task`` must be a :class:`Task` (or a :class:`~mi_utils.tasks.Schedule` of tasks)."""
    from .schedule import Schedule

    if not isinstance(task, (Task, Schedule)):
        raise TypeError(
            f"{name} must be a mi_utils.tasks.Task or Schedule; got {type(task).__name__}"
        )
    return task
