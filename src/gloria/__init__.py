"""Gloria: consistent long-duration character video generation through content anchors."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public names, imported lazily so `import gloria` (and the CLI) stay fast.
_LAZY = {
    "GloriaTransformer3DModel": "gloria.models.transformer_gloria",
    "AnchorLatent": "gloria.models.anchors",
    "ANCHOR_TYPES": "gloria.models.anchors",
    "VIEWPOINTS": "gloria.models.anchors",
    "EXPRESSIONS": "gloria.models.anchors",
    "get_preset": "gloria.models.presets",
    "PRESETS": "gloria.models.presets",
    "GloriaPipeline": "gloria.pipelines.pipeline_gloria",
    "AnchorSet": "gloria.pipelines.anchor_set",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gloria' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from gloria.models.anchors import ANCHOR_TYPES, EXPRESSIONS, VIEWPOINTS, AnchorLatent
    from gloria.models.presets import PRESETS, get_preset
    from gloria.models.transformer_gloria import GloriaTransformer3DModel
