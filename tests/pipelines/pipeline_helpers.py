"""Tiny random components for GloriaPipeline tests (no network)."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

VOCAB = ["<pad>", "</s>", "<unk>"] + [f"w{i}" for i in range(61)]


def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def tiny_components(kind: str = "i2v", audio: bool = True, seed: int = 0) -> dict:
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler
    from transformers import (
        CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel, Wav2Vec2Config,
        Wav2Vec2FeatureExtractor, Wav2Vec2Model,
    )

    from gloria.models.presets import get_preset
    from gloria.models.transformer_gloria import GloriaTransformer3DModel

    torch.manual_seed(seed)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True]).eval()
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(VOCAB), d_model=32, d_kv=8, d_ff=32, num_layers=1,
                                               num_heads=2, relative_attention_num_buckets=8, pad_token_id=0,
                                               eos_token_id=1, decoder_start_token_id=0)).eval()
    cfg = get_preset("tiny" if kind == "i2v" else "tiny-ti2v")
    if not audio:
        cfg["audio_dim"] = None
    transformer = GloriaTransformer3DModel(**cfg).eval()
    with torch.no_grad():  # a less degenerate random init (zero-init audio values would make audio a no-op)
        for p in transformer.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    comps = dict(
        tokenizer=tiny_tokenizer(), text_encoder=text_encoder, vae=vae, transformer=transformer,
        scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0,
                                          num_train_timesteps=1000),
        image_encoder=None, image_processor=None, audio_encoder=None, feature_extractor=None,
    )
    if kind == "i2v":
        comps["image_encoder"] = CLIPVisionModel(CLIPVisionConfig(
            hidden_size=24, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=32,
            patch_size=8, projection_dim=24)).eval()
        comps["image_processor"] = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    if audio:
        comps["audio_encoder"] = Wav2Vec2Model(Wav2Vec2Config(
            hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
            conv_dim=(8, 8, 8, 8, 8, 8, 8), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
            vocab_size=8)).eval()
        comps["feature_extractor"] = Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True)
    return comps


def make_pipe(kind: str = "i2v", audio: bool = True, seed: int = 0):
    from gloria.pipelines.pipeline_gloria import GloriaPipeline

    pipe = GloriaPipeline(**tiny_components(kind, audio, seed))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def rgb_image(h: int = 32, w: int = 32, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, h * w * 3).reshape(h, w, 3)
    return Image.fromarray(((base + rng.integers(0, 40, (h, w, 3))) % 256).astype(np.uint8), "RGB")


def write_wav(path, seconds: float, sr: int = 16000, seed: int = 0):
    import av

    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    x = (0.3 * np.sin(np.arange(n) * 2 * np.pi * 220 / sr) + 0.05 * rng.standard_normal(n)).astype(np.float32)
    with av.open(str(path), "w", format="wav") as c:
        s = c.add_stream("pcm_s16le", rate=sr, layout="mono")
        f = av.AudioFrame.from_ndarray((x * 32767).astype(np.int16)[None], format="s16", layout="mono")
        f.sample_rate = sr
        for pkt in s.encode(f):
            c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)
    return path
