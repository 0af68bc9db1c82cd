"""SyncNet (Chung & Zisserman 2016) LSE-C / LSE-D, following the public `syncnet_python` evaluation.

The one SyncNet of the project: the evaluation metric (`gloria eval`, sync) and the data pipeline's
`syncnet` sync filter (`gloria.data.backends.sync`) both use the network, weight loader, MFCC, windows
and scoring defined here.

* video resampled to 25 fps, audio to 16 kHz mono 16-bit (values in int16 range, as `wavfile.read`);
* one face track: a face box per frame (detector pluggable; the reference uses S3FD, here dlib by
  default — documented difference), missing frames linearly interpolated, box size / centre
  median-filtered (kernel 13); crop rows cy−bs..cy+1.8bs, cols cx−1.4bs..cx+1.4bs of the frame
  padded with value 110 (bs = half the larger box side, crop_scale 0.4), resized to 224×224, BGR;
* MFCC (python_speech_features defaults: 13 coefficients, 25 ms windows every 10 ms = 100 Hz);
* windows: video frames [v, v+5) and MFCC columns [4v, 4v+20) for v in 0..min_len−6 (the reference's
  `lastframe = min_length − 5`), embeddings 1024-d, distances for offsets −15..+15 (formulas.calc_pdist);
* LSE-D = min mean distance, LSE-C = median − min, AV offset = 15 − argmin (formulas.sync_from_dists).

Weights: `syncnet_v2.model` of syncnet_python (a state dict of its `S`, which `SyncNet` mirrors), from a path;
also accepted: the same keys under the `__S__.` prefix (a saved `SyncNetInstance`), extra keys, and
a whole pickled `S` module.
"""
from __future__ import annotations

import math
import pickle
from collections import deque
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .formulas import calc_pdist, sync_from_dists

VSHIFT = 15
FPS = 25
SAMPLE_RATE = 16000
CROP_SCALE = 0.4
PAD_VALUE = 110
MEDFILT = 13
EMBED_DIM = 1024


class SyncNet(nn.Module):
    """syncnet_python's `SyncNetModel.S` (state-dict compatible).

    `forward_lip`: BGR crops `[N, 3, 5, 224, 224]` (0..255) -> `[N, num_fc]`;
    `forward_aud`: MFCC windows `[N, 1, 13, 20]` -> `[N, num_fc]`.
    """

    def __init__(self, num_fc: int = EMBED_DIM) -> None:
        super().__init__()
        self.netcnnaud = nn.Sequential(
            nn.Conv2d(1, 64, (3, 3), (1, 1), (1, 1)), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.MaxPool2d((1, 1), (1, 1)),
            nn.Conv2d(64, 192, (3, 3), (1, 1), (1, 1)), nn.BatchNorm2d(192), nn.ReLU(inplace=True),
            nn.MaxPool2d((3, 3), (1, 2)),
            nn.Conv2d(192, 384, (3, 3), padding=(1, 1)), nn.BatchNorm2d(384), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, (3, 3), padding=(1, 1)), nn.BatchNorm2d(256), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, (3, 3), padding=(1, 1)), nn.BatchNorm2d(256), nn.ReLU(inplace=True),
            nn.MaxPool2d((3, 3), (2, 2)),
            nn.Conv2d(256, 512, (5, 4), padding=(0, 0)), nn.BatchNorm2d(512), nn.ReLU(),
        )
        self.netfcaud = nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, num_fc))
        self.netfclip = nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, num_fc))
        self.netcnnlip = nn.Sequential(
            nn.Conv3d(3, 96, (5, 7, 7), (1, 2, 2), 0), nn.BatchNorm3d(96), nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            nn.Conv3d(96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), nn.BatchNorm3d(256), nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256), nn.ReLU(inplace=True),
            nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256), nn.ReLU(inplace=True),
            nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256), nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            nn.Conv3d(256, 512, (1, 6, 6), padding=0), nn.BatchNorm3d(512), nn.ReLU(inplace=True),
        )

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        """MFCC windows `[N, 1, 13, 20]` -> audio embeddings `[N, num_fc]`."""
        return self.netfcaud(self.netcnnaud(x).flatten(1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        """BGR crops `[N, 3, 5, 224, 224]` (0..255) -> lip embeddings `[N, num_fc]`."""
        return self.netfclip(self.netcnnlip(x).flatten(1))

    @classmethod
    def from_file(cls, weights: str | Path | None) -> SyncNet:
        """`load_syncnet(weights)` (the data pipeline's spelling)."""
        return load_syncnet(weights)


def build_syncnet(num_fc: int = EMBED_DIM) -> SyncNet:
    """A SyncNet with random weights (tests, benchmarks); real weights come from `load_syncnet`."""
    return SyncNet(num_fc)


def load_syncnet(weights: str | Path | None) -> SyncNet:
    """SyncNet in eval mode from a weight file (see the module docstring for the accepted layouts).

    Raises FileNotFoundError without a path or file, ValueError naming the file when it holds no SyncNet.
    """
    if weights is None:
        raise FileNotFoundError(
            "SyncNet needs weights: pass --syncnet-weights PATH (gloria eval) or set sync.syncnet_weights "
            "(gloria data) to syncnet_python's `syncnet_v2.model` (see docs/evaluation.md)"
        )
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"SyncNet weights not found: {path}")
    state = _syncnet_state_dict(_read_weights(path), path)
    model = SyncNet()
    try:
        missing, _ = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # tensors of the wrong shape
        raise ValueError(f"{path}: not a SyncNet state dict ({err})") from err
    if missing:
        raise ValueError(f"{path}: not a SyncNet state dict (missing {missing[:3]})")
    return model.eval()


def _read_weights(path: Path) -> object:
    """`torch.load` of `path`: tensors only when possible, else (a whole pickled module) a full unpickling."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass  # not plain tensors: retried below as a pickled module
    except Exception as err:
        raise ValueError(f"cannot read SyncNet weights {path}: {err}") from err
    try:
        return torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as err:
        raise ValueError(f"cannot read SyncNet weights {path}: {err}") from err


def _syncnet_state_dict(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """The state dict in a loaded weight file (a dict or a module), keys without the `__S__.` prefix."""
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a SyncNet state dict (a {type(obj).__name__})")
    return {str(k).removeprefix("__S__."): v for k, v in obj.items()}


# ------------------------------------------------------------------------------------------------ MFCC


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def mfcc(signal: np.ndarray, samplerate: int = 16000, winlen: float = 0.025, winstep: float = 0.01, numcep: int = 13,
         nfilt: int = 26, nfft: int = 512, preemph: float = 0.97, ceplifter: int = 22) -> np.ndarray:
    """`python_speech_features.mfcc` with its defaults (rectangular window, energy as c0).

    `signal` `[S]` (SyncNet: int16-range values at 16 kHz) -> `[frames, numcep]`, frames every `winstep` s.
    """
    from scipy.fftpack import dct

    sig = np.asarray(signal, dtype=np.float64).reshape(-1)
    sig = np.append(sig[0], sig[1:] - preemph * sig[:-1])
    flen, fstep = _round_half_up(winlen * samplerate), _round_half_up(winstep * samplerate)
    n = 1 if len(sig) <= flen else 1 + int(math.ceil((len(sig) - flen) / fstep))
    padded = np.concatenate([sig, np.zeros((n - 1) * fstep + flen - len(sig))])
    idx = np.arange(flen)[None, :] + (np.arange(n) * fstep)[:, None]
    frames = padded[idx]
    pspec = np.square(np.abs(np.fft.rfft(frames, nfft))) / nfft
    energy = pspec.sum(1)
    energy = np.where(energy == 0, np.finfo(float).eps, energy)
    feat = pspec @ mel_filterbank(nfilt, nfft, samplerate).T
    feat = np.where(feat == 0, np.finfo(float).eps, feat)
    feat = dct(np.log(feat), type=2, axis=1, norm="ortho")[:, :numcep]
    if ceplifter > 0:
        feat = feat * (1 + (ceplifter / 2.0) * np.sin(np.pi * np.arange(numcep) / ceplifter))
    feat[:, 0] = np.log(energy)
    return feat


def mel_filterbank(nfilt: int, nfft: int, samplerate: int, lowfreq: float = 0, highfreq: float | None = None) -> np.ndarray:
    """python_speech_features' triangular mel filters `[nfilt, nfft // 2 + 1]` (frequencies in Hz)."""
    highfreq = highfreq or samplerate / 2
    hz2mel = lambda hz: 2595 * np.log10(1 + hz / 700.0)  # noqa: E731
    mel2hz = lambda mel: 700 * (10 ** (mel / 2595.0) - 1)  # noqa: E731
    pts = np.linspace(hz2mel(lowfreq), hz2mel(highfreq), nfilt + 2)
    bins = np.floor((nfft + 1) * mel2hz(pts) / samplerate)
    fb = np.zeros((nfilt, nfft // 2 + 1))
    for j in range(nfilt):
        for i in range(int(bins[j]), int(bins[j + 1])):
            fb[j, i] = (i - bins[j]) / (bins[j + 1] - bins[j])
        for i in range(int(bins[j + 1]), int(bins[j + 2])):
            fb[j, i] = (bins[j + 2] - i) / (bins[j + 2] - bins[j + 1])
    return fb


# -------------------------------------------------------------------------------------------- face crop


def smooth_track(boxes: list[tuple[float, float, float, float] | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame (s, cx, cy) from boxes (None = no detection: linearly interpolated), median-filtered (13).

    s = half of the larger box side. Raises if no frame has a box.
    """
    from scipy.signal import medfilt

    have = [i for i, b in enumerate(boxes) if b is not None]
    if not have:
        raise ValueError("no face found in any frame")
    arr = np.array([boxes[i] for i in have], dtype=np.float64)
    t = np.arange(len(boxes))
    full = np.stack([np.interp(t, have, arr[:, k]) for k in range(4)], 1)
    s = np.maximum(full[:, 3] - full[:, 1], full[:, 2] - full[:, 0]) / 2
    cy = (full[:, 1] + full[:, 3]) / 2
    cx = (full[:, 0] + full[:, 2]) / 2
    k = MEDFILT
    return medfilt(s, kernel_size=k), medfilt(cx, kernel_size=k), medfilt(cy, kernel_size=k)


def crop_face(rgb: np.ndarray, s: float, cx: float, cy: float, cs: float = CROP_SCALE) -> np.ndarray:
    """syncnet_python `crop_video` for one frame: BGR uint8 224×224 crop (pad value 110)."""
    bs = float(s)
    bsi = int(bs * (1 + 2 * cs))
    img = np.pad(rgb[..., ::-1], ((bsi, bsi), (bsi, bsi), (0, 0)), "constant", constant_values=PAD_VALUE)
    my, mx = cy + bsi, cx + bsi
    face = img[int(my - bs) : int(my + bs * (1 + 2 * cs)), int(mx - bs * (1 + cs)) : int(mx + bs * (1 + cs))]
    if face.size == 0:
        raise ValueError(f"empty face crop (box half-size {bs:.1f} at {cx:.1f},{cy:.1f})")
    x = torch.from_numpy(np.require(face, requirements=["C", "W"])).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


# ------------------------------------------------------------------------------------------ evaluation


def audio_features(model: SyncNet, mfcc_cols: np.ndarray, n_windows: int, batch_size: int = 64) -> np.ndarray:
    """SyncNet audio embeddings `[n_windows, 1024]` of MFCC `[13, T]` columns [4v, 4v+20)."""
    cc = torch.from_numpy(mfcc_cols.astype(np.float32))  # [13, T]
    out = []
    with torch.inference_mode():
        for i in range(0, n_windows, batch_size):
            b = torch.stack([cc[:, 4 * v : 4 * v + 20] for v in range(i, min(n_windows, i + batch_size))])[:, None]
            out.append(model.forward_aud(b).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, EMBED_DIM))


def video_features(model: SyncNet, crops: Iterable[np.ndarray], n_windows: int, batch_size: int = 16,
                   progress=None) -> np.ndarray:
    """SyncNet lip embeddings `[n_windows, 1024]` of 5-frame windows of BGR uint8 224×224 crops (streamed)."""
    buf: deque = deque(maxlen=5)
    windows, out = [], []
    v = 0

    def flush():
        x = torch.from_numpy(np.stack(windows).astype(np.float32)).permute(0, 4, 1, 2, 3)  # [N,3,5,224,224]
        with torch.inference_mode():
            out.append(model.forward_lip(x).float().numpy())
        windows.clear()

    for crop in crops:
        buf.append(crop)
        if len(buf) == 5 and v < n_windows:
            windows.append(np.stack(buf))
            v += 1
            if len(windows) == batch_size:
                flush()
        if progress is not None:
            progress.update(1)
        if v >= n_windows and not windows:
            break
    if windows:
        flush()
    return np.concatenate(out) if out else np.zeros((0, EMBED_DIM))


def n_windows_for(n_frames: int, n_samples: int) -> int:
    """The reference's window count: min(frames, floor(samples/640)) − 5 (may be <= 0)."""
    return min(n_frames, n_samples // (SAMPLE_RATE // FPS)) - 5


def sync_metrics(feat_v: np.ndarray, feat_a: np.ndarray, vshift: int = VSHIFT) -> tuple[dict, np.ndarray]:
    """LSE-D / LSE-C / offset from window embeddings `[T, D]` (video, audio), and the distances `[T, 2*vshift+1]`."""
    dists = calc_pdist(feat_v, feat_a, vshift)
    r = sync_from_dists(dists, vshift)
    return {"lse_d": r.lse_d, "lse_c": r.lse_c, "offset": r.offset, "windows": int(len(dists))}, dists
