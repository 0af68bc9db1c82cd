"""Video and audio I/O with PyAV: probe, content hash, frame streaming, seeking, clip writing."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np


class ProbeError(Exception):
    """The input cannot be used; `reason` is a short key (unreadable, no_video_stream, ...)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float  # average frame rate
    duration_s: float
    num_frames: int  # estimate when the container does not say (duration * fps)
    has_audio: bool
    audio_rate: int | None
    audio_channels: int | None


def content_hash(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of the file's bytes (hex). The dataset keys resumable work on it."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def probe(path: str | os.PathLike) -> VideoInfo:
    """Container metadata. Raises ProbeError(unreadable | no_video_stream | no_frames)."""
    path = str(path)
    try:
        with av.open(path) as c:
            if not c.streams.video:
                raise ProbeError("no_video_stream", f"{path} has no video stream")
            v = c.streams.video[0]
            fps = float(v.average_rate or v.guessed_rate or 0)
            if v.duration is not None and v.time_base is not None:
                dur = float(v.duration * v.time_base)
            elif c.duration is not None:
                dur = c.duration / av.time_base
            else:
                dur = 0.0
            n = int(v.frames) if v.frames else int(round(dur * fps))
            a = c.streams.audio[0] if c.streams.audio else None
            # decode one frame: catches files whose header parses but whose data does not
            c.seek(0)
            first = next(c.decode(video=0), None)
            if first is None:
                raise ProbeError("no_frames", f"{path}: no decodable video frame")
            return VideoInfo(path, int(v.width or first.width), int(v.height or first.height), fps, dur, n,
                             a is not None, int(a.rate) if a is not None else None,
                             int(a.channels) if a is not None else None)
    except ProbeError:
        raise
    except (av.FFmpegError, OSError, StopIteration, ValueError) as err:
        raise ProbeError("unreadable", f"{path}: {type(err).__name__}: {err}") from None


def iter_frames(path: str | os.PathLike, start_s: float = 0.0, end_s: float | None = None,
                ) -> Iterator[tuple[float, av.VideoFrame]]:
    """Decode frames with start_s <= t < end_s in order, yielding (t seconds, av.VideoFrame)."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        if start_s > 0:
            c.seek(int(start_s / v.time_base), stream=v, backward=True, any_frame=False)
        for frame in c.decode(v):
            if frame.pts is None:
                continue
            t = float(frame.pts * v.time_base)
            if t < start_s - 1e-6:
                continue
            if end_s is not None and t >= end_s - 1e-6:
                break
            yield t, frame


def frame_at(path: str | os.PathLike, times: list[float]) -> dict[float, np.ndarray]:
    """RGB frames [H, W, 3] uint8 shown at each time in `times` (one sequential decode over their span)."""
    want = sorted(set(float(t) for t in times))
    out: dict[float, np.ndarray] = {}
    if not want:
        return out
    k, prev = 0, None
    for ft, frame in iter_frames(path, max(0.0, want[0] - 1.0), want[-1] + 1.0):
        while k < len(want) and ft > want[k] + 1e-6:
            if prev is not None:
                out[want[k]] = prev.to_ndarray(format="rgb24")
            k += 1
        if k >= len(want):
            break
        prev = frame
    while k < len(want) and prev is not None:  # times at or past the last frame
        out[want[k]] = prev.to_ndarray(format="rgb24")
        k += 1
    return out


def read_audio(path: str | os.PathLike, rate: int | None = None, mono: bool = True) -> tuple[np.ndarray, int]:
    """Decode the first audio stream: float32 [channels, samples] in [-1, 1] and its sample rate.

    Sample 0 is at time 0 of the file's timeline (leading gaps are zero-padded). Returns an array
    with 0 samples when there is no audio stream.
    """
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return np.zeros((1, 0), np.float32), int(rate or 16000)
        a = c.streams.audio[0]
        sr = int(rate or a.rate)
        res = av.AudioResampler(format="fltp", layout="mono" if mono else ("stereo" if (a.channels or 1) > 1 else "mono"), rate=sr)
        chunks, first_t = [], None
        for frame in c.decode(a):
            if first_t is None and frame.pts is not None:
                first_t = float(frame.pts * a.time_base)
            for f in res.resample(frame):
                chunks.append(f.to_ndarray())
        for f in res.resample(None):
            chunks.append(f.to_ndarray())
    if not chunks:
        return np.zeros((1, 0), np.float32), sr
    x = np.concatenate(chunks, axis=1).astype(np.float32)
    lead = int(round(max(0.0, first_t or 0.0) * sr))
    if lead:
        x = np.concatenate([np.zeros((x.shape[0], lead), np.float32), x], axis=1)
    return x, sr


def resample_times(start_s: float, n: int, fps: float) -> np.ndarray:
    """The n output frame times start_s + k / fps (seconds)."""
    return start_s + np.arange(n) / fps


def write_clip(src: str | os.PathLike, dst: str | os.PathLike, start_s: float, num_frames: int, fps: float,
               audio: tuple[np.ndarray, int] | None = None, codec: str = "libx264", crf: int = 18,
               max_height: int = 0) -> tuple[int, int]:
    """Cut [start_s, start_s + num_frames / fps) from `src`, resampled to exactly `num_frames` frames at `fps`.

    Each output frame k is the source frame on screen at start_s + k / fps (nearest-previous). The
    audio (float32 [C, S], rate) of the whole file, if given, is sliced to the same interval and
    muxed as AAC starting at pts 0, so it stays in sync. Written to a temp file, then renamed.
    Returns (width, height) of the written video.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.stem}.tmp{os.getpid()}{dst.suffix}")
    targets = resample_times(start_s, num_frames, fps)
    rate = Fraction(fps).limit_denominator(1001)
    written = 0
    with av.open(str(src)) as c:
        sw, sh = c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height
    w, h = sw, sh
    if max_height and h > max_height:
        w, h = int(round(w * max_height / h)), max_height
    w, h = w - w % 2, h - h % 2
    try:
        with av.open(str(tmp), "w") as out:
            vs = out.add_stream(codec, rate=rate)  # every stream is added before the first packet is muxed
            vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
            if codec == "libx264":
                vs.options = {"crf": str(crf), "preset": "veryfast"}
            ast = None
            if audio is not None and audio[0].shape[1] > 0:
                layout = "mono" if audio[0].shape[0] == 1 else "stereo"
                ast = out.add_stream("aac", rate=audio[1], layout=layout)
            cur = None
            k = 0

            def emit(frame: av.VideoFrame) -> None:
                nonlocal written
                img = frame.reformat(width=w, height=h, format="yuv420p")
                img.pts = written
                img.time_base = Fraction(1) / rate
                for p in vs.encode(img):
                    out.mux(p)
                written += 1

            for t, frame in iter_frames(src, max(0.0, start_s - 0.5), float(targets[-1]) + 1.0):  # from the frame on screen at start_s
                while k < num_frames and t > targets[k] + 1e-6:
                    if cur is not None:
                        emit(cur)
                    k += 1
                if k >= num_frames:
                    break
                cur = frame
            while k < num_frames and cur is not None:  # source ended: hold the last frame
                emit(cur)
                k += 1
            if written == 0:
                raise ValueError(f"{src}: no frames in [{start_s:.3f}, {targets[-1]:.3f}]")
            for p in vs.encode():
                out.mux(p)
            if ast is not None:
                x, sr = audio
                a0 = int(round(start_s * sr))
                n = int(round(num_frames / fps * sr))
                seg = x[:, a0:a0 + n]
                if seg.shape[1] < n:
                    seg = np.pad(seg, ((0, 0), (0, n - seg.shape[1])))
                step = 1024
                for i in range(0, n, step):
                    af = av.AudioFrame.from_ndarray(np.ascontiguousarray(seg[:, i:i + step]), format="fltp", layout=layout)
                    af.sample_rate, af.pts, af.time_base = sr, i, Fraction(1, sr)
                    for p in ast.encode(af):
                        out.mux(p)
                for p in ast.encode():
                    out.mux(p)
            size = (vs.width, vs.height)
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()
    if written != num_frames:  # pragma: no cover - guarded by the loop above
        raise RuntimeError(f"{dst}: wrote {written} frames, expected {num_frames}")
    return size


def write_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Atomic PNG write of an RGB uint8 [H, W, 3] image."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.png")
    Image.fromarray(rgb).save(tmp, format="PNG")
    os.replace(tmp, path)
