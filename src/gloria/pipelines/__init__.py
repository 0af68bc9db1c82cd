"""gloria.pipelines: GloriaPipeline (long video, chunk-wise), anchor sets, chunk arithmetic, streaming MP4."""
from __future__ import annotations

import importlib

_LAZY = {
    "GloriaPipeline": "gloria.pipelines.pipeline_gloria",
    "GloriaPipelineOutput": "gloria.pipelines.pipeline_gloria",
    "AnchorSet": "gloria.pipelines.anchor_set",
    "AnchorImage": "gloria.pipelines.anchor_set",
    "plan_chunks": "gloria.pipelines.chunking",
    "ChunkPlan": "gloria.pipelines.chunking",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gloria.pipelines' has no attribute {name!r}")
