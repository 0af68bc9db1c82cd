"""Audio-visual synchronisation: (offset in video frames, confidence) for a shot.

* `envelope_sync` (offline, no weights): the audio RMS envelope per video frame is correlated with
  the mouth opening (FaceMesh) over offsets -K..K; offset = argmax of the Pearson correlation,
  confidence = peak minus median correlation (the SyncNet-style "peak over floor"). A positive
  offset means the audio lags the video by that many frames.
* `SyncNet` (Chung & Zisserman 2016, the `syncnet_python` layout, so `syncnet_v2.model` state
  dicts load): LSE-D = min over offsets of the mean embedding distance, LSE-C = median - min;
  weights come from a user path.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def audio_envelope(audio: np.ndarray, sr: int, fps: float, start_s: float, num_frames: int) -> np.ndarray:
    """RMS of mono `audio` [S] over each video frame's interval [start + k/fps, start + (k+1)/fps)."""
    x = np.asarray(audio, np.float64).reshape(-1)
    env = np.zeros(num_frames)
    for k in range(num_frames):
        a, b = int(round((start_s + k / fps) * sr)), int(round((start_s + (k + 1) / fps) * sr))
        seg = x[a:b]
        env[k] = np.sqrt(np.mean(seg**2)) if seg.size else 0.0
    return env


def _fill_nan(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64).copy()
    ok = np.isfinite(x)
    if not ok.any():
        return np.zeros_like(x)
    x[~ok] = np.interp(np.flatnonzero(~ok), np.flatnonzero(ok), x[ok])
    return x


def envelope_sync(mouth: np.ndarray, envelope: np.ndarray, max_offset: int = 15) -> tuple[int, float, np.ndarray]:
    """Best lag of the audio envelope against the mouth-opening series (both [T], per video frame).

    Returns (offset, confidence, correlations [2K+1] for offsets -K..K); corr[d] = Pearson(mouth[t], env[t + d]).
    """
    m, e = _fill_nan(mouth), _fill_nan(envelope)
    T = min(len(m), len(e))
    corr = np.full(2 * max_offset + 1, np.nan)
    for i, d in enumerate(range(-max_offset, max_offset + 1)):
        a = m[max(0, -d):T - max(0, d)]
        b = e[max(0, d):T - max(0, -d)] if d >= 0 else e[0:T + d]
        if len(a) < 8 or a.std() < 1e-9 or b.std() < 1e-9:
            continue
        corr[i] = float(np.corrcoef(a, b)[0, 1])
    if not np.isfinite(corr).any():
        return 0, 0.0, corr
    i = int(np.nanargmax(corr))
    return i - max_offset, float(corr[i] - np.nanmedian(corr)), corr


# --- SyncNet --------------------------------------------------------------------------------------

class SyncNet(nn.Module):
    """SyncNet (syncnet_python's `S`): lips [B, 3, 5, 224, 224] (0..255), MFCC [B, 1, 13, 20] -> 1024-d embeddings."""

    def __init__(self, dim: int = 1024):
        super().__init__()
        C2, B2, R, M2 = nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d
        self.netcnnaud = nn.Sequential(
            C2(1, 64, 3, 1, 1), B2(64), R(True), M2((1, 1), (1, 1)),
            C2(64, 192, 3, 1, 1), B2(192), R(True), M2((3, 3), (1, 2)),
            C2(192, 384, 3, padding=1), B2(384), R(True),
            C2(384, 256, 3, padding=1), B2(256), R(True),
            C2(256, 256, 3, padding=1), B2(256), R(True), M2((3, 3), (2, 2)),
            C2(256, 512, (5, 4)), B2(512), R())
        self.netfcaud = nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), R(), nn.Linear(512, dim))
        self.netfclip = nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), R(), nn.Linear(512, dim))
        C3, B3, M3 = nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d
        self.netcnnlip = nn.Sequential(
            C3(3, 96, (5, 7, 7), (1, 2, 2), 0), B3(96), R(True), M3((1, 3, 3), (1, 2, 2)),
            C3(96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), B3(256), R(True), M3((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            C3(256, 256, (1, 3, 3), padding=(0, 1, 1)), B3(256), R(True),
            C3(256, 256, (1, 3, 3), padding=(0, 1, 1)), B3(256), R(True),
            C3(256, 256, (1, 3, 3), padding=(0, 1, 1)), B3(256), R(True), M3((1, 3, 3), (1, 2, 2)),
            C3(256, 512, (1, 6, 6), padding=0), B3(512), R(True))

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfcaud(self.netcnnaud(x).flatten(1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfclip(self.netcnnlip(x).flatten(1))

    @classmethod
    def from_file(cls, path: str) -> "SyncNet":
        from pathlib import Path

        if not Path(path).is_file():
            raise FileNotFoundError(f"SyncNet weights not found: {path}")
        sd = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(sd, dict):
            sd = sd.state_dict()
        sd = {k.removeprefix("__S__."): v for k, v in sd.items()}
        net = cls()
        missing, unexpected = net.load_state_dict(sd, strict=False)
        if missing:
            raise ValueError(f"{path}: not a SyncNet state dict (missing {missing[:3]}...)")
        return net.eval()


def mfcc(audio: np.ndarray, sr: int = 16000, numcep: int = 13, nfilt: int = 26, nfft: int = 512,
         winlen: float = 0.025, winstep: float = 0.01) -> np.ndarray:
    """MFCC [frames, numcep] as python_speech_features computes it (100 frames/s; c0 = log energy)."""
    from scipy.fft import dct

    x = np.asarray(audio, np.float64).reshape(-1)
    x = np.append(x[0], x[1:] - 0.97 * x[:-1])
    flen, fstep = int(round(winlen * sr)), int(round(winstep * sr))
    n = 1 + int(np.ceil(max(0, len(x) - flen) / fstep))
    x = np.pad(x, (0, (n - 1) * fstep + flen - len(x)))
    idx = np.arange(flen)[None] + fstep * np.arange(n)[:, None]
    pspec = np.abs(np.fft.rfft(x[idx], nfft)) ** 2 / nfft
    energy = np.where(pspec.sum(1) == 0, np.finfo(float).eps, pspec.sum(1))
    mel = lambda hz: 2595 * np.log10(1 + hz / 700.0)  # noqa: E731
    pts = 700 * (10 ** (np.linspace(mel(0), mel(sr / 2), nfilt + 2) / 2595) - 1)
    bins = np.floor((nfft + 1) * pts / sr).astype(int)
    fb = np.zeros((nfilt, nfft // 2 + 1))
    for j in range(nfilt):
        a, b, c = bins[j], bins[j + 1], bins[j + 2]
        fb[j, a:b] = (np.arange(a, b) - a) / max(b - a, 1)
        fb[j, b:c] = (c - np.arange(b, c)) / max(c - b, 1)
    feat = pspec @ fb.T
    feat = np.log(np.where(feat == 0, np.finfo(float).eps, feat))
    cep = dct(feat, type=2, axis=1, norm="ortho")[:, :numcep]
    cep *= 1 + (22 / 2.0) * np.sin(np.pi * np.arange(numcep) / 22)
    cep[:, 0] = np.log(energy)
    return cep


def lse_scores(vid_feat: torch.Tensor, aud_feat: torch.Tensor, vshift: int = 15) -> tuple[int, float, float]:
    """syncnet_python's evaluation: (offset, LSE-C confidence, LSE-D min distance) from per-frame embeddings [T, D]."""
    T = min(len(vid_feat), len(aud_feat))
    pad = torch.nn.functional.pad(aud_feat[:T], (0, 0, vshift, vshift))
    dists = torch.stack([torch.nn.functional.pairwise_distance(vid_feat[i:i + 1].expand(2 * vshift + 1, -1),
                                                               pad[i:i + 2 * vshift + 1]) for i in range(T)])
    mdist = dists.mean(0)
    minval, minidx = mdist.min(0)
    return vshift - int(minidx), float(mdist.median() - minval), float(minval)


@torch.no_grad()
def syncnet_sync(net: SyncNet, mouth_crops: np.ndarray, audio16k: np.ndarray, vshift: int = 15,
                 batch: int = 20) -> tuple[int, float, float]:
    """mouth_crops: [T, 224, 224, 3] uint8 at 25 fps, audio16k: [S] -> (offset, LSE-C, LSE-D)."""
    T = len(mouth_crops)
    if T < 6:
        raise ValueError("SyncNet needs at least 6 frames")
    im = torch.from_numpy(np.asarray(mouth_crops, np.float32)).permute(3, 0, 1, 2)[None]  # [1, 3, T, 224, 224]
    cc = torch.from_numpy(mfcc(audio16k, 16000).T.astype(np.float32))[None, None]  # [1, 1, 13, F]
    last = min(T - 5, (cc.shape[-1] - 20) // 4 + 1)
    vf, af = [], []
    for i in range(0, last, batch):
        idx = range(i, min(last, i + batch))
        vf.append(net.forward_lip(torch.cat([im[:, :, j:j + 5] for j in idx])))
        af.append(net.forward_aud(torch.cat([cc[:, :, :, 4 * j:4 * j + 20] for j in idx])))
    return lse_scores(torch.cat(vf), torch.cat(af), vshift)
