"""Training recipe files (`configs/stage*.yaml`): typed, validated, with `base:` inheritance.

A recipe is a YAML mapping with the sections below (every key optional except where noted). A key
`base: other.yaml` (path relative to the file) loads that recipe first and deep-merges this one on
top, so `stage3_finetune.yaml` only states what differs from `stage3.yaml`. Unknown keys and values
of the wrong type raise `ConfigError` naming the file and the dotted key.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gloria.yaml_file import read_yaml

ANCHOR_MODES = ("none", "global", "mixed", "viewpoint", "expression", "both")


class ConfigError(ValueError):
    """A recipe file is malformed; the message names the file and the key."""


@dataclass
class LoraConfig:
    enabled: bool = False
    rank: int = 16
    alpha: float = 16.0
    dropout: float = 0.0
    # Module names (suffix match, peft semantics). Default: the attention and FFN projections.
    target_modules: list[str] = field(
        default_factory=lambda: ["to_q", "to_k", "to_v", "to_out.0", "ffn.net.0.proj", "ffn.net.2"]
    )


@dataclass
class ModelConfig:
    # Exactly one of `preset` (random init, tests/experiments) or `init_from` (weights) is required.
    preset: str | None = None
    init_from: str | None = None  # Wan/Gloria diffusers dir or hub id, a checkpoint dir, or a previous run's output_dir
    subfolder: str | None = None  # e.g. "transformer" when init_from is a whole Wan pipeline repo
    overrides: dict = field(default_factory=dict)  # preset / config overrides (e.g. audio_dim)
    gradient_checkpointing: bool = False
    # Parameter-name prefixes to train; [] = all (full fine-tuning). With LoRA: trained fully in addition
    # to the adapters (e.g. ["audio_"] for a new audio branch).
    trainable: list[str] = field(default_factory=list)
    lora: LoraConfig = field(default_factory=LoraConfig)


@dataclass
class EncoderPaths:
    """Encoders for `gloria cache` and raw-video training (diffusers / transformers dirs or hub ids)."""

    vae: str | None = None  # AutoencoderKLWan
    vae_subfolder: str | None = None  # "vae" for a Wan pipeline repo
    text_encoder: str | None = None  # UMT5EncoderModel (any transformers encoder with last_hidden_state)
    text_encoder_subfolder: str | None = None
    tokenizer: str | None = None  # defaults to text_encoder
    tokenizer_subfolder: str | None = None
    image_encoder: str | None = None  # CLIPVisionModel (I2V kind only)
    image_encoder_subfolder: str | None = None
    image_processor: str | None = None  # defaults to image_encoder
    image_processor_subfolder: str | None = None
    audio_encoder: str | None = None  # Wav2Vec2Model
    audio_feature_extractor: str | None = None  # defaults to audio_encoder
    audio_layers: int = 1  # last L hidden states per frame -> [T, L, d] (L = model audio_num_layers)
    text_len: int = 512  # tokens (Wan: 512)
    dtype: str = "float32"  # encoder compute dtype
    device: str = "auto"


@dataclass
class DataConfig:
    dataset: str | None = None  # dir with clips.parquet + anchors.parquet (raw mode; cache mode reads the cache's copy)
    cache: str | None = None  # dir written by `gloria cache`; training uses it when given
    num_frames: int = 81  # pixel frames per sample (4k+1)
    frame_stride: int = 1  # take every n-th frame of the clip file
    height: int = 480
    width: int = 832
    anchor_size: list[int] = field(default_factory=lambda: [256, 256])  # [H, W] of viewpoint/expression crops (pixels)
    viewpoint_size: list[int] | None = None  # [H, W] of viewpoint (body) crops when they differ from anchor_size
    num_workers: int = 2
    cache_dtype: str = "bfloat16"  # storage dtype of cached tensors
    shard_size: int = 256  # clips (or anchors) per cache shard
    encode_batch: int = 8  # clips (or anchors) per VAE call when building the cache
    max_retries: int = 8  # corrupt/missing sample: try this many replacements before failing the step
    encoders: EncoderPaths = field(default_factory=EncoderPaths)


@dataclass
class AnchorConfig:
    # none (stage I) | global (stage II) | mixed (stage III: viewpoint- or expression-anchor samples at
    # `viewpoint_ratio`) | viewpoint | expression | both (stage III fine-tune: samples with both kinds)
    mode: str = "none"
    global_anchor: bool = True  # attach one global anchor to every sample (ignored in mode "none")
    superset: bool = True  # Superset Content Anchoring; False = anchors only from inside the clip ("×SCA")
    outside_share: float = 0.5  # probability that an anchor is drawn from outside the clip (when both exist)
    # where the global anchor comes from: "pool" (the anchors table, i.e. the data pipeline's global-anchor
    # frames) | "clip_frame" (a random latent frame of the training clip itself: the ×SCA setting in which
    # every clip has an in-clip global anchor, not only the few clips that contain a global-anchor frame)
    global_source: str = "pool"
    viewpoint_ratio: float = 0.5  # mixed mode: share of viewpoint-anchor samples in every batch
    max_viewpoint: int = 4  # anchors per sample are uniform in 1..min(max, categories available)
    max_expression: int = 8
    # "balanced" = every category equally likely as a sample's primary category, or {category: weight}
    category_weights: Any = "balanced"


@dataclass
class ConditioningConfig:
    text_dropout: float = 0.1  # p(text -> null text embedding)  (paper §4.4)
    audio_dropout: float = 0.1  # p(audio -> null audio), independent of text
    null_text: str = "empty_prompt"  # empty_prompt (encoded "") | zeros
    prefix_prob: float = 0.0  # stage II+: p(first `prefix_frames` latent frames given as clean prefix)
    prefix_frames: int = 4
    loss_on_prefix_overlap: bool = True  # loss covers the video frames that the prefix overlaps (see docs)


@dataclass
class FlowConfig:
    shift: float = 5.0  # Wan's shift: sigma = shift*s / (1 + (shift-1)*s)
    sampling: str = "uniform"  # s ~ uniform(0,1) | logit_normal
    logit_mean: float = 0.0
    logit_std: float = 1.0
    # Debug/overfit checks only: a clip gets the same noise and sigma at every step (a pure regression).
    fixed_noise: bool = False


@dataclass
class OptimConfig:
    lr: float = 1e-5
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    weight_decay: float = 0.1
    eps: float = 1e-8
    warmup_steps: int = 0  # linear warm-up, then constant (paper: constant)
    min_lr_ratio: float = 1.0  # < 1: cosine decay after the warm-up, to lr * min_lr_ratio at run.max_steps
    grad_clip: float = 1.0  # 0 = off
    ema_decay: float = 0.0  # 0 = no EMA


@dataclass
class RunConfig:
    output_dir: str = "runs/gloria"
    max_steps: int = 1000
    global_batch_size: int = 8
    micro_batch_size: int = 1  # per process per forward; accumulation = global / (micro * world)
    seed: int = 0
    mixed_precision: str = "bf16"  # bf16 (autocast on CUDA) | no
    distributed: str = "auto"  # auto | none | ddp | fsdp  (auto: fsdp for >= 1B params, else ddp)
    checkpoint_every: int = 500
    keep_last: int = 3
    log_every: int = 1
    tensorboard: bool = False
    progress: bool = True


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    anchors: AnchorConfig = field(default_factory=AnchorConfig)
    conditioning: ConditioningConfig = field(default_factory=ConditioningConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    source: str | None = None  # the file it was read from

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("source", None)
        return d

    def validate(self) -> "TrainConfig":
        where = self.source or "<config>"

        def bad(key: str, msg: str) -> ConfigError:
            return ConfigError(f"{where}: {key}: {msg}")

        m = self.model
        if (m.preset is None) == (m.init_from is None):
            raise bad("model", "give exactly one of model.preset (random init) or model.init_from (weights)")
        d = self.data
        if d.num_frames < 1 or (d.num_frames - 1) % 4:
            raise bad("data.num_frames", f"must be 4k+1 (VAE temporal compression 4), got {d.num_frames}")
        if d.frame_stride < 1:
            raise bad("data.frame_stride", f"must be >= 1, got {d.frame_stride}")
        for key in ("shard_size", "encode_batch"):
            if getattr(d, key) < 1:
                raise bad(f"data.{key}", f"must be >= 1, got {getattr(d, key)}")
        for key in ("anchor_size", "viewpoint_size"):
            v = getattr(d, key)
            if v is not None and (len(v) != 2 or any(int(x) <= 0 for x in v)):
                raise bad(f"data.{key}", f"must be [height, width] in pixels, got {v}")
        if d.anchor_size is None:
            raise bad("data.anchor_size", "must be [height, width] in pixels, got null")
        a = self.anchors
        if a.mode not in ANCHOR_MODES:
            raise bad("anchors.mode", f"must be one of {list(ANCHOR_MODES)}, got {a.mode!r}")
        for key in ("outside_share", "viewpoint_ratio"):
            v = getattr(a, key)
            if not 0.0 <= v <= 1.0:
                raise bad(f"anchors.{key}", f"must be in [0, 1], got {v}")
        if a.global_source not in ("pool", "clip_frame"):
            raise bad("anchors.global_source", f"must be pool or clip_frame, got {a.global_source!r}")
        if not 1 <= a.max_viewpoint <= 4 or not 1 <= a.max_expression <= 8:
            raise bad("anchors.max_viewpoint/max_expression", "must be in 1..4 / 1..8 (paper §4.1)")
        if not (a.category_weights == "balanced" or isinstance(a.category_weights, dict)):
            raise bad("anchors.category_weights", f"must be 'balanced' or a mapping category -> weight, got {a.category_weights!r}")
        c = self.conditioning
        for key in ("text_dropout", "audio_dropout", "prefix_prob"):
            v = getattr(c, key)
            if not 0.0 <= v <= 1.0:
                raise bad(f"conditioning.{key}", f"must be in [0, 1], got {v}")
        if c.null_text not in ("empty_prompt", "zeros"):
            raise bad("conditioning.null_text", f"must be empty_prompt or zeros, got {c.null_text!r}")
        if c.prefix_frames < 1:
            raise bad("conditioning.prefix_frames", f"must be >= 1, got {c.prefix_frames}")
        lat_frames = (d.num_frames - 1) // 4 + 1
        if c.prefix_prob > 0 and c.prefix_frames >= lat_frames:
            raise bad("conditioning.prefix_frames", f"{c.prefix_frames} >= the clip's {lat_frames} latent frames")
        f = self.flow
        if f.shift <= 0:
            raise bad("flow.shift", f"must be > 0, got {f.shift}")
        if f.sampling not in ("uniform", "logit_normal"):
            raise bad("flow.sampling", f"must be uniform or logit_normal, got {f.sampling!r}")
        o = self.optim
        if len(o.betas) != 2:
            raise bad("optim.betas", f"must be two numbers, got {o.betas}")
        if o.lr <= 0:
            raise bad("optim.lr", f"must be > 0, got {o.lr}")
        if not 0.0 < o.min_lr_ratio <= 1.0:
            raise bad("optim.min_lr_ratio", f"must be in (0, 1], got {o.min_lr_ratio}")
        if not 0.0 <= o.ema_decay < 1.0:
            raise bad("optim.ema_decay", f"must be in [0, 1), got {o.ema_decay}")
        r = self.run
        if r.mixed_precision not in ("bf16", "no"):
            raise bad("run.mixed_precision", f"must be bf16 or no, got {r.mixed_precision!r}")
        if r.distributed not in ("auto", "none", "ddp", "fsdp"):
            raise bad("run.distributed", f"must be auto, none, ddp or fsdp, got {r.distributed!r}")
        for key in ("max_steps", "global_batch_size", "micro_batch_size", "checkpoint_every", "keep_last", "log_every"):
            if getattr(r, key) < 1:
                raise bad(f"run.{key}", f"must be >= 1, got {getattr(r, key)}")
        if r.global_batch_size % r.micro_batch_size:
            raise bad("run.global_batch_size", f"{r.global_batch_size} is not a multiple of micro_batch_size {r.micro_batch_size}")
        return self


def _is_dataclass_type(tp) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _coerce(value, tp, key: str, where: str):
    """Check/convert a YAML value to the annotated type; raise ConfigError naming the key."""
    if _is_dataclass_type(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: {key}: expected a mapping, got {type(value).__name__}")
        return _build(tp, value, key, where)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key, where)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: {key}: expected a list, got {value!r}")
        return [_coerce(v, args[0], f"{key}[{i}]", where) for i, v in enumerate(value)] if args else list(value)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: {key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: {key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: {key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key}: expected a string, got {value!r}")
        return value
    return value


def _build(cls, data: dict, prefix: str, where: str):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        dotted = [f"{prefix}.{k}" if prefix else k for k in unknown]
        raise ConfigError(f"{where}: unknown key(s) {dotted}; known: {sorted(names - {'source'})}")
    kwargs = {}
    for k, v in data.items():
        kwargs[k] = _coerce(v, hints[k], f"{prefix}.{k}" if prefix else k, where)
    return cls(**kwargs)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k not in ("overrides", "category_weights"):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _load_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: circular base: chain {[str(p) for p in seen]}")
    data = read_yaml(path, "training config", ConfigError) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    base = data.pop("base", None)
    if base is not None:
        data = _merge(_load_raw(path.parent / base, seen + (path,)), data)
    return data


def load_config(path: str | os.PathLike, overrides: dict | None = None, cls: type = None):
    """Read, merge (`base:`), apply `overrides` ({"run.max_steps": 10, ...}) and validate a recipe.

    `cls` is the recipe's dataclass (default `TrainConfig`; `gloria.training.vae.VAEConfig` for VAE recipes).
    """
    cls = cls or TrainConfig
    path = Path(path)
    data = _load_raw(path)
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    cfg = _build(cls, data, "", str(path))
    cfg.source = str(path)
    return cfg.validate()


def config_from_dict(data: dict, where: str = "<dict>") -> TrainConfig:
    cfg = _build(TrainConfig, data, "", where)
    cfg.source = where
    return cfg.validate()


def parse_override(text: str) -> tuple[str, Any]:
    """'run.max_steps=10' -> ('run.max_steps', 10) (value parsed as YAML)."""
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise ConfigError(f"--set expects KEY=VALUE (e.g. run.max_steps=10), got {text!r}")
    return key.strip(), yaml.safe_load(value)
