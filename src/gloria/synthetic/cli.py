"""`gloria synthetic render` (one video + anchors + ground truth) and `gloria synthetic dataset` (N x M videos)."""
from __future__ import annotations

import argparse
import json


def _render(args) -> int:
    from .character import Character, Scene
    from .dataset import write_video_bundle
    from .script import random_script, turn_around_script
    from .world import parse_size, render_video

    size = parse_size((args.size, args.size), "--size")
    parse_size(args.crop, "--crop")
    parse_size(args.view_crop or args.crop, "--view-crop")
    if args.seconds <= 0:
        raise ValueError(f"--seconds must be > 0, got {args.seconds}")
    character, scene = Character.random(args.seed), Scene.random(args.seed)
    script = turn_around_script(args.seconds, framing=args.framing) if args.script == "turn-around" \
        else random_script(args.seed, args.seconds, args.framing)
    video = render_video(character, scene, script, fps=args.fps, size=size, seed=args.seed, progress=True)
    vid = f"syn{args.seed}"
    paths = write_video_bundle(args.out, vid, video, character, scene, args.crop, args.view_crop)
    print(json.dumps({k: str(v) for k, v in paths.items()} | {"frames": len(video.frames),
                      "caption": script.describe()}, indent=2))
    return 0


def _dataset(args) -> int:
    from .dataset import write_dataset

    summary = write_dataset(args.out, args.characters, args.videos, seconds=args.seconds, fps=args.fps,
                            size=args.size, crop=args.crop, clip_frames=args.clip_frames, seed=args.seed,
                            anchors_per_category=args.anchors_per_category, script=args.script,
                            framing=args.framing, view_crop=args.view_crop)
    print(json.dumps(summary, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from .script import FRAMINGS

    p = sub.add_parser("synthetic", help="render the synthetic character world (videos, anchors, ground truth)")
    ssub = p.add_subparsers(dest="synthetic_command", metavar="SUBCOMMAND", required=True)

    def common(q: argparse.ArgumentParser, seconds: float) -> None:
        q.add_argument("--seed", type=int, default=0, help="character/scene/script seed (default 0)")
        q.add_argument("--seconds", type=float, default=seconds, help=f"video length (default {seconds:g})")
        q.add_argument("--fps", type=float, default=16.0, help="frames per second (default 16)")
        q.add_argument("--size", type=int, default=64, help="frame height = width in px, multiple of 16 (default 64)")
        q.add_argument("--crop", type=int, default=32, help="anchor crop size in px, multiple of 16 (default 32)")
        q.add_argument("--view-crop", type=int, default=None,
                       help="viewpoint (body) anchor crop size in px (default: --crop)")
        q.add_argument("--framing", choices=FRAMINGS, default="full",
                       help="full: the whole character; medium: head and torso fill the frame (default full)")
        q.add_argument("--script", choices=("random", "turn-around"), default="random", help="what the character does")
        q.add_argument("--out", required=True, help="output directory")

    r = ssub.add_parser("render", help="render one video (MP4 with audio) + its anchors.yaml set + ground truth")
    common(r, 20.0)
    r.set_defaults(func=_render)
    d = ssub.add_parser("dataset", help="render N characters x M videos in the data pipeline's manifest layout")
    common(d, 30.0)
    d.add_argument("--characters", type=int, default=4, help="number of characters (default 4)")
    d.add_argument("--videos", type=int, default=2, help="videos per character (default 2)")
    d.add_argument("--clip-frames", type=int, default=None, help="frames per training clip (default 5 s * fps)")
    d.add_argument("--anchors-per-category", type=int, default=2, help="anchor frames per category per video (default 2)")
    d.set_defaults(func=_dataset)
