"""Table 4 of the paper at small scale: the demo model and its ablations, scored against ground truth.

Every variant starts from the same stage-I run (`configs/demo/stage1.yaml`: no anchors, so it is shared
fairly) and trains stages II, III and the III fine-tune with the same recipe and step budget (the demo
model's, or that times `--scale`, the full model retrained too); only what the ablation names changes. Each is then scored on held-out characters (`gloria.synthetic.demo_run.generate`: the
turn-around script, per-chunk captions, audio, anchors) against the true render.

    python bench/ablations.py --train                  # train the 4 ablations (the full model = the demo run)
    python bench/ablations.py --train --scale 0.3      # all 5 at 30 % of the demo's steps (runs/demo/ablations-x0.3)
    python bench/ablations.py --characters 3 --seconds 30   # evaluate, print the table, write JSON

Variants: full (runs/demo/full: the shipped demo model), x_global (no global anchor in training or inference),
x_view_expr (stage III and its fine-tune replaced by more stage II: global anchor only), x_sca (anchors only
from inside the training clip, the global one any frame of the clip), x_rwc (every anchor at one shared RoPE time position: no offsets),
full_no_anchors (the full model's weights with no anchors given at inference: what the anchors add),
vae_ceiling (no model: the true video encoded and decoded by the demo VAE, the best any variant can score).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gloria.synthetic.demo_model import STAGES

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "demo"
FINAL = list(STAGES)[-1]  # the run whose weights are scored
VARIANTS = {  # name -> (training overrides for stages II and III, anchor kinds given at inference)
    "full": ([], ("global", "view", "expr")),
    "x_global": (["anchors.global_anchor=false"], ("view", "expr")),
    "x_view_expr": (["anchors.mode=global"], ("global",)),
    # anchors only from inside the clip; the in-clip global anchor is any latent frame of the clip (so every clip
    # trains, not only the few that contain a global-anchor frame of the data pipeline)
    "x_sca": (["anchors.superset=false", "anchors.global_source=clip_frame"], ("global", "view", "expr")),
    "x_rwc": (["model.overrides={rope_weak_condition: false}"], ("global", "view", "expr")),
    "full_no_anchors": ([], ()),  # the full model's weights, no anchors given at inference
    "vae_ceiling": ([], ("global", "view", "expr")),  # no transformer: the true video through the demo VAE
}
SAME_WEIGHTS = {"full_no_anchors": "full", "vae_ceiling": "full"}  # not trained: scored with these weights


def ablation_root(scale: float) -> Path:
    return RUNS / ("ablations" if scale == 1 else f"ablations-x{scale:g}")


def run_dir(name: str, scale: float = 1.0) -> Path:
    name = SAME_WEIGHTS.get(name, name)
    return RUNS / "full" if name == "full" and scale == 1 else ablation_root(scale) / name


def train(name: str, threads: int, scale: float = 1.0) -> float:
    from gloria.training.config import load_config

    sets, _ = VARIANTS[name]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = run_dir(name, scale)
    t0 = time.perf_counter()
    stages = [s for s in STAGES if s != "stage1"]
    for stage, init in zip(stages, [RUNS / "stage1"] + [out / s for s in stages[:-1]]):
        recipe = ROOT / "configs/demo" / STAGES[stage]
        cfg = load_config(recipe)
        cmd = [sys.executable, "-m", "gloria.cli", "train", "--config", str(recipe),
               "--set", f"model.init_from={init}", "--set", f"run.output_dir={out / stage}", "--resume",
               "--set", f"run.max_steps={max(1, round(cfg.run.max_steps * scale))}",
               "--set", f"optim.warmup_steps={round(cfg.optim.warmup_steps * scale)}"]
        for s in sets:
            cmd += ["--set", s]
        out.mkdir(parents=True, exist_ok=True)
        with open(out.parent / f"{name}-{stage}.log", "a") as log:
            subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    return time.perf_counter() - t0


def ci95(values) -> float:
    """Half-width of the 95 % Student-t confidence interval of the mean (0 for fewer than 2 values)."""
    import numpy as np
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return 0.0
    return float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def evaluate(names: list[str], characters: int, seconds: float, steps: int, guidance: float, scale: float = 1.0,
             first_character: int = 1) -> dict:
    import numpy as np
    import torch

    from gloria.synthetic.demo_run import generate, vae_ceiling
    from gloria.synthetic.demo_model import load_pipeline

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    results = {}
    ks = range(first_character, first_character + characters)
    for name in names:
        pipe = load_pipeline(transformer=run_dir(name, scale) / FINAL)
        if name == "vae_ceiling":
            reports = []
            for k in ks:
                d = vae_ceiling(pipe, k, seconds, VARIANTS[name][1], detailed=True)
                reports.append({"summary": d[0], "metrics": d[2]})
        else:
            reports = [generate(pipe, k, seconds, None, steps, guidance, seed=k, use=VARIANTS[name][1], progress=False)
                       for k in ks]
        rows = [r["summary"] for r in reports]
        drift = [{k: r["metrics"]["drift"][k] for k in ("t_start_s", "psnr_character_db", "psnr_background_db")}
                 for r in reports]
        keys = [key for key in rows[0] if any(r[key] is not None for r in rows)]
        vals = {key: [r[key] for r in rows if r[key] is not None] for key in keys}
        results[name] = {"mean": {k: float(np.mean(v)) for k, v in vals.items()},
                         "sd": {k: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for k, v in vals.items()},
                         "ci95": {k: ci95(v) for k, v in vals.items()},
                         "per_character": rows, "drift_windows": drift}
        print(name, json.dumps({k: round(v, 3) for k, v in results[name]["mean"].items()}), flush=True)
    return results


def table(results: dict) -> str:
    cols = [("psnr_back", "PSNR back (dB) ↑"), ("psnr_all", "PSNR char. (dB) ↑"), ("hist_back", "hist. dist. back ↓"),
            ("view_acc", "view acc. ↑"), ("copy_first", "copy first frame ↓"), ("pose_stuck", "pose stuck ↓"),
            ("drift_char_db_per_min", "char. drift (dB/min)"), ("lipsync_corr", "lip-sync corr. ↑")]
    cols = [(k, h) for k, h in cols if any(k in r["mean"] for r in results.values())]
    lines = ["| variant | " + " | ".join(h for _, h in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, r in results.items():
        m, ci = r["mean"], r.get("ci95", r["sd"])
        lines.append(f"| {name} | " + " | ".join(f"{m[k]:.2f} ± {ci[k]:.2f}" if k in m else "–" for k, _ in cols) + " |")
    return "\n".join(lines) + "\n\n(mean ± half-width of the 95 % t-interval over the held-out characters)"


def drift_table(results: dict, window_s: float = 20.0) -> str:
    """Character PSNR (dB) per `window_s` of the video, mean over characters: drift over time."""
    import numpy as np

    first = next(iter(results.values()))["drift_windows"][0]["t_start_s"]
    bins = sorted({int(t // window_s) for t in first})
    lines = ["| variant | " + " | ".join(f"{b * window_s:g}–{(b + 1) * window_s:g} s" for b in bins) + " |",
             "|---" * (len(bins) + 1) + "|"]
    for name, r in results.items():
        cells = []
        for b in bins:
            v = [x for d in r["drift_windows"] for t, x in zip(d["t_start_s"], d["psnr_character_db"])
                 if int(t // window_s) == b and x is not None]
            cells.append(f"{np.mean(v):.2f}" if v else "–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n(character PSNR in dB per window, mean over the held-out characters)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", action="store_true", help="train the ablation variants first")
    p.add_argument("--jobs", type=int, default=1, help="variants trained at once (1 thread each when > 1)")
    p.add_argument("--variants", nargs="*", default=list(VARIANTS))
    p.add_argument("--characters", type=int, default=5, help="held-out characters per variant")
    p.add_argument("--first-character", type=int, default=1,
                   help="first held-out character (default 1: `gloria demo` prints character 0)")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=3.5)
    p.add_argument("--scale", type=float, default=1.0,
                   help="train stages II-III with this fraction of the demo recipe's steps (the full model too)")
    p.add_argument("--out", default=None, help="results JSON (default: RUNS/ablations[-xSCALE]/results.json)")
    a = p.parse_args()
    if not 0 < a.scale <= 1:
        p.error(f"--scale must be in (0, 1], got {a.scale}")
    unknown = sorted(set(a.variants) - set(VARIANTS))
    if unknown:
        p.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    a.out = a.out or str(ablation_root(a.scale) / "results.json")
    if a.train:
        todo = [n for n in a.variants if n not in SAME_WEIGHTS and (n != "full" or a.scale != 1)]
        ablation_root(a.scale).mkdir(parents=True, exist_ok=True)
        threads = 1 if a.jobs > 1 else (os.cpu_count() or 1)
        with ThreadPoolExecutor(a.jobs) as ex:
            for name, secs in zip(todo, ex.map(lambda n: train(n, threads, a.scale), todo)):
                print(f"trained {name} in {secs / 60:.1f} min", flush=True)
    res = evaluate(a.variants, a.characters, a.seconds, a.steps, a.guidance, a.scale, a.first_character)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"args": vars(a), "results": res}, indent=2))
    print(table(res))
    print(drift_table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
