"""Write rendered synthetic videos to disk, in the data pipeline's manifest layout plus exact ground truth.

    OUT/
      clips.parquet  anchors.parquet  failures.parquet  summary.json   (gloria.data.schema tables)
      videos/<vid>.mp4          the whole long video (H.264 + AAC 16 kHz mono), one "long shot"
      clips/<vid>_c<k>.mp4      consecutive training clips cut from it (exact frames, audio in sync)
      anchors/<vid>_<cat>_<k>.png   anchor frames taken from the video (anchors.parquet rows)
      anchor_sets/<vid>/anchors.yaml + global.png, view_*.png, expr_*.png   canonical true anchors
      gt/<vid>.npz              per-frame ground truth arrays + the float32 waveform
      gt/<vid>.json             metadata, script, character/scene parameters, per-frame lists

`<vid>` = `syn<seed>_c<character>_v<video>` is the clips' and anchors' `source_video_id`; times are on
that video's timeline. Anchors in anchors.parquet are rendered from the state of a real frame of the
video (timestamp = that frame's time, box = the crop in frame pixels, clipped to the frame), so a
trainer can split them into inside/outside a clip (Superset Content Anchoring). The canonical set in
anchor_sets/ is `world.anchors` (front/neutral/... at the video's first-frame position), the input
format of `gloria generate --anchors`.
"""
from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from gloria.models.anchors import EXPRESSIONS, VIEWPOINTS

from .character import SIDE_CENTRE_DEG, Character, Scene
from .render import body_viewport, head_viewport, render_frame
from .script import FRAMINGS, random_script, turn_around_script
from .world import RenderedVideo, anchors, parse_size, render_video, states_for


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: float, audio: np.ndarray | None = None,
              sample_rate: int = 16_000, crf: int = 18, preset: str = "veryfast") -> Path:
    """frames uint8 [T, H, W, 3] (H, W even) + optional mono float32 audio -> H.264/AAC MP4 (atomic); `crf` and
    `preset` are x264's."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    rate = Fraction(fps).limit_denominator(1001)
    T, H, W, _ = frames.shape
    try:
        with av.open(str(tmp), "w") as out:
            vs = out.add_stream("libx264", rate=rate)
            vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
            vs.options = {"crf": str(crf), "preset": preset}
            ast = out.add_stream("aac", rate=sample_rate, layout="mono") if audio is not None else None
            for i in range(T):
                f = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
                f.pts, f.time_base = i, 1 / rate
                for p in vs.encode(f):
                    out.mux(p)
            for p in vs.encode():
                out.mux(p)
            if ast is not None:
                a = np.ascontiguousarray(audio, dtype=np.float32)[None]
                for i in range(0, a.shape[1], 1024):
                    af = av.AudioFrame.from_ndarray(np.ascontiguousarray(a[:, i:i + 1024]), format="fltp", layout="mono")
                    af.sample_rate, af.pts, af.time_base = sample_rate, i, Fraction(1, sample_rate)
                    for p in ast.encode(af):
                        out.mux(p)
                for p in ast.encode():
                    out.mux(p)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _write_png(path: Path, rgb: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.png")
    Image.fromarray(rgb).save(tmp, format="PNG")
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_anchor_set(folder: str | os.PathLike, images: dict[str, np.ndarray]) -> Path:
    """PNG per anchor + anchors.yaml (the `gloria generate --anchors` format) in `folder`; returns the YAML path."""
    folder = Path(folder)
    entries = []
    for name, img in images.items():
        _write_png(folder / f"{name}.png", img)
        if name == "global":
            entries.append({"image": "global.png", "type": "global"})
        elif name.startswith("view_"):
            entries.append({"image": f"{name}.png", "type": "viewpoint", "category": name[5:]})
        else:
            entries.append({"image": f"{name}.png", "type": "expression", "category": name[5:]})
    try:
        from gloria.data.anchor_yaml import write_anchor_yaml
    except ImportError:  # pragma: no cover - the data package is part of this repo
        import yaml

        _write_text(folder / "anchors.yaml", yaml.safe_dump({"anchors": entries}, sort_keys=False, default_flow_style=None))
        return folder / "anchors.yaml"
    return write_anchor_yaml(folder / "anchors.yaml", entries)


def write_ground_truth(stem: str | os.PathLike, video: RenderedVideo, character: Character, scene: Scene) -> None:
    """`<stem>.npz` (arrays + waveform) and `<stem>.json` (meta, script, parameters, per-frame lists)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    gt = video.gt
    arrays = {
        "yaw": gt["yaw"], "mouth": gt["mouth"], "bbox": gt["bbox"], "head_bbox": gt["head_bbox"],
        "talking": gt["talking"], "x": gt["x"],
        "viewpoint": np.array([VIEWPOINTS.index(v) for v in gt["viewpoint"]], np.int8),
        "expression": np.array([EXPRESSIONS.index(e) for e in gt["expression"]], np.int8),
        "audio": video.audio,
    }
    tmp = stem.with_name(f".{stem.name}.tmp{os.getpid()}.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, stem.with_suffix(".npz"))
    doc = {
        **video.meta,
        "viewpoint_names": list(VIEWPOINTS), "expression_names": list(EXPRESSIONS),
        "yaw_convention": "degrees in (-180, 180]; 0 faces the camera, +90 faces image-right (right side visible)",
        "caption": video.script.describe(),
        "script": video.script.to_dict(),
        "character": character.to_dict(),
        "scene": scene.to_dict(),
        "frames": {
            "yaw": [round(float(y), 3) for y in gt["yaw"]],
            "viewpoint": gt["viewpoint"],
            "expression": gt["expression"],
            "mouth": [round(float(m), 4) for m in gt["mouth"]],
            "bbox": gt["bbox"].tolist(),
            "head_bbox": gt["head_bbox"].tolist(),
        },
    }
    _write_text(stem.with_suffix(".json"), json.dumps(doc))


def _pick(candidates: np.ndarray, k: int, rng: np.random.Generator) -> list[int]:
    """Up to k frame indices spread over the candidates (one random pick per equal-sized chunk)."""
    if len(candidates) == 0:
        return []
    chunks = np.array_split(candidates, min(k, len(candidates)))
    return sorted(int(c[rng.integers(len(c))]) for c in chunks if len(c))


def frame_anchor_rows(vid: str, video: RenderedVideo, character: Character, scene: Scene, out_dir: Path,
                      crop: int, per_category: int, rng: np.random.Generator, view_crop: int | None = None) -> list[dict]:
    """Anchors taken from frames of the video (rendered from each frame's exact state): PNGs + table rows.
    Head crops are `crop` px square, body crops `view_crop` (default `crop`)."""
    view_crop = crop if view_crop is None else view_crop
    H, W = video.frames.shape[1:3]
    n = len(video.frames)
    states = states_for(video.script, video.fps, n, (H, W), video.gt["mouth"])
    yaw = video.gt["yaw"]
    rows = []

    def add(kind: str, cat: str, i: int, img: np.ndarray, vp: tuple[float, float, float, float] | None) -> None:
        rel = f"anchors/{vid}_{cat}_{i:06d}.png"
        _write_png(out_dir / rel, img)
        if vp is None:
            box = (0, 0, W, H)
        else:
            x0, y0, w, h = (v * H for v in vp)
            box = (max(0, int(np.floor(x0))), max(0, int(np.floor(y0))),
                   min(W, int(np.ceil(x0 + w))), min(H, int(np.ceil(y0 + h))))
        rows.append({"anchor_id": f"{vid}_{cat}_{i:06d}", "source_video_id": vid, "type": kind, "category": cat,
                     "timestamp_s": i / video.fps, "x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3],
                     "image_path": rel, "score": 1.0, "backend": "synthetic-gt"})

    for i in sorted({0, *_pick(np.arange(1, n), per_category - 1, rng)} if per_category > 1 else {0}):
        add("global", "global", i, video.frames[i], None)
    for v in VIEWPOINTS:
        d = np.abs((yaw - SIDE_CENTRE_DEG[v] + 180) % 360 - 180)
        for i in _pick(np.flatnonzero(d < 25), per_category, rng):
            vp = body_viewport(states[i])
            add("viewpoint", v, i, render_frame(character, scene, states[i], (view_crop, view_crop), viewport=vp)[0], vp)
    expr = np.array(video.gt["expression"])
    for e in EXPRESSIONS:
        for i in _pick(np.flatnonzero((expr == e) & (np.abs(yaw) < 30)), per_category, rng):
            vp = head_viewport(states[i])
            add("expression", e, i, render_frame(character, scene, states[i], (crop, crop), viewport=vp)[0], vp)
    return rows


def write_video_bundle(out_dir: str | os.PathLike, vid: str, video: RenderedVideo, character: Character,
                       scene: Scene, crop: int = 32, view_crop: int | None = None) -> dict[str, Path]:
    """The long MP4, the ground truth and the canonical anchor set of one video (no manifest)."""
    out_dir = Path(out_dir)
    H, W = video.frames.shape[1:3]
    paths = {
        "video": write_mp4(out_dir / "videos" / f"{vid}.mp4", video.frames, video.fps, video.audio, video.sample_rate),
        "anchors_yaml": write_anchor_set(out_dir / "anchor_sets" / vid,
                                         anchors(character, scene, (H, W), crop, video.initial_state, view_crop)),
    }
    write_ground_truth(out_dir / "gt" / vid, video, character, scene)
    paths["gt_json"], paths["gt_npz"] = out_dir / "gt" / f"{vid}.json", out_dir / "gt" / f"{vid}.npz"
    return paths


def write_dataset(out_dir: str | os.PathLike, n_characters: int = 4, videos_per_character: int = 2,
                  seconds: float = 30.0, fps: float = 16.0, size: int | tuple[int, int] = 64, crop: int = 32,
                  clip_frames: int | None = None, seed: int = 0, anchors_per_category: int = 2,
                  script: str = "random", progress: bool = True, framing: str = "full",
                  view_crop: int | None = None) -> dict:
    """Render N characters x M videos (each in its own random scene) and write the layout above.

    clip_frames: frames per training clip (default round(5 s * fps)); clips are consecutive and
    non-overlapping, a shorter tail is dropped. script: "random" or "turn-around". framing: "full" or
    "medium" (`gloria.synthetic.script.FRAMINGS`). crop / view_crop: head / body anchor crop size (px).
    Characters are `Character.random(seed * 100003 + c)`, so disjoint seeds give held-out characters.
    Returns the summary dict (also written to summary.json).
    """
    import pandas as pd

    from gloria.data.schema import empty_frame, write_anchors, write_clips, write_table

    out_dir = Path(out_dir)
    H, W = parse_size(size)
    parse_size(crop, "crop")
    view_crop = crop if view_crop is None else view_crop
    parse_size(view_crop, "view_crop")
    if framing not in FRAMINGS:
        raise ValueError(f"framing must be one of {list(FRAMINGS)}, got {framing!r}")
    if n_characters < 1 or videos_per_character < 1:
        raise ValueError(f"need n_characters >= 1 and videos_per_character >= 1; got {n_characters}, {videos_per_character}")
    if script not in ("random", "turn-around"):
        raise ValueError(f"script must be 'random' or 'turn-around', got {script!r}")
    clip_frames = int(round(5.0 * fps)) if clip_frames is None else int(clip_frames)
    if clip_frames < 1:
        raise ValueError(f"clip_frames must be >= 1, got {clip_frames}")
    rng = np.random.default_rng([int(seed), 0xDA7A])
    clip_rows, anchor_rows = [], []
    jobs = [(c, v) for c in range(n_characters) for v in range(videos_per_character)]
    it = jobs
    if progress:
        from tqdm import tqdm

        it = tqdm(jobs, desc="synthetic videos", unit="video")
    for c, v in it:
        cseed = int(seed) * 100003 + c
        character = Character.random(cseed)
        vseed = cseed * 101 + v
        scene = Scene.random(vseed)
        sc = random_script(vseed, seconds, framing) if script == "random" else turn_around_script(seconds, framing=framing)
        video = render_video(character, scene, sc, fps=fps, size=(H, W), seed=vseed)
        vid = f"syn{seed}_c{c:04d}_v{v:02d}"
        write_video_bundle(out_dir, vid, video, character, scene, crop, view_crop)
        n = len(video.frames)
        for k in range(n // clip_frames):
            i0, i1 = k * clip_frames, (k + 1) * clip_frames
            rel = f"clips/{vid}_c{k}.mp4"
            a0, a1 = int(round(i0 / fps * video.sample_rate)), int(round(i1 / fps * video.sample_rate))
            write_mp4(out_dir / rel, video.frames[i0:i1], fps, video.audio[a0:a1], video.sample_rate)
            clip_rows.append({"clip_id": f"{vid}_c{k}", "source_video_id": vid, "start_s": i0 / fps, "end_s": i1 / fps,
                              "fps": float(fps), "num_frames": clip_frames, "width": W, "height": H,
                              "caption": sc.describe(i0 / fps, i1 / fps), "video_path": rel, "has_audio": True,
                              "audio_path": None, "shard": None})
        anchor_rows += frame_anchor_rows(vid, video, character, scene, out_dir, crop, anchors_per_category, rng, view_crop)
    write_clips(pd.DataFrame(clip_rows) if clip_rows else empty_frame("clips"), out_dir)
    write_anchors(pd.DataFrame(anchor_rows) if anchor_rows else empty_frame("anchors"), out_dir)
    write_table(empty_frame("failures"), out_dir / "failures.parquet", "failures")
    per_cat: dict[str, int] = {}
    for r in anchor_rows:
        per_cat[r["category"]] = per_cat.get(r["category"], 0) + 1
    summary = {"generator": "gloria.synthetic", "seed": int(seed), "characters": n_characters,
               "videos": len(jobs), "seconds": float(seconds), "fps": float(fps), "size": [H, W], "crop": crop,
               "view_crop": view_crop, "framing": framing,
               "clip_frames": clip_frames, "clips": len(clip_rows), "anchors": len(anchor_rows),
               "anchors_per_category": per_cat, "script": script}
    _write_text(out_dir / "summary.json", json.dumps(summary, indent=2))
    return summary


__all__ = ["write_dataset", "write_mp4", "write_anchor_set", "write_ground_truth", "write_video_bundle",
           "frame_anchor_rows"]
