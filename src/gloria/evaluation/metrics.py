"""Score videos: one streamed decode per video feeds every frame metric; per-chunk drift curves; set summary.

Result layout (what `metrics.json` holds): see docs/evaluation.md. A metric that cannot be computed
for a video has `"value": null` and a `"reason"` (JSON has no NaN); configuration errors (unknown
metric, missing backbone / anchors / reference videos) raise before any video is decoded.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .formulas import ConsistencyAccumulator, GaussianStats, cosine_matrix, pair_weighted_mean, sync_from_dists

ALL_METRICS: tuple[str, ...] = ("subject", "background", "identity", "clip-i", "dino-i", "exp", "sync", "iqa", "aes", "fvd", "fid")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
NEEDS_FACES = {"identity", "exp", "sync"}
SET_METRICS = ("fvd", "fid")  # generated set vs --reference-videos


def parse_metrics(text: str | list[str] | None) -> tuple[str, ...]:
    """'subject,background' -> ('subject', 'background'); unknown names raise ValueError listing the valid ones."""
    if text is None:
        return ("subject", "background", "identity")
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for m in (x.strip().lower() for x in items):
        if not m:
            continue
        if m == "all":
            out.extend(ALL_METRICS)
            continue
        if m not in ALL_METRICS:
            raise ValueError(f"unknown metric {m!r}; expected a comma-separated subset of {', '.join(ALL_METRICS)}")
        out.append(m)
    if not out:
        raise ValueError("no metric requested")
    return tuple(dict.fromkeys(out))


@dataclass
class EvalOptions:
    metrics: tuple[str, ...] = ("subject", "background", "identity")
    first_frame: str | None = None
    anchors: str | None = None
    audio: str | None = None
    reference_videos: str | None = None
    chunk_seconds: float = 10.0
    batch_size: int = 16
    stride: int = 1
    device: str = "cpu"
    dino: str | None = None
    clip: str | None = None
    dino_i: str | None = None
    clip_i: str | None = None
    identity_backend: str = "arcface"
    arcface_weights: str | None = None
    syncnet_weights: str | None = None
    i3d_weights: str | None = None
    fid_weights: str | None = None  # else $GLORIA_FID_WEIGHTS
    fid_frame_step: int = 1
    qalign: str | None = None
    face_detector: str = "hog"
    detect_max_side: int = 640
    progress: bool = True

    def validate(self) -> None:
        self.metrics = parse_metrics(list(self.metrics))
        if self.chunk_seconds <= 0:
            raise ValueError(f"--chunk-seconds must be > 0, got {self.chunk_seconds}")
        if self.batch_size < 1 or self.stride < 1:
            raise ValueError("--batch-size and --stride must be >= 1")
        if self.identity_backend not in ("arcface", "dlib"):
            raise ValueError(f"unknown --identity-backend {self.identity_backend!r}; expected arcface or dlib")
        needs_anchors = {"clip-i", "dino-i", "exp"} & set(self.metrics)
        if needs_anchors and not self.anchors:
            raise ValueError(f"{', '.join(sorted(needs_anchors))} need reference images: give --anchors anchors.yaml")
        for m in SET_METRICS:
            if m in self.metrics and not self.reference_videos:
                raise ValueError(f"{m} needs real videos to compare with: give --reference-videos DIR")
        if "fvd" in self.metrics and self.stride != 1:
            raise ValueError("fvd uses consecutive 16-frame clips: it needs --stride 1")
        if "fid" in self.metrics:
            if self.stride != 1:
                raise ValueError("fid samples frames itself (--fid-frame-step K): it needs --stride 1")
            if self.fid_frame_step < 1:
                raise ValueError(f"--fid-frame-step must be >= 1, got {self.fid_frame_step}")


@dataclass
class Models:
    """Loaded backbones (tests construct this directly with tiny models)."""

    encoders: dict = field(default_factory=dict)  # role -> backbones.ImageEncoder
    faces: object | None = None  # .detect(rgb) -> list[faces.Face], .info()
    identity: object | None = None  # .embed([(rgb, face)]) -> list[np.ndarray], .info(), .name
    syncnet: object | None = None
    i3d: object | None = None
    inception: object | None = None  # fid: frames [B, 3, H, W] in [0, 1] -> [B, D] (fid.FIDInceptionV3)
    qalign: object | None = None
    weights: dict = field(default_factory=dict)  # name -> weights file path (hashed into metrics.json)

    @classmethod
    def load(cls, opts: EvalOptions) -> "Models":
        from .backbones import ImageEncoder

        m = cls()
        src = {"subject": opts.dino, "background": opts.clip, "dino-i": opts.dino_i, "clip-i": opts.clip_i}
        for role in ("subject", "background", "dino-i", "clip-i"):
            if role in opts.metrics:
                m.encoders[role] = ImageEncoder.load(role, src[role], opts.device)
        if "sync" in opts.metrics:
            from .syncnet import load_syncnet

            m.syncnet = load_syncnet(opts.syncnet_weights)
            m.weights["syncnet"] = opts.syncnet_weights
        if NEEDS_FACES & set(opts.metrics):
            from .faces import DlibFaces

            try:
                m.faces = DlibFaces(opts.face_detector, landmarks68=opts.identity_backend == "arcface",
                                    landmarks5=opts.identity_backend == "dlib")
            except ImportError as err:
                raise FileNotFoundError(f"{', '.join(sorted(NEEDS_FACES & set(opts.metrics)))} need a face detector: {err}") from err
        if {"identity", "exp"} & set(opts.metrics):
            from .identity import ArcFaceEmbedder, DlibEmbedder

            m.identity = ArcFaceEmbedder.load(opts.arcface_weights, opts.device) if opts.identity_backend == "arcface" else DlibEmbedder()
        if "fvd" in opts.metrics:
            from .fvd import load_i3d

            m.i3d = load_i3d(opts.i3d_weights)
            m.weights["i3d"] = opts.i3d_weights
        if "fid" in opts.metrics:
            from .fid import load_fid_inception, resolve_weights

            path = resolve_weights(opts.fid_weights)  # --fid-weights, else $GLORIA_FID_WEIGHTS
            m.inception = load_fid_inception(path, opts.device)
            m.weights["inception"] = str(path)
        if {"iqa", "aes"} & set(opts.metrics):
            from .qalign import load_qalign

            m.qalign = load_qalign(opts.qalign, opts.device)
        return m

    def check(self, metrics: tuple[str, ...]) -> None:
        for role in ("subject", "background", "dino-i", "clip-i"):
            if role in metrics and role not in self.encoders:
                raise FileNotFoundError(f"{role} needs its image backbone")
        need = {"identity": self.identity, "exp": self.identity, "sync": self.syncnet, "fvd": self.i3d, "fid": self.inception, "iqa": self.qalign, "aes": self.qalign}
        for name, obj in need.items():
            if name in metrics and obj is None:
                raise FileNotFoundError(f"{name} needs its backbone")
        if NEEDS_FACES & set(metrics) and self.faces is None:
            raise FileNotFoundError("identity/exp/sync need a face detector")

    def info(self) -> dict:
        out = {role: enc.info() for role, enc in self.encoders.items()}
        if self.faces is not None:
            out["face_detector"] = _info(self.faces)
        if self.identity is not None:
            out["identity"] = _info(self.identity)
        if self.syncnet is not None:
            out["syncnet"] = {"architecture": "syncnet_python SyncNetModel.S", **_weights_info(self.weights.get("syncnet"))}
        if self.i3d is not None:
            out["i3d"] = {"class": type(self.i3d).__name__, **_weights_info(self.weights.get("i3d"))}
        if self.inception is not None:
            out["inception"] = {"class": type(self.inception).__name__, **_weights_info(self.weights.get("inception"))}
        if self.qalign is not None:
            out["qalign"] = {"class": type(self.qalign).__name__, "scale": "[1, 5] (one-align score)"}
        return out


def _info(obj) -> dict:
    return obj.info() if hasattr(obj, "info") else {"class": type(obj).__name__}


def _weights_info(path) -> dict:
    if not path:
        return {}
    from .backbones import file_sha256

    return {"weights": str(path), "sha256": file_sha256(path)}


# ------------------------------------------------------------------------------------------ helpers


def chunk_curve(times: list[float], values: list[float], chunk_seconds: float) -> list[dict]:
    """Mean of the finite values per chunk [k·L, (k+1)·L) seconds; chunks with no finite value are null."""
    if not times:
        return []
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    k = np.floor(t / chunk_seconds + 1e-9).astype(int)
    out = []
    for c in range(int(k.max()) + 1):
        sel = v[(k == c) & np.isfinite(v)]
        n_all = int((k == c).sum())
        out.append({"start_s": c * chunk_seconds, "end_s": (c + 1) * chunk_seconds,
                    "value": float(sel.mean()) if len(sel) else None, "n": int(len(sel)), "n_frames": n_all})
    return out


def _mean_or_none(vals) -> float | None:
    v = [x for x in vals if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return float(np.mean(v)) if v else None


class _FaceEmbedder:
    """Largest face of each frame -> embedding (None where no face)."""

    def __init__(self, models: Models, max_side: int) -> None:
        from .faces import detect_scaled

        self._detect = lambda rgb: detect_scaled(models.faces, rgb, max_side)
        self._embedder = models.identity

    def __call__(self, frames) -> list[np.ndarray | None]:
        items, where = [], []
        for i, fr in enumerate(frames):
            faces = self._detect(fr)
            if faces:
                items.append((fr, faces[0]))
                where.append(i)
        embs = self._embedder.embed(items) if items else []
        out: list[np.ndarray | None] = [None] * len(frames)
        for i, e in zip(where, embs):
            out[i] = e
        return out


# ------------------------------------------------------------------------------------------ one video


def evaluate_video(path: str | Path, models: Models, opts: EvalOptions, anchors=None, first_frame=None,
                   fvd_stream=None, fid_stream=None) -> dict:
    """All requested metrics of one video (see module docstring for the layout)."""
    from tqdm.auto import tqdm

    from .video import iter_batches, probe

    info = probe(path)
    mets = set(opts.metrics)
    res: dict = {"path": str(path), "fps": info.fps, "n_frames": info.n_frames, "width": info.width,
                 "height": info.height, "duration_s": info.duration_s, "metrics": {}}
    cons = {r: ConsistencyAccumulator() for r in ("subject", "background") if r in mets}
    cons_t: dict[str, dict[int, float]] = {r: {} for r in cons}
    anchor_feats = {}
    ref_sets = {}
    for role in ("clip-i", "dino-i"):
        if role in mets:
            sel = [a for a in anchors if a.type in ("global", "viewpoint")] or list(anchors)
            feats = np.concatenate([models.encoders[role].encode(a.rgb[None]) for a in sel])
            anchor_feats[role] = feats
            ref_sets[role] = [a.label for a in sel]
    per_frame: dict[str, tuple[list, list]] = {m: ([], []) for m in ("identity", "clip-i", "dino-i", "exp") if m in mets}
    per_anchor_sum: dict[str, np.ndarray] = {}
    embed = _FaceEmbedder(models, opts.detect_max_side) if {"identity", "exp"} & mets else None
    id_ref, id_reason = None, None
    if "identity" in mets and first_frame is not None:
        e = embed([first_frame])[0]
        if e is None:
            id_reason = "no face in the --first-frame image"
        id_ref = e
    exp_refs, exp_labels, exp_skipped = [], [], []
    if "exp" in mets:
        for a in anchors:
            if a.type != "expression":
                continue
            e = embed([a.rgb])[0]
            if e is None:
                exp_skipped.append(a.label)
            else:
                exp_refs.append(e)
                exp_labels.append(a.label)
    no_face = 0
    n_frames = 0
    qa = {m: {"chunks": {}, "buffer": []} for m in ("iqa", "aes") if m in mets}
    qa_next = 0.0
    per_frame_needed = bool(cons or anchor_feats or embed or fvd_stream or fid_stream or qa)

    total = info.n_frames // opts.stride if info.n_frames > 0 else None
    bar = tqdm(total=total, desc=Path(path).name, unit="frame", disable=not opts.progress, leave=False)
    try:
        if per_frame_needed:
            for batch in iter_batches(path, batch_size=opts.batch_size, stride=opts.stride):
                n_frames += len(batch.indices)
                for role, acc in cons.items():
                    before = acc.pairs
                    acc.update(models.encoders[role].encode(batch.frames), batch.indices)
                    for idx, s in zip(acc.frame_indices[before:], acc.scores[before:]):
                        cons_t[role][idx] = s
                for role, ref in anchor_feats.items():
                    sims = cosine_matrix(models.encoders[role].encode(batch.frames), ref)  # [B, A]
                    per_frame[role][0].extend(batch.times)
                    per_frame[role][1].extend(sims.mean(1).tolist())
                    per_anchor_sum[role] = per_anchor_sum.get(role, 0) + sims.sum(0)
                if embed is not None:
                    embs = embed(list(batch.frames))
                    for t, e in zip(batch.times, embs):
                        if "identity" in mets and id_ref is None and id_reason is None:
                            if e is None:
                                id_reason = "no face in the video's first frame"
                            else:
                                id_ref = e
                        no_face += e is None
                        if "identity" in mets:
                            v = float(cosine_matrix(e, id_ref)[0, 0]) if (e is not None and id_ref is not None) else math.nan
                            per_frame["identity"][0].append(t)
                            per_frame["identity"][1].append(v)
                        if "exp" in mets:
                            if e is not None and exp_refs:
                                sims = cosine_matrix(e, np.stack(exp_refs))[0]
                                per_anchor_sum["exp"] = per_anchor_sum.get("exp", 0) + sims
                                per_anchor_sum["exp_n"] = per_anchor_sum.get("exp_n", 0) + 1
                                v = float(sims.mean())
                            else:
                                v = math.nan
                            per_frame["exp"][0].append(t)
                            per_frame["exp"][1].append(v)
                if fvd_stream is not None:
                    fvd_stream.update(batch.frames)
                if fid_stream is not None:
                    fid_stream.update(batch.frames, batch.indices)
                if qa:
                    for t, fr in zip(batch.times, batch.frames):
                        if t + 1e-9 >= qa_next:  # 1 fps sampling
                            qa_next += 1.0
                            c = int(math.floor(t / opts.chunk_seconds + 1e-9))
                            for m in qa:
                                qa[m]["buffer"].append((c, fr))
                    for m in qa:
                        _flush_qalign(models.qalign, qa[m], m, final=False)
                bar.update(len(batch.indices))
    finally:
        bar.close()
    if fvd_stream is not None:
        fvd_stream.end_video()
    if fid_stream is not None:
        fid_stream.end_video()
    if per_frame_needed and n_frames == 0:
        raise ValueError(f"{path}: no frame could be decoded")
    res["frames_scored"] = n_frames
    out = res["metrics"]
    for role, acc in cons.items():
        times = [i / info.fps for i in acc.frame_indices]
        r = {"value": acc.value() if acc.pairs else None, "pairs": acc.pairs, "total": acc.total,
             "chunks": chunk_curve(times, acc.scores, opts.chunk_seconds)}
        if not acc.pairs:
            r["reason"] = "fewer than 2 frames"
        out[role] = r
    for role in anchor_feats:
        t, v = per_frame[role]
        pa = per_anchor_sum[role] / max(1, len(v))
        out[role] = {"value": float(np.mean(v)), "n": len(v), "references": ref_sets[role],
                     "per_reference": dict(zip(ref_sets[role], pa.tolist())),
                     "chunks": chunk_curve(t, v, opts.chunk_seconds)}
    if "identity" in mets:
        t, v = per_frame["identity"]
        finite = [x for x in v if not math.isnan(x)]
        r = {"value": float(np.mean(finite)) if finite else None, "n": len(finite), "n_frames": len(v),
             "no_face_frames": no_face, "no_face_share": no_face / len(v) if v else None,
             "reference": "--first-frame" if first_frame is not None else "video frame 0",
             "chunks": chunk_curve(t, v, opts.chunk_seconds)}
        if id_reason:
            r["reason"] = id_reason
        elif not finite:
            r["reason"] = "no face found in any frame"
        out["identity"] = r
    if "exp" in mets:
        t, v = per_frame["exp"]
        finite = [x for x in v if not math.isnan(x)]
        r = {"value": float(np.mean(finite)) if finite else None, "n": len(finite), "n_frames": len(v),
             "no_face_frames": no_face, "no_face_share": no_face / len(v) if v else None,
             "references": exp_labels, "references_without_face": exp_skipped,
             "chunks": chunk_curve(t, v, opts.chunk_seconds)}
        if exp_refs and "exp_n" in per_anchor_sum:
            r["per_reference"] = dict(zip(exp_labels, (per_anchor_sum["exp"] / per_anchor_sum["exp_n"]).tolist()))
        if not any(a.type == "expression" for a in anchors):
            r["reason"] = "the anchors have no expression anchor"
        elif not exp_refs:
            r["reason"] = "no face in any expression anchor"
        elif not finite:
            r["reason"] = "no face found in any frame"
        out["exp"] = r
    for m in qa:
        _flush_qalign(models.qalign, qa[m], m, final=True)
        chunks = [{"start_s": c * opts.chunk_seconds, "end_s": (c + 1) * opts.chunk_seconds, "value": v, "n": n}
                  for c, (v, n) in sorted(qa[m]["chunks"].items())]
        vals = [(c["value"], c["n"]) for c in chunks if c["value"] is not None]
        value = float(sum(v * n for v, n in vals) / sum(n for _, n in vals)) if vals else None
        out[m] = {"value": value, "scale": "[1, 5]", "sampled_fps": 1, "chunks": chunks}
        if value is None:
            out[m]["reason"] = "no frame scored"
    if "sync" in mets:
        out["sync"] = evaluate_sync(path, models, opts)
    return res


def _flush_qalign(model, state: dict, metric: str, final: bool) -> None:
    """Score every completed chunk of 1-fps frames as one video (chunk-frame-weighted mean later)."""
    from .qalign import score_frames

    buf = state["buffer"]
    if not buf:
        return
    last = buf[-1][0]
    done = sorted({c for c, _ in buf if final or c < last})
    for c in done:
        frames = [f for cc, f in buf if cc == c]
        state["chunks"][c] = (score_frames(model, frames, metric), len(frames))
    state["buffer"] = [(cc, f) for cc, f in buf if cc not in done]


# ------------------------------------------------------------------------------------------ sync


def evaluate_sync(path: str | Path, models: Models, opts: EvalOptions) -> dict:
    """LSE-C / LSE-D / offset of one video (two streamed passes at 25 fps: face track, then crops)."""
    from tqdm.auto import tqdm

    from .faces import detect_scaled
    from .syncnet import FPS, SAMPLE_RATE, VSHIFT, audio_features, crop_face, mfcc, n_windows_for, smooth_track, sync_metrics, video_features
    from .video import iter_frames, load_audio

    audio_src = opts.audio or str(path)
    try:
        audio = load_audio(audio_src, SAMPLE_RATE)
    except ValueError as err:
        if opts.audio:
            raise
        return {"value": None, "reason": f"no audio: {err}; give --audio WAV"}
    boxes = []
    for _, _, fr in tqdm(iter_frames(path, fps=FPS), desc=f"{Path(path).name} faces", unit="frame", disable=not opts.progress, leave=False):
        faces = detect_scaled(models.faces, fr, opts.detect_max_side)
        boxes.append(faces[0].box if faces else None)
    n_frames = len(boxes)
    audio_s, video_s = len(audio) / SAMPLE_RATE, n_frames / FPS
    r: dict = {"audio": audio_src, "audio_s": audio_s, "video_s_25fps": video_s,
               "no_face_frames": sum(b is None for b in boxes), "no_face_share": (sum(b is None for b in boxes) / n_frames) if n_frames else None}
    if audio_s + 1e-6 < video_s:
        r["warning"] = f"audio ({audio_s:.2f} s) is shorter than the video ({video_s:.2f} s): only the first {audio_s:.2f} s are scored"
    nwin = n_windows_for(n_frames, len(audio))
    if nwin < 1:
        return {**r, "value": None, "reason": f"too short for SyncNet: {n_frames} frames at 25 fps and {audio_s:.2f} s of audio overlap in < 6 frames"}
    if all(b is None for b in boxes):
        return {**r, "value": None, "reason": "no face found in any frame"}
    s, cx, cy = smooth_track(boxes)
    crops = (crop_face(fr, s[k], cx[k], cy[k]) for k, _, fr in iter_frames(path, fps=FPS))
    with tqdm(total=nwin + 4, desc=f"{Path(path).name} sync", unit="frame", disable=not opts.progress, leave=False) as bar:
        fv = video_features(models.syncnet, crops, nwin, progress=bar)
    cc = mfcc(audio, SAMPLE_RATE).T
    fa = audio_features(models.syncnet, cc, nwin)
    m, dists = sync_metrics(fv, fa, VSHIFT)
    chunks = []
    per = max(1, int(round(opts.chunk_seconds * FPS)))
    for c0 in range(0, len(dists), per):
        sr = sync_from_dists(dists[c0 : c0 + per], VSHIFT)
        chunks.append({"start_s": c0 / FPS, "end_s": (c0 + per) / FPS, "lse_c": sr.lse_c, "lse_d": sr.lse_d, "offset": sr.offset, "n": int(min(per, len(dists) - c0))})
    return {**r, "value": m["lse_c"], "lse_c": m["lse_c"], "lse_d": m["lse_d"], "offset": m["offset"], "windows": m["windows"], "chunks": chunks}


# ------------------------------------------------------------------------------------------ a set


def list_videos(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"reference video folder not found: {folder}")
    vids = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXTS and p.is_file())
    if not vids:
        raise FileNotFoundError(f"no video files ({', '.join(VIDEO_EXTS)}) in {folder}")
    return vids


def summarize(videos: list[dict], metrics: tuple[str, ...]) -> dict:
    """Set scores: VBench metrics weighted by frame pairs; others the mean of the video values."""
    s: dict = {}
    for m in metrics:
        if m in SET_METRICS:
            continue
        rows = [v["metrics"].get(m) for v in videos if m in v["metrics"]]
        if m in ("subject", "background"):
            val = pair_weighted_mean([r["total"] for r in rows], [r["pairs"] for r in rows])
            s[m] = {"value": None if math.isnan(val) else val, "pairs": int(sum(r["pairs"] for r in rows)), "aggregation": "weighted by frame pairs (VBench)"}
        elif m == "sync":
            s[m] = {"lse_c": _mean_or_none([r.get("lse_c") for r in rows]), "lse_d": _mean_or_none([r.get("lse_d") for r in rows]),
                    "value": _mean_or_none([r.get("lse_c") for r in rows]), "videos": sum(r.get("lse_c") is not None for r in rows),
                    "aggregation": "mean over videos"}
        else:
            s[m] = {"value": _mean_or_none([r.get("value") for r in rows]), "videos": sum(r.get("value") is not None for r in rows),
                    "aggregation": "mean over videos"}
        if s[m]["value"] is None:
            s[m]["reason"] = "no video could be scored"
    return s


def evaluate(videos: list[str | Path], opts: EvalOptions, models: Models | None = None) -> dict:
    """Score every video with every requested metric; returns the metrics.json document."""
    import datetime
    import platform

    import torch
    from tqdm.auto import tqdm

    from .anchors_io import load_anchor_images
    from .video import read_image

    opts.validate()
    if not videos:
        raise ValueError("no video given")
    for v in videos:
        if not Path(v).is_file():
            raise FileNotFoundError(f"video not found: {v}")
    anchors = load_anchor_images(opts.anchors) if opts.anchors else None
    first = read_image(opts.first_frame) if opts.first_frame else None
    if opts.audio and not Path(opts.audio).is_file():
        raise FileNotFoundError(f"audio not found: {opts.audio}")
    refs = list_videos(opts.reference_videos) if set(SET_METRICS) & set(opts.metrics) else []
    models = models if models is not None else Models.load(opts)
    models.check(opts.metrics)
    fvd_gen = fvd_ref = None
    if "fvd" in opts.metrics:
        from .fvd import ClipFeatureStream

        fvd_gen, fvd_ref = ClipFeatureStream(models.i3d), ClipFeatureStream(models.i3d)
    fid_gen = fid_ref = None
    if "fid" in opts.metrics:
        from .fid import FrameFeatureStream

        fid_gen = FrameFeatureStream(models.inception, opts.fid_frame_step, opts.batch_size, opts.device)
        fid_ref = FrameFeatureStream(models.inception, opts.fid_frame_step, opts.batch_size, opts.device)
    results = []
    for v in tqdm(videos, desc="videos", unit="video", disable=not opts.progress or len(videos) < 2):
        results.append(evaluate_video(v, models, opts, anchors, first, fvd_gen, fid_gen))
    doc = {
        "gloria_eval_version": 1,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "options": {k: getattr(opts, k) for k in opts.__dataclass_fields__ if k != "progress"},
        "environment": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
        "backbones": models.info(),
        "videos": results,
        "summary": summarize(results, opts.metrics),
    }
    doc["options"]["metrics"] = list(opts.metrics)
    for r in refs:
        _feed_reference(r, opts, fvd_ref, fid_ref)
    if fvd_ref is not None:
        doc["summary"]["fvd"] = fvd_summary(fvd_gen.stats, fvd_ref.stats, len(refs))
    if fid_ref is not None:
        doc["summary"]["fid"] = fid_summary(fid_gen.stats, fid_ref.stats, len(refs), opts.fid_frame_step)
    return doc


def _feed_reference(path: Path, opts: EvalOptions, fvd_stream=None, fid_stream=None) -> None:
    """One decode of a reference video feeds both set metrics (FID alone decodes only every K-th frame)."""
    from .video import iter_batches

    stride = opts.fid_frame_step if fvd_stream is None else 1
    for b in iter_batches(path, batch_size=opts.batch_size, stride=stride):
        if fvd_stream is not None:
            fvd_stream.update(b.frames)
        if fid_stream is not None:
            fid_stream.update(b.frames, b.indices)
    for stream in (fvd_stream, fid_stream):
        if stream is not None:
            stream.end_video()


def fvd_summary(gen: GaussianStats, ref: GaussianStats, n_ref_videos: int) -> dict:
    from .fvd import fvd_from_stats

    r = {"generated_clips": gen.n, "reference_clips": ref.n, "reference_videos": n_ref_videos, "clip_len": 16}
    if gen.n < 2 or ref.n < 2:
        return {**r, "value": None, "reason": f"FVD needs >= 2 clips of 16 frames on each side (generated {gen.n}, reference {ref.n})"}
    return {**r, "value": fvd_from_stats(gen, ref)}


def fid_summary(gen: GaussianStats, ref: GaussianStats, n_ref_videos: int, frame_step: int) -> dict:
    from .fid import fid_from_stats

    r = {"generated_frames": gen.n, "reference_frames": ref.n, "reference_videos": n_ref_videos, "frame_step": frame_step}
    if gen.n < 2 or ref.n < 2:
        return {**r, "value": None, "reason": f"FID needs >= 2 frames on each side (generated {gen.n}, reference {ref.n})"}
    dim = len(gen.mu)
    if min(gen.n, ref.n) <= dim:
        r["warning"] = (f"fewer frames than feature dimensions ({min(gen.n, ref.n)} <= {dim}): the covariance is "
                        "singular and FID depends strongly on the sample size; compare runs only at equal frame counts")
    return {**r, "value": fid_from_stats(gen, ref)}


def default_out_dir(videos: list[str | Path]) -> Path:
    return Path(os.getcwd()) / "eval_out" if len(videos) != 1 else Path(videos[0]).with_suffix("").parent / (Path(videos[0]).stem + "_eval")
