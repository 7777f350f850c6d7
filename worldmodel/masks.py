"""Training-only masks: the sight-cone mask of the cross-view branch and the tube mask.

Sight-cone mask: every latent patch is a cone from its camera's centre through the patch. Two
patches of different views may attend to each other only if their cone axes pass within the sum
of the two cone radii somewhere inside a depth band [near, far] (metres along each axis); patches
of the same view always may. Needs intrinsics and base_from_camera extrinsics (OpenCV axes,
worldmodel/types.py). The depth band is sampled at `samples` depths per axis.

Tube mask: a k x k latent window of one view is replaced by pure noise in every frame, so the
model must recover it from the other views.

Neither mask is used at inference: the samplers never pass a cross-view mask or a tube.
"""

from __future__ import annotations

import numpy as np
import torch

from worldmodel.errors import ModelInputError


def patch_axes(
    intrinsics: np.ndarray,  # (3, 3)
    extrinsics: np.ndarray,  # (4, 4) base_from_camera
    image_size: tuple[int, int],  # (H, W) pixels
    grid: tuple[int, int],  # (h, w) patches
) -> tuple[np.ndarray, np.ndarray, float]:
    """Camera centre (3,), unit axis per patch (h*w, 3) in the base frame, cone half-angle tan."""
    height, width = image_size
    rows, cols = grid
    v, u = np.meshgrid(
        (np.arange(rows) + 0.5) * height / rows,
        (np.arange(cols) + 0.5) * width / cols,
        indexing="ij",
    )
    pixels = np.stack([u.ravel(), v.ravel(), np.ones(rows * cols)], axis=1)  # (S, 3)
    directions = pixels @ np.linalg.inv(intrinsics).T  # (S, 3) camera frame
    directions = directions @ extrinsics[:3, :3].T
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    half_patch = 0.5 * max(width / cols / intrinsics[0, 0], height / rows / intrinsics[1, 1])
    return extrinsics[:3, 3].copy(), directions, float(half_patch)


def sight_cone_mask(
    intrinsics: np.ndarray,  # (V, 3, 3)
    extrinsics: np.ndarray,  # (V, 4, 4)
    image_size: tuple[int, int],
    grid: tuple[int, int],
    near: float,
    far: float,
    scale: float,
    samples: int = 16,
) -> torch.Tensor:
    """(V*S, V*S) bool, views outer and patches row-major inner, True = may attend."""
    intrinsics, extrinsics = np.asarray(intrinsics, float), np.asarray(extrinsics, float)
    views = intrinsics.shape[0]
    if intrinsics.shape != (views, 3, 3) or extrinsics.shape != (views, 4, 4):
        raise ModelInputError(
            f"camera geometry has intrinsics {intrinsics.shape} and extrinsics "
            f"{extrinsics.shape}; expected (V, 3, 3) and (V, 4, 4)"
        )
    if not 0 < near < far:
        raise ModelInputError(f"depth band [{near}, {far}] is empty; expected 0 < near < far")
    depths = np.linspace(near, far, samples)  # (n,)
    points, radii, view_of = [], [], []
    for view in range(views):
        centre, axes, half = patch_axes(intrinsics[view], extrinsics[view], image_size, grid)
        points.append(centre + axes[:, None, :] * depths[None, :, None])  # (S, n, 3)
        radii.append(np.broadcast_to(depths * half * scale, (axes.shape[0], samples)))
        view_of.append(np.full(axes.shape[0], view))
    p = torch.from_numpy(np.concatenate(points))  # (VS, n, 3)
    r = torch.from_numpy(np.concatenate(radii))  # (VS, n)
    distance = torch.cdist(p.reshape(-1, 3), p.reshape(-1, 3))  # (VS*n, VS*n)
    distance = distance.view(p.shape[0], samples, p.shape[0], samples).permute(0, 2, 1, 3)
    reach = r[:, None, :, None] + r[None, :, None, :]  # (VS, VS, n, n)
    allowed = (distance <= reach).flatten(2).any(-1)  # (VS, VS)
    same_view = torch.from_numpy(np.concatenate(view_of))
    return allowed | (same_view[:, None] == same_view[None, :])


def tube_mask(
    shape: tuple[int, ...],  # (B, V, C, F, H, W) latents
    size: int,
    probability: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(B, V, 1, F, H, W) bool: per sample, with `probability`, one view's k x k window."""
    batch, views, _, frames, height, width = shape
    if not 1 <= size <= min(height, width):
        raise ModelInputError(f"tube size {size} does not fit a {height}x{width} latent")
    mask = torch.zeros(batch, views, 1, frames, height, width, dtype=torch.bool)
    device = generator.device if generator is not None else None
    draws = torch.rand(batch, generator=generator, device=device)
    for b in range(batch):
        if draws[b] >= probability:
            continue
        view, top, left = (
            int(torch.randint(n, (1,), generator=generator, device=device))
            for n in (views, height - size + 1, width - size + 1)
        )
        mask[b, view, :, :, top : top + size, left : left + size] = True
    return mask


def apply_tube_noise(x_t: torch.Tensor, noise: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Replace the masked tube by pure noise in every frame."""
    return torch.where(mask.to(x_t.device), noise, x_t)
