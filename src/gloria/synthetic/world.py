"""Render a whole video (frames + audio + ground truth) and the true content anchors.

    from gloria.synthetic import Character, Scene, random_script, render_video, anchors
    ch, sc = Character.random(3), Scene.random(3)
    video = render_video(ch, sc, random_script(3, 60), fps=16, size=64, seed=3)
    video.frames  # uint8 [T, 64, 64, 3], T = round(60 * 16)
    video.audio   # float32 [960000] at 16 kHz mono
    video.gt      # per-frame yaw, viewpoint, expression, mouth, bbox, head_bbox, talking, x
    anchors(ch, sc, size=64, crop=32, state=video.initial_state)  # global + 4 views + 8 expressions
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from gloria.models.anchors import EXPRESSIONS, VIEWPOINTS

from .audio import SAMPLE_RATE, frame_means, synthesize
from .character import SIDE_CENTRE_DEG, Character, Scene
from .render import (
    State,
    body_viewport,
    draw_character,
    full_viewport,
    head_viewport,
    render_background,
    render_frame,
    viewpoint_of_yaw,
    wrap_yaw,
)
from .script import Script


def parse_size(size: int | tuple[int, int], what: str = "size") -> tuple[int, int]:
    """`64` or `(H, W)` -> (H, W); both must be positive multiples of 16."""
    hw = (int(size), int(size)) if np.isscalar(size) else tuple(int(v) for v in size)  # type: ignore[arg-type]
    if len(hw) != 2 or any(v <= 0 or v % 16 for v in hw):
        raise ValueError(f"{what} must be a positive multiple of 16 (or a pair of them), got {size!r}")
    return hw  # type: ignore[return-value]


def character_pitch(character: Character) -> float:
    """The character's voice pitch f0 (Hz, 110-240), fixed by its seed."""
    return float(110 + (character.seed * 7919 % 131))


@dataclass
class RenderedVideo:
    """frames: uint8 [T, H, W, 3]; audio: float32 [N] mono at `sample_rate`; gt: per-frame ground truth
    (`yaw` float32 deg in (-180, 180], `viewpoint` list[str], `expression` list[str], `mouth` float32
    in [0, 1], `bbox`/`head_bbox` int32 [T, 4] pixel x0, y0, x1, y1 (end-exclusive), `talking` bool (the frame's time window overlaps speech),
    `x` float32 feet centre in pixels)."""

    frames: np.ndarray
    audio: np.ndarray
    sample_rate: int
    fps: float
    gt: dict
    script: Script
    initial_state: State
    meta: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return len(self.frames) / self.fps


def states_for(script: Script, fps: float, n_frames: int, size: tuple[int, int], mouth: np.ndarray) -> list[State]:
    H, W = size
    st = script.states(np.arange(n_frames) / fps)
    names = [EXPRESSIONS[i] for i in st["expression"]]
    return [
        State(yaw=float(st["yaw"][i]), expression=names[i], mouth=float(mouth[i]),
              x=float(st["x_frac"][i]) * W / H, ground=script.ground + float(st["bob"][i]), height=script.height)
        for i in range(n_frames)
    ]


def render_video(character: Character, scene: Scene, script: Script, fps: float = 16.0,
                 seconds: float | None = None, size: int | tuple[int, int] = 64, seed: int = 0,
                 progress: bool = False) -> RenderedVideo:
    """Render `round(seconds * fps)` frames (seconds defaults to the script's) with audio and ground truth.

    seed: drives the syllables of the speech (the character's pitch comes from the character).
    """
    H, W = parse_size(size)
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    seconds = float(script.seconds if seconds is None else seconds)
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    n = int(round(seconds * fps))
    if n < 1:
        raise ValueError(f"seconds * fps must give at least one frame; got {seconds} * {fps}")
    audio, env = synthesize(script.talk_segments(), seconds, seed, f0=character_pitch(character))
    mouth = np.clip(frame_means(env, SAMPLE_RATE, fps, n), 0.0, 1.0)
    states = states_for(script, fps, n, (H, W), mouth)
    vp = full_viewport((H, W))
    bg = render_background(scene, vp, (H, W))
    frames = np.empty((n, H, W, 3), np.uint8)
    bbox = np.zeros((n, 4), np.int32)
    head = np.zeros((n, 4), np.int32)
    it = range(n)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="render", unit="frame")
    for i in it:
        frames[i] = bg
        info = draw_character(frames[i], character, states[i], vp)
        bbox[i], head[i] = info.bbox, info.head_bbox
    yaw = np.array([wrap_yaw(s.yaw) for s in states], np.float32)
    gt = {
        "yaw": yaw,
        "viewpoint": [str(v) for v in viewpoint_of_yaw(yaw)],
        "expression": [s.expression for s in states],
        "mouth": mouth.astype(np.float32),
        "bbox": bbox,
        "head_bbox": head,
        "talking": _talking(script, fps, n),
        "x": np.array([s.x * H for s in states], np.float32),
    }
    meta = {"fps": float(fps), "seconds": seconds, "n_frames": n, "size": [H, W], "seed": int(seed),
            "sample_rate": SAMPLE_RATE, "character_seed": character.seed, "scene_seed": scene.seed}
    return RenderedVideo(frames, audio, SAMPLE_RATE, float(fps), gt, script, states[0], meta)


def _talking(script: Script, fps: float, n: int) -> np.ndarray:
    """bool [n]: the frame's window [i/fps, (i+1)/fps) overlaps a talk segment."""
    t0 = np.arange(n) / fps
    out = np.zeros(n, bool)
    for a, b in script.talk_segments():
        out |= (t0 < b) & (t0 + 1 / fps > a)
    return out


def anchor_states(state: State) -> dict[str, State]:
    """The canonical state of each anchor, derived from the global anchor's state:
    view_<v>: yaw at the view's centre, neutral, mouth closed; expr_<e>: facing front, mouth closed."""
    out = {"global": state}
    for v in VIEWPOINTS:
        out[f"view_{v}"] = replace(state, yaw=SIDE_CENTRE_DEG[v], expression="neutral", mouth=0.0)
    for e in EXPRESSIONS:
        out[f"expr_{e}"] = replace(state, yaw=0.0, expression=e, mouth=0.0)
    return out


def anchors(character: Character, scene: Scene, size: int | tuple[int, int] = 64, crop: int = 32,
            state: State | None = None, view_crop: int | None = None) -> dict[str, np.ndarray]:
    """The true anchor images (uint8 HxWx3): "global" (the full frame at `state`, default the
    script's start: front, neutral, centred), "view_<front|back|left|right>" (view_crop x view_crop
    body crops; view_crop defaults to crop) and "expr_<expression>" (crop x crop head crops), rendered
    at crop resolution."""
    H, W = parse_size(size)
    for name, c in (("crop", crop), ("view_crop", view_crop)):
        if c is not None and not np.isscalar(c):
            raise ValueError(f"{name} must be one int (anchor crops are square), got {c!r}")
    ch, cw = parse_size(crop, "crop")
    vh, vw = parse_size(crop if view_crop is None else view_crop, "view_crop")
    if state is None:
        s = Script(seconds=1.0)
        state = State(x=s.init_x * W / H, ground=s.ground, height=s.height)
    out = {}
    for name, st in anchor_states(state).items():
        if name == "global":
            out[name] = render_frame(character, scene, st, (H, W))[0]
        elif name.startswith("view_"):
            out[name] = render_frame(character, scene, st, (vh, vw), viewport=body_viewport(st))[0]
        else:
            out[name] = render_frame(character, scene, st, (ch, cw), viewport=head_viewport(st))[0]
    return out
