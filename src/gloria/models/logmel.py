"""A fixed (not learned) log-mel audio encoder with wav2vec2's interface and frame geometry.

The small demo model (`gloria demo`) takes its audio features from this instead of wav2vec2, whose
weights cannot ship with the repo: frame j covers samples [320 j, 320 j + 400) of 16 kHz audio (50 Hz,
exactly wav2vec2-base's conv geometry), Hann window, |rFFT|^2 -> `num_mel_bins` triangular mel bands ->
log. `config.conv_kernel` / `config.conv_stride` and the output's `hidden_states` follow transformers'
`Wav2Vec2Model`, so `gloria.pipelines.audio.AudioFeaturizer` and the training cache use it unchanged.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from transformers.modeling_outputs import BaseModelOutput


def mel_filterbank(n_fft: int, sample_rate: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """Triangular mel filters (HTK mel scale) `[n_fft // 2 + 1, n_mels]`, each band summing to 1."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    edges = hz(np.linspace(mel(f_min), mel(f_max), n_mels + 2))
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    fb = np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid))).T
    return (fb / np.maximum(fb.sum(0, keepdims=True), 1e-12)).astype(np.float32)


class LogMelAudioEncoder(ModelMixin, ConfigMixin):
    """`input_values [B, N]` (16 kHz, normalised waveform) -> `hidden_states[-1]` `[B, J, hidden_size]`.

    J = floor((N - 400) / 320) + 1 (as wav2vec2). Channels: `hidden_size - 1` log mel energies and the log frame energy,
    scaled to roughly unit range ((log x + 7) / 4).
    """

    @register_to_config
    def __init__(self, hidden_size: int = 41, sampling_rate: int = 16000, conv_kernel: tuple[int] = (400,),
                 conv_stride: tuple[int] = (320,), n_fft: int = 512, f_min: float = 60.0, f_max: float = 7600.0):
        super().__init__()
        if hidden_size < 2 or len(conv_kernel) != 1 or len(conv_stride) != 1 or n_fft < conv_kernel[0]:
            raise ValueError("LogMelAudioEncoder: hidden_size >= 2 (mel bins + 1), one conv_kernel (window) and one "
                             f"conv_stride (hop), n_fft >= window; got {hidden_size}, {conv_kernel}, {conv_stride}, {n_fft}")
        self.register_buffer("window", torch.hann_window(conv_kernel[0], periodic=False), persistent=False)
        self.register_buffer("mel", torch.from_numpy(mel_filterbank(n_fft, sampling_rate, hidden_size - 1, f_min, f_max)))

    def forward(self, input_values: torch.Tensor, output_hidden_states: bool = True, **_) -> BaseModelOutput:
        c = self.config
        win, hop = c.conv_kernel[0], c.conv_stride[0]
        x = input_values.float()
        if x.ndim != 2:
            raise ValueError(f"input_values must be [batch, samples], got shape {tuple(x.shape)}")
        if x.shape[1] < win:
            x = nn.functional.pad(x, (0, win - x.shape[1]))
        frames = x.unfold(1, win, hop) * self.window  # [B, J, win]
        power = torch.fft.rfft(frames, n=c.n_fft).abs().square()  # [B, J, n_fft/2+1]
        mel = power @ self.mel.to(power.dtype)
        energy = frames.square().mean(-1, keepdim=True)
        feats = (torch.log(torch.cat([mel, energy], -1) + 1e-7) + 7.0) / 4.0
        feats = feats.to(input_values.dtype)
        return BaseModelOutput(last_hidden_state=feats, hidden_states=(feats,))
