"""Forward-time benchmark: Gloria vs diffusers' Wan at the same tokens, and the cost of anchors.

Layout: the paper's 480x832, 81-frame video (21 latent frames) with 1 global + 4 viewpoint (body crop
480x240) + 8 expression (head crop 256x256) anchors, every pixel size divided by `--scale` so a CPU
runs it; the model is a small Wan geometry (`--dim`, `--layers`). Prints medians and ratios.

    python bench/transformer.py                  # CPU defaults
    python bench/transformer.py --device cuda --dtype bfloat16 --scale 1 --dim 5120 --layers 4
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from diffusers import WanTransformer3DModel

from gloria import AnchorLatent, GloriaTransformer3DModel
from gloria.models.anchors import EXPRESSIONS, VIEWPOINTS


def timeit_interleaved(fns: dict, repeats: int, sync) -> dict:
    """Median seconds per call of each fn, run round-robin so machine noise hits all of them alike."""
    times = {k: [] for k in fns}
    for k, fn in fns.items():  # warm-up
        fn()
    sync()
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            sync()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=4, help="divide every pixel size of the 480x832 layout by this")
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = ap.parse_args()
    torch.manual_seed(0)
    dev, dtype = torch.device(args.device), getattr(torch, args.dtype)
    heads = max(1, args.dim // 128) if args.dim >= 1024 else max(1, args.dim // 64)
    wan_cfg = dict(patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=args.dim // heads,
                   in_channels=36, out_channels=16, text_dim=256, freq_dim=256, ffn_dim=4 * args.dim,
                   num_layers=args.layers, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6,
                   image_dim=256, added_kv_proj_dim=args.dim, rope_max_seq_len=1024)
    import diffusers

    diffusers.utils.logging.set_verbosity_error()  # the bench casts with .to(dtype) on purpose
    wan = WanTransformer3DModel(**wan_cfg).to(dev, dtype).eval()
    gloria = GloriaTransformer3DModel(**wan_cfg, audio_dim=768).to(dev, dtype).eval()
    gloria.load_state_dict(wan.state_dict(), strict=False)

    def px(v):  # pixel size scaled, rounded to the 16-px grid (VAE 8x * patch 2)
        return max(16, round(v / args.scale / 16) * 16)

    h, w = px(480), px(832)
    lat = lambda hh, ww: torch.randn(16, 1, hh // 8, ww // 8, device=dev, dtype=dtype)  # noqa: E731
    anchors = [AnchorLatent(lat(h, w), "global")]
    anchors += [AnchorLatent(lat(px(480), px(240)), "viewpoint", v) for v in VIEWPOINTS]
    anchors += [AnchorLatent(lat(px(256), px(256)), "expression", e) for e in EXPRESSIONS]
    frames = 21
    x = torch.randn(1, 36, frames, h // 8, w // 8, device=dev, dtype=dtype)
    t = torch.tensor([500.0], device=dev)
    text = torch.randn(1, 512, 256, device=dev, dtype=dtype)
    img = torch.randn(1, 257, 256, device=dev, dtype=dtype)
    audio = torch.randn(1, 4 * (frames - 1) + 1, 768, device=dev, dtype=dtype)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    n_video = frames * (h // 16) * (w // 16)
    n_anchor = sum(a.latent.shape[-1] * a.latent.shape[-2] // 4 for a in anchors)
    with torch.no_grad():
        r = timeit_interleaved({
            "wan": lambda: wan(x, t, text, img),
            "gloria": lambda: gloria(x, t, text, img),
            "audio": lambda: gloria(x, t, text, img, audio_states=audio),
            "anchors": lambda: gloria(x, t, text, img, anchors=[anchors]),
            "all": lambda: gloria(x, t, text, img, anchors=[anchors], audio_states=audio),
        }, args.repeats, sync)
    t_wan, t_glo, t_audio, t_anch, t_all = r["wan"], r["gloria"], r["audio"], r["anchors"], r["all"]
    res = {
        "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev), "dtype": args.dtype,
        "torch_threads": torch.get_num_threads(), "video_px": [frames * 4 - 3, h, w], "dim": args.dim,
        "layers": args.layers, "video_tokens": n_video, "anchor_tokens": n_anchor,
        "wan_s": round(t_wan, 4), "gloria_s": round(t_glo, 4),
        "gloria_over_wan": round(t_glo / t_wan, 3),
        "audio_over_no_audio": round(t_audio / t_glo, 3),
        "anchors_13_over_none": round(t_anch / t_glo, 3),
        "anchors_and_audio_over_plain": round(t_all / t_glo, 3),
        "token_ratio_with_anchors": round((n_video + n_anchor) / n_video, 3),
    }
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
