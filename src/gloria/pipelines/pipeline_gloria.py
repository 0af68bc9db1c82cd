"""GloriaPipeline: minutes-long character video from a first frame + text + audio + content anchors.

A diffusers `DiffusionPipeline` that reuses `WanImageToVideoPipeline`'s prompt encoding (UMT5, 512
tokens), CLIP image encoding and first-frame latent preparation unchanged, and adds (paper §4.3, §7.2):

* chunk-wise autoregressive generation: chunk k > 0 gets the previous chunk's last 4 clean latent frames
  as prefix tokens (temporal positions 0..3), re-generates them and the overlap is blended in latent
  space with w = [1, .67, .33, 0] (`w * x_prev + (1 - w) * x_next`);
* content anchors (global = the first frame by default, viewpoint, expression), VAE-encoded once per
  video and attached to every chunk;
* audio (wav2vec2) features sliced per chunk by exact frame <-> sample arithmetic;
* CFG over text and audio, cond/uncond batched in one forward;
* streaming output: each chunk's final latent frames are decoded (causal VAE, caches kept across chunks)
  and encoded to H.264 right away; the MP4 is assembled (remux + AAC) at the end; constant memory;
* resumable: the state after every chunk is saved next to the output (`<out>.gloria-state/`).

What the transformer receives for a chunk is defined once, in `gloria.models.chunk_inputs` (the trainer
calls the same function): chunk 0 knows its first latent frame, chunk k > 0 its first P = 4 (the prefix),
given through the model kind's first-frame mechanism (I2V: mask + condition channels; TI2V: clean in
place, timestep 0) and as prefix tokens. CLIP image tokens of the first frame go to every chunk.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence, Callable

import numpy as np
import torch
from diffusers import AutoencoderKLWan, DiffusionPipeline, WanImageToVideoPipeline
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from diffusers.video_processor import VideoProcessor

# diffusers' loader resolves the transformer's library from model_index.json ("gloria.models.transformer_gloria")
# only if that module is already imported: importing it here makes a saved pipeline load in a fresh process.
import gloria.models.transformer_gloria  # noqa: F401
from gloria.models.anchors import AnchorLatent
from gloria.pipelines.anchor_set import AnchorSet, cover_crop, encode_image_latent, load_rgb_image
from gloria.pipelines.audio import AudioFeaturizer, AudioInput, load_audio
from gloria.pipelines.chunking import (
    as_fraction, blend_overlap, frames_for_samples, frames_for_seconds, plan_chunks, video_frames_of_latents,
)
from gloria.pipelines.video_io import StreamingVAEDecoder, assemble_mp4, to_uint8_frames, write_segment

STATE_VERSION = 1
DEFAULT_NEGATIVE_PROMPT = (
    "Bright tones, overexposed, static, blurred details, subtitles, style, works, paintings, images, static, overall "
    "gray, worst quality, low quality, JPEG compression residue, ugly, incomplete, extra fingers, poorly drawn hands, "
    "poorly drawn faces, deformed, disfigured, misshapen limbs, fused fingers, still picture, messy background, three "
    "legs, many people in the background, walking backwards"
)  # Wan's own negative prompt (diffusers' Wan examples)


@dataclass
class GloriaPipelineOutput(BaseOutput):
    """Result of a generation. `path` is None when `output_path` was None (latents/frames only)."""

    path: str | None
    num_frames: int
    fps: float
    seconds: float
    num_chunks: int
    elapsed_s: float
    chunk_times_s: list = field(default_factory=list)
    frames: np.ndarray | None = None   # [N, H, W, 3] uint8 when return_frames=True
    latents: torch.Tensor | None = None  # [1, C, G, h, w] when return_latents=True


def state_dir_for(output_path: str | os.PathLike) -> Path:
    p = Path(output_path)
    return p.with_name(p.name + ".gloria-state")


class GloriaPipeline(DiffusionPipeline):
    r"""Long character video with Gloria (Wan + content anchors + audio).

    Components: `tokenizer`/`text_encoder` (UMT5), `vae` (`AutoencoderKLWan`), `scheduler` (flow matching with
    Wan's shift), `transformer` (`GloriaTransformer3DModel`), optional `image_encoder`/`image_processor`
    (CLIP vision, I2V kind) and `audio_encoder`/`feature_extractor` (wav2vec2).
    """

    model_cpu_offload_seq = "text_encoder->image_encoder->audio_encoder->transformer->vae"
    _optional_components = ["image_encoder", "image_processor", "audio_encoder", "feature_extractor"]

    # Reused unchanged from diffusers' Wan image-to-video pipeline.
    _get_t5_prompt_embeds = WanImageToVideoPipeline._get_t5_prompt_embeds
    encode_prompt = WanImageToVideoPipeline.encode_prompt
    encode_image = WanImageToVideoPipeline.encode_image
    prepare_latents = WanImageToVideoPipeline.prepare_latents

    def __init__(self, tokenizer, text_encoder, vae: AutoencoderKLWan, scheduler, transformer,
                 image_processor=None, image_encoder=None, audio_encoder=None, feature_extractor=None,
                 expand_timesteps: bool | None = None, max_sequence_length: int = 512):
        super().__init__()
        self.register_modules(
            vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, image_encoder=image_encoder,
            transformer=transformer, scheduler=scheduler, image_processor=image_processor,
            audio_encoder=audio_encoder, feature_extractor=feature_extractor,
        )
        if expand_timesteps is None:
            expand_timesteps = bool(transformer is not None and not transformer.is_i2v)
        elif transformer is not None and bool(expand_timesteps) == transformer.is_i2v:
            raise ValueError(f"expand_timesteps={expand_timesteps} does not fit the transformer: it is the "
                             f"{'I2V' if transformer.is_i2v else 'TI2V'} kind (expand_timesteps="
                             f"{not transformer.is_i2v}); leave it unset")
        # text tokens per prompt: part of the model's contract (the demo model trained with 32), saved with it
        self.register_to_config(expand_timesteps=expand_timesteps, max_sequence_length=int(max_sequence_length))
        self.vae_scale_factor_temporal = self.vae.config.scale_factor_temporal if getattr(self, "vae", None) else 4
        self.vae_scale_factor_spatial = self.vae.config.scale_factor_spatial if getattr(self, "vae", None) else 8
        self.video_processor = VideoProcessor(vae_scale_factor=self.vae_scale_factor_spatial)

    # ------------------------------------------------------------------ assembly
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> "GloriaPipeline":
        """Load a saved `GloriaPipeline` (folder or hub id), or a diffusers Wan I2V/TI2V one, converted on the fly.

        A Wan folder (`_class_name` WanImageToVideoPipeline / WanPipeline) is assembled with `from_wan`: its
        transformer becomes a `GloriaTransformer3DModel` (the audio branch only with `wav2vec2_path=...`,
        initialised at zero as in stage I). Any other pipeline class is an error naming what was found.
        """
        wav2vec2_path = kwargs.pop("wav2vec2_path", None)
        path = Path(str(pretrained_model_name_or_path))
        if path.is_dir():
            index = path / "model_index.json"
            if not index.is_file():
                raise ValueError(f"{path} has no model_index.json: not a diffusers pipeline folder (a GloriaPipeline "
                                 f"saved with save_pretrained, or a diffusers Wan I2V/TI2V folder)")
            config = json.loads(index.read_text())
        else:
            config = cls.load_config(pretrained_model_name_or_path, **{k: kwargs[k] for k in (
                "cache_dir", "local_files_only", "revision", "token") if k in kwargs})
        name = config.get("_class_name")
        if name in ("WanImageToVideoPipeline", "WanPipeline"):
            import logging

            logging.getLogger(__name__).info(
                "%s is a %s folder: assembling it with GloriaPipeline.from_wan", pretrained_model_name_or_path, name)
            return cls.from_wan(pretrained_model_name_or_path, wav2vec2_path, **kwargs)
        if name != cls.__name__:
            raise ValueError(f"{pretrained_model_name_or_path} holds a {name} pipeline; GloriaPipeline.from_pretrained "
                             f"loads a saved GloriaPipeline, or a Wan I2V/TI2V pipeline through GloriaPipeline.from_wan")
        if wav2vec2_path is not None:
            raise ValueError("wav2vec2_path is only for Wan folders; a saved GloriaPipeline has its own audio_encoder")
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    @classmethod
    def from_wan(cls, wan_path: str | os.PathLike, wav2vec2_path: str | os.PathLike | None = None,
                 torch_dtype: torch.dtype | None = None, **kwargs) -> "GloriaPipeline":
        """Assemble from a diffusers Wan I2V / TI2V checkpoint (hub id or folder) and optionally a wav2vec2 one.

        The transformer is loaded as `GloriaTransformer3DModel` (the audio branch, absent from Wan, is
        initialised as in the paper's stage I, value projections zero, so it adds nothing until trained).
        """
        from gloria.models.transformer_gloria import GloriaTransformer3DModel
        from gloria.pipelines.audio import load_audio_encoder

        dt = {} if torch_dtype is None else {"torch_dtype": torch_dtype}
        wan = WanImageToVideoPipeline.from_pretrained(wan_path, transformer=None, **dt, **kwargs)
        audio_dim = None
        audio_encoder = feature_extractor = None
        if wav2vec2_path is not None:
            audio_encoder, feature_extractor = load_audio_encoder(wav2vec2_path)
            audio_dim = audio_encoder.config.hidden_size
        transformer = GloriaTransformer3DModel.from_pretrained(
            wan_path, subfolder="transformer", audio_dim=audio_dim, **dt, **kwargs
        )
        return cls(
            tokenizer=wan.tokenizer, text_encoder=wan.text_encoder, vae=wan.vae, scheduler=wan.scheduler,
            transformer=transformer, image_processor=wan.image_processor, image_encoder=wan.image_encoder,
            audio_encoder=audio_encoder, feature_extractor=feature_extractor,
        )

    # ------------------------------------------------------------------ helpers
    @property
    def size_multiple(self) -> int:
        """Height and width must be multiples of this (VAE spatial factor x patch size)."""
        return self.vae_scale_factor_spatial * self.transformer.config.patch_size[1]

    def check_size(self, height: int, width: int) -> None:
        m = self.size_multiple
        if height <= 0 or width <= 0 or height % m or width % m:
            raise ValueError(
                f"size {height}x{width} (HxW) must be positive multiples of {m} "
                f"(VAE spatial factor {self.vae_scale_factor_spatial} x patch size {self.transformer.config.patch_size[1]})"
            )

    def _audio_sample_rate(self) -> int:
        return int(getattr(self.feature_extractor, "sampling_rate", 16000) or 16000)

    def _encode_conditions(self, image, prompt, negative_prompt, anchors, first_frame_as_global, height, width,
                           num_latent_frames, generator, device, max_sequence_length, viewpoint_size,
                           expression_size) -> dict:
        """Everything computed once per video (saved in the resume state): text, CLIP, condition and anchor latents."""
        tdtype = self.transformer.dtype
        prompt_embeds, negative_embeds = self.encode_prompt(
            prompt=[text for _, text in prompt], negative_prompt=negative_prompt, do_classifier_free_guidance=True,
            num_videos_per_prompt=1, max_sequence_length=max_sequence_length, device=device,
        )  # [n_prompts, L, D]; negative broadcast to n_prompts rows (identical)
        negative_embeds = negative_embeds[:1]
        image_embeds = None
        if self.transformer.config.image_dim is not None:
            if self.image_encoder is None or self.image_processor is None:
                raise ValueError("this transformer takes CLIP image tokens (image_dim set) but the pipeline has no image_encoder")
            image_embeds = self.encode_image(image, device).to(tdtype)
        # First-frame condition exactly as diffusers' WanImageToVideoPipeline.prepare_latents. The noise it
        # draws is chunk 0's initial noise (same generator call order as diffusers).
        pixel = self.video_processor.preprocess(image, height=height, width=width).to(device, dtype=torch.float32)
        num_frames = self.vae_scale_factor_temporal * (num_latent_frames - 1) + 1
        out = self.prepare_latents(pixel, 1, self.vae.config.z_dim, height, width, num_frames, torch.float32, device,
                                   generator, None, None)
        if self.config.expand_timesteps:
            noise0, condition, _ = out
        else:
            noise0, condition = out
        anchor_latents: list[AnchorLatent] = []
        if anchors is not None:
            anchor_latents = anchors.encode(self.vae, height, width, self.size_multiple, device,
                                            viewpoint_size, expression_size)
        if first_frame_as_global and (anchors is None or anchors.global_anchor is None):
            anchor_latents.insert(0, AnchorLatent(encode_image_latent(self.vae, image, device), "global"))
        return {
            "prompt_embeds": prompt_embeds.to(tdtype), "negative_prompt_embeds": negative_embeds.to(tdtype),
            "image_embeds": image_embeds, "condition": condition, "noise0": noise0,
            "anchors": [(a.latent, a.type, a.category) for a in anchor_latents],
        }

    # ------------------------------------------------------------------ one chunk
    def _denoise_chunk(self, chunk, enc: dict, latents: torch.Tensor, prefix: torch.Tensor | None,
                       audio_feats: torch.Tensor | None, guidance_scale: float, audio_guidance_scale: float,
                       num_inference_steps: int, batch_cfg: bool, step_bar=None,
                       attention_kwargs=None, prompt_index: int = 0) -> torch.Tensor:
        """Denoise one chunk. `latents` `[1, C, F, h, w]` initial noise (float32) -> clean latents `[1, C, F, h, w]`."""
        device = latents.device
        tr = self.transformer
        anchors = [AnchorLatent(lat.to(device), t, c) for lat, t, c in enc["anchors"]]

        # Rows of the CFG batch: (text embeds, audio on?)
        has_audio = audio_feats is not None
        pos, neg = enc["prompt_embeds"][prompt_index : prompt_index + 1], enc["negative_prompt_embeds"]
        if has_audio and guidance_scale != audio_guidance_scale and (guidance_scale > 1 or audio_guidance_scale > 1):
            rows = [(pos, True), (neg, True), (neg, False)]  # cond, text dropped, both dropped
        elif guidance_scale > 1:
            rows = [(pos, True), (neg, False)]
        else:
            rows = [(pos, True)]

        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps

        def forward(x, t, idx):
            inputs = self._model_inputs(enc, x, t, prefix, anchors, audio_feats, rows, idx)
            return tr(**inputs.kwargs, attention_kwargs=attention_kwargs, return_dict=False)[0], inputs

        inputs = None
        for t in timesteps:
            if batch_cfg:
                out, inputs = forward(latents, t, list(range(len(rows))))
                preds = list(out.float().split(1))
            else:
                preds = []
                for i in range(len(rows)):
                    out, inputs = forward(latents, t, [i])
                    preds.append(out.float())
            if len(rows) == 1:
                noise_pred = preds[0]
            elif len(rows) == 2:
                noise_pred = preds[1] + guidance_scale * (preds[0] - preds[1])
            else:
                c, no_text, unc = preds
                noise_pred = unc + guidance_scale * (c - no_text) + audio_guidance_scale * (no_text - unc)
            latents = self.scheduler.step(noise_pred, t, latents, return_dict=False)[0]
            if step_bar is not None:
                step_bar.update()
        if inputs is not None:  # TI2V: the known frames (first frame / prefix) keep their clean values
            latents = inputs.reset_known(latents)
        return latents

    def _model_inputs(self, enc: dict, latents: torch.Tensor, t: torch.Tensor, prefix: torch.Tensor | None,
                      anchors: list, audio_feats: torch.Tensor | None, rows: list, idx: list[int]):
        """The transformer's inputs for CFG rows `idx` of a chunk (`gloria.models.chunk_inputs`, shared with training).

        `latents` `[1, C, F, h, w]` current noisy latents, `t` the scheduler timestep (1000 sigma), `prefix`
        `[1, C, P, h, w]` the previous chunk's last clean latents (None for chunk 0), `rows` (text embeds,
        audio on?) per CFG row.
        """
        from gloria.models.chunk_inputs import chunk_model_inputs

        tr = self.transformer
        b, f = len(idx), latents.shape[2]
        first = enc["condition"]
        if tr.is_i2v:
            first = first[:, -self.vae.config.z_dim:]  # drop the mask channels of diffusers' prepare_latents
        first = first[:, :, :f]
        img = enc["image_embeds"]
        return chunk_model_inputs(
            tr.config, latents.expand(b, *latents.shape[1:]), t.reshape(1).expand(b),
            torch.cat([rows[i][0] for i in idx]),
            first_frame=first.expand(b, *first.shape[1:]),
            prefix=None if prefix is None else prefix.expand(b, *prefix.shape[1:]),
            anchors=[anchors] * b if anchors else None,
            image_embeds=None if img is None else img.expand(b, *img.shape[1:]),
            audio_states=None if audio_feats is None else audio_feats.expand(b, *audio_feats.shape[1:]),
            audio_mask=None if audio_feats is None else torch.tensor([rows[i][1] for i in idx], device=latents.device),
            dtype=tr.dtype,
        )

    # ------------------------------------------------------------------ call
    @torch.no_grad()
    def __call__(
        self,
        image,
        prompt: str | Sequence[tuple[float, str]],
        negative_prompt: str | None = DEFAULT_NEGATIVE_PROMPT,
        audio: str | os.PathLike | np.ndarray | torch.Tensor | None = None,
        audio_sample_rate: int | None = None,
        anchors: AnchorSet | str | os.PathLike | None = None,
        seconds: float | None = None,
        num_frames: int | None = None,
        fps: float = 24,
        height: int = 480,
        width: int = 832,
        num_inference_steps: int = 30,
        guidance_scale: float = 3.5,
        audio_guidance_scale: float | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        chunk_frames: int = 81,
        output_path: str | os.PathLike | None = "out.mp4",
        resume: bool = False,
        save_state: bool = True,
        first_frame_as_global: bool = True,
        batch_cfg: bool = True,
        max_sequence_length: int | None = None,
        viewpoint_size: tuple[int, int] | None = None,
        expression_size: tuple[int, int] | None = None,
        audio_context_s: float = 1.0,
        return_frames: bool = False,
        return_latents: bool = False,
        progress: bool = True,
        callback_on_chunk_end: Callable[["GloriaPipeline", int, dict], None] | None = None,
        attention_kwargs: dict | None = None,
    ) -> GloriaPipelineOutput:
        r"""Generate a video and stream it to `output_path` (MP4, H.264 + AAC when audio is given).

        Args:
            image: first frame (path or PIL RGB image); resized to cover `height x width` and centre-cropped.
                It is also the global anchor unless `anchors` has one or `first_frame_as_global=False`.
            prompt / negative_prompt: text (negative = the unconditional text of CFG). `prompt` may also be a
                schedule `[(start_s, text), ...]` (first start 0, increasing): each chunk uses the entry active at
                its first frame's time, so a minutes-long video can follow a script.
            audio: path (any format FFmpeg reads) or array (+ `audio_sample_rate`). Its length gives the
                duration when neither `seconds` nor `num_frames` is given.
            anchors: `AnchorSet` or path of an `anchors.yaml`.
            seconds / num_frames: duration; output frames N = round(seconds * fps) (exact count, see
                `gloria.pipelines.chunking`).
            guidance_scale / audio_guidance_scale: CFG scales for text and audio (paper: 3.5). With audio and
                different scales: `unc + s_t (cond - no_text) + s_a (no_text - unc)`; equal scales (the default)
                reduce to one-scale CFG with (negative text, null audio) as the unconditional.
            chunk_frames: video frames per chunk, 4k+1 (81 = Wan's 5 s at 16 fps; 3.4 s at 24 fps).
            output_path: MP4 path (temp name, renamed when complete); None = no file (use `return_frames`).
            resume: continue from `<output_path>.gloria-state/` (same arguments required).
            batch_cfg: cond/uncond rows in one forward (False: one forward per row, less memory).
            callback_on_chunk_end: `f(pipe, chunk_index, info)` after each chunk; info has "plan", "chunk",
                "raw" (chunk latents before the blend), "latents" (after), "prefix", "frames" (uint8 written).
        """
        t_start = time.perf_counter()
        if max_sequence_length is None:
            max_sequence_length = int(self.config.get("max_sequence_length", 512))
        device = self._execution_device
        if self.transformer is None:
            raise ValueError("the pipeline has no transformer")
        fpsf = as_fraction(fps)
        self.check_size(height, width)
        if audio_guidance_scale is None:
            audio_guidance_scale = guidance_scale
        if num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {num_inference_steps}")

        # ---- output path checks first (nothing is computed for an unwritable destination)
        out_path = None if output_path is None else Path(output_path)
        state_dir = None
        if out_path is not None:
            if out_path.suffix.lower() != ".mp4":
                raise ValueError(f"output {out_path} must end in .mp4")
            if out_path.is_dir():
                raise ValueError(f"output {out_path} is a directory")
            parent = out_path.parent
            if not parent.is_dir():
                raise FileNotFoundError(f"output folder does not exist: {parent}")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ValueError(f"output folder is not writable: {parent}")
            if out_path.exists() and not os.access(out_path, os.W_OK):
                raise ValueError(f"output {out_path} exists and is not writable")
            state_dir = state_dir_for(out_path)
            if (state_dir / "state.pt").exists() and not resume:
                raise ValueError(
                    f"{state_dir} holds the state of an unfinished run; pass resume=True (--resume) to continue it, "
                    f"or delete it"
                )

        # ---- inputs
        prompt = prompt_schedule(prompt)
        image_pil = cover_crop(load_rgb_image(image, what="image"), height, width)
        if isinstance(anchors, (str, os.PathLike)):
            anchors = AnchorSet.from_yaml(anchors)
        audio_in: AudioInput | None = None
        if audio is not None:
            if self.transformer.audio_proj is None:
                raise ValueError("audio given but the transformer has no audio branch (config audio_dim=None)")
            if self.audio_encoder is None:
                raise ValueError("audio given but the pipeline has no audio_encoder (wav2vec2)")
            want = self.transformer.config.audio_dim
            if self.audio_encoder.config.hidden_size != want:
                raise ValueError(f"audio_encoder hidden size {self.audio_encoder.config.hidden_size} != transformer "
                                 f"audio_dim {want}")
            audio_in = load_audio(audio, self._audio_sample_rate(), audio_sample_rate)
        if num_frames is not None:
            if int(num_frames) < 1:
                raise ValueError(f"num_frames must be >= 1, got {num_frames}")
            n_out = int(num_frames)
        elif seconds is not None:
            n_out = frames_for_seconds(seconds, fpsf)
        elif audio_in is not None:
            n_out = frames_for_samples(audio_in.num_samples, audio_in.sample_rate, fpsf)
            if n_out < 1:
                raise ValueError(f"audio {audio_in.source or '<array>'} is shorter than one frame")
        else:
            raise ValueError("give seconds (or num_frames), or audio to take the duration from")
        if audio_in is not None:
            have = frames_for_samples(audio_in.num_samples, audio_in.sample_rate, fpsf)
            if have < n_out:
                raise ValueError(
                    f"audio {audio_in.source or '<array>'} is {audio_in.seconds:.3f} s long, shorter than the requested "
                    f"{float(Fraction(n_out) / fpsf):.3f} s ({n_out} frames at {float(fpsf):g} fps)"
                )
        plan = plan_chunks(n_out, chunk_frames, overlap=4, temporal=self.vae_scale_factor_temporal)

        if generator is None:
            generator = torch.Generator(device=device).manual_seed(0 if seed is None else int(seed))
        fingerprint = self._fingerprint(image_pil, prompt, negative_prompt, audio_in, anchors, n_out, fpsf, height,
                                        width, num_inference_steps, guidance_scale, audio_guidance_scale, seed,
                                        chunk_frames, first_frame_as_global, viewpoint_size, expression_size)

        # ---- fresh start or resume
        decoder = StreamingVAEDecoder(self.vae)
        start_chunk, tail, frames_written = 0, None, 0
        enc = None
        chunk_times: list[float] = []
        if state_dir is not None and resume and (state_dir / "state.pt").is_file():
            st = torch.load(state_dir / "state.pt", map_location="cpu", weights_only=True)
            if st.get("version") != STATE_VERSION or st.get("fingerprint") != fingerprint:
                raise ValueError(f"{state_dir} was written by a run with different inputs or settings; "
                                 f"use the same arguments to resume, or delete it")
            enc = _to_device(torch.load(state_dir / "encoders.pt", map_location="cpu", weights_only=True), device)
            start_chunk, frames_written = int(st["next_chunk"]), int(st["frames_written"])
            tail = None if st["tail"] is None else st["tail"].to(device)
            generator.set_state(st["rng"])
            decoder.load_state_dict(_to_device(st["decoder"], device))
            chunk_times = list(st.get("chunk_times", []))
            for seg in state_dir.glob("seg_*.mp4"):
                if int(seg.stem.split("_")[1]) >= start_chunk:
                    seg.unlink()
        elif state_dir is not None:  # the segments live there even when no resume state is saved
            if state_dir.exists():  # leftovers of a run that stopped before its first chunk
                for p in state_dir.iterdir():
                    p.unlink()
            state_dir.mkdir(exist_ok=True)

        if enc is None:
            enc = self._encode_conditions(image_pil, prompt, negative_prompt, anchors, first_frame_as_global, height,
                                          width, plan.chunks[0].frames, generator, device, max_sequence_length, viewpoint_size, expression_size)
            if state_dir is not None and save_state:
                _atomic_save(_to_device(enc, "cpu"), state_dir / "encoders.pt")
        featurizer = None
        if audio_in is not None:
            featurizer = AudioFeaturizer(self.audio_encoder, self.feature_extractor, audio_in, fpsf,
                                         self.transformer.config.audio_num_layers, audio_context_s)

        # ---- chunk loop
        from tqdm.auto import tqdm

        h_lat, w_lat = height // self.vae_scale_factor_spatial, width // self.vae_scale_factor_spatial
        all_frames: list[np.ndarray] = []
        all_latents: list[torch.Tensor] = []
        chunk_bar = tqdm(total=len(plan), initial=start_chunk, desc="chunks", unit="chunk", disable=not progress)
        try:
            for chunk in plan.chunks[start_chunk:]:
                t0 = time.perf_counter()
                if chunk.index == 0:
                    latents = enc["noise0"].to(device)
                else:
                    latents = randn_tensor((1, self.vae.config.z_dim, chunk.frames, h_lat, w_lat),
                                           generator=generator, device=device, dtype=torch.float32)
                feats = None
                if featurizer is not None:
                    feats = featurizer.features(chunk.first_video_frame, chunk.video_frames, device)[None]
                with tqdm(total=num_inference_steps, desc=f"chunk {chunk.index + 1}/{len(plan)}", unit="step",
                          leave=False, disable=not progress) as step_bar:
                    raw = self._denoise_chunk(chunk, enc, latents, tail, feats, guidance_scale, audio_guidance_scale,
                                              num_inference_steps, batch_cfg, step_bar, attention_kwargs,
                                              prompt_at(prompt, Fraction(chunk.first_video_frame) / fpsf))
                x = raw.clone()
                if tail is not None:
                    x[:, :, : chunk.overlap] = blend_overlap(tail, raw[:, :, : chunk.overlap])
                prefix_used = tail
                n_final = chunk.final_end - chunk.start
                final = x[:, :, :n_final]
                tail = x[:, :, chunk.frames - plan.overlap:] if chunk.index < len(plan) - 1 else None
                # decode the now-final latent frames and write them
                video = decoder.decode(final)
                a, b = video_frames_of_latents(chunk.start, chunk.final_end, plan.temporal)
                frames = to_uint8_frames(video)
                assert frames.shape[0] == b - a, (frames.shape, a, b)
                frames = frames[: max(0, min(b, n_out) - a)]
                if out_path is not None and frames.shape[0]:
                    write_segment(state_dir / f"seg_{chunk.index:05d}.mp4", frames, fpsf)
                frames_written += frames.shape[0]
                if return_frames:
                    all_frames.append(frames)
                if return_latents:
                    all_latents.append(final.cpu())
                chunk_times.append(time.perf_counter() - t0)
                if state_dir is not None and save_state:
                    _atomic_save({
                        "version": STATE_VERSION, "fingerprint": fingerprint, "next_chunk": chunk.index + 1,
                        "frames_written": frames_written, "tail": None if tail is None else tail.cpu(),
                        "rng": generator.get_state(), "decoder": _to_device(decoder.state_dict(), "cpu"),
                        "chunk_times": chunk_times,
                    }, state_dir / "state.pt")
                if callback_on_chunk_end is not None:
                    callback_on_chunk_end(self, chunk.index, {
                        "plan": plan, "chunk": chunk, "raw": raw, "latents": x, "prefix": prefix_used,
                        "frames": frames,
                    })
                chunk_bar.update()
        finally:
            chunk_bar.close()
        if frames_written != n_out:
            raise RuntimeError(f"internal error: wrote {frames_written} frames, expected {n_out}")

        # ---- assemble the MP4
        if out_path is not None:
            segs = sorted(state_dir.glob("seg_*.mp4"), key=lambda p: int(p.stem.split("_")[1]))
            assemble_mp4(segs, out_path, fpsf, n_out, audio_in)
            for p in state_dir.iterdir():
                p.unlink()
            state_dir.rmdir()
        self.maybe_free_model_hooks()
        elapsed = time.perf_counter() - t_start
        return GloriaPipelineOutput(
            path=None if out_path is None else str(out_path), num_frames=n_out, fps=float(fpsf),
            seconds=float(Fraction(n_out) / fpsf), num_chunks=len(plan), elapsed_s=elapsed, chunk_times_s=chunk_times,
            frames=np.concatenate(all_frames) if return_frames and all_frames else None,
            latents=torch.cat(all_latents, dim=2) if return_latents and all_latents else None,
        )

    def _fingerprint(self, image, prompt, negative_prompt, audio_in, anchors, n_out, fps, height, width, steps, g, ga,
                     seed, chunk_frames, ffg, vsize, esize) -> str:
        h = hashlib.sha256()
        h.update(np.asarray(image).tobytes())
        if audio_in is not None:
            h.update(audio_in.waveform.tobytes())
        for a in anchors or []:
            h.update(f"{a.type}/{a.category}".encode())
            h.update(np.asarray(a.image).tobytes())
        h.update(json.dumps([prompt, negative_prompt, n_out, str(fps), height, width, steps, g, ga, seed, chunk_frames,
                             ffg, vsize, esize, str(self.transformer.dtype)], default=str).encode())
        return h.hexdigest()


def prompt_schedule(prompt) -> list[tuple[float, str]]:
    """A prompt or a schedule `[(start_s, text), ...]` -> a checked schedule (first start 0, starts increasing)."""
    if isinstance(prompt, str):
        return [(0.0, prompt)]
    try:
        sched = [(float(t), text) for t, text in prompt]
    except (TypeError, ValueError):
        raise ValueError("prompt must be a string or a list of (start_seconds, text) pairs") from None
    if not sched:
        raise ValueError("prompt schedule is empty")
    for i, (t, text) in enumerate(sched):
        if not isinstance(text, str):
            raise ValueError(f"prompt schedule entry {i}: text must be a string, got {type(text).__name__}")
        if i == 0 and t != 0.0:
            raise ValueError(f"prompt schedule must start at 0 s, first entry starts at {t} s")
        if i and t <= sched[i - 1][0]:
            raise ValueError(f"prompt schedule entry {i}: start {t} s is not after the previous one ({sched[i - 1][0]} s)")
    return sched


def prompt_at(schedule: list[tuple[float, str]], seconds) -> int:
    """Index of the schedule entry active at `seconds` (the last one starting at or before it)."""
    return max(i for i, (t, _) in enumerate(schedule) if t <= float(seconds) + 1e-9)


def _to_device(obj, device):
    if torch.is_tensor(obj):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".part")
    torch.save(obj, tmp)
    os.replace(tmp, path)
