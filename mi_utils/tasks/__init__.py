r"""Tasks with a known mutual information.

- :class:`Task`: the protocol (``x_dim``, ``y_dim``, ``mi``, ``sample``, optional densities);
- :class:`CorrelatedGaussian` and the closed-form Gaussian functions (:mod:`.gaussian`);
- MI-preserving transforms: :class:`Cube`, :class:`MixedCube`, :class:`TransformedTask`,
  :func:`cubic` (:mod:`.transforms`);
- :class:`Schedule`: a task whose MI follows a schedule, such as the paper's staircase.
"""

from .base import Task, check_task
from .gaussian import (
    LOG_2PI,
    CorrelatedGaussian,
    gaussian_log_conditional,
    gaussian_log_marginal,
    gaussian_log_ratio,
    mi_to_rho,
    rho_to_mi,
    sample_correlated_gaussian,
)
from .schedule import STAIRCASE_LEVELS, Schedule
from .transforms import Cube, MixedCube, Transform, TransformedTask, cubic

__all__ = [
    "LOG_2PI",
    "STAIRCASE_LEVELS",
    "CorrelatedGaussian",
    "Cube",
    "MixedCube",
    "Schedule",
    "Task",
    "Transform",
    "TransformedTask",
    "check_task",
    "cubic",
    "gaussian_log_conditional",
    "gaussian_log_marginal",
    "gaussian_log_ratio",
    "mi_to_rho",
    "rho_to_mi",
    "sample_correlated_gaussian",
]
