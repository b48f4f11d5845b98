r"""Tasks with a known mutual information.

The testbed of Poole et al. (2019, Sec. 5) is a pair of correlated Gaussians:

.. math::

    x \sim \mathcal N(0, I_d), \qquad
    y = \rho x + \sqrt{1-\rho^2}\,\varepsilon, \quad \varepsilon \sim \mathcal N(0, I_d),

so that each coordinate pair :math:`(x_k, y_k)` is a standard bivariate normal with
correlation :math:`\rho`, the pairs are independent, and

.. math::

    I(X;Y) = -\tfrac d2 \log(1-\rho^2) \quad \text{nats}.

The *cubic* task observes :math:`y^3` (elementwise) instead of :math:`y`. The cube is a smooth
bijection of each coordinate, so :math:`I(X;Y^3) = I(X;Y)`: the MI is unchanged while the
optimal critic is no longer quadratic.

Score convention (``../shared/GUIDE.md``): ``scores[..., i, j] = f(x_j, y_i)``. Rows index
``y`` and columns index ``x``; the diagonal holds the joint pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

import torch

from .validation import FLOAT_DTYPES, check_dtype, check_generator, check_int

__all__ = [
    "CorrelatedGaussian",
    "gaussian_log_conditional",
    "gaussian_log_marginal",
    "gaussian_log_ratio",
    "mi_to_rho",
    "rho_to_mi",
    "sample_correlated_gaussian",
]

_LOG_2PI = math.log(2.0 * math.pi)


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
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(t).__name__}")
        if t.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{name} must be a floating tensor (float32 or float64); got {t.dtype}")
        if t.dim() < 2:
            raise ValueError(f"{name} must have shape [..., K, d]; got shape {tuple(t.shape)}")
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
def _cube(y: torch.Tensor) -> torch.Tensor:
    return y * y * y


def _cube_root(y: torch.Tensor) -> torch.Tensor:
    return torch.sign(y) * y.abs().pow(1.0 / 3.0)


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
    cubic: bool = False,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draw ``batch_size`` joint samples :math:`(x, y)` of the correlated Gaussian task.

    :math:`x\sim\mathcal N(0,I_d)`, :math:`y=\rho x+\sqrt{1-\rho^2}\,\varepsilon`; with
    ``cubic=True`` the returned ``y`` is :math:`y^3` elementwise (same MI).

    Args:
        batch_size: number of joint pairs ``K >= 1``.
        dim: dimension ``d >= 1``.
        rho: correlation in (-1, 1). A tensor of shape ``[R]`` (or any ``[...]``) draws
            independent batches for each entry, giving outputs of shape ``[..., K, d]``.
        cubic: observe ``y**3`` instead of ``y``.
        generator: the source of randomness; the global RNG is never touched when given.
        device: device of the output (default: ``rho``'s device for a tensor, else CPU).
        dtype: floating dtype of the output (default: ``torch.get_default_dtype()``).

    Returns:
        ``(x, y)``, each of shape ``[..., K, d]``.

    Reference: Poole et al. (2019), Sec. 5.
    """
    batch_size = check_int(batch_size, "batch_size")
    dim = _check_dim(dim)
    rho = _check_rho(rho)
    dtype = check_dtype(dtype) or torch.get_default_dtype()
    generator = check_generator(generator)
    if device is None:
        device = rho.device if isinstance(rho, torch.Tensor) else torch.device("cpu")
    lead = tuple(rho.shape) if isinstance(rho, torch.Tensor) else ()
    shape = (*lead, batch_size, dim)
    # Draw in one call so that x and eps come from one contiguous stream of the generator.
    z = torch.randn((2, *shape), generator=generator, device=device, dtype=dtype)
    x, eps = z[0], z[1]
    r = _as_rho_tensor(rho, x)
    y = r * x + torch.sqrt(1.0 - r * r) * eps
    return x, (_cube(y) if cubic else y)


# ----------------------------------------------------------------------------- densities
def _gaussian_y(y: torch.Tensor, cubic: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Latent Gaussian ``y`` and the log-Jacobian term ``-sum log|d y_obs / d y|`` per sample."""
    if not cubic:
        return y, torch.zeros(y.shape[:-1], device=y.device, dtype=y.dtype)
    z = _cube_root(y)
    # y_obs = z^3  =>  p(y_obs) = p(z) / |3 z^2| per coordinate.
    log_jac = -(math.log(3.0) + 2.0 * torch.log(z.abs())).sum(-1)
    return z, log_jac


def gaussian_log_marginal(
    y: torch.Tensor, *, dim: int | None = None, cubic: bool = False
) -> torch.Tensor:
    r"""Log density :math:`\log p(y_i)` of the task's marginal, shape ``[..., K]``.

    For the Gaussian task :math:`p(y)=\mathcal N(0, I_d)`. For the cubic task the density of
    :math:`y^3` includes the Jacobian :math:`-\sum_k\log|3 z_k^2|` with :math:`z=y^{1/3}`.
    """
    if not isinstance(y, torch.Tensor) or y.dtype not in FLOAT_DTYPES:
        raise TypeError("y must be a floating torch.Tensor of shape [..., K, d]")
    if y.dim() < 2:
        raise ValueError(f"y must have shape [..., K, d]; got shape {tuple(y.shape)}")
    if dim is not None and _check_dim(dim) != y.shape[-1]:
        raise ValueError(f"dim={dim} does not match y.shape[-1]={y.shape[-1]}")
    z, log_jac = _gaussian_y(y, cubic)
    d = z.shape[-1]
    return -0.5 * (d * _LOG_2PI + z.square().sum(-1)) + log_jac


def _sq_dist_scaled(x: torch.Tensor, z: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """``D[..., i, j] = ||z_i - r x_j||^2`` in O(K^2) memory (no [K, K, d] intermediate)."""
    zz = z.square().sum(-1)[..., :, None]
    xx = x.square().sum(-1)[..., None, :]
    zx = z @ x.transpose(-1, -2)
    d2 = zz - 2.0 * r * zx + r * r * xx
    return d2.clamp_min(0.0)


def gaussian_log_conditional(
    x: torch.Tensor, y: torch.Tensor, rho: float | torch.Tensor, *, cubic: bool = False
) -> torch.Tensor:
    r"""Score matrix of :math:`\log p(y_i \mid x_j)`, shape ``[..., K, K]``.

    :math:`p(y\mid x)=\mathcal N(\rho x,(1-\rho^2)I_d)`; for the cubic task ``y`` is the observed
    cube and the Jacobian term of :func:`gaussian_log_marginal` is included.

    Args:
        x, y: samples of shape ``[..., K, d]`` (``y`` as observed).
        rho: the task's correlation: a float, or a tensor of the leading shape ``[...]``.
    """
    x, y = _check_pair(x, y)
    rho = _check_rho(rho)
    z, log_jac = _gaussian_y(y, cubic)
    r = _as_rho_tensor(rho, x)
    var = 1.0 - r * r
    d = x.shape[-1]
    d2 = _sq_dist_scaled(x, z, r)
    return -0.5 * (d * (_LOG_2PI + torch.log(var)) + d2 / var) + log_jac[..., :, None]


def gaussian_log_ratio(
    x: torch.Tensor, y: torch.Tensor, rho: float | torch.Tensor, *, cubic: bool = False
) -> torch.Tensor:
    r"""The optimal critic :math:`f^*(x_j, y_i)=\log p(y_i\mid x_j)-\log p(y_i)`, ``[..., K, K]``.

    In closed form (the Jacobian of the cubic task cancels):

    .. math::

        f^*(x, y) = -\tfrac d2\log(1-\rho^2) - \frac{\lVert z-\rho x\rVert^2}{2(1-\rho^2)}
        + \frac{\lVert z\rVert^2}{2}, \qquad z = y \ \text{(or } y^{1/3}\text{ for cubic)}.

    Its mean over the diagonal (joint pairs) is an unbiased estimate of :math:`I(X;Y)`.

    Reference: Poole et al. (2019), Sec. 2 (the optimal critic of every bound in the chain).
    """
    x, y = _check_pair(x, y)
    rho = _check_rho(rho)
    z, _ = _gaussian_y(y, cubic)
    r = _as_rho_tensor(rho, x)
    var = 1.0 - r * r
    d = x.shape[-1]
    d2 = _sq_dist_scaled(x, z, r)
    return -0.5 * d * torch.log(var) - 0.5 * d2 / var + 0.5 * z.square().sum(-1)[..., :, None]


# ----------------------------------------------------------------------------- task object
@dataclass(frozen=True)
class CorrelatedGaussian:
    r"""The correlated Gaussian task (or its cubic variant) with known MI.

    Build it from a correlation, ``CorrelatedGaussian(dim=20, rho=0.5)``, or from a target MI,
    ``CorrelatedGaussian.from_mi(2.0, dim=20)``.

    Attributes:
        dim: dimension ``d`` of ``x`` and ``y``.
        rho: correlation per coordinate, in (-1, 1).
        cubic: observe :math:`y^3` instead of :math:`y`.
    """

    dim: int
    rho: float
    cubic: bool = False

    def __post_init__(self) -> None:
        _check_dim(self.dim)
        if isinstance(self.rho, torch.Tensor):
            raise TypeError(
                "rho must be a real number for CorrelatedGaussian; use the functions for tensors"
            )
        object.__setattr__(self, "rho", _check_rho(self.rho))
        if not isinstance(self.cubic, bool):
            raise TypeError(f"cubic must be a bool; got {type(self.cubic).__name__}")

    @classmethod
    def from_mi(cls, mi: float, dim: int, *, cubic: bool = False) -> CorrelatedGaussian:
        """The task whose true MI is ``mi`` nats in dimension ``dim``."""
        if isinstance(mi, torch.Tensor):
            raise TypeError("mi must be a real number for CorrelatedGaussian.from_mi")
        return cls(dim=dim, rho=mi_to_rho(mi, dim), cubic=cubic)

    @property
    def mi(self) -> float:
        """True MI :math:`I(X;Y)` in nats."""
        return rho_to_mi(self.rho, self.dim)

    @property
    def entropy_x(self) -> float:
        r"""Differential entropy :math:`h(X)=\tfrac d2\log(2\pi e)` in nats."""
        return 0.5 * self.dim * (1.0 + _LOG_2PI)

    def sample(
        self,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch_size`` joint samples ``(x, y)``, each ``[K, d]``."""
        return sample_correlated_gaussian(
            batch_size,
            self.dim,
            self.rho,
            cubic=self.cubic,
            generator=generator,
            device=device,
            dtype=dtype,
        )

    def optimal_critic(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r"""Scores :math:`\log p(y_i|x_j) - \log p(y_i)`, ``[..., K, K]``."""
        self._check_dim_of(x)
        return gaussian_log_ratio(x, y, self.rho, cubic=self.cubic)

    def log_conditional(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r"""Scores :math:`\log p(y_i|x_j)`, ``[..., K, K]``."""
        self._check_dim_of(x)
        return gaussian_log_conditional(x, y, self.rho, cubic=self.cubic)

    def log_marginal(self, y: torch.Tensor) -> torch.Tensor:
        r""":math:`\log p(y_i)`, ``[..., K]``."""
        return gaussian_log_marginal(y, dim=self.dim, cubic=self.cubic)

    def _check_dim_of(self, x: torch.Tensor) -> None:
        if isinstance(x, torch.Tensor) and x.dim() >= 1 and x.shape[-1] != self.dim:
            raise ValueError(f"x.shape[-1]={x.shape[-1]} does not match the task's dim={self.dim}")
