"""`gloria cache` with tiny random encoders (AutoencoderKLWan, UMT5, CLIP vision, wav2vec2) built here,
then training from the cache and from raw videos. No network."""
import json

import av
import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open

from gloria.data import schema

from .conftest import REPO

H = W = 32
FPS = 24


def _write_mp4(path, n, seed, audio=True):
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as c:
        v = c.add_stream("mpeg4", rate=FPS)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        a = c.add_stream("aac", rate=16000, layout="mono") if audio else None
        for i in range(n):
            img = np.full((H, W, 3), (i * 20) % 255, np.uint8) + rng.integers(0, 30, (H, W, 3), dtype=np.uint8)
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        if a is not None:
            t = np.arange(int(16000 * n / FPS)) / 16000
            wave = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[None]
            for k in range(0, wave.shape[1], 1024):
                fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave[:, k:k + 1024]), format="fltp", layout="mono")
                fr.sample_rate = 16000
                for p in a.encode(fr):
                    c.mux(p)
            for p in a.encode():
                c.mux(p)


@pytest.fixture(scope="module")
def encoders_dir(tmp_path_factory):
    from diffusers import AutoencoderKLWan
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, PreTrainedTokenizerFast,
                              UMT5Config, UMT5EncoderModel, Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model)

    d = tmp_path_factory.mktemp("enc")
    torch.manual_seed(0)
    AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                     temperal_downsample=[False, True, True]).save_pretrained(d / "vae")
    vocab = {w: i for i, w in enumerate(["<pad>", "</s>", "<unk>", "clip", "a", "person", "talks"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>").save_pretrained(d / "text")
    UMT5EncoderModel(UMT5Config(vocab_size=len(vocab), d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4)).save_pretrained(d / "text")
    CLIPVisionModel(CLIPVisionConfig(hidden_size=24, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
                                     image_size=32, patch_size=16)).save_pretrained(d / "clip")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(d / "clip")
    Wav2Vec2Model(Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                                 conv_dim=(8, 8), conv_stride=(5, 64), conv_kernel=(10, 64), num_conv_pos_embeddings=4,
                                 num_conv_pos_embedding_groups=2)).save_pretrained(d / "audio")
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(d / "audio")
    return d


@pytest.fixture(scope="module")
def raw_dataset(tmp_path_factory):
    from PIL import Image

    d = tmp_path_factory.mktemp("ds")
    (d / "clips").mkdir()
    (d / "anchors").mkdir()
    clips, anchors = [], []
    for k in range(2):
        cid = f"v0_c{k}"
        _write_mp4(d / "clips" / f"{cid}.mp4", 12, k)
        clips.append(dict(clip_id=cid, source_video_id="v0", start_s=k * 0.5, end_s=k * 0.5 + 0.5, fps=FPS, num_frames=12,
                          width=W, height=H, caption="a person talks", video_path=f"clips/{cid}.mp4", has_audio=True,
                          audio_path=None, shard=None))
    clips.append(dict(clips[0], clip_id="v0_broken", video_path="clips/missing.mp4"))
    for i, (typ, cat, t) in enumerate([("global", "global", 0.1), ("global", "global", 0.7), ("viewpoint", "front", 0.2),
                                       ("viewpoint", "back", 0.8), ("expression", "happy", 0.3), ("expression", "sad", 0.9)]):
        aid = f"a{i}"
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 24, 3), dtype=np.uint8)).save(d / "anchors" / f"{aid}.png")
        anchors.append(dict(anchor_id=aid, source_video_id="v0", type=typ, category=cat, timestamp_s=t, x0=0, y0=0, x1=24,
                            y1=40, image_path=f"anchors/{aid}.png", score=0.9, backend="test"))
    schema.write_clips(pd.DataFrame(clips), d)
    schema.write_anchors(pd.DataFrame(anchors), d)
    return d


def _sets(encoders_dir, raw_dataset, cache, out):
    e = encoders_dir
    return [f"data.dataset={raw_dataset}", f"data.cache={cache}", f"run.output_dir={out}",
            f"data.encoders.vae={e / 'vae'}", f"data.encoders.text_encoder={e / 'text'}",
            f"data.encoders.image_encoder={e / 'clip'}", f"data.encoders.audio_encoder={e / 'audio'}",
            "conditioning.null_text=empty_prompt", "run.max_steps=2", "run.global_batch_size=2", "run.micro_batch_size=1"]


def test_cache_then_train_from_cache_and_raw(encoders_dir, raw_dataset, tmp_path, capsys):
    from gloria.cli import main

    cache = tmp_path / "cache"
    sets = _sets(encoders_dir, raw_dataset, cache, tmp_path / "run")
    argv = ["cache", "--config", str(REPO / "configs" / "tiny" / "stage3.yaml"), "--no-progress"]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0, capsys.readouterr().err
    assert "2 clips, 6 anchors, 1 failures" in capsys.readouterr().out
    meta = json.loads((cache / "meta.json").read_text())
    assert meta["failures"]["clips"][0]["id"] == "v0_broken" and "not found" in meta["failures"]["clips"][0]["error"]
    with safe_open(str(cache / "shards" / "clips-00000.safetensors"), "pt") as f:
        assert f.get_tensor("v0_c0/latent").shape == (16, 3, 4, 4)  # 9 frames 32x32 -> 3 x 4 x 4
        assert f.get_tensor("v0_c0/cond").shape == (16, 3, 4, 4)
        assert f.get_tensor("v0_c0/clip_image").shape == (5, 24)  # hidden_states[-2]: 4 patches + CLS
        assert f.get_tensor("v0_c0/text").shape == (3, 32)  # "a person talks" (test tokenizer adds no </s>)
        assert f.get_tensor("v0_c0/audio").shape == (9, 1, 16)  # T = 4*(3-1)+1 frames at the video rate
    with safe_open(str(cache / "shards" / "anchors-00000.safetensors"), "pt") as f:
        assert f.get_tensor("a0/latent").shape == (16, 1, 4, 4)  # global: video size
        assert f.get_tensor("a2/latent").shape == (16, 1, 2, 2)  # crop: anchor_size 16x16
    # a re-run resumes: shards are kept as they are
    mtime = (cache / "shards" / "clips-00000.safetensors").stat().st_mtime_ns
    assert main(argv) == 0
    assert (cache / "shards" / "clips-00000.safetensors").stat().st_mtime_ns == mtime
    capsys.readouterr()
    # train from the cache, then from raw videos (same encoders) -> the same first-step loss
    from gloria.training.config import load_config
    from gloria.training.trainer import Trainer

    over = dict(s.split("=", 1) for s in sets)
    over = {k: (int(v) if v.isdigit() else v) for k, v in over.items()}
    over["data.cache_dtype"] = "float32"
    from_cache = Trainer(load_config(REPO / "configs" / "tiny" / "stage3.yaml", over)).train()
    over_raw = {**over, "data.cache": None, "run.output_dir": str(tmp_path / "run_raw")}
    broken = Trainer(load_config(REPO / "configs" / "tiny" / "stage3.yaml", over_raw)).train()
    assert broken["skipped"] >= 1 and all(np.isfinite(broken["losses"]))  # the missing video is skipped, counted
    # the same clips as the cache (without the broken one): raw-video training = cached training
    clean_ds = tmp_path / "clean_ds"
    clean_ds.mkdir()
    (clean_ds / "clips").symlink_to(raw_dataset / "clips")
    (clean_ds / "anchors").symlink_to(raw_dataset / "anchors")
    clips = schema.read_clips(raw_dataset)
    schema.write_clips(clips[clips.clip_id != "v0_broken"], clean_ds)
    schema.write_anchors(schema.read_anchors(raw_dataset), clean_ds)
    over_raw.update({"data.dataset": str(clean_ds), "run.output_dir": str(tmp_path / "run_raw2")})
    from_raw = Trainer(load_config(REPO / "configs" / "tiny" / "stage3.yaml", over_raw)).train()
    assert from_raw["skipped"] == 0
    assert from_raw["losses"] == pytest.approx(from_cache["losses"], rel=1e-4)
