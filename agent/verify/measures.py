"""Divergence between predicted and observed frames, per camera and per control step.

Pixel measures: SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5) averaged over the RGB
channels (on luma alone a red block on a grey table can vanish: equal brightness), and PSNR.
Latent measure: observed frames encoded by the world model's VAE compared with the predicted
latents, so nothing is decoded. A divergence is 0 for a perfect prediction and grows with the
mismatch: 1 - SSIM for pixels, a normalised squared error for latents.
"""

from __future__ import annotations

import numpy as np
import torch

SSIM_WINDOW = 11  # Wang et al. 2004
SSIM_SIGMA = 1.5  # Wang et al. 2004
SSIM_C1 = (0.01 * 255) ** 2
SSIM_C2 = (0.03 * 255) ** 2


def _channels(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (T * 3, H, W) in 0..255, one image per colour channel."""
    tensor = torch.from_numpy(np.ascontiguousarray(frames)).float()
    return tensor.permute(0, 3, 1, 2).reshape(-1, *frames.shape[1:3])


def _gaussian_band(length: int, size: int, sigma: float) -> torch.Tensor:
    """(length, length - size + 1): multiplying by it is a 'valid' 1-D Gaussian blur.

    The 2-D Gaussian window is separable, so blurring rows then columns with two matrix
    products gives the same numbers as an 11x11 convolution at a fraction of the cost (matrix
    products run at BLAS speed; a one-channel conv2d on many small images does not)."""
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    band = torch.zeros(length, length - size + 1)
    for start in range(length - size + 1):
        band[start : start + size, start] = kernel
    return band


def ssim(predicted: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """SSIM per frame of two uint8 (T, H, W, 3) clips -> float (T,), 1 for identical frames."""
    if predicted.shape != observed.shape:
        raise ValueError(f"predicted {predicted.shape} and observed {observed.shape} differ")
    x, y = _channels(predicted), _channels(observed)  # (T * 3, H, W)
    height, width = x.shape[-2:]
    size = min(SSIM_WINDOW, height, width)
    rows = _gaussian_band(height, size, SSIM_SIGMA)  # (H, H')
    columns = _gaussian_band(width, size, SSIM_SIGMA)  # (W, W')
    moments = torch.cat([x, y, x * x, y * y, x * y])  # (5 * T * 3, H, W)
    blurred = rows.T @ (moments @ columns)  # (5 * T * 3, H', W')
    mu_x, mu_y, xx, yy, xy = blurred.chunk(5)
    sigma_xx = xx - mu_x**2
    sigma_yy = yy - mu_y**2
    sigma_xy = xy - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + SSIM_C1) * (2 * sigma_xy + SSIM_C2)
    denominator = (mu_x**2 + mu_y**2 + SSIM_C1) * (sigma_xx + sigma_yy + SSIM_C2)
    per_channel = (numerator / denominator).mean(dim=(1, 2))  # (T * 3,)
    return per_channel.view(len(predicted), 3).mean(1).numpy()


def psnr(predicted: np.ndarray, observed: np.ndarray, cap: float = 60.0) -> np.ndarray:
    """PSNR in dB per frame (T,), capped (identical frames would be infinite)."""
    error = (predicted.astype(np.float64) - observed.astype(np.float64)) ** 2
    mse = error.reshape(len(error), -1).mean(1)
    with np.errstate(divide="ignore"):
        value = 10 * np.log10(255.0**2 / mse)
    return np.minimum(value, cap)


def latent_divergence(
    predicted: np.ndarray, observed: np.ndarray, latent_index: np.ndarray
) -> np.ndarray:
    """Per control step: squared error between the predicted and the observed latent frame the
    step falls in, normalised by the observed latent's energy. Latents are (F, C, h, w)."""
    frames = min(len(predicted), len(observed))
    error = ((predicted[:frames] - observed[:frames]) ** 2).reshape(frames, -1).mean(1)
    energy = (observed[:frames] ** 2).reshape(frames, -1).mean(1) + 1e-6
    per_frame = error / energy
    return per_frame[np.minimum(latent_index, frames - 1)]


def frozen_steps(observed: np.ndarray, tolerance: float = 0.5) -> np.ndarray:
    """(T,) True where a frame is (almost) identical to the one before it: a frozen camera."""
    if len(observed) < 2:
        return np.zeros(len(observed), bool)
    diffs = np.abs(np.diff(observed.astype(np.int16), axis=0)).reshape(len(observed) - 1, -1)
    return np.concatenate([[False], diffs.mean(1) < tolerance])


def dark_steps(observed: np.ndarray, level: float = 8.0) -> np.ndarray:
    """(T,) True where a frame is (almost) black: a dropped or blacked-out camera frame."""
    return observed.reshape(len(observed), -1).mean(1) < level


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over `window` steps (shorter at the start), so it can run online."""
    cumulative = np.cumsum(np.concatenate([[0.0], values]))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(0, ends - window)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)
