r"""What a learned code represents: latent activations against ground-truth factors.

Two figures read a representation whose data come with known generative factors (dSprites,
:mod:`mi_utils.tasks.dsprites`), after Poole et al. (2019, Sec. 4.3, Fig. 5) and the
disentanglement literature (Higgins et al., 2017; Chen et al., 2018):

- :func:`~mi_utils.plotting.plot_latent_factors`: a grid with one row per latent dimension and
  one column per factor; panel :math:`(k, f)` draws the mean activation
  :math:`\bar\mu_k(v)` of latent :math:`k` over the samples whose factor :math:`f` takes its
  :math:`v`-th value;
- :func:`~mi_utils.plotting.plot_position_maps`: one map per latent over the two position
  factors, each cell coloured by the latent's mean activation over the samples at that
  position.

A latent that tracks one factor alone shows a monotone curve in that factor's column, flat
curves in the others, and a map that varies along one axis only.

Inputs are ``latents`` ``[N, d]`` (typically the encoder means :math:`\mu(x_n)`, a tensor or
array) and integer factor *indices* (levels), as :func:`mi_utils.tasks.sample_dsprites`
returns them; errors name the argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .style import decorate

__all__ = ["plot_latent_factors", "plot_position_maps"]


def _as_numpy(value: object, name: str) -> np.ndarray:
    """A NumPy copy of a tensor (detached, on the CPU), an array or a nested list."""
    if hasattr(value, "detach"):  # a torch.Tensor, without importing torch here
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a tensor or array; got {type(value).__name__}") from err


def _check_latents(latents: object) -> np.ndarray:
    z = _as_numpy(latents, "latents")
    if z.dtype.kind not in "fiu" or z.dtype == bool:
        raise TypeError(f"latents must hold real numbers; got dtype {z.dtype}")
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 1:
        raise ValueError(f"latents must have shape [N, d] with N, d >= 1; got {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("latents must hold finite values; got NaN or inf")
    return z.astype(np.float64)


def _check_indices(value: object, name: str, shape_text: str, ndim: int, n: int) -> np.ndarray:
    idx = _as_numpy(value, name)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer level indices; got dtype {idx.dtype}")
    if idx.ndim != ndim or idx.shape[0] != n:
        raise ValueError(f"{name} must have shape {shape_text} with N = {n} (the rows of "
                         f"latents); got {idx.shape}")  # fmt: skip
    if idx.size and idx.min() < 0:
        raise ValueError(f"{name} must be level indices >= 0; got {idx.min()}")
    return idx.astype(np.int64)


def _level_means(z: np.ndarray, levels: np.ndarray, num_levels: int) -> np.ndarray:
    """``[num_levels, d]``: the mean of the rows of ``z`` at each level (NaN where none)."""
    counts = np.bincount(levels, minlength=num_levels)[:, None].astype(np.float64)
    sums = np.zeros((num_levels, z.shape[1]))
    np.add.at(sums, levels, z)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _make_axes(axes: object, shape: tuple[int, int], size: tuple[float, float]):
    if axes is None:
        fig, grid = plt.subplots(*shape, figsize=(size[0] * shape[1], size[1] * shape[0]),
                                 squeeze=False, layout="constrained")  # fmt: skip
        return fig, grid
    grid = np.asarray(axes, dtype=object).reshape(-1)
    if grid.size != shape[0] * shape[1] or not all(isinstance(a, Axes) for a in grid):
        raise ValueError(f"axes must hold {shape[0] * shape[1]} matplotlib Axes "
                         f"({shape[0]} x {shape[1]}); got {grid.size} objects")  # fmt: skip
    return grid[0].figure, grid.reshape(shape)


def _latent_names(latent_names: Sequence[str] | None, d: int) -> list[str]:
    if latent_names is None:
        return [f"$z_{{{k + 1}}}$" for k in range(d)]
    names = list(latent_names)
    if len(names) != d or not all(isinstance(s, str) for s in names):
        raise ValueError(f"latent_names must be {d} strings, one per latent; got {latent_names!r}")
    return names


def plot_latent_factors(
    latents,
    factors,
    *,
    factor_names: Sequence[str],
    factor_values: Sequence | None = None,
    latent_names: Sequence[str] | None = None,
    axes=None,
    color: str = "#0173b2",
) -> tuple[Figure, np.ndarray]:
    r"""Mean activation of each latent against each factor: a ``[d, F]`` grid of curves.

    Panel ``(k, f)`` plots :math:`\bar\mu_k(v) = \frac{1}{|\{n: c_{nf} = v\}|}
    \sum_{n: c_{nf} = v} \mu_k(x_n)` against the value of level :math:`v` of factor
    :math:`f`: how latent :math:`k` responds to factor :math:`f`, averaged over all the
    others. Rows share a y-axis (a latent's range); levels without samples are left out.

    Args:
        latents: ``[N, d]``, e.g. the encoder means :math:`\mu(x_n)`; finite.
        factors: ``[N, F]`` integer level indices :math:`c_{nf} \ge 0`.
        factor_names: ``F`` column titles.
        factor_values: ``F`` 1-D sequences, the value of each level of each factor (its
            x-axis); entry ``f`` needs more than ``max(factors[:, f])`` values. ``None`` plots
            against the level index.
        latent_names: ``d`` row labels, default :math:`z_1, \dots, z_d`.
        axes: ``d * F`` Axes to draw into (any shape, read row-major), or ``None`` for a new
            figure.
        color: the colour of the curves.

    Returns:
        ``(figure, axes)`` with ``axes`` of shape ``[d, F]``.

    Raises:
        TypeError: non-numeric latents or non-integer factors.
        ValueError: shapes that disagree, negative levels, too few ``factor_values`` or
            names, non-finite latents.
    """
    z = _check_latents(latents)
    n, d = z.shape
    c = _check_indices(factors, "factors", "[N, F]", 2, n)
    num_factors = c.shape[1]
    names = list(factor_names)
    if len(names) != num_factors or not all(isinstance(s, str) for s in names):
        raise ValueError(f"factor_names must be {num_factors} strings, one per column of "
                         f"factors; got {factor_names!r}")  # fmt: skip
    if factor_values is None:
        values = [np.arange(c[:, f].max() + 1, dtype=np.float64) for f in range(num_factors)]
    else:
        values = [_as_numpy(v, f"factor_values[{f}]").astype(np.float64).reshape(-1)
                  for f, v in enumerate(factor_values)]  # fmt: skip
        if len(values) != num_factors:
            raise ValueError(f"factor_values must hold {num_factors} sequences, one per factor; "
                             f"got {len(values)}")  # fmt: skip
        for f, v in enumerate(values):
            if v.size <= c[:, f].max():
                raise ValueError(
                    f"factor_values[{f}] ({names[f]}) must have more than {c[:, f].max()} "
                    f"entries (the largest level); got {v.size}"
                )
    rows = _latent_names(latent_names, d)
    fig, grid = _make_axes(axes, (d, num_factors), (1.7, 1.1))
    for f in range(num_factors):
        means = _level_means(z, c[:, f], values[f].size)  # [levels, d]
        seen = ~np.isnan(means[:, 0])
        for k in range(d):
            ax = grid[k, f]
            ax.plot(values[f][seen], means[seen, k], color=color, marker="o", ms=2.5, lw=1.2)
            decorate(ax, xlabel=names[f] if k == d - 1 else None,
                     ylabel=rows[k] if f == 0 else None,
                     title=names[f] if k == 0 else None, legend=False)  # fmt: skip
    for k in range(d):  # one y-range per latent, shared along its row
        lo = min(grid[k, f].get_ylim()[0] for f in range(num_factors))
        hi = max(grid[k, f].get_ylim()[1] for f in range(num_factors))
        for f in range(num_factors):
            grid[k, f].set_ylim(lo, hi)
            if f:
                grid[k, f].tick_params(labelleft=False)
            if k < d - 1:
                grid[k, f].tick_params(labelbottom=False)
    return fig, grid


def plot_position_maps(
    latents,
    pos_x,
    pos_y,
    *,
    num_positions: tuple[int, int] | None = None,
    latent_names: Sequence[str] | None = None,
    axes=None,
    cmap: str = "coolwarm",
) -> tuple[Figure, np.ndarray]:
    r"""One map per latent over the (x, y) position grid, coloured by its mean activation.

    Cell :math:`(a, b)` of map :math:`k` shows the mean of :math:`\mu_k(x_n)` over the samples
    with ``pos_x == a`` and ``pos_y == b`` (blank where there is none), with :math:`x` to the
    right and :math:`y` downwards, as in the images. Each map has its own colour range (its
    minimum to its maximum): a latent that encodes :math:`x` alone shows vertical stripes.

    Args:
        latents: ``[N, d]``, finite.
        pos_x, pos_y: ``[N]`` integer position indices (levels) of each sample.
        num_positions: ``(number of x levels, number of y levels)``; ``None`` takes 1 + the
            largest index of each.
        latent_names: ``d`` panel titles, default :math:`z_1, \dots, z_d`.
        axes: ``d`` Axes to draw into, or ``None`` for a new figure of one row.
        cmap: a matplotlib colour map.

    Returns:
        ``(figure, axes)`` with ``axes`` of shape ``[d]``.

    Raises:
        TypeError: non-numeric latents or non-integer positions.
        ValueError: shapes that disagree, negative positions, or positions outside
            ``num_positions``.
    """
    z = _check_latents(latents)
    n, d = z.shape
    px = _check_indices(pos_x, "pos_x", "[N]", 1, n)
    py = _check_indices(pos_y, "pos_y", "[N]", 1, n)
    if num_positions is None:
        num_positions = (int(px.max()) + 1, int(py.max()) + 1)
    if (not isinstance(num_positions, (tuple, list)) or len(num_positions) != 2
            or not all(isinstance(m, int) and m >= 1 for m in num_positions)):  # fmt: skip
        raise ValueError(f"num_positions must be a pair of ints >= 1; got {num_positions!r}")
    nx, ny = num_positions
    if px.max() >= nx or py.max() >= ny:
        raise ValueError(f"pos_x and pos_y must be below num_positions = {(nx, ny)}; got "
                         f"largest indices {(int(px.max()), int(py.max()))}")  # fmt: skip
    titles = _latent_names(latent_names, d)
    fig, grid = _make_axes(axes, (1, d), (1.8, 1.9))
    grid = grid.reshape(-1)
    maps = _level_means(z, py * nx + px, nx * ny).reshape(ny, nx, d)  # rows: y (down)
    for k in range(d):
        ax = grid[k]
        ax.imshow(maps[:, :, k], cmap=cmap, origin="upper", interpolation="nearest",
                  extent=(-0.5, nx - 0.5, ny - 0.5, -0.5))  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        decorate(ax, xlabel="x", ylabel="y" if k == 0 else None, title=titles[k], legend=False)
    return fig, grid
