"""Audio input: loading (PyAV), exact frame<->sample slicing and wav2vec2 features per chunk (paper §4.2).

* The waveform is decoded once with PyAV and resampled to the feature extractor's rate (16 kHz for
  wav2vec2), mono float32: 10 minutes = 9.6 M samples = 38 MB, held for the whole run (it does not grow).
* Features for a chunk are computed on the chunk's own samples plus `context_s` seconds of real audio
  on each side (zeros past the ends), so memory per chunk is constant whatever the duration.
* Feature of video frame g = the wav2vec2 hidden states linearly interpolated at the frame's centre
  time (g + 1/2) / fps. wav2vec2 frame j is centred at (j*stride + (rf-1)/2) / sr, stride and
  receptive field rf taken from the model's conv config (320 and 400 samples for wav2vec2-base).
* Normalisation (`do_normalize` of the feature extractor) uses the mean / variance of the whole
  waveform, computed once, so a chunk's features do not depend on where the chunk starts.
* The last `audio_num_layers` hidden states are used, stacked as `[T, L, d]`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gloria.pipelines.chunking import as_fraction, frame_start_sample


@dataclass
class AudioInput:
    """Mono float32 waveform at `sample_rate`, plus where it came from (for muxing the original)."""

    waveform: np.ndarray
    sample_rate: int
    source: str | None = None        # file path, or None for an array
    source_array: np.ndarray | None = None
    source_rate: int | None = None

    @property
    def num_samples(self) -> int:
        return int(self.waveform.shape[0])

    @property
    def seconds(self) -> float:
        return self.num_samples / self.sample_rate


def decode_audio(path: str | os.PathLike, sample_rate: int, layout: str = "mono"):
    """Yield float32 numpy blocks `[channels, n]` of an audio file resampled to `sample_rate` (PyAV)."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError(f"audio file {path} has no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                yield out.to_ndarray()
        for out in resampler.resample(None):
            yield out.to_ndarray()


def load_audio(audio, sample_rate: int, audio_sample_rate: int | None = None) -> AudioInput:
    """A path (any format FFmpeg reads) or a 1-D / [channels, n] array with its rate -> `AudioInput` at `sample_rate`."""
    if isinstance(audio, (str, os.PathLike)):
        path = Path(audio)
        if not path.is_file():
            raise FileNotFoundError(f"audio not found: {path}")
        import av

        try:
            blocks = [b[0] for b in decode_audio(path, sample_rate)]
        except (av.error.FFmpegError, OSError) as err:  # InvalidDataError & co.
            raise ValueError(f"cannot read audio {path}: {err}") from None
        wave = np.concatenate(blocks).astype(np.float32) if blocks else np.zeros(0, np.float32)
        if wave.size == 0:
            raise ValueError(f"audio {path} has no samples")
        return AudioInput(wave, sample_rate, source=str(path))
    if audio_sample_rate is None:
        raise ValueError("audio given as an array needs audio_sample_rate")
    arr = np.asarray(audio.detach().cpu() if torch.is_tensor(audio) else audio, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr.mean(axis=0) if arr.shape[0] <= 8 else arr.mean(axis=1)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"audio array must be 1-D [samples] or [channels, samples], got shape {arr.shape}")
    src = arr
    if int(audio_sample_rate) != sample_rate:
        arr = resample_array(arr, int(audio_sample_rate), sample_rate)
    return AudioInput(arr.astype(np.float32), sample_rate, None, src, int(audio_sample_rate))


def resample_array(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited polyphase resampling (scipy)."""
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate_in, rate_out)
    return resample_poly(x.astype(np.float64), rate_out // g, rate_in // g).astype(np.float32)


def load_audio_encoder(path: str | os.PathLike, feature_extractor_path: str | os.PathLike | None = None):
    """(encoder, feature extractor) from a folder / hub id: wav2vec2 (transformers) or, when its config.json
    names it (`"_class_name": "LogMelAudioEncoder"`), the fixed log-mel encoder of `gloria.models.logmel`."""
    import json

    from transformers import AutoFeatureExtractor, Wav2Vec2Model

    cfg = Path(path) / "config.json"
    is_logmel = cfg.is_file() and json.loads(cfg.read_text()).get("_class_name") == "LogMelAudioEncoder"
    if is_logmel:
        from gloria.models.logmel import LogMelAudioEncoder

        model = LogMelAudioEncoder.from_pretrained(path)
    else:
        model = Wav2Vec2Model.from_pretrained(path)
    return model, AutoFeatureExtractor.from_pretrained(feature_extractor_path or path)


def _conv_geometry(config) -> tuple[int, int]:
    """(stride, receptive field) in samples of a wav2vec2 conv feature encoder."""
    stride, rf = 1, 1
    for k, s in zip(config.conv_kernel, config.conv_stride):
        rf += (k - 1) * stride
        stride *= s
    return stride, rf


class AudioFeaturizer:
    """Per-chunk wav2vec2 features at the video frame rate (see the module docstring)."""

    def __init__(self, audio_encoder, feature_extractor, audio: AudioInput, fps, num_layers: int = 1,
                 context_s: float = 1.0):
        self.encoder = audio_encoder
        self.audio = audio
        self.fps = as_fraction(fps)
        self.num_layers = num_layers
        self.stride, self.rf = _conv_geometry(audio_encoder.config)
        self.sr = audio.sample_rate
        self.context = int(round(context_s * self.sr))
        wave = audio.waveform
        if getattr(feature_extractor, "do_normalize", True):
            self.mean, self.std = float(wave.mean()), float(np.sqrt(wave.var() + 1e-7))
        else:
            self.mean, self.std = 0.0, 1.0

    def sample_window(self, first_frame: int, num_frames: int) -> tuple[int, int]:
        """Exact samples [a, b) of global video frames first_frame .. first_frame + num_frames - 1."""
        return (frame_start_sample(first_frame, self.fps, self.sr),
                frame_start_sample(first_frame + num_frames, self.fps, self.sr))

    @torch.no_grad()
    def features(self, first_frame: int, num_frames: int, device=None, dtype=torch.float32) -> torch.Tensor:
        """`[num_frames, L, d]` features of global video frames first_frame .. first_frame + num_frames - 1."""
        a, b = self.sample_window(first_frame, num_frames)
        lo, hi = a - self.context, b + self.context
        n = self.audio.num_samples
        seg = np.zeros(hi - lo, np.float32)
        s0, s1 = max(lo, 0), min(hi, n)
        if s1 > s0:
            seg[s0 - lo: s1 - lo] = (self.audio.waveform[s0:s1] - self.mean) / self.std
        enc_dev, enc_dtype = self.encoder.device, self.encoder.dtype  # (the log-mel encoder has buffers only)
        x = torch.from_numpy(seg)[None].to(enc_dev, enc_dtype)
        out = self.encoder(x, output_hidden_states=True)
        hs = torch.stack(out.hidden_states[-self.num_layers:], dim=2)[0].float()  # [J, L, d]
        j = hs.shape[0]
        # Frame centres in samples relative to `lo`, mapped to fractional wav2vec2 frame indices.
        g = torch.arange(first_frame, first_frame + num_frames, dtype=torch.float64)
        centre = (g + 0.5) * self.sr * self.fps.denominator / self.fps.numerator - lo
        pos = ((centre - (self.rf - 1) / 2) / self.stride).clamp(0, j - 1)
        i0 = pos.floor().long().clamp(max=j - 1)
        i1 = (i0 + 1).clamp(max=j - 1)
        w = (pos - i0.double()).float().view(-1, 1, 1)
        feats = hs[i0] * (1 - w) + hs[i1] * w
        return feats.to(device or enc_dev, dtype)


__all__ = ["AudioInput", "AudioFeaturizer", "load_audio", "load_audio_encoder", "decode_audio"]
