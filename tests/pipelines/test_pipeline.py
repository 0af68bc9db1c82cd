"""GloriaPipeline end to end with tiny random components (CPU, no network)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from pipeline_helpers import make_pipe, rgb_image, write_wav

from gloria.models.transformer_gloria import GloriaTransformer3DModel
from gloria.pipelines.chunking import blend_weights
from gloria.pipelines.pipeline_gloria import GloriaPipeline, state_dir_for
from gloria.pipelines.video_io import read_video_frames

COMMON = dict(negative_prompt="w9 w8", fps=24, height=32, width=32, num_inference_steps=2, progress=False)


def test_parity_with_diffusers_wan_i2v(pipe):
    """One chunk, no anchors, no audio: bitwise equal to WanImageToVideoPipeline (sequential CFG), and
    to float tolerance with cond/uncond batched in one forward. Documented difference: by default the
    first frame is also attached as global anchor (first_frame_as_global=True), which Wan does not do."""
    from diffusers import WanImageToVideoPipeline

    wan = WanImageToVideoPipeline(
        tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, vae=pipe.vae, scheduler=pipe.scheduler,
        image_processor=pipe.image_processor, image_encoder=pipe.image_encoder, transformer=pipe.transformer,
    )
    wan.set_progress_bar_config(disable=True)
    img = rgb_image()
    ref = wan(image=img, prompt="w1 w2 w3", negative_prompt="w9 w8", height=32, width=32, num_frames=17,
              num_inference_steps=2, guidance_scale=3.5, generator=torch.Generator().manual_seed(7),
              output_type="latent").frames
    kw = dict(COMMON, num_frames=17, chunk_frames=17, seed=7, output_path=None,
              first_frame_as_global=False, return_latents=True)
    seq = pipe(img, "w1 w2 w3", batch_cfg=False, **kw)
    assert seq.num_chunks == 1 and seq.latents.shape == ref.shape == (1, 16, 5, 4, 4)
    assert torch.equal(seq.latents, ref)
    batched = pipe(img, "w1 w2 w3", batch_cfg=True, **kw)
    torch.testing.assert_close(batched.latents, ref, rtol=1e-4, atol=1e-4)
    with_global = pipe(img, "w1 w2 w3", batch_cfg=False, **dict(kw, first_frame_as_global=True))
    assert not torch.allclose(with_global.latents, ref)


@pytest.fixture
def anchors_yaml(tmp_path):
    d = tmp_path / "anchors"
    d.mkdir()
    rgb_image(48, 32, 1).save(d / "view_back.png")
    rgb_image(40, 40, 2).save(d / "expr_happy.png")
    (d / "anchors.yaml").write_text(yaml.safe_dump({"anchors": [
        {"image": "view_back.png", "type": "viewpoint", "category": "back"},
        {"image": "expr_happy.png", "type": "expression", "category": "happy"},
    ]}))
    return d / "anchors.yaml"


def test_three_chunks_prefix_blend_anchors_once(pipe, tmp_path, first_frame, anchors_yaml):
    wav = write_wav(tmp_path / "a.wav", 1.5)
    infos, calls = [], []
    enc_count = [0]
    orig_encode = pipe.vae.encode

    def counting_encode(*a, **k):
        enc_count[0] += 1
        return orig_encode(*a, **k)

    def pre_hook(mod, args, kwargs):
        calls.append({k: kwargs.get(k) for k in ("anchors", "prefix_latents", "audio_states", "audio_mask")})

    h = pipe.transformer.register_forward_pre_hook(pre_hook, with_kwargs=True)
    pipe.vae.encode = counting_encode
    try:
        out = pipe(first_frame, "w1 w2", audio=wav, anchors=anchors_yaml, num_frames=31, chunk_frames=21,
                   output_path=tmp_path / "out.mp4", expression_size=(16, 16),
                   callback_on_chunk_end=lambda p, i, info: infos.append(info), **COMMON)
    finally:
        pipe.vae.encode = orig_encode
        h.remove()
    # 31 frames -> G = 9 latent frames; chunks [0,6), [2,8), [4,9); decoded 33, 2 dropped
    assert out.num_frames == 31 and out.num_chunks == 3
    assert [(i["chunk"].start, i["chunk"].frames) for i in infos] == [(0, 6), (2, 6), (4, 5)]
    assert [len(i["frames"]) for i in infos] == [5, 8, 18]  # latent [0,2) -> 1+4, [2,4) -> 8, [4,9) -> 20 - 2
    assert read_video_frames(out.path).shape == (31, 32, 32, 3)
    assert not state_dir_for(out.path).exists()
    # anchors (viewpoint + expression + first frame as global) + the I2V condition: 4 VAE encodes for 3 chunks
    assert enc_count[0] == 4
    w = blend_weights(4).float().view(1, 1, 4, 1, 1)
    assert infos[0]["prefix"] is None
    for prev, cur in zip(infos, infos[1:]):
        tail = prev["latents"][:, :, -4:]
        assert torch.equal(cur["prefix"], tail)
        expect = w * tail + (1 - w) * cur["raw"][:, :, :4]
        torch.testing.assert_close(cur["latents"][:, :, :4], expect, rtol=0, atol=1e-6)
        assert torch.equal(cur["latents"][:, :, 4:], cur["raw"][:, :, 4:])
    # every forward: 3 anchors attached; prefix only for chunks 1, 2; CFG rows batched with audio masks
    assert len(calls) == 3 * 2  # 3 chunks x 2 steps, one batched forward each (equal scales -> 2 rows)
    for k, c in enumerate(calls):
        assert [[a.type for a in s] for s in c["anchors"]] == [["global", "viewpoint", "expression"]] * 2
        assert (c["prefix_latents"] is None) == (k < 2)
        assert c["audio_mask"].tolist() == [True, False]
        assert c["audio_states"].shape[:2] == (2, 4 * (infos[k // 2]["chunk"].frames - 1) + 1)
    # the same anchor latents (encoded once) in every chunk
    assert all(torch.equal(c["anchors"][0][j].latent, calls[0]["anchors"][0][j].latent) for c in calls for j in range(3))


def test_audio_cfg_three_rows(pipe, tmp_path):
    calls = []
    h = pipe.transformer.register_forward_pre_hook(lambda m, a, k: calls.append(k["audio_mask"].tolist()),
                                                   with_kwargs=True)
    try:
        pipe(rgb_image(), "w1", audio=np.zeros(16000, np.float32), audio_sample_rate=16000, num_frames=5,
             chunk_frames=17, output_path=None, guidance_scale=3.0, audio_guidance_scale=2.0, **dict(COMMON, num_inference_steps=1))
    finally:
        h.remove()
    assert calls == [[True, True, False]]


def test_resume_equals_uninterrupted(pipe, tmp_path, first_frame):
    kw = dict(COMMON, num_frames=29, chunk_frames=17, seed=3)
    full = pipe(first_frame, "w1 w2", output_path=tmp_path / "full.mp4", **kw)

    class Crash(RuntimeError):
        pass

    def crash(p, i, info):
        if i == 1:
            raise Crash

    out = tmp_path / "resumed.mp4"
    with pytest.raises(Crash):
        pipe(first_frame, "w1 w2", output_path=out, callback_on_chunk_end=crash, **kw)
    assert not out.exists() and (state_dir_for(out) / "state.pt").is_file()
    with pytest.raises(ValueError, match="pass resume=True"):
        pipe(first_frame, "w1 w2", output_path=out, **kw)
    with pytest.raises(ValueError, match="different inputs"):
        pipe(first_frame, "w1 w3", output_path=out, resume=True, **kw)
    res = pipe(first_frame, "w1 w2", output_path=out, resume=True, **kw)
    assert res.num_frames == full.num_frames == 29 and full.num_chunks == 4
    # bitwise: same latents, same H.264 segments, same remux
    assert out.read_bytes() == (tmp_path / "full.mp4").read_bytes()
    assert not state_dir_for(out).exists()
    # without resume state (save_state=False) the same MP4 is written and nothing is left beside it
    quick = tmp_path / "quick.mp4"
    pipe(first_frame, "w1 w2", output_path=quick, save_state=False, **kw)
    assert quick.read_bytes() == out.read_bytes() and not state_dir_for(quick).exists()


@pytest.mark.parametrize("patch", [(1, 2, 2), (1, 4, 4)])
def test_ti2v_kind_two_chunks(tmp_path, patch):
    pipe = make_pipe("ti2v", audio=False)
    if patch != (1, 2, 2):  # one timestep per token whatever the patch size (the demo model's is 4x4)
        from gloria.models.presets import get_preset

        pipe.transformer = GloriaTransformer3DModel(**get_preset("tiny-ti2v", patch_size=patch, audio_dim=None)).eval()
    infos = []
    out = pipe(rgb_image(), "w1", num_frames=25, chunk_frames=21, output_path=None, return_frames=True,
               callback_on_chunk_end=lambda p, i, info: infos.append(info), **COMMON)
    assert out.frames.shape == (25, 32, 32, 3) and out.num_chunks == 2
    # chunk 0 keeps the first latent frame = the image latent (clean, timestep 0)
    from gloria.pipelines.anchor_set import encode_image_latent

    lat = encode_image_latent(pipe.vae, rgb_image())
    torch.testing.assert_close(infos[0]["raw"][0, :, :1], lat, rtol=0, atol=1e-5)


def test_save_load_roundtrip(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "gloria")
    again = GloriaPipeline.from_pretrained(tmp_path / "gloria")
    assert type(again.transformer).__name__ == "GloriaTransformer3DModel"
    assert again.audio_encoder is not None and again.image_encoder is not None
    sd1, sd2 = pipe.transformer.state_dict(), again.transformer.state_dict()
    assert all(torch.equal(sd1[k], sd2[k]) for k in sd1)


def test_from_wan_checkpoint(pipe, tmp_path):
    """Assemble from a diffusers Wan I2V folder + a wav2vec2 folder (the way users start from Wan weights)."""
    from diffusers import WanImageToVideoPipeline, WanTransformer3DModel

    from gloria.models.presets import get_preset

    cfg = {k: v for k, v in get_preset("tiny").items() if not k.startswith("audio")}
    wan = WanImageToVideoPipeline(
        tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, vae=pipe.vae, scheduler=pipe.scheduler,
        image_processor=pipe.image_processor, image_encoder=pipe.image_encoder,
        transformer=WanTransformer3DModel(**cfg),
    )
    wan.save_pretrained(tmp_path / "wan")
    pipe.audio_encoder.save_pretrained(tmp_path / "w2v")
    pipe.feature_extractor.save_pretrained(tmp_path / "w2v")
    g = GloriaPipeline.from_wan(tmp_path / "wan", tmp_path / "w2v")
    assert g.transformer.config.audio_dim == 16 and g.transformer.is_i2v
    v = [p for n, p in g.transformer.named_parameters() if "audio_attn" in n and "to_v" in n]
    assert v and all(torch.count_nonzero(p) == 0 for p in v)  # paper stage-I init: the audio branch adds nothing yet


def test_prompt_schedule_switches_text_per_chunk(pipe, first_frame):
    """A schedule [(0, A), (t, B)]: chunks starting before t see A, later chunks see B (exact latents)."""
    kw = dict(COMMON, num_frames=29, chunk_frames=17, seed=3, output_path=None, return_latents=True)
    # chunks start at latent 0, 1, 2, 3 (chunk_frames 17 -> 5 latent frames, overlap 4) = video frames 0, 4, 8, 12
    a = pipe(first_frame, "w1 w2", **kw).latents
    b = pipe(first_frame, "w5 w6", **kw).latents
    sched = pipe(first_frame, [(0.0, "w1 w2"), (8 / 24, "w5 w6")], **kw).latents
    # chunk 0 and 1 (frames 0 and 4 < 8) identical to A: latent frames 0..1 are final after chunk 1
    torch.testing.assert_close(sched[:, :, :2], a[:, :, :2], rtol=0, atol=0)
    assert not torch.allclose(sched[:, :, 2:], a[:, :, 2:]) and not torch.allclose(sched, b)


@pytest.mark.parametrize("prompt, msg", [
    ([], "empty"),
    ([(1.0, "w1")], "start at 0"),
    ([(0.0, "w1"), (0.0, "w2")], "not after"),
    ([(0.0, 5)], "must be a string"),
    ([("x", "w1")], "list of \\(start_seconds, text\\)"),
])
def test_prompt_schedule_bad_input(pipe, first_frame, prompt, msg):
    with pytest.raises(ValueError, match=msg):
        pipe(first_frame, prompt, **dict(COMMON, num_frames=5, output_path=None))
