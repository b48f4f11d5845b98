r"""The Kraskov–Stögbauer–Grassberger (KSG) nearest-neighbour estimator of mutual information.

A non-parametric reference next to the variational bounds: no critic and no training, only
distances between the samples. Given :math:`N` joint samples :math:`z_i = (x_i, y_i)`, let
:math:`\varepsilon(i)/2` be the distance from :math:`z_i` to its :math:`k`-th nearest neighbour in
the joint space under the max-norm

.. math::

    \lVert z - z' \rVert
        = \max\bigl(\lVert x - x' \rVert_\infty,\, \lVert y - y' \rVert_\infty\bigr),

and let :math:`n_x(i)` (:math:`n_y(i)`) count the other points whose marginal distance to
:math:`x_i` (:math:`y_i`) is *strictly* less than :math:`\varepsilon(i)/2`. The first estimator of
Kraskov, Stögbauer & Grassberger (2004, Eq. 8) is

.. math::

    \hat I^{(1)}(X;Y) = \psi(k) + \psi(N)
        - \bigl\langle \psi(n_x + 1) + \psi(n_y + 1) \bigr\rangle,

with :math:`\psi` the digamma function and :math:`\langle\cdot\rangle` the mean over the samples.
It is consistent and nearly unbiased at low MI in low dimension, biased downward when the MI or
the dimension grows; it is not clipped at zero and can be slightly negative.

Reference: Kraskov, Stögbauer & Grassberger (2004), *Estimating mutual information*,
Phys. Rev. E 69, 066138, Eq. (8).
"""

from __future__ import annotations

import math

import torch

from .validation import check_choice, check_data, check_int, check_real

__all__ = ["ksg_mi"]

#: Memory for one chunk of rows of the distance matrices on the torch path (bytes).
CHUNK_BYTES = 64 * 2**20
#: The backends of :func:`~mi_utils.ksg.ksg_mi`.
BACKENDS = ("auto", "scipy", "torch")


def ksg_mi(
    x,
    y,
    k: int = 3,
    *,
    units: str = "nats",
    standardize: bool = True,
    jitter: float = 1e-10,
    seed: int | None = 0,
    backend: str = "auto",
) -> float:
    r"""Mutual information :math:`I(X;Y)` by the KSG estimator (algorithm 1).

    .. math::

        \hat I(X;Y) = \psi(k) + \psi(N) - \frac1N \sum_{i=1}^N
            \bigl[\psi(n_x(i) + 1) + \psi(n_y(i) + 1)\bigr],

    where :math:`\varepsilon(i)/2` is the max-norm distance from :math:`(x_i, y_i)` to its
    :math:`k`-th nearest neighbour in the joint space, and
    :math:`n_x(i) = \#\{j \ne i : \lVert x_j - x_i \rVert_\infty < \varepsilon(i)/2\}` (strict
    inequality; :math:`n_y` alike). A point at exactly that distance in a marginal space is not
    counted; this is the convention of the paper and of scikit-learn's
    ``mutual_info_regression``. The value is **not clipped at zero** (scikit-learn clips): under
    independence it scatters around 0 and is often slightly negative.

    Preprocessing, in this order:

    1. ``standardize=True`` (the default, as in scikit-learn) centres each coordinate and divides
       it by its standard deviation (a constant coordinate is only centred). The max-norm is not
       invariant to rescaling a coordinate, so without this the estimate depends on the units
       of each feature; with it, it is invariant to a per-coordinate affine map (up to
       rounding). It is not invariant to non-linear monotone maps, though KSG changes little
       under them.
    2. Jitter against duplicate points (ties make :math:`\varepsilon(i) = 0` or ambiguous
       counts): each coordinate gets independent Gaussian noise of standard deviation
       ``jitter`` times its standard deviation (times 1 for a constant coordinate), drawn from a
       CPU :class:`torch.Generator` seeded with ``seed``. The global RNG is never touched, and
       the same ``seed`` gives the same value on every backend.

    Backends: ``"scipy"`` uses ``scipy.spatial.cKDTree`` (the :math:`k`-th neighbour by
    ``query(..., p=inf)``, the strict counts by ``query_ball_point(..., p=inf,
    return_length=True)`` with the radius :math:`\varepsilon(i)/2` lowered to the next float
    below it), in :math:`O(N \log N)` for small dimensions, on as many workers as
    :func:`torch.get_num_threads`. ``"torch"`` is an exact brute force in :math:`O(N^2 (d_x +
    d_y))` over chunks of rows (at most about 64 MB of distances at a time, so no
    :math:`N \times N` matrix is ever held), on the device of the input tensors (CUDA
    included). ``"auto"`` picks scipy when it is installed (the ``ksg`` extra) and the data are
    on the CPU, torch otherwise. Both compute the same exact float64 max-norm distances, so on
    the same CPU data they find the same counts and return the same value (a CUDA run
    standardises on the GPU and can differ in the last digits). Reading the data's values (NaN
    and inf checks, the counts) costs host syncs on a GPU.

    Args:
        x: ``[N, d_x]`` samples of :math:`X`, or ``[N]`` for one feature: a NumPy array, a
            :class:`torch.Tensor` (CPU or CUDA), a pandas ``Series``/``DataFrame``, or a list;
            any integer or floating dtype, converted to float64; finite values only.
        y: ``[N, d_y]`` (or ``[N]``) samples of :math:`Y`, paired row by row with ``x``.
        k: the number of neighbours, an int in ``[1, N - 1]``. The default 3 is
            scikit-learn's, inside the range ``k = 2`` to ``4`` that Kraskov et al. recommend:
            a smaller ``k`` has less bias and more variance.
        units: ``"nats"`` (default) or ``"bits"``.
        standardize: rescale each coordinate to unit standard deviation first (see above).
        jitter: relative scale of the noise against ties, a real number in ``[0, 1]``; 0 adds
            none.
        seed: seed of the jitter's generator, an int ``>= 0``, or ``None`` for a fresh one
            (then the value varies from call to call at the level of ``jitter``).
        backend: ``"auto"``, ``"scipy"`` or ``"torch"``.

    Returns:
        The estimate of :math:`I(X;Y)`, a Python float in ``units``.

    Raises:
        TypeError: an input of the wrong kind (non-numeric data, a float ``k``, ...).
        ValueError: ``x`` and ``y`` of different ``N``, ``N < 2``, ``k`` outside
            ``[1, N - 1]``, NaN or inf in the data, or an unknown option.
        ImportError: ``backend="scipy"`` without scipy installed.

    Reference: Kraskov, Stögbauer & Grassberger (2004), Phys. Rev. E 69, 066138, Eq. (8).
    """
    x = check_data(x, "x")
    y = check_data(y, "y")
    k = check_int(k, "k")
    check_choice(units, "units", ("nats", "bits"))
    if not isinstance(standardize, bool):
        raise TypeError(f"standardize must be a bool; got {type(standardize).__name__}")
    jitter = check_real(jitter, "jitter", 0.0, 1.0)
    if seed is not None:
        check_int(seed, "seed", minimum=0)
    check_choice(backend, "backend", BACKENDS)
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(
            f"x and y must hold the same number N of samples (rows); got x: {tuple(x.shape)}, "
            f"y: {tuple(y.shape)}"
        )
    if n < 2:
        raise ValueError(f"x and y must hold N >= 2 samples; got N = {n}")
    if k >= n:
        raise ValueError(f"k must be an int in [1, N - 1] = [1, {n - 1}]; got {k}")

    device = x.device if x.device.type != "cpu" else y.device
    x, y = _prepare(x.to(device), y.to(device), standardize, jitter, seed)
    if backend == "auto":
        backend = "scipy" if device.type == "cpu" and _has_scipy() else "torch"
    if backend == "scipy":
        if not _has_scipy():
            raise ImportError(
                "backend='scipy' needs scipy (pip install 'mi-utils[ksg]'); or use backend='torch'"
            )
        nx, ny = _counts_scipy(x.cpu(), y.cpu(), k)
    else:
        nx, ny = _counts_torch(x, y, k)
    value = _ksg_value(k, n, nx, ny)
    return value / math.log(2.0) if units == "bits" else value


def _has_scipy() -> bool:
    try:
        import scipy.spatial  # noqa: F401
    except ImportError:
        return False
    return True


def _prepare(x, y, standardize: bool, jitter: float, seed: int | None):
    """Standardise and jitter ``x`` and ``y`` together (one generator, one ``[N, d]`` block)."""
    z = torch.cat([x, y], dim=1)
    std = z.std(dim=0, correction=0)
    scale = torch.where(std > 0, std, torch.ones_like(std))
    if standardize:
        z = (z - z.mean(dim=0)) / scale
        scale = torch.ones_like(scale)
    if jitter > 0:
        generator = torch.Generator()
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        noise = torch.randn(z.shape, generator=generator, dtype=torch.float64)
        z = z + (jitter * scale) * noise.to(z.device)
    return z[:, : x.shape[1]].contiguous(), z[:, x.shape[1] :].contiguous()


def _counts_scipy(x: torch.Tensor, y: torch.Tensor, k: int):
    """``n_x``, ``n_y`` (int64 arrays) by kd-trees under the max-norm."""
    import numpy as np
    from scipy.spatial import cKDTree

    x, y = x.numpy(), y.numpy()
    workers = torch.get_num_threads()
    joint = np.hstack([x, y])
    dist, _ = cKDTree(joint).query(joint, k=[k + 1], p=np.inf, workers=workers)  # self at 0
    eps = dist[:, 0]
    # query_ball_point counts distances <= r (self included): the next float below eps makes it
    # the strict count d < eps. eps == 0 (k + 1 identical points) counts nothing.
    radius = np.nextafter(eps, 0.0)
    positive = eps > 0

    def count(points):
        tree = cKDTree(points)
        hits = tree.query_ball_point(points, radius, p=np.inf, return_length=True, workers=workers)
        return np.where(positive, hits - 1, 0)

    return torch.from_numpy(count(x)), torch.from_numpy(count(y))


def _counts_torch(x: torch.Tensor, y: torch.Tensor, k: int):
    """``n_x``, ``n_y`` (int64 tensors) by a brute force over chunks of rows, on x's device."""
    n = x.shape[0]
    rows = max(1, CHUNK_BYTES // (32 * n))  # three float64 [rows, N] matrices and two masks
    nx = torch.empty(n, dtype=torch.int64, device=x.device)
    ny = torch.empty_like(nx)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        dx = torch.cdist(x[start:stop], x, p=math.inf)  # exact max |x_i - x_j|, no matmul
        dy = torch.cdist(y[start:stop], y, p=math.inf)
        joint = torch.maximum(dx, dy)
        eps = joint.topk(k + 1, dim=1, largest=False).values[:, -1:]  # self at 0 comes first
        del joint
        self_counted = (eps[:, 0] > 0).long()  # d(i, i) = 0 < eps unless eps == 0
        nx[start:stop] = (dx < eps).sum(dim=1) - self_counted
        ny[start:stop] = (dy < eps).sum(dim=1) - self_counted
    return nx, ny


def _ksg_value(k: int, n: int, nx: torch.Tensor, ny: torch.Tensor) -> float:
    """:math:`\\psi(k) + \\psi(N) - \\langle\\psi(n_x + 1) + \\psi(n_y + 1)\\rangle` in nats."""
    psi = torch.special.digamma
    const = psi(torch.tensor([float(k), float(n)], dtype=torch.float64)).sum()
    nx = nx.cpu().to(torch.float64)
    ny = ny.cpu().to(torch.float64)
    return float(const - (psi(nx + 1.0) + psi(ny + 1.0)).mean())
