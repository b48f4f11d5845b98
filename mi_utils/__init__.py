"""mi_utils: variational bounds on mutual information in PyTorch.

The library behind the book *Variational Bounds of Mutual Information*, after Poole, Ozair,
van den Oord, Alemi & Tucker (2019). Data flows one way:

- :mod:`mi_utils.tasks`: joint distributions with a known MI (the :class:`~mi_utils.tasks.Task`
  protocol, the correlated Gaussian, MI-preserving transforms, schedules);
- :mod:`mi_utils.nn`: critics ``scores[..., i, j] = f(x_j, y_i)``, baselines and decoders,
  single or batched over independent runs; Gaussian and invertible encoders;
- :mod:`mi_utils.bounds`: every bound as a pure function of a score matrix, in nats: lower
  bounds, and upper bounds for a known conditional density;
- :mod:`mi_utils.estimators`: the registry of estimators (bound, baseline, state,
  hyper-parameters, ceiling, label, colour) and one uniform call;
- :mod:`mi_utils.fit` and :mod:`mi_utils.train`: the one fit loop, and training of many runs
  as one batched model;
- :func:`~mi_utils.estimate.estimate_mi` (:mod:`mi_utils.estimate`) and
  :func:`~mi_utils.ksg.ksg_mi` (:mod:`mi_utils.ksg`), both importable from ``mi_utils``: the MI of
  your own data, with held-out evaluation and an interval;
- :func:`~mi_utils.probe.linear_probe` (:mod:`mi_utils.probe`), importable from ``mi_utils``:
  the held-out accuracy of a linear classifier on frozen features;
- :mod:`mi_utils.contrastive`: the K-pair and triplet losses of metric learning (InfoNCE in
  disguise) and a two-view digits data set;
- :mod:`mi_utils.experiments` and :mod:`mi_utils.plotting`: the book's sweeps and figures;
- :mod:`mi_utils.book`: the book's ``quick``/``full`` profiles.

Submodules load on first use, so ``import mi_utils.bounds`` needs only torch and numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.2.0"

#: The public submodules, imported lazily by attribute access (``mi_utils.train``).
SUBMODULES: tuple[str, ...] = (
    "book",
    "bounds",
    "contrastive",
    "device",
    "estimate",
    "estimators",
    "experiments",
    "fit",
    "ksg",
    "nn",
    "plotting",
    "probe",
    "tasks",
    "train",
    "validation",
)
_FUNCTIONS = {
    "default_device": "device",
    "estimate_mi": "estimate",
    "ksg_mi": "ksg",
    "linear_probe": "probe",
}

__all__ = ["SUBMODULES", "__version__", *SUBMODULES, *_FUNCTIONS]

if TYPE_CHECKING:  # pragma: no cover
    from . import (  # noqa: F401
        book,
        bounds,
        contrastive,
        device,
        estimate,
        estimators,
        experiments,
        fit,
        ksg,
        nn,
        plotting,
        probe,
        tasks,
        train,
        validation,
    )
    from .device import default_device  # noqa: F401
    from .estimate import estimate_mi  # noqa: F401
    from .ksg import ksg_mi  # noqa: F401
    from .probe import linear_probe  # noqa: F401


def __getattr__(name: str):
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f"{__name__}.{_FUNCTIONS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
