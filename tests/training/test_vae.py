"""`gloria train-vae`: a small AutoencoderKLWan trained on a clip manifest; resume = uninterrupted."""
from __future__ import annotations

import json

import pytest
import torch

from gloria.training.config import ConfigError, load_config
from gloria.training.vae import VAEConfig, train_vae


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from gloria.synthetic.dataset import write_dataset

    out = tmp_path_factory.mktemp("syn") / "data"
    write_dataset(out, n_characters=1, videos_per_character=1, seconds=2.0, clip_frames=9, seed=0, progress=False)
    return out


def _cfg(tmp_path, dataset, steps, **kw):
    p = tmp_path / "vae.yaml"
    p.write_text(json.dumps({
        "data": {"dataset": str(dataset), "num_frames": 5, "crop": 16},
        "model": {"base_dim": 4, "z_dim": 4, "dim_mult": [1, 2], "num_res_blocks": 1, "temperal_downsample": [True],
                  "scale_factor_spatial": 2, "scale_factor_temporal": 2},
        "batch_size": 2, "max_steps": steps, "checkpoint_every": 2, "stats_clips": 2,
        "warmup_steps": 1, "min_lr_ratio": 0.5, **kw}))  # a schedule, so resume must restore it too
    return load_config(p, cls=VAEConfig)


def test_train_resume_equals_uninterrupted(tmp_path, dataset, monkeypatch):
    from diffusers import AutoencoderKLWan

    import gloria.training.vae as vae_mod

    full = train_vae(_cfg(tmp_path, dataset, 4, output_dir=str(tmp_path / "full")), progress=False)

    class Killed(RuntimeError):
        pass

    real, calls = vae_mod.sample_batch, []

    def dies_at_step_3(*a, **k):  # the run is killed after its step-2 checkpoint
        calls.append(1)
        if len(calls) == 3:
            raise Killed
        return real(*a, **k)

    monkeypatch.setattr(vae_mod, "sample_batch", dies_at_step_3)
    with pytest.raises(Killed):
        train_vae(_cfg(tmp_path, dataset, 4, output_dir=str(tmp_path / "part")), progress=False)
    monkeypatch.setattr(vae_mod, "sample_batch", real)
    resumed = train_vae(_cfg(tmp_path, dataset, 4, output_dir=str(tmp_path / "part")), resume=True, progress=False)
    a, b = AutoencoderKLWan.from_pretrained(full), AutoencoderKLWan.from_pretrained(resumed)
    for (n, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=n)
    # latent statistics were measured (not the placeholder 0 / 1)
    assert a.config.latents_mean != [0.0] * 4 and all(s > 0 for s in a.config.latents_std)
    assert a.config.latents_std != [1.0] * 4
    log = [json.loads(line) for line in (tmp_path / "full" / "vae_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(r["psnr"] > 0 for r in log)


def test_init_from_fine_tunes_the_given_vae(tmp_path, dataset):
    """Phase 2 of the demo recipe: `init_from` starts from a trained VAE (same weights at step 0, then trained)."""
    from diffusers import AutoencoderKLWan

    first = train_vae(_cfg(tmp_path, dataset, 2, output_dir=str(tmp_path / "a")), progress=False)
    p = tmp_path / "ft.yaml"
    p.write_text(json.dumps({"data": {"dataset": str(dataset), "num_frames": 9, "crop": 32}, "init_from": str(first),
                             "batch_size": 1, "max_steps": 1, "checkpoint_every": 1, "stats_clips": 1,
                             "output_dir": str(tmp_path / "b")}))
    tuned = AutoencoderKLWan.from_pretrained(train_vae(load_config(p, cls=VAEConfig), progress=False))
    base = AutoencoderKLWan.from_pretrained(first)
    assert tuned.config.base_dim == 4 and tuned.config.z_dim == 4  # the architecture of init_from, not the defaults
    # one AdamW step (lr 1e-3) away from init_from: every weight moved by about lr, none by a fresh init's ~0.1
    moved = max((a - b).abs().max().item() for a, b in zip(base.state_dict().values(), tuned.state_dict().values()))
    assert 1e-4 < moved < 5e-3


def test_single_frame_training_keeps_the_frame_wise_temporal_init(tmp_path, dataset):
    """Phase 1 of the demo recipe: frames-init + single frames train only the 2D part, so the VAE codes clips."""
    from diffusers import AutoencoderKLWan
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d, WanResample

    cfg = _cfg(tmp_path, dataset, 3, temporal_init="frames", output_dir=str(tmp_path / "f"),
               data={"dataset": str(dataset), "num_frames": 1, "crop": 16, "eval_clips": 1})
    vae = AutoencoderKLWan.from_pretrained(train_vae(cfg, progress=False))
    time_convs = {m.time_conv for m in vae.modules() if isinstance(m, WanResample) and hasattr(m, "time_conv")}
    convs = [m for m in vae.modules() if isinstance(m, WanCausalConv3d) and m.weight.shape[2] > 1 and m not in time_convs]
    assert convs and all(float(m.weight.detach()[:, :, :-1].abs().max()) == 0.0 for m in convs)  # past taps never trained
    assert all(float(m.weight.detach()[:, :, -1].abs().max()) > 0 for m in convs)
    for tc in time_convs:  # temporal resampling still keeps / copies the latest frame
        w = tc.weight.detach()[:, :, :, 0, 0]
        assert float(w[:, :, :-1].abs().max()) == 0.0 and sorted(set(w[:, :, -1].flatten().tolist())) == [0.0, 1.0]
    report = json.loads((tmp_path / "f" / "vae" / "eval.json").read_text())
    assert report["held_out_clips"] == 1 and report["steps"] == 3
    assert 0 < report["psnr"] < 100 and "psnr_f0-0" in report and "psnr_f1-8" in report


def test_lr_schedule_warmup_then_cosine():
    from gloria.training.trainer import lr_multiplier

    assert [lr_multiplier(s, 4, 100) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]  # paper: constant
    assert lr_multiplier(4, 4, 104, 0.1) == 1.0 and lr_multiplier(104, 4, 104, 0.1) == pytest.approx(0.1)
    assert lr_multiplier(54, 4, 104, 0.1) == pytest.approx(0.55)  # half way: the cosine's midpoint
    assert lr_multiplier(500, 4, 104, 0.1) == pytest.approx(0.1)  # past the end it stays at the floor


@pytest.mark.parametrize("override, msg", [
    ({"data": {"dataset": "x", "num_frames": 4}}, "4k\\+1"),
    ({"data": {"dataset": "x", "crop": 10}}, "multiple"),
    ({"data": {"dataset": ""}}, "data.dataset is required"),
    ({"batch_size": 0, "data": {"dataset": "x"}}, "batch_size"),
    ({"data": {"dataset": "x", "bogus": 1}}, "unknown key"),
    ({"data": {"dataset": "x"}, "init_from": "/nonexistent"}, "not a diffusers VAE folder"),
    ({"data": {"dataset": "x"}, "init_from": "/nonexistent", "model": {"base_dim": 8}}, "not both"),
    ({"data": {"dataset": "x"}, "temporal_init": "zeros"}, "random or frames"),
    ({"data": {"dataset": "x"}, "temporal_init": "frames", "model": {"is_residual": True}}, "without is_residual"),
    ({"data": {"dataset": "x"}, "min_lr_ratio": 0.0}, "min_lr_ratio"),
    ({"data": {"dataset": "x", "eval_clips": -1}}, ">= 0"),
])
def test_bad_config(tmp_path, override, msg):
    p = tmp_path / "vae.yaml"
    p.write_text(json.dumps(override))
    with pytest.raises(ConfigError, match=msg):
        load_config(p, cls=VAEConfig)


def test_training_audio_features_match_the_pipeline(tmp_path):
    """The cache's audio features of a clip == the pipeline's features of the same frames (same alignment)."""
    import numpy as np

    from gloria.pipelines.audio import AudioFeaturizer, AudioInput
    from gloria.synthetic.demo_model import write_audio_encoder
    from gloria.training.config import EncoderPaths
    from gloria.training.encoders import Encoders, frame_times

    write_audio_encoder(tmp_path / "a")
    rng = np.random.default_rng(0)
    wave = (rng.standard_normal(16000 * 2) * np.sin(np.linspace(0, 20, 32000)) ** 2).astype(np.float32)
    enc = Encoders(EncoderPaths(audio_encoder=str(tmp_path / "a"), device="cpu"))
    fps, n = 16, 29
    train = enc.encode_audio(wave, frame_times(n, 1, fps))  # [29, 1, 41]
    fe, model = enc._load_audio()
    infer = AudioFeaturizer(model, fe, AudioInput(wave, 16000), fps).features(0, n)
    assert train.shape == infer.shape == (n, 1, 41)
    torch.testing.assert_close(train, infer, rtol=1e-4, atol=1e-4)
