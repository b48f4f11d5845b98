"""The score-matrix heat map (mi_utils.plotting.plot_score_matrix; headless Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.patches import Rectangle

import mi_utils.plotting
from mi_utils.plotting import plot_score_matrix
from mi_utils.tasks import CorrelatedGaussian
from tests.conftest import gen


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")  # a closed figure's artists can still be inspected


def _scores(k: int = 6) -> torch.Tensor:
    """The optimal critic on one batch of k joint pairs: scores[i, j] = f*(x_j, y_i)."""
    task = CorrelatedGaussian.from_mi(2.0, dim=3)
    x, y = task.sample(k, generator=gen(3), dtype=torch.float64)
    return task.log_ratio(x, y)


def _outlines(ax) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle) and not p.get_fill()]


def test_is_exported():
    assert "plot_score_matrix" in mi_utils.plotting.__all__
    assert "plot_score_matrix" in mi_utils.plotting.figures.__all__


def test_image_data_is_the_input_rows_y_columns_x():
    scores = _scores(6)
    _fig, ax = plt.subplots()
    image = plot_score_matrix(ax, scores, title="one batch")
    assert list(ax.images) == [image]
    np.testing.assert_array_equal(image.get_array(), scores.numpy())
    # row i at the top for i = 0: entry [0, 1] (y_0 with x_1) is drawn at x = 1, y = 0
    assert image.origin == "upper"
    assert ax.get_title() == "one batch"
    assert ax.get_xlabel() == "column $j$: $x_j$" and ax.get_ylabel() == "row $i$: $y_i$"
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(j) for j in range(1, 7)]


def test_the_diagonal_is_outlined_cell_by_cell():
    k = 5
    _fig, ax = plt.subplots()
    plot_score_matrix(ax, _scores(k))
    outlines = _outlines(ax)
    assert len(outlines) == k
    for i, rect in enumerate(outlines):  # the unit square around cell (i, i)
        assert rect.get_xy() == (i - 0.5, i - 0.5)
        assert (rect.get_width(), rect.get_height()) == (1.0, 1.0)
    assert outlines[0].get_label() == "joint pairs (diagonal)"


def test_colour_bar_in_nats():
    fig, ax = plt.subplots()
    image = plot_score_matrix(ax, _scores(4))
    assert image.colorbar is not None
    assert "nats" in image.colorbar.ax.get_ylabel()
    assert len(fig.axes) == 2  # the panel and its colour bar


def test_accepts_arrays_lists_and_tensors_with_gradients():
    scores = _scores(3).requires_grad_()
    for value in (scores, scores.detach().numpy(), scores.detach().tolist()):
        _fig, ax = plt.subplots()
        image = plot_score_matrix(ax, value)
        np.testing.assert_allclose(image.get_array(), scores.detach().numpy())
    _fig, ax = plt.subplots()
    image = plot_score_matrix(ax, scores.float())  # float32 drawn as float64
    assert image.get_array().dtype == np.float64


@pytest.mark.parametrize(
    "scores, match",
    [
        (np.zeros((3, 4)), r"square \[K, K\].*got shape \(3, 4\)"),
        (np.zeros(4), r"square \[K, K\].*got shape \(4,\)"),
        (np.zeros((2, 3, 3)), r"square \[K, K\].*got shape \(2, 3, 3\)"),
        (np.zeros((1, 1)), r"K >= 2.*got shape \(1, 1\)"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), "finite.*1 non-finite of 4"),
        (torch.tensor([[0.0, float("inf")], [-float("inf"), 2.0]]), "finite.*2 non-finite"),
    ],
)
def test_rejects_bad_scores(scores, match):
    _fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="scores must be") as info:
        plot_score_matrix(ax, scores)
    info.match(match)
    assert not ax.images  # nothing drawn


@pytest.mark.parametrize(
    "ax, scores, title, match",
    [
        (None, np.zeros((2, 2)), None, "ax must be a matplotlib Axes"),
        ("axes", np.zeros((2, 2)), None, "ax must be a matplotlib Axes"),
        ("ok", [["a", "b"], ["c", "d"]], None, "scores must be a .* tensor or array"),
        ("ok", np.zeros((2, 2)), 3, "title must be a str or None"),
    ],
)
def test_rejects_bad_types(ax, scores, title, match):
    if ax == "ok":
        _fig, ax = plt.subplots()
    with pytest.raises(TypeError, match=match):
        plot_score_matrix(ax, scores, title=title)
