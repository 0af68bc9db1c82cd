"""`torchrun --nproc_per_node 2` (gloo, CPU) reaches the same losses and weights as 1 process, same global batch."""
import json
import os
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from .conftest import REPO


def _run(nproc, cache, out, extra=()):
    sets = [f"data.cache={cache}", f"run.output_dir={out}", "run.max_steps=3", "run.global_batch_size=4",
            "run.micro_batch_size=1", "run.checkpoint_every=3", "conditioning.prefix_prob=0.5", *extra]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port", str(29500 + nproc + os.getpid() % 500),
           "-m", "gloria.cli", "train", "--config", str(REPO / "configs" / "tiny" / "stage3.yaml")]
    for s in sets:
        cmd += ["--set", s]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    w = load_file(str(out / "checkpoints" / "step-00000003" / "transformer" / "diffusion_pytorch_model.safetensors"))
    return [x["loss"] for x in log], w


@pytest.mark.parametrize("strategy", ["ddp", pytest.param("fsdp", marks=pytest.mark.slow)])  # each ~25 s here
def test_two_processes_match_one(synth_cache, tmp_path, strategy):
    t0 = time.time()
    l1, w1 = _run(1, synth_cache, tmp_path / "one")
    l2, w2 = _run(2, synth_cache, tmp_path / "two", [f"run.distributed={strategy}"])
    assert len(l1) == len(l2) == 3
    assert l1 == pytest.approx(l2, rel=1e-5, abs=1e-6)
    assert all(torch.allclose(w1[k], w2[k], atol=1e-6, rtol=1e-5) for k in w1)
    assert time.time() - t0 < 120
