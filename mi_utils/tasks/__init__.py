r"""Tasks with a known mutual information.

- :class:`Task`: the protocol (``x_dim``, ``y_dim``, ``mi``, ``sample``, optional densities);
- :class:`CorrelatedGaussian` and the closed-form Gaussian functions (:mod:`.gaussian`);
- MI-preserving transforms: :class:`Cube`, :class:`MixedCube`, :class:`TransformedTask`,
  :func:`cubic` (:mod:`.transforms`);
- :class:`Schedule`: a task whose MI follows a schedule, such as the paper's staircase;
- the task families of the "Beyond Normal" benchmark (Czyż et al., 2023): :class:`MultiNormal`,
  :class:`StudentT`, :func:`dense_covariance`, :func:`sparse_covariance` (:mod:`.elliptical`),
  :class:`AdditiveUniform` and the named catalogue :func:`beyond_normal_task`,
  :func:`beyond_normal_tasks`, :data:`BEYOND_NORMAL_TASKS` (:mod:`.beyond_normal`), and their
  transforms :class:`HalfCube`, :class:`Asinh`, :class:`NormalCDF`, :class:`Spiral`,
  :class:`Wiggly`, :class:`GaussianMixtureQuantile`, :class:`SwissRoll` (:mod:`.bmi_transforms`);
- dSprites rendered on the fly from its five factors: :func:`render_dsprites`,
  :func:`sample_dsprites`, :func:`sample_dsprites_factors` (:mod:`.dsprites`).
"""

from .base import Task, check_task
from .beyond_normal import (
    BEYOND_NORMAL_TASKS,
    AdditiveUniform,
    beyond_normal_task,
    beyond_normal_tasks,
    beyond_normal_title,
)
from .bmi_transforms import (
    Asinh,
    GaussianMixtureQuantile,
    HalfCube,
    NormalCDF,
    Spiral,
    SwissRoll,
    Wiggly,
)
from .dsprites import (
    DSPRITES_FACTORS,
    DSPRITES_SHAPES,
    dsprites_factor_values,
    render_dsprites,
    sample_dsprites,
    sample_dsprites_factors,
)
from .elliptical import (
    MultiNormal,
    StudentT,
    dense_covariance,
    sparse_covariance,
    student_t_mi_correction,
)
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
    "BEYOND_NORMAL_TASKS",
    "DSPRITES_FACTORS",
    "DSPRITES_SHAPES",
    "LOG_2PI",
    "STAIRCASE_LEVELS",
    "AdditiveUniform",
    "Asinh",
    "CorrelatedGaussian",
    "Cube",
    "GaussianMixtureQuantile",
    "HalfCube",
    "MixedCube",
    "MultiNormal",
    "NormalCDF",
    "Schedule",
    "Spiral",
    "StudentT",
    "SwissRoll",
    "Task",
    "Transform",
    "TransformedTask",
    "Wiggly",
    "beyond_normal_task",
    "beyond_normal_tasks",
    "beyond_normal_title",
    "check_task",
    "cubic",
    "dense_covariance",
    "dsprites_factor_values",
    "gaussian_log_conditional",
    "gaussian_log_marginal",
    "gaussian_log_ratio",
    "mi_to_rho",
    "render_dsprites",
    "rho_to_mi",
    "sample_correlated_gaussian",
    "sample_dsprites",
    "sample_dsprites_factors",
    "sparse_covariance",
    "student_t_mi_correction",
]
