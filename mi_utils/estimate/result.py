"""The result of :func:`mi_utils.estimate.estimate_mi`: the estimate, its interval, its curves,
the trained critics and diagnostics a user can act on."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Diagnostic", "MIEstimate"]


@dataclass(frozen=True)
class Diagnostic:
    """One warning about an estimate: a short ``code`` and a ``message`` saying what to do.

    Codes: ``"still_increasing"``, ``"near_ceiling"``, ``"overfitting"``,
    ``"disagrees_with_ksg"``, ``"negative"``, ``"non_finite"`` (a run's test value is infinite or
    NaN: the estimate is then not a number to use), ``"no_interval"``.
    """

    code: str
    message: str


@dataclass
class MIEstimate:
    """What :func:`~mi_utils.estimate.estimate_mi` returns.

    Attributes:
        estimate: the mean of the runs' held-out values, in ``units``.
        ci: ``(low, high)`` at level ``ci_level`` (``None`` with a single run, or when a run's
            value is not finite; the diagnostics say which).
        ci_level: the interval's nominal coverage.
        std_error: the standard error behind ``ci`` (``nan`` with a single run).
        runs: the value of each run on its own test split, ``[num_runs]``.
        units: ``"nats"`` or ``"bits"``.
        estimator: the estimator's registry name (or ``"ksg"``).
        curves: a tidy :class:`pandas.DataFrame` with columns ``run``, ``step``, ``split``
            (``"train"``, ``"validation"``) and ``value`` (in ``units``); empty for KSG.
        best_steps: the step whose weights each run kept (chosen on validation data).
        critics: the trained critic of each run (single modules), with the weights of its
            best step; they read preprocessed inputs (``preprocessors``).
        baselines: each run's trained baseline (``None`` for estimators without one).
        preprocessors: each run's ``(x_map, y_map)``, fitted on that run's training split.
        splits: each run's row indices of the input, ``{"train", "validation", "test"}``
            (NumPy int arrays; the three are disjoint); empty for KSG.
        ksg: the KSG estimate of the same data in ``units`` (``None`` when not computed).
        diagnostics: the :class:`~mi_utils.estimate.Diagnostic` s that apply.
        settings: every setting used, defaults included.
        seconds: wall-clock time of the call.
    """

    estimate: float
    ci: tuple[float, float] | None
    ci_level: float
    std_error: float
    runs: np.ndarray
    units: str
    estimator: str
    curves: object
    best_steps: tuple[int, ...] = ()
    critics: tuple = ()
    baselines: tuple = ()
    preprocessors: tuple = ()
    splits: tuple = ()
    ksg: float | None = None
    diagnostics: tuple[Diagnostic, ...] = ()
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0

    def __float__(self) -> float:
        return float(self.estimate)

    def _ci_text(self) -> str:
        if self.ci is None:
            return "no interval"
        lo, hi = self.ci
        return f"{self.ci_level:.0%} CI [{lo:.3f}, {hi:.3f}]"

    def __repr__(self) -> str:
        lines = [
            f"MIEstimate({self.estimate:.3f} {self.units}, {self._ci_text()}, "
            f"estimator={self.estimator!r}, runs={len(self.runs)})"
        ]
        if self.ksg is not None and self.estimator != "ksg":
            lines.append(f"  KSG baseline: {self.ksg:.3f} {self.units}")
        lines += [f"  warning [{d.code}]: {d.message}" for d in self.diagnostics]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [
            ("estimate", f"{self.estimate:.4f} {self.units}"),
            ("interval", self._ci_text()),
            ("standard error", f"{self.std_error:.4f}"),
            ("estimator", self.estimator),
            ("runs", ", ".join(f"{v:.3f}" for v in self.runs)),
        ]
        if self.ksg is not None and self.estimator != "ksg":
            rows.append(("KSG baseline", f"{self.ksg:.4f} {self.units}"))
        if self.best_steps:
            rows.append(("best steps", ", ".join(map(str, self.best_steps))))
        rows.append(("time", f"{self.seconds:.1f} s"))
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        warn = "".join(
            f"<li><b>{html.escape(d.code)}</b>: {html.escape(d.message)}</li>"
            for d in self.diagnostics
        )
        return f"<table>{body}</table>" + (f"<ul>{warn}</ul>" if warn else "")

    def to_dict(self) -> dict:
        """A JSON-ready dict: the numbers, the diagnostics and the settings (no modules)."""
        return {
            "estimate": _json_float(self.estimate),
            "ci": None if self.ci is None else [float(v) for v in self.ci],
            "ci_level": self.ci_level,
            "std_error": None if math.isnan(self.std_error) else float(self.std_error),
            "runs": [_json_float(v) for v in self.runs],
            "units": self.units,
            "estimator": self.estimator,
            "best_steps": list(self.best_steps),
            "ksg": self.ksg,
            "diagnostics": [{"code": d.code, "message": d.message} for d in self.diagnostics],
            "settings": {k: _plain(v) for k, v in self.settings.items()},
            "seconds": self.seconds,
        }

    def plot(self, ax=None):
        """Training and validation curves of every run, the chosen steps and the estimate.

        Needs matplotlib (the ``plot`` extra). Returns the axes.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 3.6))
        if len(self.curves):
            for (run, split), g in self.curves.groupby(["run", "split"]):
                style = "-" if split == "validation" else ":"
                ax.plot(g["step"], g["value"], style, color=f"C{run % 10}", lw=1.2,
                        label=f"run {run} {split}" if run == 0 else None)  # fmt: skip
            for run, step in enumerate(self.best_steps):
                ax.axvline(step, color=f"C{run % 10}", lw=0.6, alpha=0.5)
        ax.axhline(self.estimate, color="k", lw=1.2, label=f"estimate (test) {self.estimate:.3f}")
        if self.ci is not None:
            ax.axhspan(*self.ci, color="k", alpha=0.1, lw=0)
        if self.ksg is not None and self.estimator != "ksg":
            ax.axhline(self.ksg, color="0.5", ls="--", lw=1.0, label=f"KSG {self.ksg:.3f}")
        ax.set_xlabel("training step")
        ax.set_ylabel(f"{self.estimator} ({self.units})")
        ax.legend(fontsize="small", frameon=False)
        return ax


def _json_float(value) -> float | str:
    """A float, or ``"inf"``/``"-inf"``/``"nan"`` (JSON has no infinities)."""
    value = float(value)
    return value if math.isfinite(value) else str(value)


def _plain(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return str(value)
