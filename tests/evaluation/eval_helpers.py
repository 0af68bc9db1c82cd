"""Helpers for the evaluation tests: synthetic frames and a fake face detector."""
from __future__ import annotations

import numpy as np


def synth_frames(n: int, h: int = 64, w: int = 96, seed: int = 0, drift: float = 0.0):
    """n RGB frames: a smooth pattern with a bright square that moves; `drift` adds a slow colour change."""
    rng = np.random.default_rng(seed)
    base = (rng.random((h // 8, w // 8, 3)) * 255).astype(np.float32)
    base = np.kron(base, np.ones((8, 8, 1), dtype=np.float32))
    for i in range(n):
        fr = base.copy()
        x = 4 + (i * 2) % (w - 24)
        fr[20:40, x : x + 20] = 250
        fr = fr * (1 - drift * i / max(1, n)) + 128 * drift * i / max(1, n)
        yield np.clip(fr, 0, 255).astype(np.uint8)


class FakeFaces:
    """A detector that 'finds' one fixed face (box + ArcFace-template keypoints) in frames brighter than `min_mean`."""

    def __init__(self, min_mean: float = -1.0, box=(20.0, 10.0, 60.0, 50.0)) -> None:
        self.min_mean = min_mean
        self.box = box
        self.calls = 0

    def detect(self, rgb):
        from gloria.evaluation.faces import Face
        from gloria.evaluation.identity import ARCFACE_TEMPLATE

        self.calls += 1
        if rgb.mean() <= self.min_mean:
            return []
        x0, y0, x1, y1 = self.box
        five = ARCFACE_TEMPLATE / 112.0 * (x1 - x0) + np.array([x0, y0])
        return [Face(self.box, 1.0, five=five)]

    def info(self):
        return {"detector": "fake"}


def tiny_frame_features():
    """Stands in for the FID Inception in plumbing tests: frames `[B, 3, H, W]` in [0, 1] -> `[B, 6]` (channel mean, std)."""
    import torch

    class TinyFrameFeatures(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], 1)

    return TinyFrameFeatures().eval()
