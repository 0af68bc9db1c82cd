import pytest
import torch
from diffusers import WanTransformer3DModel

from gloria.models.presets import get_preset

WAN_KEYS = (
    "patch_size num_attention_heads attention_head_dim in_channels out_channels text_dim freq_dim ffn_dim "
    "num_layers cross_attn_norm qk_norm eps image_dim added_kv_proj_dim rope_max_seq_len"
).split()


def wan_config(preset: str) -> dict:
    cfg = get_preset(preset)
    return {k: cfg[k] for k in WAN_KEYS}


@pytest.fixture(scope="session")
def wan_dirs(tmp_path_factory):
    """Tiny random diffusers Wan transformers saved to disk: {'i2v': dir, 'ti2v': dir}."""
    out = {}
    for kind, preset in (("i2v", "tiny"), ("ti2v", "tiny-ti2v")):
        torch.manual_seed(0)
        wan = WanTransformer3DModel(**wan_config(preset))
        # make the random init less degenerate: perturb every parameter a little
        with torch.no_grad():
            for p in wan.parameters():
                p.add_(torch.randn_like(p) * 0.02)
        d = tmp_path_factory.mktemp(f"wan_{kind}")
        wan.save_pretrained(d)
        out[kind] = d
    return out
