"""`gloria eval`: score videos with the paper's metrics; writes metrics.json + report.md (+ drift plots)."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="score videos: VBench subject/background, ArcFace, CLIP-I/DINO-I, Exp., Sync-C/D, IQA/AES, FVD, FID",
        description="Score one or more videos with the paper's metrics (§5.1). Writes OUT/metrics.json "
        "(every number, per chunk, with the backbones used) and OUT/report.md with drift plots.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("--metrics", default="subject,background,identity",
                   help="comma-separated: subject,background,identity,clip-i,dino-i,exp,sync,iqa,aes,fvd,fid (or all)")
    p.add_argument("--first-frame", metavar="IMG", help="identity reference image (default: each video's first frame)")
    p.add_argument("--anchors", metavar="YAML", help="anchors.yaml: references for clip-i, dino-i (global+viewpoint) and exp (expression)")
    p.add_argument("--audio", metavar="WAV", help="driving audio for sync (default: each video's own audio track)")
    p.add_argument("--reference-videos", metavar="DIR", help="real videos for fvd and fid")
    p.add_argument("--fid-frame-step", type=int, default=1, metavar="K",
                   help="fid: use every K-th frame of each generated and reference video")
    p.add_argument("--out", metavar="DIR", help="output folder (default: VIDEO_eval next to a single video, else ./eval_out)")
    p.add_argument("--chunk-seconds", type=float, default=10.0, help="drift-curve chunk length")
    p.add_argument("--batch-size", type=int, default=16, help="frames per backbone batch")
    p.add_argument("--stride", type=int, default=1, help="score every N-th frame (1 = all, the reference protocol)")
    p.add_argument("--device", default="cpu")
    g = p.add_argument_group("backbones (hub id from the local cache, or a local directory / file)")
    g.add_argument("--dino", help="subject: ViTModel DINO ViT-B/16 (default facebook/dino-vitb16)")
    g.add_argument("--clip", help="background: CLIP ViT-B/32 (default openai/clip-vit-base-patch32)")
    g.add_argument("--dino-i", dest="dino_i", help="dino-i: DINO ViT-S/16 (default facebook/dino-vits16)")
    g.add_argument("--clip-i", dest="clip_i", help="clip-i: CLIP ViT-B/32 (default openai/clip-vit-base-patch32)")
    g.add_argument("--identity-backend", choices=["arcface", "dlib"], default="arcface",
                   help="arcface (needs --arcface-weights; non-commercial models) or dlib (128-d, different backbone)")
    g.add_argument("--arcface-weights", metavar="PTH", help="insightface arcface_torch backbone.pth (IResNet)")
    g.add_argument("--face-detector", choices=["hog", "cnn"], default="hog", help="dlib face detector")
    g.add_argument("--detect-max-side", type=int, default=640, help="downscale frames to this longer side for face detection")
    g.add_argument("--syncnet-weights", metavar="PATH", help="syncnet_python syncnet_v2.model")
    g.add_argument("--i3d-weights", metavar="PT", help="TorchScript I3D (i3d_torchscript.pt)")
    g.add_argument("--fid-weights", metavar="PTH",
                   help="fid: pytorch-fid's pt_inception-2015-12-05-6726825d.pth (default: $GLORIA_FID_WEIGHTS; never downloaded)")
    g.add_argument("--qalign", metavar="DIR", help="local q-future/one-align (trust_remote_code)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from .metrics import EvalOptions, default_out_dir, evaluate, parse_metrics
    from .report import write_report

    opts = EvalOptions(
        metrics=parse_metrics(args.metrics), first_frame=args.first_frame, anchors=args.anchors, audio=args.audio,
        reference_videos=args.reference_videos, chunk_seconds=args.chunk_seconds, batch_size=args.batch_size,
        stride=args.stride, device=args.device, dino=args.dino, clip=args.clip, dino_i=args.dino_i, clip_i=args.clip_i,
        identity_backend=args.identity_backend, arcface_weights=args.arcface_weights, syncnet_weights=args.syncnet_weights,
        i3d_weights=args.i3d_weights, fid_weights=args.fid_weights, fid_frame_step=args.fid_frame_step, qalign=args.qalign,
        face_detector=args.face_detector, detect_max_side=args.detect_max_side, progress=not args.quiet,
    )
    doc = evaluate(args.videos, opts)
    out = Path(args.out) if args.out else default_out_dir(args.videos)
    paths = write_report(doc, out)
    print(f"wrote {paths['json']} and {paths['report']}")
    for m, r in doc["summary"].items():
        val = r.get("value")
        print(f"  {m}: {'n/a (' + r.get('reason', '') + ')' if val is None else f'{val:.4f}'}")
    return 0
