"""A checkpoint in the original Wan repository's naming loads into Gloria and matches diffusers' Wan."""
import pytest
import torch
from diffusers import WanTransformer3DModel
from safetensors.torch import save_file

from gloria.models.convert import load_original_wan
from gloria.models.presets import get_preset

from .conftest import wan_config

# diffusers name fragment -> original Wan name fragment (the inverse of the documented mapping)
TO_ORIGINAL = [
    ("condition_embedder.time_embedder.linear_1", "time_embedding.0"),
    ("condition_embedder.time_embedder.linear_2", "time_embedding.2"),
    ("condition_embedder.text_embedder.linear_1", "text_embedding.0"),
    ("condition_embedder.text_embedder.linear_2", "text_embedding.2"),
    ("condition_embedder.time_proj", "time_projection.1"),
    ("condition_embedder.image_embedder.norm1", "img_emb.proj.0"),
    ("condition_embedder.image_embedder.ff.net.0.proj", "img_emb.proj.1"),
    ("condition_embedder.image_embedder.ff.net.2", "img_emb.proj.3"),
    ("condition_embedder.image_embedder.norm2", "img_emb.proj.4"),
    ("attn1.to_q.", "self_attn.q."), ("attn1.to_k.", "self_attn.k."), ("attn1.to_v.", "self_attn.v."),
    ("attn1.to_out.0.", "self_attn.o."), ("attn1.norm_q.", "self_attn.norm_q."), ("attn1.norm_k.", "self_attn.norm_k."),
    ("attn2.to_q.", "cross_attn.q."), ("attn2.to_k.", "cross_attn.k."), ("attn2.to_v.", "cross_attn.v."),
    ("attn2.to_out.0.", "cross_attn.o."), ("attn2.norm_q.", "cross_attn.norm_q."), ("attn2.norm_k.", "cross_attn.norm_k."),
    ("attn2.add_k_proj.", "cross_attn.k_img."), ("attn2.add_v_proj.", "cross_attn.v_img."),
    ("attn2.norm_added_k.", "cross_attn.norm_k_img."),
    ("ffn.net.0.proj", "ffn.0"), ("ffn.net.2", "ffn.2"),
    (".norm2.", ".norm3."),
    ("proj_out", "head.head"),
]


def to_original(state):
    out = {}
    for k, v in state.items():
        n = k
        if k == "scale_shift_table":
            n = "head.modulation"
        elif k.endswith(".scale_shift_table"):
            n = k.replace("scale_shift_table", "modulation")
        else:
            for a, b in TO_ORIGINAL:
                n = n.replace(a, b)
        out["model.diffusion_model." + n] = v.clone()
    return out


@pytest.mark.parametrize("preset", ["tiny", "tiny-ti2v"])
def test_original_naming_checkpoint_loads_and_matches_wan(tmp_path, preset):
    torch.manual_seed(1)
    wan = WanTransformer3DModel(**wan_config(preset)).eval()
    original = to_original(wan.state_dict())
    assert any("self_attn.q" in k for k in original) and not any("attn1" in k for k in original)
    save_file(original, tmp_path / "wan.safetensors")

    model = load_original_wan(tmp_path / "wan.safetensors", get_preset(preset)).eval()
    for k, v in wan.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    x = torch.randn(1, wan.config.in_channels, 2, 4, 4)
    text = torch.randn(1, 512, wan.config.text_dim)
    kw = {"encoder_hidden_states_image": torch.randn(1, 3, wan.config.image_dim)} if wan.config.image_dim else {}
    with torch.no_grad():
        torch.testing.assert_close(model(x, torch.tensor([10.0]), text, **kw).sample,
                                   wan(x, torch.tensor([10.0]), text, **kw).sample, rtol=1e-5, atol=1e-6)


def test_wrong_geometry_is_a_clear_error(tmp_path):
    wan = WanTransformer3DModel(**wan_config("tiny"))
    save_file(to_original(wan.state_dict()), tmp_path / "wan.safetensors")
    with pytest.raises(ValueError, match="does not fit the model config"):
        load_original_wan(tmp_path / "wan.safetensors", get_preset("tiny", ffn_dim=64))
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_original_wan(tmp_path / "nope.safetensors", get_preset("tiny"))
