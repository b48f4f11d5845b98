r"""Gaussian and Student-t tasks with a given joint covariance (dispersion), in closed form.

- :class:`~mi_utils.tasks.MultiNormal`: jointly Gaussian :math:`(X, Y)`, MI
  :math:`\tfrac12\log\frac{\det\Sigma_{XX}\det\Sigma_{YY}}{\det\Sigma}` and exact densities;
- :class:`~mi_utils.tasks.StudentT`: a multivariate Student-t with :math:`\nu` degrees of freedom,
  whose MI is the
  Gaussian MI of its dispersion plus :func:`~mi_utils.tasks.student_t_mi_correction` in :math:`\nu,
  m, n`;
- :func:`~mi_utils.tasks.dense_covariance` and :func:`~mi_utils.tasks.sparse_covariance`: the two
  structures of the "Beyond Normal" benchmark (Czyż et al., 2023), whose named tasks
  :func:`~mi_utils.tasks.beyond_normal_task` builds.

Both tasks compute their score matrices ``scores[..., i, j] = f(x_j, y_i)`` in :math:`O(K^2)`
memory from whitened samples; the matrices are factorised once, in float64, at construction.
"""

from __future__ import annotations

import math

import torch

from ..validation import check_float_tensor, check_int, check_real
from .base import Task

__all__ = [
    "MultiNormal",
    "StudentT",
    "dense_covariance",
    "sparse_covariance",
    "student_t_mi_correction",
]

_LOG_2PI = math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------- covariances
def dense_covariance(x_dim: int, y_dim: int, off_diag: float = 0.5) -> torch.Tensor:
    r"""The benchmark's *dense* structure: unit variances and every correlation equal to ``c``,
    :math:`\Sigma = (1 - c) I + c\,\mathbf 1\mathbf 1^\top`, ``[x_dim + y_dim]`` square, float64.

    Positive definite for :math:`-1/(d-1) < c < 1`, :math:`d` = ``x_dim + y_dim``.
    Reference: Czyż et al. (2023); ``bmi.benchmark.tasks.task_multinormal_dense``.
    """
    d = check_int(x_dim, "x_dim") + check_int(y_dim, "y_dim")
    c = check_real(off_diag, "off_diag", -1.0, 1.0)
    return torch.full((d, d), c, dtype=torch.float64) + (1.0 - c) * torch.eye(
        d, dtype=torch.float64
    )


def sparse_covariance(
    x_dim: int, y_dim: int, n_interacting: int = 2, strength: float = 2.0
) -> torch.Tensor:
    r"""The benchmark's *sparse* structure: the pairs :math:`(X_i, Y_i)`, ``i < n_interacting``,
    have correlation :math:`\lambda^2/(1+\lambda^2)` (``strength`` :math:`\lambda`), all other
    pairs of distinct coordinates 0; unit variances. Float64, ``[x_dim + y_dim]`` square.

    It is the correlation matrix of ``bmi``'s latent-variable model with
    :math:`X_i = \lambda Z_i + E_i`, :math:`Y_i = \lambda Z_i + F_i` (``i < n_interacting``) and
    :math:`X_i = \lambda V_i + E_i`, :math:`Y_i = \lambda W_i + F_i` otherwise, all latents i.i.d.
    :math:`\mathcal N(0, 1)`. With the defaults (2 pairs, :math:`\rho = 0.8`) the MI is
    :math:`-2\cdot\tfrac12\log(1 - 0.8^2) = 1.0217` nats in every dimension.

    Reference: Czyż et al. (2023); ``bmi.benchmark.tasks.task_multinormal_sparse`` and
    ``bmi.samplers.GaussianLVMParametrization``.
    """
    x_dim, y_dim = check_int(x_dim, "x_dim"), check_int(y_dim, "y_dim")
    k = check_int(n_interacting, "n_interacting", minimum=0)
    if k > min(x_dim, y_dim):
        raise ValueError(f"n_interacting must be <= min(x_dim, y_dim)={min(x_dim, y_dim)}; got {k}")
    lam2 = check_real(strength, "strength", -math.inf, math.inf) ** 2
    cov = torch.eye(x_dim + y_dim, dtype=torch.float64)
    idx = torch.arange(k)
    cov[idx, x_dim + idx] = cov[x_dim + idx, idx] = lam2 / (1.0 + lam2)
    return cov


def _parse_cov(cov: object, x_dim: int, y_dim: int, name: str) -> torch.Tensor:
    """A symmetric positive-definite float64 ``[d, d]`` from a full matrix or a cross block."""
    if not isinstance(cov, torch.Tensor):
        try:
            cov = torch.as_tensor(cov, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be a floating tensor or array; got {cov!r}") from err
    cov = check_float_tensor(cov, name, "[x_dim + y_dim, x_dim + y_dim] or [x_dim, y_dim]")
    cov = cov.detach().to(device="cpu", dtype=torch.float64)
    d = x_dim + y_dim
    if tuple(cov.shape) == (x_dim, y_dim):  # the cross block, with identity marginal blocks
        full = torch.eye(d, dtype=torch.float64)
        full[:x_dim, x_dim:], full[x_dim:, :x_dim] = cov, cov.T
        cov = full
    if tuple(cov.shape) != (d, d):
        raise ValueError(
            f"{name} must have shape [x_dim + y_dim] * 2 = {(d, d)} or the cross block "
            f"[x_dim, y_dim] = {(x_dim, y_dim)}; got {tuple(cov.shape)}"
        )
    if not bool(torch.isfinite(cov).all()) or not torch.allclose(cov, cov.T, rtol=0, atol=1e-12):
        raise ValueError(f"{name} must be finite and symmetric")
    if torch.linalg.cholesky_ex(cov).info != 0:
        low = torch.linalg.eigvalsh(cov)[0].item()
        raise ValueError(f"{name} must be positive definite; its smallest eigenvalue is {low:.4g}")
    return cov


def _logdet(chol: torch.Tensor) -> float:
    return 2.0 * torch.log(torch.diagonal(chol)).sum().item()


# ----------------------------------------------------------------------------- elliptical tasks
class _SplitElliptical(Task):
    """Shared algebra of the Gaussian and Student-t tasks: blocks, Cholesky factors, whitening.

    With :math:`B = \\Sigma_{YX}\\Sigma_{XX}^{-1}` and :math:`S = \\Sigma_{YY} - B\\Sigma_{XY}`,
    the joint Mahalanobis form splits as :math:`x^\\top\\Sigma_{XX}^{-1}x +
    (y - Bx)^\\top S^{-1}(y - Bx)`.
    """

    def __init__(self, cov, x_dim, y_dim, arg, name):
        self.x_dim, self.y_dim = check_int(x_dim, "x_dim"), check_int(y_dim, "y_dim")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None; got {type(name).__name__}")
        self._name = name
        c = _parse_cov(cov, self.x_dim, self.y_dim, arg)
        cxx, cxy, cyy = (
            c[: self.x_dim, : self.x_dim],
            c[: self.x_dim, self.x_dim :],
            c[self.x_dim :, self.x_dim :],
        )
        self.matrix = c
        self._chol = torch.linalg.cholesky(c)
        lxx, lyy = torch.linalg.cholesky(cxx), torch.linalg.cholesky(cyy)
        b = torch.linalg.solve(cxx, cxy).T  # [y_dim, x_dim]
        ls = torch.linalg.cholesky(cyy - b @ cxy)
        eye_y = torch.eye(self.y_dim, dtype=torch.float64)
        ls_inv = torch.linalg.solve_triangular(ls, eye_y, upper=False)
        self._mats = {
            "x": torch.linalg.solve_triangular(
                lxx, torch.eye(self.x_dim, dtype=torch.float64), upper=False
            ),
            "y": torch.linalg.solve_triangular(lyy, eye_y, upper=False),
            "s": ls_inv,
            "sb": ls_inv @ b,
        }
        self._logdets = {"x": _logdet(lxx), "y": _logdet(lyy), "s": _logdet(ls)}
        self._gaussian_mi = 0.5 * (_logdet(lxx) + _logdet(lyy) - _logdet(self._chol))

    @property
    def name(self) -> str:
        return self._name or type(self).__name__.lower()

    def _m(self, key: str, like: torch.Tensor) -> torch.Tensor:
        return self._mats[key].to(device=like.device, dtype=like.dtype)

    def _quad(self, key: str, v: torch.Tensor) -> torch.Tensor:
        """:math:`v^\\top M^{-1} v` for the block ``key`` (``"x"`` or ``"y"``), ``[..., K]``."""
        return (v @ self._m(key, v).T).square().sum(-1)

    def _cond_quad(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``D[..., i, j] = (y_i - B x_j)^T S^{-1} (y_i - B x_j)``, in O(K^2) memory."""
        u, v = y @ self._m("s", y).T, x @ self._m("sb", x).T
        cross = u @ v.transpose(-1, -2)
        return (
            u.square().sum(-1)[..., :, None] + v.square().sum(-1)[..., None, :] - 2 * cross
        ).clamp_min(0.0)

    def _normals(self, shape, extra, generator, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(
            (*shape, self.x_dim + self.y_dim + extra),
            generator=generator,
            device=device,
            dtype=dtype,
        )
        d = self.x_dim + self.y_dim
        return z[..., :d] @ self._chol.to(device=z.device, dtype=dtype).T, z[..., d:]


class MultiNormal(_SplitElliptical):
    r"""Jointly Gaussian :math:`(X, Y) \sim \mathcal N(0, \Sigma)` with a given covariance.

    .. math::

        I(X;Y) = \tfrac12 \log\frac{\det\Sigma_{XX}\,\det\Sigma_{YY}}{\det\Sigma},\qquad
        p(y\mid x) = \mathcal N\big(\Sigma_{YX}\Sigma_{XX}^{-1}x,\;
        \Sigma_{YY} - \Sigma_{YX}\Sigma_{XX}^{-1}\Sigma_{XY}\big).

    Args:
        cov: the joint covariance :math:`\Sigma`, ``[x_dim + y_dim, x_dim + y_dim]``, or its cross
            block :math:`\Sigma_{XY}` ``[x_dim, y_dim]`` (then :math:`\Sigma_{XX} = I`,
            :math:`\Sigma_{YY} = I`): a tensor, array or nested list; symmetric and positive
            definite (checked once, with a Cholesky factorisation, in float64).
        x_dim, y_dim: the dimensions of :math:`x` and :math:`y`.
        name: the task's name (default ``"multinormal"``).

    Reference: Cover & Thomas (2006), Thm. 8.4.1 (Gaussian entropy); Czyż et al. (2023).

    Attributes:
        matrix: the joint covariance :math:`\Sigma`, float64 ``[x_dim + y_dim]`` square.
    """

    def __init__(self, cov, x_dim: int, y_dim: int, *, name: str | None = None):
        super().__init__(cov, x_dim, y_dim, "cov", name)

    @property
    def mi(self) -> float:
        """:math:`\\tfrac12\\log(\\det\\Sigma_{XX}\\det\\Sigma_{YY}/\\det\\Sigma)` in nats."""
        return self._gaussian_mi

    def sample(self, num_samples, *, batch_shape=(), generator=None, device=None, dtype=None):
        """``(x, y)`` from one draw :math:`z \\sim \\mathcal N(0, I)` ``[..., K, d]``:
        :math:`(x, y) = L z`, :math:`\\Sigma = L L^\\top`."""
        shape, dtype = self._sample_args(num_samples, batch_shape, generator, dtype)
        xy, _ = self._normals(shape, 0, generator, device, dtype)
        return xy[..., : self.x_dim], xy[..., self.x_dim :]

    def log_marginal(self, y: torch.Tensor) -> torch.Tensor:
        y = self._check_y(y)
        return -0.5 * (self.y_dim * _LOG_2PI + self._logdets["y"] + self._quad("y", y))

    def log_conditional(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = self._check_x(x), self._check_y(y)
        return -0.5 * (self.y_dim * _LOG_2PI + self._logdets["s"] + self._cond_quad(x, y))

    def __repr__(self) -> str:
        return f"MultiNormal(x_dim={self.x_dim}, y_dim={self.y_dim}, mi={self.mi:.4g})"


def student_t_mi_correction(df: float, x_dim: int, y_dim: int) -> float:
    r"""The Student-t correction :math:`c(\nu, m, n) = h_m + h_n - h_{m+n}`, where :math:`h_k`
    is the entropy of the standard :math:`k`-variate Student-t with :math:`\nu` degrees of freedom
    minus :math:`\tfrac k2\log\nu\pi`:

    .. math::

        c = \log\Gamma(\tfrac\nu2) - \log\Gamma(\tfrac{\nu+m}2) - \log\Gamma(\tfrac{\nu+n}2)
        + \log\Gamma(\tfrac{\nu+m+n}2) - \tfrac\nu2\psi(\tfrac\nu2)
        + \tfrac{\nu+m}2\psi(\tfrac{\nu+m}2) + \tfrac{\nu+n}2\psi(\tfrac{\nu+n}2)
        - \tfrac{\nu+m+n}2\psi(\tfrac{\nu+m+n}2),

    with :math:`\psi` the digamma function; :math:`c > 0` and :math:`c \to 0` as
    :math:`\nu \to \infty`.

    Reference: Arellano-Valle, Contreras-Reyes & Genton (2013), Scand. J. Stat. 40, Eq. (7)
    (the entropy; their final MI formula is slightly off, as the ``bmi`` package notes, so the
    correction is built from the entropies, as in ``bmi.samplers.SplitStudentT``).
    """
    nu = check_real(df, "df", 0.0, math.inf, open_low=True)
    m, n = check_int(x_dim, "x_dim"), check_int(y_dim, "y_dim")
    a = torch.tensor([nu, nu + m, nu + n, nu + m + n], dtype=torch.float64) / 2
    terms = torch.lgamma(a) - a * torch.digamma(a)
    return (terms[0] - terms[1] - terms[2] + terms[3]).item()


class StudentT(_SplitElliptical):
    r"""A multivariate Student-t :math:`(X, Y) \sim t_\nu(0, \Omega)`: :math:`(X, Y) =
    Z/\sqrt{U/\nu}`, :math:`Z \sim \mathcal N(0, \Omega)`, :math:`U \sim \chi^2_\nu`.

    .. math::

        I(X;Y) = \tfrac12\log\frac{\det\Omega_{XX}\det\Omega_{YY}}{\det\Omega}
        + c(\nu, m, n),

    the Gaussian MI of the dispersion plus :func:`~mi_utils.tasks.student_t_mi_correction`
    (entropies of
    :math:`t_\nu(0, \Omega)` shift by :math:`\tfrac12\log\det\Omega`). Marginals are
    :math:`t_\nu` with the blocks of :math:`\Omega`; :math:`\log p(y \mid x) = \log p(x, y) -
    \log p(x)` with :math:`\log t_\nu(v; \Omega) = \log\Gamma(\tfrac{\nu+k}2) - \log\Gamma(\tfrac
    \nu2) - \tfrac k2\log\nu\pi - \tfrac12\log\det\Omega - \tfrac{\nu+k}2\log(1 + v^\top
    \Omega^{-1}v/\nu)`.

    Args:
        dispersion: :math:`\Omega`, full ``[x_dim + y_dim]`` square or the cross block
            ``[x_dim, y_dim]``, as ``cov`` of :class:`~mi_utils.tasks.MultiNormal` (not the
            covariance, which is :math:`\tfrac{\nu}{\nu-2}\Omega` for :math:`\nu > 2`).
        x_dim, y_dim: the dimensions :math:`m, n`.
        df: the degrees of freedom :math:`\nu`, an int >= 1 (:math:`U` is a sum of :math:`\nu`
            squared normals, so the draw is exact and needs only the generator).
        name: the task's name (default ``"studentt"``).

    Reference: Arellano-Valle et al. (2013); Czyż et al. (2023).

    Attributes:
        matrix: the dispersion :math:`\Omega`, float64 ``[x_dim + y_dim]`` square.
        df: :math:`\nu`.
        mi_correction: :math:`c(\nu, m, n)`, the part of :attr:`mi` beyond the Gaussian MI.
    """

    def __init__(self, dispersion, x_dim: int, y_dim: int, df: int, *, name: str | None = None):
        super().__init__(dispersion, x_dim, y_dim, "dispersion", name)
        self.df = check_int(df, "df")
        self.mi_correction = student_t_mi_correction(self.df, self.x_dim, self.y_dim)

    @property
    def mi(self) -> float:
        """Gaussian MI of :math:`\\Omega` plus :math:`c(\\nu, m, n)`, in nats."""
        return self._gaussian_mi + self.mi_correction

    def sample(self, num_samples, *, batch_shape=(), generator=None, device=None, dtype=None):
        """``(x, y)`` from one normal draw ``[..., K, d + ν]``: :math:`Lz/\\sqrt{U/\\nu}` with
        :math:`U` the sum of the last :math:`\\nu` squares."""
        shape, dtype = self._sample_args(num_samples, batch_shape, generator, dtype)
        xy, g = self._normals(shape, self.df, generator, device, dtype)
        xy = xy * torch.rsqrt(g.square().mean(-1, keepdim=True))
        return xy[..., : self.x_dim], xy[..., self.x_dim :]

    def _log_norm(self, k: int) -> float:
        nu = self.df
        return math.lgamma((nu + k) / 2) - math.lgamma(nu / 2) - 0.5 * k * math.log(nu * math.pi)

    def log_marginal(self, y: torch.Tensor) -> torch.Tensor:
        y = self._check_y(y)
        k, nu = self.y_dim, self.df
        log_kernel = -0.5 * (nu + k) * torch.log1p(self._quad("y", y) / nu)
        return self._log_norm(k) - 0.5 * self._logdets["y"] + log_kernel

    def log_conditional(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = self._check_x(x), self._check_y(y)
        m, d, nu = self.x_dim, self.x_dim + self.y_dim, self.df
        qx = self._quad("x", x)[..., None, :]
        joint = -0.5 * (nu + d) * torch.log1p((qx + self._cond_quad(x, y)) / nu)
        const = self._log_norm(d) - self._log_norm(m) - 0.5 * self._logdets["s"]
        return const + joint + 0.5 * (nu + m) * torch.log1p(qx / nu)

    def __repr__(self) -> str:
        return f"StudentT(x_dim={self.x_dim}, y_dim={self.y_dim}, df={self.df}, mi={self.mi:.4g})"
