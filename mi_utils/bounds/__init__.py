r"""Bounds on mutual information as pure functions of a score matrix.

``scores[..., i, j] = f(x_j, y_i)``: rows index ``y``, columns index ``x``, the diagonal holds
the ``K`` joint pairs and the off-diagonal entries the ``K(K-1)`` product-of-marginals pairs.
TensorFlow Probability's ``tfp.vi`` bounds use the transpose. Leading dimensions are independent
runs; every bound returns ``[...]`` in nats, differentiable, with no GPU sync.

- :mod:`mi_utils.bounds.lower`: BA, TUBA, NWJ, DV, MINE, JS, InfoNCE, :math:`I_\alpha`, SMILE
  (half precision, infinite scores and large scores are documented there);
- :mod:`mi_utils.bounds.upper`: upper bounds for a known conditional density: the
  variational-marginal, leave-one-out (minibatch) and CLUB bounds, and a minibatch upper bound
  on total correlation;
- :mod:`mi_utils.bounds.numerics`: the stable building blocks they share.

To evaluate any estimator by name, with its options and state, use :mod:`mi_utils.estimators`.

Reference: Poole, Ozair, van den Oord, Alemi & Tucker (2019), "On Variational Bounds of Mutual
Information", ICML, Sec. 2.
"""

from . import lower, numerics, upper
from .lower import (
    ba_lower_bound,
    dv_lower_bound,
    infonce_lower_bound,
    interpolated_lower_bound,
    js_fgan_objective,
    js_lower_bound,
    log_loo_mean_exp,
    logmeanexp_nodiag,
    mine_lower_bound,
    nwj_lower_bound,
    smile_lower_bound,
    tuba_lower_bound,
)
from .upper import (
    club_upper_bound,
    minibatch_upper_bound,
    total_correlation_upper_bound,
    variational_marginal_upper_bound,
)

__all__ = [
    "ba_lower_bound",
    "club_upper_bound",
    "dv_lower_bound",
    "infonce_lower_bound",
    "interpolated_lower_bound",
    "js_fgan_objective",
    "js_lower_bound",
    "log_loo_mean_exp",
    "logmeanexp_nodiag",
    "lower",
    "mine_lower_bound",
    "minibatch_upper_bound",
    "numerics",
    "nwj_lower_bound",
    "smile_lower_bound",
    "total_correlation_upper_bound",
    "tuba_lower_bound",
    "upper",
    "variational_marginal_upper_bound",
]
