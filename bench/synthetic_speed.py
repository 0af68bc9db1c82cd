"""Render speed of the synthetic world (frames/s on one core), video + audio + ground truth, no disk I/O.

    OMP_NUM_THREADS=1 .venv/bin/python bench/synthetic_speed.py --seconds 120 --sizes 64 96 128
"""
from __future__ import annotations

import argparse
import time

from gloria.synthetic import Character, Scene, random_script, render_video


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--fps", type=float, default=16.0)
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 96, 128])
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    ch, sc = Character.random(0), Scene.random(0)
    script = random_script(0, a.seconds)
    for size in a.sizes:
        best = float("inf")
        for _ in range(a.repeats):
            t = time.perf_counter()
            v = render_video(ch, sc, script, fps=a.fps, size=size, seed=0)
            best = min(best, time.perf_counter() - t)
        n = len(v.frames)
        print(f"size {size}x{size}: {n} frames ({a.seconds:g} s video at {a.fps:g} fps) in {best:.2f} s "
              f"-> {n / best:.0f} frames/s ({a.seconds / best:.0f}x real time)")


if __name__ == "__main__":
    main()
