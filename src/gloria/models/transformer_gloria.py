"""GloriaTransformer3DModel: Wan's DiT + content-anchor tokens + RoPE as weak condition + audio branch.

A subclass of diffusers' `WanTransformer3DModel`: every Wan module and weight name is kept, so any
diffusers-format Wan2.1/2.2 transformer loads with `from_pretrained`, and called exactly like Wan
(no anchors, no audio) it returns Wan's output. Gloria adds (paper §4.1–4.2):

* **Content anchors and prefix latents** — clean latents patchified by the shared patch embedding and
  appended to the self-attention sequence. Token layout per sample::

      [ video (noisy, F*h*w) | prefix (clean) | anchors (clean) | padding ]

  Order in the sequence carries no meaning (attention is permutation-equivariant); identity lives in
  the RoPE positions: video frame k at t = k; prefix frame k at t = k (the prefix *is* the first
  frames of the chunk, §4.3); anchor of type i, category j at t = o_i + so_j (Eq. 1), spatial
  positions from 0 for every anchor. Clean tokens carry timestep 0 (per-token modulation) and the
  model returns predictions for the video tokens only.
* **Audio branch** — wav2vec2 features → shared projection → windowed cross-attention in a subset of
  blocks (default every other block), parallel to the text/image cross-attention, own output
  projection, value projection zero-initialised. Anchor and prefix tokens get no audio.

Conventions (diffusers' flow matching, as Wan was trained): timestep = 1000·σ, x_σ = (1−σ)·x_clean + σ·noise,
the model predicts noise − x_clean. The paper's Eq. 2 writes the same with t = 1 − σ and v = −(that).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn as nn
from diffusers.configuration_utils import register_to_config
from diffusers.models.modeling_outputs import Transformer2DModelOutput
# diffusers' pipeline loader looks up a component's base classes (ModelMixin) on the module named in
# model_index.json, i.e. this one: the import must stay even though nothing here calls it.
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401
from diffusers.models.transformers.transformer_wan import WanTransformer3DModel, WanTransformerBlock

from gloria.models.anchors import ANCHOR_TYPES, AnchorLatent, check_anchor_counts
from gloria.models.audio import AudioCrossAttention, AudioProjection, audio_windows
from gloria.models.rope import gather_rotary, grid_positions

DEFAULT_ANCHOR_OFFSETS = {"viewpoint": 200, "expression": 400, "global": 600}


@dataclass
class _Modulation:
    """Timestep modulation for a sequence, without materialising `[B, S, 6, dim]`.

    Either per sample (`levels` `[B, 6, dim]`, `index` None) or per token (`levels` `[U, 6, dim]` for
    the U distinct timesteps in the batch and `index` `[B, S]` into them).
    """

    levels: torch.Tensor
    index: torch.Tensor | None

    def params(self, table: torch.Tensor, start: int = 0, stop: int | None = None) -> list[torch.Tensor]:
        """(`table` `[1, n, dim]` + levels)[start:stop] -> tensors broadcastable to `[B, S, dim]` (float32).

        Per-token mode gathers `[B, S, dim]` per parameter: ask for the ones needed now (start/stop) to
        keep the peak at a few activations instead of six.
        """
        stop = table.shape[1] if stop is None else stop
        mod = table[:, start:stop] + self.levels[:, start:stop].float()  # [B or U, k, dim]
        if self.index is None:
            return list(mod.chunk(stop - start, dim=1))  # each [B, 1, dim]
        # F.embedding = mod[:, k][index], with a dense backward (indexing's index_put backward is ~10x slower on CPU)
        return [torch.nn.functional.embedding(self.index, mod[:, k]) for k in range(stop - start)]  # each [B, S, dim]


class GloriaTransformer3DModel(WanTransformer3DModel):
    r"""Wan DiT with content anchors, RoPE as weak condition and an audio branch.

    Args (beyond `WanTransformer3DModel`'s):
        audio_dim: wav2vec2 hidden size (768 base, 1024 large); None builds no audio branch (plain Wan).
        audio_num_layers: wav2vec2 hidden-state layers given per frame (`[B, T, L, d]`), concatenated.
        audio_block_indices: blocks with an audio branch; None = every other block (0, 2, 4, ...).
        audio_window: video frames per latent frame (the VAE's temporal compression).
        anchor_offsets: base temporal RoPE offset o_i per anchor type (paper: 200/400/600).
        rope_weak_condition: False puts every anchor at `anchor_shared_offset` with no category
            sub-offset (the paper's "×RWC" ablation).
        anchor_shared_offset: the one offset used when `rope_weak_condition` is False.
    """

    _no_split_modules = ["WanTransformerBlock", "GloriaTransformerBlock"]
    _repeated_blocks = ["GloriaTransformerBlock"]

    @register_to_config
    def __init__(
        self,
        patch_size: tuple[int, ...] = (1, 2, 2),
        num_attention_heads: int = 40,
        attention_head_dim: int = 128,
        in_channels: int = 16,
        out_channels: int = 16,
        text_dim: int = 4096,
        freq_dim: int = 256,
        ffn_dim: int = 13824,
        num_layers: int = 40,
        cross_attn_norm: bool = True,
        qk_norm: str | None = "rms_norm_across_heads",
        eps: float = 1e-6,
        image_dim: int | None = None,
        added_kv_proj_dim: int | None = None,
        rope_max_seq_len: int = 1024,
        pos_embed_seq_len: int | None = None,
        audio_dim: int | None = 768,
        audio_num_layers: int = 1,
        audio_block_indices: Sequence[int] | None = None,
        audio_window: int = 4,
        anchor_offsets: dict[str, int] | None = None,
        rope_weak_condition: bool = True,
        anchor_shared_offset: int = 600,
    ) -> None:
        super().__init__(
            patch_size=patch_size,
            num_attention_heads=num_attention_heads,
            attention_head_dim=attention_head_dim,
            in_channels=in_channels,
            out_channels=out_channels,
            text_dim=text_dim,
            freq_dim=freq_dim,
            ffn_dim=ffn_dim,
            num_layers=num_layers,
            cross_attn_norm=cross_attn_norm,
            qk_norm=qk_norm,
            eps=eps,
            image_dim=image_dim,
            added_kv_proj_dim=added_kv_proj_dim,
            rope_max_seq_len=rope_max_seq_len,
            pos_embed_seq_len=pos_embed_seq_len,
        )
        offsets = dict(DEFAULT_ANCHOR_OFFSETS if anchor_offsets is None else anchor_offsets)
        if set(offsets) != set(ANCHOR_TYPES):
            raise ValueError(f"anchor_offsets must give exactly {list(ANCHOR_TYPES)}, got {sorted(offsets)}")
        self.anchor_offsets = offsets
        inner_dim = num_attention_heads * attention_head_dim
        latent = out_channels or in_channels
        if in_channels not in (latent, 2 * latent + 4):
            raise ValueError(
                f"in_channels={in_channels} fits neither the TI2V kind (= out_channels {latent}) nor the I2V kind "
                f"(= 2*out_channels+4 = {2 * latent + 4}: noise + mask + first-frame latent)"
            )

        # Wan's blocks become Gloria blocks in place (same parameters; no re-allocation of a 14B model).
        for block in self.blocks:
            block.__class__ = GloriaTransformerBlock
            block.register_module("audio_attn", None)  # set below for the audio blocks
        self.audio_proj = None
        if audio_dim is not None:
            indices = list(range(0, num_layers, 2)) if audio_block_indices is None else list(audio_block_indices)
            bad = [i for i in indices if not 0 <= i < num_layers]
            if bad or len(set(indices)) != len(indices):
                raise ValueError(f"audio_block_indices {indices} must be distinct block indices in 0..{num_layers - 1}")
            self.audio_proj = AudioProjection(audio_dim, audio_num_layers, inner_dim, eps=eps)
            for i in indices:
                self.blocks[i].audio_attn = AudioCrossAttention(inner_dim, num_attention_heads, eps=eps)

    # ------------------------------------------------------------------ properties
    @property
    def latent_channels(self) -> int:
        return self.config.out_channels or self.config.in_channels

    @property
    def is_i2v(self) -> bool:
        """True for the Wan2.1 I2V kind (noise + mask + first-frame latent channels)."""
        return self.config.in_channels != self.latent_channels

    @property
    def audio_attn(self) -> dict[int, AudioCrossAttention]:
        """Block index -> that block's audio cross-attention (only blocks with the audio branch)."""
        return {i: b.audio_attn for i, b in enumerate(self.blocks) if b.audio_attn is not None}

    @property
    def audio_block_indices(self) -> list[int]:
        return sorted(self.audio_attn)

    def anchor_time_position(self, anchor: AnchorLatent) -> int:
        """Temporal RoPE position of an anchor's first latent frame (Eq. 1)."""
        if not self.config.rope_weak_condition:
            return int(self.config.anchor_shared_offset)
        return int(self.anchor_offsets[anchor.type]) + anchor.sub_offset

    # ------------------------------------------------------------------ initialisation
    @torch.no_grad()
    def init_audio_branch(self) -> None:
        """(Re)initialise the audio branch as in the paper: value projections at zero (stage I)."""
        if self.audio_proj is None:
            return
        ref = self.patch_embedding.weight
        for module in [self.audio_proj, *self.audio_attn.values()]:  # noqa: B007
            if any(p.is_meta for p in module.parameters()):
                module.to_empty(device=ref.device)
            module.to(dtype=ref.dtype)
        for lin in (self.audio_proj.linear_1, self.audio_proj.linear_2):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)
        self.audio_proj.norm.reset_parameters()
        self.audio_proj.norm.float()
        for attn in self.audio_attn.values():
            attn.reset_parameters()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Load a Gloria or any diffusers-format Wan2.1/2.2 transformer (hub id or local dir).

        Weights Wan lacks (the audio branch) are created with the paper's initialisation, so a Wan
        checkpoint loads into a model that behaves exactly like Wan until it is trained. Any other
        missing weight is an error.
        """
        want_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(pretrained_model_name_or_path, output_loading_info=True, **kwargs)
        missing = list(info.get("missing_keys", []))
        other = [k for k in missing if not is_audio_key(k)]
        if other:
            raise ValueError(
                f"checkpoint {pretrained_model_name_or_path} lacks weights the model needs: {sorted(other)[:8]}"
                f"{' ...' if len(other) > 8 else ''} (is it a Wan transformer of the same geometry?)"
            )
        if missing:
            model.init_audio_branch()
        return (model, info) if want_info else model

    # ------------------------------------------------------------------ input checks
    def _check_inputs(self, hidden_states, anchors, prefix_latents, audio_states, audio_mask) -> None:
        cfg = self.config
        if hidden_states.ndim != 5:
            raise ValueError(f"hidden_states must be [B, C, F, H, W], got shape {tuple(hidden_states.shape)}")
        b, c, f, h, w = hidden_states.shape
        if c != cfg.in_channels:
            raise ValueError(f"hidden_states has {c} channels; this model takes in_channels={cfg.in_channels}")
        p_t, p_h, p_w = cfg.patch_size
        if f % p_t or h % p_h or w % p_w:
            raise ValueError(f"video latent F, H, W = {f}, {h}, {w} must be multiples of the patch size {cfg.patch_size}")
        lat = self.latent_channels
        if anchors is not None:
            if len(anchors) != b:
                raise ValueError(f"anchors must be a list with one anchor list per sample ({b}), got {len(anchors)}")
            for i, sample in enumerate(anchors):
                check_anchor_counts([a.type for a in sample])
                for a in sample:
                    ca, fa, ha, wa = a.latent.shape
                    if ca != lat:
                        raise ValueError(f"sample {i}: {a.type} anchor latent has {ca} channels, expected {lat}")
                    if fa % p_t or ha % p_h or wa % p_w:
                        raise ValueError(
                            f"sample {i}: {a.type} anchor latent F, H, W = {fa}, {ha}, {wa} must be multiples "
                            f"of the patch size {cfg.patch_size}"
                        )
        if prefix_latents is not None:
            prefixes = list(prefix_latents) if not torch.is_tensor(prefix_latents) else list(prefix_latents.unbind(0))
            if len(prefixes) != b:
                raise ValueError(f"prefix_latents must have one entry per sample ({b}), got {len(prefixes)}")
            for i, p in enumerate(prefixes):
                if p is None:
                    continue
                if p.ndim != 4 or p.shape[0] != lat or tuple(p.shape[2:]) != (h, w) or p.shape[1] % p_t:
                    raise ValueError(
                        f"sample {i}: prefix latent must be [C={lat}, P, H={h}, W={w}] (P a multiple of {p_t}), "
                        f"got {tuple(p.shape)}"
                    )
        if audio_states is not None:
            if self.audio_proj is None:
                raise ValueError("audio_states given but this model has no audio branch (config audio_dim=None)")
            if audio_states.ndim not in (3, 4) or audio_states.shape[0] != b:
                raise ValueError(f"audio_states must be [B, T, d] or [B, T, L, d] with B={b}, got {tuple(audio_states.shape)}")
            feat = audio_states.shape[-1] * (audio_states.shape[2] if audio_states.ndim == 4 else 1)
            if feat != cfg.audio_dim * cfg.audio_num_layers:
                raise ValueError(
                    f"audio_states has {feat} features per frame; the model expects audio_dim*audio_num_layers = "
                    f"{cfg.audio_dim}*{cfg.audio_num_layers}"
                )
            if audio_mask is not None and tuple(audio_mask.shape) != (b,):
                raise ValueError(f"audio_mask must be [B={b}] booleans, got shape {tuple(audio_mask.shape)}")

    # ------------------------------------------------------------------ sequence assembly
    def _clean_input(self, latent: torch.Tensor) -> torch.Tensor:
        """A clean latent `[C, f, h, w]` as patch-embedding input: I2V kind -> [latent, mask=1, latent]."""
        if not self.is_i2v:
            return latent
        ones = latent.new_ones((4,) + tuple(latent.shape[1:]))
        return torch.cat([latent, ones, latent], dim=0)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """`[C, f, h, w]` -> `[f*h*w/patch, dim]` tokens via the shared patch embedding."""
        w = self.patch_embedding.weight
        return self.patch_embedding(x.unsqueeze(0).to(w.dtype)).flatten(2).transpose(1, 2)[0]

    def _clean_tokens(self, prefix, anchors) -> tuple[torch.Tensor, torch.Tensor]:
        """Clean tokens of one sample and their (t, h, w) positions."""
        p_t, p_h, p_w = self.config.patch_size
        tokens, positions = [], []
        device = self.patch_embedding.weight.device
        items = [] if prefix is None else [(prefix, 0)]
        items += [(a.latent, self.anchor_time_position(a)) for a in anchors]
        for latent, t0 in items:
            tokens.append(self._embed(self._clean_input(latent.to(device))))
            _, f, h, w = latent.shape
            positions.append(grid_positions(f // p_t, h // p_h, w // p_w, t0=t0, device=device))
        if not tokens:
            dim = self.patch_embedding.out_channels
            return self.patch_embedding.weight.new_zeros(0, dim), torch.zeros(0, 3, dtype=torch.long, device=device)
        return torch.cat(tokens), torch.cat(positions)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_hidden_states_image: torch.Tensor | None = None,
        return_dict: bool = True,
        attention_kwargs: dict[str, Any] | None = None,
        *,
        anchors: Sequence[Sequence[AnchorLatent]] | None = None,
        prefix_latents: torch.Tensor | Sequence[torch.Tensor | None] | None = None,
        audio_states: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ):
        """Predict the flow velocity of the video tokens.

        Args:
            hidden_states: `[B, C_in, F, H, W]` noisy video latent (I2V kind: noise + mask + image latent).
            timestep: `[B]` (0..1000) or `[B, F*H*W/(p_h*p_w)]` per video token (TI2V kind).
            encoder_hidden_states: `[B, L, text_dim]` text embeddings.
            encoder_hidden_states_image: `[B, 257, image_dim]` CLIP image tokens (I2V kind).
            anchors: per sample, a list of `AnchorLatent` (`[C, f, h, w]` clean latents), may differ per sample.
            prefix_latents: `[B, C, P, H, W]`, or per sample `[C, P, H, W]` / None: clean latents of the
                first P frames of this chunk (the previous chunk's last P frames), at temporal positions 0..P-1.
            audio_states: `[B, T, d]` or `[B, T, L, d]` features at the video frame rate, T = window*(F-1)+1.
            audio_mask: `[B]` bool; False drops that sample's audio (the explicit null audio of CFG).

        Returns:
            `Transformer2DModelOutput(sample=[B, C_out, F, H, W])` (or a tuple) for the video tokens only.
        """
        self._check_inputs(hidden_states, anchors, prefix_latents, audio_states, audio_mask)
        b, _, num_frames, height, width = hidden_states.shape
        p_t, p_h, p_w = self.config.patch_size
        ppf, pph, ppw = num_frames // p_t, height // p_h, width // p_w
        n_video = ppf * pph * ppw
        device = hidden_states.device

        # 1. Video tokens and their positions (Wan's grid).
        video = self.patch_embedding(hidden_states).flatten(2).transpose(1, 2)  # [B, n_video, dim]
        video_pos = grid_positions(ppf, pph, ppw, device=device)

        # 2. Clean tokens (prefix + anchors) per sample, right-padded to a common length.
        if prefix_latents is not None and torch.is_tensor(prefix_latents):
            prefix_latents = list(prefix_latents.unbind(0))
        has_clean = anchors is not None and any(len(a) for a in anchors)
        has_clean = has_clean or (prefix_latents is not None and any(p is not None for p in prefix_latents))
        attn_mask = None
        if has_clean:
            per_sample = [
                self._clean_tokens(
                    None if prefix_latents is None else prefix_latents[i], [] if anchors is None else anchors[i]
                )
                for i in range(b)
            ]
            lengths = [t.shape[0] for t, _ in per_sample]
            n_clean = max(lengths)
            clean = video.new_zeros(b, n_clean, video.shape[-1])
            clean_pos = torch.zeros(b, n_clean, 3, dtype=torch.long, device=device)
            for i, (tok, pos) in enumerate(per_sample):
                clean[i, : lengths[i]] = tok.to(clean.dtype)
                clean_pos[i, : lengths[i]] = pos
            x = torch.cat([video, clean], dim=1)
            positions = torch.cat([video_pos.unsqueeze(0).expand(b, -1, -1), clean_pos], dim=1)
            if min(lengths) != n_clean:  # padding present: mask padded keys out
                valid = torch.arange(n_clean, device=device).unsqueeze(0) < torch.tensor(lengths, device=device)[:, None]
                keys = torch.cat([torch.ones(b, n_video, dtype=torch.bool, device=device), valid], dim=1)
                attn_mask = keys[:, None, None, :]  # [B, 1, 1, S] -> broadcast over heads and queries
        else:
            n_clean = 0
            x = video
            positions = video_pos
        rotary_emb = gather_rotary(self.rope, positions)
        x = x.contiguous()

        # 3. Timestep modulation: Wan's per-sample path when every token shares its sample's timestep.
        if timestep.ndim == 2 and timestep.shape[1] != n_video:
            raise ValueError(f"per-token timestep has {timestep.shape[1]} entries; the video has {n_video} tokens")
        if timestep.ndim == 1 and n_clean == 0:
            temb, tproj, text, image = self.condition_embedder(timestep, encoder_hidden_states, encoder_hidden_states_image)
            mod = _Modulation(tproj.unflatten(1, (6, -1)), None)
            head = _Modulation(temb.unsqueeze(1), None)
        else:
            tok_t = timestep[:, None].expand(b, n_video) if timestep.ndim == 1 else timestep
            if n_clean:
                tok_t = torch.cat([tok_t, tok_t.new_zeros(b, n_clean)], dim=1)
            levels, index = torch.unique(tok_t, return_inverse=True)
            temb, tproj, text, image = self.condition_embedder(levels, encoder_hidden_states, encoder_hidden_states_image)
            mod = _Modulation(tproj.unflatten(1, (6, -1)), index)
            head = _Modulation(temb.unsqueeze(1), index[:, :n_video])
        if image is not None:
            text = torch.cat([image, text], dim=1)

        # 4. Audio: project once, cut into one window per latent frame.
        audio = None
        if audio_states is not None and len(self.audio_attn):
            feats = audio_states.flatten(2) if audio_states.ndim == 4 else audio_states
            proj = self.audio_proj(feats.to(self.audio_proj.linear_1.weight.dtype))
            audio = audio_windows(proj, ppf, self.config.audio_window)
            if audio_mask is not None:
                audio_mask = audio_mask.to(device=device, dtype=x.dtype)[:, None, None]

        # 5. Blocks.
        for block in self.blocks:
            args = (x, text, mod, rotary_emb, attn_mask, audio, audio_mask, ppf, n_video)
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                x = self._gradient_checkpointing_func(block, *args)
            else:
                x = block(*args)

        # 6. Output head on the video tokens only, unpatchify.
        x = x[:, :n_video]
        shift, scale = head.params(self.scale_shift_table.to(x.device))
        x = (self.norm_out(x.float()) * (1 + scale) + shift).type_as(x)
        x = self.proj_out(x)
        x = x.reshape(b, ppf, pph, ppw, p_t, p_h, p_w, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
        out = x.flatten(6, 7).flatten(4, 5).flatten(2, 3)
        if not return_dict:
            return (out,)
        return Transformer2DModelOutput(sample=out)


class GloriaTransformerBlock(WanTransformerBlock):
    """A Wan block (same parameters, same arithmetic) + an optional parallel audio cross-attention.

    `audio_attn` is None in blocks without the audio branch. The audio branch lives inside the block so
    that per-block wrappers (FSDP2 `fully_shard`, activation checkpointing, offload hooks) see all of a
    block's parameters through the block's own `__call__`.
    """

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        temb: _Modulation,
        rotary_emb: tuple[torch.Tensor, torch.Tensor],
        attn_mask: torch.Tensor | None = None,
        audio: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
        latent_frames: int = 0,
        n_video: int = 0,
    ) -> torch.Tensor:
        """`hidden_states` `[B, S, dim]` (video tokens first), `audio` `[B, F, window, dim]` or None."""
        x = hidden_states
        shift_msa, scale_msa, gate_msa = temb.params(self.scale_shift_table, 0, 3)

        # 1. Self-attention over video + prefix + anchor tokens.
        normed = (self.norm1(x.float()) * (1 + scale_msa) + shift_msa).type_as(x)
        attn = self.attn1(normed, None, attn_mask, rotary_emb)
        x = (x.float() + attn * gate_msa).type_as(x)

        # 2. Cross-attention: text/image for every token; audio (windowed) for video tokens only.
        normed = self.norm2(x.float()).type_as(x)
        x = x + self.attn2(normed, encoder_hidden_states, None, None)
        if self.audio_attn is not None and audio is not None:
            a = self.audio_attn(normed[:, :n_video], audio.to(normed.dtype), latent_frames)
            if audio_mask is not None:
                a = a * audio_mask
            x = torch.cat([x[:, :n_video] + a, x[:, n_video:]], dim=1) if x.shape[1] > n_video else x + a

        # 3. Feed-forward.
        del shift_msa, scale_msa, gate_msa
        c_shift, c_scale, c_gate = temb.params(self.scale_shift_table, 3, 6)
        normed = (self.norm3(x.float()) * (1 + c_scale) + c_shift).type_as(x)
        ff = self.ffn(normed)
        return (x.float() + ff.float() * c_gate).type_as(x)


def is_audio_key(name: str) -> bool:
    """True for parameters of the audio branch (absent from Wan checkpoints)."""
    return name.startswith("audio_proj.") or ".audio_attn." in name


def count_tokens(
    config: dict, frames: int, height: int, width: int, anchor_sizes: Sequence[tuple[int, int]] = (),
    prefix_frames: int = 0, vae_temporal: int = 4, vae_spatial: int = 8,
) -> dict[str, int]:
    """Token counts for a video of `frames` x `height` x `width` pixels plus anchors (pixel sizes).

    Returns a dict with `video`, `prefix`, `anchors` and `total` token counts.
    """
    p_t, p_h, p_w = config["patch_size"]
    lat_f = (frames - 1) // vae_temporal + 1
    per_frame = (height // vae_spatial // p_h) * (width // vae_spatial // p_w)
    video = (lat_f // p_t) * per_frame
    prefix = (prefix_frames // p_t) * per_frame
    anchors = sum((h // vae_spatial // p_h) * (w // vae_spatial // p_w) for h, w in anchor_sizes)
    return {"latent_frames": lat_f, "video": video, "prefix": prefix, "anchors": anchors, "total": video + prefix + anchors}


__all__ = ["GloriaTransformer3DModel", "GloriaTransformerBlock", "count_tokens", "is_audio_key", "DEFAULT_ANCHOR_OFFSETS"]
