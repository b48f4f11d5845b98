r"""Per-coordinate preprocessing fitted on the training split only.

Mutual information is invariant under invertible maps of each coordinate,
:math:`I(g_1(X); g_2(Y)) = I(X; Y)`, so rescaling or reshaping the marginals does not change the
quantity being estimated, but it changes how easily a critic learns it: a raw coordinate with a
scale of 100, or with heavy tails, puts scores of hundreds into the exponentials of NWJ and
JS. Both maps here are strictly increasing per coordinate, fitted on the training split, and
applied unchanged to the validation and test splits (fitting them on all the data would let the
test points shape the features the critic sees).

- :class:`~mi_utils.estimate.Standardize`: :math:`(x - \mu)/\sigma`, the training mean and standard
  deviation.
- :class:`~mi_utils.estimate.Gaussianize`: :math:`\Phi^{-1}(\hat F(x))` with :math:`\hat F` the
  training split's
  empirical CDF, interpolated linearly between its sorted values (a rank-based normal-scores
  map). Heavy tails and odd marginal shapes become standard normal marginals.
"""

from __future__ import annotations

import math

import torch

from ..validation import check_choice

__all__ = ["PREPROCESSORS", "Gaussianize", "Identity", "Standardize", "make_preprocessor"]


class Identity:
    """No preprocessing."""

    name = "none"

    def fit(self, data: torch.Tensor) -> Identity:
        """Nothing to fit; returns ``self``."""
        return self

    def __call__(self, data: torch.Tensor) -> torch.Tensor:
        return data

    def __repr__(self) -> str:
        return "Identity()"


class Standardize:
    r"""Per coordinate :math:`(x - \mu) / \sigma`, with :math:`\mu, \sigma` from :meth:`fit`.

    A constant training coordinate (:math:`\sigma = 0`) is only centred.
    """

    name = "standardize"

    def __init__(self) -> None:
        self.mean: torch.Tensor | None = None
        self.std: torch.Tensor | None = None

    def fit(self, data: torch.Tensor) -> Standardize:
        """Learn the mean and standard deviation of ``data`` ``[..., n, d]`` over ``n``."""
        self.mean = data.mean(dim=-2, keepdim=True)
        std = data.std(dim=-2, keepdim=True)
        self.std = torch.where(std > 0, std, torch.ones_like(std))
        return self

    def __call__(self, data: torch.Tensor) -> torch.Tensor:
        if self.mean is None:
            raise RuntimeError("Standardize must be fitted (call .fit(train_data)) before use")
        return (data - self.mean) / self.std

    def __repr__(self) -> str:
        return "Standardize()"


class Gaussianize:
    r"""Per coordinate :math:`\Phi^{-1}(\hat F(x))`, the normal scores of the training ranks.

    :meth:`fit` stores the sorted training values :math:`v_1 \le \dots \le v_n` of each
    coordinate; a value :math:`x` gets the level :math:`u = (r(x) + \tfrac12)/n` where
    :math:`r(x) \in [0, n-1]` interpolates linearly between the ranks of the two sorted values
    around it (ties share their mean rank), and then :math:`\Phi^{-1}(u)`. The map is strictly
    increasing inside the training range and maps the training points to normal scores. Values
    beyond the training range are clamped to the extreme levels :math:`\tfrac1{2n}` and
    :math:`1 - \tfrac1{2n}` (about :math:`2/n` of fresh points, which then lose their order
    among themselves: the price of the map, negligible for :math:`n` in the thousands).

    Reference: the normal-scores (van der Waerden) transform; MI is invariant under it.
    """

    name = "gaussianize"

    def __init__(self) -> None:
        self.sorted: torch.Tensor | None = None
        self.ranks: torch.Tensor | None = None

    def fit(self, data: torch.Tensor) -> Gaussianize:
        """Learn the sorted values of each coordinate of ``data`` ``[..., n, d]``."""
        values = data.transpose(-1, -2).contiguous()  # [..., d, n]
        self.sorted = values.sort(dim=-1).values
        n = values.shape[-1]
        ranks = torch.arange(n, dtype=data.dtype, device=data.device).expand_as(self.sorted)
        # Ties: every copy of a value gets the mean of its ranks.
        lo = torch.searchsorted(self.sorted, self.sorted, right=False)
        hi = torch.searchsorted(self.sorted, self.sorted, right=True) - 1
        self.ranks = torch.where(lo == hi, ranks, 0.5 * (lo + hi).to(data.dtype))
        return self

    def __call__(self, data: torch.Tensor) -> torch.Tensor:
        if self.sorted is None:
            raise RuntimeError("Gaussianize must be fitted (call .fit(train_data)) before use")
        n = self.sorted.shape[-1]
        values = data.transpose(-1, -2).contiguous()  # [..., d, m]
        right = torch.searchsorted(self.sorted, values, right=True).clamp(1, n - 1)
        left = right - 1
        v0, v1 = self.sorted.gather(-1, left), self.sorted.gather(-1, right)
        r0, r1 = self.ranks.gather(-1, left), self.ranks.gather(-1, right)
        gap = v1 - v0
        t = torch.where(gap > 0, (values - v0) / torch.where(gap > 0, gap, 1.0), 0.0)
        rank = r0 + t.clamp(0.0, 1.0) * (r1 - r0)
        rank = torch.where(values <= self.sorted[..., :1], self.ranks[..., :1], rank)
        rank = torch.where(values >= self.sorted[..., -1:], self.ranks[..., -1:], rank)
        level = ((rank + 0.5) / n).clamp(0.5 / n, 1.0 - 0.5 / n)
        return (math.sqrt(2.0) * torch.special.erfinv(2.0 * level - 1.0)).transpose(-1, -2)

    def __repr__(self) -> str:
        return "Gaussianize()"


#: Accepted values of ``preprocess`` in :func:`mi_utils.estimate.estimate_mi`.
PREPROCESSORS = {"gaussianize": Gaussianize, "standardize": Standardize, "none": Identity}


def make_preprocessor(kind: str | None):
    """A fresh, unfitted preprocessor: ``"gaussianize"``, ``"standardize"`` or ``"none"``."""
    kind = "none" if kind is None else kind
    return PREPROCESSORS[check_choice(kind, "preprocess", PREPROCESSORS)]()
