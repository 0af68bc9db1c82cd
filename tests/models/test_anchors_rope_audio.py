"""Content anchors, RoPE as weak condition, the audio branch and input validation."""
import pytest
import torch

from gloria import AnchorLatent, GloriaTransformer3DModel
from gloria.models.presets import get_preset
from gloria.models.rope import gather_rotary, grid_positions

F, H, W = 3, 4, 6


def _model(preset="tiny", seed=0, **kw):
    torch.manual_seed(seed)
    m = GloriaTransformer3DModel(**get_preset(preset, **kw)).eval()
    with torch.no_grad():  # wake the zero-initialised audio values so audio tests see an effect
        for a in m.audio_attn.values():
            a.to_v.weight.normal_(0, 0.2)
    return m


def _call_args(m, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, m.config.in_channels, F, H, W, generator=g)
    t = torch.tensor([300.0, 800.0][:b])
    text = torch.randn(b, 512 if m.is_i2v else 7, m.config.text_dim, generator=g)
    kw = {"encoder_hidden_states_image": torch.randn(b, 5, m.config.image_dim, generator=g)} if m.is_i2v else {}
    return x, t, text, kw


def _anchor_set(seed=0, c=16):
    g = torch.Generator().manual_seed(seed)
    return [
        AnchorLatent(torch.randn(c, 1, H, W, generator=g), "global"),
        AnchorLatent(torch.randn(c, 1, 2, 2, generator=g), "viewpoint", "back"),
        AnchorLatent(torch.randn(c, 1, 4, 2, generator=g), "viewpoint", "left"),
        AnchorLatent(torch.randn(c, 1, 2, 4, generator=g), "expression", "happy"),
    ]


@pytest.mark.parametrize("preset", ["tiny", "tiny-ti2v"])
def test_anchor_order_does_not_matter(preset):
    m = _model(preset)
    x, t, text, kw = _call_args(m)
    anchors = _anchor_set()
    with torch.no_grad():
        a = m(x, t, text, anchors=[anchors, anchors], **kw).sample
        b = m(x, t, text, anchors=[anchors[::-1], [anchors[2], anchors[0], anchors[3], anchors[1]]], **kw).sample
        plain = m(x, t, text, **kw).sample
    assert a.shape == (2, 16, F, H, W)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert (a - plain).abs().max() > 1e-4  # anchors do reach the video tokens


def test_batch_with_different_anchor_sets_matches_single_calls():
    m = _model()
    x, t, text, kw = _call_args(m)
    sets = [_anchor_set(1), _anchor_set(2)[:2]]  # 4 anchors of mixed sizes vs 2: padded + masked
    with torch.no_grad():
        both = m(x, t, text, anchors=sets, **kw).sample
        for i in range(2):
            one = m(x[i : i + 1], t[i : i + 1], text[i : i + 1], anchors=[sets[i]],
                    **{k: v[i : i + 1] for k, v in kw.items()}).sample
            torch.testing.assert_close(both[i : i + 1], one, rtol=1e-5, atol=1e-6)


def test_anchor_positions_follow_eq1_and_rwc_switch():
    m = _model()
    cases = [("global", None, 600), ("viewpoint", "front", 200), ("viewpoint", "right", 203),
             ("expression", "surprise", 400), ("expression", "happy", 407)]
    for typ, cat, want in cases:
        assert m.anchor_time_position(AnchorLatent(torch.zeros(16, 1, 2, 2), typ, cat)) == want
    shared = _model(rope_weak_condition=False, anchor_shared_offset=50)
    assert {shared.anchor_time_position(AnchorLatent(torch.zeros(16, 1, 2, 2), t, c)) for t, c, _ in cases} == {50}
    custom = _model(anchor_offsets={"viewpoint": 10, "expression": 20, "global": 30})
    assert custom.anchor_time_position(AnchorLatent(torch.zeros(16, 1, 2, 2), "expression", "sad")) == 25


def test_rwc_off_changes_the_prediction():
    x_args = None
    outs = []
    for rwc in (True, False):
        m = _model(rope_weak_condition=rwc)
        x, t, text, kw = _call_args(m)
        with torch.no_grad():
            outs.append(m(x, t, text, anchors=[_anchor_set(), _anchor_set()], **kw).sample)
    assert (outs[0] - outs[1]).abs().max() > 1e-5


def test_gathered_rope_equals_wan_grid():
    m = _model()
    cos, sin = gather_rotary(m.rope, grid_positions(F, H // 2, W // 2))
    ref_cos, ref_sin = m.rope(torch.zeros(1, 1, F, H, W))
    assert torch.equal(cos, ref_cos) and torch.equal(sin, ref_sin)


def test_prefix_tokens_condition_the_video():
    m = _model("tiny-ti2v")
    x, t, text, kw = _call_args(m)
    prefix = torch.randn(2, 16, 2, H, W)
    with torch.no_grad():
        a = m(x, t, text, prefix_latents=prefix).sample
        b = m(x, t, text, prefix_latents=[prefix[0], None]).sample
        c = m(x, t, text).sample
    torch.testing.assert_close(a[0], b[0], rtol=1e-5, atol=1e-6)  # per-sample prefix presence
    torch.testing.assert_close(b[1], c[1], rtol=1e-5, atol=1e-6)
    assert (a[0] - c[0]).abs().max() > 1e-4


def test_audio_locality_at_attention_level():
    m = _model()
    attn = next(iter(m.audio_attn.values()))
    frames, hw, dim = 4, 6, m.config.num_attention_heads * m.config.attention_head_dim
    video = torch.randn(1, frames * hw, dim)
    audio = torch.randn(1, 4 * (frames - 1) + 1, m.config.audio_dim)
    from gloria.models.audio import audio_windows

    def run(a):
        with torch.no_grad():
            return attn(video, audio_windows(m.audio_proj(a), frames, 4), frames).view(frames, hw, dim)

    base = run(audio)
    for k in range(frames):
        changed = audio.clone()
        lo, hi = (0, 1) if k == 0 else (4 * (k - 1) + 1, 4 * k + 1)
        changed[:, lo:hi] += torch.randn(1, hi - lo, audio.shape[-1])
        diff = (run(changed) - base).abs().amax(dim=(1, 2))
        assert diff[k] > 1e-4
        assert torch.all(diff[torch.arange(frames) != k] == 0), (k, diff)


def test_audio_mask_is_null_audio_and_anchors_get_no_audio():
    m = _model()
    x, t, text, kw = _call_args(m)
    audio = torch.randn(2, 4 * (F - 1) + 1, m.config.audio_dim)
    with torch.no_grad():
        none = m(x, t, text, **kw).sample
        masked = m(x, t, text, audio_states=audio, audio_mask=torch.tensor([False, True]), **kw).sample
        full = m(x, t, text, audio_states=audio, **kw).sample
    torch.testing.assert_close(masked[0], none[0])
    torch.testing.assert_close(masked[1], full[1])
    assert (full - none).abs().max() > 1e-4


def test_audio_learns_after_a_few_steps_from_zero_init():
    torch.manual_seed(0)
    m = GloriaTransformer3DModel(**get_preset("tiny"))
    x, t, text, kw = _call_args(m)
    audio = torch.randn(2, 4 * (F - 1) + 1, m.config.audio_dim)
    with torch.no_grad():
        assert torch.equal(m(x, t, text, **kw).sample, m(x, t, text, audio_states=audio, **kw).sample)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    target = torch.randn(2, 16, F, H, W)
    for _ in range(3):
        loss = (m(x, t, text, audio_states=audio, **kw).sample - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert (m(x, t, text, **kw).sample - m(x, t, text, audio_states=audio, **kw).sample).abs().max() > 1e-5


def test_gradient_checkpointing_gives_same_gradients():
    grads = []
    for ckpt in (False, True):
        m = _model()
        m.train()
        if ckpt:
            m.enable_gradient_checkpointing()
        x, t, text, kw = _call_args(m)
        audio = torch.randn(2, 4 * (F - 1) + 1, m.config.audio_dim)
        out = m(x, t, text, anchors=[_anchor_set(), _anchor_set(3)[:1]], audio_states=audio, **kw).sample
        out.pow(2).mean().backward()
        grads.append({n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 20
    for n in grads[0]:
        torch.testing.assert_close(grads[0][n], grads[1][n], rtol=1e-5, atol=1e-7, msg=n)


@pytest.mark.parametrize(
    "case, match",
    [
        ("anchor_hw", "multiples of the patch size"),
        ("anchor_channels", "channels"),
        ("type", "unknown anchor type"),
        ("category", "unknown viewpoint category"),
        ("too_many_views", "at most 4"),
        ("too_many_expr", "at most 8"),
        ("audio_len", "latent frames need 9"),
        ("in_channels", "in_channels=36"),
        ("rope", "outside the model's table"),
        ("audio_dim", "features per frame"),
    ],
)
def test_bad_input_gets_clear_value_error(case, match):
    m = _model()
    x, t, text, kw = _call_args(m)
    z = lambda h=2, w=2, c=16: torch.zeros(c, 1, h, w)  # noqa: E731
    call = {}
    if case == "anchor_hw":
        call["anchors"] = [[AnchorLatent(z(3, 2), "global")], []]
    elif case == "anchor_channels":
        call["anchors"] = [[AnchorLatent(z(c=8), "global")], []]
    elif case == "type":
        with pytest.raises(ValueError, match=match):
            AnchorLatent(z(), "pose")
        return
    elif case == "category":
        with pytest.raises(ValueError, match=match):
            AnchorLatent(z(), "viewpoint", "up")
        return
    elif case == "too_many_views":
        call["anchors"] = [[AnchorLatent(z(), "viewpoint", v) for v in ("front", "back", "left", "right", "front")], []]
    elif case == "too_many_expr":
        call["anchors"] = [[AnchorLatent(z(), "expression", "happy")] * 9, []]
    elif case == "audio_len":
        call["audio_states"] = torch.zeros(2, 8, 16)
    elif case == "in_channels":
        x = x[:, :16]
    elif case == "rope":
        m = _model(rope_max_seq_len=300)
        call["anchors"] = [[AnchorLatent(z(), "global")], []]
    elif case == "audio_dim":
        call["audio_states"] = torch.zeros(2, 9, 5)
    with pytest.raises(ValueError, match=match):
        m(x, t, text, **kw, **call)
