r"""The estimator registry: one specification per estimator, and one uniform call.

Each :class:`Estimator` holds everything the rest of the library needs to know about one MI
estimator: its bound function (:mod:`mi_utils.bounds`), whether it needs a learned baseline
:math:`\log a(y)` or carries a state (MINE's moving average), its hyper-parameters with their
defaults, its per-batch ceiling, whether it bounds the MI from below or above, and its label
and colour in figures. The trainer, the experiments, the plots and the benchmark read names,
labels, colours and dispatch from here; nothing else keeps a list of estimators.

One call evaluates any registered estimator on a score matrix::

    value, state = evaluate("interpolated", scores, log_baseline=log_a, alpha=0.5)

Upper bounds (``kind="upper"``: the variational-marginal, leave-one-out and CLUB bounds of
:mod:`mi_utils.bounds.upper`) share the call but hold only with the true conditional density as
scores, ``scores[..., i, j] = log p(y_i | x_j)``; a learned critic makes them meaningless, so the
trainer refuses them and ``names(trainable=True)`` leaves them out.

Adding an estimator is one :func:`register` call (see ``CONTRIBUTING.md``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import torch

from . import bounds
from .validation import check_real, check_scores

__all__ = [
    "Estimator",
    "evaluate",
    "get",
    "names",
    "register",
    "unregister",
]

# A bound's adapter: (scores, log_baseline, state, options) -> (value, new_state).
Call = Callable[[torch.Tensor, "torch.Tensor | None", object, Mapping[str, float]], tuple]


@dataclass(frozen=True)
class Estimator:
    r"""The specification of one MI estimator.

    Attributes:
        name: the registry key (lower case).
        label: its name in figures (matplotlib math text); may contain ``{option}`` fields,
            filled by :meth:`display` (e.g. ``"$I_\alpha$, α = {alpha:g}"``).
        color: its colour in every figure (a hex string).
        call: ``call(scores, log_baseline, state, options) -> (value, new_state)``.
        kind: ``"lower"`` or ``"upper"`` bound on the MI (an upper bound holds only with the
            true conditional density as scores; the trainer refuses it).
        needs_baseline: whether it takes a learned log-baseline :math:`\log a(y_i)` ``[..., K]``.
        stateful: whether it carries a state from step to step (``None`` at the start).
        options: its hyper-parameters and their defaults.
        ceiling: ``ceiling(K, options) -> float``: the largest value one batch of ``K`` can
            give, or ``None`` when unbounded.
        paper_ceiling: the ceiling Poole et al. (2019) state for it (``log K``,
            ``log(K/α)``), as ``(K, options) -> (value, label)``, or ``None``.
        optimal_critic: the critic at which it is evaluated with the task's densities:
            ``"log_ratio"`` (:math:`f^*`), ``"log_ratio_plus_one"`` (:math:`1 + f^*`),
            ``"log_conditional"`` (:math:`\log p(y|x)`, with baseline :math:`\log p(y)` for
            those that take one; for an upper bound, the density it needs), or ``None`` (no
            closed-form optimum without training).
        tags: free-form labels used to select estimators (e.g. the figures of the paper that
            show it: ``"staircase"``, ``"bias_variance"``).
        scores_input: ``False`` for an estimator that does not read a score matrix (the
            Barber–Agakov bound reads a decoder's log-likelihood); :func:`evaluate` refuses it.
        reference: where it comes from.
        text_label: its name in plain text (tables, logs), with ``{option}`` fields like
            ``label``; empty: ``label`` itself (:meth:`display_text`).
        batched_options: options whose bound accepts a tensor of per-run values (shape
            ``[...]`` of the leading dimensions): runs that differ only in these are
            evaluated in one call (the trainer does so).
    """

    name: str
    label: str
    color: str
    call: Call
    kind: str = "lower"
    needs_baseline: bool = False
    stateful: bool = False
    options: Mapping[str, float] = field(default_factory=dict)
    ceiling: Callable[[int, Mapping[str, float]], float] | None = None
    paper_ceiling: Callable[[int, Mapping[str, float]], tuple[float, str]] | None = None
    optimal_critic: str | None = None
    tags: frozenset[str] = frozenset()
    scores_input: bool = True
    reference: str = ""
    text_label: str = ""
    batched_options: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or self.name != self.name.lower():
            raise ValueError(f"name must be a non-empty lower-case str; got {self.name!r}")
        if self.kind not in ("lower", "upper"):
            raise ValueError(f"kind must be 'lower' or 'upper'; got {self.kind!r}")
        if not callable(self.call):
            raise TypeError("call must be a callable (scores, log_baseline, state, options)")
        if self.optimal_critic not in (None, "log_ratio", "log_ratio_plus_one", "log_conditional"):
            raise ValueError(f"optimal_critic has an unknown value {self.optimal_critic!r}")
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        object.__setattr__(self, "tags", frozenset(self.tags))
        object.__setattr__(self, "batched_options", frozenset(self.batched_options))
        if not self.batched_options <= set(self.options):
            raise ValueError("batched_options must be among the estimator's options")

    def resolve(self, options: Mapping[str, object] | None = None) -> dict[str, object]:
        """The defaults updated by ``options``; an unknown option raises ``ValueError``."""
        options = dict(options or {})
        unknown = set(options) - set(self.options)
        if unknown:
            accepted = sorted(self.options) or "none"
            raise ValueError(
                f"unknown option(s) {sorted(unknown)} for estimator {self.name!r}; "
                f"accepted: {accepted}"
            )
        return {**self.options, **options}

    def display(self, **options) -> str:
        """The label with its options filled in (defaults where not given)."""
        return self.label.format(**self.resolve(options))

    def display_text(self, **options) -> str:
        """The plain-text label with its options filled in (``"I_α, α = 0.5"``)."""
        return (self.text_label or self.label).format(**self.resolve(options))

    def __call__(self, scores, *, log_baseline=None, state=None, **options):
        """Same as :func:`evaluate` with this estimator."""
        return _evaluate(self, scores, log_baseline, state, options)


_REGISTRY: dict[str, Estimator] = {}


def register(estimator: Estimator, *, replace: bool = False) -> Estimator:
    """Add ``estimator`` to the registry (``replace=True`` to overwrite an entry)."""
    if not isinstance(estimator, Estimator):
        raise TypeError(f"estimator must be an Estimator; got {type(estimator).__name__}")
    if estimator.name in _REGISTRY and not replace:
        raise ValueError(f"an estimator named {estimator.name!r} is registered already")
    _REGISTRY[estimator.name] = estimator
    return estimator


def unregister(name: str) -> Estimator:
    """Remove and return the estimator called ``name``."""
    spec = get(name)
    del _REGISTRY[spec.name]
    return spec


def get(name: str | Estimator) -> Estimator:
    """The estimator called ``name`` (case-insensitive); an :class:`Estimator` passes through."""
    if isinstance(name, Estimator):
        return name
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of {names()}; got {type(name).__name__}")
    try:
        return _REGISTRY[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown estimator {name!r}; accepted names: {names()}") from None


def names(*, kind: str | None = None, tag: str | None = None, trainable: bool | None = None):
    """Registered names in registration order, optionally filtered.

    Args:
        kind: ``"lower"`` or ``"upper"``.
        tag: keep estimators carrying this tag.
        trainable: ``True`` keeps the lower bounds that read a score matrix (a critic can be
            trained by maximising them), ``False`` the others (BA and UBA, which read no score
            matrix, and the upper bounds, which need the true conditional).
    """
    out = []
    for spec in _REGISTRY.values():
        if kind is not None and spec.kind != kind:
            continue
        if tag is not None and tag not in spec.tags:
            continue
        if trainable is not None and (spec.scores_input and spec.kind == "lower") != trainable:
            continue
        out.append(spec.name)
    return tuple(out)


def evaluate(
    name: str | Estimator,
    scores: torch.Tensor,
    *,
    log_baseline: torch.Tensor | None = None,
    state: object = None,
    **options,
) -> tuple[torch.Tensor, object]:
    r"""Evaluate estimator ``name`` on ``scores``; returns ``(value, new_state)``.

    Args:
        name: a registered name (:func:`names`) or an :class:`Estimator`.
        scores: ``[..., K, K]`` with ``scores[..., i, j] = f(x_j, y_i)``.
        log_baseline: ``[..., K]``, :math:`\log a(y_i)`, for estimators that need one
            (``None`` means :math:`a \equiv 1`); refused by the others.
        state: the previous state of a stateful estimator (``None`` at the first step).
        **options: hyper-parameters (the estimator's defaults otherwise).

    Returns:
        ``value`` ``[...]`` in nats (differentiable) and the new state (``None`` for
        stateless estimators).
    """
    return _evaluate(get(name), scores, log_baseline, state, options)


def _evaluate(spec: Estimator, scores, log_baseline, state, options):
    if not spec.scores_input:
        raise ValueError(
            f"estimator {spec.name!r} does not read a score matrix; call its bound directly"
        )
    if log_baseline is not None and not spec.needs_baseline:
        raise ValueError(f"estimator {spec.name!r} takes no log_baseline; got a tensor")
    if state is not None and not spec.stateful:
        raise ValueError(f"estimator {spec.name!r} carries no state; got {type(state).__name__}")
    return spec.call(scores, log_baseline, state, spec.resolve(options))


# ----------------------------------------------------------------------------- the entries
def _stateless(fn: Callable[[torch.Tensor], torch.Tensor]) -> Call:
    return lambda scores, log_a, state, opts: (fn(scores), None)


def _log_k(k: int, opts) -> float:
    return math.log(k)


def _alpha_ceiling(k: int, opts) -> float:
    alpha = opts["alpha"]
    return math.inf if alpha == 0 else 1.0 + math.log((k - 1) / alpha)


def _alpha_paper_ceiling(k: int, opts) -> tuple[float, str] | None:
    alpha = opts["alpha"]
    return None if alpha == 0 else (math.log(k / alpha), "log(K/α)")


def _check_clip(value: object) -> float | None:
    return None if value is None else check_real(value, "clip", 0.0, math.inf, open_low=True)


_P2019 = "Poole et al. (2019), Sec. 2"
_UPPER_VALIDITY = "An upper bound only with the true conditional log p(y_i | x_j) as scores"


def _variational_marginal(scores, log_a, state, opts):
    if log_a is None:
        raise ValueError(
            "estimator 'variational_marginal' needs log_baseline: log q(y_i) of a normalised "
            "density q, shape [..., K]"
        )
    check_scores(scores)
    positive = torch.diagonal(scores, dim1=-2, dim2=-1)
    return bounds.variational_marginal_upper_bound(positive, log_a), None


_ENTRIES = (
    Estimator(
        "ba", "BA", "#0173b2", lambda *a: None, scores_input=False,
        reference="Barber & Agakov (2003); " + _P2019,
    ),
    Estimator(
        "uba", "UBA", "#56b4e9", lambda *a: None, scores_input=False,
        reference="Poole et al. (2019), Sec. 2.2 (needs the intractable log partition)",
    ),
    Estimator(
        "nwj", "NWJ", "#de8f05", _stateless(bounds.nwj_lower_bound),
        optimal_critic="log_ratio_plus_one", tags={"staircase", "bias_variance"},
        reference="Nguyen, Wainwright & Jordan (2010); " + _P2019,
    ),
    Estimator(
        "tuba", "TUBA", "#029e73",
        lambda s, log_a, st, o: (bounds.tuba_lower_bound(s, log_a), None),
        needs_baseline=True, optimal_critic="log_conditional",
        tags={"staircase", "bias_variance"}, reference=_P2019,
    ),
    Estimator(
        "dv", "DV", "#ca9161", _stateless(bounds.dv_lower_bound), optimal_critic="log_ratio",
        tags={"staircase", "bias_variance"}, reference="Donsker & Varadhan (1983); " + _P2019,
    ),
    Estimator(
        "mine", "MINE", "#cc78bc",
        lambda s, log_a, st, o: bounds.mine_lower_bound(s, st, o["ema_rate"]),
        stateful=True, options={"ema_rate": 0.01}, optimal_critic="log_ratio",
        tags={"staircase"}, reference="Belghazi et al. (2018); " + _P2019,
    ),
    Estimator(
        "js", "JS", "#949494", _stateless(bounds.js_lower_bound), optimal_critic="log_ratio",
        tags={"staircase"}, reference="Nowozin et al. (2016); Hjelm et al. (2019); " + _P2019,
    ),
    Estimator(
        "infonce", "InfoNCE", "#d55e00", _stateless(bounds.infonce_lower_bound),
        ceiling=_log_k, paper_ceiling=lambda k, o: (math.log(k), "log K"),
        optimal_critic="log_ratio", tags={"staircase", "bias_variance"},
        reference="van den Oord et al. (2018); " + _P2019,
    ),
    Estimator(
        "interpolated", "$I_{{\\alpha}}$, $\\alpha$ = {alpha:g}", "#6a3d9a",
        lambda s, log_a, st, o: (bounds.interpolated_lower_bound(s, log_a, o["alpha"]), None),
        needs_baseline=True, options={"alpha": 0.5}, ceiling=_alpha_ceiling,
        paper_ceiling=_alpha_paper_ceiling, optimal_critic="log_conditional",
        tags={"staircase", "bias_variance"}, reference=_P2019 + " (I_alpha)",
        text_label="I_α, α = {alpha:g}", batched_options={"alpha"},
    ),
    Estimator(
        "smile", "SMILE", "#b8860b",
        lambda s, log_a, st, o: (bounds.smile_lower_bound(s, _check_clip(o["clip"])), None),
        options={"clip": 5.0}, optimal_critic="log_ratio",
        reference="Song & Ermon (2020)",
    ),
    # Upper bounds: valid only with the true log p(y_i | x_j) as scores (module docstring).
    Estimator(
        "variational_marginal", "variational marginal", "#1b9e77", _variational_marginal,
        kind="upper", needs_baseline=True, optimal_critic="log_conditional",
        reference=_P2019 + ".1; Alemi et al. (2017) (the VIB rate). " + _UPPER_VALIDITY
        + " and a normalised log q(y_i) as log_baseline",
    ),
    Estimator(
        "minibatch_upper", "$I_{{\\rm upper}}$ (leave-one-out)", "#e7298a",
        _stateless(bounds.minibatch_upper_bound), kind="upper",
        optimal_critic="log_conditional", text_label="I_upper (leave-one-out)",
        reference=_P2019 + " (structured bounds). " + _UPPER_VALIDITY,
    ),
    Estimator(
        "club", "CLUB", "#66a61e", _stateless(bounds.club_upper_bound), kind="upper",
        optimal_critic="log_conditional",
        reference="Cheng et al. (2020). " + _UPPER_VALIDITY + "; with a learned conditional "
        "(vCLUB) it is not a bound",
    ),
)  # fmt: skip
for _spec in _ENTRIES:
    register(_spec)
del _spec
