r"""dSprites, rendered on the fly from its five ground-truth factors.

The dSprites dataset (Matthey et al., 2017; used by Higgins et al., 2017, and by Poole et al.,
2019, Sec. 4.3) holds one 64 x 64 binary image, a white sprite on black, for each combination of
five independent factors:

====================  ======  =====================================================
factor                values  definition
====================  ======  =====================================================
``shape``             3       square, ellipse, heart
``scale``             6       linearly spaced in [0.5, 1]
``orientation``       40      linearly spaced in [0, 2π] (both ends included, as in the
                              dataset's ``latents_values``: the last equals the first)
``pos_x``             32      linearly spaced in [0, 1], left to right
``pos_y``             32      linearly spaced in [0, 1], top to bottom
====================  ======  =====================================================

The original is a download; this module renders the same factor grid procedurally, with torch
operations only (any batch, CPU or GPU, no Python loop over images), so a training loop can draw
fresh images at every step. The geometry is this module's own, close to the dataset's but not
pixel-identical: at resolution 64 a sprite's centre moves in steps of exactly 1.5 pixels from
8.75 to 55.25, so two position steps translate the image by exactly 3 pixels; a scale-1 square
has a 16-pixel side, an ellipse 16 x 8 pixels, a heart about 16 pixels across; a pixel is white
when its centre lies inside the sprite (no anti-aliasing). At another ``resolution`` every
length is scaled by ``resolution / 64``. Orientation turns the sprite counter-clockwise as seen
in the image. Near the edges a large rotated sprite can be clipped by the frame.

References: Matthey, Higgins, Hassabis and Lerchner (2017), *dSprites: disentanglement testing
sprites dataset*; Higgins et al. (2017), ICLR.
"""

from __future__ import annotations

import math

import torch

from ..validation import check_dtype, check_generator, check_int

__all__ = [
    "DSPRITES_FACTORS",
    "DSPRITES_SHAPES",
    "dsprites_factor_values",
    "render_dsprites",
    "sample_dsprites",
    "sample_dsprites_factors",
]

#: The factors in column order of a factor tensor, with their number of values.
DSPRITES_FACTORS: dict[str, int] = {
    "shape": 3,
    "scale": 6,
    "orientation": 40,
    "pos_x": 32,
    "pos_y": 32,
}
#: The shapes, in the order of their index.
DSPRITES_SHAPES: tuple[str, ...] = ("square", "ellipse", "heart")

# Geometry at resolution 64, in pixels.
_BASE = 64
_POS_START, _POS_STEP = 8.75, 1.5  # sprite centre = start + step * index
_HALF = 8.0  # half-size of a scale-1 sprite


def dsprites_factor_values(device=None, dtype=torch.float32) -> dict[str, torch.Tensor]:
    """The value of every factor level: ``{"shape": [0, 1, 2], "scale": [0.5, ..., 1], ...}``.

    ``shape`` holds the indices 0, 1, 2 (square, ellipse, heart); ``orientation`` is in radians;
    ``pos_x`` and ``pos_y`` are in [0, 1].
    """
    dtype = check_dtype(dtype) or torch.float32
    opts = dict(device=device, dtype=dtype)
    return {
        "shape": torch.arange(3, **opts),
        "scale": torch.linspace(0.5, 1.0, 6, **opts),
        "orientation": torch.linspace(0.0, 2 * math.pi, 40, **opts),
        "pos_x": torch.linspace(0.0, 1.0, 32, **opts),
        "pos_y": torch.linspace(0.0, 1.0, 32, **opts),
    }


def sample_dsprites_factors(
    num_samples: int, *, generator: torch.Generator | None = None, device=None
) -> torch.Tensor:
    """Factor indices drawn uniformly from the grid: a ``[num_samples, 5]`` long tensor.

    Columns follow :data:`DSPRITES_FACTORS` (shape, scale, orientation, pos_x, pos_y); each
    factor is drawn independently and uniformly over its levels, as a uniform draw from the
    dataset's 737,280 images would be.
    """
    n = check_int(num_samples, "num_samples")
    check_generator(generator)
    draw_on = generator.device if generator is not None else device
    cols = [
        torch.randint(size, (n,), generator=generator, device=draw_on)
        for size in DSPRITES_FACTORS.values()
    ]
    return torch.stack(cols, dim=-1).to(device=device if device is not None else draw_on)


def _check_factors(factors: object) -> torch.Tensor:
    if not isinstance(factors, torch.Tensor):
        raise TypeError(f"factors must be a torch.Tensor of indices; got {type(factors).__name__}")
    if factors.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"factors must hold integer indices; got dtype {factors.dtype}")
    if factors.dim() < 1 or factors.shape[-1] != len(DSPRITES_FACTORS):
        raise ValueError(
            f"factors must have shape [..., {len(DSPRITES_FACTORS)}] (columns "
            f"{tuple(DSPRITES_FACTORS)}); got {tuple(factors.shape)}"
        )
    sizes = torch.tensor(list(DSPRITES_FACTORS.values()), device=factors.device)
    bad = (factors < 0) | (factors >= sizes)
    if bool(bad.any()):
        col = int(bad.reshape(-1, len(sizes)).any(0).nonzero()[0])
        name, size = list(DSPRITES_FACTORS.items())[col]
        raise ValueError(f"factors[..., {col}] ({name}) must be in [0, {size}); got out of range")
    return factors.long()


def render_dsprites(
    factors: torch.Tensor, *, resolution: int = 64, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Render the images of ``factors`` (``[..., 5]`` indices): ``[..., resolution, resolution]``.

    Pixels are 1.0 (sprite) or 0.0 (background), on the device of ``factors``. Rows run top to
    bottom (``pos_y``), columns left to right (``pos_x``).

    Args:
        factors: integer indices, columns as in :data:`DSPRITES_FACTORS`.
        resolution: the side of the image in pixels, an int >= 8 (64 is the dataset's).
        dtype: a floating dtype for the images.
    """
    f = _check_factors(factors)
    res = check_int(resolution, "resolution", minimum=8)
    dtype = check_dtype(dtype) or torch.float32
    lead = f.shape[:-1]
    f = f.reshape(-1, f.shape[-1])
    values = dsprites_factor_values(device=f.device, dtype=torch.float32)
    scale = values["scale"][f[:, 1]]
    theta = values["orientation"][f[:, 2]]
    unit = res / _BASE  # pixels per pixel-at-64
    cx = (_POS_START + _POS_STEP * f[:, 3].float()) * unit
    cy = (_POS_START + _POS_STEP * f[:, 4].float()) * unit
    inv_half = (1.0 / (_HALF * unit * scale))[:, None, None]
    # pixel centres relative to the sprite's centre: dx along columns, dy along rows (down)
    grid = torch.arange(res, device=f.device, dtype=torch.float32) + 0.5
    dx = (grid[None, None, :] - cx[:, None, None]) * inv_half  # [N, 1, res]
    dy = (grid[None, :, None] - cy[:, None, None]) * inv_half  # [N, res, 1]
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    # the sprite's frame, in units of its half-size: turn by -theta with y pointing up, so that
    # a positive angle turns the sprite counter-clockwise on screen
    a = cos * dx - sin * dy  # [N, res, res]
    b = -(sin * dx + cos * dy)
    out = torch.zeros(f.shape[0], res, res, device=f.device, dtype=dtype)
    for s, inside in enumerate((_square, _ellipse, _heart)):
        rows = (f[:, 0] == s).nonzero().squeeze(-1)
        if rows.numel():
            out[rows] = inside(a[rows], b[rows]).to(dtype)
    return out.reshape(*lead, res, res)


def _square(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.maximum(a.abs(), b.abs()) <= 1.0


def _ellipse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a.square() + (2.0 * b).square() <= 1.0


def _heart(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # (u^2 + v^2 - 1)^3 <= u^2 v^3: lobes up, point down; scaled and centred on the sprite
    u, v = 1.15 * a, 1.15 * b + 0.15
    u2 = u.square()
    return (u2 + v.square() - 1.0).pow(3) <= u2 * v.pow(3)


def sample_dsprites(
    num_samples: int,
    *,
    resolution: int = 64,
    generator: torch.Generator | None = None,
    device=None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform random dSprites: images ``[num_samples, resolution, resolution]`` and factors.

    The factor indices (``[num_samples, 5]``, :func:`sample_dsprites_factors`) come first from
    ``generator``; the images are :func:`render_dsprites` of them.
    """
    factors = sample_dsprites_factors(num_samples, generator=generator, device=device)
    return render_dsprites(factors, resolution=resolution, dtype=dtype), factors
