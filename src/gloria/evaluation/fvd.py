"""FVD: I3D (Kinetics-400) features of 16-frame clips at 224×224 in [−1, 1], Fréchet distance of the two sets.

The I3D network is the TorchScript file used by StyleGAN-V / common FVD code (`i3d_torchscript.pt`,
called as `model(x, rescale=False, resize=False, return_features=True)` -> `[B, 400]`), loaded from a
path you give (`--i3d-weights`). Any TorchScript/nn.Module with the call `model(x)` -> `[B, D]` also
works (the JSON records which). Clips: consecutive, non-overlapping 16-frame clips at the video's
native frame rate; frames resized (bilinear, antialiased) to 224×224; x/127.5 − 1.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .formulas import GaussianStats, frechet_distance

CLIP_LEN = 16
SIZE = 224


def load_i3d(weights: str | Path | None):
    import torch

    if weights is None:
        raise FileNotFoundError(
            "fvd needs the I3D network: pass --i3d-weights PATH to a TorchScript I3D "
            "(`i3d_torchscript.pt` as used by StyleGAN-V's FVD; see docs/evaluation.md)"
        )
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"I3D weights not found: {path}")
    try:
        return torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as err:
        raise ValueError(f"cannot load {path} as a TorchScript I3D: {err}") from err


def clip_tensor(frames: np.ndarray):
    """uint8 `[16, H, W, 3]` -> float `[1, 3, 16, 224, 224]` in [−1, 1]."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.require(frames, requirements=["C", "W"])).permute(0, 3, 1, 2).float()
    if x.shape[-2:] != (SIZE, SIZE):
        x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=True)
    x = x.clamp(0, 255) / 127.5 - 1.0
    return x.permute(1, 0, 2, 3)[None]


def i3d_features(model, clips: list[np.ndarray]) -> np.ndarray:
    import torch

    x = torch.cat([clip_tensor(c) for c in clips])
    with torch.inference_mode():
        try:
            out = model(x, rescale=False, resize=False, return_features=True)
        except (TypeError, RuntimeError):
            out = model(x)
    return out.float().numpy().astype(np.float64)


class ClipFeatureStream:
    """Collects frames into 16-frame clips and accumulates I3D feature statistics (constant memory)."""

    def __init__(self, model, clips_per_batch: int = 2) -> None:
        self.model = model
        self.stats = GaussianStats()
        self.clips_per_batch = clips_per_batch
        self._frames: list[np.ndarray] = []
        self._clips: list[np.ndarray] = []

    def update(self, frames: np.ndarray) -> None:
        for fr in frames:
            self._frames.append(fr)
            if len(self._frames) == CLIP_LEN:
                self._clips.append(np.stack(self._frames))
                self._frames = []
                if len(self._clips) == self.clips_per_batch:
                    self._flush()

    def end_video(self) -> None:
        """Drop a trailing partial clip and flush."""
        self._frames = []
        self._flush()

    def _flush(self) -> None:
        if self._clips:
            self.stats.update(i3d_features(self.model, self._clips))
            self._clips = []


def fvd_from_stats(gen: GaussianStats, ref: GaussianStats) -> float:
    return frechet_distance(gen.mu, gen.sigma, ref.mu, ref.sigma)
