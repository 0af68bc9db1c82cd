"""VAE training-step time of the demo's AutoencoderKLWan with and without `use_fast_rms_norm` (CPU).

    .venv/bin/python bench/vae_train_step.py [--batch 16] [--frames 1] [--repeats 7]

One step = encode (posterior mode) + decode + L1/MSE backward + AdamW, on random 64x64 frames with the
configs/demo/vae.yaml architecture. Prints the median step of each variant (interleaved runs) and the
ratio, and checks that both give the same reconstruction.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import yaml
from diffusers import AutoencoderKLWan

from gloria.models.wan_vae import use_fast_rms_norm


def step_time(vae, opt, x) -> float:
    t0 = time.perf_counter()
    rec = vae.decode(vae.encode(x).latent_dist.mode()).sample
    loss = (rec - x).abs().mean() + (rec - x).square().mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/demo/vae.yaml")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--frames", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    model = yaml.safe_load(open(a.config))["model"]
    z = model["z_dim"]
    vaes = {}
    for name in ("diffusers", "fast_rms_norm"):
        torch.manual_seed(0)
        vae = AutoencoderKLWan(latents_mean=[0.0] * z, latents_std=[1.0] * z, **model)
        if name == "fast_rms_norm":
            use_fast_rms_norm(vae)
        vaes[name] = (vae, torch.optim.AdamW(vae.parameters(), lr=1e-4))
    x = torch.rand(a.batch, 3, a.frames, 64, 64) * 2 - 1
    with torch.no_grad():
        recs = [v.decode(v.encode(x).latent_dist.mode()).sample for v, _ in vaes.values()]
    diff = float((recs[0] - recs[1]).abs().max())
    times = {k: [] for k in vaes}
    for _ in range(2):  # warm-up
        for k, (v, o) in vaes.items():
            step_time(v, o, x)
    for _ in range(a.repeats):  # interleaved
        for k, (v, o) in vaes.items():
            times[k].append(step_time(v, o, x))
    med = {k: statistics.median(t) for k, t in times.items()}
    print(f"batch {a.batch} x {a.frames} frame(s) of 64x64, {torch.get_num_threads()} threads, "
          f"max |reconstruction difference| {diff:.2e}")
    for k, t in med.items():
        print(f"  {k:14s} {t * 1000:7.1f} ms/step")
    print(f"  ratio fast / diffusers = {med['fast_rms_norm'] / med['diffusers']:.3f}")


if __name__ == "__main__":
    main()
