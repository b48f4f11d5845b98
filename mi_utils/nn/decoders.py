r"""Tractable decoders :math:`q(x \mid y)` for the Barber–Agakov bound.

The Barber–Agakov (BA) bound replaces the intractable posterior :math:`p(x \mid y)` by a
normalised decoder :math:`q(x \mid y)`:

.. math::

    I(X;Y) \;\ge\; I_{\rm BA}(q) = h(X) + \mathbb{E}_{p(x,y)}[\log q(x \mid y)],

with gap :math:`I - I_{\rm BA}(q) = \mathbb{E}_{p(y)}[\mathrm{KL}(p(x\mid y)\,\|\,q(x\mid y))]`.
This module holds a linear-Gaussian decoder (:class:`GaussianDecoder`), a short Adam loop that
maximises the bound on a task (:func:`~mi_utils.nn.fit_gaussian_decoder`) and, for the
correlated Gaussian task, the gap of any such decoder in closed form
(:func:`~mi_utils.nn.gaussian_task_gap`).

Feed ``decoder.log_prob(x, y)`` (shape ``[..., K]``) to :func:`mi_utils.bounds.ba_lower_bound`
together with the task's :math:`h(X)`.

Reference: Barber & Agakov (2003), "The IM algorithm"; Poole et al. (2019), Sec. 2.1.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..bounds import ba_lower_bound
from ..tasks import CorrelatedGaussian
from ..validation import (
    check_choice,
    check_float_tensor,
    check_int,
    check_module_config,
    check_module_input,
    check_positive,
)
from .layers import Module, linear_init

__all__ = [
    "VARIANCES",
    "GaussianDecoder",
    "fit_gaussian_decoder",
    "gaussian_task_gap",
]

#: Accepted values of ``variance``, a learned per-dimension variance or a fixed unit variance.
VARIANCES: tuple[str, ...] = ("learned", "fixed")

_LOG_2PI = math.log(2.0 * math.pi)


class GaussianDecoder(Module):
    r"""Linear-Gaussian decoder :math:`q(x \mid y) = \mathcal N(W y + b,\ \mathrm{diag}(\sigma^2))`.

    .. math::

        \log q(x \mid y) = -\frac12 \sum_{k=1}^{d_x}
        \left[\log(2\pi\sigma_k^2) + \frac{(x_k - (W y + b)_k)^2}{\sigma_k^2}\right].

    Parameters: ``weight`` :math:`W` of shape ``[x_dim, y_dim]`` (as in
    :class:`torch.nn.Linear`, so the mean is ``y @ weight.T + bias``), ``bias`` :math:`b` of
    shape ``[x_dim]`` and, for ``variance="learned"``, ``log_var``
    :math:`\log\sigma^2` of shape ``[x_dim]``, initialised at 0. With ``variance="fixed"``
    the variance is the constant :math:`\sigma^2 = 1` (a buffer ``log_var`` of zeros).
    ``weight`` and ``bias`` are drawn like :class:`torch.nn.Linear`,
    :math:`\mathcal U(-1/\sqrt{y\_dim}, 1/\sqrt{y\_dim})`, from ``generator`` (by
    :func:`~mi_utils.nn.linear_init`); the global RNG is never touched when a generator
    is given.

    Reference: Barber & Agakov (2003); Poole et al. (2019), Sec. 2.1 (:math:`I_{\rm BA}`).
    """

    def __init__(
        self,
        x_dim: int,
        y_dim: int,
        variance: str = "learned",
        *,
        generator=None,
        device=None,
        dtype=None,
    ):
        r"""A decoder of ``x`` ``[..., x_dim]`` from ``y`` ``[..., y_dim]``.

        Args:
            x_dim: dimension of :math:`x`, an int >= 1.
            y_dim: dimension of :math:`y`, an int >= 1.
            variance: ``"learned"`` (per-dimension :math:`\sigma_k^2`) or ``"fixed"``
                (:math:`\sigma^2 = 1`); see :data:`VARIANCES`.
            generator: ``torch.Generator`` for the initial weights, or ``None`` (the global
                RNG).
            device, dtype: of the parameters (``dtype`` floating).
        """
        super().__init__()
        self.config = check_module_config(generator, dtype, x_dim=x_dim, y_dim=y_dim)
        self.config["variance"] = check_choice(variance, "variance", VARIANCES)
        weight, bias = linear_init(y_dim, x_dim, generator, device, dtype)  # [x, y], [x]
        self.weight, self.bias = nn.Parameter(weight), nn.Parameter(bias)
        log_var = torch.zeros(x_dim, device=device, dtype=weight.dtype)
        if variance == "learned":
            self.log_var = nn.Parameter(log_var)
        else:
            self.register_buffer("log_var", log_var)

    @classmethod
    def from_parameters(
        cls,
        weight: torch.Tensor,
        bias: torch.Tensor,
        variance: torch.Tensor | None = None,
    ) -> GaussianDecoder:
        r"""A decoder with the given :math:`W` ``[x_dim, y_dim]``, :math:`b`, :math:`\sigma^2`.

        ``variance`` is a positive tensor of shape ``[x_dim]`` (a ``"learned"`` decoder
        initialised there) or ``None`` (a ``"fixed"`` decoder with unit variance). The
        parameters are copied; device and dtype are ``weight``'s.
        """
        weight = check_float_tensor(weight, "weight", "[x_dim, y_dim]")
        if weight.dim() != 2:
            raise ValueError(
                f"weight must have shape [x_dim, y_dim]; got shape {tuple(weight.shape)}"
            )
        x_dim, y_dim = weight.shape
        bias = check_float_tensor(bias, "bias", "[x_dim]")
        if bias.shape != (x_dim,):
            raise ValueError(f"bias must have shape [x_dim] = ({x_dim},); got {tuple(bias.shape)}")
        if variance is not None:
            variance = check_float_tensor(variance, "variance", "[x_dim]")
            if variance.shape != (x_dim,):
                raise ValueError(
                    f"variance must have shape [x_dim] = ({x_dim},) or be None; "
                    f"got {tuple(variance.shape)}"
                )
            if not bool((variance > 0).all()):
                raise ValueError("variance must hold positive numbers (sigma^2 > 0)")
        kind = "fixed" if variance is None else "learned"
        opts = dict(generator=torch.Generator(), device=weight.device, dtype=weight.dtype)
        decoder = cls(x_dim, y_dim, kind, **opts)  # throwaway draws, overwritten below
        with torch.no_grad():
            decoder.weight.copy_(weight)
            decoder.bias.copy_(bias)
            if variance is not None:
                decoder.log_var.copy_(torch.log(variance))
        return decoder

    @property
    def variance(self) -> torch.Tensor:
        r""":math:`\sigma^2`, shape ``[x_dim]``."""
        return self.log_var.exp()

    def mean(self, y: torch.Tensor) -> torch.Tensor:
        r""":math:`W y_i + b` for ``y`` ``[..., K, y_dim]``: shape ``[..., K, x_dim]``."""
        y = check_module_input("y", y, self.config["y_dim"], None, self.weight)
        return y @ self.weight.T + self.bias

    def log_prob(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r""":math:`\log q(x_i \mid y_i)` on the ``K`` joint pairs: shape ``[..., K]``.

        Args:
            x: ``[..., K, x_dim]``.
            y: ``[..., K, y_dim]``, with the leading shape of ``x``; pair ``i`` is
                ``(x[..., i, :], y[..., i, :])``.
        """
        x = check_module_input("x", x, self.config["x_dim"], None, self.weight)
        y = check_module_input("y", y, self.config["y_dim"], None, self.weight)
        if x.shape[:-1] != y.shape[:-1]:
            raise ValueError(
                "x and y must share the leading shape [..., K] (K joint pairs); "
                f"got x {tuple(x.shape)} and y {tuple(y.shape)}"
            )
        resid = x - self.mean(y)
        per_dim = _LOG_2PI + self.log_var + resid.square() * torch.exp(-self.log_var)
        return -0.5 * per_dim.sum(-1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`log_prob`."""
        return self.log_prob(x, y)

    def extra_repr(self) -> str:
        """The configuration, shown by ``repr``."""
        return ", ".join(f"{k}={v}" for k, v in self.config.items())


def _check_task(task: object) -> None:
    for attr in ("x_dim", "y_dim", "entropy_x", "sample"):
        if not hasattr(task, attr):
            raise TypeError(
                "task must have x_dim, y_dim, entropy_x and sample(...) (e.g. "
                f"mi_utils.tasks.CorrelatedGaussian); got {type(task).__name__} without {attr!r}"
            )


def fit_gaussian_decoder(
    task,
    variance: str = "learned",
    *,
    num_steps: int = 500,
    batch_size: int = 128,
    lr: float = 0.02,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    progress: bool | None = False,
) -> tuple[GaussianDecoder, torch.Tensor]:
    r"""Maximise the BA bound over a :class:`GaussianDecoder` with Adam.

    Each step draws ``batch_size`` fresh joint pairs from ``task``, evaluates

    .. math::

        \hat I_{\rm BA} = h(X) + \frac1K \sum_{i=1}^K \log q(x_i \mid y_i),

    and takes one Adam step on :math:`-\hat I_{\rm BA}` (the project's fit loop,
    :func:`mi_utils.fit.fit`). The learning rate decays from ``lr`` to 0 along a half cosine,
    so the last iterates settle near the optimum of the family.

    Args:
        task: a task with ``x_dim``, ``y_dim``, ``entropy_x`` and
            ``sample(K, generator=, device=, dtype=)`` returning ``(x, y)`` of shapes
            ``[K, x_dim]`` and ``[K, y_dim]``, e.g. :class:`mi_utils.tasks.CorrelatedGaussian`.
            The decoder sees ``y`` as sampled, so on the cubic task
            (:class:`mi_utils.tasks.TransformedTask` with ``y_transform=Cube()``) it reads
            :math:`y^3`.
        variance: ``"learned"`` or ``"fixed"``, as in :class:`GaussianDecoder`.
        num_steps: number of Adam steps, an int >= 1.
        batch_size: joint pairs per step, an int >= 1.
        lr: initial learning rate, a real number > 0.
        generator: the only source of randomness (initial weights, then data).
        device, dtype: of the decoder and the data (default: CPU, ``torch.get_default_dtype()``).
        progress: a progress bar, as in :func:`mi_utils.fit.fit` (off by default).

    Returns:
        ``(decoder, trace)``: the fitted decoder and ``trace`` of shape ``[num_steps]``, the
        minibatch bound :math:`\hat I_{\rm BA}` (nats) at each step, before its update.

    Reference: Barber & Agakov (2003); Poole et al. (2019), Sec. 2.1.
    """
    from ..train import fit  # here, not at the top: mi_utils.train imports mi_utils.nn

    _check_task(task)
    variance = check_choice(variance, "variance", VARIANCES)
    num_steps = check_int(num_steps, "num_steps")
    batch_size = check_int(batch_size, "batch_size")
    lr = check_positive(lr, "lr")
    dtype = dtype or torch.get_default_dtype()
    decoder = GaussianDecoder(
        task.x_dim, task.y_dim, variance, generator=generator, device=device, dtype=dtype
    )

    def objective(step: int) -> torch.Tensor:
        x, y = task.sample(batch_size, generator=generator, device=device, dtype=dtype)
        return ba_lower_bound(decoder.log_prob(x, y), task.entropy_x)

    def half_cosine(step: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * step / num_steps))

    params = decoder.parameters()
    trace = fit(
        objective, params, num_steps, lr=lr, lr_lambda=half_cosine, progress=progress, desc="BA"
    )
    return decoder, trace


def gaussian_task_gap(decoder: GaussianDecoder, task) -> torch.Tensor:
    r"""Exact BA gap of a :class:`GaussianDecoder` on the correlated Gaussian task.

    For :math:`p(x \mid y) = \mathcal N(\rho y, (1-\rho^2) I_d)` and
    :math:`q(x \mid y) = \mathcal N(W y + b, \mathrm{diag}(\sigma^2))`, with :math:`w_k` the
    :math:`k`-th row of :math:`W` and :math:`e_k` the :math:`k`-th unit vector,

    .. math::

        I - I_{\rm BA}(q) = \mathbb{E}_{p(y)}\big[\mathrm{KL}(p(x\mid y)\,\|\,q(x\mid y))\big]
        = \frac12 \sum_{k=1}^d \left[
        \frac{1-\rho^2 + \lVert w_k - \rho e_k\rVert^2 + b_k^2}{\sigma_k^2}
        - 1 + \log\frac{\sigma_k^2}{1-\rho^2} \right] \ge 0 .

    It is zero exactly at :math:`W = \rho I`, :math:`b = 0`, :math:`\sigma^2 = 1-\rho^2`.
    Valid for the Gaussian task only, not for a transformed one such as the cubic task.

    Args:
        decoder: a :class:`GaussianDecoder` with ``x_dim == y_dim == task.dim``.
        task: a :class:`mi_utils.tasks.CorrelatedGaussian`.

    Returns:
        A 0-d tensor, in nats (differentiable in the decoder's parameters).

    Reference: Barber & Agakov (2003); Poole et al. (2019), Sec. 2.1.
    """
    if not isinstance(decoder, GaussianDecoder):
        raise TypeError(f"decoder must be a GaussianDecoder; got {type(decoder).__name__}")
    if not isinstance(task, CorrelatedGaussian):
        raise TypeError(
            "task must be a CorrelatedGaussian (the closed form needs the Gaussian posterior "
            f"p(x|y) = N(rho y, (1 - rho^2) I)); got {type(task).__name__}"
        )
    dims = (decoder.config["x_dim"], decoder.config["y_dim"])
    if dims != (task.dim, task.dim):
        raise ValueError(f"decoder must have x_dim == y_dim == task.dim = {task.dim}; got {dims}")
    rho = task.rho
    w, b, log_var = decoder.weight, decoder.bias, decoder.log_var
    post_var = 1.0 - rho * rho
    eye = torch.eye(w.shape[0], device=w.device, dtype=w.dtype)
    mean_err = (w - rho * eye).square().sum(-1) + b.square()  # E_y ||(W y + b - rho y)_k||^2
    per_dim = (post_var + mean_err) * torch.exp(-log_var) - 1.0 + log_var - math.log(post_var)
    return 0.5 * per_dim.sum()
