"""IQA / AES with Q-Align's `one-align` model (optional, heavy: a ~8B mPLUG-Owl2 model with remote code).

Reported scale: [1, 5] (`model.score(...)` of q-future/one-align, the scale of the paper's Tables 3
and 7). Frames are sampled at 1 fps (Q-Align's video protocol) and scored as one video
(`input_="video"`) per chunk. Loading uses transformers `AutoModelForCausalLM` with
`trust_remote_code=True` from a local directory or cached hub id given with `--qalign`; the
remote code targets older transformers releases and was NOT run in this environment (no weights).
"""
from __future__ import annotations

import numpy as np

TASKS = {"iqa": "quality", "aes": "aesthetics"}


def load_qalign(source: str | None, device: str = "cpu"):
    if not source:
        raise FileNotFoundError(
            "iqa/aes need Q-Align: pass --qalign DIR (a local copy of q-future/one-align, "
            "loaded with trust_remote_code=True; see docs/evaluation.md)"
        )
    try:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(source, trust_remote_code=True).to(device).eval()
    except Exception as err:
        raise FileNotFoundError(f"cannot load Q-Align from {source!r}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from err


def score_frames(model, frames: list[np.ndarray], metric: str) -> float:
    """Q-Align score in [1, 5] of frames (RGB uint8) sampled at 1 fps, as one video."""
    from PIL import Image

    if metric not in TASKS:
        raise ValueError(f"unknown Q-Align metric {metric!r}; expected one of {list(TASKS)}")
    if not frames:
        return float("nan")
    imgs = [Image.fromarray(f) for f in frames]
    out = model.score([imgs], task_=TASKS[metric], input_="video")
    return float(np.asarray(out.detach().cpu() if hasattr(out, "detach") else out, dtype=np.float64).reshape(-1)[0])
