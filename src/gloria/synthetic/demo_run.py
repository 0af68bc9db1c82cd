"""`gloria demo`: a held-out synthetic character generated for a minute by the shipped demo model, scored against truth.

    gloria demo [--out demo.mp4] [--seconds 60] [--steps 20] [--weights DIR]   (what `make demo` runs)

1. Renders a character the model never saw (`Character.random(HELD_OUT_SEED + k)`; training used seeds
   0..63), its scene, the turn-around script (front and talking, turns to show its back at T/3, turns back
   at 2T/3, happy at the end) with its synthetic speech, and its true anchors (1 global, 4 views, 8 expressions).
2. Generates `--seconds` of 64x64 video at 16 fps with `GloriaPipeline` and the shipped weights
   (`gloria/synthetic/demo_weights`): first frame + the script's captions as a prompt schedule (one
   caption per chunk) + audio + anchors. The back view can only come from the back anchor.
3. Writes the MP4 (H.264 + AAC) and prints metrics against the true render of the same script
   (`gloria.synthetic.metrics`): appearance per view, drift per 5 s, yaw / copy-paste, lip sync; beside
   them the VAE ceiling (the true video through the same VAE, scored the same way) and, unless
   `--no-compare`, a second run of the same character without anchors.
4. Writes `<out>.png` next to the MP4: truth, VAE ceiling, with anchors, without anchors, at the first
   frame, the front, the turn, the back, the turn back and the end.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

HELD_OUT_SEED = 1_000_000  # characters of `gloria synthetic dataset --seed 0` use seeds 0..(N-1)
# The demo model's world (its training data: `demo_model.DATASET_ARGS`): 64x64 medium shots at 16 fps,
# 64 px body (viewpoint) crops, 32 px head (expression) crops, 33-frame chunks (= its training clips).
SIZE, FPS, CHUNK_FRAMES, FRAMING, VIEW_CROP, EXPR_CROP = 64, 16, 33, "medium", 64, 32
ANCHOR_CHOICES = {"all": ("global", "view", "expr"), "global": ("global",), "view-expr": ("view", "expr"), "none": ()}


def character_world(k: int, seconds: float):
    """(character, scene, script, truth, anchor images) of held-out character `k`."""
    from gloria.synthetic import Character, Scene, anchors, render_video, turn_around_script

    ch, sc = Character.random(HELD_OUT_SEED + k), Scene.random(HELD_OUT_SEED + k)
    script = turn_around_script(seconds, framing=FRAMING)
    truth = render_video(ch, sc, script, fps=FPS, size=SIZE, seed=HELD_OUT_SEED + k)
    return ch, sc, script, truth, anchors(ch, sc, size=SIZE, crop=EXPR_CROP, state=truth.initial_state,
                                          view_crop=VIEW_CROP)


def anchor_set(images: dict, use: tuple[str, ...] = ("global", "view", "expr")):
    """`synthetic.anchors(...)` images -> an `AnchorSet` (types selected by name prefix)."""
    from PIL import Image

    from gloria.pipelines.anchor_set import AnchorSet

    s = AnchorSet()
    for name, img in images.items():
        if not name.startswith(use):
            continue
        if name == "global":
            s.add(Image.fromarray(img), "global")
        else:
            kind, cat = name.split("_", 1)
            s.add(Image.fromarray(img), "viewpoint" if kind == "view" else "expression", cat)
    return s


def prompt_schedule(script, num_frames: int) -> list[tuple[float, str]]:
    """One caption per chunk: `script.describe` of the chunk's time window (as training captions were made)."""
    from gloria.pipelines.chunking import plan_chunks

    out = []
    for c in plan_chunks(num_frames, CHUNK_FRAMES).chunks:
        t0 = c.first_video_frame / FPS
        out.append((t0, script.describe(t0, (c.first_video_frame + c.video_frames) / FPS)))
    return out


def demo_call(k: int, seconds: float, steps: int, guidance: float, seed: int,
              use: tuple[str, ...] = ("global", "view", "expr")) -> tuple[tuple, dict, dict]:
    """((character, scene, script, truth), the anchor images given, `GloriaPipeline` kwargs) of held-out character `k`."""
    from PIL import Image

    ch, sc, script, truth, images = character_world(k, seconds)
    n = truth.frames.shape[0]
    kwargs = dict(
        image=Image.fromarray(truth.frames[0]), prompt=prompt_schedule(script, n), negative_prompt="",
        audio=truth.audio, audio_sample_rate=truth.sample_rate, anchors=anchor_set(images, use) if use else None,
        first_frame_as_global="global" in use, num_frames=n, fps=FPS, height=SIZE, width=SIZE,
        num_inference_steps=steps, guidance_scale=guidance, seed=seed, chunk_frames=CHUNK_FRAMES,
        max_sequence_length=_text_len(), viewpoint_size=(VIEW_CROP, VIEW_CROP), expression_size=(EXPR_CROP, EXPR_CROP),
    )
    given = {name: images[name] for name in images if name.startswith(use)} if use else {}
    return (ch, sc, script, truth), given, kwargs


def sheet_frames(seconds: float) -> list[int]:
    """Frame indices of the contact sheet's columns (`sheet_times`)."""
    n = int(round(seconds * FPS))
    return [min(n - 1, int(round(t * FPS))) for _, t in sheet_times(seconds)]


class _Keep:
    """Keeps the frames at `indices` of a video that arrives window by window."""

    def __init__(self, indices):
        self.indices, self.frames, self.n = set(indices), {}, 0

    def __call__(self, frames):
        for j in self.indices:
            if self.n <= j < self.n + len(frames):
                self.frames[j] = frames[j - self.n].copy()
        self.n += len(frames)


def generate(pipe, k: int, seconds: float, out: str | None, steps: int, guidance: float, seed: int,
             use: tuple[str, ...] = ("global", "view", "expr"), progress: bool = True, keep: list[int] | None = None):
    """Generate character `k` for `seconds` and score it against the truth; returns the report dict
    (and, with `keep`, the generated frames at those indices: {index: [H, W, 3] uint8}).

    Frames are scored as each chunk is written (`TruthScorer`): nothing of the generated video is held."""
    from gloria.synthetic.metrics import TruthScorer, summarize

    (ch, sc, script, truth), given, kwargs = demo_call(k, seconds, steps, guidance, seed, use)
    scorer, kept = TruthScorer(truth, ch, sc, given), _Keep(keep or [])

    def on_chunk(p, i, info):
        scorer.add(info["frames"])
        kept(info["frames"])

    t0 = time.perf_counter()
    res = pipe(**kwargs, output_path=out, save_state=False, progress=progress, callback_on_chunk_end=on_chunk)
    gen_s = time.perf_counter() - t0
    scores = scorer.result()
    report = {"character": HELD_OUT_SEED + k, "seconds": res.seconds, "frames": res.num_frames, "chunks": res.num_chunks,
              "generate_s": round(gen_s, 1), "output": res.path, "summary": summarize(scores), "metrics": scores}
    return (report, kept.frames) if keep is not None else report


def vae_ceiling(pipe, k: int, seconds: float, use: tuple[str, ...] = ("global", "view", "expr"),
                keep: list[int] | None = None, detailed: bool = False):
    """The true video of character `k` through the pipeline's VAE (encode + streaming decode), scored like a model.

    No model whose video is decoded by this VAE can beat these numbers: they separate what the transformer
    loses from what the VAE loses. Streams window by window. Returns (summary, {index: frame} for `keep`)
    (+ the full metrics with `detailed`)."""
    from gloria.pipelines.video_io import vae_round_trip
    from gloria.synthetic.metrics import TruthScorer, summarize

    ch, sc, script, truth, images = character_world(k, seconds)
    given = {name: images[name] for name in images if name.startswith(use)} if use else {}
    scorer, kept = TruthScorer(truth, ch, sc, given), _Keep(keep or [])
    for frames in vae_round_trip(pipe.vae, truth.frames):
        scorer.add(frames)
        kept(frames)
    d = scorer.result()
    return (summarize(d), kept.frames, d) if detailed else (summarize(d), kept.frames)


def sheet_times(seconds: float) -> list[tuple[str, float]]:
    """(label, time s) of the turn-around script's telling moments (`turn_around_script`)."""
    T = float(seconds)
    return [("first frame", 0.0), ("front", T / 6), ("turning", T / 3 + 0.75), ("back", T / 2),
            ("turning back", 2 * T / 3 + 0.75), ("end (happy)", T - 0.5)]


def write_sheet(path: str | Path, seconds: float, rows: list[tuple[str, dict]], scale: int = 2) -> Path:
    """A contact sheet PNG: one labelled row per video ({frame index: [H, W, 3] uint8} at `sheet_frames`),
    columns at `sheet_times`.

    Written to a temporary name and renamed, so a crash never leaves a half-written picture."""
    import os

    import numpy as np
    from PIL import Image, ImageDraw

    cols = sheet_times(seconds)
    idx = sheet_frames(seconds)
    h, w = (d * scale for d in np.asarray(rows[0][1][idx[0]]).shape[:2])
    left, top, pad = 230, 22, 4
    sheet = Image.new("RGB", (left + len(cols) * (w + pad), top + len(rows) * (h + pad)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, (label, t) in enumerate(cols):
        draw.text((left + j * (w + pad) + 2, 4), f"{label} {t:.1f}s", fill="black")
    for i, (label, frames) in enumerate(rows):
        y = top + i * (h + pad)
        for line_no, line in enumerate(label.split("\n")):
            draw.text((6, y + 6 + 14 * line_no), line, fill="black")
        for j, i_frame in enumerate(idx):
            img = Image.fromarray(np.asarray(frames[i_frame])).resize((w, h), Image.NEAREST)
            sheet.paste(img, (left + j * (w + pad), y))
    path = Path(path)
    tmp = path.with_name(path.stem + ".part.png")
    sheet.save(tmp, optimize=True)
    os.replace(tmp, path)
    return path


def _text_len() -> int:
    from gloria.synthetic.demo_model import TEXT_LEN

    return TEXT_LEN


def check_run_args(args, suffix: str) -> Path:
    """The checks `gloria demo` and `gloria analyze attention` share: `--out` ends in `suffix` in an existing
    folder, `--seconds` >= 6. Returns `--out` as a Path."""
    out = Path(args.out)
    if out.suffix.lower() != suffix:
        raise ValueError(f"--out {out}: must end in {suffix}")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--out {out}: folder {out.parent} does not exist")
    if args.seconds < 6:
        raise ValueError(f"--seconds must be >= 6 (the turn-around script needs it), got {args.seconds}")
    return out


def run_demo(args) -> int:
    import torch

    from gloria.synthetic.demo_model import load_pipeline

    out = check_run_args(args, ".mp4")
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    pipe = load_pipeline(args.weights)
    use = ANCHOR_CHOICES[args.anchors]
    keep = sheet_frames(args.seconds)
    run = dict(k=args.character, seconds=args.seconds, steps=args.steps, guidance=args.guidance, seed=args.seed,
               progress=not args.no_progress, keep=keep)
    report, frames = generate(pipe, out=str(out), use=use, **run)
    report["anchors"] = args.anchors
    truth = character_world(args.character, args.seconds)[3].frames
    ceiling, ceiling_frames = vae_ceiling(pipe, args.character, args.seconds, use, keep)
    report["vae_ceiling"] = ceiling  # the true video through the VAE: what no model with this VAE can beat
    rows = [("truth", {i: truth[i] for i in keep}), ("VAE round trip (ceiling)\n" + _psnrs(ceiling), ceiling_frames),
            (f"Gloria, anchors: {args.anchors}\n" + _psnrs(report["summary"]), frames)]
    del truth
    if not args.no_compare and use:
        other, other_frames = generate(pipe, out=None, use=(), **run)
        report["without_anchors"] = other["summary"]
        report["generate_s_without_anchors"] = other["generate_s"]
        rows.append(("Gloria, no anchors\n" + _psnrs(other["summary"]), other_frames))
    report["sheet"] = str(write_sheet(out.with_suffix(".png"), args.seconds, rows))
    report["total_s"] = round(time.perf_counter() - t0, 1)
    if not args.full_metrics:
        report.pop("metrics")
    print(json.dumps(report, indent=2, default=float))
    return 0


def _psnrs(summary: dict) -> str:
    return f"char {summary['psnr_all']:.1f} dB, back {summary['psnr_back']:.1f} dB, views {summary['view_acc']:.2f}"


def register(sub) -> None:
    p = sub.add_parser("demo", help="generate a minute of a held-out synthetic character on the CPU, with metrics",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="demo.mp4", help="output MP4 (default demo.mp4)")
    p.add_argument("--seconds", type=float, default=60.0, help="video length in seconds (>= 6, default 60)")
    p.add_argument("--character", type=int, default=0, help="which held-out character (default 0)")
    p.add_argument("--steps", type=int, default=20, help="denoising steps per chunk (default 20)")
    p.add_argument("--guidance", type=float, default=3.5, help="classifier-free guidance scale (paper: 3.5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--anchors", choices=list(ANCHOR_CHOICES), default="all",
                   help="anchors given to the model (default all: 1 global, 4 views, 8 expressions); "
                        "compare with 'none' to see what they do")
    p.add_argument("--weights", default=None, help="demo model folder (default: the shipped weights)")
    p.add_argument("--no-compare", action="store_true",
                   help="skip the second run without anchors (the picture then has no 'no anchors' row)")
    p.add_argument("--full-metrics", action="store_true", help="print every metric, not only the summary")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_demo)
