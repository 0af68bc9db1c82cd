"""The one definition of what the transformer receives for a chunk (training and inference both call it).

`chunk_model_inputs` turns a chunk's noisy latents + its conditions into the keyword arguments of
`GloriaTransformer3DModel.forward`. The trainer (`gloria.training.step.model_inputs`) calls it for every
training sample and `GloriaPipeline` for every denoising step of every chunk, so a training sample that
simulates a continuation chunk (a prefix drawn, paper §4.4 stage II) and the pipeline's chunk k > 0
(§4.3) get the same tensors by construction (`tests/models/test_chunk_inputs.py` builds both sides from
the same latents and compares them).

The contract (reasoning in docs/model.md, "Continuation chunks"):

* **Known frames.** A chunk without a prefix (chunk 0; a training clip without a drawn prefix) knows its
  first latent frame (the input image). A chunk with a prefix (chunk k > 0; a training clip with a drawn
  prefix) knows its first P latent frames: the previous chunk's last P clean latents (training: the
  clip's own first P clean latents). Known frames are given through the model kind's own first-frame
  mechanism *and* as clean prefix tokens at temporal positions 0..P-1:
  - I2V kind (Wan2.1, 36 input channels): condition mask = 1 on the known frames, condition latent =
    the known clean latents there and the first-frame condition (VAE latent of the first frame followed
    by zero frames, as Wan) elsewhere. Every video frame stays noisy and is predicted (the pipeline
    re-generates and blends the overlap).
  - TI2V kind (Wan2.2, in = out channels): known frames replace the noisy ones in place with per-token
    timestep 0, are never in the loss and are reset to the clean values after sampling.
* **Timestep**: `[B]` = 1000 sigma (I2V); `[B, tokens]` per video token (TI2V, 0 on known frames).
* **Audio window**: T = audio_window * (F - 1) + 1 feature frames, those of the chunk's video frames
  (`gloria.pipelines.chunking`: the chunk's first latent frame is aligned with its last video frame).
* **Anchors**: per sample, a list of `AnchorLatent`, the same set for every chunk of a video.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from gloria.models.anchors import AnchorLatent

I2V_MASK_CHANNELS = 4  # Wan2.1 I2V: one mask channel per pixel frame of a latent frame (temporal factor 4)


@dataclass
class ChunkInputs:
    """`kwargs` for `GloriaTransformer3DModel.forward` + which latent frames were given clean.

    Attributes:
        kwargs: hidden_states, timestep, encoder_hidden_states, [encoder_hidden_states_image], anchors,
            prefix_latents, [audio_states, audio_mask].
        known: `[B, F]` bool, frames given clean in place (TI2V kind only; all False for I2V).
        clean: `[B, C, F, h, w]` the values of the known frames (zeros elsewhere), TI2V kind; else None.
    """

    kwargs: dict
    known: torch.Tensor
    clean: torch.Tensor | None

    def reset_known(self, latents: torch.Tensor) -> torch.Tensor:
        """`latents` `[b, C, F, h, w]` (b <= B: the first b rows) with the known frames set to their clean values."""
        if self.clean is None or not bool(self.known.any()):
            return latents
        b = latents.shape[0]
        return torch.where(self.known[:b, None, :, None, None], self.clean[:b].to(latents.dtype), latents)


def _per_sample(prefix, b: int) -> list[torch.Tensor | None]:
    if prefix is None:
        return [None] * b
    if torch.is_tensor(prefix):
        return list(prefix.unbind(0))
    out = list(prefix)
    if len(out) != b:
        raise ValueError(f"prefix: one entry per sample ({b}) expected, got {len(out)}")
    return out


def chunk_model_inputs(
    config,
    noisy: torch.Tensor,
    timestep: torch.Tensor,
    text: torch.Tensor,
    *,
    first_frame: torch.Tensor,
    prefix: torch.Tensor | Sequence[torch.Tensor | None] | None = None,
    anchors: Sequence[Sequence[AnchorLatent]] | None = None,
    image_embeds: torch.Tensor | None = None,
    audio_states: torch.Tensor | None = None,
    audio_mask: torch.Tensor | None = None,
    dtype: torch.dtype | None = None,
) -> ChunkInputs:
    """Model inputs of a chunk (see the module docstring for the contract).

    Args:
        config: the transformer's config (`GloriaTransformer3DModel.config`).
        noisy: `[B, C, F, h, w]` noisy video latents x_sigma = (1 - sigma) x_clean + sigma noise.
        timestep: `[B]` (or a 0-d / `[1]` tensor for every row) = 1000 sigma.
        text: `[B, L, text_dim]` text embeddings.
        first_frame: I2V kind: `[B, C, F', h, w]`, F' >= F, the first-frame condition latent (VAE latent of
            the first frame followed by zero frames); TI2V kind: `[B, C, >=1, h, w]` whose frame 0 is the
            clean latent of the first frame. Used for samples without a prefix (and, I2V, after the prefix).
        prefix: None, `[B, C, P, h, w]` or per sample `[C, P, h, w]` / None: clean latents of the chunk's
            first P frames (P < F).
        anchors: per sample, a list of `AnchorLatent`.
        image_embeds: `[B, 257, image_dim]` CLIP image tokens (I2V kind).
        audio_states: `[B, T, d]` or `[B, T, L, d]`, T = audio_window * (F - 1) + 1.
        audio_mask: `[B]` bool (False = null audio).
        dtype: dtype of the hidden states and prefix tokens (the transformer's); default `noisy.dtype`.
    """
    b, c, f, h, w = noisy.shape
    dtype = dtype or noisy.dtype
    device = noisy.device
    p_t, p_h, p_w = config.patch_size
    out_ch = config.out_channels or config.in_channels
    is_i2v = config.in_channels != out_ch
    prefixes = _per_sample(prefix, b)
    for i, p in enumerate(prefixes):
        if p is not None and (p.ndim != 4 or p.shape[0] != c or p.shape[2:] != (h, w) or not 0 < p.shape[1] < f):
            raise ValueError(f"sample {i}: prefix must be [C={c}, P, {h}, {w}] with 0 < P < F={f}, got {tuple(p.shape)}")
    n_known = torch.tensor([1 if p is None else p.shape[1] for p in prefixes], device=device)
    known = torch.arange(f, device=device)[None, :] < n_known[:, None]  # [B, F]

    # clean values of the known frames: the prefix, or the first frame
    if is_i2v:
        if first_frame.shape[:2] != (b, c) or first_frame.shape[2] < f or first_frame.shape[3:] != (h, w):
            raise ValueError(f"I2V first-frame condition must be [B={b}, C={c}, >={f}, {h}, {w}], got {tuple(first_frame.shape)}")
        clean = first_frame[:, :, :f].to(torch.float32).clone()
    else:
        if first_frame.shape[:2] != (b, c) or first_frame.shape[3:] != (h, w):
            raise ValueError(f"TI2V first frame must be [B={b}, C={c}, >=1, {h}, {w}], got {tuple(first_frame.shape)}")
        clean = torch.zeros(b, c, f, h, w, device=device)
        clean[:, :, 0] = first_frame[:, :, 0].to(torch.float32)
    for i, p in enumerate(prefixes):
        if p is not None:
            clean[i, :, : p.shape[1]] = p.to(torch.float32)

    t = timestep.reshape(-1).to(device)
    t = t.expand(b) if t.numel() == 1 else t
    if t.shape != (b,):
        raise ValueError(f"timestep must be [B={b}], got {tuple(timestep.shape)}")
    if is_i2v:
        mask = known[:, None, :, None, None].expand(b, I2V_MASK_CHANNELS, f, h, w).to(noisy.dtype)
        hidden = torch.cat([noisy, mask, clean.to(noisy.dtype)], dim=1)
        tt = t
        known_in_place = torch.zeros_like(known)
        clean_out = None
    else:
        k5 = known[:, None, :, None, None]
        hidden = torch.where(k5, clean.to(noisy.dtype), noisy)
        tok_known = known[:, ::p_t]  # a token is known when its first latent frame is
        per_frame = (h // p_h) * (w // p_w)
        tt = torch.where(tok_known, torch.zeros((), device=device, dtype=t.dtype), t[:, None])
        tt = tt.repeat_interleave(per_frame, dim=1)  # [B, F/p_t * per_frame], Wan's token order (f, h, w)
        known_in_place = known
        clean_out = clean
    kwargs: dict = {
        "hidden_states": hidden.to(dtype),
        "timestep": tt,
        "encoder_hidden_states": text,
        "anchors": [list(a) for a in anchors] if anchors is not None and any(len(a) for a in anchors) else None,
        "prefix_latents": [None if p is None else p.to(dtype) for p in prefixes] if any(p is not None for p in prefixes)
        else None,
    }
    if image_embeds is not None:
        kwargs["encoder_hidden_states_image"] = image_embeds
    if audio_states is not None:
        n_t = int(config.audio_window) * (f - 1) + 1
        if audio_states.shape[0] != b or audio_states.shape[1] != n_t:
            raise ValueError(f"audio features must be [B={b}, T={n_t}, ...] for {f} latent frames "
                             f"(T = {config.audio_window}*(F-1)+1), got {tuple(audio_states.shape)}")
        kwargs["audio_states"] = audio_states.to(dtype)
        kwargs["audio_mask"] = None if audio_mask is None else audio_mask.to(device)
    return ChunkInputs(kwargs=kwargs, known=known_in_place, clean=clean_out)


__all__ = ["ChunkInputs", "chunk_model_inputs", "I2V_MASK_CHANNELS"]
