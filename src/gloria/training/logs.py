"""Training logs: one JSON line per step (`OUTPUT/train_log.jsonl`), a stdout line every `log_every`
steps, a tqdm bar with ETA, and TensorBoard scalars when `run.tensorboard: true`. Rank 0 only."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path


class TrainLogger:
    def __init__(self, out_dir: Path, run_cfg, enabled: bool, start_step: int, max_steps: int):
        self.enabled = enabled
        self.every = run_cfg.log_every
        self.fh = self.bar = self.tb = None
        if not enabled:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        self.fh = open(out_dir / "train_log.jsonl", "a", buffering=1)
        if run_cfg.progress:
            from tqdm import tqdm

            self.bar = tqdm(total=max_steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True,
                            file=sys.stderr)
        if run_cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as err:
                raise ValueError("run.tensorboard is true but the `tensorboard` package is not installed "
                                 "(pip install tensorboard, or log to train_log.jsonl only)") from err
            self.tb = SummaryWriter(str(out_dir / "tensorboard"))

    def step(self, step: int, values: dict) -> None:
        if not self.enabled:
            return
        rec = {"step": step, **{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}}
        self.fh.write(json.dumps(rec) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self.tb.add_scalar(f"train/{k}", v, step)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{values['loss']:.4f}", sps=f"{values['samples_per_s']:.2f}")
        if step % self.every == 0:
            line = (f"step {step} loss {values['loss']:.6f} lr {values['lr']:.2e} grad_norm {values['grad_norm']:.3f} "
                    f"samples/s {values['samples_per_s']:.2f} tokens/s {values['tokens_per_s']:.0f} "
                    f"skipped {values['skipped_total']}")
            (self.bar.write if self.bar is not None else print)(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.fh is not None:
            self.fh.close()
        if self.tb is not None:
            self.tb.close()
