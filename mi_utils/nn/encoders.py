r"""Stochastic Gaussian encoders :math:`p(z \mid x)` with a tractable density.

An encoder maps an input :math:`x` to a diagonal Gaussian over a code :math:`z`,

.. math::

    \log p(z \mid x) = -\frac12 \sum_{k=1}^{d_z}
    \left[\log 2\pi + 2\log\sigma_k(x) + \frac{(z_k - \mu_k(x))^2}{\sigma_k^2(x)}\right],

with an MLP body (:class:`~mi_utils.nn.GaussianEncoder`, flat inputs) or a small convolutional one
(:class:`~mi_utils.nn.ConvGaussianEncoder`, images). Samples are reparameterised,
:math:`z = \mu(x) + \sigma(x) \odot \varepsilon`, :math:`\varepsilon \sim \mathcal N(0, I)`.

**Structured bounds.** The density is known, so the encoder is its own critic: its score matrix
:math:`S[\dots, i, j] = \log p(z_i \mid x_j)`
(:meth:`~mi_utils.nn.GaussianEncoderBase.log_prob_matrix`; rows index :math:`z`, columns
:math:`x`, the diagonal holds the ``K`` joint pairs) fed to :mod:`mi_utils.bounds` bounds the
MI of the encoder's own joint :math:`p(x)\,p(z \mid x)`. InfoNCE on it is
:math:`I_{\rm TNCE}` (:func:`mi_utils.bounds.infonce_lower_bound`, at most :math:`\log K`):

.. math::

    I(X; Z) \;\ge\; \mathbb E\left[\frac1K \sum_{i=1}^K
    \log \frac{p(z_i \mid x_i)}{\frac1K \sum_{j=1}^K p(z_i \mid x_j)}\right] .

:math:`I_\alpha` takes the same matrix and a log baseline :math:`\log a(z_i)`, ``[..., K]``
(a fixed prior :math:`\mathcal N(z; 0, I)` or a learned marginal):
``interpolated_lower_bound(S, log_a, alpha)`` (:func:`mi_utils.bounds.interpolated_lower_bound`).
Leaving the positive out gives the minibatch *upper* bound
(:func:`mi_utils.bounds.minibatch_upper_bound`), valid because the density is the true one.
One forward pass serves the sample and the matrix::

    mean, log_sigma = encoder(x)
    z = reparameterize(mean, log_sigma, generator)
    scores = gaussian_log_prob_matrix(z, mean, log_sigma)  # [..., K, K]

**Stability.** The raw output :math:`r` becomes
:math:`\log\sigma = \ell + \mathrm{softplus}(r - \ell) - \mathrm{softplus}(r - h)`, a smooth,
increasing map onto :data:`~mi_utils.nn.LOG_SIGMA_RANGE` :math:`= (\ell, h) = (-7, 5)`, within
:math:`e^{\ell - r} + e^{r - h}` of :math:`r`. The matrix needs no ``[K, K, d_z]`` tensor.

**Validation.** Inputs ``[..., K, in_dim]`` (images ``[..., K, C, H, W]``) and codes
``[..., K, z_dim]`` of the encoder's dtype; errors name the argument. Non-finite values raise
:class:`ValueError` on a CPU; on a GPU that check is skipped (a host sync per call).

References: Poole et al. (2019), structured bounds and Sec. 4.3 (dSprites); Kingma & Welling
(2014); Higgins et al. (2017) and Burgess et al. (2018) (the convolutional body).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import (
    check_choice,
    check_float_tensor,
    check_generator,
    check_module_config,
    check_module_input,
)
from .layers import ACTIVATIONS, MLP, Module, linear_init

__all__ = [
    "LOG_SIGMA_RANGE",
    "ConvGaussianEncoder",
    "GaussianEncoder",
    "GaussianEncoderBase",
    "gaussian_log_prob",
    "gaussian_log_prob_matrix",
    "reparameterize",
]

#: The interval :math:`(\ell, h)` that :math:`\log\sigma` is softly clamped to.
LOG_SIGMA_RANGE: tuple[float, float] = (-7.0, 5.0)

_LOG_2PI = math.log(2.0 * math.pi)


def _soft_clamp(raw: torch.Tensor) -> torch.Tensor:
    lo, hi = LOG_SIGMA_RANGE
    return lo + F.softplus(raw - lo) - F.softplus(raw - hi)


def _check_finite(t: torch.Tensor, name: str) -> None:
    if t.device.type == "cpu" and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must hold finite values; got NaN or inf")


def _check_params(z: object, mean: object, log_sigma: object) -> torch.Tensor:
    """``z``, ``mean`` and ``log_sigma`` floating ``[..., K, d]`` of one shape and dtype."""
    for t, name in ((z, "z"), (mean, "mean"), (log_sigma, "log_sigma")):
        check_float_tensor(t, name, "[..., K, d]")
    if z.dim() < 2 or mean.shape != z.shape or log_sigma.shape != z.shape:
        raise ValueError(
            "z, mean and log_sigma must share one shape [..., K, d]; got z "
            f"{tuple(z.shape)}, mean {tuple(mean.shape)}, log_sigma {tuple(log_sigma.shape)}"
        )
    if mean.dtype != z.dtype or log_sigma.dtype != z.dtype:
        raise TypeError(
            f"z, mean and log_sigma must share one dtype; got {z.dtype}, {mean.dtype}, "
            f"{log_sigma.dtype}"
        )
    return z


def gaussian_log_prob(z: torch.Tensor, mean: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    r""":math:`\log \mathcal N(z_i;\ \mu_i,\ \mathrm{diag}\,\sigma_i^2)` of matched rows.

    Args:
        z, mean, log_sigma: ``[..., K, d]`` each (:math:`z`, :math:`\mu`, :math:`\log\sigma`).

    Returns:
        ``[..., K]``, in nats.
    """
    _check_params(z, mean, log_sigma)
    per_dim = _LOG_2PI + 2.0 * log_sigma + ((z - mean) * torch.exp(-log_sigma)).square()
    return -0.5 * per_dim.sum(-1)


def gaussian_log_prob_matrix(
    z: torch.Tensor, mean: torch.Tensor, log_sigma: torch.Tensor, *, per_dim: bool = False
) -> torch.Tensor:
    r"""The score matrix :math:`S[\dots, i, j] = \log \mathcal N(z_i; \mu_j, \sigma_j^2)`.

    With precisions :math:`w_{jk} = \sigma_{jk}^{-2}` and a centre :math:`c` (the batch mean of
    :math:`\mu`; the value does not depend on it), the quadratic form is three matmuls,

    .. math::

        \sum_k w_{jk}(z_{ik} - \mu_{jk})^2 = \big[(z-c)^{2} w^\top\big]_{ij}
        - 2\big[(z-c)(w \odot (\mu-c))^\top\big]_{ij} + \sum_k w_{jk}(\mu_{jk}-c_k)^2,

    so memory is ``O(K^2 + K d)``; the diagonal is :func:`gaussian_log_prob` (exact).

    Args:
        z: ``[..., K, d]``, the codes :math:`z_i` (rows of the result).
        mean, log_sigma: ``[..., K, d]``, :math:`\mu_j` and :math:`\log\sigma_j` (columns).
        per_dim: return the per-dimension terms ``[..., K, K, d]``,
            :math:`\log \mathcal N(z_{ik}; \mu_{jk}, \sigma_{jk}^2)` (``O(K^2 d)`` memory), for
            :func:`~mi_utils.bounds.total_correlation_upper_bound`.

    Returns:
        ``[..., K, K]`` (``[..., K, K, d]`` with ``per_dim``), differentiable in all three.
    """
    _check_params(z, mean, log_sigma)
    if per_dim:
        u = (z[..., :, None, :] - mean[..., None, :, :]) * torch.exp(-log_sigma)[..., None, :, :]
        return -0.5 * (_LOG_2PI + 2.0 * log_sigma[..., None, :, :] + u.square())
    centre = mean.detach().mean(-2, keepdim=True)
    zc, mc = z - centre, mean - centre
    prec = torch.exp(-2.0 * log_sigma)  # [..., K, d]: w_j
    quad = (
        zc.square() @ prec.transpose(-1, -2)
        - 2.0 * zc @ (prec * mc).transpose(-1, -2)
        + (prec * mc.square()).sum(-1)[..., None, :]
    ).clamp_min(0.0)  # rounding can dip below 0 for near-equal pairs
    log_norm = -0.5 * z.shape[-1] * _LOG_2PI - log_sigma.sum(-1)  # [..., K]: column j
    scores = log_norm[..., None, :] - 0.5 * quad
    eye = torch.eye(z.shape[-2], dtype=torch.bool, device=z.device)
    return torch.where(eye, gaussian_log_prob(z, mean, log_sigma)[..., :, None], scores)


def reparameterize(
    mean: torch.Tensor, log_sigma: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    r""":math:`z = \mu + \sigma \odot \varepsilon`, :math:`\varepsilon \sim \mathcal N(0, I)`.

    ``mean`` and ``log_sigma`` share one shape; ``z`` has it too and is differentiable in both.
    :math:`\varepsilon` is drawn from ``generator`` on the generator's device and then moved, so
    one seed gives the same draw on any device; ``None`` uses the global RNG.
    """
    for t, name in ((mean, "mean"), (log_sigma, "log_sigma")):
        check_float_tensor(t, name, "[..., K, d]")
    if mean.shape != log_sigma.shape:
        raise ValueError(
            f"mean and log_sigma must share one shape; got {tuple(mean.shape)} and "
            f"{tuple(log_sigma.shape)}"
        )
    on = mean.device if check_generator(generator) is None else generator.device
    eps = torch.randn(mean.shape, generator=generator, device=on, dtype=mean.dtype)
    return mean + torch.exp(log_sigma) * eps.to(mean.device)


class GaussianEncoderBase(Module):
    r"""Base class of the encoders :math:`p(z \mid x) = \mathcal N(\mu(x), \sigma^2(x))`.

    A subclass builds a network whose output ``[..., K, 2 z_dim]`` holds :math:`\mu` and the
    raw :math:`\log\sigma`, and says which input shape it takes; this class turns it into
    :meth:`forward`, :meth:`sample`, :meth:`log_prob` and :meth:`log_prob_matrix`.
    """

    def __init__(self):
        """Subclasses set ``config`` (with ``z_dim``) and define ``_check_x(x)`` (validate ``x``,
        return its leading shape ``[..., K]``) and ``_net(x)`` (``[..., K, 2 z_dim]``)."""
        super().__init__()

    def _params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw = self._net(x).chunk(2, dim=-1)
        return mean, _soft_clamp(raw)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""``(mean, log_sigma)``, each ``[..., K, z_dim]``; ``log_sigma`` lies in
        :data:`LOG_SIGMA_RANGE`."""
        self._check_x(x)
        return self._params(x)

    def sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""A reparameterised draw :math:`z \sim p(z \mid x)`, ``[..., K, z_dim]``
        (:func:`reparameterize`)."""
        return reparameterize(*self(x), generator)

    def _check_z(self, z: object, lead: torch.Size) -> torch.Tensor:
        z = check_module_input("z", z, self.config["z_dim"], None, self._like)
        if z.shape[:-1] != lead:
            raise ValueError(
                f"z must have the leading shape [..., K] of x, {tuple(lead)} (K pairs); got z "
                f"of shape {tuple(z.shape)}"
            )
        _check_finite(z, "z")
        return z

    @property
    def _like(self) -> torch.Tensor:
        return next(self.parameters())

    def log_prob(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\log p(z_i \mid x_i)` of the ``K`` matched pairs: ``[..., K]``.

        Args:
            z: ``[..., K, z_dim]``.
            x: the encoder's input with the same leading shape ``[..., K]``.
        """
        z = self._check_z(z, self._check_x(x))
        return gaussian_log_prob(z, *self._params(x))

    def log_prob_matrix(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        r"""``S[..., i, j]`` :math:`= \log p(z_i \mid x_j)`: ``[..., K, K]``, the critic's scores.

        Rows index :math:`z` and columns :math:`x`, as for every critic of :mod:`mi_utils.nn`;
        the diagonal equals :meth:`log_prob`. Feed it to :mod:`mi_utils.bounds`
        (:func:`~mi_utils.bounds.infonce_lower_bound` is :math:`I_{\rm TNCE}`).

        Args:
            x: the encoder's input, leading shape ``[..., K]``.
            z: ``[..., K, z_dim]``.
        """
        z = self._check_z(z, self._check_x(x))
        return gaussian_log_prob_matrix(z, *self._params(x))

    def extra_repr(self) -> str:
        """The configuration, shown by ``repr``."""
        return ", ".join(f"{k}={v}" for k, v in self.config.items())


class GaussianEncoder(GaussianEncoderBase):
    r"""Gaussian encoder with an MLP body: ``x`` ``[..., K, in_dim]`` to codes ``[..., K, z_dim]``.

    One :class:`~mi_utils.nn.layers.MLP` with ``num_layers`` hidden layers of ``hidden_dim``
    units outputs :math:`[\mu(x); r(x)]` (``2 z_dim`` values); :math:`\log\sigma` is :math:`r`
    softly clamped to :data:`LOG_SIGMA_RANGE`. Weights are drawn like :class:`torch.nn.Linear`
    from ``generator``.

    Reference: Kingma & Welling (2014); Poole et al. (2019), Sec. 4.3.
    """

    def __init__(
        self,
        in_dim: int,
        z_dim: int,
        hidden_dim: int = 256,
        num_layers: int = 2,
        activation: str = "relu",
        *,
        generator=None,
        device=None,
        dtype=None,
    ):
        """An encoder of ``in_dim`` inputs and a ``z_dim``-dimensional code.

        Args:
            in_dim, z_dim: ints >= 1.
            hidden_dim: units of each hidden layer, an int >= 1.
            num_layers: hidden layers, an int >= 1.
            activation: ``"relu"``, ``"tanh"``, ``"elu"`` or ``"softplus"``.
            generator: ``torch.Generator`` for the initial weights, or ``None`` (the global RNG).
            device, dtype: of the parameters (``dtype`` floating).
        """
        super().__init__()
        self.config = check_module_config(
            generator, dtype, in_dim=in_dim, z_dim=z_dim, hidden_dim=hidden_dim,
            num_layers=num_layers,
        )  # fmt: skip
        self.config["activation"] = check_choice(activation, "activation", sorted(ACTIVATIONS))
        opts = dict(generator=generator, device=device, dtype=dtype)
        self.net = MLP(in_dim, hidden_dim, 2 * z_dim, num_layers, activation, **opts)

    def _check_x(self, x: object) -> torch.Size:
        x = check_module_input("x", x, self.config["in_dim"], None, self._like)
        _check_finite(x, "x")
        return x.shape[:-1]

    def _net(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvGaussianEncoder(GaussianEncoderBase):
    r"""Gaussian encoder of images ``[..., K, C, H, W]`` with a small convolutional body.

    ``len(channels)`` convolutions of 4 x 4 kernels, stride 2 and padding 1 each halve the side
    (64 -> 32 -> 16 -> 8 -> 4 with the default four), each followed by ``activation``; then an
    :class:`~mi_utils.nn.layers.MLP` with one hidden layer of ``hidden_dim`` units maps the
    flattened features to :math:`[\mu(x); r(x)]`, as in :class:`GaussianEncoder`. The
    defaults are the beta-VAE encoder of dSprites. A kernel's weight and bias are drawn like
    :class:`torch.nn.Conv2d`'s, :math:`\mathcal U(\pm 1/\sqrt{C_{\rm in} \cdot 16})`, from
    ``generator`` (:func:`~mi_utils.nn.linear_init`). Single-channel images ``[..., K, H, W]``
    (such as :func:`mi_utils.tasks.sample_dsprites`'s) need ``images.unsqueeze(-3)``.

    Reference: Higgins et al. (2017); Burgess et al. (2018); Poole et al. (2019), Sec. 4.3.
    """

    def __init__(
        self,
        z_dim: int,
        in_channels: int = 1,
        image_size: int = 64,
        channels: tuple[int, ...] = (32, 32, 32, 32),
        hidden_dim: int = 256,
        activation: str = "relu",
        *,
        generator=None,
        device=None,
        dtype=None,
    ):
        """An encoder of ``in_channels x image_size x image_size`` images.

        Args:
            z_dim: dimension of the code, an int >= 1.
            in_channels: channels :math:`C` of the input, an int >= 1.
            image_size: the side :math:`H = W`, an int divisible by ``2 ** len(channels)``.
            channels: output channels of each convolution, a non-empty tuple of ints >= 1.
            hidden_dim: units of the hidden layer of the head, an int >= 1.
            activation: ``"relu"``, ``"tanh"``, ``"elu"`` or ``"softplus"``.
            generator: ``torch.Generator`` for the initial weights (convolutions in order,
                weight then bias, then the head), or ``None`` (the global RNG).
            device, dtype: of the parameters (``dtype`` floating).
        """
        super().__init__()
        self.config = check_module_config(
            generator, dtype, z_dim=z_dim, in_channels=in_channels, image_size=image_size,
            hidden_dim=hidden_dim,
        )  # fmt: skip
        if not isinstance(channels, (tuple, list)) or not channels:
            raise TypeError(f"channels must be a non-empty tuple of ints >= 1; got {channels!r}")
        check_module_config(None, None, **{f"channels[{i}]": c for i, c in enumerate(channels)})
        side = image_size // 2 ** len(channels)
        if side * 2 ** len(channels) != image_size:
            raise ValueError(
                f"image_size must be divisible by 2 ** len(channels) = {2 ** len(channels)}; "
                f"got {image_size}"
            )
        self.config["channels"] = tuple(channels)
        self.config["activation"] = check_choice(activation, "activation", sorted(ACTIVATIONS))
        self.conv_weights, self.conv_biases = nn.ParameterList(), nn.ParameterList()
        for c_in, c_out in zip((in_channels, *channels[:-1]), channels, strict=True):
            weight, bias = linear_init(c_in * 16, c_out, generator, device, dtype)
            self.conv_weights.append(nn.Parameter(weight.reshape(c_out, c_in, 4, 4)))
            self.conv_biases.append(nn.Parameter(bias))
        opts = dict(generator=generator, device=device, dtype=dtype)
        flat = channels[-1] * side * side
        self.head = MLP(flat, hidden_dim, 2 * z_dim, 1, activation, **opts)

    def _check_x(self, x: object) -> torch.Size:
        c, s = self.config["in_channels"], self.config["image_size"]
        want = f"[..., K, {c}, {s}, {s}]"
        x = check_float_tensor(x, "x", want)
        if x.dtype != self._like.dtype:
            raise TypeError(
                f"x must be a tensor of the module's dtype {self._like.dtype}; got {x.dtype}"
            )
        if x.dim() < 4 or tuple(x.shape[-3:]) != (c, s, s):
            raise ValueError(
                f"x must have shape {want} (C, H, W last; add a channel axis with "
                f"x.unsqueeze(-3)); got {tuple(x.shape)}"
            )
        _check_finite(x, "x")
        return x.shape[:-3]

    def _net(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-3]
        h = x.reshape(math.prod(lead), *x.shape[-3:])
        act = ACTIVATIONS[self.config["activation"]]
        for weight, bias in zip(self.conv_weights, self.conv_biases, strict=True):
            h = act(F.conv2d(h, weight, bias, stride=2, padding=1))
        out = self.head(h.flatten(1))
        return out.reshape(*lead, out.shape[-1])
