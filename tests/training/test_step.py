"""Dataset random decisions (CFG dropout, prefix), model inputs and what the loss covers."""
import numpy as np
import pytest
import torch

from gloria.models.presets import get_preset
from gloria.models.transformer_gloria import GloriaTransformer3DModel
from gloria.training.cache import CacheSource, model_needs
from gloria.training.dataset import GloriaTrainDataset, StepBatchSampler, collate
from gloria.training.flow import flow_loss
from gloria.training.sampler import AnchorPool, AnchorSampler, BatchPlan
from gloria.training.step import model_inputs, per_sample_loss
from gloria.training.testing import write_synthetic_cache

from .conftest import tiny_cfg


def _dataset(cfg, model):
    src = CacheSource(cfg.data.cache, cfg)
    a = cfg.anchors
    s = AnchorSampler(src.clips, AnchorPool(src.anchors), superset=a.superset, outside_share=a.outside_share,
                      global_anchor=a.mode != "none")
    plan = BatchPlan(s, a.mode, cfg.run.global_batch_size, cfg.run.seed, a.viewpoint_ratio)
    return GloriaTrainDataset(src, plan, cfg, model_needs(dict(model.config)), src.meta["text_len"]), plan


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return GloriaTransformer3DModel(**get_preset("tiny")).eval()


def test_dropout_and_prefix_probabilities(synth_cache, tmp_path, tiny_model):
    cfg = tiny_cfg("stage2", synth_cache, tmp_path, **{"conditioning.prefix_prob": 0.3,
                   "conditioning.text_dropout": 0.1, "conditioning.audio_dropout": 0.1, "run.global_batch_size": 4})
    ds, plan = _dataset(cfg, tiny_model)
    n = 0
    counts = np.zeros(4)
    for step in range(600):
        for key in plan.keys(step):
            s = ds._load(key)
            counts += [s["drop_text"], s["drop_audio"], s["use_prefix"], s["drop_text"] and s["drop_audio"]]
            if s["drop_text"]:
                assert torch.count_nonzero(s["text"]) == 0  # null text (zeros) in place of the caption
            n += 1
    p = counts / n
    for got, want in zip(p, [0.1, 0.1, 0.3, 0.01]):
        assert abs(got - want) < 3 * np.sqrt(want * (1 - want) / n) + 1e-3, (p, n)


def test_samples_are_reproducible_per_step_and_slot(synth_cache, tmp_path, tiny_model):
    cfg = tiny_cfg("stage3", synth_cache, tmp_path)
    ds, plan = _dataset(cfg, tiny_model)
    k = plan.keys(5)[1]
    a, b = ds[k], ds[k]
    assert torch.equal(a["noise"], b["noise"]) and a["sigma"] == b["sigma"]
    assert [x.category for x in a["anchors"]] == [x.category for x in b["anchors"]]
    assert not torch.equal(ds[plan.keys(6)[1]]["noise"], a["noise"])


def _batch(cfg, model, step=0):
    ds, plan = _dataset(cfg, model)
    bs = StepBatchSampler(plan, step, step + 1, 0, 1, cfg.run.global_batch_size)
    return collate([ds[k] for k in next(iter(bs))])


def test_i2v_inputs_anchors_and_prefix_are_clean(synth_cache, tmp_path, tiny_model):
    cfg = tiny_cfg("stage3", synth_cache, tmp_path, **{"conditioning.prefix_prob": 1.0})
    batch = _batch(cfg, tiny_model)
    kw, target, mask, tokens = model_inputs(tiny_model, batch, cfg, torch.device("cpu"))
    clean, noise, sigma = batch["latent"], batch["noise"], batch["sigma"].view(-1, 1, 1, 1, 1)
    assert kw["hidden_states"].shape[1] == 36
    assert torch.allclose(kw["hidden_states"][:, :16], (1 - sigma) * clean + sigma * noise)
    P = cfg.conditioning.prefix_frames  # every sample has a prefix: it simulates chunk k > 0
    # the chunk's known frames are the prefix: mask = 1 and the clean prefix latents in the condition channels
    assert torch.all(kw["hidden_states"][:, 16:20, :P] == 1) and torch.all(kw["hidden_states"][:, 16:20, P:] == 0)
    assert torch.equal(kw["hidden_states"][:, 20:, :P], clean[:, :, :P])
    assert torch.equal(kw["hidden_states"][:, 20:, P:], batch["cond"][:, :, P:])
    assert torch.allclose(kw["timestep"], 1000 * batch["sigma"])
    for i, p in enumerate(kw["prefix_latents"]):
        assert torch.equal(p, clean[i, :, :P])  # clean ground-truth first latent frame(s)
    assert torch.equal(target, noise - clean) and mask.all()  # loss over every video frame (overlap included)
    assert kw["audio_states"].shape == (4, 9, 1, 16)
    assert torch.equal(kw["audio_mask"], ~batch["drop_audio"])
    anchor_tok = sum(a.latent.shape[2] * a.latent.shape[3] // 4 for s in kw["anchors"] for a in s)
    assert tokens == 4 * 3 * 4 + 4 * 4 + anchor_tok  # 32x32 px -> 4x4 latent -> 2x2 tokens per frame


def test_loss_ignores_anchor_and_prefix_targets(synth_cache, tmp_path):
    """Perturbing anchor latents or prefix-overlap targets (when masked) leaves the loss unchanged."""
    cfg = tiny_cfg("stage3", synth_cache, tmp_path, **{"conditioning.prefix_prob": 1.0,
                   "conditioning.loss_on_prefix_overlap": False})

    class Probe(torch.nn.Module):  # returns a fixed prediction: the loss then depends only on target + mask
        def __init__(self, model):
            super().__init__()
            self.m = model

        def forward(self, **kw):
            class Out:
                sample = torch.zeros(kw["hidden_states"].shape[0], 16, *kw["hidden_states"].shape[2:])
            return Out()

    torch.manual_seed(0)
    model = GloriaTransformer3DModel(**get_preset("tiny"))
    batch = _batch(cfg, model)
    base, _ = per_sample_loss(Probe(model), model, batch, cfg, torch.device("cpu"), False)
    pert = dict(batch)
    pert["anchors"] = [[type(a)(a.latent + 100.0, a.type, a.category) for a in s] for s in batch["anchors"]]
    # prefix frame 0: perturb the clean latent and noise there only -> target of frame 0 changes
    pert["latent"] = batch["latent"].clone()
    pert["latent"][:, :, 0] += 50.0
    got, _ = per_sample_loss(Probe(model), model, pert, cfg, torch.device("cpu"), False)
    assert torch.allclose(base, got)
    # ... and the same perturbation of a later frame does change it
    pert["latent"][:, :, 1] += 50.0
    got2, _ = per_sample_loss(Probe(model), model, pert, cfg, torch.device("cpu"), False)
    assert (got2 > base + 1).all()
    # the real model: anchors change the prediction (they are attended to) but never enter the target
    kw, target, mask, _ = model_inputs(model, batch, cfg, torch.device("cpu"))
    assert not mask[:, 0].any() and mask[:, 1:].all()


def test_ti2v_first_frame_clean_and_out_of_the_loss(tmp_path):
    cache = write_synthetic_cache(tmp_path / "c", image_dim=None)
    cfg = tiny_cfg("stage2", cache, tmp_path / "o", **{"model.preset": "tiny-ti2v", "conditioning.prefix_prob": 0.0})
    torch.manual_seed(0)
    model = GloriaTransformer3DModel(**get_preset("tiny-ti2v"))
    batch = _batch(cfg, model)
    kw, target, mask, _ = model_inputs(model, batch, cfg, torch.device("cpu"))
    assert torch.equal(kw["hidden_states"][:, :, 0], batch["latent"][:, :, 0])
    assert kw["timestep"].shape == (4, 3 * 4)  # 3 latent frames x 2x2 tokens
    assert torch.all(kw["timestep"][:, :4] == 0)
    assert torch.allclose(kw["timestep"][:, 4:], 1000 * batch["sigma"][:, None].expand(4, 8))
    assert not mask[:, 0].any() and mask[:, 1:].all()
    out = model(**kw).sample
    assert out.shape == target.shape
    loss = flow_loss(out, target, mask)
    t2 = target.clone()
    t2[:, :, 0] += 10
    assert torch.allclose(loss, flow_loss(out, t2, mask))


def test_global_anchor_from_a_clip_frame(synth_cache, tmp_path, tiny_model):
    """anchors.global_source: clip_frame (the ×SCA setting): the global anchor is one latent frame of the clip."""
    cfg = tiny_cfg("stage3", synth_cache, tmp_path, **{"anchors.superset": False, "anchors.global_source": "clip_frame"})
    src = CacheSource(cfg.data.cache, cfg)
    a = cfg.anchors
    s = AnchorSampler(src.clips, AnchorPool(src.anchors), superset=False, global_from_clip=True)
    plan = BatchPlan(s, a.mode, cfg.run.global_batch_size, cfg.run.seed, a.viewpoint_ratio)
    assert plan.n_without_global == 0  # every clip has an in-clip global anchor
    ds = GloriaTrainDataset(src, plan, cfg, model_needs(dict(tiny_model.config)), src.meta["text_len"])
    frames_used = set()
    for step in range(6):
        for key in plan.keys(step):
            smp = ds._load(key)
            g = [x for x in smp["anchors"] if x.type == "global"]
            assert len(g) == 1 and g[0].latent.shape[1] == 1
            match = [j for j in range(smp["latent"].shape[1]) if torch.equal(g[0].latent[:, 0], smp["latent"][:, j])]
            assert match, "the global anchor is a frame of the clip"
            frames_used.add(match[0])
            assert not any(smp["anchor_outside"])
    assert len(frames_used) > 1  # any frame, not only the first
    with pytest.raises(ValueError, match="global_source"):
        tiny_cfg("stage3", synth_cache, tmp_path, **{"anchors.global_source": "first"})
