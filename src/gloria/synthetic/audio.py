"""Speech-like audio: syllable bursts whose amplitude envelope drives the mouth opening.

Each talk segment is filled with syllables (0.12-0.30 s, gaps 0.03-0.15 s, an occasional 0.3 s
pause). A syllable is a voiced sound: harmonics of a character pitch f0 (with slight vibrato)
weighted by two random formants (a "vowel"), normalised to unit RMS, times a sin^2 envelope of
peak 0.4-1.0. Outside talk segments the waveform is exactly 0 (silence). The mouth opening of a
video frame is the mean envelope over that frame's time window, so it follows the audio's loudness.
"""
from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000
N_HARMONICS = 14


def syllables(segments: list[tuple[float, float]], rng: np.random.Generator) -> list[tuple[float, float, float]]:
    """(start, end, peak) of every syllable inside the talk segments (seconds)."""
    out = []
    for s0, s1 in segments:
        t = s0
        while True:
            dur = float(rng.uniform(0.12, 0.30))
            if t + dur > s1:
                break
            out.append((t, t + dur, float(rng.uniform(0.4, 1.0))))
            t += dur + (float(rng.uniform(0.25, 0.4)) if rng.random() < 0.12 else float(rng.uniform(0.03, 0.15)))
    return out


def synthesize(segments: list[tuple[float, float]], seconds: float, seed: int, f0: float = 160.0,
               sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """Waveform and envelope, both float32 [round(seconds * sample_rate)], waveform in [-1, 1]."""
    if sample_rate <= 0 or seconds <= 0:
        raise ValueError(f"need seconds > 0 and sample_rate > 0; got {seconds}, {sample_rate}")
    rng = np.random.default_rng([int(seed), 0xA0D10])
    n = int(round(seconds * sample_rate))
    wave = np.zeros(n, np.float32)
    env = np.zeros(n, np.float32)
    harm = np.arange(1, N_HARMONICS + 1, dtype=np.float64)
    for t0, t1, peak in syllables(segments, rng):
        i0, i1 = int(round(t0 * sample_rate)), min(int(round(t1 * sample_rate)), n)
        if i1 - i0 < 8:
            continue
        tt = np.arange(i1 - i0, dtype=np.float64) / sample_rate
        f1, f2 = rng.uniform(300, 850), rng.uniform(900, 2400)
        pitch = f0 * (1 + 0.08 * rng.uniform(-1, 1)) * (1 + 0.02 * np.sin(2 * np.pi * 5.5 * tt))
        phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
        fh = harm * f0
        amps = np.exp(-(((fh - f1) / 180) ** 2)) + 0.7 * np.exp(-(((fh - f2) / 280) ** 2)) + 0.06 / harm
        amps = np.where(fh < sample_rate / 2 * 0.9, amps, 0.0)
        carrier = np.sin(np.outer(phase, harm) + rng.uniform(0, 2 * np.pi, N_HARMONICS)) @ amps
        carrier /= np.sqrt(np.mean(carrier**2)) + 1e-12
        e = peak * np.sin(np.pi * np.arange(i1 - i0) / (i1 - i0)) ** 2
        env[i0:i1] = e
        wave[i0:i1] = (0.25 * e * carrier).astype(np.float32)
    np.clip(wave, -1, 1, out=wave)
    return wave, env


def frame_means(signal: np.ndarray, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """Mean of `signal` over each video frame's window [i/fps, (i+1)/fps): float32 [n_frames]."""
    edges = np.round(np.arange(n_frames + 1) * sample_rate / fps).astype(np.int64)
    edges = np.clip(edges, 0, len(signal))
    csum = np.concatenate([[0.0], np.cumsum(signal, dtype=np.float64)])
    counts = np.maximum(edges[1:] - edges[:-1], 1)
    return ((csum[edges[1:]] - csum[edges[:-1]]) / counts).astype(np.float32)


def frame_rms(wave: np.ndarray, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """RMS loudness of the waveform per video frame: float32 [n_frames]."""
    return np.sqrt(frame_means(wave.astype(np.float64) ** 2, sample_rate, fps, n_frames)).astype(np.float32)
