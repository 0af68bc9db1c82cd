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
        "batch_size": 2, "max_steps": steps, "checkpoint_every": 2, "stats_clips": 2, **kw}))
    return load_config(p, cls=VAEConfig)


def test_train_resume_equals_uninterrupted(tmp_path, dataset):
    from diffusers import AutoencoderKLWan

    full = train_vae(_cfg(tmp_path, dataset, 4, output_dir=str(tmp_path / "full")), progress=False)
    train_vae(_cfg(tmp_path, dataset, 2, output_dir=str(tmp_path / "part")), progress=False)
    resumed = train_vae(_cfg(tmp_path, dataset, 4, output_dir=str(tmp_path / "part")), resume=True, progress=False)
    a, b = AutoencoderKLWan.from_pretrained(full), AutoencoderKLWan.from_pretrained(resumed)
    for (n, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=n)
    # latent statistics were measured (not the placeholder 0 / 1)
    assert a.config.latents_mean != [0.0] * 4 and all(s > 0 for s in a.config.latents_std)
    assert a.config.latents_std != [1.0] * 4
    log = [json.loads(line) for line in (tmp_path / "full" / "vae_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(r["psnr"] > 0 for r in log)


@pytest.mark.parametrize("override, msg", [
    ({"data": {"dataset": "x", "num_frames": 4}}, "4k\\+1"),
    ({"data": {"dataset": "x", "crop": 10}}, "multiple"),
    ({"data": {"dataset": ""}}, "data.dataset is required"),
    ({"batch_size": 0, "data": {"dataset": "x"}}, "batch_size"),
    ({"data": {"dataset": "x", "bogus": 1}}, "unknown key"),
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
