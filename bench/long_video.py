"""Long-video benchmark: a tiny random GloriaPipeline generating >= 30 chunks on the CPU.

Prints time per chunk (goal: mean of the last 10 / mean of the first 10 <= 1.10), peak RSS after chunk 5
vs after chunk 30 (goal: growth <= 5%) and the per-chunk overhead of content anchors.

    .venv/bin/python bench/long_video.py [--chunks 32] [--size 64] [--steps 4]
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "pipelines"))
from pipeline_helpers import make_pipe, rgb_image  # noqa: E402

from gloria.pipelines.anchor_set import AnchorSet  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(pipe, chunks, size, steps, anchors, out_dir, audio):
    fc = 6  # chunk_frames 21 -> 6 latent frames, 2 new per continuation chunk
    g = fc + (chunks - 1) * (fc - 4)
    n = 4 * (g - 1) + 1
    rss = {}
    t_chunk = []
    last = [time.perf_counter()]

    def cb(p, i, info):
        now = time.perf_counter()
        t_chunk.append(now - last[0])
        last[0] = now
        rss[i + 1] = peak_rss_mb()

    out = pipe(rgb_image(size, size), "w1 w2 w3", negative_prompt="w9", num_frames=n, fps=24, height=size, width=size,
               num_inference_steps=steps, chunk_frames=21, output_path=Path(out_dir) / "bench.mp4",
               anchors=anchors, first_frame_as_global=anchors is not None, progress=False, callback_on_chunk_end=cb,
               audio=audio, audio_sample_rate=16000)
    assert out.num_chunks == chunks, out.num_chunks
    return out, t_chunk, rss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=32)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    pipe = make_pipe("i2v", audio=True)
    secs = (4 * (6 + (a.chunks - 1) * 2 - 1) + 1) / 24 + 1
    audio = (0.1 * np.sin(np.arange(int(secs * 16000)) / 5)).astype(np.float32)
    anchors = (AnchorSet().add(rgb_image(a.size, a.size // 2, 1), "viewpoint", "back")
               .add(rgb_image(a.size // 2, a.size // 2, 2), "expression", "happy"))
    with tempfile.TemporaryDirectory() as d:
        run(pipe, 3, a.size, 1, None, d, audio)  # warm-up
        out, t, rss = run(pipe, a.chunks, a.size, a.steps, None, d, audio)
        out_a, t_a, _ = run(pipe, a.chunks, a.size, a.steps, anchors, d, audio)
    first, last10 = np.mean(t[:10]), np.mean(t[-10:])
    print(f"video: {out.num_frames} frames ({out.seconds:.1f} s at 24 fps), {out.num_chunks} chunks, "
          f"{a.size}x{a.size}, {a.steps} steps, audio + CFG (2 rows batched)")
    print(f"time per chunk: first-10 mean {first * 1e3:.1f} ms, last-10 mean {last10 * 1e3:.1f} ms, "
          f"ratio {last10 / first:.3f} (goal <= 1.10)")
    print(f"peak RSS: after chunk 5 {rss[5]:.1f} MB, after chunk 30 {rss[30]:.1f} MB, growth "
          f"{(rss[30] / rss[5] - 1) * 100:+.2f}% (goal <= 5%)")
    ov = np.median(t_a[1:]) - np.median(t[1:])
    print(f"anchors (first frame as global + 1 viewpoint + 1 expression): median chunk {np.median(t_a[1:]) * 1e3:.1f} ms "
          f"vs {np.median(t[1:]) * 1e3:.1f} ms without -> overhead {ov * 1e3:+.1f} ms/chunk "
          f"({ov / np.median(t[1:]) * 100:+.1f}%)")
    print(f"total {out.elapsed_s:.1f} s, {out.elapsed_s / out.seconds:.2f} s per generated second (tiny model)")


if __name__ == "__main__":
    main()
