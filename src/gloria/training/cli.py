"""`gloria train` (one process or under torchrun) and `gloria cache` (precompute latents/embeddings)."""
from __future__ import annotations

import argparse


def _overrides(items: list[str] | None) -> dict:
    from gloria.training.config import parse_override

    return dict(parse_override(s) for s in (items or []))


def _train(args: argparse.Namespace) -> int:
    from gloria.training.config import load_config
    from gloria.training.trainer import Trainer, TrainingDiverged, configure_logging

    configure_logging()
    cfg = load_config(args.config, _overrides(args.set))
    trainer = Trainer(cfg, resume=args.resume)
    try:
        result = trainer.train()
    except TrainingDiverged as err:
        import sys

        print(f"gloria train: stopped: {err}", file=sys.stderr)
        return 3
    finally:
        trainer.close()
    if trainer.d.is_main:
        print(f"done: {result['steps']} steps, last loss {result['losses'][-1] if result['losses'] else float('nan'):.6f}, "
              f"skipped samples {result['skipped']}, checkpoint {result['last_checkpoint']}")
    return 0


def _cache(args: argparse.Namespace) -> int:
    from gloria.training.cache import build_cache
    from gloria.training.config import load_config
    from gloria.training.trainer import configure_logging, model_config_dict

    configure_logging()
    cfg = load_config(args.config, _overrides(args.set))
    out = args.out or cfg.data.cache
    if not out:
        raise ValueError("no output directory: pass --out or set data.cache in the config")
    meta = build_cache(cfg, model_config_dict(cfg), out, progress=not args.no_progress)
    nf = len(meta["failures"]["clips"]) + len(meta["failures"]["anchors"])
    print(f"cache {out}: {meta['clips']} clips, {meta['anchors']} anchors, {nf} failures (listed in meta.json)")
    return 0


def _train_vae(args: argparse.Namespace) -> int:
    from gloria.training.config import load_config
    from gloria.training.vae import VAEConfig, train_vae

    cfg = load_config(args.config, _overrides(args.set), cls=VAEConfig)
    out = train_vae(cfg, resume=args.resume, progress=not args.no_progress)
    print(f"VAE written to {out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train Gloria from a recipe (configs/stage*.yaml); same under torchrun",
                       description="Train from a recipe. Under `torchrun --nproc_per_node N` it runs data-parallel "
                                   "(DDP, or FSDP2 for >= 1B parameters) with the same global batch.")
    p.add_argument("--config", required=True, help="recipe YAML (configs/stage1.yaml, ...)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in run.output_dir")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. run.max_steps=10")
    p.set_defaults(func=_train)
    c = sub.add_parser("cache", help="precompute VAE latents, text embeddings and audio features for training",
                       description="Encode every clip and anchor of data.dataset into safetensors shards once.")
    c.add_argument("--config", required=True, help="recipe YAML (its data/model sections decide what is encoded)")
    c.add_argument("--out", help="cache directory (default: data.cache of the config)")
    c.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.set_defaults(func=_cache)
    v = sub.add_parser("train-vae", help="train a small AutoencoderKLWan on a clip manifest (the CPU demo's VAE)",
                       description="Train a small Wan-class VAE (configs/demo/vae.yaml) and measure its latent statistics.")
    v.add_argument("--config", required=True, help="VAE recipe YAML (configs/demo/vae.yaml)")
    v.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoint")
    v.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. max_steps=10")
    v.add_argument("--no-progress", action="store_true", help="no progress bar")
    v.set_defaults(func=_train_vae)
