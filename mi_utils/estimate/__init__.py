r"""Estimate the mutual information of your own data.

:func:`~mi_utils.estimate.estimate_mi` takes paired samples ``x`` ``[N, d_x]`` and ``y``
``[N, d_y]``, trains critics for any trainable bound of :mod:`mi_utils.estimators` (or runs
the KSG estimator, :func:`mi_utils.ksg.ksg_mi`) and returns an
:class:`~mi_utils.estimate.MIEstimate`: the value on held-out test data, a confidence interval,
the training curves, the trained critics and diagnostics.

- :mod:`.core`: :func:`~mi_utils.estimate.estimate_mi`, the interval and the diagnostics;
- :mod:`.neural`: the runs as one batched model, early stopping, test values;
- :mod:`.evaluation`: held-out bounds on full score matrices, computed in tiles;
- :mod:`.gaussian`: :func:`~mi_utils.estimate.gaussian_mi`, the Gaussian-copula baseline;
- :mod:`.preprocess`: :class:`~mi_utils.estimate.Gaussianize`,
  :class:`~mi_utils.estimate.Standardize`, fitted on training data;
- :mod:`.result`: :class:`~mi_utils.estimate.MIEstimate` and :class:`~mi_utils.estimate.Diagnostic`.
"""

from .core import CLOSED_FORM, KSG_MAX_DIM, estimate_mi, neural_estimators
from .evaluation import student_t_quantile
from .gaussian import gaussian_mi
from .preprocess import PREPROCESSORS, Gaussianize, Identity, Standardize, make_preprocessor
from .result import Diagnostic, MIEstimate

__all__ = [
    "CLOSED_FORM",
    "KSG_MAX_DIM",
    "PREPROCESSORS",
    "Diagnostic",
    "Gaussianize",
    "Identity",
    "MIEstimate",
    "Standardize",
    "estimate_mi",
    "gaussian_mi",
    "make_preprocessor",
    "neural_estimators",
    "student_t_quantile",
]
