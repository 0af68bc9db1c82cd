"""`gloria demo`: the nearest real thing the project runs end to end on a CPU today.

Until the small model trained on the synthetic world ships (issue "synthetic world / demo"), this
builds the `tiny` Gloria transformer (random weights — it makes no meaningful video), runs one
denoising forward pass on a video latent with the full anchor set (1 global, 4 viewpoint, 8
expression) and audio, and prints what it did: token layout, RoPE positions per anchor, which
blocks carry audio, and timings. It is a smoke test of the model machinery, not a video demo.
"""
from __future__ import annotations

import json
import time


def run_demo(args) -> int:
    import torch

    from gloria import AnchorLatent, GloriaTransformer3DModel
    from gloria.models.anchors import EXPRESSIONS, VIEWPOINTS
    from gloria.models.presets import get_preset

    torch.manual_seed(args.seed)
    model = GloriaTransformer3DModel(**get_preset("tiny")).eval()
    c = model.latent_channels
    frames, h, w = 6, 8, 12  # 6 latent frames = 21 video frames; 64x96 px with the Wan2.1 VAE (8x)
    anchors = [AnchorLatent(torch.randn(c, 1, h, w), "global")]
    anchors += [AnchorLatent(torch.randn(c, 1, 8, 4), "viewpoint", v) for v in VIEWPOINTS]
    anchors += [AnchorLatent(torch.randn(c, 1, 4, 4), "expression", e) for e in EXPRESSIONS]
    x = torch.randn(1, model.config.in_channels, frames, h, w)
    text = torch.randn(1, 512, model.config.text_dim)
    image = torch.randn(1, 257, model.config.image_dim)
    audio = torch.randn(1, 4 * (frames - 1) + 1, model.config.audio_dim)
    prefix = torch.randn(1, c, 4, h, w)
    with torch.no_grad():
        t0 = time.perf_counter()
        plain = model(x, torch.tensor([500.0]), text, image).sample
        t1 = time.perf_counter()
        full = model(x, torch.tensor([500.0]), text, image, anchors=[anchors], prefix_latents=prefix,
                     audio_states=audio).sample
        t2 = time.perf_counter()
    per_frame = (h // 2) * (w // 2)
    report = {
        "what": "one forward pass of the tiny Gloria transformer (random weights) with anchors, prefix and audio",
        "model": {"preset": "tiny", "parameters": sum(p.numel() for p in model.parameters()),
                  "blocks": model.config.num_layers, "audio_blocks": model.audio_block_indices},
        "video_latent": list(x.shape),
        "tokens": {"video": frames * per_frame, "prefix": 4 * per_frame,
                   "anchors": sum(a.latent.shape[-1] * a.latent.shape[-2] // 4 for a in anchors)},
        "anchor_rope_t": {f"{a.type}:{a.category or '-'}": model.anchor_time_position(a) for a in anchors},
        "output": list(full.shape),
        "anchors_change_prediction_by": round((full - plain).abs().mean().item(), 4),
        "seconds": {"plain": round(t1 - t0, 4), "with_anchors_prefix_audio": round(t2 - t1, 4)},
    }
    print(json.dumps(report, indent=1))
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the CPU demo (see `gloria demo --help`)", description=__doc__)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_demo)
