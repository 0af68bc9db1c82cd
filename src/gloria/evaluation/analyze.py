"""`gloria analyze attention`: how much the video attends to each content anchor, per chunk and over time.

    gloria analyze attention [--weights DIR] [--character 1] [--seconds 30] [--out attention.png]

Generates a held-out character of the demo world (the turn-around script: front, the back from T/3, front
again from 2T/3) with `AnchorAttentionProbe` attached, and writes `attention.png` + `attention.json`:

* top: attention mass of the video queries on each anchor (mean over blocks, denoising steps and the
  frame's tokens) against video time, with the true yaw and the back-view span shaded — the paper's
  Fig. 9/10 question "does the model look at the back anchor when the back is shown?";
* middle: the same per chunk (mean over the chunk's new frames);
* bottom: blocks x token groups (mean over the whole video).

For another model, use `gloria.evaluation.attention.AnchorAttentionProbe` around any `GloriaPipeline` call.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np


def _nanmean(x, axis=None):
    """`np.nanmean` without the all-NaN warning (a chunk without a prefix has NaN there by design)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


def attention_over_time(records_per_chunk: list[list[dict]], chunk_starts: list[int], overlap: int,
                        temporal: int = 4) -> dict:
    """Per-chunk probe records -> per latent frame of the video (each frame from the chunk that made it final).

    Returns {"segments": names (anchors and prefix; "video" last), "latent_frame": [G], "mass": [G, n_seg],
    "per_chunk": [n_chunks, n_seg], "per_block": [blocks, n_seg]}; "prefix" is NaN where a chunk has none.
    """
    names: list[str] = []
    for recs in records_per_chunk:
        for r in recs:
            names += [s for s in r["segments"] if s not in names]
    order = [s for s in names if s != "video"] + ["video"]
    frames, rows, per_chunk, blocks = [], [], [], []
    for k, (recs, start) in enumerate(zip(records_per_chunk, chunk_starts)):
        if not recs:
            continue
        m = np.stack([_reorder(r, order) for r in recs])  # [steps, blocks, F, n_seg]
        per_frame = _nanmean(m, axis=(0, 1))  # [F, n_seg]
        first = 0 if k == 0 else overlap
        frames += list(range(start + first, start + per_frame.shape[0]))
        rows.append(per_frame[first:])
        per_chunk.append(_nanmean(per_frame[first:], axis=0))
        blocks.append(_nanmean(m, axis=(0, 2)))
    return {"segments": order, "latent_frame": frames, "mass": np.concatenate(rows),
            "per_chunk": np.stack(per_chunk), "per_block": _nanmean(np.stack(blocks), axis=0)}


def _reorder(record: dict, order: list[str]) -> np.ndarray:
    out = np.full(record["mass"].shape[:2] + (len(order),), np.nan, dtype=np.float64)
    for i, s in enumerate(record["segments"]):
        out[..., order.index(s)] = record["mass"][..., i]
    return out


def plot_attention(result: dict, fps: float, yaw_deg: np.ndarray | None, back_span_s: tuple[float, float] | None,
                   out: str | os.PathLike, title: str) -> Path:
    """The three panels described in the module docstring, as a PNG (written to a temp name, then renamed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = result["segments"]
    anchors = [i for i, s in enumerate(names) if s not in ("video", "prefix")]
    t = np.asarray(result["latent_frame"]) * 4 / fps
    fig, ax = plt.subplots(3, 1, figsize=(11, 11), gridspec_kw={"height_ratios": [3, 2, 2]})
    cmap = plt.get_cmap("tab20")
    for j, i in enumerate(anchors):
        lw = 2.6 if names[i] in ("viewpoint:back", "global") else 1.0
        ax[0].plot(t, result["mass"][:, i], label=names[i], color=cmap(j % 20), lw=lw)
    if back_span_s is not None:
        ax[0].axvspan(*back_span_s, color="0.85", zorder=0, label="true back view")
    ax[0].set_xlabel("video time (s)")
    ax[0].set_ylabel("attention mass of video queries")
    ax[0].legend(fontsize=7, ncol=4, loc="upper left")
    ax[0].set_title(title)
    if yaw_deg is not None:
        tw = ax[0].twinx()
        tw.plot(np.arange(len(yaw_deg)) / fps, yaw_deg, color="k", ls=":", lw=1)
        tw.set_ylabel("true yaw (deg, dotted)")
    pc = result["per_chunk"]
    for j, i in enumerate(anchors):
        ax[1].plot(np.arange(pc.shape[0]), pc[:, i], marker="o", ms=3, color=cmap(j % 20),
                   lw=2.6 if names[i] == "viewpoint:back" else 1.0)
    ax[1].set_xlabel("chunk")
    ax[1].set_ylabel("mass per chunk")
    im = ax[2].imshow(result["per_block"].T, aspect="auto", cmap="viridis")
    ax[2].set_yticks(range(len(names)), names, fontsize=7)
    ax[2].set_xlabel("block")
    fig.colorbar(im, ax=ax[2], label="attention mass")
    fig.tight_layout()
    out = Path(out)
    tmp = out.with_name(out.stem + ".part.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, out)
    return out


def run_attention(args) -> int:
    import torch

    from gloria.evaluation.attention import AnchorAttentionProbe
    from gloria.pipelines.chunking import plan_chunks
    from gloria.synthetic.demo_model import load_pipeline
    from gloria.synthetic.demo_run import ANCHOR_CHOICES, CHUNK_FRAMES, FPS, check_run_args, demo_call
    from gloria.synthetic.render import viewpoint_of_yaw

    out = check_run_args(args, ".png")
    torch.manual_seed(args.seed)
    pipe = load_pipeline(args.weights)
    (ch, sc, script, truth), _, kwargs = demo_call(args.character, args.seconds, args.steps, args.guidance, args.seed,
                                                   ANCHOR_CHOICES[args.anchors])
    plan = plan_chunks(kwargs["num_frames"], CHUNK_FRAMES)
    per_chunk: list[list[dict]] = []
    probe = AnchorAttentionProbe(pipe.transformer)
    with probe:
        def on_chunk(p, i, info):
            per_chunk.append(probe.records[:])
            probe.records.clear()

        pipe(**kwargs, output_path=None, save_state=False, progress=not args.no_progress, callback_on_chunk_end=on_chunk)
    res = attention_over_time(per_chunk, [c.start for c in plan.chunks], plan.overlap)
    yaw = np.asarray(truth.gt["yaw"], dtype=float)
    T = args.seconds
    is_back = np.asarray(viewpoint_of_yaw(yaw)) == "back"
    span = (np.flatnonzero(is_back)[[0, -1]] / FPS).tolist() if is_back.any() else None
    title = (f"held-out character {args.character}: attention to anchors (anchors: {args.anchors}, "
             f"{args.steps} steps)")
    plot_attention(res, FPS, yaw, span, out, title)
    names = res["segments"]
    t = np.asarray(res["latent_frame"]) * 4 / FPS
    frame = np.minimum(np.asarray(res["latent_frame"]) * 4, len(yaw) - 1)
    back = is_back[frame]
    summary = {n: {"mean": float(_nanmean(res["mass"][:, i])),
                   "while_back_shown": float(_nanmean(res["mass"][back, i])) if back.any() else None,
                   "while_front_shown": float(_nanmean(res["mass"][t < T / 3, i]))}
               for i, n in enumerate(names)}
    report = {"character": args.character, "seconds": T, "steps": args.steps, "anchors": args.anchors,
              "segments": names, "summary": summary, "latent_frame": res["latent_frame"],
              "mass": res["mass"].tolist(), "per_chunk": res["per_chunk"].tolist(),
              "per_block": res["per_block"].tolist(), "plot": str(out)}
    js = out.with_suffix(".json")
    tmp = js.with_name(js.name + ".part")
    tmp.write_text(json.dumps(report, indent=1, default=float))
    os.replace(tmp, js)
    print(json.dumps({"plot": str(out), "json": str(js), "summary": summary}, indent=2))
    return 0


def register(sub) -> None:
    p = sub.add_parser("analyze", help="diagnostics of a model (attention to the content anchors)",
                       description=__doc__.split("\n\n")[0])
    what = p.add_subparsers(dest="analysis", metavar="ANALYSIS")
    a = what.add_parser("attention", help="attention from video tokens to each anchor, per chunk and over time (PNG)",
                        description=__doc__)
    a.add_argument("--weights", default=None, help="demo model folder (default: the shipped weights)")
    a.add_argument("--character", type=int, default=1, help="held-out character (default 1; `gloria demo` shows 0)")
    a.add_argument("--seconds", type=float, default=30.0, help="video length (>= 6, default 30)")
    a.add_argument("--steps", type=int, default=10, help="denoising steps per chunk (default 10)")
    a.add_argument("--guidance", type=float, default=3.5)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--anchors", choices=["all", "global", "view-expr", "none"], default="all")
    a.add_argument("--out", default="attention.png", help="PNG (the JSON goes next to it)")
    a.add_argument("--no-progress", action="store_true")
    a.set_defaults(func=run_attention)
