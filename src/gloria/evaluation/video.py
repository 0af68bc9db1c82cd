"""Streaming video / audio input with PyAV: frames come in batches, never the whole video in memory."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class VideoInfo:
    path: str
    fps: float
    n_frames: int  # from the container; -1 if unknown (then counted while decoding)
    width: int
    height: int
    duration_s: float


@dataclass
class FrameBatch:
    """`frames` uint8 `[B, H, W, 3]` RGB; `indices` frame numbers in the (resampled) stream; `times` seconds."""

    frames: np.ndarray
    indices: list[int]
    times: list[float]


def _open(path: str | Path):
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    try:
        container = av.open(str(path))
    except Exception as err:  # av.error.InvalidDataError and friends
        raise ValueError(f"cannot read video {path}: {err}") from err
    if not container.streams.video:
        container.close()
        raise ValueError(f"{path} has no video stream")
    return container


def probe(path: str | Path) -> VideoInfo:
    """Frame rate, frame count, size and duration of a video file."""
    container = _open(path)
    try:
        st = container.streams.video[0]
        fps = float(st.average_rate or st.guessed_rate or 0)
        if fps <= 0:
            raise ValueError(f"{path}: unknown frame rate")
        n = int(st.frames or 0)
        if st.duration is not None and st.time_base is not None:
            dur = float(st.duration * st.time_base)
        elif container.duration is not None:
            dur = container.duration / 1e6
        else:
            dur = n / fps if n else float("nan")
        if n <= 0:
            n = int(round(dur * fps)) if dur == dur else -1
        return VideoInfo(str(path), fps, n, st.codec_context.width, st.codec_context.height, dur)
    finally:
        container.close()


def iter_frames(path: str | Path, fps: float | None = None, stride: int = 1) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield `(index, time_s, rgb uint8 [H, W, 3])`.

    fps: resample to this rate (output frame k at time k/fps shows the decoded frame nearest in time,
    like ffmpeg's `fps` filter), or None to keep every frame. stride: keep every stride-th output frame.
    """
    container = _open(path)
    try:
        st = container.streams.video[0]
        st.thread_type = "AUTO"
        native = float(st.average_rate or st.guessed_rate or 25)
        try:
            out_k = 0
            prev = None  # (time, array) of the previous decoded frame
            for i, frame in enumerate(container.decode(st)):
                t = float(frame.time) if frame.time is not None else i / native
                if fps is None:
                    if i % stride == 0:
                        yield i, t, frame.to_ndarray(format="rgb24")
                    continue
                # nearest-frame resampling: output k shows the input frame whose time is nearest to k/fps
                arr = frame.to_ndarray(format="rgb24")
                if prev is not None:
                    boundary = 0.5 * (prev[0] + t)
                    while out_k / fps < boundary - 1e-9:
                        if out_k % stride == 0:
                            yield out_k, out_k / fps, prev[1]
                        out_k += 1
                prev = (t, arr)
            if fps is not None and prev is not None:
                end = prev[0] + 1.0 / native
                while out_k / fps < end - 1e-9:
                    if out_k % stride == 0:
                        yield out_k, out_k / fps, prev[1]
                    out_k += 1
        except Exception as err:
            import av

            if isinstance(err, av.error.FFmpegError):
                raise ValueError(f"cannot decode video {path}: {err}") from err
            raise
    finally:
        container.close()


def iter_batches(path: str | Path, batch_size: int = 16, fps: float | None = None, stride: int = 1) -> Iterator[FrameBatch]:
    """Frames of `iter_frames` grouped into batches of `batch_size` (the last one may be shorter)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    buf, idx, ts = [], [], []
    for i, t, fr in iter_frames(path, fps=fps, stride=stride):
        if buf and fr.shape != buf[0].shape:
            raise ValueError(f"{path}: frame {i} has shape {fr.shape}, earlier frames {buf[0].shape}")
        buf.append(fr)
        idx.append(i)
        ts.append(t)
        if len(buf) == batch_size:
            yield FrameBatch(np.stack(buf), idx, ts)
            buf, idx, ts = [], [], []
    if buf:
        yield FrameBatch(np.stack(buf), idx, ts)


def load_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Mono int16-range float64 samples at `sample_rate` from any file PyAV reads (WAV, or a video's track).

    The values are those SyncNet's reference reads from a 16-bit PCM WAV (`scipy.io.wavfile`):
    integers in [-32768, 32767] as float64.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio not found: {path}")
    try:
        container = av.open(str(path))
    except Exception as err:
        raise ValueError(f"cannot read audio {path}: {err}") from err
    try:
        if not container.streams.audio:
            raise ValueError(f"{path} has no audio stream")
        st = container.streams.audio[0]
        res = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        chunks = []
        for frame in container.decode(st):
            for out in res.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in res.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    finally:
        container.close()
    if not chunks:
        raise ValueError(f"{path}: the audio stream is empty")
    return np.concatenate(chunks).astype(np.float64)


def read_image(path: str | Path) -> np.ndarray:
    """RGB uint8 `[H, W, 3]` of an image file."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except Exception as err:
        raise ValueError(f"cannot read image {path}: {err}") from err


def write_video(path: str | Path, frames, fps: int = 25, audio: np.ndarray | None = None, sample_rate: int = 16000, crf: int = 18) -> None:
    """Write RGB uint8 frames (an iterable of `[H, W, 3]`) to an H.264 mp4 (optional mono int16 audio track).

    Used by the tests and the benchmark to make synthetic videos.
    """
    import av

    frames = iter(frames)
    first = next(frames)
    h, w = first.shape[:2]
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": str(crf), "preset": "ultrafast"}
        ast = None
        if audio is not None:  # all streams must exist before the first packet is muxed
            ast = out.add_stream("aac", rate=sample_rate)
            ast.layout = "mono"
        for fr in _chain(first, frames):
            for pkt in vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(fr), format="rgb24")):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        if ast is not None:
            a = np.asarray(audio, dtype=np.int16).reshape(-1)
            step = 1024
            for i in range(0, len(a), step):
                af = av.AudioFrame.from_ndarray(a[None, i : i + step].copy(), format="s16", layout="mono")
                af.sample_rate = sample_rate
                af.pts = i
                for pkt in ast.encode(af):
                    out.mux(pkt)
            for pkt in ast.encode():
                out.mux(pkt)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int = 16000) -> None:
    """Mono 16-bit PCM WAV."""
    from scipy.io import wavfile

    wavfile.write(str(path), sample_rate, np.asarray(samples, dtype=np.int16))


def _chain(first, rest):
    yield first
    yield from rest
