"""Audio branch (paper §4.2): wav2vec2 features -> learnable projection -> local-window cross-attention.

Audio features come at the *video* frame rate: `[B, T, d]` or `[B, T, L, d]` (L wav2vec2 layers,
concatenated), with `T = window * (F - 1) + 1` video frames for `F` latent frames (window = the VAE's
temporal compression, 4 for Wan). Latent frame 0 sees video frame 0 only; latent frame k >= 1 sees
video frames `window*(k-1)+1 .. window*k`. We pad the front with `window - 1` copies of frame 0 so
every latent frame has a window of exactly `window` features: attending to identical copies of one
key/value equals attending to that one, so the pad is exact, and the whole branch is one batched
SDPA over `[B*F, heads, h*w, window]` with no mask and no Python loop over frames.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class AudioProjection(nn.Module):
    """`[B, T, L*d_audio]` wav2vec2 features -> `[B, T, dim]` (shared by all audio blocks)."""

    def __init__(self, audio_dim: int, num_layers: int, dim: int, eps: float = 1e-6):
        super().__init__()
        in_features = audio_dim * num_layers
        self.norm = nn.LayerNorm(in_features, eps=eps)
        self.linear_1 = nn.Linear(in_features, dim)
        self.act = nn.GELU(approximate="tanh")
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(self.norm(audio))))


class AudioCrossAttention(nn.Module):
    """Cross-attention from video tokens to their own audio window, with its own output projection.

    The value projection (weight and bias) and the output bias start at zero (paper §4.4, stage I), so
    a freshly created branch adds exactly 0 and the model behaves like the Wan model it came from.
    """

    def __init__(self, dim: int, heads: int, eps: float = 1e-6):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.to_out = nn.Linear(dim, dim)
        self.norm_q = nn.RMSNorm(dim, eps=eps)
        self.norm_k = nn.RMSNorm(dim, eps=eps)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        for lin in (self.to_q, self.to_k, self.to_out):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)
        nn.init.zeros_(self.to_v.weight)
        nn.init.zeros_(self.to_v.bias)
        self.norm_q.reset_parameters()
        self.norm_k.reset_parameters()

    def attend(self, video: torch.Tensor, audio_windows: torch.Tensor, frames: int) -> torch.Tensor:
        """Windowed attention output before `to_out`.

        Args:
            video: `[B, F*hw, dim]` normalised video tokens (latent-frame-major order).
            audio_windows: `[B, F, window, dim]` projected audio, one window per latent frame.
            frames: F.
        Returns:
            `[B, F*hw, dim]`.
        """
        b, s, dim = video.shape
        hw = s // frames
        q = self.norm_q(self.to_q(video)).view(b * frames, hw, self.heads, -1).transpose(1, 2)
        a = audio_windows.reshape(b * frames, audio_windows.shape[2], dim)
        k = self.norm_k(self.to_k(a)).view(b * frames, -1, self.heads, dim // self.heads).transpose(1, 2)
        v = self.to_v(a).view(b * frames, -1, self.heads, dim // self.heads).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)  # [B*F, heads, hw, head_dim]
        return out.transpose(1, 2).reshape(b, s, dim)

    def forward(self, video: torch.Tensor, audio_windows: torch.Tensor, frames: int) -> torch.Tensor:
        return self.to_out(self.attend(video, audio_windows, frames))


def audio_windows(audio: torch.Tensor, latent_frames: int, window: int) -> torch.Tensor:
    """`[B, T, D]` per-video-frame features -> `[B, F, window, D]` windows (see module docstring)."""
    b, t, d = audio.shape
    expected = window * (latent_frames - 1) + 1
    if t != expected:
        raise ValueError(
            f"audio has {t} frames but {latent_frames} latent frames need {expected} "
            f"(= {window} * ({latent_frames} - 1) + 1 video frames); resample the features to the video frame rate"
        )
    padded = torch.cat([audio[:, :1].expand(b, window - 1, d), audio], dim=1)
    return padded.view(b, latent_frames, window, d)
