"""One training forward: batch -> model inputs -> per-sample flow-matching loss.

What the loss covers (per sample, over latent frames of the *video* tokens; the model's output holds
only video tokens, so anchor and prefix tokens are never in it):

* I2V kind (Wan2.1): all F latent frames. The known frames (the first; with a prefix the first P)
  enter as the I2V condition channels (mask + clean latents), every frame stays noisy.
* TI2V kind (Wan2.2): the known frames (the first; with a prefix the first P) are given clean in place
  (timestep 0) and are left out.
* Prefix (stage II+): the clean prefix tokens are extra tokens at temporal positions 0..P-1 (and, above,
  the known frames of the chunk: `gloria.models.chunk_inputs`, the contract the pipeline shares). For
  the I2V kind the video frames 0..P-1 they overlap stay noisy and stay in the loss by default
  (`conditioning.loss_on_prefix_overlap: true`): at inference the pipeline re-generates those frames
  and blends them with w = [1, .67, .33, 0], so their prediction is used. With `false` they are masked.
"""
from __future__ import annotations

import torch

from gloria.models.chunk_inputs import chunk_model_inputs
from gloria.training.flow import add_noise, flow_loss, velocity_target


def model_inputs(model, batch: dict, cfg, device: torch.device) -> tuple[dict, torch.Tensor, torch.Tensor, int]:
    """Build the model kwargs, the target `[B, C, F, H, W]`, the loss frame mask `[B, F]` and the token count.

    `model` is the unwrapped GloriaTransformer3DModel (for its config). The kwargs come from
    `gloria.models.chunk_inputs.chunk_model_inputs`, the function the pipeline calls for every chunk: a
    sample with a drawn prefix is exactly the pipeline's continuation chunk (its first P clean latents are
    the prefix), a sample without one is exactly chunk 0.
    """
    clean = batch["latent"].to(device)
    noise = batch["noise"].to(device)
    sigma = batch["sigma"].to(device)
    b, c, f, h, w = clean.shape
    p_t, p_h, p_w = model.config.patch_size
    per_frame = (h // p_h) * (w // p_w)
    x = add_noise(clean, noise, sigma)
    target = velocity_target(clean, noise)
    use_prefix = batch["use_prefix"]
    n_prefix = int(cfg.conditioning.prefix_frames)
    prefix = None
    if bool(use_prefix.any()):
        prefix = [clean[i, :, :n_prefix] if bool(use_prefix[i]) else None for i in range(b)]
    anchors = [[type(a)(a.latent.to(device), a.type, a.category) for a in s] for s in batch["anchors"]]
    audio = audio_mask = None
    if model.config.audio_dim is not None:
        n_t = model.config.audio_window * (f - 1) + 1
        audio = batch.get("audio")
        if audio is None:  # keep the graph static (DDP): zeros, masked out
            audio = torch.zeros(b, n_t, model.config.audio_num_layers, model.config.audio_dim)
            has = torch.zeros(b, dtype=torch.bool)
        else:
            has = batch["has_audio"]
        audio, audio_mask = audio.to(device), (has & ~batch["drop_audio"]).to(device)
    inputs = chunk_model_inputs(
        model.config, x, 1000.0 * sigma, batch["text"].to(device),
        first_frame=batch["cond"].to(device) if model.is_i2v else clean[:, :, :1],
        prefix=prefix, anchors=anchors,
        image_embeds=batch["clip_image"].to(device) if "clip_image" in batch else None,
        audio_states=audio, audio_mask=audio_mask,
    )
    mask = ~inputs.known  # frames given clean in place (TI2V) are not predicted
    if prefix is not None and not cfg.conditioning.loss_on_prefix_overlap:
        mask[use_prefix.to(device), :n_prefix] = False
    tokens = b * (f // p_t) * per_frame
    if prefix is not None:
        tokens += sum((p.shape[1] // p_t) * per_frame for p in prefix if p is not None)
    tokens += sum((a.latent.shape[1] // p_t) * (a.latent.shape[2] // p_h) * (a.latent.shape[3] // p_w)
                  for s in anchors for a in s)
    return inputs.kwargs, target, mask, tokens


def per_sample_loss(model, unwrapped, batch: dict, cfg, device: torch.device, autocast: bool) -> tuple[torch.Tensor, int]:
    """Forward `model` (possibly DDP/FSDP-wrapped) and return the per-sample losses `[B]` and token count."""
    kwargs, target, mask, tokens = model_inputs(unwrapped, batch, cfg, device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
        pred = model(**kwargs).sample
    return flow_loss(pred, target, mask), tokens
