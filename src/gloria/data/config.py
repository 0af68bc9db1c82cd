"""Configuration of the data pipeline (`configs/data/default.yaml` documents every field)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from gloria.yaml_file import read_yaml


@dataclass
class ProbeConfig:
    min_duration_s: float = 5.0  # shorter inputs cannot give one 5 s clip
    min_width: int = 256
    min_height: int = 256


@dataclass
class QualityConfig:
    sample_fps: float = 1.0  # frames per second sampled for the quality metrics
    min_blur_var: float = 20.0  # Laplacian variance of the gray frame (median over samples); lower = blurry
    min_brightness: float = 30.0  # mean luma 0..255 (median over samples); lower = under-exposed
    max_brightness: float = 225.0  # higher = over-exposed
    min_motion: float = 0.5  # mean |frame difference| (0..255) between samples; lower = static video
    require_audio: bool = False  # drop inputs without an audio stream
    min_audio_rms_db: float = -60.0  # an audio track quieter than this (dBFS) counts as silent


@dataclass
class ShotConfig:
    # ContentDetector (HSV content change between consecutive frames): robust on hard cuts, the
    # dominant transition in talking/vlog footage; 27 is PySceneDetect's tuned default and what
    # video2dataset uses. AdaptiveDetector (rolling average) is available for handheld footage.
    detector: str = "content"  # content | adaptive
    threshold: float = 27.0  # content: score threshold; adaptive: adaptive_threshold (3.0 typical)
    min_scene_len_frames: int = 15
    min_shot_s: float = 5.0  # a "long shot" must hold at least one clip
    downscale_width: int = 256  # frames are resized to this width for detection (speed)


@dataclass
class PersonConfig:
    backend: str = "mediapipe"  # mediapipe (faces + pose) | opencv (HOG people + Haar faces)
    sample_fps: float = 1.0
    min_face_score: float = 0.6
    hog_min_weight: float = 1.0
    min_single_ratio: float = 0.8  # fraction of sampled frames that must show exactly one person
    max_multi_ratio: float = 0.05  # fraction of sampled frames allowed to show two or more


@dataclass
class SyncConfig:
    enabled: bool = True
    backend: str = "envelope"  # envelope (offline: audio envelope x mouth opening) | syncnet (weights from syncnet_weights)
    syncnet_weights: str | None = None
    max_offset_frames: int = 15  # search range (video frames at 25 fps)
    keep_max_abs_offset: int = 6  # keep a shot if |offset| <= this ...
    keep_min_confidence: float = 0.3  # ... and confidence >= this (envelope: peak minus median correlation; syncnet: LSE-C, use 3.0)
    skip_without_audio: bool = True  # shots without audio pass this stage (recorded in the summary)


@dataclass
class ClipConfig:
    seconds: float = 5.0
    fps: float = 24.0
    max_clips_per_shot: int = 0  # 0 = as many as fit
    codec: str = "libx264"
    crf: int = 18
    max_height: int = 0  # 0 = keep the source resolution; else downscale to this height (even width)
    webdataset: bool = False  # also pack the clips into tar shards
    shard_size: int = 1000


@dataclass
class GlobalAnchorConfig:
    num_candidates: int = 10


@dataclass
class ViewpointConfig:
    enabled: bool = True
    backend: str = "mediapipe"  # mediapipe (3D pose landmarks on CPU) | gvhmr (per-frame global_orient from a user file)
    sample_fps: float = 2.0
    front_max_deg: float = 45.0  # |yaw| <= front_max_deg -> front
    back_min_deg: float = 135.0  # |yaw| >= back_min_deg -> back; otherwise left/right by the sign of yaw
    min_visibility: float = 0.5  # shoulders' landmark visibility
    crop_margin: float = 0.15  # body box enlarged by this fraction of its size on each side


@dataclass
class ExpressionConfig:
    enabled: bool = True
    backend: str = "fer"  # fer (mini-Xception, shipped) | emotiefflib (ONNX model from emotiefflib_model)
    emotiefflib_model: str | None = None
    sample_fps: float = 2.0
    min_height: int = 1080  # paper §3: only sources with native resolution >= 1080p
    min_score: float = 0.5  # classifier probability for a candidate
    min_distinct: int = 2  # keep a clip's candidates only if it shows >= this many distinct expressions
    crop_margin: float = 0.35  # head box = face box enlarged by this fraction on each side


@dataclass
class JudgeConfig:
    enabled: bool = False
    base_url: str | None = None  # e.g. http://host:8000/v1 ; env GLORIA_JUDGE_URL
    model: str | None = None  # env GLORIA_JUDGE_MODEL
    api_key_env: str = "GLORIA_JUDGE_API_KEY"  # name of the env var holding the key
    timeout_s: float = 30.0
    retries: int = 3
    backoff_s: float = 1.0
    concurrency: int = 4
    cache: str | None = None  # JSON-lines cache file; default DATASET/judge_cache.jsonl
    on_error: str = "keep"  # judge unreachable / malformed after retries: keep the classifier's label | discard


@dataclass
class DataConfig:
    seed: int = 0
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    shots: ShotConfig = field(default_factory=ShotConfig)
    person: PersonConfig = field(default_factory=PersonConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    clips: ClipConfig = field(default_factory=ClipConfig)
    global_anchor: GlobalAnchorConfig = field(default_factory=GlobalAnchorConfig)
    viewpoint: ViewpointConfig = field(default_factory=ViewpointConfig)
    expression: ExpressionConfig = field(default_factory=ExpressionConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """Hash of every setting that changes outputs (the judge's connection settings excluded)."""
        d = self.to_dict()
        for k in ("base_url", "api_key_env", "timeout_s", "retries", "backoff_s", "concurrency", "cache", "on_error"):
            d["judge"].pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _build(cls, data: dict[str, Any], where: str):
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed {sorted(fields)}")
    kwargs = {}
    defaults = cls()
    for name, value in data.items():
        cur = getattr(defaults, name)
        if dataclasses.is_dataclass(cur):
            kwargs[name] = _build(type(cur), value or {}, f"{where}.{name}")
        else:
            if cur is not None and value is not None and not isinstance(value, type(cur)):
                if isinstance(cur, float) and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                else:
                    raise ValueError(f"{where}.{name}: expected {type(cur).__name__}, got {value!r}")
            kwargs[name] = value
    return cls(**kwargs)


def load_config(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> DataConfig:
    """Defaults, updated by the YAML file at `path` and then by `overrides` (nested dicts)."""
    data: dict[str, Any] = {}
    if path is not None:
        data = read_yaml(path, "data config") or {}
    data = _merge(data, overrides or {})
    cfg = _build(DataConfig, data, str(path or "config"))
    check_config(cfg)
    return cfg


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out.get(k) or {}, v) if isinstance(v, dict) else v
    return out


def check_config(cfg: DataConfig) -> None:
    checks = [
        (cfg.shots.detector in ("content", "adaptive"), "shots.detector must be 'content' or 'adaptive'"),
        (cfg.person.backend in ("mediapipe", "opencv"), "person.backend must be 'mediapipe' or 'opencv'"),
        (cfg.sync.backend in ("envelope", "syncnet"), "sync.backend must be 'envelope' or 'syncnet'"),
        (cfg.viewpoint.backend in ("mediapipe", "gvhmr"), "viewpoint.backend must be 'mediapipe' or 'gvhmr'"),
        (cfg.expression.backend in ("fer", "emotiefflib"), "expression.backend must be 'fer' or 'emotiefflib'"),
        (cfg.clips.seconds > 0 and cfg.clips.fps > 0, "clips.seconds and clips.fps must be > 0"),
        (0 <= cfg.viewpoint.front_max_deg < cfg.viewpoint.back_min_deg <= 180,
         "viewpoint thresholds need 0 <= front_max_deg < back_min_deg <= 180"),
        (cfg.judge.on_error in ("keep", "discard"), "judge.on_error must be 'keep' or 'discard'"),
        (cfg.expression.min_distinct >= 1, "expression.min_distinct must be >= 1"),
        (not (cfg.sync.backend == "syncnet" and cfg.sync.enabled and not cfg.sync.syncnet_weights),
         "sync.backend 'syncnet' needs sync.syncnet_weights (a path to the SyncNet weights)"),
        (not (cfg.expression.backend == "emotiefflib" and not cfg.expression.emotiefflib_model),
         "expression.backend 'emotiefflib' needs expression.emotiefflib_model (a path to the ONNX file)"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ValueError(f"data config: {msg}")
