r"""The Gaussian (copula) baseline: the MI of a Gaussian with the data's correlations.

With the canonical correlations :math:`\rho_1, \dots, \rho_m` of ``x`` and ``y`` (the singular
values of :math:`\Sigma_{xx}^{-1/2}\Sigma_{xy}\Sigma_{yy}^{-1/2}`),

.. math::

    I_{\rm G} = -\tfrac12 \sum_i \log(1 - \rho_i^2)
    = \tfrac12 \log \frac{\det\Sigma_{xx}\det\Sigma_{yy}}{\det\Sigma},

the MI of a jointly Gaussian pair with the sample covariance :math:`\Sigma`. It is exact for
Gaussian data. After mapping every coordinate to normal scores (``gaussianize=True``, the
default) it is the Gaussian-copula MI of Ince et al. (2017), a lower bound on the MI of
continuous data whose dependence it misses beyond correlation of the normal scores.

Reference: Ince, Giordano, Kayser, Rousselet, Gross & Schyns (2017), "A statistical framework
for neuroimaging data analysis based on mutual information estimated via a Gaussian copula",
Human Brain Mapping 38.
"""

from __future__ import annotations

import math

import torch

from ..validation import check_data
from .preprocess import Gaussianize

__all__ = ["gaussian_mi"]


def gaussian_mi(x, y, *, gaussianize: bool = True, units: str = "nats") -> float:
    r""":math:`I_{\rm G}`: the MI of a Gaussian with the (normal-score) covariance of the data.

    Args:
        x, y: ``[N, d_x]`` and ``[N, d_y]`` (NumPy, torch or pandas; a 1-d array is one
            feature), ``N > d_x + d_y``.
        gaussianize: map each coordinate to its normal scores first (the Gaussian copula).
        units: ``"nats"`` or ``"bits"``.

    Returns:
        The estimate, a float >= 0.
    """
    xs, ys = check_data(x, "x"), check_data(y, "y")
    n, dx, dy = xs.shape[0], xs.shape[1], ys.shape[1]
    if ys.shape[0] != n:
        raise ValueError(
            f"x and y must hold the same number of samples N; got {xs.shape[0]} and {ys.shape[0]}"
        )
    if n <= dx + dy:
        raise ValueError(f"gaussian_mi needs N > d_x + d_y = {dx + dy} samples; got N = {n}")
    if units not in ("nats", "bits"):
        raise ValueError(f"units must be one of ('nats', 'bits'); got {units!r}")
    if gaussianize:
        xs, ys = Gaussianize().fit(xs)(xs), Gaussianize().fit(ys)(ys)
    z = torch.cat([xs, ys], dim=1).double().cpu()
    cov = torch.cov(z.T).reshape(dx + dy, dx + dy)
    logdet = lambda m: torch.linalg.slogdet(m)[1].item()  # noqa: E731
    value = 0.5 * (logdet(cov[:dx, :dx]) + logdet(cov[dx:, dx:]) - logdet(cov))
    if not math.isfinite(value):
        raise ValueError("x or y has linearly dependent coordinates: the Gaussian MI is infinite")
    value = max(value, 0.0)
    return value / math.log(2.0) if units == "bits" else value
