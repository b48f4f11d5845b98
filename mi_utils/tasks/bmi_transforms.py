r"""The MI-preserving transforms of the "Beyond Normal" benchmark (Czyż et al., 2023).

Each is a :class:`~mi_utils.tasks.Transform` for :class:`~mi_utils.tasks.TransformedTask`:

- :class:`~mi_utils.tasks.HalfCube`, :math:`z \mapsto z\sqrt{|z|}` coordinate by coordinate (longer
  tails);
- :class:`~mi_utils.tasks.Asinh`, :math:`z \mapsto \operatorname{asinh} z` (shorter tails);
- :class:`~mi_utils.tasks.NormalCDF`, :math:`z \mapsto \Phi(z)` (a Gaussian made uniform on
  :math:`(0, 1)`);
- :class:`~mi_utils.tasks.Spiral`, :math:`z \mapsto \exp(v\lVert z\rVert^2 A)\, z`, a rotation by
  an angle growing with the squared norm (a volume-preserving diffeomorphism);
- :class:`~mi_utils.tasks.Wiggly`, :math:`z \mapsto z + \sum_k a_k\sin(\omega_k z + \varphi_k)`,
  monotone;
- :class:`~mi_utils.tasks.GaussianMixtureQuantile`, :math:`z \mapsto F^{-1}(\Phi(z))` for the CDF
  :math:`F` of a mixture of unit-variance normals (the benchmark's bimodal task);
- :class:`~mi_utils.tasks.SwissRoll`, the embedding :math:`u \mapsto (t\cos t, t\sin t)/21`,
  :math:`t = \tfrac{3\pi}{2}(1 + 2u)`, of :math:`[0, 1]` in the plane (1-d to 2-d, no Jacobian
  determinant; its left inverse still gives :math:`p(y \mid x)`, which only needs :math:`u`).

Where the map is a bijection each has its inverse and :math:`\log\lvert\det J\rvert`, so the
transformed task keeps its densities. The benchmark's tasks, with their names and parameters, are
built by :func:`~mi_utils.tasks.beyond_normal_task`.

Reference: Czyż, Grabowski, Vogt, Beerenwinkel & Marx (2023), "Beyond Normal: On the Evaluation
of Mutual Information Estimators", NeurIPS; their ``bmi`` package (``bmi.transforms``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from ..validation import check_int, check_real
from .transforms import Transform

__all__ = [
    "Asinh",
    "GaussianMixtureQuantile",
    "HalfCube",
    "NormalCDF",
    "Spiral",
    "SwissRoll",
    "Wiggly",
]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _log_normal_pdf(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * z.square() - _HALF_LOG_2PI


def _bisect(
    fn: Callable[[torch.Tensor], torch.Tensor],
    target: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    steps: int = 64,
) -> torch.Tensor:
    """Solve ``fn(z) = target`` for an increasing ``fn`` with the root in ``[lo, hi]``, in float64
    (64 halvings take any bracket below float64's resolution); returns ``target``'s dtype."""
    out_dtype = target.dtype
    target, lo, hi = target.double(), lo.double(), hi.double()
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        below = fn(mid) < target
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return (0.5 * (lo + hi)).to(out_dtype)


def _real_tuple(values: object, name: str) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise TypeError(f"{name} must be a non-empty sequence of real numbers; got {values!r}")
    return tuple(check_real(v, name, -math.inf, math.inf) for v in values)


class HalfCube(Transform):
    r"""The half-cube map :math:`z \mapsto z\sqrt{|z|}`, coordinate by coordinate.

    Inverse :math:`y \mapsto \operatorname{sign}(y)|y|^{2/3}`;
    :math:`\log\lvert\det J\rvert = \sum_k \log\tfrac32 + \tfrac12\log|z_k|`.

    Reference: Czyż et al. (2023) ("half-cube", long tails); ``bmi.transforms.half_cube``.
    """

    name = "half_cube"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * z.abs().sqrt()

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return torch.sign(y) * y.abs().pow(2.0 / 3.0)

    def log_abs_det_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        return (math.log(1.5) + 0.5 * torch.log(z.abs())).sum(-1)

    def __repr__(self) -> str:
        return "HalfCube()"


class Asinh(Transform):
    r"""The inverse hyperbolic sine :math:`z \mapsto \operatorname{asinh} z`, coordinate by
    coordinate: it shortens the tails of the Student-t tasks.

    :math:`\log\lvert\det J\rvert = -\tfrac12\sum_k \log(1 + z_k^2) = -\sum_k \log\cosh y_k`.
    """

    name = "asinh"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.asinh(z)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return torch.sinh(y)

    def log_abs_det_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        return -0.5 * torch.log1p(z.square()).sum(-1)

    def inverse_and_log_det(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # log cosh y = |y| + log1p(exp(-2|y|)) - log 2, finite where 1 + sinh(y)^2 overflows.
        a = y.abs()
        log_cosh = a + torch.log1p(torch.exp(-2.0 * a)) - math.log(2.0)
        return torch.sinh(y), -log_cosh.sum(-1)

    def __repr__(self) -> str:
        return "Asinh()"


class NormalCDF(Transform):
    r"""The standard normal CDF :math:`z \mapsto \Phi(z)`, coordinate by coordinate, onto
    :math:`(0, 1)`: a Gaussian task becomes one with uniform marginals.

    Inverse :math:`\Phi^{-1}` (``torch.special.ndtri``);
    :math:`\log\lvert\det J\rvert = \sum_k \log\varphi(z_k)`. In float32, :math:`\Phi(z)` rounds
    to 1 beyond :math:`z \approx 5.4`, where the inverse is infinite: use float64 for densities.
    """

    name = "normal_cdf"

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.special.ndtr(z)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return torch.special.ndtri(y)

    def log_abs_det_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        return _log_normal_pdf(z).sum(-1)

    def __repr__(self) -> str:
        return "NormalCDF()"


class Spiral(Transform):
    r"""The spiral :math:`z \mapsto \exp(v\,\lVert z\rVert^2 A)\,z` of Czyż et al. (2023).

    :math:`A` is the generator of the rotations of the plane ``(i, j)``
    (:math:`A_{ij} = -1`, :math:`A_{ji} = 1`): the coordinates ``i`` and ``j`` turn by the angle
    :math:`\theta = v\lVert z\rVert^2`. A rotation keeps the norm, so the inverse turns back by
    the same angle, :math:`z = \exp(-v\lVert y\rVert^2 A)\,y`; and
    :math:`J = R\,(I + 2\theta'\!A z z^\top)` with :math:`z^\top A z = 0` gives
    :math:`\det J = 1`.

    Args:
        dim: the dimension :math:`d \ge 2` it acts on.
        speed: :math:`v`, a real number (the benchmark uses :math:`1/d`).
        plane: the pair ``(i, j)``, ``0 <= i < j < dim`` (the benchmark turns the plane (0, 1)
            of :math:`x` and (1, 2) of :math:`y`).

    Reference: Czyż et al. (2023) (the spiral diffeomorphism); ``bmi.transforms.Spiral``.
    """

    name = "spiral"

    def __init__(self, dim: int, speed: float = 1.0, plane: tuple[int, int] = (0, 1)):
        self.input_dim = check_int(dim, "dim", minimum=2)
        self.speed = check_real(speed, "speed", -math.inf, math.inf)
        if (
            not isinstance(plane, (tuple, list))
            or len(plane) != 2
            or not all(isinstance(k, int) and not isinstance(k, bool) for k in plane)
            or not 0 <= plane[0] < plane[1] < dim
        ):
            raise ValueError(
                f"plane must be a pair (i, j) with 0 <= i < j < dim={dim}; got {plane}"
            )
        self.plane = (plane[0], plane[1])

    def _turn(self, z: torch.Tensor, sign: float) -> torch.Tensor:
        i, j = self.plane
        theta = sign * self.speed * z.square().sum(-1)
        c, s = torch.cos(theta), torch.sin(theta)
        zi, zj = z[..., i], z[..., j]
        out = z.clone()
        out[..., i] = c * zi - s * zj
        out[..., j] = s * zi + c * zj
        return out

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self._turn(z, 1.0)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return self._turn(y, -1.0)

    def log_abs_det_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        return z.new_zeros(z.shape[:-1])

    def __repr__(self) -> str:
        return f"Spiral(dim={self.input_dim}, speed={self.speed!r}, plane={self.plane})"


class Wiggly(Transform):
    r"""The wiggly map :math:`g(z) = z + \sum_k a_k \sin(\omega_k z + \varphi_k)`, coordinate by
    coordinate.

    :math:`g'(z) = 1 + \sum_k a_k\omega_k\cos(\omega_k z + \varphi_k) \ge 1 - \sum_k|a_k\omega_k|`,
    so :math:`\sum_k|a_k\omega_k| < 1` (checked) makes :math:`g` strictly increasing. The inverse
    is found by bisection in :math:`[y - \sum_k|a_k|,\ y + \sum_k|a_k|]` (float64, 64 halvings);
    :math:`\log\lvert\det J\rvert = \sum_i \log g'(z_i)`.

    Args:
        amplitudes, frequencies, phases: the :math:`a_k`, :math:`\omega_k`, :math:`\varphi_k`,
            sequences of equal length. The benchmark's maps are, for :math:`x`,
            ``(0.4, 0.2, 0.03), (1.0, 1.7, 3.3), (0.0, 1.0, -2.5)`` and, for :math:`y`,
            ``(-0.4, 0.17, 0.02), (0.4, 1.3, 4.3), (0.0, 3.5, -2.5)``.

    Reference: Czyż et al. (2023); ``bmi.benchmark.tasks.wiggly``.
    """

    name = "wiggly"

    def __init__(self, amplitudes, frequencies, phases):
        self.amplitudes = _real_tuple(amplitudes, "amplitudes")
        self.frequencies = _real_tuple(frequencies, "frequencies")
        self.phases = _real_tuple(phases, "phases")
        if not len(self.amplitudes) == len(self.frequencies) == len(self.phases):
            raise ValueError("amplitudes, frequencies and phases must have the same length")
        slope = sum(abs(a * w) for a, w in zip(self.amplitudes, self.frequencies, strict=True))
        if slope >= 1.0:
            raise ValueError(
                "amplitudes and frequencies must satisfy sum |a_k w_k| < 1 (a monotone map); "
                f"got {slope:.4g}"
            )
        self._terms = tuple(zip(self.amplitudes, self.frequencies, self.phases, strict=True))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + sum(a * torch.sin(w * z + p) for a, w, p in self._terms)

    def derivative(self, z: torch.Tensor) -> torch.Tensor:
        r""":math:`g'(z)`, elementwise, same shape as ``z``."""
        return 1.0 + sum(a * w * torch.cos(w * z + p) for a, w, p in self._terms)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        reach = sum(abs(a) for a in self.amplitudes)
        return _bisect(self.forward, y, y - reach, y + reach)

    def log_abs_det_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        return torch.log(self.derivative(z)).sum(-1)

    def __repr__(self) -> str:
        return f"Wiggly({self.amplitudes}, {self.frequencies}, {self.phases})"


class GaussianMixtureQuantile(Transform):
    r"""The map :math:`z \mapsto F^{-1}(\Phi(z))`, coordinate by coordinate, for the CDF
    :math:`F(x) = \sum_k w_k \Phi(x - \mu_k)` of a mixture of unit-variance normals: a standard
    normal coordinate comes out distributed as the mixture.

    The inverse is :math:`G(x) = \Phi^{-1}(F(x))` (computed from the upper tail where
    :math:`F > 1/2`), the forward map a bisection of :math:`G(x) = z` in
    :math:`[\min_k\mu_k + z, \max_k\mu_k + z]`, and
    :math:`\log\lvert\det J\rvert = \sum_i \log\varphi(z_i) - \log f(x_i)` with :math:`f = F'`.

    Args:
        weights: the mixture weights :math:`w_k > 0` (normalised to sum to 1).
        means: the means :math:`\mu_k`. The benchmark's bimodal task uses weights (0.3, 0.7),
            means (0, 5) for :math:`x` and weights (0.5, 0.5), means (-1, 3) for :math:`y`.

    Reference: Czyż et al. (2023) (bimodal, by inverse transform sampling);
    ``bmi.benchmark.tasks.task_bimodal_gaussians``.
    """

    name = "mixture_quantile"

    def __init__(self, weights, means):
        w = _real_tuple(weights, "weights")
        if min(w) <= 0.0:
            raise ValueError(f"weights must all be > 0; got {w}")
        self.weights = tuple(v / sum(w) for v in w)
        self.means = _real_tuple(means, "means")
        if len(self.means) != len(self.weights):
            raise ValueError("weights and means must have the same length")

    def _tensors(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kw = {"device": like.device, "dtype": like.dtype}
        return torch.tensor(self.weights, **kw), torch.tensor(self.means, **kw)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        w, mu = self._tensors(y)
        lower = (w * torch.special.ndtr(y[..., None] - mu)).sum(-1)
        upper = (w * torch.special.ndtr(mu - y[..., None])).sum(-1)
        # Phi^-1(F) from whichever tail is small, so neither rounds to 0 or 1 too early
        return torch.where(lower <= 0.5, torch.special.ndtri(lower), -torch.special.ndtri(upper))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return _bisect(self.inverse, z, z + min(self.means), z + max(self.means))

    def _log_density(self, x: torch.Tensor) -> torch.Tensor:
        w, mu = self._tensors(x)
        return torch.logsumexp(torch.log(w) + _log_normal_pdf(x[..., None] - mu), dim=-1)

    def log_abs_det_jacobian(self, z: torch.Tensor) -> torch.Tensor:
        return (_log_normal_pdf(z) - self._log_density(self.forward(z))).sum(-1)

    def inverse_and_log_det(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.inverse(y)
        return z, (_log_normal_pdf(z) - self._log_density(y)).sum(-1)

    def __repr__(self) -> str:
        return f"GaussianMixtureQuantile(weights={self.weights}, means={self.means})"


class SwissRoll(Transform):
    r"""The Swiss-roll embedding of :math:`u \in [0, 1]` in the plane:
    :math:`t = \tfrac{3\pi}{2}(1 + 2u)`, :math:`u \mapsto (t\cos t,\ t\sin t)/21`.

    It changes the dimension (``input_dim = 1``, output 2) and has no Jacobian determinant. On
    :math:`[0, 1]` it is injective, with left inverse :math:`u = (21\lVert v\rVert/(3\pi/2) - 1)/2`
    (the radius is :math:`t/21`), which is all :math:`p(y \mid x)` needs when :math:`x` is rolled:
    a task with a rolled :math:`x` keeps :meth:`~mi_utils.tasks.Task.log_conditional`,
    :meth:`~mi_utils.tasks.Task.log_marginal` and :meth:`~mi_utils.tasks.Task.log_ratio`. The
    left inverse projects a point off the roll onto a radius, silently.

    Reference: Czyż et al. (2023) (Swiss roll embedding; MI kept by an injective map);
    ``bmi.transforms.swissroll2d``.
    """

    name = "swissroll"
    input_dim = 1

    def output_dim(self, dim: int) -> int:
        return 2 * dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        t = 1.5 * math.pi * (1.0 + 2.0 * z[..., 0])
        return torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=-1) / 21.0

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        t = 21.0 * torch.linalg.vector_norm(y, dim=-1, keepdim=True)
        return 0.5 * (t / (1.5 * math.pi) - 1.0)

    def __repr__(self) -> str:
        return "SwissRoll()"
