"""Write `metrics.json` and a Markdown report (`report.md` + PNG drift plots) from an evaluation document."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

# column order and headers in the shape of the paper's Tables 1–3 (and 7 for FVD / FID)
COLUMNS = [
    ("subject", "Sub. ↑", "value"),
    ("background", "Back. ↑", "value"),
    ("identity", "Arcf. ↑", "value"),
    ("dino-i", "DINO-I ↑", "value"),
    ("clip-i", "CLIP-I ↑", "value"),
    ("exp", "Exp. ↑", "value"),
    ("iqa", "IQA ↑", "value"),
    ("aes", "AES ↑", "value"),
    ("sync", "Sync-C ↑", "lse_c"),
    ("sync", "Sync-D ↓", "lse_d"),
]
PLOT_KEYS = {"subject": "value", "background": "value", "identity": "value", "dino-i": "value", "clip-i": "value",
             "exp": "value", "iqa": "value", "aes": "value", "sync": "lse_c"}


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _clean(x):
    """NaN/inf -> None recursively (JSON has no NaN; a null value always comes with a reason)."""
    if isinstance(x, float):
        return None if (math.isnan(x) or math.isinf(x)) else x
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and getattr(x, "ndim", None) == 0:
        return _clean(x.item())
    return x


def write_json(doc: dict, path: Path) -> Path:
    _atomic_write(path, json.dumps(_clean(doc), indent=2, allow_nan=False, default=str).encode())
    return path


def _fmt(v, digits: int = 3) -> str:
    return "–" if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))


def video_label(doc: dict, i: int) -> str:
    """Short unique name of video i (its file stem, or parent/stem when stems clash)."""
    stems = [Path(v["path"]).stem for v in doc["videos"]]
    p = Path(doc["videos"][i]["path"])
    return f"{p.parent.name}/{p.stem}" if stems.count(p.stem) > 1 else p.stem


def plot_drift(doc: dict, out_dir: Path) -> list[tuple[str, str]]:
    """One PNG per per-chunk metric: value per chunk over time, one line per video. Returns (metric, file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    metrics = [m for m in doc["options"]["metrics"] if m in PLOT_KEYS]
    for m in metrics:
        key = PLOT_KEYS[m]
        fig, ax = plt.subplots(figsize=(7, 3.2))
        drawn = False
        for i, v in enumerate(doc["videos"]):
            chunks = v["metrics"].get(m, {}).get("chunks") or []
            xs = [(c["start_s"] + min(c["end_s"], max(v.get("duration_s") or c["end_s"], c["start_s"]))) / 2 for c in chunks]
            ys = [c.get(key) for c in chunks]
            ys = [math.nan if y is None else y for y in ys]
            if xs and any(not math.isnan(y) for y in ys):
                ax.plot(xs, ys, marker="o", ms=3, label=video_label(doc, i))
                drawn = True
        if not drawn:
            plt.close(fig)
            continue
        name = {"sync": "Sync-C (LSE-C)"}.get(m, m)
        ax.set_title(f"{name} per {doc['options']['chunk_seconds']:g} s chunk")
        ax.set_xlabel("time (s)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fname = f"drift_{m}.png"
        tmp = out_dir / f".{fname}.tmp.png"
        fig.savefig(tmp, dpi=110)
        plt.close(fig)
        os.replace(tmp, out_dir / fname)
        files.append((m, fname))
    return files


def markdown(doc: dict, plots: list[tuple[str, str]]) -> str:
    mets = doc["options"]["metrics"]
    cols = [c for c in COLUMNS if c[0] in mets]
    lines = ["# Evaluation report", "", f"Created {doc['created']}. Metrics: {', '.join(mets)}.", ""]
    if cols:
        lines += ["## Scores", "", "| video | " + " | ".join(c[1] for c in cols) + " |", "|---|" + "---:|" * len(cols)]
        for i, v in enumerate(doc["videos"]):
            cells = [_fmt((v["metrics"].get(m) or {}).get(k)) for m, _, k in cols]
            lines.append(f"| {video_label(doc, i)} | " + " | ".join(cells) + " |")
        if len(doc["videos"]) > 1:
            cells = [_fmt((doc["summary"].get(m) or {}).get(k)) for m, _, k in cols]
            lines.append("| **set** | " + " | ".join(cells) + " |")
        lines.append("")
    if "fvd" in doc["summary"]:
        f = doc["summary"]["fvd"]
        lines += [f"**FVD** ↓ (generated set vs {f['reference_videos']} reference videos, {f['generated_clips']} vs "
                  f"{f['reference_clips']} clips of 16 frames): {_fmt(f.get('value'), 2)}"
                  + (f" — {f['reason']}" if f.get("reason") else ""), ""]
    if "fid" in doc["summary"]:
        f = doc["summary"]["fid"]
        lines += [f"**FID** ↓ (generated set vs {f['reference_videos']} reference videos, {f['generated_frames']} vs "
                  f"{f['reference_frames']} frames, frame step {f['frame_step']}): {_fmt(f.get('value'), 2)}"
                  + (f" — {f['reason']}" if f.get("reason") else "") + (f" — warning: {f['warning']}" if f.get("warning") else ""), ""]
    notes = []
    for i, v in enumerate(doc["videos"]):
        for m, r in v["metrics"].items():
            if r.get("reason"):
                notes.append(f"- {video_label(doc, i)} / {m}: not computed — {r['reason']}")
            if r.get("warning"):
                notes.append(f"- {video_label(doc, i)} / {m}: {r['warning']}")
            if r.get("no_face_share"):
                notes.append(f"- {video_label(doc, i)} / {m}: no face in {r['no_face_share']:.1%} of frames (excluded from the mean)")
    if notes:
        lines += ["## Notes", ""] + list(dict.fromkeys(notes)) + [""]
    if plots:
        lines += ["## Drift over time", ""]
        for m, f in plots:
            lines += [f"![{m}]({f})", ""]
    lines += ["## Backbones", ""]
    for name, info in doc["backbones"].items():
        short = {k: v for k, v in info.items() if k in ("source", "class", "commit", "backbone", "weights", "sha256", "detector", "version", "transformers", "licence", "scale")}
        lines.append(f"- **{name}**: " + ", ".join(f"{k}={v}" for k, v in short.items()))
    lines += ["", "Every number, per chunk, is in `metrics.json`; definitions in docs/evaluation.md.", ""]
    return "\n".join(lines)


def write_report(doc: dict, out_dir: str | Path) -> dict[str, Path]:
    """metrics.json, report.md and drift_*.png under out_dir (created). Returns the written paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    j = write_json(doc, out / "metrics.json")
    clean = json.loads(j.read_text())
    plots = plot_drift(clean, out)
    md = out / "report.md"
    _atomic_write(md, markdown(clean, plots).encode())
    return {"json": j, "report": md, **{f"plot_{m}": out / f for m, f in plots}}
