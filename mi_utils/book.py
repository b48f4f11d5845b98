"""The book's run profiles: the one place where ``MI_BOOK_PROFILE`` is read.

The library itself has one documented default (:class:`mi_utils.train.TrainConfig`, the paper's
settings) and never reads the environment for them. The book's chapters run in one of two
profiles, chosen by the environment variable ``MI_BOOK_PROFILE`` and asked for explicitly:

``full``
    The settings of Poole et al. (2019, Sec. 5): d = 20, batch 64, Adam at 5e-4, critics with
    two hidden layers of 256 ReLU units, 4,000 steps per MI level. Default when CUDA is
    available.
``quick``
    Reduced settings so that the whole book executes in minutes on a 2-core CPU while every
    qualitative result still shows. Default otherwise.
"""

from __future__ import annotations

import os

import torch

from .tasks import STAIRCASE_LEVELS, CorrelatedGaussian, Schedule, cubic
from .train import TrainConfig
from .validation import check_choice, check_int

#: The book's run profiles (:func:`get_profile`).
PROFILES: tuple[str, ...] = ("quick", "full")
#: The environment variable that chooses the profile.
PROFILE_ENV_VAR = "MI_BOOK_PROFILE"
#: The dimension of x and y in the paper's experiments.
DIM = 20
#: The tasks of the paper's staircase, the correlated Gaussian and its cubic transform.
STAIRCASE_TASKS: tuple[str, ...] = ("gaussian", "cubic")

__all__ = [
    "DIM",
    "PROFILES",
    "PROFILE_ENV_VAR",
    "STAIRCASE_TASKS",
    "get_profile",
    "staircase_schedule",
    "steps_per_level",
    "train_config",
]

# `full` is the paper's (Sec. 5 and its reference notebook). `quick` keeps d, the batch size
# (so the log K = 4.16 nats ceiling of InfoNCE) and the MI levels, and shrinks the networks and
# the number of steps so that a whole sweep runs in about a minute on 2 CPU cores; the larger
# learning rate lets the small networks track each level within its steps.
_SETTINGS = {
    "full": dict(hidden_dim=256, embed_dim=32, lr=5e-4, baseline_hidden_dim=512),
    "quick": dict(
        hidden_dim=128, concat_hidden_dim=32, baseline_hidden_dim=128, embed_dim=32, lr=1e-3
    ),
}
_STEPS_PER_LEVEL = {"full": 4000, "quick": 400}


def get_profile(profile: str | None = None) -> str:
    """Return the active profile, ``"quick"`` or ``"full"``.

    Resolution order: the ``profile`` argument if given, else the ``MI_BOOK_PROFILE``
    environment variable if set and non-empty, else ``"full"`` when CUDA is available and
    ``"quick"`` otherwise.

    Raises:
        ValueError: if the argument or the environment variable names another profile.
    """
    source = "profile"
    if profile is None:
        env = os.environ.get(PROFILE_ENV_VAR, "").strip()
        if env:
            profile, source = env, PROFILE_ENV_VAR
    if profile is None:
        return "full" if torch.cuda.is_available() else "quick"
    if not isinstance(profile, str):
        raise TypeError(f"{source} must be a str, one of {PROFILES}; got {type(profile).__name__}")
    value = profile.strip().lower()
    if value not in PROFILES:
        raise ValueError(f"{source} must be one of {PROFILES}; got {profile!r}")
    return value


def train_config(profile: str | None = None, **overrides) -> TrainConfig:
    """The :class:`~mi_utils.train.TrainConfig` of ``profile`` (default: the active one)."""
    return TrainConfig(**{**_SETTINGS[get_profile(profile)], **overrides})


def steps_per_level(profile: str | None = None) -> int:
    """Training steps at each MI level of the staircase: 4,000 (full) or 400 (quick)."""
    return _STEPS_PER_LEVEL[get_profile(profile)]


def staircase_schedule(
    profile: str | None = None,
    *,
    task: str = "gaussian",
    levels=STAIRCASE_LEVELS,
    steps: int | None = None,
    dim: int = DIM,
) -> Schedule:
    """The paper's MI staircase (2, 4, 6, 8, 10 nats) on the Gaussian or the cubic task.

    Args:
        profile: picks the steps per level (:func:`steps_per_level`) unless ``steps`` is given.
        task: ``"gaussian"`` or ``"cubic"`` (the Gaussian observed through ``y -> y^3``).
        levels: the MI levels in nats.
        steps: steps per level (overrides the profile's).
        dim: the dimension of ``x`` and ``y``.
    """
    check_choice(task, "task", STAIRCASE_TASKS)
    steps = steps_per_level(profile) if steps is None else check_int(steps, "steps")

    def make(mi: float):
        gaussian = CorrelatedGaussian.from_mi(mi, dim)
        return cubic(gaussian) if task == "cubic" else gaussian

    return Schedule.staircase(make, steps, levels, name=task)
