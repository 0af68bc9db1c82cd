"""CLI: `gloria data build` and `gloria anchors extract` (heavy imports happen inside the handlers)."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="build a training dataset from raw videos (paper §3)")
    dsub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    b = dsub.add_parser("build", help="raw long videos -> 5 s single-person clips + anchors + Parquet manifest")
    b.add_argument("--videos", required=True, help="a directory (searched recursively), a glob pattern or one file")
    b.add_argument("--out", required=True, help="dataset directory (created; re-runs resume)")
    b.add_argument("--engine", choices=["local", "ray"], default="local", help="local process pool (default) or Ray Data")
    b.add_argument("--workers", type=int, default=None, help="parallel workers (default: CPU count)")
    b.add_argument("--config", default=None, help="YAML config (see configs/data/default.yaml)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=_build)
    data.set_defaults(func=lambda a: (data.print_help(), 2)[1])

    anc = sub.add_parser("anchors", help="anchor-set tools")
    asub = anc.add_subparsers(dest="anchors_command", metavar="SUBCOMMAND")
    e = asub.add_parser("extract", help="one reference video -> anchor images + anchors.yaml for `gloria generate --anchors`")
    e.add_argument("video")
    e.add_argument("--out", required=True, help="output directory for the images and anchors.yaml")
    e.add_argument("--config", default=None, help="YAML config (viewpoint/expression/judge sections are used)")
    e.set_defaults(func=_extract)
    anc.set_defaults(func=lambda a: (anc.print_help(), 2)[1])


def _quiet() -> None:
    import os
    import warnings

    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore")


def _build(args) -> int:
    _quiet()
    from gloria.data.build import build_dataset
    from gloria.data.config import load_config

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    cfg = load_config(args.config)
    s = build_dataset(args.videos, args.out, cfg, engine=args.engine, workers=args.workers, progress=not args.no_progress)
    th = s["throughput"]
    print(f"videos: {s['videos']} (processed {s['videos_processed']}, resumed {s['videos_skipped_resume']}, "
          f"failed {s['videos_failed']}); long shots kept: {s['long_shots_kept']}/{s['shots_detected']}; clips: {s['clips']}")
    print("dropped: " + (", ".join(f"{k}={v}" for k, v in s["dropped"].items()) or "none"))
    print("anchors: " + (", ".join(f"{k}={v}" for k, v in s["anchors_per_category"].items()) or "none"))
    print(f"throughput: {th['source_seconds']:.1f} source-s in {th['wall_s']:.1f} s wall = {th['source_s_per_wall_s']} source-s/s "
          f"({th['source_s_per_wall_s_per_worker']} per worker, {th['workers']} workers, engine {th['engine']})")
    print(f"manifest: {args.out}/clips.parquet, anchors.parquet, failures.parquet, summary.json")
    return 0


def _extract(args) -> int:
    _quiet()
    from gloria.data.build import _judge_for
    from gloria.data.config import load_config
    from gloria.data.extract import extract_anchor_set

    cfg = load_config(args.config)
    entries = extract_anchor_set(args.video, args.out, cfg, _judge_for(cfg, args.out))
    print(json.dumps([{k: e[k] for k in ("image", "type", "category")} for e in entries]))
    print(f"wrote {len(entries)} anchors to {args.out}/anchors.yaml")
    return 0
