"""One train <-> inference contract: a training sample that simulates a chunk and the pipeline's chunk get
identical transformer inputs (gloria.models.chunk_inputs), for the I2V and TI2V kinds."""
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipelines"))
from pipeline_helpers import make_pipe, rgb_image  # noqa: E402

from gloria.models.anchors import AnchorLatent  # noqa: E402
from gloria.models.chunk_inputs import chunk_model_inputs  # noqa: E402
from gloria.pipelines.anchor_set import AnchorSet  # noqa: E402
from gloria.training.flow import add_noise  # noqa: E402
from gloria.training.step import model_inputs  # noqa: E402

P = 4
CFG = SimpleNamespace(conditioning=SimpleNamespace(prefix_frames=P, loss_on_prefix_overlap=True))


def _enc(pipe, frames: int):
    anchors = AnchorSet()
    anchors.add(rgb_image(seed=3), "viewpoint", "back")
    return pipe._encode_conditions(rgb_image(), [(0.0, "w1 w2")], "", anchors, True, 32, 32, frames,
                                   torch.Generator().manual_seed(0), torch.device("cpu"), 8, None, None)


def _batch(pipe, enc, clean, noise, sigma, use_prefix: bool, audio):
    """The trainer's batch for one clip whose latents are `clean` (as `collate` builds it)."""
    batch = {
        "latent": clean, "noise": noise, "sigma": torch.tensor([sigma]), "text": enc["prompt_embeds"][:1],
        "use_prefix": torch.tensor([use_prefix]), "drop_audio": torch.tensor([False]),
        "has_audio": torch.tensor([True]), "audio": audio,
        "anchors": [[AnchorLatent(lat, t, c) for lat, t, c in enc["anchors"]]],
    }
    if pipe.transformer.is_i2v:  # the cache stores Wan's first-frame condition latent (no mask channels)
        batch["cond"] = enc["condition"][:, 4:]
        batch["clip_image"] = enc["image_embeds"]
    return batch


def _assert_same(a: dict, b: dict):
    assert set(a) == set(b), (sorted(a), sorted(b))
    for k in a:
        if k == "anchors":
            assert [(x.type, x.category) for x in a[k][0]] == [(x.type, x.category) for x in b[k][0]]
            for x, y in zip(a[k][0], b[k][0]):
                assert torch.equal(x.latent, y.latent)
        elif k == "prefix_latents":
            assert (a[k] is None) == (b[k] is None)
            if a[k] is not None:
                assert all(torch.equal(x, y) for x, y in zip(a[k], b[k]))
        else:
            assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("kind", ["i2v", "ti2v"])
@pytest.mark.parametrize("continuation", [False, True])
def test_training_sample_equals_pipeline_chunk(kind, continuation):
    pipe = make_pipe(kind, audio=True)
    tr = pipe.transformer
    F = 5
    enc = _enc(pipe, F)
    g = torch.Generator().manual_seed(1)
    clean = torch.randn(1, 16, F, 4, 4, generator=g)  # a clip's latents; chunk k > 0: its first P = the prefix
    if not continuation and not tr.is_i2v:  # TI2V chunk 0: the clip starts with the input image's latent
        clean[:, :, 0] = enc["condition"][:, :, 0]
    noise = torch.randn(1, 16, F, 4, 4, generator=g)
    sigma = 0.63
    audio = torch.randn(1, 4 * (F - 1) + 1, tr.config.audio_num_layers, tr.config.audio_dim, generator=g)
    kw_train, _, loss_mask, _ = model_inputs(tr, _batch(pipe, enc, clean, noise, sigma, continuation, audio), CFG,
                                             torch.device("cpu"))
    x = add_noise(clean, noise, torch.tensor([sigma]))
    anchors = [AnchorLatent(lat, t, c) for lat, t, c in enc["anchors"]]
    rows = [(enc["prompt_embeds"][:1], True)]
    inputs = pipe._model_inputs(enc, x, torch.tensor(1000.0 * sigma), clean[:, :, :P] if continuation else None,
                                anchors, audio, rows, [0])
    _assert_same(kw_train, inputs.kwargs)
    h = kw_train["hidden_states"]
    known = P if continuation else 1
    if tr.is_i2v:  # mask = 1 on the known frames, their clean latents in the condition channels
        assert torch.all(h[:, 16:20, :known] == 1) and torch.all(h[:, 16:20, known:] == 0)
        if continuation:
            assert torch.equal(h[:, 20:, :P], clean[:, :, :P])
        assert loss_mask.all()
    else:  # clean in place, timestep 0, out of the loss
        assert torch.equal(h[:, :, :known], clean[:, :, :known])
        per_frame = 4
        assert torch.all(kw_train["timestep"][:, : known * per_frame] == 0)
        assert torch.allclose(kw_train["timestep"][:, known * per_frame:], torch.tensor(1000.0 * sigma))
        assert not loss_mask[:, :known].any() and loss_mask[:, known:].all()
    assert (kw_train["prefix_latents"] is not None) == continuation


@pytest.mark.parametrize("kind", ["i2v", "ti2v"])
def test_pipeline_run_chunk1_equals_training_sample(kind, tmp_path):
    """In a real 2-chunk run, what the transformer gets at chunk 1's first step is the training sample whose
    clip latents start with that chunk's prefix (sigma = 1 there, so x = noise exactly)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    pipe = make_pipe(kind, audio=False)
    pipe.scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)  # float timesteps = 1000 sigma, the first 1000
    tr = pipe.transformer
    calls, prefixes = [], {}
    hook = tr.register_forward_pre_hook(lambda m, a, kw: calls.append(dict(kw)), with_kwargs=True)
    try:
        pipe(image=rgb_image(), prompt="w1 w2", negative_prompt="", num_frames=29, fps=16, height=32, width=32,
             num_inference_steps=2, guidance_scale=1.0, chunk_frames=17, output_path=None, max_sequence_length=8,
             progress=False, callback_on_chunk_end=lambda p, i, info: prefixes.__setitem__(i, info["prefix"]))
    finally:
        hook.remove()
    kw = calls[2]  # chunk 1, step 0 (2 steps per chunk, 1 CFG row)
    t = kw["timestep"] if kw["timestep"].ndim == 1 else kw["timestep"].amax(dim=1)
    assert torch.all(t == 1000.0), "the first flow sigma is 1: x = noise"
    prefix = prefixes[1]
    F = kw["hidden_states"].shape[2]
    noise = kw["hidden_states"][:, :16].clone()
    if not tr.is_i2v:  # the known frames were replaced in place; under them the chunk's noise is not needed
        noise[:, :, :P] = torch.randn(1, 16, P, 4, 4)
    clean = torch.cat([prefix, torch.randn(1, 16, F - P, 4, 4)], dim=2)
    enc = _enc(pipe, 5)
    batch = _batch(pipe, enc, clean, noise, 1.0, True, None)
    batch["text"] = kw["encoder_hidden_states"]
    batch["anchors"] = kw["anchors"]
    if tr.is_i2v:
        batch["clip_image"] = kw["encoder_hidden_states_image"]
    kw_train, _, _, _ = model_inputs(tr, batch, CFG, torch.device("cpu"))
    kw = {k: v for k, v in kw.items() if k not in ("attention_kwargs", "return_dict")}
    _assert_same(kw_train, kw)


def test_contract_errors():
    pipe = make_pipe("i2v", audio=True)
    cfg = pipe.transformer.config
    x = torch.zeros(1, 16, 5, 4, 4)
    with pytest.raises(ValueError, match="prefix must be"):
        chunk_model_inputs(cfg, x, torch.tensor([500.0]), torch.zeros(1, 8, 32), first_frame=torch.zeros(1, 16, 5, 4, 4),
                           prefix=torch.zeros(1, 16, 5, 4, 4))
    with pytest.raises(ValueError, match="first-frame condition"):
        chunk_model_inputs(cfg, x, torch.tensor([500.0]), torch.zeros(1, 8, 32), first_frame=torch.zeros(1, 16, 2, 4, 4))
    with pytest.raises(ValueError, match="audio features must be"):
        chunk_model_inputs(cfg, x, torch.tensor([500.0]), torch.zeros(1, 8, 32), first_frame=torch.zeros(1, 16, 5, 4, 4),
                           audio_states=torch.zeros(1, 9, 1, 16))
