"""Flow matching (paper Eq. 2) in the diffusers/Wan convention.

With sigma in [0, 1] (t = 1 - sigma in the paper's notation):

    x_sigma = (1 - sigma) * x_clean + sigma * noise        (paper: x_t = t*x1 + (1-t)*x0)
    target  = noise - x_clean                              (paper: v = x1 - x0 = -target)
    timestep = 1000 * sigma                                (what the model takes)

sigma is drawn as s ~ U(0, 1) (or logit-normal) and shifted like Wan: sigma = shift*s / (1 + (shift-1)*s).
The loss is the MSE between the model's prediction and the target over the video tokens only; a mask
`[B, F]` over latent frames removes frames that are given clean (TI2V first frame; prefix overlap when
configured). Anchor and prefix tokens never appear in the prediction, so they are never in the loss.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def shift_sigma(s: np.ndarray | float, shift: float) -> np.ndarray | float:
    """Wan's timestep shift: sigma = shift*s / (1 + (shift - 1)*s) (identity for shift = 1)."""
    return shift * s / (1.0 + (shift - 1.0) * s)


def draw_sigma(rng: np.random.Generator, shift: float, sampling: str = "uniform", mean: float = 0.0,
               std: float = 1.0) -> float:
    """One training sigma in (0, 1): s ~ U(0, 1) or sigmoid(N(mean, std)), then Wan's shift."""
    if sampling == "uniform":
        s = rng.uniform(0.0, 1.0)
    elif sampling == "logit_normal":
        s = 1.0 / (1.0 + math.exp(-rng.normal(mean, std)))
    else:
        raise ValueError(f"unknown sigma sampling {sampling!r}; expected uniform or logit_normal")
    return float(shift_sigma(s, shift))


def add_noise(clean: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """x_sigma = (1 - sigma) * clean + sigma * noise, sigma `[B]` broadcast over `[B, C, F, H, W]`."""
    s = sigma.view(-1, *([1] * (clean.ndim - 1))).to(clean.dtype)
    return (1.0 - s) * clean + s * noise


def velocity_target(clean: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The model's target in diffusers/Wan convention: noise - clean (= -v of the paper)."""
    return noise - clean


def flow_loss(pred: torch.Tensor, target: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample MSE `[B]` over the video latent, restricted to frames where `frame_mask` `[B, F]` is True.

    Each sample's loss is the mean over its kept elements, so samples weigh equally whatever the mask.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    err = (pred.float() - target.float()) ** 2  # [B, C, F, H, W]
    per_frame = err.mean(dim=(1, 3, 4))  # [B, F]
    if frame_mask is None:
        return per_frame.mean(dim=1)
    m = frame_mask.to(per_frame.dtype)
    if (m.sum(dim=1) == 0).any():
        raise ValueError("a sample's loss mask keeps no frame")
    return (per_frame * m).sum(dim=1) / m.sum(dim=1)
