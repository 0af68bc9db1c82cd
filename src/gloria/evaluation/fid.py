"""FID: Inception-v3 pool3 features (2048-d) of video frames, Fréchet distance of the generated vs. reference set.

The network is the Inception-v3 variant of TensorFlow's FID code as ported by pytorch-fid
(`FIDInceptionA/C/E` blocks: average pools that do not count the zero padding, a max pool in the
last block), written here in plain PyTorch with the same module and parameter names, so that
pytorch-fid's weights file `pt_inception-2015-12-05-6726825d.pth` loads with
`load_state_dict(strict=True)`. That file also holds `fc.weight` / `fc.bias` (the 1008-way logits
layer, not used for pool3 features): exactly these two keys are dropped before the strict load;
every other key must match. Nothing is downloaded: the file is given with `--fid-weights PATH` or
the environment variable `GLORIA_FID_WEIGHTS`.

Input (pytorch-fid's `InceptionV3` with `resize_input=True, normalize_input=True`): RGB uint8 / 255
-> bilinear resize to 299×299 (`align_corners=False`, no antialias) -> 2x − 1. Frames: every
`frame_step`-th frame (native frame index % step == 0) of each video; statistics (mean, unbiased
covariance) over all selected frames of the generated videos vs. the reference videos.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .formulas import GaussianStats, frechet_distance

INPUT_SIZE = 299
FEATURE_DIM = 2048
WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS_FILE}"
WEIGHTS_ENV = "GLORIA_FID_WEIGHTS"
UNUSED_KEYS = ("fc.weight", "fc.bias")  # 1008-way logits in pytorch-fid's file; pool3 features do not use them


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU; parameters `conv.weight`, `bn.*`."""

    def __init__(self, cin: int, cout: int, kernel_size, stride=1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """3×3 stride-1 average pool that, like TensorFlow's, ignores the zero padding in the average."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(nn.Module):
    """35×35 block (Mixed_5b/5c/5d): out = 64 + 64 + 96 + pool_features channels."""

    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch5x5_2(self.branch5x5_1(x))
        c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        d = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([a, b, c, d], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17 (Mixed_6a): out = 384 + 96 + cin channels."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([a, b, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class FIDInceptionC(nn.Module):
    """17×17 block with factorised 7×7 convolutions (Mixed_6b..6e): out = 768 channels."""

    def __init__(self, cin: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        row, col = ((1, 7), (0, 3)), ((7, 1), (3, 0))  # (kernel, padding)
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, row[0], padding=row[1])
        self.branch7x7_3 = BasicConv2d(c7, 192, col[0], padding=col[1])
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, col[0], padding=col[1])
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, row[0], padding=row[1])
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, col[0], padding=col[1])
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, row[0], padding=row[1])
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        c = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            c = layer(c)
        d = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([a, b, c, d], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8 (Mixed_7a): out = 320 + 192 + cin channels."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_2(self.branch3x3_1(x))
        b = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([a, b, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class FIDInceptionE(nn.Module):
    """8×8 block with expanded 1×3 / 3×1 branches (Mixed_7b: TF average pool; Mixed_7c: max pool). Out = 2048."""

    def __init__(self, cin: int, pool: str) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch3x3_1(x)
        b = torch.cat([self.branch3x3_2a(b), self.branch3x3_2b(b)], 1)
        c = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        c = torch.cat([self.branch3x3dbl_3a(c), self.branch3x3dbl_3b(c)], 1)
        pooled = _tf_avg_pool(x) if self.pool == "avg" else F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        d = self.branch_pool(pooled)
        return torch.cat([a, b, c, d], 1)


class FIDInceptionV3(nn.Module):
    """pytorch-fid's FID Inception-v3 up to the final average pool: RGB in [0, 1] `[B, 3, H, W]` -> `[B, 2048]`.

    `resize_input=False` skips the resize to 299×299 (then H, W must be >= 75); the metric always resizes.
    """

    def __init__(self, resize_input: bool = True) -> None:
        super().__init__()
        self.resize_input = resize_input
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = FIDInceptionE(1280, pool="avg")
        self.Mixed_7c = FIDInceptionE(2048, pool="max")
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resize_input:
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


# ------------------------------------------------------------------------------------------ weights


def resolve_weights(weights: str | Path | None) -> Path:
    """The weights file: the given path, else `$GLORIA_FID_WEIGHTS`; a clear error when neither is set or the file is missing."""
    src = weights if weights else os.environ.get(WEIGHTS_ENV) or None
    if not src:
        raise FileNotFoundError(
            f"fid needs pytorch-fid's Inception-v3 weights: pass --fid-weights PATH (or set {WEIGHTS_ENV}) to "
            f"{WEIGHTS_FILE}, published at {WEIGHTS_URL}; nothing is downloaded (see docs/evaluation.md)"
        )
    path = Path(src)
    if not path.is_file():
        how = "--fid-weights" if weights else WEIGHTS_ENV
        raise FileNotFoundError(f"FID Inception weights not found: {path} (from {how}; expected {WEIGHTS_FILE})")
    return path


def load_fid_inception(weights: str | Path | None, device: str = "cpu") -> FIDInceptionV3:
    """FIDInceptionV3 with pytorch-fid's weights from a local file (strict load; only `fc.*` is dropped)."""
    path = resolve_weights(weights)
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"cannot read {path} as a PyTorch state dict ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} is not a state dict of tensors (expected pytorch-fid's {WEIGHTS_FILE})")
    state = {k: v for k, v in state.items() if k not in UNUSED_KEYS}
    model = FIDInceptionV3()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()
        raise ValueError(f"{path} does not match pytorch-fid's FID Inception-v3 ({WEIGHTS_FILE}): "
                         f"{' '.join(x.strip() for x in first[:3])[:400]}") from err
    return model.to(device).eval()


# ------------------------------------------------------------------------------------------ features


def frames_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 `[B, H, W, 3]` RGB -> float `[B, 3, H, W]` in [0, 1] (the network resizes and rescales)."""
    x = torch.from_numpy(np.require(frames, dtype=np.uint8, requirements=["C", "W"]))
    return x.permute(0, 3, 1, 2).float() / 255.0


def inception_features(model: nn.Module, frames: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Pool3 features `[B, 2048]` (float64) of uint8 frames `[B, H, W, 3]` (`model` already on `device`)."""
    with torch.inference_mode():
        out = model(frames_tensor(frames).to(device))
    return out.float().cpu().numpy().astype(np.float64)


class FrameFeatureStream:
    """Every `frame_step`-th frame (native index % step == 0) -> Inception features in batches -> streamed mean/covariance."""

    def __init__(self, model: nn.Module, frame_step: int = 1, batch_size: int = 16, device: str = "cpu") -> None:
        if frame_step < 1 or batch_size < 1:
            raise ValueError(f"frame_step and batch_size must be >= 1, got {frame_step}, {batch_size}")
        self.model = model
        self.device = device
        self.frame_step = frame_step
        self.batch_size = batch_size
        self.stats = GaussianStats()
        self._frames: list[np.ndarray] = []

    def update(self, frames: np.ndarray, indices: list[int]) -> None:
        for fr, idx in zip(frames, indices):
            if idx % self.frame_step == 0:
                self._frames.append(fr)
                if len(self._frames) == self.batch_size:
                    self._flush()

    def end_video(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if self._frames:
            self.stats.update(inception_features(self.model, np.stack(self._frames), self.device))
            self._frames = []


def fid_from_stats(gen: GaussianStats, ref: GaussianStats) -> float:
    return frechet_distance(gen.mu, gen.sigma, ref.mu, ref.sigma)
