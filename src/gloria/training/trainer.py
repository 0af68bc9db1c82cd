"""The training loop: one process or many (torchrun), DDP or FSDP2, checkpoints, resume, logging.

`Trainer(cfg).train()` runs `cfg.run.max_steps` optimizer steps. Under `torchrun` it reads RANK /
WORLD_SIZE / LOCAL_RANK, initialises NCCL (CUDA) or gloo (CPU) and wraps the model with DDP (small
models) or FSDP2 `fully_shard` (>= 1B parameters, or `run.distributed: fsdp`). The global batch is the
same whatever the world size (accumulation = global / (micro x world)), and so are the samples.
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from gloria.training.config import TrainConfig

log = logging.getLogger(__name__)

CKPT_PREFIX = "step-"


class TrainingDiverged(RuntimeError):
    """The loss or the gradient became NaN/inf; the weights were not updated."""


# ----------------------------------------------------------------------------- distributed
@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialised_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "DistInfo":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = torch.cuda.is_available()
        device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
        if cuda:
            torch.cuda.set_device(device)
        here = False
        if world > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if cuda else "gloo", device_id=device if cuda else None)
            here = True
        return cls(rank, world, local, device, here)

    def all_sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t)
        return t.tolist()

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def lr_multiplier(step: int, warmup: int, total: int, min_ratio: float = 1.0) -> float:
    """Learning-rate factor at optimizer step `step` (0-based): linear warm-up over `warmup` steps, then
    constant (`min_ratio` 1, the paper's recipe) or a cosine decay reaching `min_ratio` at step `total`."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if min_ratio >= 1.0 or total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / (total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


# ----------------------------------------------------------------------------- model building
def resolve_checkpoint(path: str | os.PathLike) -> Path | None:
    """A training checkpoint dir for `path`: itself, or a run dir's latest checkpoint; None otherwise."""
    p = Path(path)
    if (p / "state.json").is_file():
        return p
    latest = p / "checkpoints" / "latest"
    if latest.is_file():
        return p / "checkpoints" / latest.read_text().strip()
    return None


def checkpoint_config(path: str | os.PathLike) -> dict:
    """The recipe (a `TrainConfig` as a dict) that wrote the checkpoint `path` resolves to."""
    ck = resolve_checkpoint(path)
    if ck is None:
        raise FileNotFoundError(f"{path}: no training checkpoint (no state.json, no checkpoints/latest)")
    return json.loads((ck / "state.json").read_text())["config"]


def model_config_dict(cfg: TrainConfig) -> dict:
    """The model's config (without building it): preset, checkpoint or diffusers dir/hub id."""
    from gloria.models.presets import get_preset

    m = cfg.model
    if m.preset:
        return get_preset(m.preset, **m.overrides)
    ck = resolve_checkpoint(m.init_from)
    if ck is not None:
        return json.loads((ck / "transformer" / "config.json").read_text()) if (ck / "transformer").is_dir() \
            else json.loads((ck / "state.json").read_text())["model_config"]
    from gloria.models.transformer_gloria import GloriaTransformer3DModel

    conf = dict(GloriaTransformer3DModel.load_config(m.init_from, subfolder=m.subfolder))
    conf.update(m.overrides)
    return conf


def build_model(cfg: TrainConfig):
    """Instantiate the transformer: random preset (seeded), a training checkpoint, or a diffusers model."""
    from gloria.models.presets import get_preset
    from gloria.models.transformer_gloria import GloriaTransformer3DModel

    m = cfg.model
    if m.preset:
        torch.manual_seed(cfg.run.seed)
        return GloriaTransformer3DModel(**get_preset(m.preset, **m.overrides))
    ck = resolve_checkpoint(m.init_from)
    if ck is not None:
        return load_checkpoint_model(ck, m.overrides)
    return GloriaTransformer3DModel.from_pretrained(m.init_from, subfolder=m.subfolder, **m.overrides)


def load_checkpoint_model(ck: Path, overrides: dict | None = None):
    """The model of a training checkpoint, LoRA adapters fused, ready to train further or to infer."""
    from gloria.models.transformer_gloria import GloriaTransformer3DModel

    if (ck / "transformer").is_dir():
        return GloriaTransformer3DModel.from_pretrained(str(ck / "transformer"), **(overrides or {}))
    state = json.loads((ck / "state.json").read_text())
    from gloria.training.config import config_from_dict

    base = config_from_dict(state["config"], where=str(ck / "state.json"))
    model = build_model(base)
    add_lora(model, base)
    load_trainable(model, ck / "trainable.safetensors")
    model.fuse_lora()
    model.unload_lora()
    return model


def add_lora(model, cfg: TrainConfig) -> None:
    if not cfg.model.lora.enabled:
        return
    from peft import LoraConfig

    lc = cfg.model.lora
    model.add_adapter(LoraConfig(r=lc.rank, lora_alpha=lc.alpha, lora_dropout=lc.dropout,
                                 target_modules=list(lc.target_modules), init_lora_weights=True))


def set_trainable(model, cfg: TrainConfig) -> list[str]:
    """Freeze what the recipe does not train. Returns the trainable parameter names."""
    prefixes = tuple(cfg.model.trainable)
    lora = cfg.model.lora.enabled
    names = []
    for name, p in model.named_parameters():
        train = ("lora_" in name) if lora else True
        if prefixes:
            train = train or name.startswith(prefixes) if lora else name.startswith(prefixes)
        p.requires_grad_(train)
        if train:
            names.append(name)
    if not names:
        raise ValueError(f"{cfg.source}: no parameter is trainable (model.trainable={list(prefixes)}, lora={lora})")
    return names


def load_trainable(model, path: Path) -> None:
    from safetensors.torch import load_file

    sd = load_file(str(path))
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if unexpected:
        raise ValueError(f"{path}: weights the model does not have: {unexpected[:5]}")
    want = {n for n, p in model.named_parameters() if "lora_" in n}
    lost = want - set(sd)
    if lost:
        raise ValueError(f"{path}: LoRA weights missing: {sorted(lost)[:5]}")


# ----------------------------------------------------------------------------- checkpoint i/o
def _atomic_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def save_model_dir(state_dict: dict, config: dict, out: Path, max_shard: str = "10GB") -> None:
    """A diffusers-format model dir (config.json + safetensors shards) from a full state dict."""
    from huggingface_hub import split_torch_state_dict_into_shards
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    split = split_torch_state_dict_into_shards(state_dict, filename_pattern="diffusion_pytorch_model{suffix}.safetensors",
                                               max_shard_size=max_shard)
    for fname, keys in split.filename_to_tensors.items():
        save_file({k: state_dict[k].contiguous() for k in keys}, str(out / fname), metadata={"format": "pt"})
    if split.is_sharded:
        _atomic_json(out / "diffusion_pytorch_model.safetensors.index.json",
                     {"metadata": split.metadata, "weight_map": split.tensor_to_filename})
    _atomic_json(out / "config.json", config)


class Trainer:
    """Build everything from a recipe and run it (see module docstring)."""

    def __init__(self, cfg: TrainConfig, resume: bool = False, dist_info: DistInfo | None = None):
        from gloria.training.cache import CacheSource, RawSource, model_needs
        from gloria.training.dataset import GloriaTrainDataset, category_weights
        from gloria.training.sampler import AnchorPool, AnchorSampler, BatchPlan

        self.cfg = cfg
        self.d = dist_info or DistInfo.from_env()
        self.out = Path(cfg.run.output_dir)
        self.ckpt_dir = self.out / "checkpoints"
        if self.d.is_main:
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        self.start_step = 0
        self.skipped_total = 0
        resume_from = self.latest_checkpoint() if resume else None
        if resume and resume_from is None:
            log.warning("--resume: no checkpoint in %s, starting from step 0", self.ckpt_dir)
        if not resume and self.latest_checkpoint() is not None:
            raise ValueError(f"{self.ckpt_dir} already holds checkpoints: pass --resume to continue, or choose another run.output_dir")

        # Model.
        model = build_model(cfg)
        self.model_config = dict(model.config)
        add_lora(model, cfg)
        self.trainable_names = set_trainable(model, cfg)
        if cfg.model.gradient_checkpointing:
            model.enable_gradient_checkpointing()
        model.train()
        self.unwrapped = model
        self.needs = model_needs(self.model_config)

        # Data.
        wts = category_weights(cfg)
        if cfg.data.cache:
            source = CacheSource(cfg.data.cache, cfg)
            text_len = source.meta["text_len"]
        else:
            source = RawSource(cfg, self.model_config)
            text_len = cfg.data.encoders.text_len
        if self.needs["clip_image"] and text_len != 512:
            raise ValueError(f"the I2V model kind needs 512 text tokens (Wan's cross-attention hard-codes it); data.encoders.text_len={text_len}")
        a = cfg.anchors
        sampler = AnchorSampler(source.clips, AnchorPool(source.anchors), superset=a.superset, outside_share=a.outside_share,
                                global_anchor=a.global_anchor and a.mode != "none", max_viewpoint=a.max_viewpoint,
                                max_expression=a.max_expression, category_weights=wts,
                                global_from_clip=a.global_source == "clip_frame")
        self.plan = BatchPlan(sampler, a.mode, cfg.run.global_batch_size, cfg.run.seed, a.viewpoint_ratio, wts)
        if self.plan.n_without_global and self.d.is_main:
            log.warning("%d clips have no usable global anchor and are not trained on", self.plan.n_without_global)
        self.dataset = GloriaTrainDataset(source, self.plan, cfg, self.needs, text_len)
        self.source = source

        # Distribution + optimizer.
        self.strategy = self._strategy()
        model.to(self.d.device)
        self.model = self._wrap(model)
        params = [p for p in self.unwrapped.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        o = cfg.optim
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=o.lr, betas=tuple(o.betas), eps=o.eps,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_multiplier(s, o.warmup_steps, cfg.run.max_steps, o.min_lr_ratio))
        self.ema = None
        if o.ema_decay > 0:
            self.ema = {n: p.detach().float().clone() for n, p in self.unwrapped.named_parameters() if p.requires_grad}
        self.autocast = cfg.run.mixed_precision == "bf16" and self.d.device.type == "cuda"
        if cfg.run.mixed_precision == "bf16" and self.d.device.type != "cuda" and self.d.is_main:
            log.warning("run.mixed_precision=bf16 applies on CUDA only; computing in float32 on %s", self.d.device)
        if resume_from is not None:
            self.load_checkpoint(resume_from)

    # -- setup helpers
    def _strategy(self) -> str:
        s = self.cfg.run.distributed
        if self.d.world == 1:
            return "none"
        if s == "auto":
            n = sum(p.numel() for p in self.unwrapped.parameters())
            return "fsdp" if n >= 1_000_000_000 else "ddp"
        if s == "none":
            raise ValueError(f"{self.cfg.source}: run.distributed=none but WORLD_SIZE={self.d.world}")
        return s

    def _wrap(self, model):
        if self.strategy == "ddp":
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.d.device.index] if self.d.device.type == "cuda" else None
            return DDP(model, device_ids=ids)
        if self.strategy == "fsdp":
            import warnings

            from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

            # Wan's attention/FFN return views; Gloria's forward never modifies them in place (checked by
            # the 2-process FSDP test matching 1 process), so FSDP2's generic warning is noise here.
            warnings.filterwarnings("ignore", message="FSDP2-wrapped module .* returned a view tensor")

            mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) \
                if self.cfg.run.mixed_precision == "bf16" and self.d.device.type == "cuda" else MixedPrecisionPolicy()
            # The Gloria forward calls each block's sub-modules directly (not block.forward), so shard those.
            for block in model.blocks:
                for sub in (block.attn1, block.attn2, block.ffn):
                    fully_shard(sub, mp_policy=mp)
            for attn in model.audio_attn.values():
                fully_shard(attn, mp_policy=mp)
            fully_shard(model, mp_policy=mp)
            return model
        return model

    def latest_checkpoint(self) -> Path | None:
        latest = self.ckpt_dir / "latest"
        if not latest.is_file():
            return None
        p = self.ckpt_dir / latest.read_text().strip()
        return p if (p / "state.json").is_file() else None

    def loader(self, start: int):
        from torch.utils.data import DataLoader

        from gloria.training.dataset import StepBatchSampler, collate

        bs = StepBatchSampler(self.plan, start, self.cfg.run.max_steps, self.d.rank, self.d.world, self.cfg.run.micro_batch_size)
        workers = self.cfg.data.num_workers if self.cfg.data.cache else 0  # raw mode encodes on the training device
        return DataLoader(self.dataset, batch_sampler=bs, collate_fn=collate, num_workers=workers,
                          persistent_workers=False, pin_memory=self.d.device.type == "cuda"), bs.accumulation

    # -- checkpoints
    def _full_state(self) -> dict:
        if self.strategy == "fsdp":
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            return get_model_state_dict(self.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return {k: v.detach().cpu() for k, v in self.unwrapped.state_dict().items()}

    def save_checkpoint(self, step: int) -> Path:
        """Write checkpoint `step-XXXXXXXX` atomically (temp dir + rename), update `latest`, prune to keep_last."""
        name = f"{CKPT_PREFIX}{step:08d}"
        final = self.ckpt_dir / name
        tmp = self.ckpt_dir / f".{name}.tmp"
        if self.d.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        self.d.barrier()
        sd = self._full_state()
        trainable = {n: v for n, v in sd.items() if n in self.trainable_names}
        if self.strategy == "fsdp":
            import torch.distributed.checkpoint as dcp
            from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

            dcp.save({"optimizer": get_optimizer_state_dict(self.model, self.optimizer)}, checkpoint_id=str(tmp / "optimizer"))
        ema = None
        if self.ema is not None:
            ema = {n: (v.full_tensor() if hasattr(v, "full_tensor") else v).cpu() for n, v in self.ema.items()}
        torch.save({"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
                   tmp / f"rng-{self.d.rank}.pt")
        self.d.barrier()  # every rank's files are in tmp before rank 0 renames it
        if self.d.is_main:
            from safetensors.torch import save_file

            if self.cfg.model.lora.enabled:
                save_file({k: v.contiguous() for k, v in trainable.items()}, str(tmp / "trainable.safetensors"))
            else:
                save_model_dir(sd, self.model_config, tmp / "transformer")
            if ema is not None:
                save_file({k: v.contiguous() for k, v in ema.items()}, str(tmp / "ema.safetensors"))
            if self.strategy != "fsdp":
                torch.save({"optimizer": self.optimizer.state_dict()}, tmp / "optimizer.pt")
            torch.save({"scheduler": self.scheduler.state_dict()}, tmp / "scheduler.pt")
            _atomic_json(tmp / "state.json", {
                "step": step, "samples_seen": step * self.cfg.run.global_batch_size, "skipped": self.skipped_total,
                "world_size": self.d.world, "strategy": self.strategy, "config": self.cfg.to_dict(),
                "model_config": self.model_config,
            })
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            latest_tmp = self.ckpt_dir / f".latest.tmp{os.getpid()}"
            latest_tmp.write_text(name)
            os.replace(latest_tmp, self.ckpt_dir / "latest")
            ckpts = sorted(p for p in self.ckpt_dir.iterdir() if p.is_dir() and p.name.startswith(CKPT_PREFIX))
            for old in ckpts[: -self.cfg.run.keep_last]:
                shutil.rmtree(old, ignore_errors=True)
        self.d.barrier()
        return final

    def load_checkpoint(self, ck: Path) -> None:
        from safetensors.torch import load_file

        state = json.loads((ck / "state.json").read_text())
        if state["config"]["run"]["global_batch_size"] != self.cfg.run.global_batch_size:
            raise ValueError(f"{ck}: checkpoint has run.global_batch_size={state['config']['run']['global_batch_size']}, "
                             f"the config says {self.cfg.run.global_batch_size}; resume needs the same global batch")
        if self.cfg.model.lora.enabled:
            load_trainable(self.unwrapped, ck / "trainable.safetensors")
        elif self.strategy == "fsdp":
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

            full = _load_model_dir(ck / "transformer") if self.d.is_main else {}
            set_model_state_dict(self.model, full, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))
        else:
            self.unwrapped.load_state_dict(_load_model_dir(ck / "transformer"), strict=True)
        if self.strategy == "fsdp":
            import torch.distributed.checkpoint as dcp
            from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict, set_optimizer_state_dict

            osd = {"optimizer": get_optimizer_state_dict(self.model, self.optimizer)}
            dcp.load(osd, checkpoint_id=str(ck / "optimizer"))
            set_optimizer_state_dict(self.model, self.optimizer, osd["optimizer"])
        else:
            self.optimizer.load_state_dict(torch.load(ck / "optimizer.pt", weights_only=False)["optimizer"])
        self.scheduler.load_state_dict(torch.load(ck / "scheduler.pt", weights_only=False)["scheduler"])
        if self.ema is not None:
            ema_path = ck / "ema.safetensors"
            if ema_path.is_file():
                full = load_file(str(ema_path))
                for n, v in self.ema.items():
                    src = full[n]
                    if hasattr(v, "device_mesh"):
                        from torch.distributed.tensor import distribute_tensor

                        src = distribute_tensor(src.to(v.device), v.device_mesh, v.placements)
                    v.copy_(src)
        rng = ck / f"rng-{self.d.rank}.pt"
        if rng.is_file():
            r = torch.load(rng, weights_only=False)
            random.setstate(r["python"])
            np.random.set_state(r["numpy"])
            torch.set_rng_state(r["torch"])
            if r.get("cuda") is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(r["cuda"])
        self.start_step = int(state["step"])
        self.skipped_total = int(state.get("skipped", 0))
        if self.d.is_main:
            log.info("resumed from %s at step %d", ck, self.start_step)

    # -- loop
    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.cfg.optim.ema_decay
        for n, p in self.unwrapped.named_parameters():
            if n in self.ema:
                self.ema[n].lerp_(p.detach().float(), 1.0 - decay)

    def train(self) -> dict:
        """Run to `run.max_steps`; returns {"losses": [...], "last_checkpoint": path, ...}."""
        from gloria.training.logs import TrainLogger
        from gloria.training.step import per_sample_loss

        cfg = self.cfg
        r = cfg.run
        loader, accum = self.loader(self.start_step)
        per_rank = r.global_batch_size // self.d.world
        logger = TrainLogger(self.out, r, self.d.is_main, self.start_step, r.max_steps)
        losses: list[float] = []
        last_ckpt = self.latest_checkpoint()
        it = iter(loader)
        try:
            for step in range(self.start_step, r.max_steps):
                t0 = time.perf_counter()
                loss_sum = 0.0
                tokens = 0
                skipped = 0
                for a in range(accum):
                    batch = next(it)
                    skipped += batch["skipped"]
                    last = a == accum - 1
                    if self.strategy == "fsdp":
                        self.model.set_requires_gradient_sync(last)
                    with self.model.no_sync() if (self.strategy == "ddp" and not last) else nullcontext():
                        per_sample, n_tok = per_sample_loss(self.model, self.unwrapped, batch, cfg, self.d.device, self.autocast)
                        (per_sample.sum() / per_rank).backward()
                    loss_sum += float(per_sample.detach().sum())
                    tokens += n_tok
                loss_sum, tokens, skipped = self.d.all_sum([loss_sum, float(tokens), float(skipped)])
                loss = loss_sum / r.global_batch_size
                grad_norm = float("nan")
                if math.isfinite(loss) and cfg.optim.grad_clip > 0:
                    gn = torch.nn.utils.clip_grad_norm_([p for p in self.unwrapped.parameters() if p.requires_grad], cfg.optim.grad_clip)
                    grad_norm = float(gn.full_tensor() if hasattr(gn, "full_tensor") else gn)
                if not math.isfinite(loss) or (cfg.optim.grad_clip > 0 and not math.isfinite(grad_norm)):
                    what = f"loss is {loss}" if not math.isfinite(loss) else f"gradient norm is {grad_norm}"
                    raise TrainingDiverged(
                        f"step {step + 1}: {what}; stopped without updating the weights. Last good checkpoint: "
                        f"{last_ckpt if last_ckpt else 'none (no checkpoint written yet)'}. Lower optim.lr, check the data "
                        f"(clips {sorted(set(batch['clip_id']))[:4]} were in the last micro-batch), or resume with --resume."
                    )
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                if self.ema is not None:
                    self._update_ema()
                self.skipped_total += int(skipped)
                losses.append(loss)
                dt = time.perf_counter() - t0
                logger.step(step + 1, {"loss": loss, "lr": self.scheduler.get_last_lr()[0], "grad_norm": grad_norm,
                                       "samples_per_s": r.global_batch_size / dt, "tokens_per_s": tokens / dt,
                                       "step_time_s": dt, "skipped_total": self.skipped_total})
                if (step + 1) % r.checkpoint_every == 0 or step + 1 == r.max_steps:
                    last_ckpt = self.save_checkpoint(step + 1)
        finally:
            logger.close()
        return {"losses": losses, "last_checkpoint": str(last_ckpt) if last_ckpt else None,
                "skipped": self.skipped_total, "steps": r.max_steps - self.start_step}

    def close(self) -> None:
        if self.d.initialised_here and dist.is_initialized():
            dist.destroy_process_group()


def _load_model_dir(path: Path) -> dict:
    from safetensors.torch import load_file

    index = path / "diffusion_pytorch_model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    else:
        files = ["diffusion_pytorch_model.safetensors"]
    sd = {}
    for f in files:
        sd.update(load_file(str(path / f)))
    return sd


def configure_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
