"""Frame / chunk / audio-sample arithmetic for chunk-wise long-video generation (paper §4.3, §7.2).

Everything here is pure integer arithmetic (`fractions.Fraction` for the frame rate), so nothing drifts
over a 10-minute video.

Frame counts (Wan's causal VAE: latent frame 0 = video frame 0, latent frame j >= 1 = video frames
4j-3 .. 4j):

* The output has exactly ``N = round(seconds * fps)`` frames (or ``floor(audio_samples * fps / sr)``
  when the duration comes from the audio).
* ``G = ceil((N - 1) / 4) + 1`` latent frames are generated; they decode to ``4 (G - 1) + 1 >= N``
  frames and the last ``4 (G - 1) + 1 - N <= 3`` frames are dropped.
* A chunk of ``chunk_frames = 4 (Fc - 1) + 1`` video frames has ``Fc`` latent frames. Chunk 0 covers
  latent frames ``[0, min(Fc, G))``; chunk k > 0 starts ``P = 4`` latent frames before the previous
  chunk's end (the overlap it re-generates, conditioned on those 4 frames as prefix tokens) and has
  ``min(Fc, G - start)`` latent frames (so only the last chunk can be shorter, never shorter than P + 1).
* Chunk-local video frame i of a chunk starting at latent frame s is global video frame ``4 s + i``
  (for s > 0 the chunk's first latent frame stands for global frames 4s-3..4s; the model treats it as
  one frame, so it is aligned with the last of them, 4s). The audio features of a chunk are those of
  global frames ``4 s .. 4 s + 4 (F - 1)`` (T = 4 (F - 1) + 1 features).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import torch

BLEND_WEIGHTS_4 = (1.0, 0.67, 0.33, 0.0)  # paper §7.2, n = 4


def as_fraction(fps: float | int | Fraction) -> Fraction:
    """A frame rate as an exact fraction (24 -> 24/1, 23.976 -> 2997/125, 29.97 -> 2997/100)."""
    if isinstance(fps, Fraction):
        f = fps
    elif isinstance(fps, int):
        f = Fraction(fps)
    else:
        f = Fraction(str(float(fps))).limit_denominator(100000)
    if f <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    return f


def frames_for_seconds(seconds: float, fps: float | Fraction) -> int:
    """Number of output frames for a duration: round(seconds * fps) (half up), at least 1."""
    if seconds is None or not math.isfinite(float(seconds)) or float(seconds) <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    n = math.floor(Fraction(str(float(seconds))) * as_fraction(fps) + Fraction(1, 2))
    return max(1, int(n))


def frames_for_samples(num_samples: int, sample_rate: int, fps: float | Fraction) -> int:
    """Frames fully covered by `num_samples` of audio: floor(num_samples * fps / sample_rate)."""
    return int(math.floor(Fraction(int(num_samples)) * as_fraction(fps) / int(sample_rate)))


def frame_start_sample(frame: int, fps: float | Fraction, sample_rate: int) -> int:
    """First audio sample of video frame `frame` (which starts at frame / fps seconds): floor(frame*sr/fps)."""
    f = as_fraction(fps)
    return (int(frame) * int(sample_rate) * f.denominator) // f.numerator


def samples_needed(num_frames: int, fps: float | Fraction, sample_rate: int) -> int:
    """Samples needed to cover `num_frames` frames completely: ceil(num_frames * sr / fps)."""
    f = as_fraction(fps)
    return -((-int(num_frames) * int(sample_rate) * f.denominator) // f.numerator)


def latent_frames_for(num_frames: int, temporal: int = 4) -> int:
    """Latent frames G whose decode covers `num_frames` video frames: ceil((N-1)/t) + 1."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    return -(-(num_frames - 1) // temporal) + 1


@dataclass(frozen=True)
class Chunk:
    """One chunk: latent frames [start, start + frames) of the whole video."""

    index: int
    start: int            # first latent frame (global)
    frames: int           # latent frames F in this chunk
    overlap: int          # latent frames re-generated from the previous chunk (0 for chunk 0)
    final_end: int        # latent frames [.., final_end) are final (never changed again) after this chunk
    temporal: int = 4

    @property
    def end(self) -> int:
        return self.start + self.frames

    @property
    def video_frames(self) -> int:
        """Frames the model sees for this chunk: T = t (F - 1) + 1 (audio features per chunk)."""
        return self.temporal * (self.frames - 1) + 1

    @property
    def first_video_frame(self) -> int:
        """Global video frame aligned with the chunk's first latent frame (see module docstring)."""
        return self.temporal * self.start


@dataclass(frozen=True)
class ChunkPlan:
    num_frames: int        # N, frames written
    latent_frames: int     # G
    chunk_latent_frames: int
    overlap: int
    temporal: int
    chunks: tuple[Chunk, ...]

    @property
    def decoded_frames(self) -> int:
        return self.temporal * (self.latent_frames - 1) + 1

    def __len__(self) -> int:
        return len(self.chunks)


def video_frames_of_latents(start: int, stop: int, temporal: int = 4) -> tuple[int, int]:
    """Global video frames [a, b) decoded from latent frames [start, stop) by the causal VAE."""
    a = 0 if start == 0 else temporal * (start - 1) + 1
    b = 0 if stop == 0 else temporal * (stop - 1) + 1
    return a, b


def plan_chunks(num_frames: int, chunk_frames: int = 81, overlap: int = 4, temporal: int = 4) -> ChunkPlan:
    """Split a video of `num_frames` frames into overlapping chunks (see the module docstring)."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if chunk_frames < 1 or (chunk_frames - 1) % temporal:
        raise ValueError(f"chunk_frames must be {temporal}*k + 1 (e.g. 81), got {chunk_frames}")
    fc = (chunk_frames - 1) // temporal + 1
    if fc < overlap + 1:
        raise ValueError(
            f"chunk_frames={chunk_frames} gives {fc} latent frames; with an overlap of {overlap} latent frames a chunk "
            f"needs at least {overlap + 1} ({temporal * overlap + 1} video frames)"
        )
    g = latent_frames_for(num_frames, temporal)
    chunks: list[Chunk] = []
    start, frames = 0, min(fc, g)
    while True:
        end = start + frames
        last = end >= g
        chunks.append(Chunk(len(chunks), start, frames, 0 if not chunks else overlap, end if last else end - overlap, temporal))
        if last:
            break
        start = end - overlap
        frames = min(fc, g - start)
    return ChunkPlan(num_frames, g, fc, overlap, temporal, tuple(chunks))


def blend_weights(n: int = 4) -> torch.Tensor:
    """Linear blend weights for the previous chunk over an n-frame overlap: n = 4 -> [1, .67, .33, 0] (§7.2)."""
    if n == 4:
        return torch.tensor(BLEND_WEIGHTS_4, dtype=torch.float64)
    if n == 1:
        return torch.tensor([1.0], dtype=torch.float64)
    return torch.linspace(1.0, 0.0, n, dtype=torch.float64)


def blend_overlap(prev: torch.Tensor, nxt: torch.Tensor) -> torch.Tensor:
    """`w * prev + (1 - w) * nxt` over the frame axis (dim 2 of `[B, C, n, H, W]`), w from `blend_weights(n)`."""
    if prev.shape != nxt.shape:
        raise ValueError(f"overlap shapes differ: {tuple(prev.shape)} vs {tuple(nxt.shape)}")
    w = blend_weights(prev.shape[2]).to(device=prev.device, dtype=torch.float32).view(1, 1, -1, 1, 1)
    return (w * prev.float() + (1 - w) * nxt.float()).to(nxt.dtype)
