"""Anchor images for CLIP-I / DINO-I / Exp. from an `anchors.yaml` (format and validation:
`gloria.data.anchor_yaml`, shared with the data pipeline and the generator)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class AnchorImage:
    path: Path
    type: str
    category: str | None
    rgb: np.ndarray  # uint8 [H, W, 3]

    @property
    def label(self) -> str:
        return self.type if self.category is None else f"{self.type}:{self.category}"


def load_anchor_images(path: str | Path) -> list[AnchorImage]:
    """The anchors of an anchors.yaml with their images read as RGB uint8."""
    from gloria.data.anchor_yaml import load_anchor_yaml

    from .video import read_image

    return [AnchorImage(Path(e["image"]), e["type"], e["category"], read_image(e["image"])) for e in load_anchor_yaml(path)]
