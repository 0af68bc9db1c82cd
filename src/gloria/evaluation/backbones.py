"""Image feature backbones (DINO, CLIP) through transformers, with each metric's reference preprocessing.

| role        | default hub id                   | class                          | preprocessing (reference)                                  |
|-------------|----------------------------------|--------------------------------|------------------------------------------------------------|
| subject     | facebook/dino-vitb16             | ViTModel, CLS of last layer    | VBench: shorter side -> 224 bilinear (no antialias), no crop, /255, ImageNet mean/std |
| background  | openai/clip-vit-base-patch32     | CLIPVisionModelWithProjection  | VBench: shorter side -> 224 bicubic (no antialias), center crop 224, /255, CLIP mean/std |
| dino-i      | facebook/dino-vits16             | ViTModel, CLS                  | DreamBooth: shorter side -> 256 bicubic, center crop 224, ImageNet mean/std |
| clip-i      | openai/clip-vit-base-patch32     | CLIPVisionModelWithProjection  | CLIP: shorter side -> 224 bicubic, center crop 224, CLIP mean/std |

A model is loaded from a hub id (from the local Hugging Face cache; nothing is downloaded when
`HF_HUB_OFFLINE=1`) or from a local directory written by `save_pretrained`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class Preprocess:
    """Resize the shorter side to `resize` (torchvision `Resize(int)` semantics), optional center crop, normalise.

    round_uint8: the reference resizes uint8 tensors, so the result is rounded back to uint8 before /255.
    """

    resize: int
    mode: str  # "bilinear" | "bicubic"
    antialias: bool
    crop: int | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    round_uint8: bool

    def __call__(self, frames: np.ndarray):
        """uint8 `[B, H, W, 3]` RGB -> float tensor `[B, 3, h, w]`."""
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(np.require(frames, requirements=["C", "W"])).permute(0, 3, 1, 2).float()
        h, w = x.shape[-2:]
        short, long = (h, w) if h <= w else (w, h)
        new_short, new_long = self.resize, int(self.resize * long / short)
        size = (new_short, new_long) if h <= w else (new_long, new_short)
        if (h, w) != size:
            x = F.interpolate(x, size=size, mode=self.mode, align_corners=False, antialias=self.antialias)
        if self.round_uint8:
            x = x.round().clamp(0, 255)
        else:
            x = x.clamp(0, 255)
        if self.crop is not None:
            h, w = x.shape[-2:]
            if h < self.crop or w < self.crop:
                raise ValueError(f"image {h}x{w} is smaller than the crop {self.crop}")
            top, left = int(round((h - self.crop) / 2.0)), int(round((w - self.crop) / 2.0))
            x = x[..., top : top + self.crop, left : left + self.crop]
        x = x / 255.0
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (x - mean) / std


PREPROCESS = {
    "subject": Preprocess(224, "bilinear", False, None, IMAGENET_MEAN, IMAGENET_STD, True),
    "background": Preprocess(224, "bicubic", False, 224, CLIP_MEAN, CLIP_STD, True),
    "dino-i": Preprocess(256, "bicubic", True, 224, IMAGENET_MEAN, IMAGENET_STD, False),
    "clip-i": Preprocess(224, "bicubic", True, 224, CLIP_MEAN, CLIP_STD, False),
}

DEFAULT_IDS = {
    "subject": "facebook/dino-vitb16",
    "background": "openai/clip-vit-base-patch32",
    "dino-i": "facebook/dino-vits16",
    "clip-i": "openai/clip-vit-base-patch32",
}

FAMILY = {"subject": "dino", "background": "clip", "dino-i": "dino", "clip-i": "clip"}
CLI_OPTION = {"subject": "--dino", "background": "--clip", "dino-i": "--dino-i", "clip-i": "--clip-i"}


class ImageEncoder:
    """A transformers vision model + its role's preprocessing; `encode(frames)` -> `[B, D]` float64 features."""

    def __init__(self, role: str, model, source: str, device: str = "cpu") -> None:
        if role not in PREPROCESS:
            raise ValueError(f"unknown backbone role {role!r}; expected one of {list(PREPROCESS)}")
        self.role = role
        self.family = FAMILY[role]
        self.model = model.eval().to(device)
        self.device = device
        self.source = source
        self.preprocess = PREPROCESS[role]

    @classmethod
    def load(cls, role: str, source: str | None, device: str = "cpu") -> "ImageEncoder":
        """Load the role's model class from a hub id or local directory (default: the reference model)."""
        source = source or DEFAULT_IDS[role]
        family = FAMILY[role]
        opt = CLI_OPTION[role]
        try:
            if family == "dino":
                from transformers import ViTModel

                model = ViTModel.from_pretrained(source, add_pooling_layer=False)
            else:
                from transformers import CLIPVisionModelWithProjection

                model = CLIPVisionModelWithProjection.from_pretrained(source)
        except (OSError, ValueError) as err:
            raise FileNotFoundError(
                f"cannot load the {role} backbone from {source!r} ({type(err).__name__}: {str(err).splitlines()[0]}). "
                f"Give a local directory or a cached hub id with {opt} (reference: {DEFAULT_IDS[role]}; "
                f"fetch it once with `huggingface-cli download {DEFAULT_IDS[role]}`)"
            ) from err
        return cls(role, model, str(source), device)

    def encode(self, frames: np.ndarray) -> np.ndarray:
        import torch

        x = self.preprocess(frames).to(self.device)
        with torch.inference_mode():
            if self.family == "dino":
                out = self.model(pixel_values=x, interpolate_pos_encoding=True).last_hidden_state[:, 0]
            else:
                out = self.model(pixel_values=x).image_embeds
        return out.float().cpu().numpy().astype(np.float64)

    def info(self) -> dict:
        import transformers

        cfg = self.model.config
        return {
            "role": self.role,
            "source": self.source,
            "class": type(self.model).__name__,
            "commit": getattr(cfg, "_commit_hash", None),
            "hidden_size": getattr(cfg, "hidden_size", None),
            "num_layers": getattr(cfg, "num_hidden_layers", None),
            "patch_size": getattr(cfg, "patch_size", None),
            "transformers": transformers.__version__,
            "preprocess": asdict(self.preprocess),
        }


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a weights file (identifies the exact weights in metrics.json)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
