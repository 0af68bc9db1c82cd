"""Anchor sets (paper §4.1, §4.3): the anchor images of one video, their resize rules and VAE encoding.

Resize / crop rules (``m`` = VAE spatial factor x patch size, 16 for Wan2.1, 32 for Wan2.2):

* **first frame and global anchor** -> exactly the video size ``H x W``: scale to cover (keeping the
  aspect ratio), then centre-crop.
* **viewpoint / expression** -> fit inside a box (default: viewpoint ``H x W``, expression
  ``min(H, W)/2`` square) keeping the aspect ratio, then centre-crop each side down to a multiple of
  ``m`` (so at most ``m - 1`` pixels are cut per side). Images smaller than the box are scaled up.

Anchors are VAE-encoded once per video (`AnchorSet.encode`), each as a single-frame video, with the
VAE's latent normalisation (``(z - latents_mean) / latents_std``), and then attached to every chunk.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from gloria.models.anchors import AnchorLatent, category_index, check_anchor_counts

RESAMPLE = Image.Resampling.LANCZOS


def load_rgb_image(image: str | os.PathLike | Image.Image, what: str = "image") -> Image.Image:
    """Open an image as RGB. Raises FileNotFoundError / ValueError naming the file and the problem.

    Accepted modes: RGB, and RGBA when fully opaque (the alpha channel is dropped). Anything else
    (grayscale, palette, CMYK, 16-bit, transparent RGBA) is refused rather than silently converted.
    """
    name = "<PIL image>"
    if not isinstance(image, Image.Image):
        name = str(image)
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"{what} not found: {path}")
        try:
            with Image.open(path) as im:
                im.load()
                image = im.copy()
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise ValueError(f"cannot read {what} {path}: {err}") from None
    if image.mode == "RGBA":
        alpha = np.asarray(image.getchannel("A"))
        if alpha.min() < 255:
            raise ValueError(f"{what} {name} has mode RGBA with transparent pixels; give an opaque RGB image")
        image = image.convert("RGB")
    if image.mode != "RGB":
        raise ValueError(f"{what} {name} has mode {image.mode!r}; expected an RGB image (convert it first)")
    return image


def cover_crop(image: Image.Image, height: int, width: int) -> Image.Image:
    """Scale to cover `height x width` keeping the aspect ratio, then centre-crop to exactly that size."""
    w0, h0 = image.size
    if (w0, h0) == (width, height):
        return image
    s = max(height / h0, width / w0)
    nw, nh = max(width, round(w0 * s)), max(height, round(h0 * s))
    im = image.resize((nw, nh), RESAMPLE)
    left, top = (nw - width) // 2, (nh - height) // 2
    return im.crop((left, top, left + width, top + height))


def fit_crop(image: Image.Image, box: tuple[int, int], multiple: int) -> Image.Image:
    """Fit inside `box` = (max_h, max_w) keeping the aspect ratio; centre-crop sides down to multiples of `multiple`."""
    bh, bw = box
    w0, h0 = image.size
    s = min(bh / h0, bw / w0)
    nw, nh = max(1, round(w0 * s)), max(1, round(h0 * s))
    th, tw = nh // multiple * multiple, nw // multiple * multiple
    if th == 0 or tw == 0:
        raise ValueError(
            f"anchor image {w0}x{h0} fitted into {bw}x{bh} is {nw}x{nh}, smaller than {multiple} px on a side; "
            f"use a larger anchor size"
        )
    im = image.resize((nw, nh), RESAMPLE) if (nw, nh) != (w0, h0) else image
    left, top = (nw - tw) // 2, (nh - th) // 2
    return im.crop((left, top, left + tw, top + th))


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> `[3, H, W]` float32 in [-1, 1] (the VAE's input range)."""
    arr = torch.from_numpy(np.asarray(image, dtype=np.float32).copy()).permute(2, 0, 1)
    return arr / 127.5 - 1.0


@dataclass
class AnchorImage:
    """One anchor image with its type ("global" / "viewpoint" / "expression") and category."""

    image: Image.Image
    type: str
    category: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        category_index(self.type, self.category)
        if self.type == "global":
            self.category = None


class AnchorSet:
    """The content anchors of one video (at most 1 global, 4 viewpoint, 8 expression; no duplicates)."""

    def __init__(self, anchors: list[AnchorImage] | None = None):
        self.anchors: list[AnchorImage] = []
        for a in anchors or []:
            self.add(a.image, a.type, a.category, a.source)

    def add(self, image, type: str, category: str | None = None, source: str | None = None) -> "AnchorSet":
        """Add an anchor (`image`: path or PIL image). Validates mode, type, category, counts and duplicates."""
        src = source or (str(image) if not isinstance(image, Image.Image) else None)
        a = AnchorImage(load_rgb_image(image, what=f"{type} anchor image"), type, category, src)
        if any((b.type, b.category) == (a.type, a.category) for b in self.anchors):
            raise ValueError(f"duplicate {a.type} anchor {a.category or 'global'!r}")
        check_anchor_counts([b.type for b in self.anchors] + [a.type])
        self.anchors.append(a)
        return self

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "AnchorSet":
        """Load an `anchors.yaml` (format: `gloria.data.anchor_yaml`) and its images."""
        from gloria.data.anchor_yaml import load_anchor_yaml

        out = cls()
        for i, e in enumerate(load_anchor_yaml(path)):
            try:
                out.add(e["image"], e["type"], e.get("category"))
            except ValueError as err:
                raise ValueError(f"{path}: anchors[{i}]: {err}") from None
        return out

    def __len__(self) -> int:
        return len(self.anchors)

    def __iter__(self):
        return iter(self.anchors)

    @property
    def global_anchor(self) -> AnchorImage | None:
        return next((a for a in self.anchors if a.type == "global"), None)

    def prepared(
        self, height: int, width: int, multiple: int,
        viewpoint_size: tuple[int, int] | None = None, expression_size: tuple[int, int] | None = None,
    ) -> list[tuple[AnchorImage, Image.Image]]:
        """Each anchor with its resized/cropped image (rules in the module docstring)."""
        vbox = viewpoint_size or (height, width)
        side = min(height, width) // 2
        ebox = expression_size or (side, side)
        out = []
        for a in self.anchors:
            if a.type == "global":
                im = cover_crop(a.image, height, width)
            else:
                im = fit_crop(a.image, vbox if a.type == "viewpoint" else ebox, multiple)
            out.append((a, im))
        return out

    def encode(
        self, vae, height: int, width: int, multiple: int, device=None,
        viewpoint_size: tuple[int, int] | None = None, expression_size: tuple[int, int] | None = None,
    ) -> list[AnchorLatent]:
        """VAE-encode every anchor once -> `AnchorLatent`s (`[C, 1, h, w]`, normalised latents, float32)."""
        return [
            AnchorLatent(encode_image_latent(vae, im, device), a.type, a.category)
            for a, im in self.prepared(height, width, multiple, viewpoint_size, expression_size)
        ]


def normalize_latents(vae, z: torch.Tensor) -> torch.Tensor:
    """Raw VAE latents `[B, C, F, h, w]` -> the model's space: (z - latents_mean) / latents_std."""
    c = vae.config.z_dim
    mean = torch.tensor(vae.config.latents_mean).view(1, c, 1, 1, 1).to(z.device, z.dtype)
    inv_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, c, 1, 1, 1).to(z.device, z.dtype)
    return (z - mean) * inv_std


def denormalize_latents(vae, z: torch.Tensor) -> torch.Tensor:
    """Inverse of `normalize_latents` (what diffusers' Wan pipelines do before `vae.decode`)."""
    c = vae.config.z_dim
    mean = torch.tensor(vae.config.latents_mean).view(1, c, 1, 1, 1).to(z.device, z.dtype)
    inv_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, c, 1, 1, 1).to(z.device, z.dtype)
    return z / inv_std + mean


@torch.no_grad()
def encode_image_latent(vae, image: Image.Image, device=None) -> torch.Tensor:
    """One RGB image -> normalised latent `[C, 1, h, w]` (float32), the posterior mode as in diffusers' Wan I2V."""
    from diffusers.utils.torch_utils import get_module_execution_device

    vae_device = get_module_execution_device(vae)
    x = to_tensor(image)[None, :, None].to(vae_device, vae.dtype)
    z = vae.encode(x).latent_dist.mode()
    z = z.to(device or vae_device, torch.float32)
    return normalize_latents(vae, z)[0]
