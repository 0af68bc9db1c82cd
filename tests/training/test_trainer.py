"""End-to-end training on the tiny model: overfit, resume, robustness, LoRA, stage chaining, CLI."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from gloria.training.trainer import Trainer, TrainingDiverged, load_checkpoint_model
from gloria.training.testing import write_synthetic_cache

from .conftest import tiny_cfg

FAST = {"run.checkpoint_every": 1000, "run.log_every": 1000}


@pytest.fixture(scope="module")
def small_cache(tmp_path_factory):
    return write_synthetic_cache(tmp_path_factory.mktemp("c2") / "c", videos=2, clips_per_video=1)


def _weights(ck):
    return load_file(str(ck / "transformer" / "diffusion_pytorch_model.safetensors"))


def test_overfits_a_handful_of_clips(small_cache, tmp_path):
    cfg = tiny_cfg("stage2", small_cache, tmp_path, **FAST, **{
        "run.max_steps": 60, "run.global_batch_size": 2, "run.micro_batch_size": 2, "flow.fixed_noise": True,
        "conditioning.text_dropout": 0.0, "conditioning.audio_dropout": 0.0, "optim.lr": 3e-3,
        "optim.weight_decay": 0.0, "optim.grad_clip": 0.0})
    losses = Trainer(cfg).train()["losses"]
    assert len(losses) == 60
    assert np.mean(losses[:3]) / np.mean(losses[-3:]) >= 5.0, losses[::6]
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 61))
    assert all(r["samples_per_s"] > 0 and r["tokens_per_s"] > 0 for r in log)


def test_resume_equals_uninterrupted(synth_cache, tmp_path):
    common = {"run.max_steps": 6, "run.global_batch_size": 4, "run.micro_batch_size": 2, "run.checkpoint_every": 3,
              "run.keep_last": 5, "optim.ema_decay": 0.9, "conditioning.prefix_prob": 0.5}
    full = Trainer(tiny_cfg("stage3", synth_cache, tmp_path / "a", **common)).train()
    first = tiny_cfg("stage3", synth_cache, tmp_path / "b", **{**common, "run.max_steps": 3})
    part1 = Trainer(first).train()
    with pytest.raises(ValueError, match="already holds checkpoints: pass --resume"):
        Trainer(tiny_cfg("stage3", synth_cache, tmp_path / "b", **common))
    t = Trainer(tiny_cfg("stage3", synth_cache, tmp_path / "b", **common), resume=True)
    assert t.start_step == 3
    part2 = t.train()
    assert part1["losses"] + part2["losses"] == full["losses"]
    wa = _weights(tmp_path / "a" / "checkpoints" / "step-00000006")
    wb = _weights(tmp_path / "b" / "checkpoints" / "step-00000006")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    ea = load_file(str(tmp_path / "a" / "checkpoints" / "step-00000006" / "ema.safetensors"))
    eb = load_file(str(tmp_path / "b" / "checkpoints" / "step-00000006" / "ema.safetensors"))
    assert all(torch.equal(ea[k], eb[k]) for k in ea)
    state = json.loads((tmp_path / "b" / "checkpoints" / "step-00000006" / "state.json").read_text())
    assert state["step"] == 6 and state["samples_seen"] == 24


def test_keep_last_and_atomic_latest(synth_cache, tmp_path):
    cfg = tiny_cfg("stage1", synth_cache, tmp_path, **{"run.max_steps": 5, "run.checkpoint_every": 1, "run.keep_last": 2})
    Trainer(cfg).train()
    ck = tmp_path / "checkpoints"
    assert sorted(p.name for p in ck.iterdir()) == ["latest", "step-00000004", "step-00000005"]
    assert (ck / "latest").read_text() == "step-00000005"


def test_nan_loss_stops_and_keeps_last_good_checkpoint(synth_cache, tmp_path, monkeypatch):
    cfg = tiny_cfg("stage1", synth_cache, tmp_path, **{"run.max_steps": 6, "run.checkpoint_every": 2})
    tr = Trainer(cfg)
    import gloria.training.step as step_mod

    real = step_mod.per_sample_loss
    calls = {"n": 0}

    def poisoned(*a, **k):
        loss, tok = real(*a, **k)
        calls["n"] += 1
        if calls["n"] > 6:  # step 4 (2 micro-batches per step)
            loss = loss * float("nan")
        return loss, tok

    monkeypatch.setattr(step_mod, "per_sample_loss", poisoned)
    with pytest.raises(TrainingDiverged, match=r"step 4: loss is nan; stopped without updating .*step-00000002"):
        tr.train()
    assert (tmp_path / "checkpoints" / "latest").read_text() == "step-00000002"
    assert all(torch.isfinite(v).all() for v in _weights(tmp_path / "checkpoints" / "step-00000002").values())


def test_corrupt_sample_is_skipped_and_counted(tmp_path):
    cache = write_synthetic_cache(tmp_path / "c", videos=2, clips_per_video=2)
    # drop one clip's tensors from the shard: that sample is "corrupt"
    from safetensors.torch import save_file

    shard = cache / "shards" / "clips-00000.safetensors"
    t = load_file(str(shard))
    save_file({k: v for k, v in t.items() if not k.startswith("vid000_c1/")}, str(shard))
    cfg = tiny_cfg("stage1", cache, tmp_path / "o", **{"run.max_steps": 4, "run.checkpoint_every": 4})
    tr = Trainer(cfg)
    bad = int(np.nonzero(tr.source.clips["clip_id"].to_numpy() == "vid000_c1")[0][0])
    want = []  # failed attempts per step: the bad clip once per epoch (mode none), and any replacement hitting it
    for step in range(4):
        n = 0
        for key in tr.plan.keys(step):
            k, a = key, 0
            while k.clip == bad:
                n, a = n + 1, a + 1
                k = tr.plan.replacement(key, a)
        want.append(n)
    res = tr.train()
    assert res["skipped"] == sum(want) >= 4
    assert len(res["losses"]) == 4 and all(np.isfinite(res["losses"]))
    log = [json.loads(x) for x in (tmp_path / "o" / "train_log.jsonl").read_text().splitlines()]
    assert [r["skipped_total"] for r in log] == list(np.cumsum(want))
    state = json.loads((tmp_path / "o" / "checkpoints" / "step-00000004" / "state.json").read_text())
    assert state["skipped"] == sum(want)


def test_lora_trains_adapters_only_and_chains_to_next_stage(synth_cache, tmp_path):
    cfg = tiny_cfg("stage1", synth_cache, tmp_path / "s1", **{"run.max_steps": 2, "run.checkpoint_every": 2,
                   "model.lora.enabled": True, "model.lora.rank": 4, "model.trainable": ["audio_"]})
    tr = Trainer(cfg)
    names = set(tr.trainable_names)
    assert names and all("lora_" in n or n.startswith("audio_") for n in names)
    assert any(n.startswith("audio_") for n in names)
    frozen_before = {n: p.detach().clone() for n, p in tr.unwrapped.named_parameters() if not p.requires_grad}
    tr.train()
    assert all(torch.equal(p, frozen_before[n]) for n, p in tr.unwrapped.named_parameters() if n in frozen_before)
    ck = tmp_path / "s1" / "checkpoints" / "step-00000002"
    saved = load_file(str(ck / "trainable.safetensors"))
    assert set(saved) == names
    fused = load_checkpoint_model(ck)
    assert not any("lora_" in n for n, _ in fused.named_parameters())
    # the next stage starts from the previous stage's run dir (its latest checkpoint)
    cfg2 = tiny_cfg("stage2", synth_cache, tmp_path / "s2", **{"run.max_steps": 1, "run.checkpoint_every": 1,
                    "model.preset": None, "model.init_from": str(tmp_path / "s1")})
    tr2 = Trainer(cfg2)
    a = dict(fused.named_parameters())
    assert all(torch.equal(p, a[n]) for n, p in tr2.unwrapped.named_parameters())
    tr2.train()


def test_full_finetune_chains_from_checkpoint(synth_cache, tmp_path):
    Trainer(tiny_cfg("stage2", synth_cache, tmp_path / "s2", **{"run.max_steps": 1, "run.checkpoint_every": 1})).train()
    w = _weights(tmp_path / "s2" / "checkpoints" / "step-00000001")
    tr = Trainer(tiny_cfg("stage3", synth_cache, tmp_path / "s3", **{"run.max_steps": 1, "model.preset": None,
                 "model.init_from": str(tmp_path / "s2")}))
    assert all(torch.equal(p, w[n]) for n, p in tr.unwrapped.named_parameters())


def test_cli_train_and_errors(synth_cache, tmp_path, capsys):
    from gloria.cli import main

    args = ["train", "--config", "configs/tiny/stage3_finetune.yaml", "--set", f"data.cache={synth_cache}",
            "--set", f"run.output_dir={tmp_path}", "--set", "run.max_steps=2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "step 2 loss" in out and "done: 2 steps" in out
    assert main(args + ["--resume", "--set", "run.max_steps=3"]) == 0
    assert "done: 1 steps" in capsys.readouterr().out
    assert main(["train", "--config", "configs/tiny/stage1.yaml", "--set", "run.bogus=1"]) == 2
    assert "unknown key(s) ['run.bogus']" in capsys.readouterr().err
    assert main(["train", "--config", "configs/tiny/stage1.yaml", "--set", f"data.cache={tmp_path / 'none'}"]) == 2
    assert "latent cache not found" in capsys.readouterr().err
