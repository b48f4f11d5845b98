r"""Contrastive losses of metric learning, and a small two-view image data set.

InfoNCE is a loss of deep metric learning in disguise (Tschannen et al., 2020, on the
connection to deep metric learning). With the book's score matrix
``scores[..., i, j] = f(x_j, y_i)`` (rows index :math:`y`, columns :math:`x`, the joint pairs
on the diagonal):

- :func:`kpair_loss` is the multi-class N-pair loss of Sohn (2016),

  .. math::

      L_{K\text{-pair}} = \frac1K \sum_{i=1}^K
      \log\Big(1 + \sum_{j \ne i} e^{s_{ij} - s_{ii}}\Big) = \log K - \hat I_{\rm NCE},

  so minimising it maximises InfoNCE (:func:`mi_utils.bounds.infonce_lower_bound`);
- :func:`triplet_loss` averages a loss of the margin :math:`s_{ij} - s_{ii}` over all
  :math:`K(K-1)` (anchor :math:`y_i`, positive :math:`x_i`, negative :math:`x_j`) triplets of the
  batch: the smoothed hinge :math:`\tau \log(1 + e^{(m + s_{ij} - s_{ii})/\tau})`, which is the
  logistic triplet loss at :math:`m = 0, \tau = 1` (the K-pair loss of a pair, ``K = 2``) and
  tends to the hinge triplet loss :math:`\max(0, m + s_{ij} - s_{ii})` of Schroff et al. (2015)
  as :math:`\tau \to 0` (``temperature=0`` gives it exactly).

:func:`digits_halves` splits scikit-learn's 8 x 8 digits into a top and a bottom view, as
Tschannen et al. (2020, Sec. 3) split MNIST.

References: Sohn (2016), "Improved deep metric learning with multi-class N-pair loss
objective", NeurIPS; Schroff, Kalenichenko & Philbin (2015), "FaceNet", CVPR; Tschannen,
Djolonga, Rubenstein, Gelly & Lucic (2020), "On mutual information maximization for
representation learning", ICLR.
"""

from __future__ import annotations

import math
from numbers import Real

import torch
import torch.nn.functional as F

from .bounds.lower import infonce_lower_bound
from .bounds.numerics import mean_nodiag
from .estimate.preprocess import Standardize
from .validation import check_generator, check_int, check_scores

__all__ = ["digits_halves", "kpair_loss", "triplet_loss"]


def _margins(scores: torch.Tensor) -> torch.Tensor:
    """``s_ij - s_ii``, ``[..., K, K]``: each score against its row's positive."""
    return scores - torch.diagonal(scores, dim1=-2, dim2=-1)[..., :, None]


def kpair_loss(scores: torch.Tensor) -> torch.Tensor:
    r"""The multi-class K-pair (N-pair) loss, :math:`\log K - \hat I_{\rm NCE}`, in nats.

    .. math::

        L_{K\text{-pair}} = \frac1K \sum_{i=1}^K
        \log\Big(1 + \sum_{j \ne i} e^{s_{ij} - s_{ii}}\Big),

    computed as ``log K`` minus :func:`mi_utils.bounds.infonce_lower_bound` (stable for large
    scores, half precision computed in float32).

    Args:
        scores: ``[..., K, K]``, ``scores[..., i, j] = f(x_j, y_i)``, floating, ``K >= 2``.

    Returns:
        ``[...]``, differentiable; at least 0, and ``log K`` when all scores are equal.

    Reference: Sohn (2016), the multi-class N-pair loss (with :math:`s_{ij} = f_i^\top f_j^+`).
    """
    return math.log(check_scores(scores)) - infonce_lower_bound(scores)


def triplet_loss(
    scores: torch.Tensor, *, margin: float = 0.0, temperature: float = 1.0
) -> torch.Tensor:
    r"""The triplet loss averaged over all :math:`K(K-1)` triplets of the batch.

    .. math::

        L_\tau = \frac{1}{K(K-1)} \sum_{i \ne j}
        \tau \log\big(1 + e^{(m + s_{ij} - s_{ii})/\tau}\big)
        \;\xrightarrow[\tau \to 0]{}\;
        \frac{1}{K(K-1)} \sum_{i \ne j} \max(0,\, m + s_{ij} - s_{ii}) ,

    anchor :math:`y_i`, positive :math:`x_i`, negative :math:`x_j`. ``margin=0,
    temperature=1`` is the logistic triplet loss (the K-pair loss of each pair of rows, ``K =
    2``); ``temperature=0`` is the hinge triplet loss.

    Args:
        scores: ``[..., K, K]``, ``scores[..., i, j] = f(x_j, y_i)``, floating, ``K >= 2``.
        margin: :math:`m`, a finite real number.
        temperature: :math:`\tau \ge 0`, finite; ``0`` gives the hinge exactly.

    Returns:
        ``[...]``, differentiable (the hinge almost everywhere), at least 0.

    Reference: Schroff et al. (2015) (hinge); Sohn (2016) (logistic, the N-pair loss at K = 2).
    """
    k = check_scores(scores)
    for name, value in (("margin", margin), ("temperature", temperature)):
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite; got {value}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0: the hinge); got {temperature}")
    z = margin + _margins(scores)
    per_triplet = F.relu(z) if temperature == 0 else temperature * F.softplus(z / temperature)
    return mean_nodiag(per_triplet, k)  # the K(K-1) triplets: the diagonal is no triplet


def digits_halves(
    num_test: int = 600,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> dict[str, torch.Tensor]:
    r"""Two views of scikit-learn's 1,797 digits: the top and the bottom 4 x 8 half of each.

    The images are split at random into a training and a test set of ``num_test`` images; each
    view's 32 pixels are standardised with the training set's mean and standard deviation (a
    pixel that is constant there is only centred). The data ship with scikit-learn (no
    download).

    Args:
        num_test: images in the test set, an int in [1, 1796].
        generator: ``torch.Generator`` for the split, or ``None`` (the global RNG).
        dtype: floating dtype of the views.

    Returns:
        A dict with ``"top"``, ``"bottom"`` (``[1797, 32]``, rows of 8 pixels, top row first),
        ``"labels"`` (``[1797]``, int64, the digit) and ``"train"``, ``"test"`` (disjoint
        int64 index tensors covering all images).

    Reference: Tschannen et al. (2020), Sec. 3 (top and bottom halves of MNIST digits).
    """
    try:  # local: scikit-learn is only needed here
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - scikit-learn is in the book's environment
        raise ImportError(
            "digits_halves needs scikit-learn: pip install scikit-learn (or 'mi-utils[book]')"
        ) from err

    num_test = check_int(num_test, "num_test")
    if num_test >= 1797:
        raise ValueError(f"num_test must leave training images, in [1, 1796]; got {num_test}")
    check_generator(generator)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype; got {dtype!r}")
    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=dtype)  # [N, 8, 8]
    labels = torch.as_tensor(digits.target, dtype=torch.int64)
    perm = torch.randperm(len(images), generator=generator)
    test, train = perm[:num_test], perm[num_test:]
    views = {}
    for name, rows in (("top", images[:, :4]), ("bottom", images[:, 4:])):
        flat = rows.reshape(len(images), 32)
        views[name] = Standardize().fit(flat[train])(flat)
    return {**views, "labels": labels, "train": train, "test": test}
