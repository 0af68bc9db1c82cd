"""Content-anchor vocabulary (paper §4.1) shared by the model, pipeline, trainer and data pipeline.

An anchor is a clean frame of the character: one *global* anchor (the whole scene at video
resolution), up to 4 *viewpoint* anchors (body crops: front, back, left, right) and up to 8
*expression* anchors (head crops). In the model each anchor is a latent `[C, f, h, w]` (usually
f = 1) that is patchified by the shared patch embedding and placed in the self-attention sequence
at temporal RoPE position `o_type + so_category` (Eq. 1), spatial positions from 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

ANCHOR_TYPES: tuple[str, ...] = ("global", "viewpoint", "expression")
VIEWPOINTS: tuple[str, ...] = ("front", "back", "left", "right")
EXPRESSIONS: tuple[str, ...] = ("surprise", "angry", "disgust", "fear", "contempt", "sad", "neutral", "happy")
CATEGORIES: dict[str, tuple[str, ...]] = {"global": ("global",), "viewpoint": VIEWPOINTS, "expression": EXPRESSIONS}
MAX_ANCHORS: dict[str, int] = {"global": 1, "viewpoint": len(VIEWPOINTS), "expression": len(EXPRESSIONS)}


def category_index(anchor_type: str, category: str | None) -> int:
    """Sub-offset `so_j` of Eq. 1: the category's index within its type (0 for the global anchor)."""
    validate_type(anchor_type)
    if anchor_type == "global":
        if category not in (None, "global"):
            raise ValueError(f"a global anchor has no category, got {category!r}")
        return 0
    names = CATEGORIES[anchor_type]
    if category not in names:
        raise ValueError(f"unknown {anchor_type} category {category!r}; expected one of {list(names)}")
    return names.index(category)


def validate_type(anchor_type: str) -> None:
    if anchor_type not in ANCHOR_TYPES:
        raise ValueError(f"unknown anchor type {anchor_type!r}; expected one of {list(ANCHOR_TYPES)}")


def check_anchor_counts(types: list[str]) -> None:
    """Raise if a set has more anchors of a type than the paper allows (1 global, 4 viewpoint, 8 expression)."""
    for t in ANCHOR_TYPES:
        n = sum(1 for x in types if x == t)
        if n > MAX_ANCHORS[t]:
            raise ValueError(f"{n} {t} anchors given; at most {MAX_ANCHORS[t]} are allowed")


@dataclass
class AnchorLatent:
    """One content anchor as a VAE latent.

    Attributes:
        latent: `[C, f, h, w]` clean latent (C = VAE channels; h, w multiples of the patch size).
        type: "global" | "viewpoint" | "expression".
        category: a viewpoint ("front", "back", "left", "right") or an expression
            ("surprise", "angry", "disgust", "fear", "contempt", "sad", "neutral", "happy");
            None (or "global") for the global anchor.
    """

    latent: torch.Tensor
    type: str
    category: str | None = None

    def __post_init__(self) -> None:
        category_index(self.type, self.category)  # validates type and category
        if self.type == "global":
            self.category = None
        if not isinstance(self.latent, torch.Tensor) or self.latent.ndim != 4:
            shape = tuple(self.latent.shape) if isinstance(self.latent, torch.Tensor) else type(self.latent).__name__
            raise ValueError(f"{self.type} anchor latent must be a tensor [C, f, h, w]; got {shape}")

    @property
    def sub_offset(self) -> int:
        return category_index(self.type, self.category)
