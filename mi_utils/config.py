"""Run profiles and device selection, read in one place.

The book runs in one of two profiles, chosen by the environment variable
``MI_BOOK_PROFILE``:

``full``
    The paper's exact hyperparameters (Poole et al., 2019, Sec. 5). Default when CUDA is
    available.
``quick``
    Reduced settings so that the whole book executes in minutes on a 2-core CPU while every
    qualitative result still shows. Default otherwise.
"""

from __future__ import annotations

import os

import torch

PROFILES: tuple[str, ...] = ("quick", "full")
PROFILE_ENV_VAR = "MI_BOOK_PROFILE"

__all__ = ["PROFILES", "PROFILE_ENV_VAR", "default_device", "get_profile"]


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


def default_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``device`` as a :class:`torch.device`, or CUDA if available, else CPU."""
    if device is not None:
        if not isinstance(device, (str, torch.device)):
            raise TypeError(
                f"device must be a str, a torch.device or None; got {type(device).__name__}"
            )
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
