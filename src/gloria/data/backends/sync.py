"""Audio-visual synchronisation: (offset in video frames, confidence) for a shot.

* `envelope_sync` (offline, no weights): the audio RMS envelope per video frame is correlated with
  the mouth opening (FaceMesh) over offsets -K..K; offset = argmax of the Pearson correlation,
  confidence = peak minus median correlation (the SyncNet-style "peak over floor"). A positive
  offset means the audio lags the video by that many frames.
* `syncnet_sync`: SyncNet (Chung & Zisserman 2016) with the evaluation metric's network, weight
  loader (`SyncNet.from_file`: syncnet_python's `syncnet_v2.model`), MFCC, windows and scoring from
  `gloria.evaluation.syncnet`: LSE-D = min over offsets of the mean embedding distance, LSE-C =
  median - min; weights come from a user path.
"""
from __future__ import annotations

import numpy as np

from gloria.evaluation.syncnet import (SAMPLE_RATE, VSHIFT, SyncNet, audio_features, mfcc, n_windows_for, sync_metrics,
                                       video_features)

__all__ = ["SyncNet", "audio_envelope", "envelope_sync", "syncnet_sync"]

INT16_SCALE = 32768.0  # float audio in [-1, 1] (PyAV fltp from s16) -> the int16 values SyncNet's MFCC expects


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


def syncnet_sync(net: SyncNet, mouth_crops: np.ndarray, audio16k: np.ndarray,
                 vshift: int = VSHIFT) -> tuple[int, float, float]:
    """(offset, LSE-C, LSE-D) of a shot, scored exactly as the evaluation metric scores a video.

    mouth_crops: RGB uint8 `[T, 224, 224, 3]` face crops (`crop_face` of `smooth_track`, reversed to RGB) at
    25 fps; audio16k: mono `[S]` at 16 kHz in [-1, 1] (as `gloria.data.video.read_audio`). They become the reference's inputs (BGR, int16-range samples) here.
    """
    n_windows = n_windows_for(len(mouth_crops), len(audio16k))
    if n_windows < 1:
        raise ValueError(f"SyncNet needs at least 6 frames of video and of audio, got {len(mouth_crops)} frames "
                         f"and {len(audio16k) / SAMPLE_RATE:.2f} s")
    fv = video_features(net, np.asarray(mouth_crops)[..., ::-1], n_windows)
    fa = audio_features(net, mfcc(np.asarray(audio16k, np.float64) * INT16_SCALE, SAMPLE_RATE).T, n_windows)
    scores, _ = sync_metrics(fv, fa, vshift)
    return scores["offset"], scores["lse_c"], scores["lse_d"]
