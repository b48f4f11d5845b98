r"""The trainable parts: critics, baselines, decoders and encoders (PyTorch modules).

- :mod:`mi_utils.nn.critics`: critics :math:`f(x, y)` that turn a batch of ``K`` joint pairs
  into the score matrix ``scores[..., i, j] = f(x_j, y_i)`` (rows index :math:`y`, columns
  index :math:`x`; TensorFlow Probability's ``tfp.vi.mutual_information`` uses the transpose,
  ``scores[i, j] = f(x_i, y_j)``), built by :func:`make_critic`;
- :mod:`mi_utils.nn.baselines`: log-baselines :math:`\log a(y)` of shape ``[..., K]`` for the
  TUBA and interpolated bounds, built by :func:`make_baseline`;
- :mod:`mi_utils.nn.decoders`: the linear-Gaussian decoder :math:`q(x \mid y)` of the
  Barber–Agakov bound, its fit and its exact gap on the Gaussian task;
- :mod:`mi_utils.nn.encoders`: stochastic Gaussian encoders :math:`p(z \mid x)` (MLP and
  convolutional) whose score matrix ``log p(z_i | x_j)`` gives the structured bounds;
- :mod:`mi_utils.nn.flows`: invertible encoders (RealNVP affine couplings), which keep all of
  the MI;
- :mod:`mi_utils.nn.layers`: the building blocks, :class:`Linear` and :class:`MLP` (weights
  ``[out_dim, in_dim]`` as in :class:`torch.nn.Linear`), and the batching machinery.

Critics, baselines and layers come single and ``Batched*``: a batched module takes
``num_runs`` first and holds ``R`` independent runs stacked along a leading axis, served in one
forward pass; ``Batched*.from_modules`` stacks single modules and ``.unbatched(r)`` copies run
``r`` out. Initial weights come from the module's own ``torch.Generator``, never from the global
RNG when one is given.
"""

from .baselines import (
    BASELINE_KINDS,
    BatchedConstantBaseline,
    BatchedMLPBaseline,
    ConstantBaseline,
    MLPBaseline,
    TrueMarginalBaseline,
    make_baseline,
)
from .critics import (
    CRITIC_KINDS,
    BatchedConcatCritic,
    BatchedSeparableCritic,
    ConcatCritic,
    SeparableCritic,
    make_critic,
)
from .decoders import VARIANCES, GaussianDecoder, fit_gaussian_decoder, gaussian_task_gap
from .encoders import (
    LOG_SIGMA_RANGE,
    ConvGaussianEncoder,
    GaussianEncoder,
    GaussianEncoderBase,
    gaussian_log_prob,
    gaussian_log_prob_matrix,
    reparameterize,
)
from .flows import MIXINGS, AffineCoupling, InvertibleEncoder, alternating_mask
from .layers import (
    ACTIVATIONS,
    MLP,
    BatchedLinear,
    BatchedMLP,
    BatchedModule,
    Linear,
    linear_init,
    mlp_for,
)

__all__ = [
    "ACTIVATIONS",
    "BASELINE_KINDS",
    "CRITIC_KINDS",
    "LOG_SIGMA_RANGE",
    "MIXINGS",
    "MLP",
    "VARIANCES",
    "AffineCoupling",
    "BatchedConcatCritic",
    "BatchedConstantBaseline",
    "BatchedLinear",
    "BatchedMLP",
    "BatchedMLPBaseline",
    "BatchedModule",
    "BatchedSeparableCritic",
    "ConcatCritic",
    "ConstantBaseline",
    "ConvGaussianEncoder",
    "GaussianDecoder",
    "GaussianEncoder",
    "GaussianEncoderBase",
    "InvertibleEncoder",
    "Linear",
    "MLPBaseline",
    "SeparableCritic",
    "TrueMarginalBaseline",
    "alternating_mask",
    "fit_gaussian_decoder",
    "gaussian_log_prob",
    "gaussian_log_prob_matrix",
    "gaussian_task_gap",
    "linear_init",
    "make_baseline",
    "make_critic",
    "mlp_for",
    "reparameterize",
]
