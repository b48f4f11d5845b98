r"""Critics :math:`f(x, y)` and log-baselines :math:`\log a(y)`, single and batched over runs.

A critic maps a batch of ``K`` joint pairs to the score matrix of all ``K^2`` pairings,

.. math::

    \texttt{scores}[\dots, i, j] = f(x_j, y_i),

rows indexing :math:`y` and columns indexing :math:`x` (``../shared/GUIDE.md``): the diagonal
holds the joint pairs, the off-diagonal entries the product-of-marginals pairs. Inputs are
``x``: ``[..., K, x_dim]`` and ``y``: ``[..., K, y_dim]``.

Each ``Batched*`` module takes ``num_runs`` first, then the arguments of its single twin, and
holds ``R = num_runs`` independent parameter sets stacked along a leading axis. One forward pass
serves all runs: ``[R, K, d] -> [R, K, K]`` (baselines ``[R, K]``). ``Batched*.from_modules``
stacks ``R`` single modules and ``.unbatched(r)`` copies run ``r`` out.

Every module initialises its weights like :class:`torch.nn.Linear`,
:math:`W, b \sim \mathcal U(-1/\sqrt{\text{fan\_in}}, 1/\sqrt{\text{fan\_in}})`, from its own
``generator``: the global RNG is never touched when a generator is given.

Reference: Poole et al. (2019), Sec. 5 (separable and concat critics with two hidden layers of
256 ReLU units and a 32-dimensional embedding).
"""

from __future__ import annotations

import math
from numbers import Real

import torch
from torch import nn

from .validation import check_int
from .layers import (
    ACTIVATIONS,
    MLP,
    BatchedLinear,
    BatchedMLP,
    Linear,
    _Batched,
    _check_config,
    _check_input,
    _mlp,
)

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "BatchedConcatCritic",
    "BatchedConstantBaseline",
    "BatchedLinear",
    "BatchedMLP",
    "BatchedMLPBaseline",
    "BatchedSeparableCritic",
    "ConcatCritic",
    "ConstantBaseline",
    "Linear",
    "MLPBaseline",
    "SeparableCritic",
    "TrueMarginalBaseline",
    "make_baseline",
    "make_critic",
]


def _check_pair(module: nn.Module, x: object, y: object) -> tuple[torch.Tensor, torch.Tensor]:
    like = next(module.parameters())
    x = _check_input("x", x, module.config["x_dim"], module.num_runs, like)
    y = _check_input("y", y, module.config["y_dim"], module.num_runs, like)
    if x.shape[:-1] != y.shape[:-1]:
        raise ValueError(
            "x and y must share the leading shape [..., K] (K joint pairs); "
            f"got x {tuple(x.shape)} and y {tuple(y.shape)}"
        )
    return x, y


# ----------------------------------------------------------------------------- critics
class SeparableCritic(nn.Module):
    r"""Separable critic :math:`f(x, y) = h(y)^\top g(x)`.

    ``g`` and ``h`` are :class:`MLP` s with ``num_layers`` hidden layers of ``hidden_dim`` units
    and a linear ``embed_dim`` output, so ``scores = h(y) @ g(x).T``: ``[..., K, K]`` from
    ``x`` ``[..., K, x_dim]`` and ``y`` ``[..., K, y_dim]``, at the cost of ``2K`` network
    evaluations.

    Reference: van den Oord et al. (2018), Eq. 3 (log-bilinear); Poole et al. (2019), Sec. 5.
    """

    num_runs: int | None = None

    def __init__(
        self,
        x_dim: int,
        y_dim: int,
        hidden_dim: int = 256,
        embed_dim: int = 32,
        num_layers: int = 2,
        activation: str = "relu",
        *,
        generator=None,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.config = _check_config(
            generator, dtype, x_dim=x_dim, y_dim=y_dim, hidden_dim=hidden_dim,
            embed_dim=embed_dim, num_layers=num_layers, activation=activation,
        )  # fmt: skip
        opts = dict(generator=generator, device=device, dtype=dtype)
        self.g = _mlp(self, x_dim, hidden_dim, embed_dim, num_layers, activation, **opts)
        self.h = _mlp(self, y_dim, hidden_dim, embed_dim, num_layers, activation, **opts)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = _check_pair(self, x, y)
        return self.h(y) @ self.g(x).transpose(-1, -2)


class BatchedSeparableCritic(_Batched, SeparableCritic):
    """``R`` independent :class:`SeparableCritic` s: ``[R, K, d] -> [R, K, K]`` in one pass."""

    single_cls = SeparableCritic


class ConcatCritic(nn.Module):
    r"""Concat (joint) critic :math:`f(x, y) = \mathrm{MLP}([x; y])`, evaluated on all pairs.

    The MLP ``net`` has ``num_layers`` hidden layers of ``hidden_dim`` units and a scalar output.
    Its first layer is split, :math:`W[x; y] + b = W_x x + W_y y + b`, so the ``K^2``
    concatenated inputs are never built: ``hidden[i, j] = act(W_y y_i + b + W_x x_j)`` has shape
    ``[..., K, K, hidden_dim]``. Returns ``scores`` ``[..., K, K]`` from ``x`` ``[..., K, x_dim]``
    and ``y`` ``[..., K, y_dim]``.

    Reference: Belghazi et al. (2018) (MINE); Hjelm et al. (2019); Poole et al. (2019), Sec. 5.
    """

    num_runs: int | None = None

    def __init__(
        self,
        x_dim: int,
        y_dim: int,
        hidden_dim: int = 256,
        num_layers: int = 2,
        activation: str = "relu",
        *,
        generator=None,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.config = _check_config(
            generator, dtype, x_dim=x_dim, y_dim=y_dim, hidden_dim=hidden_dim,
            num_layers=num_layers, activation=activation,
        )  # fmt: skip
        opts = dict(generator=generator, device=device, dtype=dtype)
        self.net = _mlp(self, x_dim + y_dim, hidden_dim, 1, num_layers, activation, **opts)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = _check_pair(self, x, y)
        first, dx = self.net.layers[0], self.config["x_dim"]
        # x W_x: [..., K, H] and y W_y + b: [..., K, H] (weights [.., in, H] with in = dx + dy).
        a = x @ first.weight[..., :dx, :]
        b = y @ first.weight[..., dx:, :] + first.bias
        hidden = ACTIVATIONS[self.config["activation"]](b[..., :, None, :] + a[..., None, :, :])
        return self.net(hidden, start=1).squeeze(-1)


class BatchedConcatCritic(_Batched, ConcatCritic):
    """``R`` independent :class:`ConcatCritic` s: ``[R, K, d] -> [R, K, K]`` in one pass."""

    single_cls = ConcatCritic


# ----------------------------------------------------------------------------- baselines
class ConstantBaseline(nn.Module):
    r"""Constant log-baseline :math:`\log a(y) = c`: one learned scalar ``log_a``, set to ``init``.

    Returns ``[..., K]`` from ``y`` ``[..., K, d]``. ``generator`` is accepted for uniformity.

    Reference: Poole et al. (2019), Sec. 2, the TUBA bound (:math:`\log a \equiv 1` gives NWJ).
    """

    num_runs: int | None = None

    def __init__(self, init: float = 0.0, *, generator=None, device=None, dtype=None):
        super().__init__()
        self.config = _check_config(generator, dtype)
        if isinstance(init, bool) or not isinstance(init, Real):
            raise TypeError(f"init must be a finite real number; got {type(init).__name__}")
        if not math.isfinite(init):
            raise ValueError(f"init must be a finite real number; got {init}")
        shape = () if self.num_runs is None else (self.num_runs,)
        self.log_a = nn.Parameter(torch.full(shape, float(init), device=device, dtype=dtype))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        y = _check_input("y", y, None, self.num_runs, self.log_a)
        return self.log_a.unsqueeze(-1).expand(y.shape[:-1])


class BatchedConstantBaseline(_Batched, ConstantBaseline):
    """``R`` independent :class:`ConstantBaseline` s, ``log_a`` ``[R]``: ``[R, K, d] -> [R, K]``."""

    single_cls = ConstantBaseline


class MLPBaseline(nn.Module):
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
        super().__init__()
        self.config = _check_config(
            generator, dtype, y_dim=y_dim, hidden_dim=hidden_dim, num_layers=num_layers,
            activation=activation,
        )  # fmt: skip
        opts = dict(generator=generator, device=device, dtype=dtype)
        self.net = _mlp(self, y_dim, hidden_dim, 1, num_layers, activation, **opts)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        like = self.net.layers[0].weight
        y = _check_input("y", y, self.config["y_dim"], self.num_runs, like)
        return self.net(y).squeeze(-1)


class BatchedMLPBaseline(_Batched, MLPBaseline):
    """``R`` independent :class:`MLPBaseline` s: ``[R, K, y_dim] -> [R, K]`` in one pass."""

    single_cls = MLPBaseline


class TrueMarginalBaseline(nn.Module):
    r"""The optimal baseline :math:`\log a(y) = \log p(y)` of a task: ``[..., K, d] -> [..., K]``.

    No parameters; any leading shape works, so it serves single and batched runs alike.

    Reference: Poole et al. (2019), Sec. 2 (TUBA is tight at the optimal critic with a = p(y)).
    """

    def __init__(self, task):
        super().__init__()
        if not callable(getattr(task, "log_marginal", None)):
            raise TypeError(
                "task must have a log_marginal(y) method (e.g. mi_utils.data.CorrelatedGaussian); "
                f"got {type(task).__name__}"
            )
        self.task = task

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        y = _check_input("y", y, getattr(self.task, "dim", None), None, None)
        return self.task.log_marginal(y)


# ----------------------------------------------------------------------------- factories
_CRITICS = {
    "separable": (SeparableCritic, BatchedSeparableCritic),
    "concat": (ConcatCritic, BatchedConcatCritic),
}
_BASELINES = {
    "constant": (ConstantBaseline, BatchedConstantBaseline),
    "mlp": (MLPBaseline, BatchedMLPBaseline),
}


def _check_kind(kind: object, kinds) -> str:
    if not isinstance(kind, str) or kind not in kinds:
        raise ValueError(f"kind must be one of {sorted(kinds)}; got {kind!r}")
    return kind


def make_critic(kind: str, x_dim: int, y_dim: int, *, num_runs: int | None = None, **kw):
    """A ``"separable"`` or ``"concat"`` critic, batched over ``num_runs`` runs when given.

    ``kw`` goes to the constructor (``hidden_dim``, ``num_layers``, ``generator``, ...).
    """
    single, batched = _CRITICS[_check_kind(kind, _CRITICS)]
    if num_runs is None:
        return single(x_dim, y_dim, **kw)
    return batched(num_runs, x_dim, y_dim, **kw)


def make_baseline(kind: str, y_dim=None, *, num_runs: int | None = None, task=None, **kw):
    """A ``"constant"``, ``"mlp"`` (needs ``y_dim``) or ``"true"`` (needs ``task``) baseline.

    ``num_runs`` batches the learned baselines; the true one has no parameters and serves any
    number of runs. ``kw`` goes to the constructor (``generator``, ``device`` and ``dtype`` are
    accepted and unused for ``"true"``).
    """
    _check_kind(kind, [*_BASELINES, "true"])
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
