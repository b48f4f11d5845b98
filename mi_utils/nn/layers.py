r"""Building blocks of the critics: linear layers and MLPs, single and batched over runs.

``Batched*`` modules hold ``R = num_runs`` independent parameter sets stacked along a leading
axis and serve all runs in one forward pass (``torch.baddbmm``), with no Python loop over runs.
``Batched*.from_modules`` stacks ``R`` single modules and ``.unbatched(r)`` copies run ``r`` out.

Weights use the layout of :class:`torch.nn.Linear`: ``weight`` is ``[out_dim, in_dim]`` (batched:
``[R, out_dim, in_dim]``) and a layer computes :math:`x W^\top + b`. They are initialised like
:class:`torch.nn.Linear`, :math:`W, b \sim \mathcal U(-1/\sqrt{d_{\rm in}}, 1/\sqrt{d_{\rm in}})`
with :math:`d_{\rm in}` = ``in_dim``, from the module's own ``generator``: the global RNG is
never touched when a generator is given.

Every module class of :mod:`mi_utils.nn` derives from :class:`Module`, a
:class:`torch.nn.Module` whose ``help()`` shows the class's own documentation rather than the
hundred members of :class:`torch.nn.Module` (:class:`ModuleMeta`).
"""

from __future__ import annotations

import contextlib
import math
from functools import partial
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import check_choice, check_int, check_module_config

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "BatchedLinear",
    "BatchedMLP",
    "BatchedModule",
    "Linear",
    "Module",
    "ModuleMeta",
    "linear_init",
    "mlp_for",
    "reduced_precision",
]

#: The hidden-layer activations by name (``relu``, ``tanh``, ``elu``, ``softplus``).
ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "elu": F.elu, "softplus": F.softplus}


# ----------------------------------------------------------------------------- documentation
# Class attributes that Python adds (and Module.__dir__) that help() would list as ours.
_NOT_LISTED = frozenset({"__annotations__", "__dict__", "__dir__", "__module__", "__weakref__"})


class ModuleMeta(type):
    """Metaclass of the modules of :mod:`mi_utils`: ``dir(cls)`` lists only their own members.

    ``help()`` (pydoc) lists a class's members from ``dir(cls)``. For a subclass of
    :class:`torch.nn.Module` that means some 100 inherited members and pages of torch's text, in
    which the class's own documentation is lost. Listing only the attributes defined by the
    class and its bases from :mod:`mi_utils` keeps ``help()`` to our documentation. Nothing
    else changes: attribute lookup, ``isinstance``, pickling, ``state_dict`` and
    ``torch.compile`` go through the class itself, not ``dir``, and ``dir()`` of an instance
    still lists every member (:class:`Module`).
    """

    def __dir__(cls) -> list[str]:
        """The attributes defined by ``cls`` and its bases from :mod:`mi_utils`."""
        names = set()
        for klass in cls.__mro__:
            if klass.__module__.partition(".")[0] == "mi_utils":
                names.update(vars(klass))
        return sorted(names - _NOT_LISTED)


class Module(nn.Module, metaclass=ModuleMeta):
    """Base class of the modules of :mod:`mi_utils`: ``help()`` shows only their own docs.

    A :class:`torch.nn.Module` built by :class:`ModuleMeta`; subclass it as you would
    :class:`torch.nn.Module`.
    """

    def __dir__(self) -> list[str]:
        # nn.Module.__dir__ starts from dir(type(self)), which ModuleMeta trims for help();
        # an instance keeps every member, so tab completion still offers state_dict, to, ...
        return sorted(set(super().__dir__()) | set(type.__dir__(type(self))))

    def set_matmul_dtype(self, dtype: torch.dtype | None) -> None:
        """Run the hidden layers' products of every MLP inside in ``dtype`` (``None``: off).

        ``torch.bfloat16`` (or ``torch.float16`` on a GPU) products accumulate in fp32 under
        :func:`torch.autocast`; output layers, scores and bounds stay in the parameters' dtype.
        Opt-in: it changes the rounding of every step.
        """
        if dtype is not None and dtype not in (torch.bfloat16, torch.float16):
            raise ValueError(f"dtype must be None, torch.bfloat16 or torch.float16; got {dtype!r}")
        for module in self.modules():
            if isinstance(module, MLP):
                module.matmul_dtype = dtype


# ----------------------------------------------------------------------------- batching
class BatchedModule(metaclass=ModuleMeta):
    """Mixin turning a single module class into its batched twin over ``num_runs`` runs.

    A batched class lists the mixin first and sets ``single_cls``, e.g.
    ``class BatchedMLP(BatchedModule, MLP): single_cls = MLP``. Its constructor takes
    ``num_runs`` first, then the single class's arguments. The single class reads
    ``self.num_runs`` (``None`` for a single module) to shape its parameters and keeps its
    constructor arguments, less ``generator``, ``device`` and ``dtype``, in ``self.config``.
    """

    single_cls: type[nn.Module]

    def __init__(self, num_runs: int, *args, **kwargs):
        """``R = num_runs`` runs (an int >= 1); the other arguments go to ``single_cls``."""
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
def linear_init(
    in_dim: int, out_dim: int, generator=None, device=None, dtype=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight ``[out_dim, in_dim]`` then bias ``[out_dim]``, from ``U(-1/sqrt(in), 1/sqrt(in))``.

    The default of :class:`torch.nn.Linear`, drawn from ``generator``. The draws are made on
    the generator's device and then moved, so one seed gives the same weights on any device.
    """
    bound = 1.0 / math.sqrt(in_dim)
    draw_on = generator.device if generator is not None else device

    def draw(*shape: int) -> torch.Tensor:
        u = torch.rand(shape, generator=generator, device=draw_on, dtype=dtype)
        return ((2.0 * u - 1.0) * bound).to(device=device)

    return draw(out_dim, in_dim), draw(out_dim)


class Linear(Module):
    r"""Affine map :math:`x W^\top + b`: ``[..., in_dim] -> [..., out_dim]``.

    ``weight`` :math:`W` is ``[out_dim, in_dim]`` and ``bias`` :math:`b` is ``[out_dim]``, as in
    :class:`torch.nn.Linear` (whose ``state_dict`` it shares), initialised by
    :func:`linear_init`.
    """

    num_runs: int | None = None

    def __init__(self, in_dim: int, out_dim: int, *, generator=None, device=None, dtype=None):
        """A layer of ``in_dim`` inputs and ``out_dim`` outputs.

        Args:
            in_dim, out_dim: ints >= 1.
            generator: ``torch.Generator`` for the initial weights (weight, then bias), or
                ``None`` (the global RNG).
            device, dtype: of the parameters (``dtype`` floating).
        """
        super().__init__()
        self.config = check_module_config(generator, dtype, in_dim=in_dim, out_dim=out_dim)
        num_draws = 1 if self.num_runs is None else self.num_runs
        draws = [linear_init(in_dim, out_dim, generator, device, dtype) for _ in range(num_draws)]
        weight, bias = (torch.stack(ts) for ts in zip(*draws, strict=True))
        if self.num_runs is None:
            weight, bias = weight[0], bias[0]
        else:
            bias = bias[:, None, :]  # [R, 1, out], the layout torch.baddbmm broadcasts
        self.weight, self.bias = nn.Parameter(weight), nn.Parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[..., in_dim]`` to ``[..., out_dim]``."""
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        """The sizes, shown by ``repr``."""
        runs = {} if self.num_runs is None else {"num_runs": self.num_runs}
        return ", ".join(f"{k}={v}" for k, v in {**runs, **self.config}.items())


class BatchedLinear(BatchedModule, Linear):
    """``R`` independent :class:`Linear` maps: weight ``[R, out, in]``, bias ``[R, 1, out]``.

    Maps ``[R, N, in] -> [R, N, out]`` with one ``torch.baddbmm``. Run ``r`` is drawn like the
    ``r``-th of ``R`` :class:`Linear` layers built in turn from the same generator.
    """

    single_cls = Linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[R, N, in_dim]`` to ``[R, N, out_dim]``."""
        return torch.baddbmm(self.bias, x, self.weight.transpose(-1, -2))


def reduced_precision(dtype: torch.dtype | None, like: torch.Tensor):
    """:func:`torch.autocast` to ``dtype`` on ``like``'s device, or a no-op for ``None``."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=like.device.type, dtype=dtype)


class MLP(Module):
    """``num_layers`` hidden layers of ``hidden_dim`` units and a linear ``out_dim`` output.

    Maps ``[..., in_dim] -> [..., out_dim]``; the layers are :class:`Linear` s in ``layers``.
    ``forward(h, start=1)`` skips the first layer: ``h`` is then the first hidden activation.
    """

    num_runs: int | None = None
    #: ``None`` (full precision) or a dtype for the hidden layers' products (see ``forward``).
    matmul_dtype: torch.dtype | None = None

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
        """An MLP ``in_dim -> hidden_dim (x num_layers) -> out_dim``.

        Args:
            in_dim, hidden_dim, out_dim: ints >= 1.
            num_layers: number of hidden layers, an int >= 1.
            activation: a key of :data:`ACTIVATIONS` (``"relu"``, ``"tanh"``, ``"elu"``,
                ``"softplus"``), applied after each hidden layer.
            generator: ``torch.Generator`` for the initial weights (layer by layer, weight
                then bias), or ``None`` (the global RNG).
            device, dtype: of the parameters (``dtype`` floating).
        """
        super().__init__()
        self.config = check_module_config(
            generator, dtype, in_dim=in_dim, hidden_dim=hidden_dim, out_dim=out_dim,
            num_layers=num_layers,
        )  # fmt: skip
        self.config["activation"] = check_choice(activation, "activation", sorted(ACTIVATIONS))
        dims = [in_dim] + [hidden_dim] * num_layers + [out_dim]
        opts = dict(generator=generator, device=device, dtype=dtype)
        layer = Linear if self.num_runs is None else partial(BatchedLinear, self.num_runs)
        self.layers = nn.ModuleList(layer(a, b, **opts) for a, b in pairwise(dims))

    def forward(self, h: torch.Tensor, start: int = 0) -> torch.Tensor:
        """``h`` ``[..., in_dim]`` (batched: ``[R, ..., in_dim]``) to ``[..., out_dim]``.

        With :attr:`matmul_dtype` set (e.g. ``torch.bfloat16``), the hidden layers run under
        :func:`torch.autocast` in that dtype (fp32 accumulation) and the output layer in the
        parameters' dtype, so that scores keep full resolution.
        """
        shape = h.shape
        if self.num_runs is not None:  # [R, ..., in] -> [R, N, in] for torch.baddbmm
            h = h.reshape(shape[0], -1, shape[-1])
        act = ACTIVATIONS[self.config["activation"]]
        with reduced_precision(self.matmul_dtype, h):
            for layer in self.layers[start:-1]:
                h = act(layer(h))
        out = self.layers[-1](h.to(self.layers[-1].weight.dtype))
        return out.reshape(*shape[:-1], out.shape[-1])


class BatchedMLP(BatchedModule, MLP):
    """``R`` independent :class:`MLP` s: ``[R, ..., in_dim] -> [R, ..., out_dim]`` in one pass."""

    single_cls = MLP


def mlp_for(module: nn.Module, *args, **kwargs) -> MLP:
    """An :class:`MLP` for ``module``, batched like it.

    A :class:`BatchedMLP` of ``module.num_runs`` runs when ``module`` is batched (its
    ``num_runs`` is not ``None``), else an :class:`MLP`; ``args`` and ``kwargs`` go to
    :class:`MLP`.
    """
    if module.num_runs is None:
        return MLP(*args, **kwargs)
    return BatchedMLP(module.num_runs, *args, **kwargs)
