"""Training-step throughput: samples/s and tokens/s with and without anchors (CPU; on CUDA also bf16 MFU).

    .venv/bin/python bench/train_step.py                       # CPU, small-but-not-trivial config
    .venv/bin/python bench/train_step.py --device cuda --preset gloria-5b --frames 33 --height 256 --width 256

Builds a synthetic latent cache, runs `Trainer` for --warmup + --steps steps per setting (stage I: no
anchors; stage II: global anchor + prefix p=0.5; stage III: global + viewpoint/expression anchors) and
reports the median step over the timed steps. MFU = 6 * trainable params * tokens/s / peak bf16 FLOPs
(attention FLOPs not counted: a lower bound).
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from gloria.models.presets import get_preset
from gloria.training.config import config_from_dict
from gloria.training.testing import write_synthetic_cache
from gloria.training.trainer import Trainer

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--dim", type=int, default=96, help="override inner dim (heads x 24) for the tiny preset")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--frames", type=int, default=33)
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {}
    if args.preset.startswith("tiny"):
        heads = args.dim // 24
        overrides = dict(num_attention_heads=heads, attention_head_dim=24, ffn_dim=4 * args.dim, num_layers=args.layers,
                         added_kv_proj_dim=args.dim if args.preset == "tiny" else None)
    mc = get_preset(args.preset, **overrides)
    lat = mc["out_channels"]
    spatial = 8 if mc["in_channels"] != lat else 16
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = write_synthetic_cache(Path(tmp) / "cache", videos=2, clips_per_video=2, latent_channels=lat,
                                      num_frames=args.frames, height=args.height, width=args.width,
                                      anchor_hw=(args.height // 2, args.width // 2), text_dim=mc["text_dim"],
                                      image_dim=mc.get("image_dim") if mc["in_channels"] != lat else None,
                                      image_tokens=257, audio_dim=mc.get("audio_dim"))
        if spatial != 8:
            raise SystemExit("synthetic caches use the 8x VAE geometry; use an I2V-kind preset")
        for name, mode, prefix in (("no anchors (stage I)", "none", 0.0), ("global + prefix (stage II)", "global", 0.5),
                                   ("global + view/expr (stage III)", "mixed", 0.5)):
            cfg = config_from_dict({
                "model": {"preset": args.preset, "overrides": overrides},
                "data": {"cache": str(cache), "num_frames": args.frames, "height": args.height, "width": args.width,
                         "num_workers": 0, "anchor_size": [args.height // 2, args.width // 2]},
                "anchors": {"mode": mode}, "conditioning": {"prefix_prob": prefix, "prefix_frames": 1},
                "run": {"output_dir": str(Path(tmp) / name.split()[0] / mode), "max_steps": args.warmup + args.steps,
                        "global_batch_size": args.batch, "micro_batch_size": args.batch, "checkpoint_every": 10**6,
                        "log_every": 10**6, "progress": False, "mixed_precision": "bf16"},
            }, where="bench")
            tr = Trainer(cfg)
            tr.ckpt_dir = Path(tmp) / "nock"  # no checkpoint writes in the timing
            tr.save_checkpoint = lambda step: None
            tr.train()
            log = [json.loads(x) for x in (Path(cfg.run.output_dir) / "train_log.jsonl").read_text().splitlines()]
            timed = log[args.warmup:]
            step = statistics.median(r["step_time_s"] for r in timed)
            tok = statistics.median(r["tokens_per_s"] * r["step_time_s"] for r in timed)
            row = {"setting": name, "step_s": round(step, 4), "samples_per_s": round(args.batch / step, 2),
                   "tokens_per_step": int(tok), "tokens_per_s": round(tok / step, 1)}
            if torch.cuda.is_available() and args.device == "cuda":
                nparam = sum(p.numel() for p in tr.unwrapped.parameters() if p.requires_grad)
                gpu = torch.cuda.get_device_name()
                peak = next((v for k, v in PEAK_BF16.items() if k in gpu), None)
                if peak:
                    row["mfu"] = round(6 * nparam * tok / step / peak, 4)
            results.append(row)
            print(json.dumps(row), flush=True)
    nparam = sum(p.numel() for p in tr.unwrapped.parameters())
    print(f"# preset {args.preset} {overrides} params {nparam / 1e6:.2f}M, {args.frames} frames {args.height}x{args.width}, "
          f"batch {args.batch}, device {args.device}, threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
