r"""Log-baselines :math:`\log a(y)` of the TUBA and interpolated bounds, single and batched.

A baseline maps ``y`` ``[..., K, y_dim]`` to :math:`\log a(y_i)` of shape ``[..., K]``, the
``log_baseline`` argument of :func:`mi_utils.bounds.tuba_lower_bound` and of the interpolated
bound. Each ``Batched*`` baseline takes ``num_runs`` first, then the arguments of its single
twin, and maps ``[R, K, d] -> [R, K]`` in one pass; ``from_modules`` and ``unbatched(r)``
convert as for the critics (:mod:`mi_utils.nn.layers`).

Reference: Poole et al. (2019), Sec. 2 (TUBA; :math:`\log a \equiv 1` gives NWJ, and the bound
is tight at the optimal critic with :math:`a(y) = p(y)`).
"""

from __future__ import annotations

import math
from numbers import Real

import torch
from torch import nn

from ..validation import check_choice, check_int, check_module_config, check_module_input
from .layers import ACTIVATIONS, BatchedModule, Module, mlp_for

__all__ = [
    "BASELINE_KINDS",
    "BatchedConstantBaseline",
    "BatchedMLPBaseline",
    "ConstantBaseline",
    "MLPBaseline",
    "TrueMarginalBaseline",
    "make_baseline",
]

#: The baselines of :func:`make_baseline`, a learned constant, a learned MLP or the task's log p(y).
BASELINE_KINDS: tuple[str, ...] = ("constant", "mlp", "true")


class ConstantBaseline(Module):
    r"""Constant log-baseline :math:`\log a(y) = c`: one learned scalar ``log_a``.

    Returns ``[..., K]`` from ``y`` ``[..., K, d]`` (``d`` is not checked).
    """

    num_runs: int | None = None

    def __init__(self, init: float = 0.0, *, generator=None, device=None, dtype=None):
        """A constant baseline starting at ``log_a = init``.

        Args:
            init: the initial :math:`c`, a finite real number.
            generator: accepted for uniformity with the other modules; unused.
            device, dtype: of ``log_a`` (``dtype`` floating).
        """
        super().__init__()
        self.config = check_module_config(generator, dtype)
        if isinstance(init, bool) or not isinstance(init, Real):
            raise TypeError(f"init must be a finite real number; got {type(init).__name__}")
        if not math.isfinite(init):
            raise ValueError(f"init must be a finite real number; got {init}")
        shape = () if self.num_runs is None else (self.num_runs,)
        self.log_a = nn.Parameter(torch.full(shape, float(init), device=device, dtype=dtype))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        r""":math:`\log a(y_i) = c`, shape ``[..., K]``."""
        y = check_module_input("y", y, None, self.num_runs, self.log_a)
        return self.log_a.unsqueeze(-1).expand(y.shape[:-1])


class BatchedConstantBaseline(BatchedModule, ConstantBaseline):
    """``R`` independent :class:`ConstantBaseline` s, ``log_a`` ``[R]``: ``[R, K, d] -> [R, K]``."""

    single_cls = ConstantBaseline


class MLPBaseline(Module):
    r"""Learned log-baseline :math:`\log a(y) = \mathrm{MLP}(y)`: ``[..., K, y_dim] -> [..., K]``.

    Reference: Poole et al. (2019), Sec. 2, the baselines of TUBA and of the interpolated
    bound :math:`I_\alpha`.
    """

    num_runs: int | None = None

    def __init__(
        self,
        y_dim: int,
        hidden_dim: int = 256,
        num_layers: int = 2,
        activation: str = "relu",
        *,
        generator=None,
        device=None,
        dtype=None,
    ):
        """An MLP baseline with a scalar output.

        Args:
            y_dim: dimension of :math:`y`, an int >= 1.
            hidden_dim: units of each hidden layer, an int >= 1.
            num_layers: hidden layers, an int >= 1.
            activation: ``"relu"``, ``"tanh"``, ``"elu"`` or ``"softplus"``.
            generator: ``torch.Generator`` for the initial weights, or ``None`` (the global
                RNG).
            device, dtype: of the parameters (``dtype`` floating).
        """
        super().__init__()
        self.config = check_module_config(
            generator, dtype, y_dim=y_dim, hidden_dim=hidden_dim, num_layers=num_layers
        )
        self.config["activation"] = check_choice(activation, "activation", sorted(ACTIVATIONS))
        opts = dict(generator=generator, device=device, dtype=dtype)
        self.net = mlp_for(self, y_dim, hidden_dim, 1, num_layers, activation, **opts)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        r""":math:`\log a(y_i)`, shape ``[..., K]``."""
        like = self.net.layers[0].weight
        y = check_module_input("y", y, self.config["y_dim"], self.num_runs, like)
        return self.net(y).squeeze(-1)


class BatchedMLPBaseline(BatchedModule, MLPBaseline):
    """``R`` independent :class:`MLPBaseline` s: ``[R, K, y_dim] -> [R, K]`` in one pass."""

    single_cls = MLPBaseline


class TrueMarginalBaseline(Module):
    r"""The optimal baseline :math:`\log a(y) = \log p(y)` of a task: ``[..., K, d] -> [..., K]``.

    No parameters; any leading shape works, so it serves single and batched runs alike.

    Reference: Poole et al. (2019), Sec. 2 (TUBA is tight at the optimal critic with a = p(y)).
    """

    def __init__(self, task):
        """The baseline of ``task``.

        Args:
            task: a task with a ``log_marginal(y)`` method, e.g.
                :class:`mi_utils.tasks.CorrelatedGaussian`; its ``y_dim``, when it has one,
                is checked against the inputs.
        """
        super().__init__()
        if not callable(getattr(task, "log_marginal", None)):
            raise TypeError(
                "task must have a log_marginal(y) method (e.g. "
                f"mi_utils.tasks.CorrelatedGaussian); got {type(task).__name__}"
            )
        self.task = task

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        r""":math:`\log p(y_i)`, shape ``[..., K]``."""
        y = check_module_input("y", y, getattr(self.task, "y_dim", None), None, None)
        return self.task.log_marginal(y)


_BASELINES = {
    "constant": (ConstantBaseline, BatchedConstantBaseline),
    "mlp": (MLPBaseline, BatchedMLPBaseline),
}


def make_baseline(kind: str, y_dim=None, *, num_runs: int | None = None, task=None, **kw):
    """A baseline of one of :data:`BASELINE_KINDS`, batched over ``num_runs`` runs when given.

    Args:
        kind: ``"constant"`` (:class:`ConstantBaseline`), ``"mlp"`` (:class:`MLPBaseline`,
            needs ``y_dim``) or ``"true"`` (:class:`TrueMarginalBaseline`, needs ``task``).
        y_dim: dimension of :math:`y` for ``"mlp"``.
        num_runs: ``None`` for a single baseline, or an int >= 1 for a ``Batched*`` one. The
            true baseline has no parameters and serves any number of runs.
        task: the task of ``"true"``.
        **kw: the constructor's other arguments (``generator``, ``device`` and ``dtype`` are
            accepted and unused for ``"true"``).
    """
    check_choice(kind, "kind", BASELINE_KINDS)
    if num_runs is not None:
        check_int(num_runs, "num_runs")
    if kind == "true":
        if task is None:
            raise ValueError("task is required for kind='true' (e.g. a CorrelatedGaussian)")
        extra = set(kw) - {"generator", "device", "dtype"}
        if extra:
            raise TypeError(f"kind='true' takes no options; got {sorted(extra)}")
        return TrueMarginalBaseline(task)
    if kind == "mlp" and y_dim is None:
        raise ValueError("y_dim is required for kind='mlp'")
    args = () if kind == "constant" else (y_dim,)
    single, batched = _BASELINES[kind]
    return single(*args, **kw) if num_runs is None else batched(num_runs, *args, **kw)
