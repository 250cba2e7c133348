"""Training-image augmentations of the `ddpm` backend: CBDM Table 1's +ADA and +DiffAug.

`ada`: the non-leaking augmentation of Karras et al. (EDM, 2022) that the official CBDM code
(qym7/CBDM-pytorch utils/augmentation.py, taken from k-diffusion's KarrasAugmentationPipeline,
called with probability 0.12) applies to each training image: an x-flip with probability 1/2,
then each of y-flip, isotropic scaling (2^(0.2 N(0,1))), rotation (uniform angle), anisotropic
scaling (2^(0.2 N(0,1)) along a uniform direction) and translation (N(0,1) / 8 of the side per
axis) with probability `prob`, composed into one affine warp (bicubic, reflected borders). The
draws form a 9-vector [x-flip, y-flip, log-scale, cos(rot) - 1, sin(rot), aniso cos, aniso sin,
tx, ty] that is zero when nothing is applied; the UNet is conditioned on it through a linear
layer without bias (`Linear(9, tdim)` added to the time embedding), and sampling passes zeros,
i.e. asks for un-augmented images.

`diffaug`: DiffAugment (Zhao et al., NeurIPS 2020) with its default policy
'color,translation,cutout' (brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5];
translation by up to 1/8 of the side with zero padding; a zeroed square of half the side),
applied to each training batch. CBDM's code has no DiffAugment; its paper says it is 'directly
applied to all training images following their default', so this follows Zhao et al.'s policy.

Every draw comes from the training random stream (`rng`), so a fit stays deterministic and
resumable; with `none` nothing is drawn (the stream, hence every fit, is as before).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from bench.generators.ddpm_settings import AUGMENTS

ADA_DIM = 9  # the augmentation-parameter vector the UNet is conditioned on
ADA_SCALE = 2**0.2  # k-diffusion's a_scale and a_aniso
ADA_TRANSLATE = 1 / 8  # k-diffusion's a_trans, a fraction of the side


def augment(
    x: torch.Tensor, mode: str, prob: float, rng: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The augmented batch (N x C x H x W in [-1, 1]) and, for `ada`, its N x 9 parameters."""
    if mode == "none":
        return x, None
    if mode == "ada":
        draws = ada_draws(len(x), prob, rng)
        return ada_warp(x, draws), ada_vector(draws)
    if mode == "diffaug":
        return diff_augment(x, rng), None
    raise ValueError(f"unknown augmentation {mode!r}; choose one of {AUGMENTS}")


def ada_draws(n: int, prob: float, rng: torch.Generator) -> torch.Tensor:
    """N x 8 draws [x-flip, y-flip, log2-scale / 0.2, rotation, aniso direction, aniso
    log2-stretch / 0.2, tx, ty], each transform applied with probability `prob` (the x-flip
    with probability 1/2, as in k-diffusion); zero where a transform is not applied."""

    def gate() -> torch.Tensor:
        return (torch.rand(n, generator=rng) < prob).float()

    flip_x = torch.randint(2, (n,), generator=rng).float()
    flip_y = torch.randint(2, (n,), generator=rng).float() * gate()
    log_scale = torch.randn(n, generator=rng) * gate()
    rot = (torch.rand(n, generator=rng) * 2 * math.pi - math.pi) * gate()
    on = gate()
    aniso_dir = (torch.rand(n, generator=rng) * 2 * math.pi - math.pi) * on
    aniso = torch.randn(n, generator=rng) * on
    on = gate()
    tx = torch.randn(n, generator=rng) * on
    ty = torch.randn(n, generator=rng) * on
    return torch.stack([flip_x, flip_y, log_scale, rot, aniso_dir, aniso, tx, ty], dim=1)


def ada_vector(draws: torch.Tensor) -> torch.Tensor:
    """The N x 9 conditioning vector of the draws (k-diffusion's order); zero for no transform."""
    flip_x, flip_y, log_scale, rot, aniso_dir, aniso, tx, ty = draws.unbind(1)
    cols = [flip_x, flip_y, log_scale, rot.cos() - 1, rot.sin()]
    cols += [aniso * aniso_dir.cos(), aniso * aniso_dir.sin(), tx, ty]
    return torch.stack(cols, dim=1)


def _matrices(entries: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(entries, dim=1).view(-1, 3, 3)


def _rotation(angle: torch.Tensor) -> torch.Tensor:
    c, s = angle.cos(), angle.sin()
    z, o = torch.zeros_like(c), torch.ones_like(c)
    return _matrices([c, -s, z, s, c, z, z, z, o])


def _scaling(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    z, o = torch.zeros_like(sx), torch.ones_like(sx)
    return _matrices([sx, z, z, z, sy, z, z, z, o])


def _translation(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    z, o = torch.zeros_like(tx), torch.ones_like(tx)
    return _matrices([o, z, tx, z, o, ty, z, z, o])


def ada_matrix(draws: torch.Tensor) -> torch.Tensor:
    """N x 3 x 3: the forward warp in coordinates centred on the image, a unit per half side
    (x = column, y = row), composed in k-diffusion's order."""
    flip_x, flip_y, log_scale, rot, aniso_dir, aniso, tx, ty = draws.unbind(1)
    one = torch.ones_like(flip_x)
    scale = ADA_SCALE**log_scale
    stretch = ADA_SCALE**aniso
    shift = 2 * ADA_TRANSLATE  # a fraction f of the side is 2 f half sides
    mats = [
        _scaling(1 - 2 * flip_x, one),
        _scaling(one, 1 - 2 * flip_y),
        _scaling(scale, scale),
        _rotation(-rot),
        _rotation(aniso_dir),
        _scaling(stretch, 1 / stretch),
        _rotation(-aniso_dir),
        _translation(shift * tx, shift * ty),
    ]
    out = mats[0]
    for m in mats[1:]:
        out = out @ m
    return out


def ada_warp(x: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
    """Each image warped by its draws' affine map: output(p) = input(M^-1 p), bicubic with
    reflected borders (k-diffusion: skimage warp, order 3, mode 'reflect'). Images with no
    transform drawn are returned as they are."""
    draws = draws.to(x.device, x.dtype)
    inverse = torch.linalg.inv(ada_matrix(draws))[:, :2]
    grid = F.affine_grid(inverse, list(x.shape), align_corners=False)
    warped = F.grid_sample(x, grid, mode="bicubic", padding_mode="reflection", align_corners=False)
    untouched = (draws == 0).all(dim=1)
    return torch.where(untouched[:, None, None, None], x, warped)


def diff_augment(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """DiffAugment's 'color,translation,cutout' on a batch in [-1, 1] (Zhao et al. 2020)."""
    n, _, h, w = x.shape

    def per_image() -> torch.Tensor:
        return torch.rand(n, 1, 1, 1, generator=rng).to(x.device, x.dtype)

    # color: brightness, saturation, contrast
    x = x + (per_image() - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (per_image() * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (per_image() + 0.5) + mean
    # translation by up to 1/8 of the side, zero padding
    sy, sx = h // 8, w // 8
    dy = torch.randint(-sy, sy + 1, (n,), generator=rng)
    dx = torch.randint(-sx, sx + 1, (n,), generator=rng)
    rows = torch.arange(h)[None, :] - dy[:, None]  # output row r reads input row r - dy
    cols = torch.arange(w)[None, :] - dx[:, None]
    valid = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    batch = torch.arange(n)[:, None, None]
    moved = x.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    x = moved * valid[:, None].to(x.device, x.dtype)
    # cutout: a zeroed square of half the side, centred anywhere in the image
    ch, cw = h // 2, w // 2
    cy = torch.randint(0, h + (1 - ch % 2), (n,), generator=rng) - ch // 2
    cx = torch.randint(0, w + (1 - cw % 2), (n,), generator=rng) - cw // 2
    inside_y = (torch.arange(h)[None, :] >= cy[:, None]) & (
        torch.arange(h)[None, :] < cy[:, None] + ch
    )
    inside_x = (torch.arange(w)[None, :] >= cx[:, None]) & (
        torch.arange(w)[None, :] < cx[:, None] + cw
    )
    keep = ~(inside_y[:, :, None] & inside_x[:, None, :])
    return x * keep[:, None].to(x.device, x.dtype)
