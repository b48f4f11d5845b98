"""Tests for mi_utils.plotting (headless: the Agg backend)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import pytest
from matplotlib.patches import FancyBboxPatch

from mi_utils import plotting
from mi_utils.plotting import (
    ESTIMATOR_COLORS,
    decorate,
    estimator_color,
    plot_ceiling,
    plot_derivation_chain,
    plot_true_mi,
    set_style,
)

EXPECTED_KEYS = {
    "ba",
    "uba",
    "dv",
    "tuba",
    "nwj",
    "mine",
    "js",
    "infonce",
    "interpolated",
    "smile",
    "true_mi",
}


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


@pytest.fixture(autouse=True)
def _restore_rcparams():
    with matplotlib.rc_context():
        yield


def test_set_style_sets_theme_and_rcparams():
    matplotlib.rcdefaults()
    set_style()
    rc = matplotlib.rcParams
    assert rc["figure.dpi"] == 110
    assert rc["savefig.dpi"] == 150
    assert rc["legend.frameon"] is False
    assert rc["axes.spines.top"] is False
    # seaborn's whitegrid style turns the grid on; the colour cycle starts with our palette
    assert rc["axes.grid"] is True
    first = rc["axes.prop_cycle"].by_key()["color"][0]
    assert mcolors.to_hex(first) == ESTIMATOR_COLORS["ba"]


def test_set_style_rejects_unknown_context():
    with pytest.raises(ValueError, match="context"):
        set_style("huge")


def test_colors_have_exact_keys_are_valid_and_unique():
    assert set(ESTIMATOR_COLORS) == EXPECTED_KEYS
    assert set(plotting.TASK_COLORS) == {"gaussian", "cubic"}
    hexes = [mcolors.to_hex(c) for c in ESTIMATOR_COLORS.values()]
    assert len(set(hexes)) == len(hexes)
    assert ESTIMATOR_COLORS["true_mi"] == "#000000"


def test_colors_are_fixed_across_calls():
    before = dict(ESTIMATOR_COLORS)
    set_style()
    set_style("paper")
    assert before == ESTIMATOR_COLORS
    for name, color in ESTIMATOR_COLORS.items():
        assert estimator_color(name) == color
    assert estimator_color("InfoNCE") == ESTIMATOR_COLORS["infonce"]


@pytest.mark.parametrize("bad", ["cpc", "", "true mi"])
def test_unknown_estimator_raises_and_names_accepted(bad):
    with pytest.raises(ValueError, match="infonce"):
        estimator_color(bad)


def test_estimator_color_type_error():
    with pytest.raises(TypeError, match="name"):
        estimator_color(3)


def test_decorate_labels_axes(ax):
    ax.plot([0, 1], [0, 1], label="a line")
    out = decorate(ax, xlabel="true MI (nats)", ylabel="estimate (nats)", title="t")
    assert out is ax
    assert ax.get_xlabel() == "true MI (nats)"
    assert ax.get_ylabel() == "estimate (nats)"
    assert ax.get_title() == "t"
    assert ax.get_legend() is not None


def test_decorate_without_labelled_artists_adds_no_legend(ax):
    ax.plot([0, 1], [0, 1])
    decorate(ax, xlabel="x")
    assert ax.get_legend() is None
    ax.plot([0, 1], [1, 0], label="labelled")
    decorate(ax, legend=False)
    assert ax.get_legend() is None


def test_decorate_validates(ax):
    with pytest.raises(TypeError, match="ax"):
        decorate("not an axes", xlabel="x")
    with pytest.raises(TypeError, match="xlabel"):
        decorate(ax, xlabel=1)


def test_plot_true_mi_scalar_and_sequence(ax):
    line = plot_true_mi(ax, 2.0)
    assert line.get_label() == "true MI"
    assert mcolors.to_hex(line.get_color()) == ESTIMATOR_COLORS["true_mi"]
    assert list(line.get_ydata()) == [2.0, 2.0]
    ident = plot_true_mi(ax, [2.0, 4.0, 6.0], x=[2.0, 4.0, 6.0], label="identity")
    assert list(ident.get_ydata()) == [2.0, 4.0, 6.0]


def test_plot_true_mi_validates(ax):
    with pytest.raises(ValueError, match="mi"):
        plot_true_mi(ax, -1.0)
    with pytest.raises(ValueError, match="mi"):
        plot_true_mi(ax, math.nan)
    with pytest.raises(ValueError, match="x is required"):
        plot_true_mi(ax, [1.0, 2.0])
    with pytest.raises(ValueError, match="shape"):
        plot_true_mi(ax, [1.0, 2.0], x=[1.0])


def test_ceiling_is_dashed(ax):
    line = plot_ceiling(ax, math.log(128), "log K", color="red")
    assert line.get_linestyle() == "--"
    assert line.get_label() == "log K"
    assert list(line.get_ydata()) == [math.log(128)] * 2
    assert mcolors.to_hex(line.get_color()) == "#ff0000"


def test_ceiling_validates(ax):
    with pytest.raises(ValueError, match="dashed"):
        plot_ceiling(ax, 1.0, "log K", linestyle="-")
    with pytest.raises(ValueError, match="value"):
        plot_ceiling(ax, math.inf, "log K")
    with pytest.raises(TypeError, match="label"):
        plot_ceiling(ax, 1.0, None)


def test_derivation_chain_draws_boxes_and_step_labels():
    ax = plot_derivation_chain()
    texts = {t.get_text() for t in ax.texts}
    for label in ["BA", "UBA", "TUBA", "NWJ", "MINE/DV", "JS", "InfoNCE", r"$I_\alpha$"]:
        assert label in texts
    for step in ["energy-", "tangent", "log Z", "a = e", "JS objective", "multi-", "interpolate"]:
        assert any(step in t for t in texts), step
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == len(plotting.CHAIN_NODES)
    arrows = [t for t in ax.texts if t.get_text() == "" and hasattr(t, "arrow_patch")]
    assert len(arrows) == len(plotting.CHAIN_EDGES)
    plt.close(ax.figure)


def test_derivation_chain_uses_given_axes(ax):
    assert plot_derivation_chain(ax) is ax
    with pytest.raises(TypeError, match="ax"):
        plot_derivation_chain("nope")
