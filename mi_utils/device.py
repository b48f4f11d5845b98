"""Device selection: one function, :func:`default_device`."""

from __future__ import annotations

import torch

__all__ = ["default_device"]


def default_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a :class:`torch.device`; ``None`` picks CUDA when available, else the CPU.

    Raises:
        TypeError: ``device`` is not a str, a torch.device or None.
        ValueError: ``device`` names an unknown device type, or CUDA while none is available.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"device must be a str, a torch.device or None; got {type(device).__name__}"
        )
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(
            f"device must name a torch device such as 'cpu' or 'cuda'; {err}"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={str(device)!r} asks for CUDA, but torch.cuda.is_available() is False "
                "here; use 'cpu' or None"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={str(device)!r}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={str(device)!r} asks for MPS, which is not available here")
    return dev
