"""Contact sheet of `gloria demo` outputs: the true render (top row) above each generated video, 16 frames.

    gloria demo --out /tmp/all.mp4 && gloria demo --anchors none --out /tmp/none.mp4
    python bench/demo_strip.py /tmp/all.mp4 /tmp/none.mp4 --out docs/img/demo_strip.png

The videos must come from the same held-out character (`--character`, default 0) and length.
"""
from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from gloria.pipelines.video_io import read_video_frames
from gloria.synthetic.demo_run import FPS, character_world


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("videos", nargs="+")
    p.add_argument("--character", type=int, default=0)
    p.add_argument("--columns", type=int, default=16)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    videos = [read_video_frames(v) for v in a.videos]
    n = videos[0].shape[0]
    if any(v.shape[0] != n for v in videos):
        p.error(f"videos have different frame counts: {[v.shape[0] for v in videos]}")
    truth = character_world(a.character, n / FPS)[3].frames
    idx = np.linspace(0, n - 1, a.columns).astype(int)
    rows = [np.concatenate([f[i] for i in idx], 1) for f in (truth, *videos)]
    Image.fromarray(np.concatenate(rows, 0)).save(a.out, optimize=True)
    print(f"{a.out}: rows truth, {', '.join(a.videos)}; frames at {[round(float(i) / FPS, 1) for i in idx]} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
