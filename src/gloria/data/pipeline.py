"""Per-video processing (paper §3, §7.1): probe -> quality -> shots -> single person -> A/V sync -> clips -> anchors.

`process_video` is a pure function of (file bytes, config): it writes the clips and anchor images of
one input under `OUT/clips/<video_id>/` and `OUT/anchors/<video_id>/` and returns a `VideoResult`
(rows for the manifest tables + counters), also stored as `OUT/work/<video_id>.json`. A re-run with
the same content hash and config fingerprint returns the stored result (resume). Every failure is
a row in `failures`, never an exception out of this function.

Decoding happens once for analysis (shot detection on every frame, detectors on frames sampled at
`analysis_fps`, mouth opening on every frame for the sync check), then once per clip (re-encode to
exactly 5 s at 24 fps) and once per anchor frame (a seek).
"""
from __future__ import annotations

import json
import math
import os
import random
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gloria.data.config import DataConfig
from gloria.data.video import ProbeError, VideoInfo, content_hash, frame_at, iter_frames, probe, read_audio, write_clip, write_png
from gloria.models.anchors import EXPRESSIONS

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv")


@dataclass
class VideoResult:
    video_path: str
    video_id: str | None
    duration_s: float = 0.0
    clips: list[dict] = field(default_factory=list)
    anchors: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)  # kept/dropped counts, see summary
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage
    skipped: bool = False  # True when loaded from a previous run

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Sample:
    """Detector output on one analysis frame."""

    t: float
    blur: float
    brightness: float
    motion: float | None
    num_people: int
    face_box: tuple | None = None  # largest face
    body_box: tuple | None = None
    view: tuple | None = None  # (category, yaw_deg, confidence)
    expr: np.ndarray | None = None  # [8] probabilities


class Models:
    """Detectors loaded once per worker process (lazily, for what the config needs)."""

    def __init__(self, cfg: DataConfig, need_mouth: bool = True):
        from gloria.data.backends.vision import MediaPipeVision, OpenCVVision

        self.cfg = cfg
        if cfg.person.backend == "mediapipe" or cfg.viewpoint.enabled:
            self.mp = MediaPipeVision(cfg.person.min_face_score, pose=True, mesh=need_mouth and cfg.sync.enabled)
        else:
            self.mp = None
        self.cv = OpenCVVision(cfg.person.hog_min_weight) if cfg.person.backend == "opencv" else None
        self.expr = None
        if cfg.expression.enabled:
            from gloria.data.backends.expression import make_classifier

            self.expr = make_classifier(cfg.expression.backend, cfg.expression.emotiefflib_model)
        self.syncnet = None
        if cfg.sync.enabled and cfg.sync.backend == "syncnet":
            from gloria.data.backends.sync import SyncNet

            self.syncnet = SyncNet.from_file(cfg.sync.syncnet_weights)

    def close(self) -> None:
        if self.mp is not None:
            self.mp.close()


_MODELS: dict[str, Models] = {}


def get_models(cfg: DataConfig) -> Models:
    key = cfg.fingerprint()
    if key not in _MODELS:
        _MODELS.clear()
        _MODELS[key] = Models(cfg)
    return _MODELS[key]


# ---------------------------------------------------------------- analysis pass

def _make_detector(cfg: DataConfig):
    from scenedetect import AdaptiveDetector, ContentDetector

    if cfg.shots.detector == "adaptive":
        return AdaptiveDetector(adaptive_threshold=cfg.shots.threshold, min_scene_len=cfg.shots.min_scene_len_frames)
    return ContentDetector(threshold=cfg.shots.threshold, min_scene_len=cfg.shots.min_scene_len_frames)


def analysis_fps(cfg: DataConfig) -> float:
    rates = [cfg.quality.sample_fps, cfg.person.sample_fps]
    if cfg.viewpoint.enabled:
        rates.append(cfg.viewpoint.sample_fps)
    if cfg.expression.enabled:
        rates.append(cfg.expression.sample_fps)
    return max(rates)


def analyze(path: str, info: VideoInfo, cfg: DataConfig, models: Models, want_mouth: bool) -> dict[str, Any]:
    """One decode pass: frame times, shot cuts (frame indices), analysis samples, mouth opening per frame."""
    import cv2
    from scenedetect import FrameTimecode

    from gloria.data.backends.orientation import viewpoint_from_landmarks
    from gloria.data.backends.vision import clip_box

    det = _make_detector(cfg)
    fps = info.fps or 25.0
    step = 1.0 / analysis_fps(cfg)
    next_t = 0.0
    times: list[float] = []
    cuts: list[int] = []
    samples: list[Sample] = []
    mouth: list[float] = []
    prev_small = None
    dw = cfg.shots.downscale_width
    do_expr = models.expr is not None and info.height >= cfg.expression.min_height
    vc, ec = cfg.viewpoint, cfg.expression
    for i, (t, frame) in enumerate(iter_frames(path)):
        times.append(t)
        h = max(2, int(round(frame.height * dw / frame.width))) if frame.width > dw else frame.height
        small = frame.to_ndarray(format="bgr24", width=min(dw, frame.width), height=h)
        for c in det.process_frame(FrameTimecode(i, fps), small):
            cuts.append(c.frame_num)
        sampled = t + 1e-6 >= next_t
        if not sampled and not want_mouth:
            continue
        rgb = frame.to_ndarray(format="rgb24")
        if want_mouth:
            mouth.append(models.mp.mouth_opening(rgb))
        if not sampled:
            continue
        next_t += step * max(1, math.floor((t + 1e-6 - next_t) / step) + 1)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        tiny = cv2.resize(gray, (64, max(1, int(64 * gray.shape[0] / gray.shape[1]))), interpolation=cv2.INTER_AREA).astype(np.float32)
        motion = float(np.abs(tiny - prev_small).mean()) if prev_small is not None else None
        prev_small = tiny
        vis = models.cv if cfg.person.backend == "opencv" else models.mp
        obs = vis.observe(rgb)
        if vis is models.cv and models.mp is not None and vc.enabled:
            obs_pose = models.mp.observe(rgb)
            obs.pose, pose_bodies = obs_pose.pose, obs_pose.bodies
        else:
            pose_bodies = obs.bodies
        s = Sample(t, float(cv2.Laplacian(gray, cv2.CV_64F).var()), float(gray.mean()), motion, obs.num_people)
        H, W = rgb.shape[:2]
        if obs.faces:
            s.face_box = max(obs.faces, key=lambda f: (f[0][2] - f[0][0]) * (f[0][3] - f[0][1]))[0]
        if pose_bodies:
            s.body_box = pose_bodies[0][0]
        if vc.enabled and obs.pose is not None and obs.pose[[11, 12], 3].min() >= vc.min_visibility:
            try:
                cat, yaw, conf = viewpoint_from_landmarks(obs.pose, W, H, vc.front_max_deg, vc.back_min_deg)
                vis_pts = obs.pose[obs.pose[:, 3] > 0.3, :2] * np.array([W, H])
                s.body_box = clip_box((*vis_pts.min(0), *vis_pts.max(0)), W, H, vc.crop_margin)
                s.view = (cat, yaw, conf * float(obs.pose[[11, 12], 3].mean()))
            except ValueError:
                pass
        if do_expr and s.face_box is not None and obs.num_people == 1:
            x0, y0, x1, y1 = s.face_box
            if x1 - x0 >= 24 and y1 - y0 >= 24:
                s.expr = models.expr.predict([rgb[y0:y1, x0:x1]])[0]
        samples.append(s)
    return {"times": np.array(times), "cuts": sorted(set(cuts)), "samples": samples,
            "mouth": np.array(mouth) if want_mouth else None, "do_expr": do_expr}


# ---------------------------------------------------------------- helpers

def _fail(res: VideoResult, stage: str, reason: str, detail: str, shot: int | None = None) -> None:
    res.failures.append({"video_path": res.video_path, "video_id": res.video_id, "shot_index": shot,
                         "stage": stage, "reason": reason, "detail": detail})
    res.counters[f"dropped_{stage}_{reason}"] = res.counters.get(f"dropped_{stage}_{reason}", 0) + 1


def shots_from_cuts(times: np.ndarray, cuts: list[int], end_s: float) -> list[tuple[float, float, int, int]]:
    """[(start_s, end_s, first_frame, end_frame_exclusive)] from cut frame indices."""
    bounds = [0] + [c for c in cuts if 0 < c < len(times)] + [len(times)]
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b > a:
            out.append((float(times[a]), float(times[b]) if b < len(times) else end_s, a, b))
    return out


def clip_starts(shot_start: float, shot_end: float, seconds: float, max_clips: int = 0) -> list[float]:
    """Back-to-back clip starts inside a shot: floor((end - start) / seconds) clips (capped)."""
    n = int(math.floor((shot_end - shot_start) / seconds + 1e-6))
    if max_clips:
        n = min(n, max_clips)
    return [shot_start + k * seconds for k in range(n)]


def global_anchor_times(shot_start: float, shot_end: float, clips: list[tuple[float, float]], n: int,
                        rng: random.Random) -> list[float]:
    """n random times in the shot; when part of the shot lies outside every clip, at least one there (§7.1)."""
    span = shot_end - shot_start
    times = sorted(shot_start + rng.random() * span * 0.999 for _ in range(n))
    inside = lambda t: any(a <= t < b for a, b in clips)  # noqa: E731
    gaps = []
    edges = [shot_start] + [x for c in sorted(clips) for x in c] + [shot_end]
    for a, b in zip(edges[0::2], edges[1::2]):
        if b - a > 1e-3:
            gaps.append((a, b))
    if gaps and all(inside(t) for t in times):
        a, b = max(gaps, key=lambda g: g[1] - g[0])
        times[-1] = a + rng.random() * (b - a) * 0.999
    if clips and not any(inside(t) for t in times):
        a, b = clips[0]
        times[0] = a + rng.random() * (b - a) * 0.999
    return sorted(times)


def select_expression_candidates(samples: list[Sample], clips: list[tuple[float, float]], min_score: float,
                                 min_distinct: int) -> tuple[dict[str, Sample], int, int]:
    """Candidates from clips showing >= min_distinct distinct expressions; best sample per expression.

    Returns ({expression: best sample}, clips kept, clips dropped by the rule).
    """
    best: dict[str, tuple[float, Sample]] = {}
    kept = dropped = 0
    for a, b in clips:
        cands = [(EXPRESSIONS[int(np.argmax(s.expr))], float(np.max(s.expr)), s) for s in samples
                 if a <= s.t < b and s.expr is not None and float(np.max(s.expr)) >= min_score]
        if len({c[0] for c in cands}) < min_distinct:
            dropped += 1
            continue
        kept += 1
        for label, score, s in cands:
            if label not in best or score > best[label][0]:
                best[label] = (score, s)
    return {k: v[1] for k, v in best.items()}, kept, dropped


# ---------------------------------------------------------------- main entry

def result_path(out_dir: str | os.PathLike, video_id: str) -> Path:
    return Path(out_dir) / "work" / f"{video_id}.json"


def process_video(path: str, out_dir: str, cfg: DataConfig, judge=None) -> VideoResult:
    """Run every stage on one input; never raises for bad input (see module doc)."""
    t0 = time.perf_counter()
    res = VideoResult(video_path=str(path), video_id=None)
    try:
        if not Path(path).is_file():
            _fail(res, "probe", "missing", f"{path}: no such file")
            return res
        vid = content_hash(path)[:16]
        res.video_id = vid
        rp = result_path(out_dir, vid)
        if rp.is_file():
            try:
                stored = json.loads(rp.read_text())
                if stored.get("fingerprint") == cfg.fingerprint():
                    r = VideoResult(**stored["result"])
                    r.video_path, r.skipped = str(path), True
                    return r
            except (json.JSONDecodeError, TypeError, KeyError):
                pass  # a damaged record: redo the video
        _process(path, Path(out_dir), cfg, res, judge)
    except Exception as err:  # a bug or an unexpected decoder failure: record it, keep the run going
        _fail(res, "error", type(err).__name__, f"{path}: {err} | {traceback.format_exc(limit=3)[-600:]}")
        return res
    res.seconds["total"] = time.perf_counter() - t0
    if res.video_id:
        rp = result_path(out_dir, res.video_id)
        rp.parent.mkdir(parents=True, exist_ok=True)
        tmp = rp.with_name(f".{rp.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps({"fingerprint": cfg.fingerprint(), "result": res.to_json()}))
        os.replace(tmp, rp)
    return res


def _process(path: str, out: Path, cfg: DataConfig, res: VideoResult, judge) -> None:
    vid = res.video_id
    tick = time.perf_counter()
    try:
        info = probe(path)
    except ProbeError as err:
        _fail(res, "probe", err.reason, err.detail)
        return
    res.duration_s = info.duration_s
    pc, qc = cfg.probe, cfg.quality
    if info.duration_s < pc.min_duration_s:
        return _fail(res, "probe", "too_short", f"duration {info.duration_s:.2f}s < {pc.min_duration_s}s")
    if info.width < pc.min_width or info.height < pc.min_height:
        return _fail(res, "probe", "too_small", f"{info.width}x{info.height} < {pc.min_width}x{pc.min_height}")
    if qc.require_audio and not info.has_audio:
        return _fail(res, "quality", "no_audio", "no audio stream")
    audio = None
    if info.has_audio:
        audio = read_audio(path, mono=False)
        mono = audio[0].mean(0)
        rms_db = 20 * math.log10(max(float(np.sqrt(np.mean(mono**2))) if mono.size else 0.0, 1e-10))
        if rms_db < qc.min_audio_rms_db:
            if qc.require_audio:
                return _fail(res, "quality", "silent_audio", f"audio RMS {rms_db:.1f} dBFS < {qc.min_audio_rms_db}")
            audio = None
    res.seconds["probe"] = time.perf_counter() - tick

    tick = time.perf_counter()
    models = get_models(cfg)
    want_mouth = bool(audio is not None and cfg.sync.enabled and models.mp is not None and models.mp.mesh is not None)
    an = analyze(path, info, cfg, models, want_mouth)
    res.seconds["analyze"] = time.perf_counter() - tick
    samples: list[Sample] = an["samples"]
    times: np.ndarray = an["times"]
    if len(times) == 0 or not samples:
        return _fail(res, "probe", "no_frames", "no decodable frames")
    end_s = max(info.duration_s, float(times[-1]) + 1.0 / (info.fps or 25.0))

    blur = float(np.median([s.blur for s in samples]))
    bright = float(np.median([s.brightness for s in samples]))
    motions = [s.motion for s in samples if s.motion is not None]
    motion = float(np.mean(motions)) if motions else 0.0
    if blur < qc.min_blur_var:
        return _fail(res, "quality", "blurry", f"Laplacian variance {blur:.1f} < {qc.min_blur_var}")
    if bright < qc.min_brightness:
        return _fail(res, "quality", "too_dark", f"mean luma {bright:.1f} < {qc.min_brightness}")
    if bright > qc.max_brightness:
        return _fail(res, "quality", "too_bright", f"mean luma {bright:.1f} > {qc.max_brightness}")
    if motion < qc.min_motion:
        return _fail(res, "quality", "static", f"mean frame difference {motion:.2f} < {qc.min_motion}")
    res.counters["videos_passed_quality"] = 1

    shots = shots_from_cuts(times, an["cuts"], end_s)
    res.counters["shots_detected"] = len(shots)
    fps = info.fps or 25.0
    rng = random.Random(f"{cfg.seed}:{vid}")
    anchor_jobs: list[dict] = []  # frames to extract after all shots are decided
    for si, (a, b, fa, fb) in enumerate(shots):
        svid = f"{vid}_s{si:03d}"
        if b - a < cfg.shots.min_shot_s:
            _fail(res, "shots", "short_shot", f"shot {si} [{a:.2f}, {b:.2f}) shorter than {cfg.shots.min_shot_s}s", si)
            continue
        ss = [s for s in samples if a <= s.t < b]
        if not ss:
            _fail(res, "person", "no_samples", f"shot {si}: no analysed frames", si)
            continue
        counts = np.array([s.num_people for s in ss])
        single, multi = float((counts == 1).mean()), float((counts >= 2).mean())
        if multi > cfg.person.max_multi_ratio:
            _fail(res, "person", "multi_person", f"shot {si}: {multi:.0%} of frames show >= 2 people", si)
            continue
        if single < cfg.person.min_single_ratio:
            _fail(res, "person", "no_person", f"shot {si}: one person in only {single:.0%} of frames", si)
            continue
        # audio-visual sync
        if cfg.sync.enabled:
            if audio is None:
                res.counters["sync_skipped_no_audio"] = res.counters.get("sync_skipped_no_audio", 0) + 1
                if not cfg.sync.skip_without_audio:
                    _fail(res, "sync", "no_audio", f"shot {si}: no audio to check", si)
                    continue
            else:
                offset, conf = _sync_shot(path, an, audio, fa, fb, a, fps, cfg, models)
                if abs(offset) > cfg.sync.keep_max_abs_offset or conf < cfg.sync.keep_min_confidence:
                    _fail(res, "sync", "desync", f"shot {si}: offset {offset} frames, confidence {conf:.3f}", si)
                    continue
                res.counters["sync_checked"] = res.counters.get("sync_checked", 0) + 1
        res.counters["shots_kept"] = res.counters.get("shots_kept", 0) + 1
        # clips
        tick = time.perf_counter()
        cc = cfg.clips
        nfr = int(round(cc.seconds * cc.fps))
        clip_iv = []
        for k, cs in enumerate(clip_starts(a, b, cc.seconds, cc.max_clips_per_shot)):
            cid = f"{svid}_c{k:03d}"
            rel = f"clips/{vid}/{cid}.mp4"
            w, h = write_clip(path, out / rel, cs, nfr, cc.fps, audio, cc.codec, cc.crf, cc.max_height)
            res.clips.append({"clip_id": cid, "source_video_id": svid, "start_s": cs, "end_s": cs + nfr / cc.fps,
                              "fps": cc.fps, "num_frames": nfr, "width": w, "height": h, "caption": "",
                              "video_path": rel, "has_audio": audio is not None, "audio_path": None, "shard": None})
            clip_iv.append((cs, cs + nfr / cc.fps))
        res.seconds["clips"] = res.seconds.get("clips", 0.0) + time.perf_counter() - tick
        # anchors: global
        for j, t in enumerate(global_anchor_times(a, b, clip_iv, cfg.global_anchor.num_candidates, rng)):
            anchor_jobs.append({"svid": svid, "type": "global", "category": "global", "t": t, "box": None,
                                "score": 1.0, "backend": "random", "name": f"global_{j:02d}"})
        # viewpoint: best sample per category
        if cfg.viewpoint.enabled:
            best: dict[str, Sample] = {}
            for s in ss:
                if s.view is not None and (s.view[0] not in best or s.view[2] > best[s.view[0]].view[2]):
                    best[s.view[0]] = s
            for cat, s in best.items():
                anchor_jobs.append({"svid": svid, "type": "viewpoint", "category": cat, "t": s.t, "box": s.body_box,
                                    "score": float(s.view[2]), "backend": f"{cfg.viewpoint.backend}-pose", "name": f"view_{cat}"})
        # expression
        if an["do_expr"]:
            cands, kept, dropped = select_expression_candidates(ss, clip_iv, cfg.expression.min_score, cfg.expression.min_distinct)
            res.counters["expression_clips_kept"] = res.counters.get("expression_clips_kept", 0) + kept
            res.counters["expression_clips_dropped_lt_min_distinct"] = res.counters.get("expression_clips_dropped_lt_min_distinct", 0) + dropped
            for cat, s in cands.items():
                x0, y0, x1, y1 = s.face_box
                mx, my = (x1 - x0) * cfg.expression.crop_margin, (y1 - y0) * cfg.expression.crop_margin
                box = (x0 - mx, y0 - my * 1.3, x1 + mx, y1 + my * 0.7)  # a head box: more room above the face
                anchor_jobs.append({"svid": svid, "type": "expression", "category": cat, "t": s.t, "box": box,
                                    "score": float(np.max(s.expr)), "backend": cfg.expression.backend, "name": f"expr_{cat}"})
        elif cfg.expression.enabled:
            res.counters["expression_skipped_low_res"] = res.counters.get("expression_skipped_low_res", 0) + 1
    tick = time.perf_counter()
    _extract_anchors(path, out, vid, info, anchor_jobs, cfg, judge, res)
    res.seconds["anchors"] = time.perf_counter() - tick
    res.counters["clips"] = len(res.clips)


def _sync_shot(path, an, audio, fa, fb, a, fps, cfg: DataConfig, models: Models) -> tuple[int, float]:
    from gloria.data.backends.sync import audio_envelope, envelope_sync

    x, sr = audio
    mono = x.mean(0)
    if cfg.sync.backend == "syncnet":
        return _syncnet_shot(path, a, (fb - fa) / fps, mono, sr, cfg, models)
    mouth = an["mouth"][fa:fb]
    env = audio_envelope(mono, sr, fps, a, fb - fa)
    offset, conf, _ = envelope_sync(mouth, env, cfg.sync.max_offset_frames)
    return offset, conf


def _syncnet_shot(path, start, dur, mono, sr, cfg, models) -> tuple[int, float]:  # pragma: no cover - needs user weights
    """SyncNet offset / confidence of one shot, on the evaluation metric's face track and crops (syncnet_python's
    smoothed whole-face box with margin), so the data filter's LSE-C means what `gloria eval`'s does. Two decoding
    passes (boxes, then crops) keep memory at one frame."""
    from gloria.data.backends.sync import syncnet_sync
    from gloria.evaluation.syncnet import crop_face, smooth_track

    boxes = []
    for _, frame in iter_frames(path, start, start + dur):
        obs = models.mp.observe(frame.to_ndarray(format="rgb24"))
        boxes.append(tuple(obs.faces[0][0]) if obs.faces else None)  # None: interpolated by smooth_track
    track = list(zip(*smooth_track(boxes)))
    crops = [crop_face(frame.to_ndarray(format="rgb24"), *track[i])[..., ::-1]  # BGR crop -> RGB for syncnet_sync
             for i, (_, frame) in enumerate(iter_frames(path, start, start + dur)) if i < len(track)]
    n16 = int(len(mono) * 16000 / sr)
    a16 = np.interp(np.arange(n16) * sr / 16000, np.arange(len(mono)), mono)
    seg = a16[int(start * 16000):int((start + dur) * 16000)]
    offset, conf, _ = syncnet_sync(models.syncnet, np.stack(crops), seg, cfg.sync.max_offset_frames)
    return offset, conf


def _extract_anchors(path, out: Path, vid: str, info: VideoInfo, jobs: list[dict], cfg: DataConfig, judge,
                     res: VideoResult) -> None:
    from gloria.data.backends.vision import clip_box

    if not jobs:
        return
    frames = frame_at(path, [j["t"] for j in jobs])
    crops = []
    for j in jobs:
        img = frames.get(j["t"])
        if img is None:
            _fail(res, "anchors", "frame_missing", f"no frame at {j['t']:.3f}s for {j['name']}")
            continue
        H, W = img.shape[:2]
        try:
            box = (0, 0, W, H) if j["box"] is None else clip_box(j["box"], W, H)
        except ValueError:
            continue
        crops.append((j, box, img[box[1]:box[3], box[0]:box[2]]))
    # MLLM judge on expression candidates (§7.1): confirm, correct or discard
    expr = [c for c in crops if c[0]["type"] == "expression"]
    if judge is not None and expr:
        verdicts = judge.judge_many([(crop, j["category"]) for j, _, crop in expr])
        keep = {}
        for (j, box, crop), v in zip(expr, verdicts):
            key = f"judge_{v.status}"
            res.counters[key] = res.counters.get(key, 0) + 1
            if v.status == "error" and cfg.judge.on_error == "discard" or v.label is None:
                continue
            j = {**j, "category": v.label, "backend": j["backend"] + ("+judge" if v.status != "error" else "")}
            k = (j["svid"], v.label)
            if k not in keep or j["score"] > keep[k][0]["score"]:
                keep[k] = (j, box, crop)
        crops = [c for c in crops if c[0]["type"] != "expression"] + list(keep.values())
    for j, box, crop in crops:
        name = f"{j['name'].split('_')[0]}_{j['category']}" if j["type"] != "global" else j["name"]
        aid = f"{j['svid']}_{name}"
        rel = f"anchors/{vid}/{j['svid']}/{name}.png"
        write_png(out / rel, np.ascontiguousarray(crop))
        res.anchors.append({"anchor_id": aid, "source_video_id": j["svid"], "type": j["type"], "category": j["category"],
                            "timestamp_s": float(j["t"]), "x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3],
                            "image_path": rel, "score": float(min(1.0, max(0.0, j["score"]))), "backend": j["backend"]})
    cnt = Counter(f"anchors_{a['type']}_{a['category']}" for a in res.anchors)
    res.counters.update(cnt)
