"""Argument validation: the one place where every module of :mod:`mi_utils` checks its inputs.

Checks look only at types, shapes, dtypes and Python numbers, never at tensor values, so that
they never synchronise a GPU; the two exceptions, :func:`check_alpha` and :func:`check_data`,
say what reading the values costs. Errors name the argument and the accepted values.
"""

from __future__ import annotations

import weakref
from numbers import Real

import torch

#: The floating dtypes that samples and scores may have.
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_int(value: object, name: str, minimum: int = 1) -> int:
    """An ``int`` (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= {minimum}; got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value}")
    return value


def check_dtype(dtype: object) -> torch.dtype | None:
    """``None`` or a floating :class:`torch.dtype`."""
    if dtype is not None and (not isinstance(dtype, torch.dtype) or dtype not in FLOAT_DTYPES):
        raise TypeError(
            f"dtype must be None or a floating torch.dtype (float32, float64, ...); got {dtype!r}"
        )
    return dtype


def check_generator(generator: object) -> torch.Generator | None:
    """``None`` or a :class:`torch.Generator`."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None; got {type(generator).__name__}"
        )
    return generator


def check_float_tensor(t: object, name: str, shape_hint: str) -> torch.Tensor:
    """A floating :class:`torch.Tensor` (``shape_hint`` only words the error message)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(
            f"{name} must be a floating torch.Tensor of shape {shape_hint}; got {type(t).__name__}"
        )
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor (float32 or float64); got {t.dtype}")
    return t


def check_scores(scores: object, name: str = "scores") -> int:
    """Validate a ``[..., K, K]`` floating matrix called ``name`` with ``K >= 2``; return ``K``."""
    scores = check_float_tensor(scores, name, "[..., K, K]")
    if scores.dim() < 2 or scores.shape[-1] != scores.shape[-2]:
        raise ValueError(
            f"{name} must have shape [..., K, K] (square in the last two dims); "
            f"got shape {tuple(scores.shape)}"
        )
    k = scores.shape[-1]
    if k < 2:
        raise ValueError(f"{name} must hold K >= 2 samples (shape [..., K, K]); got K = {k}")
    return k


def check_shape(t: object, name: str, expected: torch.Size, what: str) -> torch.Tensor:
    """A floating tensor of shape exactly ``expected`` (described as ``what`` in the error)."""
    t = check_float_tensor(t, name, what)
    if t.shape != expected:
        raise ValueError(
            f"{name} must have shape {what} = {tuple(expected)}; got shape {tuple(t.shape)}"
        )
    return t


def check_broadcasts(t: torch.Tensor, name: str, lead: torch.Size) -> None:
    """``t`` broadcasts to the leading shape ``lead`` without growing it."""
    try:
        ok = torch.broadcast_shapes(t.shape, lead) == lead
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(
            f"{name} must broadcast to the leading shape {tuple(lead)}; got {tuple(t.shape)}"
        )


# GPU tensors of alpha whose values were checked: (id, version) -> a weak reference to it.
_CHECKED_ALPHAS: dict[tuple[int, int], weakref.ref] = {}


def check_alpha(alpha: object, lead: torch.Size) -> float | torch.Tensor:
    """``alpha`` in [0, 1]: a real number (Python or NumPy scalar, 0-d NumPy array) as a float,
    or a NumPy array or floating tensor broadcastable to ``lead`` as a tensor.

    The values of an array or tensor are checked too (all in [0, 1], no NaN): with
    :func:`check_data`, one of the two checks in this module that read tensor values. On a CPU
    that costs no sync. A GPU tensor is checked once per tensor and version (one host sync the
    first time; a training loop that passes the same tensor at every step syncs once in all, and
    an in-place change is checked again).
    """
    import numpy as np  # local: only the value checks need NumPy

    accepted = "a real number in [0, 1], or a NumPy array or floating tensor of values in [0, 1]"
    if isinstance(alpha, np.ndarray):
        if alpha.dtype.kind not in "fiu":
            raise TypeError(f"alpha must be {accepted}; got a NumPy array of dtype {alpha.dtype}")
        alpha = alpha.item() if alpha.ndim == 0 else torch.from_numpy(alpha.astype(np.float64))
    if isinstance(alpha, torch.Tensor):
        if not alpha.is_floating_point():
            raise TypeError(f"alpha must be {accepted}; got dtype {alpha.dtype}")
        check_broadcasts(alpha, "alpha", lead)
        key = (id(alpha), alpha._version)
        cached = _CHECKED_ALPHAS.get(key)
        if cached is not None and cached() is alpha:
            return alpha
        if not bool(((alpha >= 0) & (alpha <= 1)).all()):  # host sync on a GPU; rejects NaN
            raise ValueError(
                "alpha must lie in the closed interval [0, 1]; got values from "
                f"{alpha.min().item()} to {alpha.max().item()}"
            )
        if alpha.device.type != "cpu":  # remember it: the next steps need no sync
            if len(_CHECKED_ALPHAS) > 1024:
                _CHECKED_ALPHAS.clear()
            _CHECKED_ALPHAS[key] = weakref.ref(alpha)
        return alpha
    if isinstance(alpha, bool) or not isinstance(alpha, Real):
        raise TypeError(f"alpha must be {accepted}; got {type(alpha).__name__}")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:  # also rejects NaN
        raise ValueError(f"alpha must lie in the closed interval [0, 1]; got {alpha}")
    return alpha


def check_positive(value: object, name: str, upper: float | None = None) -> float:
    """A real number (not a bool) in ``(0, upper]``, or ``> 0`` without ``upper``; as a float."""
    accepted = f"a real number in (0, {upper}]" if upper is not None else "a real number > 0"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be {accepted}; got {type(value).__name__}")
    value = float(value)
    if not (value > 0.0 and (upper is None or value <= upper)):  # also rejects NaN
        raise ValueError(f"{name} must be {accepted}; got {value}")
    return value


def check_real_or_tensor(value: object, name: str, lead: torch.Size) -> None:
    """A real number, or a floating tensor that broadcasts to the leading shape ``lead``."""
    if isinstance(value, torch.Tensor):
        check_float_tensor(value, name, "[...]")
        check_broadcasts(value, name, lead)
    elif isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(
            f"{name} must be a real number or a floating tensor; got {type(value).__name__}"
        )


def check_choice(value: object, name: str, choices) -> str:
    """A ``str`` among ``choices``."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value


def check_real(value: object, name: str, low: float, high: float, *, open_low=False) -> float:
    """A real number (not a bool) in ``[low, high]`` (``(low, high]`` with ``open_low``)."""
    interval = f"{'(' if open_low else '['}{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number in {interval}; got {type(value).__name__}")
    value = float(value)
    if not ((value > low if open_low else value >= low) and value <= high):  # rejects NaN
        raise ValueError(f"{name} must lie in {interval}; got {value}")
    return value


def check_samples(t: object, name: str, dim: int | None = None) -> torch.Tensor:
    """A floating tensor of shape ``[..., K, dim]`` (``dim`` unchecked when ``None``)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape [..., K, d]; got {type(t).__name__}"
        )
    if t.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be a floating tensor (float32 or float64); got {t.dtype}")
    if t.dim() < 2:
        raise ValueError(f"{name} must have shape [..., K, d]; got shape {tuple(t.shape)}")
    if dim is not None and t.shape[-1] != dim:
        raise ValueError(f"{name}.shape[-1] must equal {dim}; got shape {tuple(t.shape)}")
    return t


def check_module_config(generator: object, dtype: object, /, **sizes: object) -> dict:
    """Check a module's ``generator``, ``dtype`` and ``sizes`` (ints >= 1); return ``sizes``.

    The returned dict starts the module's ``config``, the arguments that rebuild it; the
    module checks and adds its string options (``activation``, ``variance``) itself.
    """
    for name, value in sizes.items():
        check_int(value, name)
    check_generator(generator)
    check_dtype(dtype)
    return dict(sizes)


def check_module_input(
    name: str, t: object, dim: int | None, num_runs: int | None, like: torch.Tensor | None
) -> torch.Tensor:
    """A module's input: shape ``[..., K, dim]``, or ``[num_runs, K, dim]`` for a batched module.

    ``dim`` is unchecked when ``None``. With ``like`` (a parameter of the module) the dtype must
    be ``like.dtype``; without it, any floating dtype.
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(t).__name__}")
    if not t.is_floating_point() or (like is not None and t.dtype != like.dtype):
        want = "floating" if like is None else f"of the module's dtype {like.dtype}"
        raise TypeError(f"{name} must be a tensor {want}; got dtype {t.dtype}")
    if num_runs is None and t.dim() < 2:
        raise ValueError(f"{name} must have shape [..., K, d]; got {tuple(t.shape)}")
    if num_runs is not None and (t.dim() != 3 or t.shape[0] != num_runs):
        raise ValueError(
            f"{name} must have shape [num_runs={num_runs}, K, d]; got {tuple(t.shape)}"
        )
    if dim is not None and t.shape[-1] != dim:
        raise ValueError(f"{name}.shape[-1] must equal {name}_dim={dim}; got {t.shape[-1]}")
    return t


def unwrap_array_like(value: object) -> object:
    """A pandas ``Series``/``DataFrame``, list or tuple as a NumPy array; anything else unchanged.

    The first step of the checks that accept a user's data (:func:`check_data`, and the labels
    of :func:`mi_utils.probe.linear_probe`); they then check the array or tensor itself.
    """
    import numpy as np  # local: only data checks need NumPy

    if type(value).__module__.split(".")[0] == "pandas" and hasattr(value, "to_numpy"):
        return value.to_numpy()
    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    return value


def check_data(value: object, name: str) -> torch.Tensor:
    """A data matrix ``[N, d]`` as a float64 tensor (a 1-d input is one feature, ``[N, 1]``).

    Accepts a NumPy array, a :class:`torch.Tensor` (kept on its device), a pandas ``Series`` or
    ``DataFrame``, or a list or tuple of numbers, of any integer or floating dtype (booleans,
    complex numbers, strings and objects are refused). Unlike the checks above, it reads the
    values to refuse NaN and inf: a host sync for a GPU tensor, for the estimators that work on
    the values anyway (:func:`mi_utils.ksg.ksg_mi`).
    """
    import numpy as np  # local: only data checks need NumPy

    accepted = "a NumPy array, torch.Tensor or pandas Series/DataFrame of shape [N] or [N, d]"
    value = unwrap_array_like(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "fiu":
            raise TypeError(f"{name} must be numeric ({accepted}); got dtype {value.dtype}")
        value = torch.from_numpy(np.array(value, dtype=np.float64))  # a copy: may be read-only
    elif isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(f"{name} must be numeric ({accepted}); got dtype {value.dtype}")
        value = value.detach().to(torch.float64)
    else:
        raise TypeError(f"{name} must be {accepted}; got {type(value).__name__}")
    if value.dim() == 1:
        value = value[:, None]
    if value.dim() != 2 or value.shape[1] == 0:
        raise ValueError(
            f"{name} must have shape [N] or [N, d] with d >= 1; got {tuple(value.shape)}"
        )
    if not bool(torch.isfinite(value).all()):  # host sync on a GPU
        raise ValueError(f"{name} must hold finite values; got NaN or inf")
    return value
