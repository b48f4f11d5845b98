"""The book's recurring figures: the staircase (Poole et al., 2019, Fig. 2), the
bias-variance panels (Fig. 3) and a critic's score matrix. Names, labels, colours and
ceilings come from :mod:`mi_utils.estimators`, so a newly registered estimator appears with no
edit here.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.patches import Rectangle

from .. import estimators
from .style import (
    CRITIC_COLORS,
    TRUE_MI_COLOR,
    check_ax,
    decorate,
    ema,
    estimator_color,
    plot_ceiling,
    plot_true_mi,
)

__all__ = ["plot_bias_variance", "plot_bias_variance_alpha", "plot_score_matrix", "plot_staircase"]

_NON_OPTIONS = {
    "run_id", "estimator", "label", "critic", "task", "seed", "step", "true_mi", "estimate",
    "batch_size", "mean", "bias", "variance", "mse", "se",
}  # fmt: skip


def _check_columns(df, columns, what: str) -> None:
    for col in columns:
        if col not in getattr(df, "columns", ()):
            raise ValueError(f"df must have a column {col!r} ({what})")


def _settings(df: pd.DataFrame) -> list[tuple[str, dict]]:
    """(estimator, options) of each estimator setting in ``df``, in registry order."""
    option_cols = [c for c in df.columns if c not in _NON_OPTIONS]
    out = []
    for row in df[["estimator", *option_cols]].drop_duplicates().itertuples(index=False):
        spec = estimators.get(row.estimator)
        opts = {c: getattr(row, c) for c in option_cols if c in spec.options}
        out.append((spec.name, opts))
    order = {name: i for i, name in enumerate(estimators.names())}
    return sorted(out, key=lambda s: (order[s[0]], sorted(s[1].items())))


def _select(df: pd.DataFrame, name: str, opts: dict) -> pd.Series:
    sel = df["estimator"] == name
    for col, value in opts.items():
        sel &= df[col] == value
    return sel


def plot_staircase(
    df, *, batch_size: int, ema_rate: float = 0.01, ylim: tuple[float, float] = (-1.0, 12.0)
):
    """The paper's staircase grid: rows are tasks, columns estimator settings (Fig. 2).

    Each panel shows the raw estimates of each critic faint and their exponential moving
    averages (rate ``ema_rate``) bold, in the fixed :data:`CRITIC_COLORS`; the true MI in black;
    the estimator's reference ceiling dashed (its registry ``paper_ceiling``: ``log K`` for
    InfoNCE, ``log(K/α)`` for :math:`I_\\alpha`, as the paper states them). ``df`` is the frame
    of :func:`mi_utils.experiments.staircase` or :func:`mi_utils.train.train`. Returns the figure.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"batch_size must be an int >= 2; got {batch_size!r}")
    _check_columns(df, ("estimator", "critic", "task", "step", "true_mi", "estimate"),
                   "the staircase DataFrame")  # fmt: skip
    panels = _settings(df)
    tasks = list(dict.fromkeys(df["task"]))
    fig, axes = plt.subplots(
        len(tasks), len(panels), figsize=(2.1 * len(panels), 2.3 * len(tasks)),
        sharex=True, sharey=True, squeeze=False, layout="constrained",
    )  # fmt: skip
    for r, task in enumerate(tasks):
        for c, (name, opts) in enumerate(panels):
            ax, spec = axes[r, c], estimators.get(name)
            sel = (df["task"] == task) & _select(df, name, opts)
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
            line = (
                spec.paper_ceiling(batch_size, spec.resolve(opts)) if spec.paper_ceiling else None
            )
            if line is not None:
                plot_ceiling(ax, line[0], line[1] if r == 0 else "")
            ax.set_ylim(*ylim)
            if r == 0:
                ax.set_title(spec.display(**opts), fontsize=10)
            if c == 0:
                ax.set_ylabel(f"{task}\nestimate (nats)")
            if r == len(tasks) - 1:
                ax.set_xlabel("step")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside upper center",
               ncol=4, frameon=False)  # fmt: skip
    return fig


def plot_bias_variance(df, x: str, *, axes=None):
    """Bias, variance and MSE (three panels) of :func:`mi_utils.experiments.bias_variance`
    against ``x``, ``"true_mi"`` or ``"batch_size"``, one line per estimator setting; settings
    with an ``alpha`` are drawn lighter for smaller alpha. Against :math:`\\alpha` use
    :func:`plot_bias_variance_alpha`. Returns the axes."""
    if x not in ("true_mi", "batch_size"):
        raise ValueError(
            f"x must be one of ('true_mi', 'batch_size') (plot_bias_variance_alpha for alpha); "
            f"got {x!r}"
        )
    _check_columns(df, (x, "bias", "variance", "mse", "estimator"), "the bias_variance DataFrame")
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained")
    labels = {"true_mi": "true MI (nats)", "batch_size": "batch size K"}
    for name, opts in _settings(df):
        g = df[_select(df, name, opts)].sort_values(x)
        spec = estimators.get(name)
        style = {"alpha": 0.35 + 0.65 * float(opts["alpha"])} if "alpha" in opts else {}
        for ax, col in zip(axes, ("bias", "variance", "mse"), strict=True):
            ax.plot(g[x], g[col], marker="o", ms=3, color=spec.color, label=spec.display(**opts),
                    **style)  # fmt: skip
    axes[0].axhline(0.0, color=TRUE_MI_COLOR, lw=1)
    for ax, col in zip(axes, ("bias (nats)", "variance (nats²)", "MSE (nats²)"), strict=True):
        decorate(ax, xlabel=labels[x], ylabel=col, legend=False)
    for ax in axes[1:]:
        ax.set_yscale("log")
    if x == "batch_size":
        for ax in axes:
            ax.set_xscale("log", base=2)
    axes[-1].legend(fontsize=8, loc="best")
    return axes


def plot_bias_variance_alpha(df, *, axes=None):
    r"""Bias, variance and MSE against :math:`\alpha`, one line per true MI.

    ``df`` is the DataFrame of :func:`mi_utils.experiments.bias_variance`; its rows with an
    ``alpha`` (one estimator, :math:`I_\alpha`, and one batch size) are drawn. The
    :math:`\alpha` values are placed at equally spaced positions labelled by their values, so
    that a grid such as 0, 0.01, 0.1, 0.5, 0.9, 0.99, 1 stays readable: :math:`\alpha = 0` is
    TUBA and :math:`\alpha = 1` InfoNCE with ``K - 1`` candidates. A larger MI is drawn darker.
    Variance and MSE use a log scale.

    Args:
        df: the bias_variance DataFrame.
        axes: three matplotlib Axes (bias, variance, MSE), or ``None`` for a new figure.

    Returns:
        The three Axes.

    Reference: Poole et al. (2019), Fig. 3 (the :math:`\alpha` panel).
    """
    _check_columns(df, ("estimator", "alpha", "true_mi", "batch_size", "bias", "variance", "mse"),
                   "the bias_variance DataFrame")  # fmt: skip
    rows = df[df["alpha"].notna()]
    if rows.empty:
        raise ValueError("df has no rows with an alpha to plot")
    if rows["estimator"].nunique() != 1:
        raise ValueError(f"the rows with an alpha must share one estimator; got "
                         f"{sorted(rows['estimator'].unique())}")  # fmt: skip
    if rows["batch_size"].nunique() != 1:
        raise ValueError(
            "the rows with an alpha must share one batch size; got "
            f"{sorted(rows['batch_size'].unique().tolist())} (select one first)"
        )
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained")
    axes = list(axes)
    if len(axes) != 3:
        raise ValueError(f"axes must hold 3 Axes (bias, variance, MSE); got {len(axes)}")
    for ax in axes:
        check_ax(ax)
    alphas = sorted(rows["alpha"].unique().tolist())
    position = {a: i for i, a in enumerate(alphas)}
    mis = sorted(rows["true_mi"].unique().tolist())
    color = estimator_color(rows["estimator"].iloc[0])
    markers = ("o", "s", "^", "D", "v", "P", "X")
    for n, mi in enumerate(mis):
        g = rows[rows["true_mi"] == mi].sort_values("alpha")
        shade = 1.0 if len(mis) == 1 else 0.3 + 0.7 * n / (len(mis) - 1)
        xs = [position[a] for a in g["alpha"]]
        for ax, col in zip(axes, ("bias", "variance", "mse"), strict=True):
            ax.plot(xs, g[col], marker=markers[n % len(markers)], ms=4, color=color, alpha=shade,
                    label=f"I = {mi:g} nats")  # fmt: skip
    axes[0].axhline(0.0, color=TRUE_MI_COLOR, lw=1)
    for ax, col in zip(axes, ("bias (nats)", "variance (nats²)", "MSE (nats²)"), strict=True):
        ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas])
        decorate(ax, xlabel="α", ylabel=col, legend=False)
    for ax in axes[1:]:
        ax.set_yscale("log")
    axes[-1].legend(fontsize=8, loc="best")
    return axes


# ----------------------------------------------------------------------------- score matrix

#: The colour of the outline around the diagonal (the joint pairs) of a score matrix.
_DIAGONAL_COLOR = "#e41a1c"


def plot_score_matrix(ax, scores, *, title: str | None = None):
    r"""Draw one batch's score matrix :math:`S_{ij} = f(x_j, y_i)` as a heat map.

    Rows index :math:`y_i` and columns index :math:`x_j`, the book's convention (``scores[i,
    j]``, as in the paper's reference notebook; TensorFlow Probability uses the transpose). Row
    ``i`` is drawn at the top for ``i = 0``, as a matrix is written. The diagonal holds the
    :math:`K` joint pairs and is outlined; the :math:`K(K-1)` off-diagonal entries pair
    independent draws, samples of :math:`p(x)\,p(y)`. A colour bar labelled in nats is added.

    Args:
        ax: the matplotlib Axes to draw on.
        scores: a ``[K, K]`` tensor or array of finite critic values (nats), ``K >= 2``;
            a tensor may sit on any device and carry gradients (it is detached and copied).
        title: the panel title, or ``None``.

    Returns:
        The :class:`matplotlib.image.AxesImage`; its data are ``scores`` as float64.

    Raises:
        TypeError: ``ax`` is not an Axes, ``title`` not a str or None, or ``scores`` is not
            numeric.
        ValueError: ``scores`` is not a square ``[K, K]`` matrix with ``K >= 2``, or has an
            entry that is NaN or infinite.

    Reference: Poole et al. (2019), Sec. 2 and the reference notebook (``scores[i, j] =
    f(x_j, y_i)``).
    """

    check_ax(ax)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None; got {type(title).__name__}")
    if isinstance(scores, torch.Tensor):
        values = scores.detach().to(device="cpu", dtype=torch.float64).numpy()
    else:
        try:
            values = np.asarray(scores, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"scores must be a [K, K] tensor or array of numbers; got {type(scores).__name__}"
            ) from exc
    if values.ndim != 2 or values.shape[0] != values.shape[1] or values.shape[0] < 2:
        raise ValueError(
            "scores must be a square [K, K] matrix with K >= 2 (rows y_i, columns x_j); "
            f"got shape {tuple(values.shape)}"
        )
    bad = int((~np.isfinite(values)).sum())
    if bad:
        raise ValueError(
            f"scores must be finite (no NaN or inf); got {bad} non-finite of {values.size} entries"
        )
    k = values.shape[0]
    image = ax.imshow(values, interpolation="nearest", aspect="equal", origin="upper")
    for i in range(k):  # one square around each joint pair (i, i)
        ax.add_patch(
            Rectangle((i - 0.5, i - 0.5), 1.0, 1.0, fill=False, edgecolor=_DIAGONAL_COLOR,
                      linewidth=1.6, label="joint pairs (diagonal)" if i == 0 else None)
        )  # fmt: skip
    if k <= 20:  # 1-based labels, as in the text (S_ij, i, j = 1..K)
        ax.set_xticks(range(k), [str(j + 1) for j in range(k)], fontsize=8)
        ax.set_yticks(range(k), [str(i + 1) for i in range(k)], fontsize=8)
    ax.grid(False)
    ax.figure.colorbar(image, ax=ax, label="score $f(x_j, y_i)$ (nats)")
    decorate(ax, xlabel="column $j$: $x_j$", ylabel="row $i$: $y_i$", title=title, legend=False)
    return image
