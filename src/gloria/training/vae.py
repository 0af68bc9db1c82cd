"""Train a small `AutoencoderKLWan` (diffusers' Wan VAE class) on the frames of a clip manifest.

Used for the CPU demo model (`configs/demo/vae.yaml`): Wan's own VAE is far too slow for a 2-core CPU,
so the demo trains a small one of the same class on the synthetic world. Objective: L1 + MSE
reconstruction (of the posterior mean; training and caching both use the mode) of random `num_frames`-frame (4k+1) windows, random `crop` x `crop` spatial crops (the
VAE is fully convolutional), plus `kl_weight` x KL. At the end the per-channel latent mean / std over the
data are measured and written into the config (`latents_mean`/`latents_std`), which is how Wan's pipelines
normalise latents.

    gloria train-vae --config configs/demo/vae.yaml [--resume] [--set max_steps=100]

`init_from: DIR` fine-tunes an existing VAE instead (e.g. on whole clips, `data.num_frames: 9`, after
single-frame training with `temporal_init: frames`).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from gloria.models.wan_vae import init_temporal_as_frames, use_fast_rms_norm
from gloria.training.config import ConfigError


@dataclass
class VAEData:
    dataset: str = ""  # a dataset dir with clips.parquet (gloria.data.schema)
    num_frames: int = 5  # frames per training window (4k + 1)
    crop: int = 32  # square training crop (pixels), multiple of the spatial factor
    max_clips: int = 0  # 0 = all clips
    eval_clips: int = 4  # the manifest's last N clips are held out and scored (whole clips, PSNR per frame range)


@dataclass
class VAEConfig:
    data: VAEData = field(default_factory=VAEData)
    # AutoencoderKLWan(**model) (latents_mean/std are measured at the end).
    model: dict = field(default_factory=lambda: dict(
        base_dim=24, z_dim=8, dim_mult=[1, 2, 2], num_res_blocks=1, temperal_downsample=[True, True],
        scale_factor_spatial=4, scale_factor_temporal=4))
    init_from: str = ""  # fine-tune this AutoencoderKLWan folder instead of a new one from `model`
    # temporal weights of a new VAE: "random" (the class's init) or "frames" (every frame coded as frame 0;
    # gloria.models.wan_vae.init_temporal_as_frames - for single-frame training before whole clips)
    temporal_init: str = "random"
    lr: float = 1e-3
    warmup_steps: int = 0  # linear warm-up, then cosine decay to lr * min_lr_ratio at max_steps
    min_lr_ratio: float = 1.0  # 1.0 = constant learning rate
    kl_weight: float = 1e-6
    batch_size: int = 8
    max_steps: int = 1000
    seed: int = 0
    output_dir: str = "runs/vae"
    checkpoint_every: int = 200
    eval_every: int = 0  # steps between held-out evaluations (0 = only at the end)
    stats_clips: int = 64  # clips used to measure latents_mean/std
    source: str = ""

    def validate(self) -> "VAEConfig":
        w = self.source or "vae config"
        if not self.data.dataset:
            raise ConfigError(f"{w}: data.dataset is required")
        if self.data.num_frames < 1 or (self.data.num_frames - 1) % 4:
            raise ConfigError(f"{w}: data.num_frames must be 4k+1, got {self.data.num_frames}")
        sf = int(self.model.get("scale_factor_spatial", 8))
        if self.data.crop <= 0 or self.data.crop % sf:
            raise ConfigError(f"{w}: data.crop must be a positive multiple of model.scale_factor_spatial ({sf})")
        if self.init_from and self.model != VAEConfig().model:
            raise ConfigError(f"{w}: give model (a new VAE) or init_from (fine-tune one), not both")
        if self.temporal_init not in ("random", "frames"):
            raise ConfigError(f"{w}: temporal_init must be random or frames, got {self.temporal_init!r}")
        if self.temporal_init == "frames" and (self.init_from or self.model.get("is_residual")):
            raise ConfigError(f"{w}: temporal_init frames is for a new VAE without is_residual")
        if self.init_from and not (Path(self.init_from) / "config.json").is_file():
            raise ConfigError(f"{w}: init_from {self.init_from} is not a diffusers VAE folder (no config.json)")
        for k in ("batch_size", "max_steps", "checkpoint_every"):
            if getattr(self, k) < 1:
                raise ConfigError(f"{w}: {k} must be >= 1")
        if self.warmup_steps < 0 or self.eval_every < 0 or self.data.eval_clips < 0:
            raise ConfigError(f"{w}: warmup_steps, eval_every and data.eval_clips must be >= 0")
        if not 0.0 < self.min_lr_ratio <= 1.0:
            raise ConfigError(f"{w}: min_lr_ratio must be in (0, 1], got {self.min_lr_ratio}")
        return self


def load_frames(dataset: str | os.PathLike, max_clips: int = 0, progress: bool = True) -> list[np.ndarray]:
    """All frames of the manifest's clips: list of uint8 `[T, H, W, 3]` (one array per clip)."""
    from gloria.data.schema import read_clips
    from gloria.data.video import iter_frames

    root = Path(dataset)
    clips = read_clips(root)
    if max_clips:
        clips = clips.iloc[:max_clips]
    if len(clips) == 0:
        raise ValueError(f"{root}: clips.parquet lists no clips")
    out = []
    for path in tqdm(clips["video_path"], desc="decode clips", leave=False, disable=not progress):
        out.append(np.stack([f.to_ndarray(format="rgb24") for _, f in iter_frames(root / path)]))
    return out


def sample_batch(videos: list[np.ndarray], n: int, frames: int, crop: int, g: np.random.Generator) -> torch.Tensor:
    """`n` random windows `[n, 3, frames, crop, crop]` in [-1, 1]."""
    out = np.empty((n, frames, crop, crop, 3), np.uint8)
    for i in range(n):
        v = videos[g.integers(len(videos))]
        t = g.integers(v.shape[0] - frames + 1)
        y = g.integers(v.shape[1] - crop + 1)
        x = g.integers(v.shape[2] - crop + 1)
        out[i] = v[t:t + frames, y:y + crop, x:x + crop]
    return torch.from_numpy(out).permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0


FRAME_RANGES = ((0, 1), (1, 9), (9, 17), (17, 25), (25, 33))  # frame 0 alone (encoded alone), then 8-frame spans


@torch.no_grad()
def evaluate(vae, clips: list[np.ndarray]) -> dict:
    """PSNR (dB, 255 scale) of whole clips through encode(mode) -> decode: overall and per frame range."""
    was = vae.training
    vae.eval()
    x = torch.stack([torch.from_numpy(c).permute(3, 0, 1, 2).float() / 127.5 - 1.0 for c in clips])
    rec = vae.decode(vae.encode(x).latent_dist.mode()).sample
    mse = (rec - x).square().mean((0, 1, 3, 4))  # per frame
    vae.train(was)
    out = {"psnr": round(float(10 * torch.log10(4.0 / mse.mean())), 2)}
    for a, b in FRAME_RANGES:
        if a < len(mse):
            out[f"psnr_f{a}-{min(b, len(mse)) - 1}"] = round(float(10 * torch.log10(4.0 / mse[a:b].mean())), 2)
    return out


def _save(vae, opt, sched, step: int, g: np.random.Generator, out: Path) -> None:
    tmp = out / f".ckpt-tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    vae.save_pretrained(tmp / "vae")
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "step": step, "rng": g.bit_generator.state,
                "torch_rng": torch.get_rng_state()}, tmp / "state.pt")
    final = out / "checkpoint"
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


@torch.no_grad()
def latent_stats(vae, videos: list[np.ndarray], frames: int, n: int, seed: int) -> tuple[list[float], list[float]]:
    """Per-channel mean / std of posterior means over `n` full-size windows."""
    g = np.random.default_rng(seed + 1)
    h, w = videos[0].shape[1:3]
    zs = [vae.encode(sample_batch(videos, 1, frames, min(h, w), g)).latent_dist.mode() for _ in range(n)]
    z = torch.cat([z.flatten(2) for z in zs], 2)  # [1, C, N]
    return z.mean((0, 2)).tolist(), z.std((0, 2)).clamp_min(1e-4).tolist()


def train_vae(cfg: VAEConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train; returns the folder of the finished VAE (`OUTPUT/vae`, loadable by `AutoencoderKLWan.from_pretrained`).

    The manifest's last `data.eval_clips` clips are held out: scored (whole clips) every `eval_every` steps
    (rows of `vae_log.jsonl` with "eval") and at the end (`OUTPUT/vae/eval.json`).
    """
    from diffusers import AutoencoderKLWan

    from gloria.training.trainer import lr_multiplier

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    g = np.random.default_rng(cfg.seed)
    z_dim = int(cfg.model.get("z_dim", 16))
    if cfg.init_from:
        vae = AutoencoderKLWan.from_pretrained(cfg.init_from)
    else:
        vae = AutoencoderKLWan(**{"latents_mean": [0.0] * z_dim, "latents_std": [1.0] * z_dim, **cfg.model})
        if cfg.temporal_init == "frames":
            init_temporal_as_frames(vae)

    def optimizer(model):
        o = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.0)
        return o, torch.optim.lr_scheduler.LambdaLR(
            o, lambda s: lr_multiplier(s, cfg.warmup_steps, cfg.max_steps, cfg.min_lr_ratio))

    opt, sched = optimizer(vae)
    step = 0
    ckpt = out / "checkpoint"
    if resume and ckpt.is_dir():
        vae = AutoencoderKLWan.from_pretrained(ckpt / "vae")
        opt, sched = optimizer(vae)
        state = torch.load(ckpt / "state.pt", weights_only=False)
        opt.load_state_dict(state["optimizer"])
        step = state["step"]
        sched.load_state_dict(state["scheduler"])
        g.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
    use_fast_rms_norm(vae)
    videos = load_frames(cfg.data.dataset, cfg.data.max_clips, progress)
    n_eval = min(cfg.data.eval_clips, len(videos) - 1)
    held_out = videos[len(videos) - n_eval:] if n_eval > 0 else []
    videos = videos[:len(videos) - n_eval]
    log = open(out / "vae_log.jsonl", "a" if step else "w")  # a fresh run starts a fresh log
    bar = tqdm(total=cfg.max_steps, initial=step, desc="train VAE", disable=not progress)
    vae.train()
    while step < cfg.max_steps:
        t0 = time.perf_counter()
        x = sample_batch(videos, cfg.batch_size, cfg.data.num_frames, cfg.data.crop, g)
        post = vae.encode(x).latent_dist
        # The posterior mean is decoded (a deterministic autoencoder + a small KL pull): with the noise of
        # `sample()` at init (std 1) the latents carry almost no signal and training stalls near 16 dB.
        rec = vae.decode(post.mode()).sample
        l1 = (rec - x).abs().mean()
        mse = (rec - x).square().mean()
        kl = post.kl().mean() / x[0].numel()
        loss = l1 + mse + cfg.kl_weight * kl
        if not torch.isfinite(loss):
            raise FloatingPointError(f"VAE loss is {loss.item()} at step {step}; last good checkpoint: {ckpt}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        psnr = 10 * np.log10(4.0 / max(mse.item(), 1e-10))
        row = {"step": step, "loss": loss.item(), "l1": l1.item(), "psnr": psnr, "kl": kl.item(),
               "lr": opt.param_groups[0]["lr"], "step_s": time.perf_counter() - t0}
        if held_out and cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.max_steps:
            row["eval"] = evaluate(vae, held_out)
        log.write(json.dumps(row) + "\n")
        log.flush()
        bar.update(1)
        bar.set_postfix(psnr=f"{psnr:.1f}dB", **({"eval": f"{row['eval']['psnr']:.1f}dB"} if "eval" in row else {}))
        if step % cfg.checkpoint_every == 0 or step == cfg.max_steps:
            _save(vae, opt, sched, step, g, out)
    bar.close()
    vae.eval()
    final_eval = evaluate(vae, held_out) if held_out else {}
    log.close()
    mean, std = latent_stats(vae, videos, cfg.data.num_frames, cfg.stats_clips, cfg.seed)
    vae.register_to_config(latents_mean=mean, latents_std=std)
    final = out / "vae"
    tmp = out / f".vae-tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    vae.save_pretrained(tmp)
    (tmp / "eval.json").write_text(json.dumps({"held_out_clips": n_eval, "steps": step, **final_eval}, indent=1))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final
