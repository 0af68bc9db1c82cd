"""Speed of `gloria.synthetic.metrics.score_against_truth` (one core): a 60 s video scored against its truth.

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python bench/synthetic_metrics_speed.py --seconds 60 --size 64

Scores, for a turn-around and a random script, the true frames themselves and a "never turns" video
(frame 0 repeated); best of `--repeats`. The yaw search dominates (candidate renders).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from gloria.synthetic import Character, Scene, random_script, render_video, turn_around_script
from gloria.synthetic.metrics import score_against_truth


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--fps", type=float, default=16.0)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()
    ch, sc = Character.random(0), Scene.random(0)
    for name, script in (("turn-around", turn_around_script(a.seconds)), ("random", random_script(0, a.seconds))):
        truth = render_video(ch, sc, script, fps=a.fps, size=a.size, seed=0)
        stuck = np.repeat(truth.frames[:1], len(truth.frames), axis=0)
        for label, frames in (("truth", truth.frames), ("frame 0 repeated", stuck)):
            best = float("inf")
            for _ in range(a.repeats):
                t = time.perf_counter()
                score_against_truth(frames, truth, ch, sc)
                best = min(best, time.perf_counter() - t)
            print(f"{name:11s} {label:16s} {len(frames)} frames {a.size}x{a.size}: {best:.2f} s "
                  f"({len(frames) / best:.0f} frames/s)")


if __name__ == "__main__":
    main()
