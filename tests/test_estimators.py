"""The estimator registry: one uniform call, options, errors, and a new estimator that trains,
plots and benchmarks with no edit to the library."""

from __future__ import annotations

import math
import re

import matplotlib
import numpy as np
import pytest
import torch

from mi_utils import bounds, estimators
from mi_utils.estimators import Estimator, evaluate, get, names, register, unregister
from mi_utils.tasks import CorrelatedGaussian, Schedule, Task
from mi_utils.train import Run, train
from tests.conftest import TINY, gen

matplotlib.use("Agg")

F64 = torch.float64
REGISTERED = ("ba", "uba", "nwj", "tuba", "dv", "mine", "js", "infonce", "interpolated", "smile",
              "variational_marginal", "minibatch_upper", "club")  # fmt: skip
TRAINABLE = REGISTERED[2:10]  # the lower bounds that read scores
UPPER = REGISTERED[10:]

#: What each score-based estimator computes, written with the bound functions directly.
DIRECT = {
    "nwj": lambda s, a, st, **o: (bounds.nwj_lower_bound(s), None),
    "tuba": lambda s, a, st, **o: (bounds.tuba_lower_bound(s, a), None),
    "dv": lambda s, a, st, **o: (bounds.dv_lower_bound(s), None),
    "mine": lambda s, a, st, ema_rate=0.01: bounds.mine_lower_bound(s, st, ema_rate),
    "js": lambda s, a, st, **o: (bounds.js_lower_bound(s), None),
    "infonce": lambda s, a, st, **o: (bounds.infonce_lower_bound(s), None),
    "interpolated": lambda s, a, st, alpha=0.5: (
        bounds.interpolated_lower_bound(s, a, alpha),
        None,
    ),
    "smile": lambda s, a, st, clip=5.0: (bounds.smile_lower_bound(s, clip), None),
    "variational_marginal": lambda s, a, st: (
        bounds.variational_marginal_upper_bound(torch.diagonal(s, dim1=-2, dim2=-1), a),
        None,
    ),
    "minibatch_upper": lambda s, a, st: (bounds.minibatch_upper_bound(s), None),
    "club": lambda s, a, st: (bounds.club_upper_bound(s), None),
}


def scores_and_baseline(seed: int = 0, r: int = 3, k: int = 6):
    g = gen(seed)
    return torch.randn(r, k, k, generator=g, dtype=F64), torch.randn(r, k, generator=g, dtype=F64)


def uniform(name: str, scores, log_a, **options):
    """The one call every caller (trainer, experiments, benchmark) makes."""
    spec = get(name)
    return evaluate(
        name, scores, log_baseline=log_a if spec.needs_baseline else None, state=None, **options
    )


# ----------------------------------------------------------------------------- the entries
def test_registered_names_and_tags():
    assert names() == REGISTERED
    assert names(trainable=True) == TRAINABLE
    assert names(trainable=False) == ("ba", "uba", *UPPER)
    assert names(kind="lower") == REGISTERED[:10] and names(kind="upper") == UPPER
    assert names(tag="staircase") == ("nwj", "tuba", "dv", "mine", "js", "infonce", "interpolated")
    assert names(tag="bias_variance") == ("nwj", "tuba", "dv", "infonce", "interpolated")
    assert names(tag="no_such_tag") == ()
    assert names(kind="lower", tag="staircase", trainable=True) == names(tag="staircase")


def test_entries_metadata():
    needs = {n for n in names() if get(n).needs_baseline}
    assert needs == {"tuba", "interpolated", "variational_marginal"}
    assert {n for n in names() if get(n).stateful} == {"mine"}
    assert {n: dict(get(n).options) for n in names() if get(n).options} == {
        "mine": {"ema_rate": 0.01},
        "interpolated": {"alpha": 0.5},
        "smile": {"clip": 5.0},
    }
    colors = [get(n).color for n in names()]
    assert len(set(colors)) == len(colors)  # one colour per estimator, fixed book-wide
    assert all(re.fullmatch(r"#[0-9a-fA-F]{6}", c) for c in colors)
    labels = [get(n).display() for n in names()]
    assert len(set(labels)) == len(labels)
    assert all(get(n).reference for n in names())


def test_display_fills_the_options():
    assert get("interpolated").display() == r"$I_{\alpha}$, $\alpha$ = 0.5"
    assert get("interpolated").display(alpha=0.01) == r"$I_{\alpha}$, $\alpha$ = 0.01"
    assert get("nwj").display() == "NWJ" and get("infonce").display() == "InfoNCE"
    with pytest.raises(ValueError, match="unknown option"):
        get("nwj").display(alpha=0.5)


def test_ceilings():
    k = 64
    infonce, interp = get("infonce"), get("interpolated")
    assert infonce.ceiling(k, {}) == math.log(k)
    assert infonce.paper_ceiling(k, {}) == (math.log(k), "log K")
    assert interp.ceiling(k, {"alpha": 0.5}) == pytest.approx(1 + math.log((k - 1) / 0.5))
    assert interp.paper_ceiling(k, {"alpha": 0.5}) == (pytest.approx(math.log(2 * k)), "log(K/α)")
    assert interp.ceiling(k, {"alpha": 0.0}) == math.inf
    assert interp.paper_ceiling(k, {"alpha": 0.0}) is None
    assert all(get(n).ceiling is None for n in ("nwj", "tuba", "dv", "mine", "js", "smile"))


def test_estimator_validates_its_fields():
    call = DIRECT["nwj"]
    with pytest.raises(ValueError, match="lower-case"):
        Estimator("NWJ2", "x", "#000000", call)
    with pytest.raises(ValueError, match="name"):
        Estimator("", "x", "#000000", call)
    with pytest.raises(ValueError, match="kind"):
        Estimator("toy", "x", "#000000", call, kind="middle")
    with pytest.raises(TypeError, match="call"):
        Estimator("toy", "x", "#000000", 3)
    with pytest.raises(ValueError, match="optimal_critic"):
        Estimator("toy", "x", "#000000", call, optimal_critic="best")
    spec = Estimator("toy", "x", "#000000", call, options={"a": 1.0}, tags=["t"])
    assert spec.tags == frozenset({"t"})
    with pytest.raises(TypeError):
        spec.options["a"] = 2.0  # read-only
    options = get("interpolated").options
    assert get("interpolated").resolve({"alpha": 0.1}) == {"alpha": 0.1}
    assert dict(options) == {"alpha": 0.5}  # resolving does not change the defaults


# ----------------------------------------------------------------------------- one call
def test_direct_table_covers_the_registry():
    assert set(DIRECT) == set(names(trainable=True)) | set(names(kind="upper"))


@pytest.mark.parametrize("name", REGISTERED[2:])
def test_evaluate_equals_the_bound_function(name):
    scores, log_a = scores_and_baseline()
    value, state = uniform(name, scores, log_a)
    expected, expected_state = DIRECT[name](scores, log_a, None)
    assert value.shape == (3,) and torch.equal(value, expected)
    if get(name).stateful:
        assert torch.equal(state, expected_state)
        value2, state2 = evaluate(name, scores * 0.5, state=state)  # and it carries the state
        e2, s2 = DIRECT[name](scores * 0.5, None, state)
        assert torch.equal(value2, e2) and torch.equal(state2, s2)
    else:
        assert state is None
    # the spec is callable the same way
    v, _ = get(name)(scores, log_baseline=log_a if get(name).needs_baseline else None)
    assert torch.equal(v, expected)


@pytest.mark.parametrize(
    "name, options",
    [("interpolated", {"alpha": 0.2}), ("interpolated", {"alpha": 0.0}),
     ("interpolated", {"alpha": 1.0}), ("smile", {"clip": 1.0}), ("smile", {"clip": None}),
     ("mine", {"ema_rate": 0.5})],
)  # fmt: skip
def test_option_overrides(name, options):
    scores, log_a = scores_and_baseline(1)
    state = torch.zeros(3, dtype=F64) if get(name).stateful else None
    base = log_a if get(name).needs_baseline else None
    value, new_state = evaluate(name, scores, log_baseline=base, state=state, **options)
    expected, expected_state = DIRECT[name](scores, log_a, state, **options)
    assert torch.equal(value, expected)
    if state is not None:
        assert torch.equal(new_state, expected_state)
    default, _ = evaluate(name, scores, log_baseline=base, state=state)
    if name != "smile" or options["clip"] is not None:
        assert not torch.equal(value, default)  # the option did change something


def test_smile_without_clipping_is_dv():
    scores, _ = scores_and_baseline(2)
    value, _ = evaluate("smile", scores, clip=None)
    assert (value - bounds.dv_lower_bound(scores)).abs().max().item() < 1e-12


@pytest.mark.parametrize(
    "name, options, match",
    [("interpolated", {"alpha": 2.0}, "alpha"), ("smile", {"clip": -1.0}, "clip"),
     ("mine", {"ema_rate": 0.0}, "ema_rate")],
)  # fmt: skip
def test_bad_option_values_name_the_option(name, options, match):
    scores, log_a = scores_and_baseline()
    with pytest.raises(ValueError, match=match):
        uniform(name, scores, log_a, **options)


@pytest.mark.parametrize("name", [*TRAINABLE, "variational_marginal", "minibatch_upper"])
def test_optimal_critic_reaches_the_true_mi(name):
    # The registry's optimal_critic, built from the task's densities, makes each bound
    # (nearly) tight on a low-MI Gaussian: the metadata that the bias-variance study relies on.
    task = CorrelatedGaussian.from_mi(0.5, dim=2)
    x, y = task.sample(256, batch_shape=(8,), generator=gen(3), dtype=F64)
    spec = get(name)
    kind = spec.optimal_critic
    if kind == "log_conditional":
        scores, log_a = task.log_conditional(x, y), task.log_marginal(y)
    else:
        scores = task.log_ratio(x, y) + (1.0 if kind == "log_ratio_plus_one" else 0.0)
        log_a = torch.zeros(y.shape[:-1], dtype=F64)
    value, _ = uniform(name, scores, log_a)
    assert value.mean().item() == pytest.approx(0.5, abs=0.05)


def test_upper_bounds_at_the_true_conditional_bound_the_mi_from_above():
    # At 3 nats with K = 32: every upper bound's mean lies above the truth (5 standard errors),
    # the lower bounds' below, and CLUB sits at its closed form d rho^2 / (1 - rho^2).
    task = CorrelatedGaussian.from_mi(3.0, dim=3)
    x, y = task.sample(32, batch_shape=(400,), generator=gen(5), dtype=F64)
    log_cond, log_p = task.log_conditional(x, y), task.log_marginal(y)
    for name in UPPER:
        spec = get(name)
        assert spec.kind == "upper" and spec.optimal_critic == "log_conditional"
        assert "true conditional" in spec.reference
        value, _ = uniform(name, log_cond, log_p)
        assert value.mean() >= 3.0 - 5 * value.std() / 20.0
    club, _ = evaluate("club", log_cond)
    closed = task.dim * task.rho**2 / (1 - task.rho**2)
    assert abs(club.mean().item() - closed) < 5 * club.std().item() / 20.0
    infonce, _ = evaluate("infonce", log_cond)
    assert infonce.mean() < 3.0 - 0.3  # the sandwich has width at K = 32


def test_upper_bounds_are_refused_by_the_trainer_and_need_their_baseline():
    for name in UPPER:
        with pytest.raises(ValueError, match="is an upper bound: it needs the true conditional"):
            Run(name, "separable", CorrelatedGaussian(2, 0.5))
    scores, _ = scores_and_baseline()
    with pytest.raises(ValueError, match="needs log_baseline: log q"):
        evaluate("variational_marginal", scores)
    with pytest.raises(ValueError, match="scores must have shape"):
        evaluate("variational_marginal", torch.zeros(3, 4), log_baseline=torch.zeros(3))


# ----------------------------------------------------------------------------- errors
def test_unknown_option_lists_the_accepted_ones():
    scores, log_a = scores_and_baseline()
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['beta'\].*accepted: \['alpha'\]"):
        evaluate("interpolated", scores, log_baseline=log_a, beta=1.0)
    with pytest.raises(ValueError, match=r"\['alpha'\] for estimator 'nwj'; accepted: none"):
        evaluate("nwj", scores, alpha=0.5)


def test_unknown_name_lists_the_accepted_ones():
    scores, _ = scores_and_baseline()
    with pytest.raises(ValueError, match="unknown estimator 'nce'") as err:
        evaluate("nce", scores)
    for name in REGISTERED:
        assert repr(name) in str(err.value)
    with pytest.raises(TypeError, match="name"):
        get(3)
    with pytest.raises(ValueError, match="unknown estimator"):
        unregister("nce")
    assert get(" NWJ ") is get("nwj") and get(get("nwj")) is get("nwj")


def test_register_refuses_duplicates():
    original = get("nwj")
    impostor = Estimator("nwj", "Impostor", "#000000", DIRECT["dv"])
    with pytest.raises(ValueError, match="registered already"):
        register(impostor)
    assert get("nwj") is original
    with pytest.raises(TypeError, match="Estimator"):
        register("nwj")
    try:
        assert register(impostor, replace=True) is impostor and get("nwj") is impostor
        assert names() == REGISTERED  # replacing keeps the order
    finally:
        register(original, replace=True)
    assert get("nwj") is original


@pytest.mark.parametrize("name", [n for n in REGISTERED[2:] if not get(n).needs_baseline])
def test_baseline_refused_where_not_taken(name):
    scores, log_a = scores_and_baseline()
    with pytest.raises(ValueError, match=f"{name!r} takes no log_baseline"):
        evaluate(name, scores, log_baseline=log_a)


@pytest.mark.parametrize("name", [n for n in REGISTERED[2:] if not get(n).stateful])
def test_state_refused_for_stateless(name):
    scores, log_a = scores_and_baseline()
    base = log_a if get(name).needs_baseline else None
    with pytest.raises(ValueError, match=f"{name!r} carries no state"):
        evaluate(name, scores, log_baseline=base, state=torch.zeros(3))


@pytest.mark.parametrize("name", ["ba", "uba"])
def test_estimators_without_scores_are_refused(name):
    scores, _ = scores_and_baseline()
    with pytest.raises(ValueError, match="does not read a score matrix"):
        evaluate(name, scores)
    with pytest.raises(ValueError, match="must read a score matrix"):
        Run(name, "separable", CorrelatedGaussian(2, 0.5))


# ----------------------------------------------------------------------------- a new estimator
TOY = "toy_scaled_tuba"


def _toy_bound(scores, log_a, scale):
    """The toy's formula, written independently of its registry entry."""
    return scale * bounds.tuba_lower_bound(scores, log_a)


def _toy_call(scores, log_a, state, opts):
    scale = opts["scale"]
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0:
        raise ValueError(f"scale must be a real number > 0; got {scale!r}")
    return _toy_bound(scores, log_a, scale), None


@pytest.fixture
def toy():
    """A scaled TUBA with an option, a baseline and a ceiling, registered last."""
    spec = register(
        Estimator(
            TOY, "Toy, s = {scale:g}", "#123456", _toy_call, needs_baseline=True,
            options={"scale": 0.5}, ceiling=lambda k, o: o["scale"] * (1 + math.log(k)),
            paper_ceiling=lambda k, o: (o["scale"] * math.log(k), "s log K"),
            optimal_critic="log_conditional", tags={"toy"}, reference="this test",
        )
    )  # fmt: skip
    try:
        yield spec
    finally:
        unregister(TOY)
    assert TOY not in names()


def test_toy_is_registered_last_and_evaluates(toy):
    assert names()[-1] == TOY and names(tag="toy") == (TOY,)
    assert TOY in names(trainable=True)
    scores, log_a = scores_and_baseline(4)
    value, state = evaluate(TOY, scores, log_baseline=log_a, scale=2.0)
    assert state is None and torch.equal(value, _toy_bound(scores, log_a, 2.0))
    assert torch.equal(evaluate(TOY, scores, log_baseline=log_a)[0], _toy_bound(scores, log_a, 0.5))
    assert toy.display() == "Toy, s = 0.5" and toy.display(scale=2) == "Toy, s = 2"
    with pytest.raises(ValueError, match=r"accepted: \['scale'\]"):
        evaluate(TOY, scores, log_baseline=log_a, alpha=0.1)
    with pytest.raises(ValueError, match="scale"):
        Run(TOY, "separable", CorrelatedGaussian(2, 0.5), scale=-1.0)  # checked at set-up


class RecordingGaussian(CorrelatedGaussian):
    """A correlated Gaussian that keeps its last draw (the batches of the one run using it)."""

    def sample(self, num_samples, **kw):
        self.last = super().sample(num_samples, **kw)
        return self.last


def _estimates(frame, run_id):
    return frame[frame.run_id == run_id].sort_values("step").estimate.to_numpy()


def test_toy_trains_among_others_with_its_own_baseline(toy):
    # The toy needs a baseline and sorts last, so its baseline rows come after those of TUBA and
    # I_alpha: a trainer that took baseline rows from the list order would hand it another run's.
    dim, steps = 3, 6  # steps: a multiple of chunk_steps (3), so that 7 steps share the data
    tasks = {1: RecordingGaussian(dim, 0.6), 6: RecordingGaussian(dim, 0.6)}
    task = CorrelatedGaussian(dim, 0.6)
    runs = [
        Run(TOY, "separable", tasks[1], seed=1, scale=2.0),
        Run("interpolated", "separable", task, seed=2, alpha=0.3),
        Run("nwj", "separable", task, seed=3),
        Run("tuba", "separable", task, seed=4),
        Run("mine", "concat", task, seed=5),
        Run(TOY, "concat", tasks[6], seed=6),
        Run("tuba", "concat", task, seed=7),
    ]
    result = train(runs, steps, TINY, device="cpu", dtype=F64, progress=False)
    longer = train(runs, steps + 1, TINY, device="cpu", dtype=F64, progress=False)
    frame = longer.frame
    assert np.isfinite(frame.estimate).all()
    toy_rows = frame[frame.estimator == TOY]
    assert set(toy_rows.label) == {"Toy, s = 2", "Toy, s = 0.5"}
    assert set(toy_rows.scale) == {2.0, 0.5} and frame[frame.estimator == "nwj"].scale.isna().all()
    for run_id, i in ((0, 1), (5, 6)):
        critic, baseline = result.critics[run_id], result.baselines[run_id]
        assert baseline is not None
        x, y = (t[0] for t in tasks[i].last)  # the batch of step `steps` (the 7-step run)
        with torch.no_grad():
            expected = _toy_bound(critic(x, y), baseline(y), runs[run_id].resolved_options["scale"])
        recorded = _estimates(frame, run_id)[steps]
        assert recorded == pytest.approx(expected.item(), rel=1e-10, abs=1e-12)
    assert [b is None for b in result.baselines] == [False, False, True, False, True, False, False]


def test_baseline_rows_follow_the_spec_not_the_list_order(toy):
    # Baseline estimators interleaved with others, across registry order and options: each run's
    # first recorded value (its initial critic and baseline, drawn from its own seed) must be
    # that of the same run trained alone.
    task = CorrelatedGaussian(2, 0.5)
    runs = [
        Run("interpolated", "separable", task, seed=10, alpha=0.9),
        Run("nwj", "separable", task, seed=11),
        Run(TOY, "separable", task, seed=12, scale=2.0),
        Run("infonce", "separable", task, seed=13),
        Run("tuba", "separable", task, seed=14),
        Run(TOY, "separable", task, seed=15),
        Run("js", "separable", task, seed=16),
        Run("interpolated", "separable", task, seed=17, alpha=0.1),
        Run("mine", "separable", task, seed=18),
        Run("tuba", "concat", task, seed=19),
        Run("dv", "concat", task, seed=20),
        Run(TOY, "concat", task, seed=21, scale=0.25),
    ]
    together = train(runs, 3, TINY, device="cpu", dtype=F64, progress=False).frame
    for run_id, run in enumerate(runs):
        solo = train([run], 3, TINY, device="cpu", dtype=F64, progress=False).frame
        first, alone = _estimates(together, run_id), _estimates(solo, 0)
        assert first[0] == pytest.approx(alone[0], rel=1e-12, abs=1e-12), run
        np.testing.assert_allclose(first, alone, rtol=1e-9, atol=1e-9, err_msg=repr(run))


def test_toy_plots_in_the_staircase_figure(toy):
    import matplotlib.pyplot as plt

    from mi_utils.plotting import plot_staircase

    schedule = Schedule.staircase(lambda mi: CorrelatedGaussian.from_mi(mi, 3), 3, (1.0, 2.0))
    runs = [Run("nwj", c, schedule, seed=0) for c in ("separable", "concat")]
    runs += [Run(TOY, c, schedule, seed=1, scale=s) for c in ("separable", "concat")
             for s in (0.5, 2.0)]  # fmt: skip
    frame = train(runs, config=TINY, device="cpu", progress=False).frame
    k = 64
    fig = plot_staircase(frame, batch_size=k)
    try:
        titles = [ax.get_title() for ax in fig.axes]
        assert titles == ["NWJ", "Toy, s = 0.5", "Toy, s = 2"]  # registry order, then options
        for ax, scale in zip(fig.axes[1:], (0.5, 2.0), strict=True):
            dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
            assert len(dashed) == 1
            assert dashed[0].get_ydata()[0] == pytest.approx(scale * math.log(k))
        assert not [ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "--"]
    finally:
        plt.close(fig)


def test_toy_benchmarks_with_no_edit(toy):
    from benchmarks.bench import run_benchmark

    result = run_benchmark(
        steps=3, estimators=(TOY,), critics=("separable",), mist="skip", config=TINY
    )
    (row,) = result["estimates"]
    assert row["estimator"] == TOY and row["critic"] == "separable"
    assert math.isfinite(row["vectorized"]) and math.isfinite(row["loop"])
    assert result["config"]["num_runs"] == 1


# ----------------------------------------------------------------------------- isolation
def test_the_toy_leaves_no_trace():
    assert TOY not in names() and names() == REGISTERED
    assert isinstance(get("tuba"), Estimator) and isinstance(CorrelatedGaussian(2, 0.5), Task)
    assert estimators.__all__ == ["Estimator", "evaluate", "get", "names", "register",
                                  "unregister"]  # fmt: skip
