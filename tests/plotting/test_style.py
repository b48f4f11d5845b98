"""The book's figure style: colours from the registry, labels, reference lines, ceilings,
smoothing and the derivation chain (mi_utils.plotting.style; headless Agg backend)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import FancyBboxPatch

from mi_utils import estimators, plotting
from mi_utils.plotting import (
    CEILING_COLOR,
    TRUE_MI_COLOR,
    decorate,
    ema,
    estimator_color,
    plot_batch_ceiling,
    plot_ceiling,
    plot_derivation_chain,
    plot_true_mi,
    set_style,
)

EXPECTED_NAMES = {
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
    # seaborn's whitegrid style turns the grid on; the colour cycle is the registry's colours
    assert rc["axes.grid"] is True
    cycle = [mcolors.to_hex(c) for c in rc["axes.prop_cycle"].by_key()["color"]]
    assert cycle[: len(estimators.names())] == [estimators.get(n).color for n in estimators.names()]


def test_set_style_rejects_unknown_context():
    with pytest.raises(ValueError, match="context"):
        set_style("huge")


def test_colors_come_from_the_registry_and_are_valid_and_unique():
    assert set(estimators.names()) >= EXPECTED_NAMES
    hexes = [mcolors.to_hex(estimator_color(name)) for name in estimators.names()]
    assert len(set(hexes)) == len(hexes)
    assert TRUE_MI_COLOR == "#000000" and mcolors.to_hex(TRUE_MI_COLOR) not in hexes
    assert set(plotting.TASK_COLORS) == {"gaussian", "cubic"}
    assert set(plotting.CRITIC_COLORS) == {"separable", "concat"}
    assert not hasattr(plotting, "ESTIMATOR_COLORS")  # one place for colours: the registry


def test_colors_are_fixed_across_calls():
    before = {name: estimator_color(name) for name in estimators.names()}
    set_style()
    set_style("paper")
    for name in estimators.names():
        assert estimator_color(name) == before[name] == estimators.get(name).color
    assert estimator_color("InfoNCE") == estimators.get("infonce").color


def test_a_newly_registered_estimator_gets_its_colour():
    spec = estimators.Estimator("toy", "Toy", "#123456", lambda s, a, st, o: (s.mean((-2, -1)),
                                                                             None))  # fmt: skip
    estimators.register(spec)
    try:
        assert estimator_color("toy") == "#123456"
        assert estimator_color("TOY") == "#123456"
    finally:
        estimators.unregister("toy")
    with pytest.raises(ValueError, match="toy"):
        estimator_color("toy")


@pytest.mark.parametrize("bad", ["cpc", "", "true mi", "true_mi"])
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
    assert mcolors.to_hex(line.get_color()) == TRUE_MI_COLOR
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
    for box, (_, name, _, _) in zip(boxes, plotting.CHAIN_NODES, strict=True):
        assert mcolors.to_hex(box.get_edgecolor()) == estimators.get(name).color
    arrows = [t for t in ax.texts if t.get_text() == "" and hasattr(t, "arrow_patch")]
    assert len(arrows) == len(plotting.CHAIN_EDGES)
    plt.close(ax.figure)


def test_derivation_chain_uses_given_axes(ax):
    assert plot_derivation_chain(ax) is ax
    with pytest.raises(TypeError, match="ax"):
        plot_derivation_chain("nope")


# ----------------------------------------------------------------------------- ceilings vs K
def test_batch_ceiling_draws_log_k_dashed(ax):
    ks = [2, 4, 8, 1024]
    line = plot_batch_ceiling(ax, ks)
    np.testing.assert_allclose(line.get_xdata(), ks)
    np.testing.assert_allclose(line.get_ydata(), np.log(ks))
    assert line.get_linestyle() == "--"
    assert line.get_label() == "log K"
    assert line.get_color() == CEILING_COLOR


def test_batch_ceiling_alpha_shifts_the_ceiling_and_the_label(ax):
    line = plot_batch_ceiling(ax, np.array([4.0, 16.0]), alpha=0.25, color="red", label="c")
    np.testing.assert_allclose(line.get_ydata(), np.log([16.0, 64.0]))
    assert line.get_label() == "c"
    assert line.get_color() == "red"
    default = plot_batch_ceiling(ax, [4], alpha=0.5)
    assert default.get_label() == "log(K/α)"


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"batch_sizes": []}, ValueError, "non-empty"),
        ({"batch_sizes": [[2, 4]]}, ValueError, "1-D"),
        ({"batch_sizes": [0.5, 2]}, ValueError, "K >= 1"),
        ({"batch_sizes": [2, float("nan")]}, ValueError, "K >= 1"),
        ({"batch_sizes": [2], "alpha": 0.0}, ValueError, "alpha"),
        ({"batch_sizes": [2], "alpha": 1.5}, ValueError, "alpha"),
        ({"batch_sizes": [2], "alpha": True}, ValueError, "alpha"),
        ({"batch_sizes": [2], "label": 3}, TypeError, "label"),
        ({"batch_sizes": [2], "ls": ":"}, ValueError, "dashed"),
        ({"batch_sizes": [2], "linestyle": "-"}, ValueError, "dashed"),
    ],
)
def test_batch_ceiling_rejects_bad_arguments(ax, kwargs, err, match):
    with pytest.raises(err, match=match):
        plot_batch_ceiling(ax, **kwargs)


def test_batch_ceiling_rejects_a_non_axes():
    with pytest.raises(TypeError, match="ax"):
        plot_batch_ceiling("not an axes", [2, 4])


# ----------------------------------------------------------------------------- smoothing
def test_ema():
    np.testing.assert_allclose(ema(np.array([0.0, 10.0, 10.0]), rate=0.5), [0.0, 5.0, 7.5])
    np.testing.assert_allclose(ema([3.0, 5.0], rate=1.0), [3.0, 5.0])  # rate 1: no smoothing
    values = np.random.default_rng(0).normal(size=50)
    out, acc = ema(values, 0.1), values[0]
    for t, v in enumerate(values):
        acc = 0.9 * acc + 0.1 * v
        assert out[t] == pytest.approx(acc, rel=1e-12)
    assert ema([], 0.5).shape == (0,)


@pytest.mark.parametrize(
    "values, rate, err, match",
    [
        (np.ones(3), 0.0, ValueError, "rate"),
        (np.ones(3), 1.5, ValueError, "rate"),
        (np.ones(3), True, ValueError, "rate"),
        (np.ones((2, 2)), 0.5, ValueError, "1-D"),
    ],
)
def test_ema_rejects_bad_arguments(values, rate, err, match):
    with pytest.raises(err, match=match):
        ema(values, rate)
