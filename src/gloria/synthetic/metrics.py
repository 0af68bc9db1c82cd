"""Score a generated video of a synthetic character against the exact ground truth of its script.

The renderer is deterministic, so `render_video(character, scene, script, fps, size, seed)` gives the
true frames and ground truth (`RenderedVideo.gt`) of the video a model was asked to generate. This is
how the small-scale reproduction of the paper's Table 4 (content anchors for long character videos)
is judged. Everything is computed on the first T frames (T = len(frames) <= len(truth.frames));
"bbox" is the character's GT box `truth.gt["bbox"]` (pixels x0, y0, x1, y1, end-exclusive); frames
where the character is not visible (empty bbox) are left out of every per-frame statistic.

- **PSNR** (dB) of one frame over a pixel set: 10 log10(255^2 / MSE), MSE over those pixels and the
  3 channels; identical pixels give the cap `PSNR_CAP_DB` = 100 dB (never inf, so the dict stays JSON).
  Averages are means of per-frame PSNRs.
- **appearance**: per GT viewpoint class (front/back/left/right, `viewpoint_of_yaw(gt yaw)`) and
  "overall": `psnr_db` = mean per-frame PSNR inside the bbox; `hist_dist` = mean per-frame
  total-variation distance (half the L1 distance, in [0, 1]; 0 = same colours) between the normalised
  8x8x8-bin RGB histograms of the generated and the true pixels inside the bbox; `n_frames`.
  The back view (never shown in the first frame) is the one content anchors are for.
- **drift**: consecutive windows of `chunk_seconds` (the last may be shorter): `t_start_s` and the mean
  per-frame PSNR (dB) of the whole frame (`psnr_frame_db`), of the background outside the bbox
  (`psnr_background_db`) and of the character inside it (`psnr_character_db`); `slope_db_per_min`:
  least-squares slope of each list against the window centres (dB per minute; None for < 2 windows).
- **yaw**: each frame's yaw is estimated by rendering the SAME character at the frame's GT state
  except yaw (mouth rounded to 0.1) on the true background at candidate yaws on a 10-degree grid
  (-170..180) and taking the candidate nearest in L2 over the bbox (searched coarse-to-fine: every
  30 degrees, then +-10 and +-20 around the best), refined by a V-shaped (equiangular) fit through
  the best grid point and its neighbours. `mae_deg` = mean |wrap(estimate - GT yaw)| (degrees),
  `view_acc` = fraction of frames whose estimated viewpoint class equals the GT class;
  `estimated_deg` = the per-frame estimates (None where not visible).
- **copy_paste**: `value` = fraction of frames where the GT viewpoint class differs from the estimated
  class AND the estimated class is the class of an anchor the model was given (`anchor_classes`:
  view_<v> -> v, global -> the class of GT frame 0, expr_* -> front; with no `anchor_images`, all
  four views + global, so the value is 1 - view_acc). `pose_stuck` = fraction of frames where the GT
  yaw is more than 45 degrees from GT frame 0's but the estimated yaw is within 20 degrees of frame
  0's estimate; `turned_frac` = fraction of frames where the GT yaw is > 45 degrees from frame 0's
  (so pose_stuck / turned_frac is the stuck share of the frames that should have turned).
  `first_view` (summary key `copy_first`): among the visible frames whose GT viewpoint class differs
  from GT frame 0's, the share whose estimated class is frame 0's class — the model copies the first
  frame (= the global anchor) instead of turning. Unlike `value` it does not depend on which anchors a
  variant was given, so it compares across ablations (None when the truth never leaves frame 0's view).
- **lip_sync** (frames with |GT yaw| < 45 and a visible head): the mouth-opening estimate of a frame
  is the mean of two fractions of a mouth window's pixels (window: 0.25..0.9 head radii below the
  GT head-box centre, +-0.45 cos(yaw) radii around where the GT yaw puts the mouth): pixels of the
  renderer's dark mouth interior (`MOUTH_DARK`), and pixels of the interior or the character's lips
  (each colour times a shading 0.6..1.05, within `DARK_TOL` RGB units). Estimate, gt mouth and audio
  RMS then have each GT expression's mean removed (surprise/fear/... open the mouth without sound).
  `corr_mouth` / `corr_audio_rms` = Pearson correlation of the estimate with `gt["mouth"]` / with
  the per-frame audio RMS (`frame_rms`) (None when constant); `mae_affine` = mean absolute error
  (mouth-opening units, [0, 1]) of the least-squares fit gt mouth ~ a * estimate + b(expression);
  `corr_mouth_truth` = `corr_mouth` of the true frames: the ceiling at this resolution (at 64x64 the
  mouth is ~5x2 px and truth reaches 0.8-0.98; at 96x96 0.92-0.99); `n_frames`.

    from gloria.synthetic import render_video, anchors
    from gloria.synthetic.metrics import score_against_truth, summarize
    truth = render_video(ch, sc, script, fps=16, size=64, seed=s)
    d = score_against_truth(generated_uint8_THW3, truth, ch, sc, anchors(ch, sc, 64, 32, truth.initial_state))
    summarize(d)  # flat headline numbers for tables
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from gloria.evaluation.formulas import finite_or_none
from gloria.models.anchors import VIEWPOINTS

from .audio import frame_rms
from .character import Character, Scene
from .render import full_viewport, render_background, render_frame, viewpoint_of_yaw, wrap_yaw
from .world import RenderedVideo, states_for

PSNR_CAP_DB = 100.0
HIST_BINS = 8  # per channel
YAW_GRID = np.arange(-170.0, 181.0, 10.0)  # 36 candidate yaws (deg)
COARSE_STEP = 3  # coarse pass: every 3rd grid yaw (30 deg)
YAW_BATCH = 128  # frames compared with one set of candidate renders at a time (bounds memory)
MOUTH_DARK = np.array((35.0, 12.0, 20.0))  # render._draw_face's mouth interior colour (before shading)
DARK_TOL = 20.0
MOUTH_LAT_ROWS = (0.25, 0.9)  # mouth window rows, head radii below the head centre
MOUTH_HALF_W = 0.45  # mouth window half-width, head radii
MOUTH_COS_LAT = math.cos(math.radians(34.0))  # the mouth's latitude on the head sphere is ~34 deg


# -- small helpers -------------------------------------------------------------------------------------
def psnr_db(mse: np.ndarray) -> np.ndarray:
    """PSNR (dB) of 8-bit images from their MSE; capped at PSNR_CAP_DB (identical -> cap); NaN stays NaN."""
    floor = 255.0**2 * 10 ** (-PSNR_CAP_DB / 10)
    # float64: in float32 the cap itself comes out 1 ulp off (100.0000076) with some numpy versions
    return 10 * np.log10(255.0**2 / np.maximum(np.asarray(mse, np.float64), floor))


def _box_masks(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """bool [T, H, W]: inside each end-exclusive box (x0, y0, x1, y1)."""
    ys, xs = np.arange(size[0])[None, :, None], np.arange(size[1])[None, None, :]
    b = boxes[:, :, None, None]
    return (xs >= b[:, 0]) & (xs < b[:, 2]) & (ys >= b[:, 1]) & (ys < b[:, 3])


def _masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-frame mean of `values` [T, H, W] over `mask` [T, H, W]; NaN where the mask is empty."""
    n = mask.sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (values * mask).sum((1, 2)) / n, np.nan)


def _histograms(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Normalised joint RGB histograms of the masked pixels: float [T, HIST_BINS**3] (zeros if empty)."""
    q = (frames.astype(np.int64) * HIST_BINS) // 256
    code = (q[..., 0] * HIST_BINS + q[..., 1]) * HIST_BINS + q[..., 2]
    nb = HIST_BINS**3
    code = code + nb * np.arange(len(frames))[:, None, None]
    h = np.bincount(code[mask], minlength=nb * len(frames)).reshape(len(frames), nb).astype(np.float64)
    return h / np.maximum(h.sum(1, keepdims=True), 1)


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _mean(x: np.ndarray) -> float | None:
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else None


def _slope_per_min(t_s: np.ndarray, y: np.ndarray) -> float | None:
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return None
    return round(float(np.polyfit(t_s[ok] / 60.0, y[ok], 1)[0]), 6) + 0.0  # + 0.0: no -0.0


# -- validation ----------------------------------------------------------------------------------------
def _check_inputs(frames, truth, character, scene, anchor_images, chunk_seconds) -> None:
    if not isinstance(truth, RenderedVideo):
        raise ValueError(f"truth must be a RenderedVideo, got {type(truth).__name__}")
    if not isinstance(character, Character):
        raise ValueError(f"character must be a Character, got {type(character).__name__}")
    if not isinstance(scene, Scene):
        raise ValueError(f"scene must be a Scene, got {type(scene).__name__}")
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise ValueError(f"frames must be a uint8 numpy array, got {getattr(frames, 'dtype', type(frames).__name__)}")
    if frames.ndim != 4 or frames.shape[1:] != truth.frames.shape[1:] or len(frames) < 1:
        raise ValueError(f"frames must have shape [T, {', '.join(map(str, truth.frames.shape[1:]))}] "
                         f"with T >= 1 (the truth's frame size), got {list(frames.shape)}")
    if len(frames) > len(truth.frames):
        raise ValueError(f"frames has {len(frames)} frames, more than the truth's {len(truth.frames)}")
    if not (isinstance(chunk_seconds, (int, float)) and chunk_seconds > 0):
        raise ValueError(f"chunk_seconds must be > 0, got {chunk_seconds!r}")
    if anchor_images is not None:
        if not isinstance(anchor_images, dict):
            raise ValueError(f"anchor_images must be a dict name -> image, got {type(anchor_images).__name__}")
        bad = [k for k in anchor_images
               if not (k == "global" or k in (f"view_{v}" for v in VIEWPOINTS) or str(k).startswith("expr_"))]
        if bad:
            raise ValueError(f"anchor_images has unknown keys {bad}; "
                             "expected global, view_<viewpoint>, expr_<expression>")


def anchor_classes(anchor_images: dict | None, first_class: str) -> list[str]:
    """Viewpoint classes a model could copy from its anchors (see the module docstring)."""
    keys = ["global"] + [f"view_{v}" for v in VIEWPOINTS] if anchor_images is None else list(anchor_images)
    cls = {first_class if k == "global" else "front" if k.startswith("expr_") else k[len("view_"):]
           for k in keys}
    return [v for v in VIEWPOINTS if v in cls]


# -- yaw estimation ------------------------------------------------------------------------------------
def estimate_yaw(frames: np.ndarray, truth: RenderedVideo, character: Character, scene: Scene,
                 start: int = 0) -> np.ndarray:
    """Estimated yaw (deg, wrapped) of each frame [T] (video frames start..start+T-1); NaN where the GT bbox is empty.

    Frames sharing a GT state except yaw (expression, mouth rounded to 0.1, position) share one set of
    candidate renders (up to YAW_BATCH frames at a time); the distances of a batch to the candidates
    are two matrix products (|g|^2 is left out: it is the same for every candidate of a frame).
    """
    T, H, W, _ = frames.shape
    end = start + T
    states = states_for(truth.script, truth.fps, end, (H, W), np.round(truth.gt["mouth"][:end] * 10) / 10)[start:]
    bg = render_background(scene, full_viewport((H, W)), (H, W))
    masks = _box_masks(truth.gt["bbox"][start:end], (H, W)).reshape(T, H * W)
    visible = masks.any(1)
    keys = [(s.expression, s.mouth, s.x, s.ground, s.height) for s in states]
    groups: dict[tuple, list[int]] = {}
    for i in np.flatnonzero(visible):
        groups.setdefault(keys[i], []).append(int(i))
    est = np.full(T, np.nan)
    n_grid = len(YAW_GRID)
    for idx in (v[i:i + YAW_BATCH] for v in groups.values() for i in range(0, len(v), YAW_BATCH)):
        base = states[idx[0]]
        g = frames[idx].reshape(len(idx), H * W, 3).astype(np.float64)
        m = masks[idx].astype(np.float64)
        gm = (g * m[..., None]).reshape(len(idx), -1)
        d = np.full((len(idx), n_grid), np.nan)

        def fill(cols: np.ndarray) -> None:  # distances to the grid yaws `cols` not computed yet
            cols = [int(c) for c in np.unique(cols % n_grid) if np.isnan(d[0, c])]
            if cols:
                C = np.stack([render_frame(character, scene, replace(base, yaw=float(YAW_GRID[c])), (H, W),
                                           background=bg)[0].reshape(H * W, 3) for c in cols]).astype(np.float64)
                d[:, cols] = m @ (C**2).sum(-1).T - 2 * gm @ C.reshape(len(cols), -1).T

        fill(np.arange(0, n_grid, COARSE_STEP))
        best = np.nanargmin(d, axis=1)
        fill((best[:, None] + np.array([-2, -1, 1, 2])[None]).ravel())
        k = np.nanargmin(d, axis=1)
        r = np.arange(len(idx))
        d0, dm, dp = d[r, k], d[r, (k - 1) % n_grid], d[r, (k + 1) % n_grid]
        with np.errstate(invalid="ignore", divide="ignore"):  # V-fit; 0 where a neighbour is missing
            off = np.nan_to_num(0.5 * (dm - dp) / (np.maximum(dm, dp) - d0))
        est[idx] = wrap_yaw(YAW_GRID[k] + 10.0 * np.clip(off, -0.5, 0.5))
    return est


# -- lip sync ------------------------------------------------------------------------------------------
def _colour_mask(frames: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """bool [T, H, W]: pixels equal to `colour` times a shading in 0.6..1.05, within DARK_TOL (RGB units)."""
    p = frames.astype(np.float32)
    c = np.asarray(colour, np.float32)
    s = np.clip(p @ c / float(c @ c), 0.6, 1.05)
    return np.linalg.norm(p - s[..., None] * c, axis=-1) < DARK_TOL


def mouth_opening(frames: np.ndarray, head_bbox: np.ndarray, yaw: np.ndarray, lips: tuple[int, int, int]) -> np.ndarray:
    """Pixel estimate of the mouth opening [T] (NaN where the head box is empty): the mean of the
    fraction of mouth-window pixels showing the dark interior and the fraction showing lips or interior.
    head_bbox: int [T, 4] px; yaw: GT yaw (deg) placing the window; lips: the character's lip colour."""
    T, H, W, _ = frames.shape
    hb = head_bbox.astype(np.float64)
    r = ((hb[:, 2] - hb[:, 0]) + (hb[:, 3] - hb[:, 1])) / 4  # head radius, px
    cx = (hb[:, 0] + hb[:, 2]) / 2 + r * MOUTH_COS_LAT * np.sin(np.radians(yaw))
    cy = (hb[:, 1] + hb[:, 3]) / 2
    rr = np.maximum(r, 1e-9)[:, None, None]
    dv = (np.arange(H)[None, :, None] + 0.5 - cy[:, None, None]) / rr
    du = (np.arange(W)[None, None, :] + 0.5 - cx[:, None, None]) / rr
    half_w = MOUTH_HALF_W * np.maximum(np.cos(np.radians(yaw)), 0.5)[:, None, None]  # the mouth narrows as it turns
    window = (dv >= MOUTH_LAT_ROWS[0]) & (dv <= MOUTH_LAT_ROWS[1]) & (np.abs(du) <= half_w)
    window &= (r > 0)[:, None, None]
    dark = _colour_mask(frames, MOUTH_DARK)
    return (_masked_mean(dark, window) + _masked_mean(dark | _colour_mask(frames, np.array(lips)), window)) / 2


def _mouth_window(frames: np.ndarray, true: np.ndarray, truth: RenderedVideo, character: Character,
                  start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lip-sync inputs of video frames start..start+T-1: (front frame indices, estimate, estimate of the truth)."""
    end = start + len(frames)
    yaw = truth.gt["yaw"][start:end].astype(np.float64)
    local = np.flatnonzero((np.abs(yaw) < 45) & truth.gt["head_bbox"][start:end].any(1))
    hb = truth.gt["head_bbox"][start:end][local]
    est, est_true = (mouth_opening(f[local], hb, yaw[local], character.lips) for f in (frames, true))
    return local + start, est, est_true


def _lip_sync_stats(front: np.ndarray, est: np.ndarray, est_true: np.ndarray, truth: RenderedVideo) -> dict:
    ok = np.isfinite(est)  # the window is empty only for a head of a pixel or two
    front, est, est_true = front[ok], est[ok], est_true[ok]
    rms = frame_rms(truth.audio, truth.sample_rate, truth.fps, len(truth.gt["yaw"]))[front]
    # Remove each GT expression's mean (expressions such as surprise open the mouth without sound).
    group = np.unique(np.asarray(truth.gt["expression"])[front], return_inverse=True)[1]
    e, e_true, m, a = (_centre(np.asarray(x, np.float64), group)
                       for x in (est, est_true, truth.gt["mouth"][front], rms))
    mae = None
    if len(e) >= 2:
        slope = float(e @ m / (e @ e)) if e @ e > 0 else 0.0
        mae = float(np.abs(m - slope * e).mean())
    return {"corr_mouth": _pearson(e, m), "corr_audio_rms": _pearson(e, a), "mae_affine": mae,
            "corr_mouth_truth": _pearson(e_true, m), "n_frames": len(front)}


def _centre(x: np.ndarray, group: np.ndarray) -> np.ndarray:
    """x minus the mean of its group (group: int labels 0..G-1 of the same length)."""
    return x - (np.bincount(group, x) / np.maximum(np.bincount(group), 1))[group]


# -- the score -----------------------------------------------------------------------------------------
SCORE_WINDOW = 256  # frames scored at a time: the scorer's working memory is bounded by this, not by T


class TruthScorer:
    """Scores a generated video against `truth` as its frames arrive (`add`), window by window.

    Only per-frame numbers are kept between windows (a few floats per frame), so memory does not grow
    with the video beyond them: `gloria demo` feeds each chunk's frames as the pipeline writes them.
    `result()` gives exactly `score_against_truth` of the concatenated frames (definitions: module docstring).
    `truth_frames(a, b)` -> the true frames a..b-1 (default: slices of `truth.frames`).
    """

    def __init__(self, truth: RenderedVideo, character: Character, scene: Scene,
                 anchor_images: dict[str, np.ndarray] | None = None, chunk_seconds: float = 5.0,
                 truth_frames=None):
        _check_inputs(truth.frames[:1], truth, character, scene, anchor_images, chunk_seconds)
        H, W = truth.frames.shape[1:3]
        first = states_for(truth.script, truth.fps, 1, (H, W), truth.gt["mouth"][:1])[0]
        if not np.array_equal(render_frame(character, scene, first, (H, W))[0], truth.frames[0]):
            raise ValueError("truth was not rendered from this character and scene (frame 0 differs)")
        self.truth, self.character, self.scene = truth, character, scene
        self.anchor_images, self.chunk_seconds = anchor_images, float(chunk_seconds)
        self.truth_frames = truth_frames or (lambda a, b: truth.frames[a:b])
        self.n = 0
        self._per: dict[str, list[np.ndarray]] = {k: [] for k in (
            "psnr_char", "psnr_bg", "psnr_frame", "hist", "est", "front", "mouth", "mouth_true", "visible")}

    def add(self, frames: np.ndarray) -> None:
        """Score the next frames `[t, H, W, 3]` uint8 (any t; split internally into `SCORE_WINDOW`s)."""
        total = len(self.truth.gt["yaw"])
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 \
                or frames.shape[1:] != self.truth.frames.shape[1:]:
            raise ValueError(f"frames must be uint8 [t, {', '.join(map(str, self.truth.frames.shape[1:]))}], got "
                             f"{getattr(frames, 'dtype', type(frames).__name__)} {list(getattr(frames, 'shape', []))}")
        if self.n + len(frames) > total:
            raise ValueError(f"frames has {self.n + len(frames)} frames, more than the truth's {total}")
        for a in range(0, len(frames), SCORE_WINDOW):
            self._add_window(frames[a: a + SCORE_WINDOW])

    def _add_window(self, frames: np.ndarray) -> None:
        a = self.n
        b = a + len(frames)
        H, W = frames.shape[1:3]
        true = self.truth_frames(a, b)
        inside = _box_masks(self.truth.gt["bbox"][a:b], (H, W))
        se = ((frames.astype(np.float32) - true.astype(np.float32)) ** 2).mean(-1)  # [t, H, W]
        hist = 0.5 * np.abs(_histograms(frames, inside) - _histograms(true, inside)).sum(1)
        hist[~inside.any((1, 2))] = np.nan
        front, mouth, mouth_true = _mouth_window(frames, true, self.truth, self.character, a)
        for k, v in (("psnr_char", psnr_db(_masked_mean(se, inside))), ("psnr_bg", psnr_db(_masked_mean(se, ~inside))),
                     ("psnr_frame", psnr_db(se.mean((1, 2)))), ("hist", hist),
                     ("est", estimate_yaw(frames, self.truth, self.character, self.scene, start=a)),
                     ("front", front), ("mouth", mouth), ("mouth_true", mouth_true), ("visible", inside.any((1, 2)))):
            self._per[k].append(v)
        self.n = b

    def result(self) -> dict:
        if self.n == 0:
            raise ValueError("no frames were scored")
        truth, T = self.truth, self.n
        H, W = truth.frames.shape[1:3]
        per = {k: np.concatenate(v) for k, v in self._per.items()}
        psnr_char, psnr_bg, psnr_frame, hist, est = (per[k] for k in ("psnr_char", "psnr_bg", "psnr_frame", "hist", "est"))
        gt_yaw = truth.gt["yaw"][:T].astype(np.float64)
        gt_view = np.asarray(truth.gt["viewpoint"][:T])
        visible = per["visible"]
        appearance = {}
        for name, sel in [(v, gt_view == v) for v in VIEWPOINTS] + [("overall", np.ones(T, bool))]:
            sel = sel & visible
            appearance[name] = {"psnr_db": _mean(psnr_char[sel]), "hist_dist": _mean(hist[sel]),
                                "n_frames": int(sel.sum())}

        n_chunk = max(1, int(round(self.chunk_seconds * truth.fps)))
        starts = np.arange(0, T, n_chunk)
        centres = np.array([(s + min(s + n_chunk, T)) / 2 for s in starts]) / truth.fps
        windows = {k: [_mean(v[s:s + n_chunk]) for s in starts]
                   for k, v in (("frame", psnr_frame), ("background", psnr_bg), ("character", psnr_char))}
        drift = {"chunk_seconds": self.chunk_seconds, "t_start_s": [float(s / truth.fps) for s in starts],
                 **{f"psnr_{k}_db": v for k, v in windows.items()},
                 "slope_db_per_min": {k: _slope_per_min(centres, np.array(v, float)) for k, v in windows.items()}}

        est_view = np.where(visible, viewpoint_of_yaw(np.nan_to_num(est)), "")
        n_vis = max(int(visible.sum()), 1)
        err = np.abs(wrap_yaw(est - gt_yaw))
        classes = anchor_classes(self.anchor_images, str(gt_view[0]))
        copied = visible & (est_view != gt_view) & np.isin(est_view, classes)
        turned = np.abs(wrap_yaw(gt_yaw - gt_yaw[0])) > 45
        stuck = visible & turned & (np.abs(wrap_yaw(est - est[0])) <= 20)  # False everywhere if frame 0 is not visible
        other = visible & (gt_view != gt_view[0])  # frames that should show another view than the first frame
        first_view = float((other & (est_view == gt_view[0])).sum() / other.sum()) if other.any() else None
        return {
            "n_frames": T, "fps": float(truth.fps), "size": [H, W],
            "appearance": appearance,
            "drift": drift,
            "yaw": {"mae_deg": _mean(err[visible]), "view_acc": float((est_view == gt_view)[visible].sum() / n_vis),
                    "n_frames": int(visible.sum()), "estimated_deg": [finite_or_none(round(float(x), 2)) for x in est]},
            "copy_paste": {"value": float(copied.sum() / n_vis), "anchor_classes": classes, "pose_stuck":
                           float(stuck.sum() / n_vis), "turned_frac": float((turned & visible).sum() / n_vis),
                           "first_view": first_view},
            "lip_sync": _lip_sync_stats(per["front"], per["mouth"], per["mouth_true"], truth),
        }


def score_against_truth(frames: np.ndarray, truth: RenderedVideo, character: Character, scene: Scene,
                        anchor_images: dict[str, np.ndarray] | None = None, chunk_seconds: float = 5.0) -> dict:
    """Score generated `frames` (uint8 [T, H, W, 3], T <= len(truth.frames)) against `truth`, the true
    render of the same character/scene/script. Returns a JSON-able dict (definitions: module docstring)."""
    _check_inputs(frames, truth, character, scene, anchor_images, chunk_seconds)
    scorer = TruthScorer(truth, character, scene, anchor_images, chunk_seconds)
    scorer.add(frames)
    return scorer.result()


def summarize(d: dict) -> dict:
    """Flat headline numbers of a `score_against_truth` result (for tables)."""
    app, slope = d["appearance"], d["drift"]["slope_db_per_min"]
    return {
        "psnr_back": app["back"]["psnr_db"], "psnr_all": app["overall"]["psnr_db"],
        "hist_back": app["back"]["hist_dist"], "hist_all": app["overall"]["hist_dist"],
        "drift_frame_db_per_min": slope["frame"], "drift_bg_db_per_min": slope["background"],
        "drift_char_db_per_min": slope["character"],
        "yaw_mae": d["yaw"]["mae_deg"], "view_acc": d["yaw"]["view_acc"],
        "copy_paste": d["copy_paste"]["value"], "pose_stuck": d["copy_paste"]["pose_stuck"],
        "copy_first": d["copy_paste"].get("first_view"),
        "lipsync_corr": d["lip_sync"]["corr_mouth"], "lipsync_corr_audio": d["lip_sync"]["corr_audio_rms"],
    }
