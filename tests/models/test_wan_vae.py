"""Helpers on diffusers' AutoencoderKLWan: the faster RMS norm is the same function; the frame-wise temporal init."""
from __future__ import annotations

import pytest
import torch
from diffusers import AutoencoderKLWan

from gloria.models.wan_vae import init_temporal_as_frames, use_fast_rms_norm


def _vae(**kw):
    torch.manual_seed(0)
    cfg = dict(base_dim=8, z_dim=4, dim_mult=[1, 2, 2], num_res_blocks=1, temperal_downsample=[True, True],
               scale_factor_spatial=4, latents_mean=[0.0] * 4, latents_std=[1.0] * 4)
    return AutoencoderKLWan(**{**cfg, **kw})


def test_fast_rms_norm_same_values_and_gradients():
    ref, fast = _vae(), _vae()
    use_fast_rms_norm(fast)
    x = torch.rand(2, 3, 9, 16, 16) * 2 - 1
    outs = []
    for vae in (ref, fast):
        rec = vae.decode(vae.encode(x).latent_dist.mode()).sample
        rec.square().mean().backward()
        outs.append((rec.detach(), [p.grad.clone() for p in vae.parameters()]))
    torch.testing.assert_close(outs[1][0], outs[0][0], rtol=0, atol=1e-5)
    for g_fast, g_ref in zip(outs[1][1], outs[0][1]):
        torch.testing.assert_close(g_fast, g_ref, rtol=1e-4, atol=1e-6)
    # only this instance changed: a new VAE still runs the class's own forward
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanRMS_norm

    assert "forward" not in vars(next(m for m in _vae().modules() if isinstance(m, WanRMS_norm)))


def test_fast_rms_norm_bf16_falls_back_to_the_class_forward():
    vae = _vae().to(torch.bfloat16)
    use_fast_rms_norm(vae)
    z = vae.encode(torch.rand(1, 3, 1, 16, 16, dtype=torch.bfloat16)).latent_dist.mode()
    assert z.dtype == torch.bfloat16 and torch.isfinite(z.float()).all()


def test_temporal_init_codes_every_frame_as_frame_zero():
    vae = _vae().eval()
    init_temporal_as_frames(vae)
    video = torch.rand(1, 3, 9, 16, 16) * 2 - 1
    with torch.no_grad():
        z = vae.encode(video).latent_dist.mode()  # 3 latent frames
        for k in range(3):  # latent k = the single-frame latent of frame 4k (the latest of its window)
            alone = vae.encode(video[:, :, 4 * k: 4 * k + 1]).latent_dist.mode()[:, :, 0]
            torch.testing.assert_close(z[:, :, k], alone, rtol=0, atol=1e-5)
        rec = vae.decode(z).sample  # each latent frame decodes to 4 copies of its own single-frame decode
        for k in range(1, 3):
            one = vae.decode(z[:, :, k:k + 1]).sample[:, :, 0]
            for t in range(4 * k - 3, 4 * k + 1):
                torch.testing.assert_close(rec[:, :, t], one, rtol=0, atol=1e-5)


def test_temporal_init_refuses_the_residual_vae():
    with pytest.raises(ValueError, match="is_residual"):
        init_temporal_as_frames(_vae(is_residual=True))
