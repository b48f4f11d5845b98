r"""MI-preserving transforms and the tasks they make.

For invertible maps :math:`g_1, g_2`, :math:`I(g_1(X); g_2(Y)) = I(X; Y)`: the MI of a task is
unchanged while its densities, and so its optimal critic, change shape. A :class:`Transform` is
a smooth bijection of :math:`\mathbb R^d`; :class:`TransformedTask` applies one to ``x``, ``y`` or
both of any :class:`~mi_utils.tasks.Task` and carries the densities through the change of
variables,

.. math::

    \log p_{g(Y)}(y') = \log p_Y(g^{-1}(y')) - \log\lvert\det J_g(g^{-1}(y'))\rvert ,

while the log density ratio is unchanged (the Jacobians cancel).

The paper's *cubic* task is the correlated Gaussian observed through :class:`Cube`,
:math:`y \mapsto y^3` coordinate by coordinate (Poole et al., 2019, Sec. 5). Its optimal critic
is still a sum over coordinates; :class:`MixedCube`, :math:`y \mapsto (W y)^3` with a random
full-rank :math:`W`, keeps the MI and removes that separability (for a non-orthogonal
:math:`W`, no rotation of :math:`x` restores it).
"""

from __future__ import annotations

import math

import torch

from ..validation import check_generator, check_int, check_real, check_samples
from .base import Task

__all__ = ["Cube", "MixedCube", "Transform", "TransformedTask", "cubic"]


class Transform:
    """A smooth bijection of :math:`\\mathbb R^d` acting on the last dimension of a tensor.

    Subclasses implement :meth:`forward`, :meth:`inverse` and :meth:`log_abs_det_jacobian`.
    A transform may also be an injective embedding :math:`\\mathbb R^d \\to \\mathbb R^{d'}`
    (it overrides :meth:`output_dim`; its :meth:`inverse` is then a left inverse on the image),
    or forward-only: the methods it leaves out raise :class:`NotImplementedError`, and so do
    the density methods of a :class:`TransformedTask` that would need them.

    Attributes:
        name: a short name for task names.
        input_dim: the dimension :math:`d` it acts on, or ``None`` for any.
    """

    name = "transform"
    input_dim: int | None = None

    def output_dim(self, dim: int) -> int:
        """The dimension of :math:`g(z)` for ``z`` of dimension ``dim`` (default: ``dim``)."""
        return dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """:math:`g(z)`, shape ``[..., output_dim(d)]`` from ``z`` ``[..., d]``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """:math:`g^{-1}(y)`, shape ``[..., d]`` from ``y`` ``[..., output_dim(d)]``."""
        raise NotImplementedError(f"{type(self).__name__} has no inverse")

    def log_abs_det_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        r""":math:`\log\lvert\det J_g(z)\rvert`, shape ``[...]`` from ``z`` ``[..., d]``."""
        raise NotImplementedError(f"{type(self).__name__} has no Jacobian determinant")

    def inverse_and_log_det(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""``(z, log|det J_g(z)|)`` with :math:`z = g^{-1}(y)`: what a change of variables needs.

        The default calls :meth:`inverse`, then :meth:`log_abs_det_jacobian`; a subclass
        overrides it where ``y`` gives the log-determinant more accurately.
        """
        z = self.inverse(y)
        return z, self.log_abs_det_jacobian(z)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.forward(z)


def _cube_root(y: torch.Tensor) -> torch.Tensor:
    return torch.sign(y) * y.abs().pow(1.0 / 3.0)


class Cube(Transform):
    r"""Elementwise cube :math:`y \mapsto y^3` (the paper's cubic task).

    :math:`\log\lvert\det J\rvert = \sum_k \log(3 z_k^2)`.
    """

    name = "cubic"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * z * z

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return _cube_root(y)

    def log_abs_det_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        return (math.log(3.0) + 2.0 * torch.log(z.abs())).sum(-1)

    def __repr__(self) -> str:
        return "Cube()"


class MixedCube(Transform):
    r"""Mix, then cube: :math:`y \mapsto (W y)^3` with a full-rank :math:`W` ``[d, d]``.

    :math:`\log\lvert\det J\rvert = \log\lvert\det W\rvert + \sum_k \log(3 (W z)_k^2)`.
    :meth:`random` draws :math:`W = Q_1 \operatorname{diag}(s) Q_2` with random orthogonal
    :math:`Q_1, Q_2` and singular values :math:`s` spread geometrically over a given condition
    number (every output coordinate depends on every input one, and :math:`|\det W| = 1`).

    Args:
        weight: the mixing matrix :math:`W`, a full-rank floating tensor ``[d, d]``.
    """

    name = "mixed-cubic"

    def __init__(self, weight: torch.Tensor):
        if not isinstance(weight, torch.Tensor) or not weight.is_floating_point():
            raise TypeError(f"weight must be a floating torch.Tensor [d, d]; got {weight!r}")
        if weight.dim() != 2 or weight.shape[0] != weight.shape[1]:
            raise ValueError(f"weight must be square [d, d]; got shape {tuple(weight.shape)}")
        w = weight.detach().to(torch.float64).cpu()
        sign, logdet = torch.linalg.slogdet(w)
        if sign == 0 or not math.isfinite(logdet.item()) or torch.linalg.cond(w) > 1e8:
            raise ValueError("weight must be a well-conditioned full-rank matrix (cond < 1e8)")
        self.weight, self.weight_inv = w, torch.linalg.inv(w)
        self.log_abs_det_w = logdet.item()

    @classmethod
    def random(
        cls, dim: int, *, generator: torch.Generator | None = None, condition: float = 4.0
    ) -> MixedCube:
        r"""A :class:`MixedCube` with :math:`W = Q_1 \operatorname{diag}(s) Q_2`.

        :math:`Q_1, Q_2` are Haar-distributed orthogonal matrices (QR of Gaussian matrices drawn
        from ``generator``, on its device) and :math:`s_k = c^{(k - (d-1)/2)/(d-1)}` spreads the
        singular values geometrically between :math:`c^{-1/2}` and :math:`c^{1/2}`, so
        :math:`\operatorname{cond}(W) = c` and :math:`|\det W| = 1`. With ``condition=1``,
        :math:`W` is orthogonal, and the mixed task is the coordinate-wise cubic task with
        :math:`x` rotated; with :math:`c > 1` the noise of :math:`W y` has the non-isotropic
        covariance :math:`(1-\rho^2) W W^\top` and no rotation restores the pairing.

        Args:
            dim: dimension ``d``.
            generator: the source of randomness (the global RNG when ``None``).
            condition: the condition number :math:`c \ge 1` of :math:`W`, at most 1e6.
        """
        dim = check_int(dim, "dim")
        check_generator(generator)
        c = check_real(condition, "condition", 1.0, 1e6)
        draw_on = generator.device if generator is not None else torch.device("cpu")

        def haar() -> torch.Tensor:
            a = torch.randn(dim, dim, generator=generator, device=draw_on, dtype=torch.float64)
            q, r = torch.linalg.qr(a.cpu())
            return q * torch.sign(torch.diagonal(r))

        q1, q2 = haar(), haar()
        k = torch.arange(dim, dtype=torch.float64)
        s = c ** ((k - (dim - 1) / 2) / max(dim - 1, 1))
        return cls(q1 @ torch.diag(s) @ q2)

    def _w(self, like: torch.Tensor, inverse: bool = False) -> torch.Tensor:
        w = self.weight_inv if inverse else self.weight
        return w.to(device=like.device, dtype=like.dtype)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        u = z @ self._w(z).T
        return u * u * u

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return _cube_root(y) @ self._w(y, inverse=True).T

    def log_abs_det_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        u = z @ self._w(z).T
        return self.log_abs_det_w + (math.log(3.0) + 2.0 * torch.log(u.abs())).sum(-1)

    def inverse_and_log_det(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # u = W z is y^(1/3) exactly: taken from y, not recomputed from z = W^-1 y^(1/3), whose
        # rounding would swamp a small u_k (and give log 0 = -inf when it cancels to zero).
        u = _cube_root(y)
        z = u @ self._w(y, inverse=True).T
        return z, self.log_abs_det_w + (math.log(3.0) + 2.0 * torch.log(u.abs())).sum(-1)

    def __repr__(self) -> str:
        return f"MixedCube(dim={self.weight.shape[0]})"


def _output_dim(transform: Transform | None, dim: int, arg: str, dim_name: str) -> int:
    if transform is None:
        return dim
    if transform.input_dim is not None and transform.input_dim != dim:
        raise ValueError(
            f"{arg} acts on {transform.input_dim}-dimensional vectors; got task.{dim_name}={dim}"
        )
    return transform.output_dim(dim)


class TransformedTask(Task):
    r"""A task observed through invertible transforms: :math:`(g_x(X), g_y(Y))`, same MI.

    Args:
        task: the underlying :class:`~mi_utils.tasks.Task`.
        x_transform, y_transform: a :class:`Transform` each (``None`` leaves that side
            unchanged).
        name: the task's name (default: the names of the transforms and of ``task`` joined by
            ``-``, such as ``"cubic-gaussian"``).

    A transform that changes the dimension changes ``x_dim`` or ``y_dim``. The density methods
    need :meth:`Transform.inverse` of both transforms and the Jacobian of ``y_transform``; where a
    transform lacks them, they raise :class:`NotImplementedError`.
    """

    def __init__(self, task: Task, *, x_transform=None, y_transform=None, name=None):
        if not isinstance(task, Task):
            raise TypeError(f"task must be a mi_utils.tasks.Task; got {type(task).__name__}")
        for arg, t in (("x_transform", x_transform), ("y_transform", y_transform)):
            if t is not None and not isinstance(t, Transform):
                raise TypeError(f"{arg} must be a Transform or None; got {type(t).__name__}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None; got {type(name).__name__}")
        self.task, self.x_transform, self.y_transform = task, x_transform, y_transform
        self.x_dim = _output_dim(x_transform, task.x_dim, "x_transform", "x_dim")
        self.y_dim = _output_dim(y_transform, task.y_dim, "y_transform", "y_dim")
        self.mi_error = task.mi_error
        parts = [t.name for t in (x_transform, y_transform) if t is not None]
        self._name = name or "-".join([*parts, task.name])

    @property
    def mi(self) -> float:
        """The MI of the underlying task (injective transforms preserve it)."""
        return self.task.mi

    @property
    def name(self) -> str:
        """The ``name`` given, else the names of the transforms and of the task joined by ``-``."""
        return self._name

    @property
    def entropy_x(self) -> float:
        """:math:`h(X)` of the underlying task (only without an ``x_transform``)."""
        if self.x_transform is not None:
            raise AttributeError("entropy_x is unknown once x is transformed")
        return self.task.entropy_x

    def sample(self, num_samples, *, batch_shape=(), generator=None, device=None, dtype=None):
        """Samples of the underlying task, passed through the transforms."""
        x, y = self.task.sample(
            num_samples, batch_shape=batch_shape, generator=generator, device=device, dtype=dtype
        )
        if self.x_transform is not None:
            x = self.x_transform.forward(x)
        if self.y_transform is not None:
            y = self.y_transform.forward(y)
        return x, y

    def _inv(self, x=None, y=None):
        if x is not None:
            x = check_samples(x, "x", self.x_dim)
            x = self.x_transform.inverse(x) if self.x_transform is not None else x
        if y is not None:
            y = check_samples(y, "y", self.y_dim)
            y = self.y_transform.inverse(y) if self.y_transform is not None else y
        return x, y

    def _inv_y(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z, log|det J(z)|)`` for ``z`` the preimage of ``y``."""
        y = check_samples(y, "y", self.y_dim)
        if self.y_transform is None:
            return y, torch.zeros(y.shape[:-1], device=y.device, dtype=y.dtype)
        return self.y_transform.inverse_and_log_det(y)

    def log_marginal(self, y: torch.Tensor) -> torch.Tensor:
        z, log_jac = self._inv_y(y)
        return self.task.log_marginal(z) - log_jac

    def log_conditional(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        u, _ = self._inv(x=x)
        z, log_jac = self._inv_y(y)
        return self.task.log_conditional(u, z) - log_jac[..., :, None]

    def log_ratio(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        u, z = self._inv(x, y)
        return self.task.log_ratio(u, z)

    def __repr__(self) -> str:
        return (
            f"TransformedTask({self.task!r}, x_transform={self.x_transform!r}, "
            f"y_transform={self.y_transform!r})"
        )


def cubic(
    task: Task, *, mix: bool = False, generator: torch.Generator | None = None
) -> TransformedTask:
    r"""``task`` observed through :math:`y \mapsto y^3` (or :math:`(W y)^3` with ``mix=True``).

    The plain cube of the correlated Gaussian is the cubic task of Poole et al. (2019, Sec. 5),
    named ``"cubic"``; the mixed one (:meth:`MixedCube.random`, drawn from ``generator``) is
    ``"mixed-cubic"``. Other tasks get ``"cubic-<name>"``.
    """
    if not isinstance(task, Task):
        raise TypeError(f"task must be a mi_utils.tasks.Task; got {type(task).__name__}")
    if not isinstance(mix, bool):
        raise TypeError(f"mix must be a bool; got {type(mix).__name__}")
    transform = MixedCube.random(task.y_dim, generator=generator) if mix else Cube()
    name = transform.name if task.name == "gaussian" else f"{transform.name}-{task.name}"
    return TransformedTask(task, y_transform=transform, name=name)
