"""`torch.utils.data` side: one training sample per `SampleKey`, batches per process and micro-step.

A sample holds the clip's clean latent, its conditions (text, audio, I2V first-frame condition), the
anchor set drawn by `AnchorSampler`, and every random decision of the step — sigma, noise, text/audio
dropout, prefix on/off — all derived from (seed, step, slot). The trainer only does arithmetic, so a
resumed run and a run split over N processes see bit-identical inputs.

A corrupt or missing sample (decode error, missing file, missing cache entry) is replaced by another
clip for the same slot (`BatchPlan.replacement`) and counted in `skipped`; after `max_retries` failures
in a row the step fails with the last error.
"""
from __future__ import annotations

import logging

import torch
from torch.utils.data import Dataset, Sampler

from gloria.models.anchors import AnchorLatent
from gloria.training.config import TrainConfig
from gloria.training.flow import draw_sigma
from gloria.training.sampler import CLIP_FRAME, BatchPlan, SampleKey, sample_rng

log = logging.getLogger(__name__)


class GloriaTrainDataset(Dataset):
    """Map-style dataset indexed by `SampleKey` (produced by `StepBatchSampler`)."""

    def __init__(self, source, plan: BatchPlan, cfg: TrainConfig, needs: dict, text_len: int):
        self.source = source
        self.plan = plan
        self.cfg = cfg
        self.needs = needs
        self.text_len = int(text_len)

    def __len__(self) -> int:  # nominal; indexing is by key
        return len(self.plan.clips)

    def _pad_text(self, t: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(self.text_len, t.shape[-1])
        n = min(self.text_len, t.shape[0])
        out[:n] = t[:n]
        return out

    @staticmethod
    def _clip_frame(latent: torch.Tensor, rng) -> torch.Tensor:
        """A random latent frame `[C, 1, h, w]` of the clip (`anchors.global_source: clip_frame`)."""
        j = int(rng.integers(latent.shape[1]))
        return latent[:, j: j + 1].clone()

    def _load(self, key: SampleKey) -> dict:
        cfg = self.cfg
        rng = sample_rng(cfg.run.seed, key.step, key.slot, stream=2)
        drawn = self.plan.sampler.draw(rng, key.clip, key.mode, key.primary)
        clip = self.source.clip(key.clip)
        latent = clip["latent"]
        anchors = [AnchorLatent(self._clip_frame(latent, rng) if a.row == CLIP_FRAME else self.source.anchor(a.row),
                                a.type, a.category) for a in drawn]
        c = cfg.conditioning
        drop_text = bool(rng.random() < c.text_dropout)
        drop_audio = bool(rng.random() < c.audio_dropout)
        use_prefix = bool(rng.random() < c.prefix_prob)
        nrng = sample_rng(cfg.run.seed, 0, key.clip, stream=3) if cfg.flow.fixed_noise else rng
        sigma = draw_sigma(nrng, cfg.flow.shift, cfg.flow.sampling, cfg.flow.logit_mean, cfg.flow.logit_std)
        gen = torch.Generator().manual_seed(int(nrng.integers(2**62)))
        noise = torch.randn(latent.shape, generator=gen)
        text = self.source.null_text() if drop_text else clip["text"]
        sample = {
            "clip_id": str(self.source.clips.iloc[key.clip]["clip_id"]),
            "slot": key.slot,
            "mode": key.mode,
            "latent": latent,
            "noise": noise,
            "sigma": sigma,
            "text": self._pad_text(text),
            "drop_text": drop_text,
            "drop_audio": drop_audio,
            "use_prefix": use_prefix,
            "anchors": anchors,
            "anchor_outside": [a.outside for a in drawn],
        }
        if self.needs["cond"]:
            if "cond" not in clip or ("clip_image" not in clip and self.needs["clip_image"]):
                raise KeyError(f"clip {sample['clip_id']}: the I2V model needs the first-frame condition (cond, clip_image); re-cache with an I2V model config")
            sample["cond"] = clip["cond"]
            if self.needs["clip_image"]:
                sample["clip_image"] = clip["clip_image"]
        if self.needs["audio"]:
            sample["has_audio"] = "audio" in clip
            sample["audio"] = clip.get("audio")
        return sample

    def __getitem__(self, key: SampleKey) -> dict:
        errors = []
        for attempt in range(self.cfg.data.max_retries + 1):
            k = key if attempt == 0 else self.plan.replacement(key, attempt)
            try:
                sample = self._load(k)
                sample["skipped"] = attempt
                sample["skip_errors"] = errors
                return sample
            except Exception as err:  # noqa: BLE001 - corrupt/missing data must not crash the epoch
                clip_id = self.source.clips.iloc[k.clip]["clip_id"] if k.clip < len(self.source.clips) else k.clip
                errors.append(f"{clip_id}: {type(err).__name__}: {err}")
                log.warning("skipping sample %s: %s", clip_id, errors[-1])
        raise RuntimeError(f"{len(errors)} samples in a row failed for step {key.step} slot {key.slot}; last: {errors[-1]}")


def collate(samples: list[dict]) -> dict:
    """Stack tensors; anchors stay a list per sample (the model takes ragged anchor sets)."""
    out = {
        "clip_id": [s["clip_id"] for s in samples],
        "slot": torch.tensor([s["slot"] for s in samples]),
        "mode": [s["mode"] for s in samples],
        "latent": torch.stack([s["latent"] for s in samples]),
        "noise": torch.stack([s["noise"] for s in samples]),
        "sigma": torch.tensor([s["sigma"] for s in samples], dtype=torch.float32),
        "text": torch.stack([s["text"] for s in samples]),
        "drop_text": torch.tensor([s["drop_text"] for s in samples]),
        "drop_audio": torch.tensor([s["drop_audio"] for s in samples]),
        "use_prefix": torch.tensor([s["use_prefix"] for s in samples]),
        "anchors": [s["anchors"] for s in samples],
        "anchor_outside": [s["anchor_outside"] for s in samples],
        "skipped": sum(s["skipped"] for s in samples),
        "skip_errors": [e for s in samples for e in s["skip_errors"]],
    }
    if "cond" in samples[0]:
        out["cond"] = torch.stack([s["cond"] for s in samples])
    if "clip_image" in samples[0]:
        out["clip_image"] = torch.stack([s["clip_image"] for s in samples])
    if "has_audio" in samples[0]:
        has = torch.tensor([s["has_audio"] for s in samples])
        ref = next((s["audio"] for s in samples if s["audio"] is not None), None)
        out["has_audio"] = has
        out["audio"] = None if ref is None else torch.stack(
            [s["audio"] if s["audio"] is not None else torch.zeros_like(ref) for s in samples])
    return out


class StepBatchSampler(Sampler):
    """Yields this process's micro-batches of SampleKeys, step after step, from `start_step`.

    Global batch of step s = `plan.keys(s)` (G slots). Process r of W owns slots
    [r*G/W, (r+1)*G/W), cut into micro-batches of `micro` in order.
    """

    def __init__(self, plan: BatchPlan, start_step: int, max_steps: int, rank: int, world: int, micro: int):
        g = plan.batch
        if g % (world * micro):
            raise ValueError(f"run.global_batch_size {g} is not divisible by world size {world} x micro_batch_size {micro}")
        self.plan, self.start, self.stop = plan, start_step, max_steps
        self.rank, self.world, self.micro = rank, world, micro
        self.per_rank = g // world

    @property
    def accumulation(self) -> int:
        return self.per_rank // self.micro

    def __len__(self) -> int:
        return (self.stop - self.start) * self.accumulation

    def __iter__(self):
        for step in range(self.start, self.stop):
            keys = self.plan.keys(step)[self.rank * self.per_rank : (self.rank + 1) * self.per_rank]
            for i in range(0, self.per_rank, self.micro):
                yield keys[i : i + self.micro]


def category_weights(cfg: TrainConfig) -> dict[str, float] | None:
    w = cfg.anchors.category_weights
    return None if w == "balanced" else {str(k): float(v) for k, v in w.items()}


__all__ = ["GloriaTrainDataset", "collate", "StepBatchSampler", "category_weights"]
