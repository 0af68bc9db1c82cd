"""Benchmark `gloria eval` on CPU: frames scored per second per metric, and peak memory vs video length.

    .venv/bin/python bench/eval.py                    # speed (reference-size backbones, random weights) + memory
    .venv/bin/python bench/eval.py --long-seconds 120 # a longer "long" video for the memory check

Speed uses the reference architectures at full size (DINO ViT-B/16, CLIP ViT-B/32, DINO ViT-S/16,
IResNet-50, SyncNet) with random weights — the cost is the same as with the real weights — and dlib's
real models when the eval extra is installed. Memory: `evaluate()` on a short and a long synthetic
video in fresh subprocesses (peak RSS from `ru_maxrss`); frames are streamed, so it must not grow.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def frames(n: int, h: int, w: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    base = np.kron(rng.integers(0, 255, (h // 16, w // 16, 3)), np.ones((16, 16, 1))).astype(np.uint8)
    for i in range(n):
        yield np.roll(base, 3 * i, axis=1)


def save_models(d: Path) -> dict:
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, ViTConfig, ViTModel

    from gloria.evaluation.identity import build_iresnet
    from gloria.evaluation.syncnet import build_syncnet

    torch.manual_seed(0)
    out = {}
    ViTModel(ViTConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, patch_size=16), add_pooling_layer=False).save_pretrained(d / "dino_b16")
    ViTModel(ViTConfig(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536, patch_size=16), add_pooling_layer=False).save_pretrained(d / "dino_s16")
    CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, patch_size=32, projection_dim=512)).save_pretrained(d / "clip_b32")
    torch.save(build_iresnet([3, 4, 14, 3]).state_dict(), d / "r50.pth")
    torch.save(build_syncnet().state_dict(), d / "syncnet.model")
    out.update(dino=str(d / "dino_b16"), dino_i=str(d / "dino_s16"), clip=str(d / "clip_b32"), arc=str(d / "r50.pth"), sync=str(d / "syncnet.model"))
    return out


def bench_speed(n_frames: int, size: int, batch: int) -> list[dict]:
    import torch

    from gloria.evaluation.backbones import ImageEncoder
    from gloria.evaluation.video import write_video

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        paths = save_models(d)
        vid = d / "v.mp4"
        write_video(vid, frames(n_frames, size, size), fps=25)
        from gloria.evaluation.video import iter_batches

        batches = [b.frames for b in iter_batches(vid, batch_size=batch)]
        for role, src in (("subject", paths["dino"]), ("background", paths["clip"]), ("dino-i", paths["dino_i"]), ("clip-i", paths["clip"])):
            enc = ImageEncoder.load(role, src)
            enc.encode(batches[0][:2])  # warm-up
            t = time.perf_counter()
            for b in batches:
                enc.encode(b)
            dt = time.perf_counter() - t
            rows.append({"metric": role, "backbone": f"{type(enc.model).__name__} ({Path(src).name}, random weights)", "fps": n_frames / dt})
        # identity: ArcFace IResNet-50 on aligned crops (+ dlib detection if installed)
        from gloria.evaluation.faces import Face
        from gloria.evaluation.identity import ARCFACE_TEMPLATE, ArcFaceEmbedder

        emb = ArcFaceEmbedder.load(paths["arc"])
        face = Face((0, 0, 200, 200), 1.0, five=ARCFACE_TEMPLATE * 2 + 50)
        allf = [f for b in batches for f in b]
        t = time.perf_counter()
        for i in range(0, len(allf), batch):
            emb.embed([(f, face) for f in allf[i : i + batch]])
        rows.append({"metric": "identity (ArcFace r50 align+embed, no detection)", "backbone": "IResNet-50 random", "fps": len(allf) / (time.perf_counter() - t)})
        try:
            from gloria.evaluation.faces import DlibFaces, detect_scaled
            from gloria.evaluation.identity import DlibEmbedder
            from skimage import data

            astro = np.asarray(data.astronaut())
            det = DlibFaces("hog", landmarks68=True, landmarks5=True)
            demb = DlibEmbedder()
            t = time.perf_counter()
            for _ in range(20):
                fs = detect_scaled(det, astro, 640)
            rows.append({"metric": "face detection (dlib HOG + landmarks, 512x512)", "backbone": "dlib", "fps": 20 / (time.perf_counter() - t)})
            t = time.perf_counter()
            for _ in range(20):
                demb.embed([(astro, fs[0])])
            rows.append({"metric": "identity embed (dlib 128-d)", "backbone": "dlib resnet", "fps": 20 / (time.perf_counter() - t)})
        except ImportError as err:
            rows.append({"metric": "face detection (dlib)", "backbone": f"skipped: {err}", "fps": None})
        # SyncNet lip + audio streams on 224x224 crops
        from gloria.evaluation.syncnet import audio_features, load_syncnet, mfcc, video_features

        model = load_syncnet(paths["sync"])
        crops = [np.asarray(f[:224, :224][..., ::-1]) for f in allf]
        nwin = len(crops) - 5
        t = time.perf_counter()
        video_features(model, iter(crops), nwin)
        audio_features(model, mfcc(np.random.default_rng(0).normal(size=len(crops) * 640) * 1000).T, nwin)
        rows.append({"metric": "sync (SyncNet lip+audio, per video frame)", "backbone": "SyncNet random", "fps": nwin / (time.perf_counter() - t)})
    for r in rows:
        r["threads"] = torch.get_num_threads()
    return rows


def child_rss(video: str, dino: str, batch: int) -> None:
    """Run in a subprocess: evaluate subject+background on `video`, print peak RSS (MiB) as JSON."""
    from gloria.evaluation.backbones import ImageEncoder
    from gloria.evaluation.metrics import EvalOptions, Models, evaluate

    models = Models(encoders={"subject": ImageEncoder.load("subject", dino)})
    t = time.perf_counter()
    doc = evaluate([video], EvalOptions(metrics=("subject",), batch_size=batch, progress=False), models)
    dt = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"frames": doc["videos"][0]["frames_scored"], "peak_rss_mib": rss, "seconds": dt}))


def bench_memory(short_s: float, long_s: float, size: int, batch: int) -> list[dict]:
    from transformers import ViTConfig, ViTModel

    from gloria.evaluation.video import write_video

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        ViTModel(ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128, patch_size=16), add_pooling_layer=False).save_pretrained(d / "tiny")
        for name, secs in (("short", short_s), ("long", long_s)):
            vid = d / f"{name}.mp4"
            write_video(vid, frames(int(secs * 25), size, size), fps=25)
            out = subprocess.run([sys.executable, __file__, "--child", str(vid), str(d / "tiny"), str(batch)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"video": name, "seconds_of_video": secs, **r})
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_rss(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--size", type=int, default=512, help="square frame side for the speed test")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--short-seconds", type=float, default=4)
    ap.add_argument("--long-seconds", type=float, default=60)
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    if not args.skip_speed:
        print("| metric | backbone | frames/s | threads |\n|---|---|---:|---:|")
        for r in bench_speed(args.frames, args.size, args.batch):
            print(f"| {r['metric']} | {r['backbone']} | {'–' if r['fps'] is None else format(r['fps'], '.1f')} | {r['threads']} |")
    print("\n| video | length (s) | frames | peak RSS (MiB) | wall (s) |\n|---|---:|---:|---:|---:|")
    for r in bench_memory(args.short_seconds, args.long_seconds, args.size, args.batch):
        print(f"| {r['video']} | {r['seconds_of_video']:g} | {r['frames']} | {r['peak_rss_mib']:.0f} | {r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
