"""Latent cache (`gloria cache`) and the two sample sources the trainer reads: cache or raw videos.

Cache layout (written once, resumable shard by shard, every file written to a temp name then renamed)::

    CACHE/
      meta.json              geometry (frames, size, anchor size), what is stored, failures
      clips.parquet          the dataset's clips table (gloria.data.schema) + `cache_shard`
      anchors.parquet        the dataset's anchors table + `cache_shard`
      null_text.safetensors  "text": the encoded empty prompt (CFG dropout target)
      shards/clips-00000.safetensors    "<clip_id>/latent" [C,F,H,W], "/cond" [C,F,H,W] (I2V kind),
                                        "/clip_image" [N,D] (I2V kind), "/text" [n,D], "/audio" [T,L,d]
      shards/anchors-00000.safetensors  "<anchor_id>/latent" [C,1,h,w]

Global anchors are encoded at the video size, viewpoint/expression crops at `data.anchor_size` (viewpoint
crops at `data.viewpoint_size` when set).
Both sources return the same dicts, so training is identical from the cache or from raw videos.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from gloria.data import schema
from gloria.training.config import TrainConfig
from gloria.training.encoders import (
    Encoders,
    frame_times,
    read_clip_audio,
    read_clip_frames,
    read_image,
)

CACHE_VERSION = 1


def model_needs(model_config: dict) -> dict:
    """What a model of this config consumes: I2V condition (cond latent + CLIP tokens), audio."""
    latent = model_config.get("out_channels") or model_config["in_channels"]
    i2v = model_config["in_channels"] != latent
    return {"cond": i2v, "clip_image": i2v and model_config.get("image_dim") is not None,
            "audio": model_config.get("audio_dim") is not None, "latent_channels": latent}


def _anchor_hw(cfg: TrainConfig, anchor_type: str) -> tuple[int, int]:
    d = cfg.data
    if anchor_type == "global":
        return d.height, d.width
    size = d.viewpoint_size if anchor_type == "viewpoint" and d.viewpoint_size is not None else d.anchor_size
    return int(size[0]), int(size[1])


def _load_clip(enc: Encoders, dataset_dir: Path, clip: dict, cfg: TrainConfig, needs: dict) -> tuple[torch.Tensor, dict]:
    """Decode one clip: pixels `[3, T, H, W]` in [-1, 1] and its non-VAE tensors (text, audio, CLIP image)."""
    d = cfg.data
    video = schema.resolve_path(dataset_dir, clip["video_path"])
    if not video.is_file():
        raise FileNotFoundError(f"clip {clip['clip_id']}: video file not found: {video}")
    pixels = read_clip_frames(video, d.num_frames, d.frame_stride, d.height, d.width)
    out = {"text": enc.encode_text(clip["caption"])}
    if needs["clip_image"]:
        out["clip_image"] = enc.encode_clip_image(pixels[:, 0])
    if needs["audio"] and clip["has_audio"]:
        rel = clip.get("audio_path")
        apath = schema.resolve_path(dataset_dir, rel if isinstance(rel, str) and rel else clip["video_path"])
        wave = read_clip_audio(apath)
        if wave.shape[0] == 0:
            raise ValueError(f"clip {clip['clip_id']}: has_audio is true but {apath} has no audio stream")
        out["audio"] = enc.encode_audio(wave, frame_times(d.num_frames, d.frame_stride, clip["fps"]))
    return pixels, out


def encode_clips(enc: Encoders, dataset_dir: Path, clips: list[dict], cfg: TrainConfig, needs: dict) -> list[dict | Exception]:
    """Raw clips -> the tensors each training sample needs (float32, CPU), one VAE call for the whole group.

    A clip that cannot be read gets its exception in its place; the others are still encoded.
    """
    loaded: list[tuple[torch.Tensor, dict] | Exception] = []
    for clip in clips:
        try:
            loaded.append(_load_clip(enc, dataset_dir, clip, cfg, needs))
        except Exception as err:  # noqa: BLE001 - reported per clip by the caller
            loaded.append(err)
    ok = [x for x in loaded if not isinstance(x, Exception)]
    if ok:
        pixels = torch.stack([p for p, _ in ok])
        latents = enc.encode_pixels(pixels)
        conds = enc.encode_i2v_condition(pixels) if needs["cond"] else None
        for i, (_, out) in enumerate(ok):
            out["latent"] = latents[i]
            if conds is not None:
                out["cond"] = conds[i]
    return [x if isinstance(x, Exception) else x[1] for x in loaded]


def encode_clip(enc: Encoders, dataset_dir: Path, clip: dict, cfg: TrainConfig, needs: dict) -> dict:
    """Raw clip -> the tensors a training sample needs (float32, CPU)."""
    got = encode_clips(enc, dataset_dir, [clip], cfg, needs)[0]
    if isinstance(got, Exception):
        raise got
    return got


def encode_anchors(enc: Encoders, dataset_dir: Path, anchors: list[dict], cfg: TrainConfig) -> list[torch.Tensor | Exception]:
    """Anchor images -> latents `[C, 1, h, w]`; anchors of the same size share one VAE call."""
    out: list[torch.Tensor | Exception] = []
    for anchor in anchors:
        try:
            path = schema.resolve_path(dataset_dir, anchor["image_path"])
            if not path.is_file():
                raise FileNotFoundError(f"anchor {anchor['anchor_id']}: image not found: {path}")
            out.append(read_image(path, *_anchor_hw(cfg, anchor["type"])))
        except Exception as err:  # noqa: BLE001 - reported per anchor by the caller
            out.append(err)
    by_size: dict[tuple, list[int]] = {}
    for i, x in enumerate(out):
        if not isinstance(x, Exception):
            by_size.setdefault(tuple(x.shape), []).append(i)
    for idx in by_size.values():
        latents = enc.encode_pixels(torch.stack([out[i] for i in idx]))
        for j, i in enumerate(idx):
            out[i] = latents[j]
    return out


def encode_anchor(enc: Encoders, dataset_dir: Path, anchor: dict, cfg: TrainConfig) -> torch.Tensor:
    got = encode_anchors(enc, dataset_dir, [anchor], cfg)[0]
    if isinstance(got, Exception):
        raise got
    return got


def null_text_embedding(enc: Encoders | None, cfg: TrainConfig, text_dim: int) -> torch.Tensor:
    """The CFG-dropout text: the encoded empty prompt, or `[0, D]` (all-zero after padding) for `zeros`."""
    if cfg.conditioning.null_text == "zeros" or enc is None:
        return torch.zeros(0, text_dim)
    return enc.encode_text("")


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict | None = None) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def build_cache(cfg: TrainConfig, model_config: dict, out_dir: str | os.PathLike, encoders: Encoders | None = None,
                progress: bool = True) -> dict:
    """Encode every clip and anchor of `cfg.data.dataset` into `out_dir`. Returns the meta dict.

    Existing complete shards are kept (a re-run resumes). A clip or anchor that fails to decode/encode
    is left out and listed under `failures` in meta.json with the reason.
    """
    from tqdm import tqdm

    d = cfg.data
    if not d.dataset:
        raise ValueError("data.dataset is not set: `gloria cache` needs the dataset directory with clips.parquet")
    dataset_dir = Path(d.dataset).resolve()
    clips = schema.read_clips(dataset_dir)
    anchors = schema.read_anchors(dataset_dir) if (dataset_dir / schema.FILENAMES["anchors"]).is_file() else schema.empty_frame("anchors")
    needs = model_needs(model_config)
    enc = encoders or Encoders(d.encoders)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[d.cache_dtype]
    out = Path(out_dir)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    failures = {"clips": [], "anchors": []}
    kept_clips, kept_anchors = [], []

    def run(table: pd.DataFrame, kind: str, idcol: str, fn) -> None:
        n_shards = (len(table) + d.shard_size - 1) // d.shard_size
        bar = tqdm(total=len(table), desc=f"cache {kind}", unit=kind[:-1], disable=not progress)
        for s in range(n_shards):
            rows = table.iloc[s * d.shard_size : (s + 1) * d.shard_size]
            name = f"{kind}-{s:05d}.safetensors"
            path = out / "shards" / name
            done_path = path.with_suffix(".json")  # ids kept + failures of a finished shard
            if done_path.is_file() and (path.is_file() or not json.loads(done_path.read_text())["kept"]):
                info = json.loads(done_path.read_text())  # finished earlier: resume
                ids = set(rows[idcol])
                if not set(info["kept"]) <= ids:
                    raise ValueError(f"{done_path}: shard was written for other {kind} than the dataset now lists; "
                                     f"use a fresh cache directory")
                bar.update(len(rows))
            else:
                tensors, info = {}, {"kept": [], "failures": []}
                recs = rows.to_dict("records")
                for g in range(0, len(recs), d.encode_batch):
                    group = recs[g : g + d.encode_batch]
                    for rec, got in zip(group, fn(group)):
                        if isinstance(got, Exception):
                            info["failures"].append({"id": rec[idcol], "error": f"{type(got).__name__}: {got}"})
                            continue
                        got = {"latent": got} if torch.is_tensor(got) else got
                        for k, v in got.items():
                            tensors[f"{rec[idcol]}/{k}"] = v.to(dtype)
                        info["kept"].append(rec[idcol])
                    bar.update(len(group))
                if tensors:
                    _atomic_save(tensors, path)
                _atomic_text(done_path, json.dumps(info))
            keep = rows[rows[idcol].isin(info["kept"])].copy()
            keep["cache_shard"] = name
            (kept_clips if kind == "clips" else kept_anchors).append(keep)
            failures[kind] += info["failures"]
        bar.close()

    run(clips, "clips", "clip_id", lambda recs: encode_clips(enc, dataset_dir, recs, cfg, needs))
    run(anchors, "anchors", "anchor_id", lambda recs: encode_anchors(enc, dataset_dir, recs, cfg))
    text_dim = int(model_config["text_dim"])
    null = null_text_embedding(enc, cfg, text_dim)
    _atomic_save({"text": null.to(dtype)}, out / "null_text.safetensors")
    cat = lambda parts, t: pd.concat(parts, ignore_index=True) if parts else schema.empty_frame(t).assign(cache_shard=pd.Series(dtype=str))  # noqa: E731
    cc, ca = cat(kept_clips, "clips"), cat(kept_anchors, "anchors")
    for df, name in ((cc, "clips.parquet"), (ca, "anchors.parquet")):
        tmp = out / f".{name}.tmp{os.getpid()}"
        df.to_parquet(tmp, index=False)
        os.replace(tmp, out / name)
    meta = {
        "version": CACHE_VERSION, "dataset": str(dataset_dir), "num_frames": d.num_frames, "frame_stride": d.frame_stride,
        "height": d.height, "width": d.width, "anchor_size": list(d.anchor_size),
        "viewpoint_size": None if d.viewpoint_size is None else list(d.viewpoint_size), "text_len": d.encoders.text_len,
        "text_dim": text_dim, "latent_channels": needs["latent_channels"], "has_cond": needs["cond"],
        "has_clip_image": needs["clip_image"], "has_audio": needs["audio"], "null_text": cfg.conditioning.null_text,
        "clips": len(cc), "anchors": len(ca), "failures": failures,
    }
    _atomic_text(out / "meta.json", json.dumps(meta, indent=1))
    return meta


# ----------------------------------------------------------------------------- sources
class CacheSource:
    """Reads samples from a cache directory (safetensors opened lazily, per process)."""

    def __init__(self, cache_dir: str | os.PathLike, cfg: TrainConfig):
        self.dir = Path(cache_dir)
        meta_path = self.dir / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"latent cache not found: {meta_path} (run `gloria cache --config ...` first)")
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("version") != CACHE_VERSION:
            raise ValueError(f"{meta_path}: cache version {self.meta.get('version')}, this code reads {CACHE_VERSION}")
        d = cfg.data
        for key, want in (("num_frames", d.num_frames), ("height", d.height), ("width", d.width),
                          ("frame_stride", d.frame_stride), ("anchor_size", list(d.anchor_size)),
                          ("viewpoint_size", None if d.viewpoint_size is None else list(d.viewpoint_size))):
            if self.meta.get(key) != want:
                raise ValueError(f"{meta_path}: cache has {key}={self.meta[key]} but the config says data.{key}={want}")
        self.clips = pd.read_parquet(self.dir / "clips.parquet")
        self.anchors = pd.read_parquet(self.dir / "anchors.parquet")
        for df, name in ((self.clips, "clips"), (self.anchors, "anchors")):
            missing = [f.name for f in schema.SCHEMAS[name] if not f.nullable and f.name not in df.columns]
            if missing or "cache_shard" not in df.columns:
                raise ValueError(f"{self.dir / (name + '.parquet')}: missing column(s) {missing or ['cache_shard']}")
        self._handles: dict[str, object] = {}
        self._null = None

    def _get(self, shard: str, key: str) -> torch.Tensor | None:
        h = self._handles.get(shard)
        if h is None:
            path = self.dir / "shards" / shard
            if not path.is_file():
                raise FileNotFoundError(f"cache shard missing: {path}")
            h = self._handles[shard] = safe_open(str(path), framework="pt")
        if key not in h.keys():
            return None
        return h.get_tensor(key).float()

    def clip(self, row: int) -> dict:
        rec = self.clips.iloc[row]
        cid, shard = rec["clip_id"], rec["cache_shard"]
        out = {}
        for k in ("latent", "cond", "clip_image", "text", "audio"):
            t = self._get(shard, f"{cid}/{k}")
            if t is not None:
                out[k] = t
        if "latent" not in out or "text" not in out:
            raise KeyError(f"cache shard {shard} lacks latent/text of clip {cid}")
        return out

    def anchor(self, row: int) -> torch.Tensor:
        rec = self.anchors.iloc[row]
        t = self._get(rec["cache_shard"], f"{rec['anchor_id']}/latent")
        if t is None:
            raise KeyError(f"cache shard {rec['cache_shard']} lacks anchor {rec['anchor_id']}")
        return t

    def null_text(self) -> torch.Tensor:
        if self._null is None:
            with safe_open(str(self.dir / "null_text.safetensors"), framework="pt") as f:
                self._null = f.get_tensor("text").float()
        return self._null

    def __getstate__(self):  # safetensors handles do not pickle (DataLoader workers reopen them)
        state = dict(self.__dict__)
        state["_handles"] = {}
        return state


class RawSource:
    """Encodes samples on the fly from the dataset's videos and anchor images (no cache)."""

    def __init__(self, cfg: TrainConfig, model_config: dict, encoders: Encoders | None = None):
        if not cfg.data.dataset:
            raise ValueError("neither data.cache nor data.dataset is set: nothing to train on")
        self.dir = Path(cfg.data.dataset).resolve()
        self.cfg = cfg
        self.clips = schema.read_clips(self.dir)
        apath = self.dir / schema.FILENAMES["anchors"]
        self.anchors = schema.read_anchors(self.dir) if apath.is_file() else schema.empty_frame("anchors")
        self.needs = model_needs(model_config)
        self.text_dim = int(model_config["text_dim"])
        self.enc = encoders or Encoders(cfg.data.encoders)
        self.meta = {"text_len": cfg.data.encoders.text_len}
        self._null = None

    def clip(self, row: int) -> dict:
        return encode_clip(self.enc, self.dir, self.clips.iloc[row].to_dict(), self.cfg, self.needs)

    def anchor(self, row: int) -> torch.Tensor:
        return encode_anchor(self.enc, self.dir, self.anchors.iloc[row].to_dict(), self.cfg)

    def null_text(self) -> torch.Tensor:
        if self._null is None:
            self._null = null_text_embedding(self.enc, self.cfg, self.text_dim)
        return self._null
