"""`gloria info` (what a preset costs) and `gloria convert` (original Wan checkpoint -> diffusers dir)."""
from __future__ import annotations

import argparse
import json


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH in pixels, e.g. 480x832, got {text!r}") from None
    return h, w


def parse_anchor_counts(text: str) -> dict[str, int]:
    """'global:1,viewpoint:4,expression:8' -> {'global': 1, ...} (validated against the paper's limits)."""
    from gloria.models.anchors import MAX_ANCHORS, validate_type

    counts: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, num = part.partition(":")
        validate_type(name)
        if not num.isdigit():
            raise ValueError(f"--anchors: count for {name!r} must be a non-negative integer, got {num!r}")
        counts[name] = int(num)
        if counts[name] > MAX_ANCHORS[name]:
            raise ValueError(f"--anchors: at most {MAX_ANCHORS[name]} {name} anchors, got {counts[name]}")
    return counts


def info(args) -> int:
    import torch

    from gloria.models.presets import VAE_GEOMETRY, build_model
    from gloria.models.transformer_gloria import count_tokens, is_audio_key

    model = build_model(args.preset, device="meta")
    cfg = dict(model.config)
    _, vae_t, vae_s = VAE_GEOMETRY["i2v" if model.is_i2v else "ti2v"]
    counts = parse_anchor_counts(args.anchors)
    sizes = {"global": (args.height, args.width), "viewpoint": args.viewpoint_size, "expression": args.expression_size}
    step = vae_s * cfg["patch_size"][1]
    for kind, (h, w) in sizes.items():
        if h % step or w % step:
            raise ValueError(f"{kind} size {h}x{w} must be a multiple of {step} px (VAE {vae_s}x * patch {cfg['patch_size'][1]})")
    anchor_sizes = [sizes[k] for k, n in counts.items() for _ in range(n)]
    tokens = count_tokens(cfg, args.frames, args.height, args.width, anchor_sizes, args.prefix_frames, vae_t, vae_s)
    audio_params = sum(p.numel() for n, p in model.named_parameters() if is_audio_key(n))
    out = {
        "preset": args.preset,
        "kind": "i2v" if model.is_i2v else "ti2v",
        "parameters": sum(p.numel() for p in model.parameters()),
        "audio_parameters": audio_params,
        "blocks": cfg["num_layers"],
        "audio_blocks": len(model.audio_attn),
        "audio_block_indices": model.audio_block_indices,
        "dim": cfg["num_attention_heads"] * cfg["attention_head_dim"],
        "heads": cfg["num_attention_heads"],
        "anchor_offsets": model.anchor_offsets,
        "rope_max_seq_len": cfg["rope_max_seq_len"],
        "video": {"frames": args.frames, "height": args.height, "width": args.width},
        "anchors": counts,
        "tokens": tokens,
        "anchor_token_share": round(tokens["anchors"] / tokens["total"], 4) if tokens["total"] else 0.0,
        "attention_cost_vs_no_anchors": round((tokens["total"] / (tokens["video"] + tokens["prefix"])) ** 2, 4),
    }
    del model, torch
    print(json.dumps(out, indent=2))
    return 0


def convert(args) -> int:
    from pathlib import Path

    from gloria.models.convert import load_original_wan
    from gloria.models.presets import get_preset

    out = Path(args.out)
    if out.exists():
        raise ValueError(f"--out {out} already exists; choose a new directory")
    model = load_original_wan(args.original, get_preset(args.preset))
    tmp = out.with_name(out.name + ".partial")
    model.save_pretrained(tmp)
    tmp.replace(out)
    print(f"wrote {out} ({sum(p.numel() for p in model.parameters())} parameters)")
    return 0


def register(sub) -> None:
    from gloria.models.presets import PRESETS

    p = sub.add_parser("info", help="parameters, blocks and token counts of a model preset (no weights allocated)")
    p.add_argument("--preset", required=True, choices=sorted(PRESETS))
    p.add_argument("--frames", type=int, default=81, help="video frames (pixel space), default 81")
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--width", type=int, default=832)
    p.add_argument("--anchors", default="", help='e.g. "global:1,viewpoint:4,expression:8"')
    p.add_argument("--viewpoint-size", type=_size, default=(480, 240), help="body-crop size HxW (px)")
    p.add_argument("--expression-size", type=_size, default=(256, 256), help="head-crop size HxW (px)")
    p.add_argument("--prefix-frames", type=int, default=0, help="prefix latent frames (4 for continuation chunks)")
    p.set_defaults(func=info)

    c = sub.add_parser("convert", help="original-Wan-naming checkpoint -> Gloria diffusers directory")
    c.add_argument("--original", required=True, help=".safetensors/.pth file or a directory of shards")
    c.add_argument("--preset", required=True, choices=sorted(PRESETS), help="model geometry of the checkpoint")
    c.add_argument("--out", required=True, help="output directory (must not exist)")
    c.set_defaults(func=convert)
