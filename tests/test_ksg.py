"""The KSG estimator (mi_utils.ksg): the formula against an independent brute force (ties and
the strict count included), closed-form Gaussian MI, scikit-learn, the two backends against
each other, preprocessing, input types and bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

import mi_utils
from mi_utils import ksg_mi
from mi_utils.tasks import CorrelatedGaussian
from tests.conftest import gen, requires_cuda
from tests.test_package import BLOCKER, run_python

EULER_GAMMA = 0.5772156649015329


def digamma_int(m: np.ndarray) -> np.ndarray:
    """psi(m) = -gamma + H_{m-1} for integers m >= 1 (independent of torch's digamma)."""
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, int(np.max(m)) + 1))])
    return -EULER_GAMMA + harmonic[np.asarray(m) - 1]


def reference_ksg(x: np.ndarray, y: np.ndarray, k: int, strict: bool = True) -> float:
    """KSG-1 by the definitions, O(N^2) in NumPy; ``strict=False`` counts d <= eps instead."""
    n = len(x)
    dx = np.abs(x[:, None, :] - x[None, :, :]).max(-1)
    dy = np.abs(y[:, None, :] - y[None, :, :]).max(-1)
    joint = np.maximum(dx, dy)
    np.fill_diagonal(joint, np.inf)
    eps = np.sort(joint, axis=1)[:, k - 1]  # the k-th neighbour, self left out
    np.fill_diagonal(dx, np.inf)
    np.fill_diagonal(dy, np.inf)
    less = np.less if strict else np.less_equal
    nx = less(dx, eps[:, None]).sum(1)
    ny = less(dy, eps[:, None]).sum(1)
    return float(
        digamma_int(k) + digamma_int(n) - np.mean(digamma_int(nx + 1) + digamma_int(ny + 1))
    )


def gaussian(mi: float, dim: int, n: int, seed: int = 0):
    task = CorrelatedGaussian.from_mi(mi, dim)
    x, y = task.sample(n, generator=gen(seed), dtype=torch.float64)
    return task, x, y


BACKENDS = [pytest.param("scipy", id="scipy"), pytest.param("torch", id="torch")]


def backend_or_skip(backend: str) -> str:
    if backend == "scipy":
        pytest.importorskip("scipy")
    return backend


# ----------------------------------------------------------------------------- the formula
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_the_brute_force_definition_with_ties(backend, k, seed):
    # Small integers: many points lie at exactly eps in a marginal space, and some eps are 0.
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, size=(80, 2)).astype(float)
    y = x[:, :1] + rng.integers(0, 3, size=(80, 1))
    opts = dict(jitter=0.0, standardize=False, backend=backend_or_skip(backend))
    strict = reference_ksg(x, y, k)
    assert ksg_mi(x, y, k, **opts) == pytest.approx(strict, abs=1e-12)
    # The control: on these data counting d <= eps gives another value, so the test can fail.
    assert abs(reference_ksg(x, y, k, strict=False) - strict) > 1e-3


@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_the_brute_force_definition_on_continuous_data(backend):
    _, x, y = gaussian(1.0, 2, 300)
    value = ksg_mi(x, y, 4, jitter=0.0, standardize=False, backend=backend_or_skip(backend))
    assert value == pytest.approx(reference_ksg(x.numpy(), y.numpy(), 4), abs=1e-12)


def test_scipy_and_torch_backends_agree():
    pytest.importorskip("scipy")
    _, x, y = gaussian(1.5, 3, 2000, seed=3)
    for k in (1, 4):
        a = ksg_mi(x[:, :2], y, k, backend="scipy")
        b = ksg_mi(x[:, :2], y, k, backend="torch")
        assert a == pytest.approx(b, abs=1e-9)


@requires_cuda
@pytest.mark.gpu
def test_cuda_tensors_run_on_the_torch_backend_and_agree():
    _, x, y = gaussian(1.0, 2, 3000)
    cpu = ksg_mi(x, y, backend="torch")
    assert ksg_mi(x.cuda(), y.cuda()) == pytest.approx(cpu, abs=1e-9)
    assert ksg_mi(x.cuda(), y.numpy()) == pytest.approx(cpu, abs=1e-9)


# ----------------------------------------------------------------------------- accuracy
@pytest.mark.parametrize("mi", [0.2, 0.5, 1.0])
def test_close_to_the_gaussian_mi_in_one_dimension(mi):
    task, x, y = gaussian(mi, 1, 5000, seed=1)
    assert ksg_mi(x, y) == pytest.approx(task.mi, abs=0.05)


def test_close_to_the_gaussian_mi_in_three_dimensions():
    # In 3 + 3 dimensions KSG is already a little low at 0.5 nats (-0.04 to 0 over seeds at
    # N = 5000, k = 3): the tolerance is one-sided-ish.
    task, x, y = gaussian(0.5, 3, 5000, seed=2)
    assert task.mi - 0.08 < ksg_mi(x, y) < task.mi + 0.03


def test_biased_downward_at_high_mi_in_high_dimension():
    # KSG underestimates when the MI and the dimension grow (Kraskov et al. 2004, Sec. IV):
    # 4 nats in 5 + 5 dimensions at N = 2000 come out near 2.8 (k = 3), and more neighbours
    # (larger k, more bias, less variance) lower the estimate further.
    task, x, y = gaussian(4.0, 5, 2000, seed=4)
    k3, k10 = ksg_mi(x, y, 3), ksg_mi(x, y, 10)
    assert task.mi - 1.6 < k3 < task.mi - 0.8
    assert task.mi - 2.0 < k10 < k3


def test_independence_gives_about_zero_and_is_not_clipped():
    values = []
    for seed in range(8):
        x = torch.randn(1000, 2, generator=gen(seed), dtype=torch.float64)
        y = torch.randn(1000, 1, generator=gen(100 + seed), dtype=torch.float64)
        values.append(ksg_mi(x, y))
    assert max(abs(v) for v in values) < 0.05
    assert min(values) < 0  # scikit-learn would clip these at 0


@pytest.mark.slow  # importing scikit-learn takes about 2 s
def test_agrees_with_scikit_learn_in_one_dimension():
    feature_selection = pytest.importorskip("sklearn.feature_selection")
    _, x, y = gaussian(0.8, 1, 2000, seed=5)
    for k in (3, 5):
        ours = ksg_mi(x, y, k)
        theirs = feature_selection.mutual_info_regression(
            x.numpy(), y.numpy()[:, 0], n_neighbors=k, discrete_features=False, random_state=0
        )[0]
        assert ours == pytest.approx(theirs, abs=1e-3)  # both jitter by ~1e-10


# ----------------------------------------------------------------------------- preprocessing
def test_standardisation_makes_it_invariant_to_per_coordinate_affine_maps():
    _, x, y = gaussian(1.0, 2, 1500, seed=6)
    scale = torch.tensor([100.0, 0.01], dtype=torch.float64)
    moved = x * scale + 3.0
    assert ksg_mi(moved, y) == pytest.approx(ksg_mi(x, y), abs=1e-9)
    # Without standardisation the max-norm sees the units: the estimate changes.
    raw = dict(standardize=False)
    assert abs(ksg_mi(moved, y, **raw) - ksg_mi(x, y, **raw)) > 0.05


def test_a_monotone_map_changes_the_estimate_only_a_little():
    # MI is invariant under exp; KSG is not exactly (the max-norm neighbourhoods change).
    task, x, y = gaussian(0.5, 1, 3000, seed=7)
    before, after = ksg_mi(x, y), ksg_mi(torch.exp(x), y)
    assert before != after
    assert after == pytest.approx(task.mi, abs=0.05) and before == pytest.approx(task.mi, abs=0.05)


def test_jitter_breaks_duplicates_reproducibly_without_the_global_rng():
    rng = np.random.default_rng(0)
    x = np.repeat(rng.integers(0, 5, size=(200, 1)), 2, axis=0)  # every point twice
    y = x + np.repeat(rng.integers(0, 2, size=(200, 1)), 2, axis=0)
    state = torch.get_rng_state()
    a, b, c = ksg_mi(x, y, seed=1), ksg_mi(x, y, seed=1), ksg_mi(x, y, seed=2)
    assert torch.equal(torch.get_rng_state(), state)
    assert a == b and a != c and math.isfinite(a)
    assert math.isfinite(ksg_mi(x, y, seed=None))


def test_units_bits():
    _, x, y = gaussian(0.7, 1, 500)
    assert ksg_mi(x, y, units="bits") == pytest.approx(ksg_mi(x, y) / math.log(2), rel=1e-12)


# ----------------------------------------------------------------------------- inputs
def test_every_input_type_gives_the_same_value():
    _, x, y = gaussian(0.5, 2, 400)
    xn, yn = x.numpy(), y.numpy()
    expected = ksg_mi(xn, yn)
    assert ksg_mi(x, y) == expected
    assert ksg_mi(pd.DataFrame(xn), pd.DataFrame(yn)) == expected
    assert ksg_mi(xn.tolist(), yn) == expected
    assert ksg_mi(xn[:, 0], yn[:, 0]) == ksg_mi(xn[:, :1], yn[:, :1])  # 1-d: one feature
    assert ksg_mi(pd.Series(xn[:, 0]), yn[:, 0]) == ksg_mi(xn[:, :1], yn[:, :1])
    ints = (xn * 10).astype(np.int32)
    assert ksg_mi(ints, yn) == ksg_mi(ints.astype(np.float64), yn)
    assert ksg_mi(torch.from_numpy(ints), yn) == ksg_mi(ints.astype(np.float64), yn)


def test_exported_from_the_package():
    assert mi_utils.ksg_mi is mi_utils.ksg.ksg_mi is ksg_mi
    assert "ksg_mi" in dir(mi_utils) and "ksg" in mi_utils.SUBMODULES


@pytest.mark.slow  # a fresh interpreter
def test_works_without_scipy():
    res = run_python(
        BLOCKER,
        """
        import numpy as np
        import mi_utils
        from mi_utils import ksg_mi

        x = np.random.default_rng(0).standard_normal((300, 2))
        value = ksg_mi(x, x[:, :1] + x[:, 1:])  # auto falls back to the torch backend
        assert "scipy" not in sys.modules and np.isfinite(value)
        try:
            ksg_mi(x, x, backend="scipy")
        except ImportError as err:
            assert "scipy" in str(err), err
            print("ok")
        """,
    )
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


X = np.zeros((10, 2)) + np.arange(10)[:, None]
BAD = [
    (dict(k=0), ValueError, "k must"),
    (dict(k=10), ValueError, r"k must be an int in \[1, N - 1\] = \[1, 9\]"),
    (dict(k=2.0), TypeError, "k must"),
    (dict(k=True), TypeError, "k must"),
    (dict(x=X[:1], y=X[:1]), ValueError, "N >= 2"),
    (dict(y=X[:9]), ValueError, "x and y must hold the same number N"),
    (dict(x=np.where(X == 3, np.nan, X)), ValueError, "x must hold finite values"),
    (dict(y=np.where(X == 3, np.inf, X)), ValueError, "y must hold finite values"),
    (dict(x=torch.full((10, 1), -math.inf)), ValueError, "x must hold finite values"),
    (dict(x=X.astype(str)), TypeError, "x must be numeric"),
    (dict(y=X > 2), TypeError, "y must be numeric"),
    (dict(y=torch.ones(10, dtype=torch.complex64)), TypeError, "y must be numeric"),
    (dict(x=pd.DataFrame({"a": ["u"] * 10})), TypeError, "x must be numeric"),
    (dict(x="abc"), TypeError, "x must be a NumPy array"),
    (dict(x=None), TypeError, "x must be a NumPy array"),
    (dict(x=np.zeros((10, 2, 2))), ValueError, r"x must have shape \[N\] or \[N, d\]"),
    (dict(y=np.zeros((10, 0))), ValueError, r"y must have shape \[N\] or \[N, d\]"),
    (dict(x=np.array(1.0)), ValueError, "x must have shape"),
    (dict(units="furlongs"), ValueError, "units must be one of"),
    (dict(standardize="yes"), TypeError, "standardize must be a bool"),
    (dict(jitter=-1e-10), ValueError, "jitter must lie in"),
    (dict(jitter=None), TypeError, "jitter must be a real number"),
    (dict(seed=-1), ValueError, "seed must be an int >= 0"),
    (dict(seed=1.5), TypeError, "seed must be an int >= 0"),
    (dict(backend="fortran"), ValueError, "backend must be one of"),
]


@pytest.mark.parametrize("kwargs, exc, match", BAD, ids=[m for _, _, m in BAD])
def test_bad_input_names_the_argument(kwargs, exc, match):
    args = {"x": X, "y": X + 1.0, **kwargs}
    with pytest.raises(exc, match=match):
        ksg_mi(**args)


def test_good_input_next_to_the_bad_runs():
    # The control of the bad-input table: the same call with good arguments returns a float.
    assert isinstance(ksg_mi(X, X + 1.0, k=9, seed=0, jitter=0.0, units="bits"), float)
