r"""Linear probes: how much of a label a frozen representation makes linearly readable.

A linear probe fits multinomial logistic regression on frozen features :math:`h = g(x)` of a
training split and reports its accuracy on a held-out split. With features standardised by the
training split's mean :math:`m` and standard deviation :math:`s`,
:math:`\tilde h = (h - m) / s`, the probe's class probabilities are
:math:`\mathrm{softmax}(W \tilde h + b)`, and :math:`(W, b)` minimise the mean cross-entropy
plus an L2 penalty on :math:`W`:

.. math::

    \mathcal L(W, b) = -\frac1N \sum_{n=1}^N \log \mathrm{softmax}(W \tilde h_n + b)_{c_n}
    + \frac{\lambda}{2} \lVert W \rVert_F^2 .

The problem is convex, so the weights start at zero and Adam (the library's one loop,
:func:`mi_utils.fit.fit`) finds its optimum up to the step budget. Features are detached (and
copied to float64) before anything else: no gradient reaches the encoder that made them.

In representation learning by MI maximisation the probe is the downstream measure: Tschannen et
al. (2020) show that it need not follow the MI estimate (an invertible encoder keeps all of the
MI whatever its probe accuracy; :mod:`mi_utils.nn.flows`), and Poole et al. (2019, Sec. 4.3)
read dSprites' factors off learned codes.

References: Alain & Bengio (2017), "Understanding intermediate layers using linear classifier
probes"; Tschannen et al. (2020), ICLR, Sec. 3-4.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .fit import fit
from .validation import check_data, check_generator, check_int, check_real, unwrap_array_like

__all__ = ["ProbeResult", "linear_probe"]


@dataclass(frozen=True, eq=False)
class ProbeResult:
    r"""The fitted probe and its accuracies (:func:`linear_probe`).

    Attributes:
        test_accuracy: the fraction of held-out samples classified correctly, in [0, 1].
        train_accuracy: the same on the training split.
        weight: :math:`W`, ``[num_classes, d]``, acting on standardised features.
        bias: :math:`b`, ``[num_classes]``.
        mean, scale: :math:`m` and :math:`s`, ``[d]``: the training split's feature mean and
            standard deviation (1 where a feature is constant).
        num_classes: the number of classes :math:`C`.
        trace: the training loss :math:`\mathcal L` before each step, ``[num_steps]``.
    """

    test_accuracy: float
    train_accuracy: float
    weight: torch.Tensor
    bias: torch.Tensor
    mean: torch.Tensor
    scale: torch.Tensor
    num_classes: int
    trace: torch.Tensor

    @property
    def chance(self) -> float:
        """:math:`1 / C`, the accuracy of a guess that ignores the features."""
        return 1.0 / self.num_classes

    def logits(self, features) -> torch.Tensor:
        """The probe's logits ``[N, num_classes]`` for features ``[N, d]`` (float64)."""
        h = check_data(features, "features").to(self.weight.device)
        if h.shape[1] != self.weight.shape[1]:
            raise ValueError(
                f"features must have d = {self.weight.shape[1]} columns; got {h.shape[1]}"
            )
        return ((h - self.mean) / self.scale) @ self.weight.T + self.bias

    def predict(self, features) -> torch.Tensor:
        """The predicted class of each row of ``features`` ``[N, d]``: ``[N]`` (int64)."""
        return self.logits(features).argmax(-1)


def _check_labels(value: object, name: str, n: int, num_classes: int | None) -> torch.Tensor:
    """Integer labels ``[n]`` as int64 (NumPy, torch, lists), checked against ``num_classes``."""
    import numpy as np  # local: only the conversion of NumPy labels needs it

    value = unwrap_array_like(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integers (class indices); got dtype {value.dtype}")
        value = torch.from_numpy(value.astype(np.int64))
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{name} must be a tensor or array of class indices; got {type(value).__name__}"
        )
    if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
        raise TypeError(f"{name} must hold integers (class indices); got dtype {value.dtype}")
    if value.shape != (n,):
        raise ValueError(f"{name} must have shape [N] = ({n},), one per feature row; got "
                         f"{tuple(value.shape)}")  # fmt: skip
    value = value.detach().to(torch.int64)
    if int(value.min()) < 0:
        raise ValueError(f"{name} must be class indices >= 0; got {int(value.min())}")
    if num_classes is not None and int(value.max()) >= num_classes:
        raise ValueError(
            f"{name} must be class indices in [0, num_classes = {num_classes}); got "
            f"{int(value.max())}"
        )
    return value


def linear_probe(
    train_features,
    train_labels,
    test_features,
    test_labels,
    *,
    num_classes: int | None = None,
    num_steps: int = 500,
    lr: float = 0.05,
    weight_decay: float = 1e-4,
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
    progress: bool | None = False,
) -> ProbeResult:
    r"""Fit a multinomial logistic regression on frozen features; held-out accuracy.

    The features of both splits are standardised with the training split's mean and standard
    deviation only, then :math:`\mathcal L(W, b)` (module docstring) is minimised by
    ``num_steps`` Adam steps from :math:`W = 0, b = 0` (:func:`mi_utils.fit.fit`), full-batch
    by default. Everything runs in float64 on the features' device.

    Args:
        train_features, test_features: ``[N, d]`` and ``[M, d]`` (a tensor, NumPy array or
            pandas object; ``[N]`` is one feature), finite. Detached: no gradient flows back.
        train_labels, test_labels: integer class indices ``[N]`` and ``[M]``.
        num_classes: :math:`C`, an int >= 2; ``None`` takes 1 + the largest label of either
            split.
        num_steps: Adam steps, an int >= 1.
        lr: Adam's learning rate, in (0, 10].
        weight_decay: :math:`\lambda \ge 0`, the L2 penalty on :math:`W`.
        batch_size: ``None`` for full-batch steps, or an int >= 1: each step then uses
            ``batch_size`` training rows drawn with replacement from ``generator``.
        generator: ``torch.Generator`` for the minibatches (unused full-batch), or ``None``
            (the global RNG).
        progress: a progress bar, as in :func:`mi_utils.fit.fit` (off by default).

    Returns:
        A :class:`ProbeResult`: test and train accuracy, the fitted :math:`(W, b)` and the
        standardisation.

    Raises:
        ValueError: splits of different lengths or feature dimensions, fewer than two classes
            among the training labels, labels outside ``[0, num_classes)``, non-finite
            features, an empty split.
        TypeError: features that are not numeric, labels that are not integers.

    Reference: Alain & Bengio (2017); Tschannen et al. (2020), Sec. 4 (linear evaluation).
    """
    x_train = check_data(train_features, "train_features")
    x_test = check_data(test_features, "test_features").to(x_train.device)
    for name, x in (("train_features", x_train), ("test_features", x_test)):
        if x.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one row; got shape {tuple(x.shape)}")
    if x_test.shape[1] != x_train.shape[1]:
        raise ValueError(
            "train_features and test_features must have the same number of columns d; got "
            f"{x_train.shape[1]} and {x_test.shape[1]}"
        )
    if num_classes is not None:
        num_classes = check_int(num_classes, "num_classes", minimum=2)
    y_train = _check_labels(train_labels, "train_labels", x_train.shape[0], num_classes)
    y_test = _check_labels(test_labels, "test_labels", x_test.shape[0], num_classes)
    y_train, y_test = y_train.to(x_train.device), y_test.to(x_train.device)
    if int(torch.unique(y_train).numel()) < 2:
        raise ValueError(
            "train_labels must hold at least two distinct classes; got only class "
            f"{int(y_train[0])}"
        )
    if num_classes is None:
        num_classes = 1 + int(torch.maximum(y_train.max(), y_test.max()))
    num_steps = check_int(num_steps, "num_steps")
    weight_decay = check_real(weight_decay, "weight_decay", 0.0, float("inf"))
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size")
    check_generator(generator)

    mean = x_train.mean(0)
    scale = x_train.std(0, correction=0)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # constant features stay 0
    h_train, h_test = (x_train - mean) / scale, (x_test - mean) / scale
    opts = dict(device=x_train.device, dtype=x_train.dtype)
    weight = torch.zeros(num_classes, x_train.shape[1], **opts, requires_grad=True)
    bias = torch.zeros(num_classes, **opts, requires_grad=True)
    n = h_train.shape[0]

    def objective(step: int) -> torch.Tensor:
        h, y = h_train, y_train
        if batch_size is not None:
            on = generator.device if generator is not None else h.device
            idx = torch.randint(n, (batch_size,), generator=generator, device=on).to(h.device)
            h, y = h[idx], y[idx]
        loss = F.cross_entropy(h @ weight.T + bias, y)
        return -(loss + 0.5 * weight_decay * weight.square().sum())  # fit maximises

    trace = -fit(objective, [weight, bias], num_steps, lr=lr, progress=progress, desc="probe")
    weight, bias = weight.detach(), bias.detach()

    def accuracy(h: torch.Tensor, y: torch.Tensor) -> float:
        return float((((h @ weight.T) + bias).argmax(-1) == y).double().mean())

    return ProbeResult(
        test_accuracy=accuracy(h_test, y_test),
        train_accuracy=accuracy(h_train, y_train),
        weight=weight,
        bias=bias,
        mean=mean,
        scale=scale,
        num_classes=num_classes,
        trace=trace,
    )
