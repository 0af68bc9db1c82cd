"""`gloria anchors extract VIDEO --out DIR`: one reference video -> an anchor set for `gloria generate --anchors`.

No training filters: the whole video is analysed, and the best frame per category is kept:
global = the sharpest of `global_anchor.num_candidates` random frames showing one person (full frame),
viewpoint = highest bin confidence x shoulder visibility per category (body crop),
expression = highest classifier probability per category, verified by the MLLM judge when enabled (head crop).
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from gloria.data.anchor_yaml import write_anchor_yaml
from gloria.data.config import DataConfig
from gloria.data.pipeline import analyze, get_models
from gloria.data.video import ProbeError, frame_at, probe, write_png
from gloria.models.anchors import EXPRESSIONS, VIEWPOINTS


def extract_anchor_set(video: str, out_dir: str, cfg: DataConfig, judge=None) -> list[dict]:
    """Write DIR/anchors.yaml and its PNGs; returns the entries. Raises FileNotFoundError / ValueError on bad input."""
    from gloria.data.backends.vision import clip_box

    if not Path(video).is_file():
        raise FileNotFoundError(f"video not found: {video}")
    try:
        info = probe(video)
    except ProbeError as err:
        raise ValueError(f"cannot read {video}: {err.detail}") from None
    cfg.expression.min_height = 0  # an artist's reference: use whatever resolution it has
    models = get_models(cfg)
    an = analyze(video, info, cfg, models, want_mouth=False)
    samples = an["samples"]
    if not samples:
        raise ValueError(f"{video}: no decodable frames")
    out = Path(out_dir)
    rng = random.Random(f"{cfg.seed}:{video}")
    one = [s for s in samples if s.num_people == 1] or samples
    cands = rng.sample(one, min(cfg.global_anchor.num_candidates, len(one)))
    g = max(cands, key=lambda s: s.blur)
    jobs = [("global", None, g.t, None, 1.0, "global.png")]
    best_v: dict[str, object] = {}
    for s in samples:
        if s.view is not None and s.num_people == 1 and (s.view[0] not in best_v or s.view[2] > best_v[s.view[0]].view[2]):
            best_v[s.view[0]] = s
    for cat in VIEWPOINTS:
        if cat in best_v:
            s = best_v[cat]
            jobs.append(("viewpoint", cat, s.t, s.body_box, s.view[2], f"view_{cat}.png"))
    best_e: dict[str, object] = {}
    for s in samples:
        if s.expr is not None and float(s.expr.max()) >= cfg.expression.min_score:
            lab = EXPRESSIONS[int(np.argmax(s.expr))]
            if lab not in best_e or s.expr.max() > best_e[lab].expr.max():
                best_e[lab] = s
    for cat in EXPRESSIONS:
        if cat in best_e:
            s = best_e[cat]
            x0, y0, x1, y1 = s.face_box
            m = cfg.expression.crop_margin
            box = (x0 - (x1 - x0) * m, y0 - (y1 - y0) * m * 1.3, x1 + (x1 - x0) * m, y1 + (y1 - y0) * m * 0.7)
            jobs.append(("expression", cat, s.t, box, float(s.expr.max()), f"expr_{cat}.png"))
    frames = frame_at(video, [j[2] for j in jobs])
    crops = []
    for typ, cat, t, box, score, name in jobs:
        img = frames[t]
        H, W = img.shape[:2]
        b = (0, 0, W, H) if box is None else clip_box(box, W, H)
        crops.append([typ, cat, t, img[b[1]:b[3], b[0]:b[2]], score, name])
    if judge is not None:
        ex = [c for c in crops if c[0] == "expression"]
        verdicts = judge.judge_many([(c[3], c[1]) for c in ex])
        kept: dict[str, list] = {}
        for c, v in zip(ex, verdicts):
            if v.label is None or (v.status == "error" and cfg.judge.on_error == "discard"):
                continue
            c = [c[0], v.label, c[2], c[3], c[4], f"expr_{v.label}.png"]
            if v.label not in kept or c[4] > kept[v.label][4]:
                kept[v.label] = c
        crops = [c for c in crops if c[0] != "expression"] + [kept[k] for k in EXPRESSIONS if k in kept]
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for typ, cat, t, crop, score, name in crops:
        write_png(out / name, np.ascontiguousarray(crop))
        entries.append({"image": name, "type": typ, "category": cat, "timestamp_s": t, "score": score})
    write_anchor_yaml(out / "anchors.yaml", entries)
    return entries
