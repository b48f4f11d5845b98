r"""Building blocks of the critics: MLPs, single and batched over independent runs.

``Batched*`` modules hold ``R = num_runs`` independent parameter sets stacked along a leading
axis and serve all runs in one forward pass (``torch.baddbmm``), with no Python loop over runs.
``Batched*.from_modules`` stacks ``R`` single modules and ``.unbatched(r)`` copies run ``r`` out.

Weights are initialised like :class:`torch.nn.Linear`,
:math:`W, b \sim \mathcal U(-1/\sqrt{\text{fan\_in}}, 1/\sqrt{\text{fan\_in}})`, from the
module's own ``generator``: the global RNG is never touched when a generator is given.
"""

from __future__ import annotations

import math
from functools import partial
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from .validation import check_dtype, check_generator, check_int

__all__ = ["ACTIVATIONS", "MLP", "BatchedLinear", "BatchedMLP", "Linear"]

ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "elu": F.elu, "softplus": F.softplus}


# ----------------------------------------------------------------------------- validation
def _check_config(generator: object, dtype: object, **config) -> dict:
    """Check the sizes (ints >= 1), the activation, generator and dtype; return ``config``."""
    for name, value in config.items():
        if name == "activation" and (not isinstance(value, str) or value not in ACTIVATIONS):
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {value!r}")
        if name != "activation":
            check_int(value, name)
    check_generator(generator)
    check_dtype(dtype)
    return config


def _check_input(name: str, t: object, dim: int | None, num_runs: int | None, like) -> torch.Tensor:
    """``t`` must be a tensor of ``like``'s dtype with shape ``[..., K, dim]`` (``[R, K, dim]``)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(t).__name__}")
    if not t.is_floating_point() or (like is not None and t.dtype != like.dtype):
        want = "floating" if like is None else f"of the module's dtype {like.dtype}"
        raise TypeError(f"{name} must be a tensor {want}; got dtype {t.dtype}")
    if num_runs is None and t.dim() < 2:
        raise ValueError(f"{name} must have shape [..., K, d]; got {tuple(t.shape)}")
    if num_runs is not None and (t.dim() != 3 or t.shape[0] != num_runs):
        raise ValueError(
            f"{name} must have shape [num_runs={num_runs}, K, d]; got {tuple(t.shape)}"
        )
    if dim is not None and t.shape[-1] != dim:
        raise ValueError(f"{name}.shape[-1] must equal {name}_dim={dim}; got {t.shape[-1]}")
    return t


# ----------------------------------------------------------------------------- batching
class _Batched:
    """Mixin turning a single module class into its batched twin over ``num_runs`` runs.

    Subclasses list the mixin first and set ``single_cls``; the single class reads
    ``self.num_runs`` (``None`` for a single module) to shape its parameters.
    """

    single_cls: type[nn.Module]

    def __init__(self, num_runs: int, *args, **kwargs):
        self.num_runs = check_int(num_runs, "num_runs")
        super().__init__(*args, **kwargs)

    @classmethod
    def from_modules(cls, modules):
        """Stack the parameters of ``R`` single modules of one configuration (copies)."""
        name = cls.single_cls.__name__
        if not isinstance(modules, (list, tuple, nn.ModuleList)) or not all(
            type(m) is cls.single_cls for m in modules
        ):
            raise TypeError(f"modules must be a list of {name}; got {type(modules).__name__}")
        if len(modules) == 0:
            raise ValueError(f"modules must be a non-empty list of {name}")
        modules = list(modules)
        if any(m.config != modules[0].config for m in modules):
            raise ValueError(f"modules must share one config; got {[m.config for m in modules]}")
        kinds = {(p.dtype, p.device) for m in modules for p in m.parameters()}
        if len(kinds) != 1:
            raise ValueError(
                f"modules must share one dtype and device; got {sorted(map(str, kinds))}"
            )
        ((dtype, device),) = kinds
        # A throwaway generator: the draws are overwritten and the global RNG stays untouched.
        opts = dict(generator=torch.Generator(), device=device, dtype=dtype)
        batched = cls(len(modules), **modules[0].config, **opts)
        params = [dict(m.named_parameters()) for m in modules]
        with torch.no_grad():
            for key, p in batched.named_parameters():
                p.copy_(torch.stack([ps[key] for ps in params]).reshape(p.shape))
        return batched

    def unbatched(self, r: int) -> nn.Module:
        """Run ``r`` as a single module with copied parameters."""
        if isinstance(r, bool) or not isinstance(r, int):
            raise TypeError(f"r must be an int in [0, {self.num_runs}); got {type(r).__name__}")
        if not 0 <= r < self.num_runs:
            raise ValueError(f"r must be an int in [0, {self.num_runs}); got {r}")
        ref = next(self.parameters())
        opts = dict(generator=torch.Generator(), device=ref.device, dtype=ref.dtype)
        single = self.single_cls(**self.config, **opts)
        params = dict(self.named_parameters())
        with torch.no_grad():
            for key, p in single.named_parameters():
                p.copy_(params[key][r].reshape(p.shape))
        return single


# ----------------------------------------------------------------------------- layers
def _linear_init(in_dim, out_dim, generator, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight ``[in, out]`` and bias ``[out]`` drawn from ``U(-1/sqrt(in), 1/sqrt(in))``.

    Drawn on the generator's device, then moved, so one seed gives the same weights anywhere.
    """
    bound = 1.0 / math.sqrt(in_dim)
    draw_on = generator.device if generator is not None else device

    def draw(*shape: int) -> torch.Tensor:
        u = torch.rand(shape, generator=generator, device=draw_on, dtype=dtype)
        return ((2.0 * u - 1.0) * bound).to(device=device)

    return draw(in_dim, out_dim), draw(out_dim)


class Linear(nn.Module):
    r"""Affine map :math:`x W + b` with ``weight`` ``[in_dim, out_dim]`` and ``bias`` ``[out_dim]``.

    Initialised like :class:`torch.nn.Linear` from ``generator``.
    """

    num_runs: int | None = None

    def __init__(self, in_dim: int, out_dim: int, *, generator=None, device=None, dtype=None):
        super().__init__()
        self.config = _check_config(generator, dtype, in_dim=in_dim, out_dim=out_dim)
        num_draws = 1 if self.num_runs is None else self.num_runs
        draws = [_linear_init(in_dim, out_dim, generator, device, dtype) for _ in range(num_draws)]
        weight, bias = (torch.stack(ts) for ts in zip(*draws, strict=True))
        if self.num_runs is None:
            weight, bias = weight[0], bias[0]
        else:
            bias = bias[:, None, :]  # [R, 1, out], the layout torch.baddbmm broadcasts
        self.weight, self.bias = nn.Parameter(weight), nn.Parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + self.bias

    def extra_repr(self) -> str:
        runs = {} if self.num_runs is None else {"num_runs": self.num_runs}
        return ", ".join(f"{k}={v}" for k, v in {**runs, **self.config}.items())


class BatchedLinear(_Batched, Linear):
    """``R`` independent :class:`Linear` maps: weight ``[R, in, out]``, bias ``[R, 1, out]``.

    Maps ``[R, N, in] -> [R, N, out]`` with one ``torch.baddbmm``. Run ``r`` is drawn like the
    ``r``-th of ``R`` :class:`Linear` layers built in turn from the same generator.
    """

    single_cls = Linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class MLP(nn.Module):
    """``num_layers`` hidden layers of ``hidden_dim`` units and a linear ``out_dim`` output.

    Maps ``[..., in_dim] -> [..., out_dim]``. ``forward(h, start=1)`` skips the first layer:
    ``h`` is then the first hidden activation.
    """

    num_runs: int | None = None

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        num_layers: int = 2,
        activation: str = "relu",
        *,
        generator=None,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.config = _check_config(
            generator, dtype, in_dim=in_dim, hidden_dim=hidden_dim, out_dim=out_dim,
            num_layers=num_layers, activation=activation,
        )  # fmt: skip
        dims = [in_dim] + [hidden_dim] * num_layers + [out_dim]
        opts = dict(generator=generator, device=device, dtype=dtype)
        layer = Linear if self.num_runs is None else partial(BatchedLinear, self.num_runs)
        self.layers = nn.ModuleList(layer(a, b, **opts) for a, b in pairwise(dims))

    def forward(self, h: torch.Tensor, start: int = 0) -> torch.Tensor:
        shape = h.shape
        if self.num_runs is not None:  # [R, ..., in] -> [R, N, in] for torch.baddbmm
            h = h.reshape(shape[0], -1, shape[-1])
        act = ACTIVATIONS[self.config["activation"]]
        for layer in self.layers[start:-1]:
            h = act(layer(h))
        out = self.layers[-1](h)
        return out.reshape(*shape[:-1], out.shape[-1])


class BatchedMLP(_Batched, MLP):
    """``R`` independent :class:`MLP` s: ``[R, ..., in_dim] -> [R, ..., out_dim]`` in one pass."""

    single_cls = MLP


def _mlp(module: nn.Module, *args, **kwargs) -> MLP:
    """An :class:`MLP`, or a :class:`BatchedMLP` when ``module`` is batched."""
    if module.num_runs is None:
        return MLP(*args, **kwargs)
    return BatchedMLP(module.num_runs, *args, **kwargs)
