"""Shared fixtures: tiny random backbones of the reference classes and short synthetic videos."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never touch the network


from .eval_helpers import FakeFaces, synth_frames  # noqa: E402,F401


@pytest.fixture
def make_video(tmp_path):
    from gloria.evaluation.video import write_video

    def _make(name="v.mp4", n=20, fps=25, audio=None, **kw):
        p = tmp_path / name
        write_video(p, synth_frames(n, **kw), fps=fps, audio=audio)
        return p

    return _make


@pytest.fixture(scope="session")
def tiny_vit_dir(tmp_path_factory):
    from transformers import ViTConfig, ViTModel

    d = tmp_path_factory.mktemp("tiny_dino")
    cfg = ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=224, patch_size=16)
    ViTModel(cfg, add_pooling_layer=False).save_pretrained(d)
    return str(d)


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    d = tmp_path_factory.mktemp("tiny_clip")
    cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=224, patch_size=32, projection_dim=16)
    CLIPVisionModelWithProjection(cfg).save_pretrained(d)
    return str(d)
