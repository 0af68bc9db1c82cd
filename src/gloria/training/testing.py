"""Synthetic latent caches for tests and benchmarks (no video decoding, no encoders).

`write_synthetic_cache` writes a cache directory in exactly the layout `gloria cache` produces (see
`gloria.training.cache`), with manifest tables that pass `gloria.data.schema` validation. Source video
k has `clips_per_video` consecutive 5 s clips and, for each anchor category, anchors at chosen times
(by default one inside and one outside every clip), so sampler statistics can be checked exactly.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import save_file

from gloria.data import schema
from gloria.models.anchors import CATEGORIES
from gloria.training.cache import CACHE_VERSION


def write_synthetic_cache(out: str | os.PathLike, *, videos: int = 2, clips_per_video: int = 2, latent_channels: int = 16,
                          num_frames: int = 9, height: int = 32, width: int = 32, anchor_hw: tuple[int, int] = (16, 16),
                          text_len: int = 512, text_tokens: int = 8, text_dim: int = 32, image_tokens: int = 5,
                          image_dim: int | None = 24, audio_dim: int | None = 16, audio_layers: int = 1,
                          categories: dict[str, list[str]] | None = None, anchors_per_clip_side: int = 1,
                          seed: int = 0, clip_seconds: float = 5.0, fps: float = 24.0,
                          anchor_video_filter=None) -> Path:
    """Write a synthetic cache; returns its path.

    `categories` maps anchor type -> categories present (default: every category of every type).
    `anchor_video_filter(video_index, type, category) -> bool` drops categories per video (skewed pools).
    Latents are smooth random fields (so a tiny model can overfit them).
    """
    out = Path(out)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    cats = categories or {t: list(c) for t, c in CATEGORIES.items()}
    lat_f, lat_h, lat_w = (num_frames - 1) // 4 + 1, height // 8, width // 8
    ah, aw = anchor_hw[0] // 8, anchor_hw[1] // 8
    t_audio = num_frames
    clips, anchors, ctensors, atensors = [], [], {}, {}
    for v in range(videos):
        vid = f"vid{v:03d}"
        for k in range(clips_per_video):
            cid = f"{vid}_c{k}"
            start = k * clip_seconds
            clips.append(dict(clip_id=cid, source_video_id=vid, start_s=start, end_s=start + clip_seconds, fps=fps,
                              num_frames=int(clip_seconds * fps), width=width, height=height, caption=f"clip {cid}",
                              video_path=f"clips/{cid}.mp4", has_audio=audio_dim is not None, audio_path=None, shard=None))
            base = torch.randn(latent_channels, 1, lat_h, lat_w, generator=g)
            motion = torch.randn(latent_channels, lat_f, 1, 1, generator=g) * 0.3
            ctensors[f"{cid}/latent"] = base + motion
            ctensors[f"{cid}/text"] = torch.randn(text_tokens, text_dim, generator=g)
            if image_dim is not None:
                ctensors[f"{cid}/cond"] = torch.cat([base, torch.zeros(latent_channels, lat_f - 1, lat_h, lat_w)], dim=1)
                ctensors[f"{cid}/clip_image"] = torch.randn(image_tokens, image_dim, generator=g)
            if audio_dim is not None:
                ctensors[f"{cid}/audio"] = torch.randn(t_audio, audio_layers, audio_dim, generator=g)
        n_span = clips_per_video * clip_seconds
        for typ, names in cats.items():
            for cat in names:
                if anchor_video_filter is not None and not anchor_video_filter(v, typ, cat):
                    continue
                for k in range(clips_per_video):
                    for j in range(anchors_per_clip_side):
                        t = k * clip_seconds + (j + 0.5) * clip_seconds / (anchors_per_clip_side + 1)
                        aid = f"{vid}_{typ}_{cat}_{k}_{j}"
                        hw = (height, width) if typ == "global" else anchor_hw
                        anchors.append(dict(anchor_id=aid, source_video_id=vid, type=typ, category=cat, timestamp_s=t,
                                            x0=0, y0=0, x1=hw[1], y1=hw[0], image_path=f"anchors/{aid}.png", score=1.0,
                                            backend="synthetic"))
                        shape = (latent_channels, 1, lat_h, lat_w) if typ == "global" else (latent_channels, 1, ah, aw)
                        atensors[f"{aid}/latent"] = torch.randn(*shape, generator=g)
                if clips_per_video == 1:  # make sure outside anchors exist too
                    aid = f"{vid}_{typ}_{cat}_out"
                    hw = (height, width) if typ == "global" else anchor_hw
                    anchors.append(dict(anchor_id=aid, source_video_id=vid, type=typ, category=cat, timestamp_s=n_span + 1.0,
                                        x0=0, y0=0, x1=hw[1], y1=hw[0], image_path=f"anchors/{aid}.png", score=1.0,
                                        backend="synthetic"))
                    shape = (latent_channels, 1, lat_h, lat_w) if typ == "global" else (latent_channels, 1, ah, aw)
                    atensors[f"{aid}/latent"] = torch.randn(*shape, generator=g)
    save_file(ctensors, str(out / "shards" / "clips-00000.safetensors"))
    if atensors:
        save_file(atensors, str(out / "shards" / "anchors-00000.safetensors"))
    save_file({"text": torch.zeros(0, text_dim)}, str(out / "null_text.safetensors"))
    cdf = pd.DataFrame(clips)
    adf = pd.DataFrame(anchors) if anchors else schema.empty_frame("anchors")
    schema.validate_table(cdf, "clips", "synthetic clips")
    schema.validate_table(adf, "anchors", "synthetic anchors")
    cdf.assign(cache_shard="clips-00000.safetensors").to_parquet(out / "clips.parquet", index=False)
    adf.assign(cache_shard="anchors-00000.safetensors").to_parquet(out / "anchors.parquet", index=False)
    meta = {"version": CACHE_VERSION, "dataset": None, "num_frames": num_frames, "frame_stride": 1, "height": height,
            "width": width, "anchor_size": list(anchor_hw), "viewpoint_size": None, "text_len": text_len, "text_dim": text_dim,
            "latent_channels": latent_channels, "has_cond": image_dim is not None, "has_clip_image": image_dim is not None,
            "has_audio": audio_dim is not None, "null_text": "zeros", "clips": len(cdf), "anchors": len(adf),
            "failures": {"clips": [], "anchors": []}}
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return out
