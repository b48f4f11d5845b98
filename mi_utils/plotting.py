"""One visual style for the whole book, and its recurring figures.

Call :func:`set_style` once at the top of a chapter. Every estimator has a fixed colour
(:data:`ESTIMATOR_COLORS`), the true MI is drawn by :func:`plot_true_mi` and ceilings such as
:math:`\\log K` or :math:`\\log(K/\\alpha)` by :func:`plot_ceiling` (always dashed).
:func:`decorate` labels an axis in one call, after Downey's *Think Bayes*.
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

__all__ = [
    "CHAIN_EDGES",
    "CHAIN_NODES",
    "CRITIC_COLORS",
    "ESTIMATOR_COLORS",
    "TASK_COLORS",
    "decorate",
    "estimator_color",
    "plot_batch_ceiling",
    "plot_bias_variance",
    "plot_bias_variance_alpha",
    "plot_ceiling",
    "plot_derivation_chain",
    "plot_staircase",
    "plot_true_mi",
    "set_style",
]

#: Fixed colour per estimator, the same in every figure of the book (colour-blind friendly
#: hues from seaborn's ``colorblind`` palette, plus a few darker ones; the truth is black).
ESTIMATOR_COLORS: dict[str, str] = {
    "ba": "#0173b2",
    "uba": "#56b4e9",
    "dv": "#ca9161",
    "tuba": "#029e73",
    "nwj": "#de8f05",
    "mine": "#cc78bc",
    "js": "#949494",
    "infonce": "#d55e00",
    "interpolated": "#6a3d9a",
    "smile": "#b8860b",
    "true_mi": "#000000",
}

#: Colours of the testbed tasks themselves (raw samples, oracle checks), not of estimators.
TASK_COLORS: dict[str, str] = {"gaussian": "#34495e", "cubic": "#c0392b"}

CEILING_COLOR = "#555555"
CRITIC_COLORS = {"separable": "#0173b2", "concat": "#de8f05"}
_CONTEXTS = ("paper", "notebook", "talk", "poster")

#: Boxes of the derivation chain: (label, estimator colour key, x, y), in inches.
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

#: Arrows of the derivation chain: (from label, to label, what the step does).
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
    palette = [c for k, c in ESTIMATOR_COLORS.items() if k != "true_mi"]
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
    """The fixed colour of estimator ``name`` (a key of :data:`ESTIMATOR_COLORS`)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str; got {type(name).__name__}")
    key = name.strip().lower()
    if key not in ESTIMATOR_COLORS:
        raise ValueError(f"unknown estimator {name!r}; accepted names: {sorted(ESTIMATOR_COLORS)}")
    return ESTIMATOR_COLORS[key]


def _check_ax(ax: object) -> Axes:
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
    _check_ax(ax)
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
    _check_ax(ax)
    _check_optional_str("label", label)
    kw = {"color": ESTIMATOR_COLORS["true_mi"], "lw": 1.5, "zorder": 1.5, **kw}
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
    _check_ax(ax)
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
    _check_ax(ax)
    half_w, half_h = 0.475, 0.27
    centres = {label: (x, y) for label, _, x, y in CHAIN_NODES}
    for label, key, x, y in CHAIN_NODES:
        color = ESTIMATOR_COLORS[key]
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


# ----------------------------------------------------------------------------- experiments
def _panel_title(estimator: str, alpha: float) -> str:
    names = {"nwj": "NWJ", "tuba": "TUBA", "dv": "DV", "mine": "MINE", "js": "JS",
             "infonce": "InfoNCE", "smile": "SMILE"}  # fmt: skip
    if estimator == "interpolated":
        return f"$I_{{\\alpha}}$, $\\alpha$ = {alpha:g}"
    return names.get(estimator, estimator)


def plot_staircase(
    df, *, batch_size: int, ema_rate: float = 0.01, ylim: tuple[float, float] = (-1.0, 12.0)
):
    """The paper's staircase grid: rows are tasks, columns estimators (Poole et al., Fig. 2).

    Each panel shows the raw estimates of the separable and concat critics faint and their
    exponential moving averages (rate ``ema_rate``) bold, in the fixed :data:`CRITIC_COLORS`;
    the true MI in black; ``log K`` (InfoNCE) and ``log(K/α)`` (:math:`I_\\alpha`) dashed.
    ``df`` is the DataFrame of :func:`mi_utils.experiments.staircase`. Returns the figure.
    """
    from .experiments import ema

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"batch_size must be an int >= 2; got {batch_size!r}")
    for col in ("estimator", "alpha", "critic", "task", "step", "true_mi", "estimate"):
        if col not in getattr(df, "columns", ()):
            raise ValueError(f"df must have a column {col!r} (the staircase DataFrame)")
    panels = df[["estimator", "alpha"]].drop_duplicates().itertuples(index=False)
    panels = sorted(panels, key=lambda p: (p.estimator == "interpolated", p.alpha or 0.0))
    tasks = list(dict.fromkeys(df["task"]))
    fig, axes = plt.subplots(
        len(tasks), len(panels), figsize=(2.1 * len(panels), 2.3 * len(tasks)),
        sharex=True, sharey=True, squeeze=False, layout="constrained",
    )  # fmt: skip
    for r, task in enumerate(tasks):
        for c, (est, alpha) in enumerate(panels):
            ax = axes[r, c]
            sel = (df["task"] == task) & (df["estimator"] == est)
            sel &= df["alpha"].isna() if np.isnan(alpha) else df["alpha"] == alpha
            for critic, runs in df[sel].groupby("critic", sort=False):
                for _, run in runs.groupby("run_id"):
                    run = run.sort_values("step")
                    color = CRITIC_COLORS.get(critic, "#333333")
                    ax.plot(run["step"], run["estimate"], color=color, alpha=0.15, lw=0.5)
                    ax.plot(run["step"], ema(run["estimate"].to_numpy(), ema_rate), color=color,
                            lw=1.4, label=critic if (r, c) == (0, 0) else None)  # fmt: skip
            first = df[sel].sort_values("step").drop_duplicates("step")
            plot_true_mi(ax, first["true_mi"].to_numpy(), x=first["step"].to_numpy(),
                         label="true MI" if (r, c) == (0, 0) else "")  # fmt: skip
            if est == "infonce":
                plot_ceiling(ax, math.log(batch_size), "log K" if r == 0 else "")
            elif est == "interpolated" and alpha > 0:
                plot_ceiling(ax, math.log(batch_size / alpha), "log(K/α)" if r == 0 else "")
            ax.set_ylim(*ylim)
            if r == 0:
                ax.set_title(_panel_title(est, alpha), fontsize=10)
            if c == 0:
                ax.set_ylabel(f"{task}\nestimate (nats)")
            if r == len(tasks) - 1:
                ax.set_xlabel("step")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside upper center",
               ncol=4, frameon=False)  # fmt: skip
    return fig


def plot_bias_variance(df, x: str, *, axes=None):
    """Bias, variance and MSE (three panels) of :func:`mi_utils.experiments.bias_variance`
    against ``x``, ``"true_mi"`` or ``"batch_size"``, one line per estimator setting.
    Against :math:`\\alpha` use :func:`plot_bias_variance_alpha`. Returns the axes."""
    if x not in ("true_mi", "batch_size"):
        raise ValueError(
            f"x must be one of ('true_mi', 'batch_size') (plot_bias_variance_alpha for alpha); "
            f"got {x!r}"
        )
    for col in (x, "bias", "variance", "mse", "estimator", "alpha"):
        if col not in getattr(df, "columns", ()):
            raise ValueError(f"df must have a column {col!r} (the bias_variance DataFrame)")
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained")
    labels = {"true_mi": "true MI (nats)", "batch_size": "batch size K"}
    for (est, alpha), g in df.groupby(["estimator", "alpha"], dropna=False, sort=False):
        g = g.sort_values(x)
        name = f"I_α (α = {alpha:g})" if est == "interpolated" else _panel_title(est, alpha)
        color = estimator_color(est)
        style = {} if est != "interpolated" else {"alpha": 0.35 + 0.65 * float(alpha)}
        for ax, col in zip(axes, ("bias", "variance", "mse"), strict=True):
            ax.plot(g[x], g[col], marker="o", ms=3, color=color, label=name, **style)
    axes[0].axhline(0.0, color=ESTIMATOR_COLORS["true_mi"], lw=1)
    for ax, col in zip(axes, ("bias (nats)", "variance (nats²)", "MSE (nats²)"), strict=True):
        decorate(ax, xlabel=labels[x], ylabel=col, legend=False)
    for ax in axes[1:]:
        ax.set_yscale("log")
    if x == "batch_size":
        for ax in axes:
            ax.set_xscale("log", base=2)
    axes[-1].legend(fontsize=8, loc="best")
    return axes


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
    _check_ax(ax)
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


# ----------------------------------------------------------------------------- bias vs alpha
def plot_bias_variance_alpha(df, *, axes=None):
    r"""Bias, variance and MSE of :math:`I_\alpha` against :math:`\alpha`, one line per true MI.

    ``df`` is the DataFrame of :func:`mi_utils.experiments.bias_variance` (only its rows with
    ``estimator == "interpolated"`` are drawn; they must share one batch size). The
    :math:`\alpha` values are placed at equally spaced positions labelled by their values, so
    that a grid such as 0, 0.01, 0.1, 0.5, 0.9, 0.99, 1 stays readable: :math:`\alpha = 0` is
    TUBA and :math:`\alpha = 1` InfoNCE with ``K - 1`` negatives. Lines share the colour of
    :math:`I_\alpha`; a larger MI is drawn darker. Variance and MSE use a log scale.

    Args:
        df: the bias_variance DataFrame.
        axes: three matplotlib Axes (bias, variance, MSE), or ``None`` for a new figure.

    Returns:
        The three Axes.

    Reference: Poole et al. (2019), Fig. 3 (the :math:`\alpha` panel).
    """
    for col in ("estimator", "alpha", "true_mi", "batch_size", "bias", "variance", "mse"):
        if col not in getattr(df, "columns", ()):
            raise ValueError(f"df must have a column {col!r} (the bias_variance DataFrame)")
    rows = df[df["estimator"] == "interpolated"]
    if rows.empty:
        raise ValueError("df has no rows with estimator 'interpolated' to plot")
    if rows["batch_size"].nunique() != 1:
        raise ValueError(
            "the interpolated rows of df must share one batch size; got "
            f"{sorted(rows['batch_size'].unique().tolist())} (select one first)"
        )
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained")
    axes = list(axes)
    if len(axes) != 3:
        raise ValueError(f"axes must hold 3 Axes (bias, variance, MSE); got {len(axes)}")
    for ax in axes:
        _check_ax(ax)
    alphas = sorted(rows["alpha"].unique().tolist())
    position = {a: i for i, a in enumerate(alphas)}
    mis = sorted(rows["true_mi"].unique().tolist())
    color = estimator_color("interpolated")
    markers = ("o", "s", "^", "D", "v", "P", "X")
    for n, mi in enumerate(mis):
        g = rows[rows["true_mi"] == mi].sort_values("alpha")
        shade = 1.0 if len(mis) == 1 else 0.3 + 0.7 * n / (len(mis) - 1)
        xs = [position[a] for a in g["alpha"]]
        for ax, col in zip(axes, ("bias", "variance", "mse"), strict=True):
            ax.plot(xs, g[col], marker=markers[n % len(markers)], ms=4, color=color, alpha=shade,
                    label=f"I = {mi:g} nats")  # fmt: skip
    axes[0].axhline(0.0, color=ESTIMATOR_COLORS["true_mi"], lw=1)
    for ax, col in zip(axes, ("bias (nats)", "variance (nats²)", "MSE (nats²)"), strict=True):
        ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas])
        decorate(ax, xlabel="α", ylabel=col, legend=False)
    for ax in axes[1:]:
        ax.set_yscale("log")
    axes[-1].legend(fontsize=8, loc="best")
    return axes
