r"""Critics :math:`f(x, y)`, single and batched over independent runs.

A critic maps a batch of ``K`` joint pairs to the score matrix of all ``K^2`` pairings,

.. math::

    \texttt{scores}[\dots, i, j] = f(x_j, y_i),

rows indexing :math:`y` and columns indexing :math:`x`: the diagonal holds the ``K`` joint
pairs, the off-diagonal entries the ``K(K-1)`` product-of-marginals pairs. Inputs are ``x``:
``[..., K, x_dim]`` and ``y``: ``[..., K, y_dim]``. TensorFlow Probability's
``tfp.vi.mutual_information`` bounds take the transpose, ``scores[i, j] = f(x_i, y_j)``: pass
``scores.transpose(-1, -2)`` to them.

Each ``Batched*`` critic takes ``num_runs`` first, then the arguments of its single twin, and
holds ``R = num_runs`` independent parameter sets stacked along a leading axis. One forward pass
serves all runs: ``[R, K, d] -> [R, K, K]``. ``Batched*.from_modules`` stacks ``R`` single
critics and ``.unbatched(r)`` copies run ``r`` out. Weights are initialised like
:class:`torch.nn.Linear` from the critic's own ``generator`` (:mod:`mi_utils.nn.layers`).

Reference: Poole et al. (2019), Sec. 5 (separable and concat critics with two hidden layers of
256 ReLU units and a 32-dimensional embedding).
"""

from __future__ import annotations

import torch
from torch import nn

from ..validation import check_choice, check_module_config, check_module_input
from .layers import ACTIVATIONS, BatchedModule, Module, mlp_for, reduced_precision

__all__ = [
    "CRITIC_KINDS",
    "BatchedConcatCritic",
    "BatchedSeparableCritic",
    "ConcatCritic",
    "SeparableCritic",
    "make_critic",
]

#: The critic architectures of :func:`make_critic`.
CRITIC_KINDS: tuple[str, ...] = ("separable", "concat")


def _check_pair(critic: nn.Module, x: object, y: object) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` ``[..., K, x_dim]`` and ``y`` ``[..., K, y_dim]`` of the critic's dtype."""
    like = next(critic.parameters())
    x = check_module_input("x", x, critic.config["x_dim"], critic.num_runs, like)
    y = check_module_input("y", y, critic.config["y_dim"], critic.num_runs, like)
    if x.shape[:-1] != y.shape[:-1]:
        raise ValueError(
            "x and y must share the leading shape [..., K] (K joint pairs); "
            f"got x {tuple(x.shape)} and y {tuple(y.shape)}"
        )
    return x, y


class SeparableCritic(Module):
    r"""Separable critic :math:`f(x, y) = h(y)^\top g(x)`.

    ``g`` and ``h`` are :class:`~mi_utils.nn.layers.MLP` s with ``num_layers`` hidden layers of
    ``hidden_dim`` units and a linear ``embed_dim`` output, so ``scores = h(y) @ g(x).T``:
    ``[..., K, K]`` from ``x`` ``[..., K, x_dim]`` and ``y`` ``[..., K, y_dim]``, at the cost of
    ``2K`` network evaluations.

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
        """A separable critic; the defaults are the paper's.

        Args:
            x_dim, y_dim: dimensions of :math:`x` and :math:`y`, ints >= 1.
            hidden_dim: units of each hidden layer of ``g`` and ``h``, an int >= 1.
            embed_dim: output dimension of ``g`` and ``h``, an int >= 1.
            num_layers: hidden layers of ``g`` and of ``h``, an int >= 1.
            activation: ``"relu"``, ``"tanh"``, ``"elu"`` or ``"softplus"``.
            generator: ``torch.Generator`` for the initial weights (``g``'s, then ``h``'s), or
                ``None`` (the global RNG).
            device, dtype: of the parameters (``dtype`` floating).
        """
        super().__init__()
        self.config = check_module_config(
            generator, dtype, x_dim=x_dim, y_dim=y_dim, hidden_dim=hidden_dim,
            embed_dim=embed_dim, num_layers=num_layers,
        )  # fmt: skip
        self.config["activation"] = check_choice(activation, "activation", sorted(ACTIVATIONS))
        opts = dict(generator=generator, device=device, dtype=dtype)
        self.g = mlp_for(self, x_dim, hidden_dim, embed_dim, num_layers, activation, **opts)
        self.h = mlp_for(self, y_dim, hidden_dim, embed_dim, num_layers, activation, **opts)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``scores[..., i, j] = f(x_j, y_i)``, shape ``[..., K, K]``."""
        x, y = _check_pair(self, x, y)
        return self.h(y) @ self.g(x).transpose(-1, -2)


class BatchedSeparableCritic(BatchedModule, SeparableCritic):
    """``R`` independent :class:`SeparableCritic` s: ``[R, K, d] -> [R, K, K]`` in one pass."""

    single_cls = SeparableCritic


class ConcatCritic(Module):
    r"""Concat (joint) critic :math:`f(x, y) = \mathrm{MLP}([x; y])`, evaluated on all pairs.

    The MLP ``net`` has ``num_layers`` hidden layers of ``hidden_dim`` units and a scalar output.
    Its first layer is split, :math:`W [x; y] + b = W_x x + W_y y + b` with
    :math:`W_x = W[:, :d_x]` and :math:`W_y = W[:, d_x:]`, so the ``K^2`` concatenated inputs
    are never built: ``hidden[i, j] = act(W_y y_i + b + W_x x_j)`` has shape
    ``[..., K, K, hidden_dim]``. Returns ``scores`` ``[..., K, K]`` from ``x``
    ``[..., K, x_dim]`` and ``y`` ``[..., K, y_dim]``.

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
        """A concat critic; the defaults are the paper's.

        Args:
            x_dim, y_dim: dimensions of :math:`x` and :math:`y`, ints >= 1.
            hidden_dim: units of each hidden layer of ``net``, an int >= 1.
            num_layers: hidden layers of ``net``, an int >= 1.
            activation: ``"relu"``, ``"tanh"``, ``"elu"`` or ``"softplus"``.
            generator: ``torch.Generator`` for the initial weights, or ``None`` (the global
                RNG).
            device, dtype: of the parameters (``dtype`` floating).
        """
        super().__init__()
        self.config = check_module_config(
            generator, dtype, x_dim=x_dim, y_dim=y_dim, hidden_dim=hidden_dim,
            num_layers=num_layers,
        )  # fmt: skip
        self.config["activation"] = check_choice(activation, "activation", sorted(ACTIVATIONS))
        opts = dict(generator=generator, device=device, dtype=dtype)
        self.net = mlp_for(self, x_dim + y_dim, hidden_dim, 1, num_layers, activation, **opts)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``scores[..., i, j] = f(x_j, y_i)``, shape ``[..., K, K]``."""
        x, y = _check_pair(self, x, y)
        first, dx = self.net.layers[0], self.config["x_dim"]
        # weight [..., H, dx + dy]: x W_x^T is [..., K, H] and y W_y^T + b is [..., K, H].
        with reduced_precision(self.net.matmul_dtype, x):
            a = x @ first.weight[..., :, :dx].transpose(-1, -2)
            b = torch.add(y @ first.weight[..., :, dx:].transpose(-1, -2), first.bias.to(a.dtype))
            hidden = ACTIVATIONS[self.config["activation"]](b[..., :, None, :] + a[..., None, :, :])
        return self.net(hidden, start=1).squeeze(-1)


class BatchedConcatCritic(BatchedModule, ConcatCritic):
    """``R`` independent :class:`ConcatCritic` s: ``[R, K, d] -> [R, K, K]`` in one pass."""

    single_cls = ConcatCritic


_CRITICS = {
    "separable": (SeparableCritic, BatchedSeparableCritic),
    "concat": (ConcatCritic, BatchedConcatCritic),
}


def make_critic(kind: str, x_dim: int, y_dim: int, *, num_runs: int | None = None, **kw):
    """A critic of one of :data:`CRITIC_KINDS`, batched over ``num_runs`` runs when given.

    Args:
        kind: ``"separable"`` (:class:`SeparableCritic`) or ``"concat"`` (:class:`ConcatCritic`).
        x_dim, y_dim: dimensions of :math:`x` and :math:`y`, ints >= 1.
        num_runs: ``None`` for a single critic, or an int >= 1 for a ``Batched*`` one.
        **kw: the constructor's other arguments (``hidden_dim``, ``num_layers``,
            ``generator``, ...).
    """
    single, batched = _CRITICS[check_choice(kind, "kind", CRITIC_KINDS)]
    if num_runs is None:
        return single(x_dim, y_dim, **kw)
    return batched(num_runs, x_dim, y_dim, **kw)
