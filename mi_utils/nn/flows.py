r"""Invertible encoders: RealNVP affine couplings, for representations that keep all of the MI.

An invertible encoder :math:`g` leaves mutual information unchanged,
:math:`I(g_1(X_1); g_2(X_2)) = I(X_1; X_2)` for bijections :math:`g_1, g_2`, so maximising an MI
estimate over such encoders cannot raise the true MI, yet the estimate (InfoNCE, say) and the
quality of the representation (a linear probe, :func:`mi_utils.probe.linear_probe`) still change
during training: what these methods learn is shaped by the bound and the critic, not by the MI
alone (Tschannen et al., 2020, Sec. 3).

:class:`~mi_utils.nn.AffineCoupling` is one RealNVP layer. A fixed binary mask
:math:`b \in \{0, 1\}^d` splits :math:`x` into a kept part :math:`x_a = b \odot x` and a
transformed part, and

.. math::

    y = b \odot x + (1 - b) \odot \big(x \odot e^{s(x_a)} + t(x_a)\big), \qquad
    \log\left|\det \frac{\partial y}{\partial x}\right| = \sum_k (1 - b_k)\, s_k(x_a),

with :math:`s` and :math:`t` from one small MLP of :math:`x_a` and the log-scale bounded,
:math:`s = c \tanh(\tilde s / c)` with :math:`c` = ``max_log_scale``. The Jacobian is
triangular (in an order that puts the kept coordinates first), hence the determinant. The
inverse is exact: :math:`x_a = y_a` gives :math:`s` and :math:`t` back, and
:math:`x = b \odot y + (1 - b) \odot (y - t) \odot e^{-s}`.

:class:`~mi_utils.nn.InvertibleEncoder` stacks couplings with alternating masks (even
coordinates kept, then odd), optionally with a fixed random permutation or orthogonal matrix
between them (:data:`~mi_utils.nn.MIXINGS`; :math:`|\det| = 1`, so they add nothing to the
log-determinant). All shapes are ``[..., dim]``; the log-determinant is ``[...]``. Weights (and
mixing matrices) come from ``generator``.

References: Dinh, Sohl-Dickstein & Bengio (2017), "Density estimation using Real NVP", Eqs. 4-9;
Tschannen, Djolonga, Rubenstein, Gelly & Lucic (2020), "On mutual information maximization for
representation learning", ICLR, Sec. 3.
"""

from __future__ import annotations

import torch
from torch import nn

from ..validation import (
    check_choice,
    check_float_tensor,
    check_int,
    check_module_config,
    check_positive,
)
from .layers import ACTIVATIONS, MLP, Module

__all__ = ["MIXINGS", "AffineCoupling", "InvertibleEncoder", "alternating_mask"]

#: The fixed maps between couplings (none, a random permutation, a random orthogonal matrix).
MIXINGS: tuple[str, ...] = ("none", "permutation", "orthogonal")


def alternating_mask(dim: int, parity: int = 0, *, device=None) -> torch.Tensor:
    """The bool mask ``[dim]`` that keeps the coordinates ``k`` with ``k % 2 == parity``."""
    dim = check_int(dim, "dim", minimum=2)
    if parity not in (0, 1) or isinstance(parity, bool):
        raise ValueError(f"parity must be 0 or 1; got {parity!r}")
    return torch.arange(dim, device=device) % 2 == parity


def _check_input(t: object, name: str, dim: int, like: torch.Tensor) -> torch.Tensor:
    t = check_float_tensor(t, name, f"[..., {dim}]")
    if t.dtype != like.dtype:
        raise TypeError(
            f"{name} must be a tensor of the module's dtype {like.dtype}; got {t.dtype}"
        )
    if t.dim() < 1 or t.shape[-1] != dim:
        raise ValueError(f"{name} must have shape [..., {dim}]; got {tuple(t.shape)}")
    return t


class AffineCoupling(Module):
    r"""RealNVP affine coupling :math:`y = b \odot x + (1-b) \odot (x \odot e^{s(x_a)} + t(x_a))`.

    ``mask`` :math:`b` (a bool or 0/1 tensor ``[dim]`` with at least one kept and one
    transformed coordinate) is a buffer. ``net`` is an :class:`~mi_utils.nn.layers.MLP` from
    the masked input :math:`b \odot x` (``dim`` values) to :math:`[\tilde s; t]` (``2 dim``
    values, of which the transformed coordinates are used), and
    :math:`s = c\tanh(\tilde s / c)` with :math:`c` = ``max_log_scale`` bounds each log-scale in
    :math:`(-c, c)`. Maps ``[..., dim] -> ([..., dim], [...])``.

    Reference: Dinh et al. (2017), Eqs. 4-9 (masked form, Eq. 9).
    """

    def __init__(
        self,
        mask: torch.Tensor,
        hidden_dim: int = 64,
        num_layers: int = 2,
        activation: str = "relu",
        max_log_scale: float = 2.0,
        *,
        generator=None,
        device=None,
        dtype=None,
    ):
        """A coupling with the fixed ``mask``.

        Args:
            mask: ``[dim]``, ``dim >= 2``, bool or of 0/1 values: ``True``/1 keeps a coordinate
                (:math:`x_a`, the conditioning part), ``False``/0 transforms it. Copied.
            hidden_dim: units of each hidden layer of ``net``, an int >= 1.
            num_layers: hidden layers of ``net``, an int >= 1.
            activation: ``"relu"``, ``"tanh"``, ``"elu"`` or ``"softplus"``.
            max_log_scale: :math:`c > 0`, the bound on :math:`|s|`.
            generator: ``torch.Generator`` for the initial weights, or ``None`` (the global RNG).
            device, dtype: of the parameters (``dtype`` floating).
        """
        super().__init__()
        if not isinstance(mask, torch.Tensor):
            raise TypeError(f"mask must be a 1-d torch.Tensor [dim]; got {type(mask).__name__}")
        if mask.dim() != 1 or mask.shape[0] < 2:
            raise ValueError(f"mask must be 1-d, [dim] with dim >= 2; got {tuple(mask.shape)}")
        if mask.dtype != torch.bool:
            if mask.is_complex() or not bool(((mask == 0) | (mask == 1)).all()):
                raise ValueError("mask must be bool or hold only 0 and 1")
            mask = mask != 0
        if bool(mask.all()) or not bool(mask.any()):
            raise ValueError(
                "mask must keep at least one coordinate and transform at least one (mixed "
                f"True and False); got {mask.tolist()}"
            )
        dim = mask.shape[0]
        self.config = check_module_config(
            generator, dtype, hidden_dim=hidden_dim, num_layers=num_layers
        )
        self.config["activation"] = check_choice(activation, "activation", sorted(ACTIVATIONS))
        self.config["max_log_scale"] = check_positive(max_log_scale, "max_log_scale")
        self.dim = dim
        self.register_buffer("mask", mask.detach().clone().to(device))
        opts = dict(generator=generator, device=device, dtype=dtype)
        self.net = MLP(dim, hidden_dim, 2 * dim, num_layers, activation, **opts)

    def _scale_shift(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``s`` and ``t`` ``[..., dim]``, zero on the kept coordinates."""
        raw_s, t = self.net(kept).chunk(2, dim=-1)
        c, free = self.config["max_log_scale"], ~self.mask
        s = c * torch.tanh(raw_s / c)
        return s * free, t * free

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y, log_det)``: ``y`` ``[..., dim]`` and ``log |det dy/dx|`` ``[...]``."""
        x = _check_input(x, "x", self.dim, self.net.layers[0].weight)
        s, t = self._scale_shift(x * self.mask)
        y = torch.where(self.mask, x, x * torch.exp(s) + t)
        return y, s.sum(-1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """``x`` with ``forward(x)[0] == y``, exactly up to rounding: ``[..., dim]``."""
        y = _check_input(y, "y", self.dim, self.net.layers[0].weight)
        s, t = self._scale_shift(y * self.mask)  # y_a = x_a
        return torch.where(self.mask, y, (y - t) * torch.exp(-s))

    def extra_repr(self) -> str:
        """The configuration, shown by ``repr``."""
        return ", ".join(f"{k}={v}" for k, v in {"dim": self.dim, **self.config}.items())


class InvertibleEncoder(Module):
    r"""A RealNVP stack: ``num_couplings`` :class:`AffineCoupling` s with alternating masks.

    Coupling ``k`` keeps the coordinates of parity ``k % 2`` (:func:`alternating_mask`). With
    ``mixing="permutation"`` or ``"orthogonal"`` a fixed random permutation or orthogonal
    matrix :math:`Q` (buffers, drawn from ``generator`` after the couplings' weights) acts
    between consecutive couplings, :math:`h \mapsto h Q^\top`, so every coordinate soon depends
    on every other; :math:`|\det Q| = 1`. ``forward`` maps ``[..., dim]`` to ``(y, log_det)``
    with ``log_det`` ``[...]`` the sum of the couplings' log-determinants; :meth:`inverse`
    undoes it exactly up to rounding.

    Reference: Dinh et al. (2017), Sec. 3.5 (alternating masks); Tschannen et al. (2020),
    Sec. 3 (invertible encoders).
    """

    def __init__(
        self,
        dim: int,
        num_couplings: int = 4,
        hidden_dim: int = 64,
        num_layers: int = 2,
        activation: str = "relu",
        max_log_scale: float = 2.0,
        mixing: str = "none",
        *,
        generator=None,
        device=None,
        dtype=None,
    ):
        """An invertible map of ``R^dim``.

        Args:
            dim: dimension, an int >= 2.
            num_couplings: number of couplings, an int >= 1 (two or more transform every
                coordinate).
            hidden_dim, num_layers, activation, max_log_scale: each coupling's, as in
                :class:`AffineCoupling`.
            mixing: one of :data:`MIXINGS`: ``"none"``, ``"permutation"`` or ``"orthogonal"``.
            generator: ``torch.Generator`` for the initial weights (coupling by coupling), then
                the mixing maps; or ``None`` (the global RNG).
            device, dtype: of the parameters (``dtype`` floating).
        """
        super().__init__()
        dim = check_int(dim, "dim", minimum=2)
        self.config = check_module_config(
            generator, dtype, num_couplings=num_couplings, hidden_dim=hidden_dim,
            num_layers=num_layers,
        )  # fmt: skip
        self.config = {"dim": dim, **self.config}
        self.config["activation"] = check_choice(activation, "activation", sorted(ACTIVATIONS))
        self.config["max_log_scale"] = check_positive(max_log_scale, "max_log_scale")
        self.config["mixing"] = check_choice(mixing, "mixing", MIXINGS)
        opts = dict(generator=generator, device=device, dtype=dtype)
        sizes = (hidden_dim, num_layers, activation, max_log_scale)
        self.couplings = nn.ModuleList(
            AffineCoupling(alternating_mask(dim, k % 2), *sizes, **opts)
            for k in range(num_couplings)
        )
        dtype = self.couplings[0].net.layers[0].weight.dtype
        num_mixers = 0 if mixing == "none" else num_couplings - 1
        mixers = [_mixer(mixing, dim, generator, dtype) for _ in range(num_mixers)]
        self.register_buffer("mixers", torch.stack(mixers).to(device) if mixers else None)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y, log_det)``: ``y`` ``[..., dim]`` and ``log |det dy/dx|`` ``[...]``."""
        x = _check_input(x, "x", self.config["dim"], self.couplings[0].net.layers[0].weight)
        log_det = x.new_zeros(x.shape[:-1])
        for k, coupling in enumerate(self.couplings):
            if k > 0 and self.mixers is not None:
                x = x @ self.mixers[k - 1].T
            x, ld = coupling(x)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """``x`` with ``forward(x)[0] == y``, exactly up to rounding: ``[..., dim]``."""
        y = _check_input(y, "y", self.config["dim"], self.couplings[0].net.layers[0].weight)
        for k in reversed(range(len(self.couplings))):
            y = self.couplings[k].inverse(y)
            if k > 0 and self.mixers is not None:
                y = y @ self.mixers[k - 1]  # Q is orthogonal: Q^{-T} = Q
        return y

    def log_det(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\log|\det \partial y / \partial x|` at ``x`` ``[..., dim]``: ``[...]``."""
        return self(x)[1]

    def extra_repr(self) -> str:
        """The configuration, shown by ``repr``."""
        return ", ".join(f"{k}={v}" for k, v in self.config.items())


def _mixer(mixing: str, dim: int, generator, dtype) -> torch.Tensor:
    """A fixed ``[dim, dim]`` permutation or orthogonal matrix (``|det| = 1``), on the CPU.

    Drawn on the generator's device (CPU without one) in float64 and cast, so one seed gives the
    same matrix everywhere; an orthogonal :math:`Q` is the QR factor of a Gaussian matrix with
    the signs of ``diag(R)`` folded in (Haar-distributed).
    """
    on = generator.device if generator is not None else None
    if mixing == "permutation":
        perm = torch.randperm(dim, generator=generator, device=on)
        return torch.eye(dim, dtype=dtype, device=on)[perm].cpu()
    a = torch.randn(dim, dim, generator=generator, device=on, dtype=torch.float64)
    q, r = torch.linalg.qr(a.cpu())
    return (q * torch.sign(torch.diagonal(r))).to(dtype)
