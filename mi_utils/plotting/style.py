"""One visual style for the whole book: colours, labels, reference lines.

Call :func:`~mi_utils.plotting.set_style` once at the top of a chapter. Every estimator has a
fixed colour (its entry in :mod:`mi_utils.estimators`), the true MI is drawn by
:func:`~mi_utils.plotting.plot_true_mi` and ceilings such as :math:`\\log K` or
:math:`\\log(K/\\alpha)` by :func:`~mi_utils.plotting.plot_ceiling` (always dashed).
:func:`~mi_utils.plotting.decorate` labels an axis in one call, after Downey's *Think Bayes*.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch

from .. import estimators

__all__ = [
    "CEILING_COLOR",
    "CHAIN_EDGES",
    "CHAIN_NODES",
    "CRITIC_COLORS",
    "TASK_COLORS",
    "TRUE_MI_COLOR",
    "check_ax",
    "decorate",
    "ema",
    "estimator_color",
    "plot_batch_ceiling",
    "plot_ceiling",
    "plot_derivation_chain",
    "plot_true_mi",
    "set_style",
]

#: The colour of the true MI in every figure.
TRUE_MI_COLOR = "#000000"

#: Colours of the testbed tasks themselves (raw samples, oracle checks), not of estimators.
TASK_COLORS: dict[str, str] = {"gaussian": "#34495e", "cubic": "#c0392b"}

#: The colour of the dashed ceilings (log K, log(K/α)).
CEILING_COLOR = "#555555"
#: The colour of each critic architecture in the staircase figure.
CRITIC_COLORS = {"separable": "#0173b2", "concat": "#de8f05"}
_CONTEXTS = ("paper", "notebook", "talk", "poster")

#: Boxes of the derivation chain, ``(label, estimator whose colour it takes, x, y)`` in inches.
CHAIN_NODES: tuple[tuple[str, str, float, float], ...] = (
    ("BA", "ba", 0.0, 0.0),
    ("UBA", "uba", 1.85, 0.0),
    ("TUBA", "tuba", 3.7, 0.0),
    ("MINE/DV", "mine", 5.8, 1.1),
    ("NWJ", "nwj", 5.8, 0.0),
    ("JS", "js", 5.8, -1.1),
    ("InfoNCE", "infonce", 7.65, 0.0),
    (r"$I_\alpha$", "interpolated", 9.5, 0.0),
)

#: Arrows of the derivation chain, ``(from label, to label, what the step does)``.
CHAIN_EDGES: tuple[tuple[str, str, str], ...] = (
    ("BA", "UBA", "energy-\nbased q"),
    ("UBA", "TUBA", "tangent\nbound on\nlog Z"),
    ("TUBA", "MINE/DV", "best\nconstant a\n(EMA: MINE)"),
    ("TUBA", "NWJ", "a = e"),
    ("TUBA", "JS", "critic from\nJS objective"),
    ("NWJ", "InfoNCE", "multi-\nsample\nbaseline"),
    ("InfoNCE", r"$I_\alpha$", "interpolate\nα"),
)


def set_style(context: str = "notebook") -> None:
    """Apply the book's seaborn theme and matplotlib settings (call once per chapter).

    Args:
        context: seaborn plotting context, one of ``"paper"``, ``"notebook"``, ``"talk"``,
            ``"poster"``.
    """
    if not isinstance(context, str) or context not in _CONTEXTS:
        raise ValueError(f"context must be one of {_CONTEXTS}; got {context!r}")
    palette = [estimators.get(name).color for name in estimators.names()]
    sns.set_theme(context=context, style="whitegrid", palette=palette)
    plt.rcParams.update(
        {
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
            "figure.constrained_layout.use": True,
            "axes.titleweight": "bold",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "lines.linewidth": 2.0,
            "image.cmap": "viridis",
        }
    )


def estimator_color(name: str) -> str:
    """The fixed colour of estimator ``name``, from :mod:`mi_utils.estimators`."""
    return estimators.get(name).color


def check_ax(ax: object) -> Axes:
    """``ax`` itself if it is a :class:`matplotlib.axes.Axes`; raises ``TypeError`` otherwise."""
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes; got {type(ax).__name__}")
    return ax


def _check_optional_str(name: str, value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None; got {type(value).__name__}")


def decorate(
    ax: Axes,
    *,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    legend: bool = True,
) -> Axes:
    """Label ``ax`` and add a legend when some artist carries a label. Returns ``ax``."""
    check_ax(ax)
    for name, value in (("xlabel", xlabel), ("ylabel", ylabel), ("title", title)):
        _check_optional_str(name, value)
    if not isinstance(legend, bool):
        raise TypeError(f"legend must be a bool; got {type(legend).__name__}")
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    handles, _ = ax.get_legend_handles_labels()
    if legend and handles:  # no legend call without labels: it would log a warning
        ax.legend()
    return ax


def plot_true_mi(
    ax: Axes,
    mi: float | Sequence[float] | np.ndarray,
    *,
    x: Sequence[float] | np.ndarray | None = None,
    label: str = "true MI",
    **kw,
) -> Line2D:
    """Draw the true MI (nats) in black: a horizontal line for a number, else ``mi`` vs ``x``.

    A sequence ``mi`` (e.g. the staircase schedule, or the identity line with ``x = mi``)
    needs ``x`` of the same length. Extra keywords go to matplotlib.
    """
    check_ax(ax)
    _check_optional_str("label", label)
    kw = {"color": TRUE_MI_COLOR, "lw": 1.5, "zorder": 1.5, **kw}
    if isinstance(mi, Real) and not isinstance(mi, bool):
        if not (math.isfinite(mi) and mi >= 0):
            raise ValueError(f"mi must be a finite number >= 0 nats; got {mi}")
        if x is not None:
            raise ValueError("x must be None when mi is a single number")
        return ax.axhline(float(mi), label=label, **kw)
    values = np.asarray(mi, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"mi must be a number or a non-empty 1-D sequence; got shape {values.shape}"
        )
    if not (np.all(np.isfinite(values)) and np.all(values >= 0)):
        raise ValueError("mi must hold finite values >= 0 nats")
    if x is None:
        raise ValueError("x is required when mi is a sequence")
    xs = np.asarray(x, dtype=float)
    if xs.shape != values.shape:
        raise ValueError(f"x must have the shape of mi {values.shape}; got {xs.shape}")
    (line,) = ax.plot(xs, values, label=label, **kw)
    return line


def plot_ceiling(ax: Axes, value: float, label: str, **kw) -> Line2D:
    """Draw a dashed horizontal ceiling at ``value`` nats, e.g. ``log K`` or ``log(K/α)``.

    The line style is always dashed; colour and width may be overridden by keywords.
    """
    check_ax(ax)
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"value must be a finite real number (nats); got {value!r}")
    if not isinstance(label, str):
        raise TypeError(f"label must be a str; got {type(label).__name__}")
    for key in ("linestyle", "ls"):
        if key in kw:
            raise ValueError(f"{key} cannot be set: ceilings are always dashed")
    kw = {"color": CEILING_COLOR, "lw": 1.3, "zorder": 1.5, **kw}
    return ax.axhline(float(value), linestyle="--", label=label, **kw)


def plot_derivation_chain(ax: Axes | None = None) -> Axes:
    """Draw the book's derivation chain as boxes and labelled arrows; returns the Axes.

    BA → UBA → TUBA → {MINE/DV, NWJ, JS}, then NWJ → InfoNCE → :math:`I_\\alpha`, after
    Fig. 1 of Poole et al. (2019). Box colours are the estimators' colours.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(10.6, 3.1))
    check_ax(ax)
    half_w, half_h = 0.475, 0.27
    centres = {label: (x, y) for label, _, x, y in CHAIN_NODES}
    for label, key, x, y in CHAIN_NODES:
        color = estimator_color(key)
        box = FancyBboxPatch(
            (x - half_w, y - half_h),
            2 * half_w,
            2 * half_h,
            boxstyle="round,pad=0.0,rounding_size=0.1",
            facecolor=color + "33",  # the colour with a light alpha
            edgecolor=color,
            linewidth=2.0,
        )
        ax.add_patch(box)
        ax.text(x, y, label, ha="center", va="center", fontsize=13, fontweight="bold")
    for start, end, step in CHAIN_EDGES:
        (x0, y0), (x1, y1) = centres[start], centres[end]
        ax.annotate(
            "",
            xy=(x1 - half_w - 0.03, y1),
            xytext=(x0 + half_w + 0.03, y0),
            arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 1.4, "mutation_scale": 14},
        )
        xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
        if y1 == y0:  # horizontal arrow: label above it
            pos, ha, va = (xm, ym + 0.06), "center", "bottom"
        else:  # diagonal arrow: label beside it, away from the middle row
            pos, ha, va = (xm - 0.1, ym), "right", ("bottom" if y1 > y0 else "top")
        ax.text(*pos, step, ha=ha, va=va, fontsize=10.5, color="#333333", linespacing=1.1)
    ax.set_xlim(-0.6, 10.0)
    ax.set_ylim(-1.45, 1.65)
    ax.set_axis_off()
    return ax


# ----------------------------------------------------------------------------- ceilings vs K
def plot_batch_ceiling(
    ax: Axes,
    batch_sizes: Sequence[int] | np.ndarray,
    *,
    alpha: float = 1.0,
    label: str | None = None,
    **kw,
) -> Line2D:
    r"""Draw the ceiling :math:`\log(K/\alpha)` (nats) as a dashed curve against the batch size.

    The multi-sample bounds cannot exceed :math:`\log K` (InfoNCE, ``alpha = 1``) or
    :math:`\log(K/\alpha)` (:math:`I_\alpha`) on any batch, so a sweep over ``K`` shows the
    ceiling as a curve, not a horizontal line (use :func:`plot_ceiling` for one ``K``).

    Args:
        ax: the axes to draw on.
        batch_sizes: the batch sizes ``K >= 1`` (x coordinates), a 1-D sequence.
        alpha: the interpolation weight, in ``(0, 1]``.
        label: legend label; default ``"log K"`` for ``alpha = 1``, else ``"log(K/α)"``.
        **kw: extra matplotlib keywords (colour, width, ...); the line style is always dashed.

    Returns:
        The dashed line.

    Reference: Poole et al. (2019), Sec. 2 (the ceilings of :math:`I_{\rm NCE}` and
    :math:`I_\alpha`).
    """
    check_ax(ax)
    ks = np.asarray(batch_sizes, dtype=float)
    if ks.ndim != 1 or ks.size == 0:
        raise ValueError(f"batch_sizes must be a non-empty 1-D sequence; got shape {ks.shape}")
    if not (np.all(np.isfinite(ks)) and np.all(ks >= 1)):
        raise ValueError("batch_sizes must hold finite batch sizes K >= 1")
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0.0 < float(alpha) <= 1.0:
        raise ValueError(f"alpha must be a real number in (0, 1]; got {alpha!r}")
    _check_optional_str("label", label)
    for key in ("linestyle", "ls"):
        if key in kw:
            raise ValueError(f"{key} cannot be set: ceilings are always dashed")
    if label is None:
        label = "log K" if float(alpha) == 1.0 else "log(K/α)"
    kw = {"color": CEILING_COLOR, "lw": 1.3, "zorder": 1.5, **kw}
    (line,) = ax.plot(ks, np.log(ks / float(alpha)), linestyle="--", label=label, **kw)
    return line


# ----------------------------------------------------------------------------- smoothing
def ema(values: np.ndarray | Sequence[float], rate: float = 0.01) -> np.ndarray:
    r"""Exponential moving average :math:`s_t = (1-r)s_{t-1} + r v_t`, started at ``v_0``.

    The bold curves of the staircase figure (Poole et al., 2019, Fig. 2 smooth the same way).
    """
    if isinstance(rate, bool) or not isinstance(rate, Real) or not 0.0 < rate <= 1.0:
        raise ValueError(f"rate must lie in (0, 1]; got {rate!r}")
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"values must be 1-D; got shape {v.shape}")
    out = np.empty_like(v)
    acc = v[0] if len(v) else 0.0
    for t, x in enumerate(v):
        acc = (1.0 - rate) * acc + rate * x
        out[t] = acc
    return out
