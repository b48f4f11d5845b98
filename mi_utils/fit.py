r"""The library's one training loop: :func:`fit`, Adam on any objective of independent runs.

:func:`mi_utils.train.train` (many estimators as one batched model), the decoder fitting of
:mod:`mi_utils.nn.decoders` and the benchmark's per-run reference loop all train through it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import torch

from .validation import check_int, check_real

__all__ = ["PROGRESS_ENV_VAR", "fit", "make_adam"]

#: The environment variable read when ``progress=None``; ``0`` turns progress bars off.
PROGRESS_ENV_VAR = "MI_UTILS_PROGRESS"


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        if not isinstance(progress, bool):
            raise TypeError(f"progress must be True, False or None; got {type(progress).__name__}")
        return progress
    env = os.environ.get(PROGRESS_ENV_VAR, "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return False
    if env in ("", "1", "true", "yes", "on"):
        return True
    raise ValueError(f"{PROGRESS_ENV_VAR} must be 0 or 1; got {env!r}")


def make_adam(params: list[torch.Tensor], lr: float) -> torch.optim.Adam:
    """Adam over ``params``, fused into one kernel per step where this torch supports it.

    The fused implementation (CPU from torch 2.4, CUDA) updates every parameter in one pass
    instead of a loop of elementwise ops with full-size temporaries (8-15 % of a separable
    training step on a 2-core CPU); the update is the same Adam. Falls back to the default
    implementation where fusing is not supported (older torch, other devices, mixed devices).
    """
    devices = {p.device.type for p in params}
    if len(devices) == 1 and devices <= {"cpu", "cuda"}:
        try:
            return torch.optim.Adam(params, lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):  # no fused kernel for this torch/device
            pass
    return torch.optim.Adam(params, lr=lr)


def fit(
    objective: Callable[[int], torch.Tensor],
    parameters: Iterable[torch.nn.Parameter],
    num_steps: int,
    *,
    lr: float,
    lr_lambda: Callable[[int], float] | None = None,
    record_every: int = 1,
    progress: bool | None = None,
    desc: str | None = None,
    on_step: Callable[[int], bool | None] | None = None,
) -> torch.Tensor:
    """Maximise ``objective`` with Adam: the library's one training loop.

    Step ``t`` calls ``objective(t)``, which returns the values of ``R`` independent runs
    (shape ``[R]``, or a 0-d tensor for one run), and takes one Adam step (:func:`make_adam`)
    on ``-values.sum()``: since Adam is elementwise and the runs share no parameter, that is
    one independent Adam per run. Nothing in the loop synchronises a GPU: the values are
    recorded on their device.

    Args:
        objective: ``step -> values``, differentiable in ``parameters``.
        parameters: the parameters to train.
        num_steps: number of steps, an int >= 1.
        lr: Adam's learning rate, in (0, 10].
        lr_lambda: ``step -> factor`` multiplying ``lr``
            (:class:`torch.optim.lr_scheduler.LambdaLR`), or ``None`` for a constant rate.
        record_every: keep the values of every ``record_every``-th step.
        progress: a progress bar (``tqdm.auto``); ``None`` reads ``MI_UTILS_PROGRESS`` (``0``
            turns it off) and shows one otherwise.
        desc: the progress bar's description.
        on_step: ``step -> stop``, called after the update of each step (for evaluation and
            early stopping, as in :func:`mi_utils.estimate.estimate_mi`); a true return value
            ends training after that step.

    Returns:
        The recorded values before each step's update, detached, on their device:
        ``[ceil(steps_done / record_every), *values.shape]`` (``steps_done = num_steps`` unless
        ``on_step`` stopped training).
    """
    if not callable(objective):
        raise TypeError("objective must be a callable step -> values")
    params = list(parameters)
    if not params or not all(isinstance(p, torch.Tensor) for p in params):
        raise ValueError("parameters must hold at least one tensor to train")
    num_steps = check_int(num_steps, "num_steps")
    record_every = check_int(record_every, "record_every")
    lr = check_real(lr, "lr", 0.0, 10.0, open_low=True)
    if lr_lambda is not None and not callable(lr_lambda):
        raise TypeError("lr_lambda must be a callable step -> factor, or None")
    if on_step is not None and not callable(on_step):
        raise TypeError("on_step must be a callable step -> stop, or None")
    optimizer = make_adam(params, lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda) if lr_lambda else None
    bar = None
    if _progress_enabled(progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=num_steps, desc=desc, unit="step", mininterval=0.5, leave=True)
    record = None
    try:
        for step in range(num_steps):
            values = objective(step)
            optimizer.zero_grad(set_to_none=True)
            (-values.sum()).backward()
            optimizer.step()
            if scheduler is not None and step + 1 < num_steps:  # lr_lambda sees 0..num_steps-1
                scheduler.step()
            if step % record_every == 0:
                if record is None:
                    rows = -(-num_steps // record_every)
                    record = values.new_empty((rows, *values.shape))
                record[step // record_every] = values.detach()
            if bar is not None:
                bar.update(1)
            if on_step is not None and on_step(step):
                record = record[: step // record_every + 1]
                break
    finally:
        if bar is not None:
            bar.close()
    return record
