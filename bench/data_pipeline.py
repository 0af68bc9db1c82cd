"""Data-pipeline throughput: source-video seconds per wall second per core, vs decode-only on the same files.

    .venv/bin/python bench/data_pipeline.py [--videos DIR] [--workers N] [--config FILE]

Without --videos it writes 3 synthetic 640x512, 25 fps, 24 s talking-portrait videos (scikit-image's
astronaut panning, with audio, two hard cuts each) into a temp dir. The ratio pipeline / decode-only shows
how close the whole pipeline (shots, detectors, sync, clip re-encoding, anchors) is to the cost of just
decoding the video once.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "data"))


def decode_only(path: str) -> float:
    import av

    with av.open(path) as c:
        c.streams.video[0].thread_type = "AUTO"
        for _ in c.decode(video=0):
            pass
    from gloria.data.video import probe

    return probe(path).duration_s


def make_inputs(d: Path, n: int = 3) -> str:
    from media import astronaut, no_people, scene_video

    rng = np.random.default_rng(0)
    a = astronaut()
    for i in range(n):
        sr, secs = 16000, 24
        env = np.repeat(rng.random(secs * 5), sr // 5)
        audio = (0.3 * env * np.sin(2 * np.pi * 220 * np.arange(secs * sr) / sr)).astype(np.float32)
        scene_video(d / f"v{i}.mp4", [(a, 250), (no_people(i), 100), (a[:, ::-1], 250)], audio=audio, hw=(512, 640))
    return str(d)


def _stage_seconds(out: Path) -> dict:
    import json

    tot: dict = {}
    for f in (out / "work").glob("*.json"):
        for k, v in json.loads(f.read_text())["result"]["seconds"].items():
            tot[k] = round(tot.get(k, 0.0) + v, 2)
    return tot


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", default=None)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--config", default=None)
    args = ap.parse_args()
    from gloria.data.build import build_dataset, list_videos
    from gloria.data.config import load_config

    tmp = tempfile.TemporaryDirectory()
    videos = args.videos or make_inputs(Path(tmp.name))
    paths = list_videos(videos)
    # synthetic audio does not follow the (still) mouth, so the bench keeps every shot through the sync
    # check (its cost is still paid) to measure clip writing and anchors too
    cfg = load_config(args.config, overrides=None if args.config else {
        "expression": {"min_height": 256}, "sync": {"keep_min_confidence": -1.0, "keep_max_abs_offset": 15}})
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as ex:
        src = sum(ex.map(decode_only, paths))
    dec_wall = time.perf_counter() - t0
    s = build_dataset(paths, Path(tmp.name) / "out", cfg, workers=args.workers, progress=False)
    th = s["throughput"]
    stage = _stage_seconds(Path(tmp.name) / "out")
    dec = src / dec_wall / args.workers
    pipe = th["source_seconds"] / th["wall_s"] / args.workers
    print(f"inputs: {len(paths)} videos, {src:.1f} source-s; workers: {args.workers}")
    print(f"decode-only: {dec:.2f} source-s per wall-s per core ({dec_wall:.1f} s wall)")
    print(f"pipeline:    {pipe:.3f} source-s per wall-s per core ({th['wall_s']:.1f} s wall; clips {s['clips']}, "
          f"anchors {sum(s['anchors_per_category'].values())})")
    print(f"dropped: {s['dropped']}; stage seconds (sum over videos): {stage}")
    print(f"ratio pipeline/decode-only: {pipe / dec:.3f}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
