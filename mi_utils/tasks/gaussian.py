r"""The correlated Gaussian task: its MI, densities and optimal critic in closed form.

The testbed of Poole et al. (2019, Sec. 5) is a pair of correlated Gaussians:

.. math::

    x \sim \mathcal N(0, I_d), \qquad
    y = \rho x + \sqrt{1-\rho^2}\,\varepsilon, \quad \varepsilon \sim \mathcal N(0, I_d),

so that each coordinate pair :math:`(x_k, y_k)` is a standard bivariate normal with
correlation :math:`\rho`, the pairs are independent, and

.. math::

    I(X;Y) = -\tfrac d2 \log(1-\rho^2) \quad \text{nats}.

The *cubic* task of the paper observes :math:`y^3` instead of :math:`y`: it is this task
wrapped in :class:`~mi_utils.tasks.Cube` (see :func:`~mi_utils.tasks.cubic`), which keeps the MI.

Score matrices follow ``scores[..., i, j] = f(x_j, y_i)``: rows index ``y``, columns index
``x``, and the diagonal holds the joint pairs.
"""

from __future__ import annotations

import math
from numbers import Real

import torch

from ..validation import FLOAT_DTYPES, check_dtype, check_generator, check_int, check_samples
from .base import Task

__all__ = [
    "LOG_2PI",
    "CorrelatedGaussian",
    "gaussian_log_conditional",
    "gaussian_log_marginal",
    "gaussian_log_ratio",
    "mi_to_rho",
    "rho_to_mi",
    "sample_correlated_gaussian",
]

#: :math:`\log 2\pi`, the constant of every Gaussian log density.
LOG_2PI = math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------- validation
def _check_dim(dim: object) -> int:
    return check_int(dim, "dim")


def _check_rho(rho: object) -> float | torch.Tensor:
    """Accept a real number or a floating tensor with every entry in (-1, 1)."""
    if isinstance(rho, torch.Tensor):
        if rho.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"rho must be a floating tensor or a real number; got dtype {rho.dtype}"
            )
        bad = ~((rho > -1) & (rho < 1))  # also catches NaN
        if bad.any():
            raise ValueError(
                f"rho must lie in the open interval (-1, 1); got {rho[bad].flatten()[:4].tolist()}"
            )
        return rho
    if isinstance(rho, bool) or not isinstance(rho, Real):
        raise TypeError(
            f"rho must be a real number in (-1, 1) or a tensor; got {type(rho).__name__}"
        )
    rho = float(rho)
    if not -1.0 < rho < 1.0:
        raise ValueError(f"rho must lie in the open interval (-1, 1); got {rho}")
    return rho


def _check_mi(mi: object) -> float | torch.Tensor:
    if isinstance(mi, torch.Tensor):
        if mi.dtype not in FLOAT_DTYPES:
            raise TypeError(f"mi must be a floating tensor or a real number; got dtype {mi.dtype}")
        bad = ~((mi >= 0) & torch.isfinite(mi))
        if bad.any():
            raise ValueError(
                f"mi must be finite and >= 0 nats; got {mi[bad].flatten()[:4].tolist()}"
            )
        return mi
    if isinstance(mi, bool) or not isinstance(mi, Real):
        raise TypeError(f"mi must be a real number >= 0 or a tensor; got {type(mi).__name__}")
    mi = float(mi)
    if not (mi >= 0.0 and math.isfinite(mi)):
        raise ValueError(f"mi must be finite and >= 0 nats; got {mi}")
    return mi


def _check_pair(x: object, y: object) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = check_samples(x, "x"), check_samples(y, "y")
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(
            "x and y must have shapes [..., K_x, d] and [..., K_y, d] with the same d; "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    return x, y


# ----------------------------------------------------------------------------- conversions
def rho_to_mi(rho: float | torch.Tensor, dim: int) -> float | torch.Tensor:
    r"""True MI (nats) of the correlated Gaussian task: :math:`I = -\tfrac d2\log(1-\rho^2)`.

    Args:
        rho: correlation per coordinate, in (-1, 1); a float or a floating tensor.
        dim: dimension ``d >= 1``.

    Returns:
        A float for a float ``rho``, else a tensor of the shape of ``rho``.

    Reference: Poole et al. (2019), Sec. 5; Cover & Thomas (2006), Ex. 8.5.1.
    """
    rho = _check_rho(rho)
    dim = _check_dim(dim)
    if isinstance(rho, torch.Tensor):
        return -0.5 * dim * torch.log1p(-rho.square())
    return -0.5 * dim * math.log1p(-rho * rho)


def mi_to_rho(mi: float | torch.Tensor, dim: int) -> float | torch.Tensor:
    r"""Correlation giving MI ``mi`` in dimension ``dim``: :math:`\rho=\sqrt{1-e^{-2I/d}}`.

    The inverse of :func:`rho_to_mi` on :math:`\rho \ge 0`.

    Args:
        mi: true MI in nats, finite and >= 0; a float or a floating tensor.
        dim: dimension ``d >= 1``.
    """
    mi = _check_mi(mi)
    dim = _check_dim(dim)
    if isinstance(mi, torch.Tensor):
        rho = torch.sqrt(-torch.expm1(-2.0 * mi / dim))
        saturated, precision = bool((rho >= 1.0).any()), str(rho.dtype)
    else:
        rho = math.sqrt(-math.expm1(-2.0 * mi / dim))
        saturated, precision = rho >= 1.0, "float64"
    if saturated:
        raise ValueError(
            f"mi is too large for dim={dim}: rho = sqrt(1 - exp(-2 mi / d)) rounds to 1 in "
            f"{precision}; keep mi / dim below about 15 nats per dimension"
        )
    return rho


# ----------------------------------------------------------------------------- sampling
def _as_rho_tensor(rho: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Broadcastable rho of shape ``[..., 1, 1]`` on ``like``'s device and dtype."""
    if isinstance(rho, torch.Tensor):
        return rho.to(device=like.device, dtype=like.dtype)[..., None, None]
    return torch.tensor(rho, device=like.device, dtype=like.dtype)


def sample_correlated_gaussian(
    batch_size: int,
    dim: int,
    rho: float | torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draw ``batch_size`` joint samples :math:`(x, y)` of the correlated Gaussian task.

    :math:`x\sim\mathcal N(0,I_d)`, :math:`y=\rho x+\sqrt{1-\rho^2}\,\varepsilon`.

    Args:
        batch_size: number of joint pairs ``K >= 1``.
        dim: dimension ``d >= 1``.
        rho: correlation in (-1, 1). A tensor of shape ``[R]`` (or any ``[...]``) draws
            independent batches for each entry, giving outputs of shape ``[..., K, d]``.
        generator: the source of randomness; the global RNG is never touched when given.
        device: device of the output (default: ``rho``'s device for a tensor, else CPU).
        dtype: floating dtype of the output (default: ``torch.get_default_dtype()``).

    Returns:
        ``(x, y)``, each of shape ``[..., K, d]``. ``x`` and ``ε`` come from one draw of
        shape ``[2, ..., K, d]``.

    Reference: Poole et al. (2019), Sec. 5.
    """
    batch_size = check_int(batch_size, "batch_size")
    dim = check_int(dim, "dim")
    rho = _check_rho(rho)
    dtype = check_dtype(dtype) or torch.get_default_dtype()
    generator = check_generator(generator)
    if device is None:
        device = rho.device if isinstance(rho, torch.Tensor) else torch.device("cpu")
    lead = tuple(rho.shape) if isinstance(rho, torch.Tensor) else ()
    z = torch.randn((2, *lead, batch_size, dim), generator=generator, device=device, dtype=dtype)
    r = _as_rho_tensor(rho, z)
    return z[0], r * z[0] + torch.sqrt(1.0 - r * r) * z[1]


# ----------------------------------------------------------------------------- densities
def gaussian_log_marginal(y: torch.Tensor, *, dim: int | None = None) -> torch.Tensor:
    r"""Log density :math:`\log p(y_i)` of :math:`\mathcal N(0, I_d)`, shape ``[..., K]``."""
    y = check_samples(y, "y")
    if dim is not None and check_int(dim, "dim") != y.shape[-1]:
        raise ValueError(f"dim={dim} does not match y.shape[-1]={y.shape[-1]}")
    return -0.5 * (y.shape[-1] * LOG_2PI + y.square().sum(-1))


def _sq_dist_scaled(x: torch.Tensor, y: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """``D[..., i, j] = ||y_i - r x_j||^2`` in O(K^2) memory (no [K, K, d] intermediate)."""
    yy = y.square().sum(-1)[..., :, None]
    xx = x.square().sum(-1)[..., None, :]
    yx = y @ x.transpose(-1, -2)
    return (yy - 2.0 * r * yx + r * r * xx).clamp_min(0.0)


def gaussian_log_conditional(
    x: torch.Tensor, y: torch.Tensor, rho: float | torch.Tensor
) -> torch.Tensor:
    r"""Score matrix of :math:`\log p(y_i \mid x_j)`, shape ``[..., K, K]``.

    :math:`p(y\mid x)=\mathcal N(\rho x,(1-\rho^2)I_d)`.

    Args:
        x, y: samples of shape ``[..., K, d]``.
        rho: the task's correlation: a float, or a tensor of the leading shape ``[...]``.
    """
    x, y = _check_pair(x, y)
    r = _as_rho_tensor(_check_rho(rho), x)
    var = 1.0 - r * r
    d2 = _sq_dist_scaled(x, y, r)
    return -0.5 * (x.shape[-1] * (LOG_2PI + torch.log(var)) + d2 / var)


def gaussian_log_ratio(x: torch.Tensor, y: torch.Tensor, rho: float | torch.Tensor) -> torch.Tensor:
    r"""The optimal critic :math:`f^*(x_j, y_i)=\log p(y_i\mid x_j)-\log p(y_i)`, ``[..., K, K]``.

    .. math::

        f^*(x, y) = -\tfrac d2\log(1-\rho^2) - \frac{\lVert y-\rho x\rVert^2}{2(1-\rho^2)}
        + \frac{\lVert y\rVert^2}{2}.

    Its mean over the diagonal (joint pairs) is an unbiased estimate of :math:`I(X;Y)`.

    Reference: Poole et al. (2019), Sec. 2 (the optimal critic of every bound in the chain).
    """
    x, y = _check_pair(x, y)
    r = _as_rho_tensor(_check_rho(rho), x)
    var = 1.0 - r * r
    d2 = _sq_dist_scaled(x, y, r)
    return (
        -0.5 * x.shape[-1] * torch.log(var)
        - 0.5 * d2 / var
        + 0.5 * y.square().sum(-1)[..., :, None]
    )


# ----------------------------------------------------------------------------- task object
class CorrelatedGaussian(Task):
    r"""The correlated Gaussian task of Poole et al. (2019, Sec. 5), with known MI.

    Build it from a correlation, ``CorrelatedGaussian(dim=20, rho=0.5)``, or from a target MI,
    ``CorrelatedGaussian.from_mi(2.0, dim=20)``. ``x_dim = y_dim = dim``; the paper's cubic task
    is ``cubic(CorrelatedGaussian(...))`` (:func:`mi_utils.tasks.cubic`).

    Args:
        dim: dimension ``d`` of ``x`` and ``y``.
        rho: correlation per coordinate, in (-1, 1).
    """

    def __init__(self, dim: int, rho: float):
        if isinstance(rho, torch.Tensor):
            raise TypeError(
                "rho must be a real number for CorrelatedGaussian; use the functions for tensors"
            )
        self.dim = check_int(dim, "dim")
        self.rho = _check_rho(rho)
        self.x_dim = self.y_dim = self.dim

    @classmethod
    def from_mi(cls, mi: float, dim: int) -> CorrelatedGaussian:
        """The task whose true MI is ``mi`` nats in dimension ``dim``."""
        if isinstance(mi, torch.Tensor):
            raise TypeError("mi must be a real number for CorrelatedGaussian.from_mi")
        return cls(dim=dim, rho=mi_to_rho(mi, dim))

    @property
    def mi(self) -> float:
        """True MI :math:`I(X;Y) = -\\tfrac d2\\log(1-\\rho^2)` in nats (exact)."""
        return rho_to_mi(self.rho, self.dim)

    @property
    def name(self) -> str:
        """``"gaussian"``."""
        return "gaussian"

    @property
    def entropy_x(self) -> float:
        r"""Differential entropy :math:`h(X)=\tfrac d2\log(2\pi e)` in nats."""
        return 0.5 * self.dim * (1.0 + LOG_2PI)

    def sample(self, num_samples, *, batch_shape=(), generator=None, device=None, dtype=None):
        """Joint samples ``(x, y)``, each ``[*batch_shape, num_samples, dim]``.

        Each batch of ``num_samples`` pairs is drawn as one ``[2, num_samples, dim]`` block
        (``x``, then the noise of ``y``), batches in order: ``batch_shape=(n,)`` gives the same
        numbers as ``n`` calls with ``batch_shape=()`` on a CPU generator whenever
        ``2 * num_samples * dim`` is a multiple of 16 (torch's CPU sampler fills normals in
        blocks of 16), so a trainer may draw many steps at once without changing its data.
        """
        shape, dtype = self._sample_args(num_samples, batch_shape, generator, dtype)
        z = torch.randn(
            (*shape[:-1], 2, shape[-1], self.dim), generator=generator, device=device, dtype=dtype
        )
        x = z[..., 0, :, :]
        return x, self.rho * x + math.sqrt(1.0 - self.rho**2) * z[..., 1, :, :]

    def log_marginal(self, y: torch.Tensor) -> torch.Tensor:
        r""":math:`\log p(y_i)`, ``[..., K]``."""
        return gaussian_log_marginal(self._check_y(y))

    def log_conditional(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r"""Scores :math:`\log p(y_i|x_j)`, ``[..., K, K]``."""
        return gaussian_log_conditional(self._check_x(x), self._check_y(y), self.rho)

    def log_ratio(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r"""Scores :math:`\log p(y_i|x_j) - \log p(y_i)`, ``[..., K, K]`` (closed form)."""
        return gaussian_log_ratio(self._check_x(x), self._check_y(y), self.rho)

    def nwj_variance(self, batch_size: int) -> float:
        r"""Exact variance of the NWJ estimate on one batch of ``batch_size`` pairs at its optimum.

        The estimate is NWJ's batch estimate (:func:`mi_utils.bounds.nwj_lower_bound`) at the
        optimal critic :math:`f = 1 + \log p(y|x) - \log p(y)`, equal to TUBA's with the
        true conditional and the baseline :math:`a(y) = p(y)`. With :math:`K` = ``batch_size``,
        :math:`\rho` the correlation and :math:`d` the dimension,

        .. math::

            \operatorname{Var} = \frac{d\,\rho^2}{K}
            + \frac{e^{2I} + (1 - \rho^4)^{-d} - 2}{K (K - 1)},

        the variance of the joint term plus that of the partition term, which are uncorrelated
        (derived in the book's Chapter 3). It grows like :math:`e^{2I}/K^2`.

        Args:
            batch_size: ``K``, an int >= 2.

        Raises:
            OverflowError: when the variance exceeds the float range (MI above ~354 nats).
        """
        k = check_int(batch_size, "batch_size", minimum=2)
        d, rho2 = self.dim, self.rho**2
        try:
            e2i = math.exp(-d * math.log1p(-rho2))  # (1 - rho^2)^(-d) = e^{2I}
            swap = math.exp(-d * math.log1p(-(rho2**2)))  # (1 - rho^4)^(-d)
            variance = d * rho2 / k + (e2i + swap - 2.0) / (k * (k - 1))
        except OverflowError:
            variance = math.inf
        if not math.isfinite(variance):
            raise OverflowError(
                f"the NWJ variance at I = {self.mi:.1f} nats exceeds the float range"
            )
        return variance

    def __eq__(self, other: object) -> bool:
        return type(other) is CorrelatedGaussian and (self.dim, self.rho) == (other.dim, other.rho)

    def __hash__(self) -> int:
        return hash((CorrelatedGaussian, self.dim, self.rho))

    def __repr__(self) -> str:
        return f"CorrelatedGaussian(dim={self.dim}, rho={self.rho!r})"
