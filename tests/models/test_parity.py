"""Gloria loads diffusers-format Wan weights and, without anchors/audio, reproduces Wan exactly."""
import torch
from diffusers import WanTransformer3DModel

from gloria import GloriaTransformer3DModel


def _inputs(kind: str, model, seed=0):
    g = torch.Generator().manual_seed(seed)
    cfg = model.config
    x = torch.randn(2, cfg.in_channels, 3, 4, 6, generator=g)
    text = torch.randn(2, 7, cfg.text_dim, generator=g)
    kw = {}
    if kind == "i2v":
        t = torch.tensor([500.0, 20.0])
        kw["encoder_hidden_states_image"] = torch.randn(2, 5, cfg.image_dim, generator=g)
        # Wan's processor splits image tokens off by "len - 512": pad the text to 512 tokens
        text = torch.randn(2, 512, cfg.text_dim, generator=g)
    else:  # TI2V: per-token timestep, first latent frame clean (t = 0)
        n = 3 * 2 * 3
        t = torch.full((2, n), 700.0)
        t[:, : 2 * 3] = 0.0
    return x, t, text, kw


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def test_parity_with_diffusers_wan_both_kinds(wan_dirs):
    for kind, d in wan_dirs.items():
        wan = WanTransformer3DModel.from_pretrained(d).eval()
        gloria = GloriaTransformer3DModel.from_pretrained(d).eval()
        assert gloria.audio_proj is not None and len(gloria.audio_attn) == 1  # created, every other block of 2
        x, t, text, kw = _inputs(kind, wan)
        with torch.no_grad():
            ref = wan(x, t, text, **kw).sample
            out = gloria(x, t, text, **kw).sample
        assert out.shape == ref.shape == (2, wan.config.out_channels, 3, 4, 6)
        assert _rel(out, ref) < 1e-5, kind


def test_zero_init_audio_is_exact_noop(wan_dirs):
    gloria = GloriaTransformer3DModel.from_pretrained(wan_dirs["i2v"]).eval()
    x, t, text, kw = _inputs("i2v", gloria)
    audio = torch.randn(2, 4 * (3 - 1) + 1, gloria.config.audio_dim)
    with torch.no_grad():
        a = gloria(x, t, text, **kw).sample
        b = gloria(x, t, text, audio_states=audio, **kw).sample
    assert torch.equal(a, b)


def test_save_load_roundtrip_keeps_audio_branch(tmp_path, wan_dirs):
    m = GloriaTransformer3DModel.from_pretrained(wan_dirs["ti2v"])
    with torch.no_grad():
        for p in (p for a in m.audio_attn.values() for p in a.parameters()):
            p.add_(0.1)
    m.save_pretrained(tmp_path)
    m2, info = GloriaTransformer3DModel.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == []
    for (k, v), (k2, v2) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k


def test_from_pretrained_subfolder_and_half_precision(tmp_path, wan_dirs):
    m = GloriaTransformer3DModel.from_pretrained(wan_dirs["i2v"])
    m.save_pretrained(tmp_path / "transformer")
    bf = GloriaTransformer3DModel.from_pretrained(tmp_path, subfolder="transformer", torch_dtype=torch.bfloat16).eval()
    assert bf.proj_out.weight.dtype == torch.bfloat16
    assert bf.scale_shift_table.dtype == torch.float32  # Wan's fp32-kept modules stay fp32
    x, t, text, kw = _inputs("i2v", bf)
    from gloria import AnchorLatent

    anchors = [[AnchorLatent(torch.randn(16, 1, 4, 6), "global"), AnchorLatent(torch.randn(16, 1, 2, 2), "expression", "sad")]] * 2
    with torch.no_grad():
        out = bf(x.bfloat16(), t, text.bfloat16(), anchors=anchors, audio_states=torch.randn(2, 9, 768).bfloat16(),
                 **{k: v.bfloat16() for k, v in kw.items()}).sample
        ref = m.eval()(x, t, text, anchors=anchors, audio_states=torch.randn(2, 9, 768), **kw).sample
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert _rel(out.float(), ref) < 0.05  # bf16 stays close to fp32 (audio is zero-init: no effect)
