"""Named model configurations.

`wan2.1-i2v-14b` / `wan2.2-ti2v-5b` are Wan's own geometries (no audio branch): loading their weights
into Gloria and calling without anchors/audio reproduces Wan. `gloria-17b` / `gloria-5b` add the audio
branch in half of the blocks (paper §5: 40 blocks, half with audio, 17B parameters). `tiny` and
`tiny-ti2v` are for tests and CPU experiments.
"""
from __future__ import annotations

import copy

_WAN21_I2V_14B = dict(
    patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=36, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=1280, added_kv_proj_dim=5120, rope_max_seq_len=1024,
)
_WAN22_TI2V_5B = dict(
    patch_size=(1, 2, 2), num_attention_heads=24, attention_head_dim=128, in_channels=48, out_channels=48,
    text_dim=4096, freq_dim=256, ffn_dim=14336, num_layers=30, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=None, added_kv_proj_dim=None, rope_max_seq_len=1024,
)
_TINY = dict(
    patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36, out_channels=16,
    text_dim=32, freq_dim=16, ffn_dim=48, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
    eps=1e-6, image_dim=24, added_kv_proj_dim=24, rope_max_seq_len=1024,
)

PRESETS: dict[str, dict] = {
    "tiny": {**_TINY, "audio_dim": 16, "audio_num_layers": 1},
    "tiny-ti2v": {**_TINY, "in_channels": 16, "out_channels": 16, "image_dim": None, "added_kv_proj_dim": None,
                  "audio_dim": 16, "audio_num_layers": 1},
    # The CPU demo model (`gloria demo`): TI2V kind on a small Wan-class VAE (16 latent channels, 4x4x4
    # compression), 4x4 latent patches = 16x16 pixels per token. The width (256) is at least a patch's
    # 4*4*16 = 256 values: a narrower model cannot pass a noisy patch through its patch embedding and
    # measurably fails to denoise (docs/synthetic.md). all-MiniLM-L6-v2 text (384-d), log-mel audio
    # (41-d, gloria.models.logmel).
    "demo": dict(patch_size=(1, 4, 4), num_attention_heads=4, attention_head_dim=64, in_channels=16, out_channels=16,
                 text_dim=384, freq_dim=64, ffn_dim=1024, num_layers=3, cross_attn_norm=True,
                 qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=None, added_kv_proj_dim=None,
                 rope_max_seq_len=1024, audio_dim=41, audio_num_layers=1),
    "wan2.1-i2v-14b": {**_WAN21_I2V_14B, "audio_dim": None},
    "wan2.2-ti2v-5b": {**_WAN22_TI2V_5B, "audio_dim": None},
    "gloria-17b": {**_WAN21_I2V_14B, "audio_dim": 768, "audio_num_layers": 1},
    "gloria-5b": {**_WAN22_TI2V_5B, "audio_dim": 768, "audio_num_layers": 1},
}

# The VAE each geometry pairs with: (latent channels, temporal compression, spatial compression).
VAE_GEOMETRY = {"i2v": (16, 4, 8), "ti2v": (48, 4, 16)}


def get_preset(name: str, **overrides) -> dict:
    """A copy of preset `name`'s config, with `overrides` applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    cfg = copy.deepcopy(PRESETS[name])
    cfg.update(overrides)
    return cfg


def build_model(name: str, device: str = "cpu", **overrides):
    """Instantiate preset `name` (use device="meta" to inspect a large model without allocating it)."""
    from gloria.models.transformer_gloria import GloriaTransformer3DModel

    with __import__("torch").device(device):
        return GloriaTransformer3DModel(**get_preset(name, **overrides))
