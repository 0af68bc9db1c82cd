"""Does a trained model use its content anchors? Paired flow-matching loss with different anchor sets.

For each run, the same cached clips, noise and timesteps (the run's own recipe, stage-III-fine-tune anchor
sampling: global + viewpoint + expression) are scored with: the clip's own anchors ("all"), only the global
anchor ("global"), no anchors ("none") and the anchors of the next sample in the batch, i.e. another
character ("other"). A model that reads its anchors has all < global < none < other. Training clips, not
held-out ones (the cache holds the training set); text and audio are kept, prefix latents are off.
With `--recipe RUN`, every run is scored on RUN's data and anchor sampling (the same batches for all).

    python bench/anchor_use.py runs/demo/full/stage3_finetune runs/demo/ablations-x0.3/*/stage3_finetune
    python bench/anchor_use.py runs/demo/ablations-x0.3/*/stage3_finetune --recipe runs/demo/full/stage3_finetune
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def anchor_use(run: str | Path, batches: int = 30, recipe: str | Path | None = None) -> dict:
    import torch

    from gloria.training.config import config_from_dict
    from gloria.training.step import per_sample_loss
    from gloria.training.trainer import Trainer, checkpoint_config

    own = checkpoint_config(run)
    d = checkpoint_config(recipe) if recipe else own  # data / anchor sampling from `recipe`, the model from `run`
    with tempfile.TemporaryDirectory() as tmp:
        d = {**d, "model": {**own["model"], "init_from": str(run), "preset": None},
             "run": {**d["run"], "output_dir": tmp, "max_steps": batches},
             "anchors": {**d["anchors"], "mode": "both" if d["anchors"]["mode"] != "global" else "global"},
             "conditioning": {**d["conditioning"], "text_dropout": 0.0, "audio_dropout": 0.0, "prefix_prob": 0.0}}
        cfg = config_from_dict(d, where=str(run))
        tr = Trainer(cfg)
        model = tr.unwrapped.eval()
        loader, _ = tr.loader(0)
        sets = {
            "all": lambda s, i: s[i],
            "global": lambda s, i: [a for a in s[i] if a.type == "global"],
            "none": lambda s, i: [],
            "other": lambda s, i: s[(i + 1) % len(s)],
        }
        losses: dict[str, list] = {k: [] for k in sets}
        with torch.no_grad():
            for n, batch in enumerate(loader):
                if n >= batches:
                    break
                for k, pick in sets.items():
                    b = dict(batch, anchors=[pick(batch["anchors"], i) for i in range(len(batch["anchors"]))])
                    losses[k].append(per_sample_loss(model, model, b, cfg, torch.device("cpu"), False)[0])
    return {k: float(torch.cat(v).mean()) for k, v in losses.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="training run folders (their latest checkpoint is scored)")
    p.add_argument("--batches", type=int, default=30)
    p.add_argument("--recipe", default=None,
                   help="score every run on this run's data and anchor sampling (default: each run's own recipe)")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    a = p.parse_args()
    res = {}
    print("| run | all | global only | none | other character's | none / all | other / all |")
    print("|---|---|---|---|---|---|---|")
    for run in a.runs:
        r = res[run] = anchor_use(run, a.batches, a.recipe)
        print(f"| {run} | {r['all']:.4f} | {r['global']:.4f} | {r['none']:.4f} | {r['other']:.4f} | "
              f"{r['none'] / r['all']:.3f} | {r['other'] / r['all']:.3f} |", flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps({"batches": a.batches, "recipe": a.recipe, "results": res}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
