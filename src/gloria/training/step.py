"""One training forward: batch -> model inputs -> per-sample flow-matching loss.

What the loss covers (per sample, over latent frames of the *video* tokens; the model's output holds
only video tokens, so anchor and prefix tokens are never in it):

* I2V kind (Wan2.1): all F latent frames. The first frame enters as the I2V condition channels
  (mask + first-frame latent), not as a clean token.
* TI2V kind (Wan2.2): frame 0 is given clean (latent of the input image, timestep 0) and is left out.
* Prefix (stage II+): the clean prefix tokens are extra tokens at temporal positions 0..P-1. The
  video frames 0..P-1 they overlap stay noisy and stay in the loss by default
  (`conditioning.loss_on_prefix_overlap: true`): at inference the pipeline re-generates those frames
  and blends them with w = [1, .67, .33, 0], so their prediction is used. With `false` they are masked.
"""
from __future__ import annotations

import torch

from gloria.training.flow import add_noise, flow_loss, velocity_target


def model_inputs(model, batch: dict, cfg, device: torch.device) -> tuple[dict, torch.Tensor, torch.Tensor, int]:
    """Build the model kwargs, the target `[B, C, F, H, W]`, the loss frame mask `[B, F]` and the token count.

    `model` is the unwrapped GloriaTransformer3DModel (for its config).
    """
    clean = batch["latent"].to(device)
    noise = batch["noise"].to(device)
    sigma = batch["sigma"].to(device)
    b, c, f, h, w = clean.shape
    p_t, p_h, p_w = model.config.patch_size
    per_frame = (h // p_h) * (w // p_w)
    x = add_noise(clean, noise, sigma)
    target = velocity_target(clean, noise)
    mask = torch.ones(b, f, dtype=torch.bool, device=device)
    timestep = 1000.0 * sigma
    if model.is_i2v:
        cond = batch["cond"].to(device)
        m = torch.zeros(b, 4, f, h, w, device=device, dtype=clean.dtype)
        m[:, :, 0] = 1.0  # Wan I2V: the first latent frame is given (4 channels = 4 pixel frames)
        hidden = torch.cat([x, m, cond], dim=1)
    else:  # TI2V: first frame clean, per-token timestep 0 there, not in the loss
        x = x.clone()
        x[:, :, 0] = clean[:, :, 0]
        hidden = x
        timestep = timestep[:, None].repeat(1, (f // p_t) * per_frame)
        timestep[:, :per_frame] = 0.0
        mask[:, 0] = False
    prefix = None
    use_prefix = batch["use_prefix"]
    n_prefix = int(cfg.conditioning.prefix_frames)
    if bool(use_prefix.any()):
        prefix = [clean[i, :, :n_prefix] if bool(use_prefix[i]) else None for i in range(b)]
        if not cfg.conditioning.loss_on_prefix_overlap:
            mask[use_prefix.to(device), :n_prefix] = False
    anchors = [[type(a)(a.latent.to(device), a.type, a.category) for a in s] for s in batch["anchors"]]
    kwargs = {
        "hidden_states": hidden,
        "timestep": timestep,
        "encoder_hidden_states": batch["text"].to(device),
        "anchors": anchors if any(anchors) else None,
        "prefix_latents": prefix,
    }
    if "clip_image" in batch:
        kwargs["encoder_hidden_states_image"] = batch["clip_image"].to(device)
    if model.config.audio_dim is not None:
        n_t = model.config.audio_window * (f - 1) + 1
        audio = batch.get("audio")
        if audio is None:  # keep the graph static (DDP): zeros, masked out
            L = model.config.audio_num_layers
            audio = torch.zeros(b, n_t, L, model.config.audio_dim)
            has = torch.zeros(b, dtype=torch.bool)
        else:
            has = batch["has_audio"]
        if audio.shape[1] != n_t:
            raise ValueError(f"audio features have {audio.shape[1]} frames; {f} latent frames need {n_t} (= 4*(F-1)+1)")
        kwargs["audio_states"] = audio.to(device)
        kwargs["audio_mask"] = (has & ~batch["drop_audio"]).to(device)
    tokens = b * (f // p_t) * per_frame
    if prefix is not None:
        tokens += sum((p.shape[1] // p_t) * per_frame for p in prefix if p is not None)
    tokens += sum((a.latent.shape[1] // p_t) * (a.latent.shape[2] // p_h) * (a.latent.shape[3] // p_w)
                  for s in anchors for a in s)
    return kwargs, target, mask, tokens


def per_sample_loss(model, unwrapped, batch: dict, cfg, device: torch.device, autocast: bool) -> tuple[torch.Tensor, int]:
    """Forward `model` (possibly DDP/FSDP-wrapped) and return the per-sample losses `[B]` and token count."""
    kwargs, target, mask, tokens = model_inputs(unwrapped, batch, cfg, device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
        pred = model(**kwargs).sample
    return flow_loss(pred, target, mask), tokens
