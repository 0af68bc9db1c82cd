"""Helpers for diffusers' `AutoencoderKLWan` (the Wan VAE class) that the project uses as it is."""
from __future__ import annotations

import types

import torch


def _rms_norm_fast(self, x: torch.Tensor) -> torch.Tensor:
    """`WanRMS_norm.forward` for float32 without `F.normalize` (x / max(||x||, 1e-12), the same value): on a
    CPU the channel-first vector norm is ~7x slower than this sum of squares, a quarter of a VAE training step."""
    if x.dtype != torch.float32:
        return type(self).forward(self, x)
    dim = 1 if self.channel_first else -1
    return x * torch.rsqrt((x * x).sum(dim, keepdim=True).clamp_min(1e-24)) * self.scale * self.gamma + self.bias


def use_fast_rms_norm(vae) -> None:
    """Give this VAE's `WanRMS_norm` modules the faster float32 forward (same results to ~1e-7; the class is untouched)."""
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanRMS_norm

    for m in vae.modules():
        if isinstance(m, WanRMS_norm):
            m.forward = types.MethodType(_rms_norm_fast, m)


@torch.no_grad()
def init_temporal_as_frames(vae) -> None:
    """Initialise the VAE's temporal weights so that every frame is processed as the first one is.

    Wan's causal VAE encodes frame 0 alone and later frames 4 at a time, each causal conv also reading
    the cached features of the two previous frames; the temporal down/upsamplers (`time_conv`) run only
    after the first chunk. Here ("image-to-video inflation", as 2D weights are inflated to 3D):
    the past taps of every causal conv are zero, so per frame the network is the 2D one frame 0 sees;
    each temporal downsampler keeps the latest frame of its window; each temporal upsampler copies
    its input to both output frames. Trained on single frames (`num_frames: 1`, the past taps get no
    gradient and stay zero), the VAE then already codes a clip as its frames 4, 8, ... held for 4
    frames; fine-tuning on whole clips (`init_from` + `num_frames` > 1 in `gloria train-vae`) can learn the
    motion from there (the shipped demo VAE is not fine-tuned: with Adam it lost quality here).
    Use on a new (untrained) `AutoencoderKLWan` without `is_residual` (Wan2.2's average-pooling
    shortcuts scale frame 0 differently from the later frames, so they cannot be made per-frame).
    """
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d, WanResample

    if vae.config.is_residual:
        raise ValueError("init_temporal_as_frames needs a Wan2.1-style VAE (is_residual: false)")
    time_convs = set()
    for m in vae.modules():
        if isinstance(m, WanResample) and hasattr(m, "time_conv"):
            w = m.time_conv.weight  # [out, in, 3, 1, 1]
            w.zero_()
            m.time_conv.bias.zero_()
            out_c, in_c = w.shape[:2]
            for o in range(out_c):  # downsample: out = in (latest frame); upsample: both frames = in
                w[o, o % in_c, -1, 0, 0] = 1.0
            time_convs.add(m.time_conv)
    for m in vae.modules():
        if isinstance(m, WanCausalConv3d) and m not in time_convs and m.weight.shape[2] > 1:
            k = m.weight.shape[2]
            m.weight[:, :, -1] *= k ** 0.5  # keep the fan-in variance of the initialisation
            m.weight[:, :, :-1] = 0.0
