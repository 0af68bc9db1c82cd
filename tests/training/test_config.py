from pathlib import Path

import pytest

from gloria.training.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["stage1", "stage2", "stage3", "stage3_finetune"])
def test_stage_recipes_load(name):
    cfg = load_config(REPO / "configs" / f"{name}.yaml")
    assert cfg.optim.lr == 1e-5 and cfg.optim.betas == [0.9, 0.95] and cfg.optim.weight_decay == 0.1
    assert cfg.conditioning.text_dropout == 0.1 and cfg.conditioning.audio_dropout == 0.1
    want = {"stage1": "none", "stage2": "global", "stage3": "mixed", "stage3_finetune": "both"}[name]
    assert cfg.anchors.mode == want
    if name != "stage1":  # each stage starts from the previous one
        prev = {"stage2": "runs/stage1", "stage3": "runs/stage2", "stage3_finetune": "runs/stage3"}[name]
        assert cfg.model.init_from == prev and cfg.conditioning.prefix_prob > 0 and cfg.anchors.global_anchor


@pytest.mark.parametrize("name", ["stage1", "stage2", "stage3", "stage3_finetune"])
def test_tiny_recipes_load(name):
    assert load_config(REPO / "configs" / "tiny" / f"{name}.yaml").model.preset == "tiny"


def test_errors_name_file_and_key(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("model: {preset: tiny}\nrun: {max_stepz: 3}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key\(s\) \['run.max_stepz'\]"):
        load_config(p)
    p.write_text("model: {preset: tiny}\nanchors: {outside_share: 1.5}\n")
    with pytest.raises(ConfigError, match=r"anchors.outside_share: must be in \[0, 1\]"):
        load_config(p)
    p.write_text("model: {preset: tiny}\nrun: {global_batch_size: many}\n")
    with pytest.raises(ConfigError, match="run.global_batch_size: expected an integer"):
        load_config(p)
    p.write_text("model: {preset: tiny}\ndata: {num_frames: 10}\n")
    with pytest.raises(ConfigError, match="data.num_frames: must be 4k\\+1"):
        load_config(p)
    p.write_text("model: {preset: tiny}\ndata: {encode_batch: 0}\n")
    with pytest.raises(ConfigError, match="data.encode_batch: must be >= 1, got 0"):
        load_config(p)
    p.write_text("run: {max_steps: 3}\n")
    with pytest.raises(ConfigError, match="exactly one of model.preset"):
        load_config(p)
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_base_merge_and_overrides(tmp_path):
    (tmp_path / "a.yaml").write_text("model: {preset: tiny}\nrun: {max_steps: 7, seed: 3}\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\nrun: {seed: 4}\n")
    cfg = load_config(tmp_path / "b.yaml", {"run.global_batch_size": 2, "run.micro_batch_size": 1})
    assert (cfg.run.max_steps, cfg.run.seed, cfg.run.global_batch_size) == (7, 4, 2)
