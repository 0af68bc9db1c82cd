"""Vectorised numpy renderer of a `Character` in a `Scene` (resolution independent).

Coordinates: *frame units* have the frame height = 1, x to the right in [0, W/H], y down in [0, 1].
A *viewport* `(x0, y0, w, h)` in frame units is the part of the frame an output image shows: the full
frame is `(0, 0, W/H, 1)`; a body or head crop is a small square. Pixels sample the analytic
character and scene at their centres, so a crop rendered at 32x32 shows the same content as the same
region of a full frame (at a higher resolution), which is how the true anchor images are made.

Yaw convention (degrees, wrapped to (-180, 180]): 0 = facing the camera, +90 = facing image-right
(so the character's *right* side faces the camera: viewpoint "right"), -90 = facing image-left
(viewpoint "left"), 180 = back to the camera. This is `yaw = atan2(f_x, -f_z)` of the body's forward
vector f in OpenCV camera coordinates (x right, y down, z into the scene), as in the data pipeline.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gloria.models.anchors import VIEWPOINTS

from .character import (
    EXPRESSION_PARAMS,
    HEAD_CY,
    HEAD_R,
    LEG_HALF_W,
    LEG_SPREAD,
    SHOE_TOP,
    TORSO_BOTTOM,
    TORSO_TOP,
    Character,
    Scene,
)

Viewport = tuple[float, float, float, float]  # x0, y0, w, h in frame units


@dataclass(frozen=True)
class State:
    """What the character does in one frame.

    yaw: degrees (any real; wrapped when used); expression: a name from anchors.EXPRESSIONS;
    mouth: speech opening in [0, 1]; x: feet centre (frame units); ground: feet y (frame units);
    height: character height (frame units).
    """

    yaw: float = 0.0
    expression: str = "neutral"
    mouth: float = 0.0
    x: float = 0.5
    ground: float = 0.93
    height: float = 0.78


@dataclass(frozen=True)
class DrawInfo:
    """Where the character landed in the output image (pixel coordinates, end-exclusive boxes)."""

    mask: np.ndarray  # [H, W] bool, True on character pixels
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 of the whole character; (0, 0, 0, 0) if not visible
    head_bbox: tuple[int, int, int, int]


def wrap_yaw(yaw: np.ndarray | float) -> np.ndarray | float:
    """Wrap degrees to (-180, 180]."""
    w = -((-np.asarray(yaw, dtype=np.float64) + 180.0) % 360.0) + 180.0
    return float(w) if np.ndim(w) == 0 else w


def viewpoint_of_yaw(yaw: np.ndarray | float) -> np.ndarray | str:
    """Viewpoint class: front |yaw| < 45, back |yaw| > 135, right 45..135, left -135..-45 (degrees)."""
    w = np.asarray(wrap_yaw(yaw))
    idx = np.where(np.abs(w) < 45, 0, np.where(np.abs(w) > 135, 1, np.where(w > 0, 3, 2)))
    names = np.array(VIEWPOINTS)[idx]  # VIEWPOINTS = (front, back, left, right)
    return str(names) if names.ndim == 0 else names


def full_viewport(size: tuple[int, int]) -> Viewport:
    """Viewport of a whole frame of `size = (H, W)` pixels."""
    h, w = size
    return (0.0, 0.0, w / h, 1.0)


def body_viewport(state: State) -> Viewport:
    """Square body crop (viewpoint anchor): 1.1 x the height of the body's part inside the frame (rows
    0..1), centred on that part - the whole character in a full shot, head and torso in a medium shot
    (as a detector's body box of a frame would be)."""
    top, bottom = max(state.ground - state.height, 0.0), min(state.ground, 1.0)
    side = 1.1 * (bottom - top)
    return (state.x - side / 2, (top + bottom) / 2 - side / 2, side, side)


def head_viewport(state: State) -> Viewport:
    """Square head crop (expression anchor): 2.5 x the head radius, centred on the head."""
    s = state.height
    side = 2.5 * HEAD_R * s
    cy = state.ground - s + HEAD_CY * s
    return (state.x - side / 2, cy - side / 2, side, side)


def _pixel_centres(viewport: Viewport, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, vw, vh = viewport
    h, w = size
    xs = x0 + (np.arange(w, dtype=np.float32) + 0.5) * np.float32(vw / w)
    ys = y0 + (np.arange(h, dtype=np.float32) + 0.5) * np.float32(vh / h)
    return xs, ys


def render_background(scene: Scene, viewport: Viewport, size: tuple[int, int]) -> np.ndarray:
    """The scene alone: uint8 [H, W, 3]."""
    xs, ys = _pixel_centres(viewport, size)
    X, Y = xs[None, :], ys[:, None]
    t = np.clip(Y / scene.horizon, 0, 1)[..., None]
    wall = (1 - t) * np.array(scene.wall_top, np.float32) + t * np.array(scene.wall_bottom, np.float32)
    wall = np.broadcast_to(wall, (len(ys), len(xs), 3)).copy()
    # Bilinear value noise over x in [0, 2], y in [0, 1] (16 x 32 grid).
    gy = np.clip(Y * 15, 0, 15 - 1e-4)
    gx = np.clip(X * 15.5, 0, 31 - 1e-4)
    iy, ix = gy.astype(np.int64), gx.astype(np.int64)
    fy, fx = gy - iy, gx - ix
    n = scene.noise
    noise = (n[iy, ix] * (1 - fx) * (1 - fy) + n[iy, ix + 1] * fx * (1 - fy)
             + n[iy + 1, ix] * (1 - fx) * fy + n[iy + 1, ix + 1] * fx * fy)
    wall *= (1 + 0.12 * noise)[..., None]
    for sh in scene.shapes:
        inside = (X >= sh.x0) & (X < sh.x1) & (Y >= sh.y0) & (Y < sh.y1)
        col = np.array(sh.color, np.float32)
        if sh.kind == "disk":
            cx, cy = (sh.x0 + sh.x1) / 2, (sh.y0 + sh.y1) / 2
            rx, ry = (sh.x1 - sh.x0) / 2, (sh.y1 - sh.y0) / 2
            inside = ((X - cx) / rx) ** 2 + ((Y - cy) / ry) ** 2 < 1
        elif sh.kind == "window":
            fw = 0.012
            pane = (X >= sh.x0 + fw) & (X < sh.x1 - fw) & (Y >= sh.y0 + fw) & (Y < sh.y1 - fw)
            mid_x, mid_y = (sh.x0 + sh.x1) / 2, (sh.y0 + sh.y1) / 2
            pane &= (np.abs(X - mid_x) > fw / 2) & (np.abs(Y - mid_y) > fw / 2)
            wall[inside & ~pane] = col * 0.45
            inside = pane
            col = col * 0.6 + np.array([255, 255, 255], np.float32) * 0.4
        wall[inside] = col
    # Perspective checker floor below the horizon.
    floor = Y >= scene.horizon
    d = np.maximum(Y - scene.horizon, 1e-3)
    u = (X - 1.0) / d * scene.tile
    v = 1.0 / d * scene.tile * 0.5
    check = ((np.floor(u) + np.floor(v)) % 2 == 0)
    fcol = np.where(check[..., None], np.array(scene.floor_a, np.float32), np.array(scene.floor_b, np.float32))
    fog = np.clip(d / (1 - scene.horizon + 1e-3), 0.3, 1.0)[..., None]
    fcol = fcol * (0.7 + 0.3 * fog)
    img = np.where(np.broadcast_to(floor, wall.shape[:2])[..., None], fcol, wall)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _marking(kind: str, da: np.ndarray, dv: np.ndarray) -> np.ndarray:
    """Marking mask in side-local units (radius 1)."""
    ada, adv = np.abs(da), np.abs(dv)
    box = (ada < 1) & (adv < 1)
    if kind == "disk":
        return da * da + dv * dv < 1
    if kind == "ring":
        r = da * da + dv * dv
        return (r < 1) & (r > 0.36)
    if kind == "square":
        return (ada < 0.8) & (adv < 0.8)
    if kind == "diamond":
        return ada + adv < 1
    if kind == "hstripes":
        return (ada < 1.3) & (adv < 1.3) & (np.floor(dv * 2.0) % 2 == 0)
    if kind == "vstripes":
        return (ada < 1.3) & (adv < 1.3) & (np.floor(da * 2.0) % 2 == 0)
    if kind == "cross":
        return ((ada < 0.33) & (adv < 1)) | ((adv < 0.33) & (ada < 1))
    if kind == "triangle":
        return (dv > -0.9) & (dv < 0.8) & (ada < (0.8 - dv) * 0.6)
    if kind == "checker":
        return box & ((np.floor(da * 2) + np.floor(dv * 2)) % 2 == 0)
    if kind == "xmark":
        return ((np.abs(da - dv) < 0.35) | (np.abs(da + dv) < 0.35)) & box
    raise ValueError(f"unknown marking {kind!r}")


def _box(rows: np.ndarray, cols: np.ndarray, i0: int, j0: int) -> tuple[int, int, int, int]:
    if not rows.any():
        return (0, 0, 0, 0)
    r = np.flatnonzero(rows)
    c = np.flatnonzero(cols)
    return (j0 + int(c[0]), i0 + int(r[0]), j0 + int(c[-1]) + 1, i0 + int(r[-1]) + 1)


def draw_character(img: np.ndarray, character: Character, state: State, viewport: Viewport) -> DrawInfo:
    """Draw the character into `img` (uint8 [H, W, 3], modified in place) and say where it is."""
    H, W = img.shape[:2]
    xs, ys = _pixel_centres(viewport, (H, W))
    s = np.float32(state.height)
    top = state.ground - state.height
    cxs = (xs - np.float32(state.x)) / s
    cys = (ys - np.float32(top)) / s
    ext = max(character.torso_r, LEG_SPREAD + LEG_HALF_W, HEAD_R) + 1e-3
    cols = np.flatnonzero(np.abs(cxs) <= ext)
    rows = np.flatnonzero((cys >= 0) & (cys <= 1))
    full_mask = np.zeros((H, W), bool)
    if len(cols) == 0 or len(rows) == 0:
        return DrawInfo(full_mask, (0, 0, 0, 0), (0, 0, 0, 0))
    i0, i1, j0, j1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    CX = cxs[None, j0:j1]
    CY = cys[i0:i1, None]
    sub = img[i0:i1, j0:j1].astype(np.float32)
    mask = np.zeros(sub.shape[:2], bool)
    yaw = float(wrap_yaw(state.yaw))
    cos_y = np.cos(np.radians(yaw))

    # Legs (behind the torso): the character's right leg is at image-left when facing the camera.
    leg_rows = (CY >= TORSO_BOTTOM - 0.02) & (CY <= 1.0)
    shoe = CY >= SHOE_TOP
    for off in (-LEG_SPREAD * cos_y, LEG_SPREAD * cos_y):
        leg = leg_rows & (np.abs(CX - off) < LEG_HALF_W)
        colour = np.where(shoe, np.float32(1), np.float32(0))[..., None] * (
            np.array(character.shoes, np.float32) - np.array(character.pants, np.float32)
        ) + np.array(character.pants, np.float32)
        sub = np.where(leg[..., None], np.broadcast_to(colour, sub.shape), sub)
        mask |= leg

    # Torso: a cylinder; body angle theta = yaw - asin(u); quarter k in SIDE_ORDER (front, right, back, left).
    R = np.float32(character.torso_r)
    t_rows = (CY >= TORSO_TOP) & (CY < TORSO_BOTTOM)
    t_cols = np.abs(CX) < R
    torso = t_rows & t_cols
    if torso.any():
        u = np.clip(CX / R, -1, 1)  # [1, w]
        theta = (yaw - np.degrees(np.arcsin(u)) + 45.0) % 360.0  # shifted: quarter k covers [90k, 90k+90)
        k = np.minimum((theta // 90).astype(np.int64), 3)  # [1, w]
        a = (theta - 90.0 * k - 45.0) / 45.0  # [-1, 1) side-local horizontal coordinate
        v = (CY - TORSO_TOP) / (TORSO_BOTTOM - TORSO_TOP)  # [h, 1]
        arc = float(character.torso_r) * np.pi / 4  # char units per side-local unit
        tex = np.empty(torso.shape + (3,), np.float32)
        for side_idx in np.unique(k):
            side = character.sides[int(side_idx)]
            sel = (k == side_idx)  # [1, w]
            da = (a - side.mark_cx) / side.mark_size
            dv = (v - side.mark_cy) * (TORSO_BOTTOM - TORSO_TOP) / arc / side.mark_size
            m = _marking(side.marking, np.broadcast_to(da, torso.shape), np.broadcast_to(dv, torso.shape))
            col = np.where(m[..., None], np.array(side.mark_color, np.float32), np.array(side.base, np.float32))
            tex = np.where(sel[..., None], col, tex)
        shade = (0.65 + 0.35 * np.sqrt(1 - u * u))[..., None]
        sub = np.where(torso[..., None], tex * shade, sub)
        mask |= torso

    # Head: a sphere; longitude phi = atan2(du, z), theta = yaw - phi; latitude lat = asin(dw) (down +).
    du = CX / np.float32(HEAD_R)
    dw = (CY - np.float32(HEAD_CY)) / np.float32(HEAD_R)
    r2 = du * du + dw * dw
    head = r2 < 1
    if head.any():
        hi, hj = np.nonzero(head)
        duf, dwf = du[0, hj], dw[hi, 0]
        z = np.sqrt(np.maximum(1 - duf * duf - dwf * dwf, 0))
        th = wrap_yaw(yaw - np.degrees(np.arctan2(duf, z))).astype(np.float32)
        lat = np.degrees(np.arcsin(np.clip(dwf, -1, 1))).astype(np.float32)
        ep = EXPRESSION_PARAMS[state.expression]
        skin = np.array(character.skin, np.float32) * (1 - ep.tint_amount) + (
            np.array(character.skin, np.float32) * np.array(ep.tint, np.float32) * ep.tint_amount
        )
        col = np.broadcast_to(skin, (len(th), 3)).copy()
        face = np.abs(th) < 90
        if face.any():
            _draw_face(col, th, lat, face, character, ep, float(np.clip(state.mouth, 0, 1)))
        hair = (np.abs(th) > character.hair_side_deg) | (lat < -character.hair_top_deg)
        col[hair] = np.array(character.hair, np.float32)
        col *= (0.72 + 0.28 * z)[:, None]
        sub[hi, hj] = col
        mask |= head

    img[i0:i1, j0:j1] = np.where(mask[..., None], np.clip(sub + 0.5, 0, 255).astype(np.uint8), img[i0:i1, j0:j1])
    full_mask[i0:i1, j0:j1] = mask
    bbox = _box(mask.any(1), mask.any(0), i0, j0)
    head_bbox = _box(head.any(1), head.any(0), i0, j0)
    return DrawInfo(full_mask, bbox, head_bbox)


def _draw_face(col: np.ndarray, th: np.ndarray, lat: np.ndarray, face: np.ndarray, character: Character,
               ep, mouth: float) -> None:
    """Paint eyes, brows, nose, mouth (and blush/tear) onto head pixel colours `col` [N, 3] in place."""
    dark = np.array((35, 12, 20), np.float32)
    brow_col = np.array(character.hair, np.float32) * 0.6
    if ep.blush:
        blush = (((np.abs(th) - 36) / 9) ** 2 + ((lat - 16) / 6) ** 2 < 1) & face
        col[blush] = col[blush] * 0.5 + np.array((255, 110, 140), np.float32) * 0.5
    for s in (1.0, -1.0):  # +1: the character's right eye (theta > 0), -1: its left eye
        e = ((th - s * 24) / 9) ** 2 + ((lat + 4) / ep.eye_open) ** 2 < 1
        if ep.eye_open >= 7:  # wide open: white sclera and a pupil
            col[e & face] = (250, 250, 250)
            pupil = ((th - s * 24) / 4.5) ** 2 + ((lat + 4) / 4.5) ** 2 < 1
            col[pupil & face] = character.eye
        else:
            col[e & face] = character.eye
        f = (s * th - 10) / 26  # 0 at the inner end, 1 at the outer end
        by = ep.brow_y + ep.brow_tilt * (1 - f) - (ep.brow_asym if s < 0 else 0.0)
        brow = (f >= 0) & (f <= 1) & (np.abs(lat - by) < 2.8) & face
        col[brow] = brow_col
    if ep.tear:
        tear = (((th - 25) / 3.5) ** 2 + ((lat - 12) / 6) ** 2 < 1) & face
        col[tear] = (120, 190, 255)
    nose = ((th / 5) ** 2 + ((lat - 13) / 5) ** 2 < 1) & face
    col[nose] *= 0.8
    tm = th / ep.mouth_w
    in_w = (np.abs(tm) < 1) & face
    centre = 34 - ep.mouth_curve * tm * tm - ep.mouth_asym * np.maximum(-tm, 0) ** 2
    opening = (ep.mouth_base_open + (1 - ep.mouth_base_open) * mouth) * 11.0 * np.sqrt(np.maximum(1 - tm * tm, 0))
    dist = np.abs(lat - centre)
    lips = in_w & (dist < opening + 2.4)
    col[lips] = character.lips
    inner = in_w & (dist < opening)
    col[inner] = dark


def render_frame(character: Character, scene: Scene, state: State, size: tuple[int, int],
                 viewport: Viewport | None = None, background: np.ndarray | None = None
                 ) -> tuple[np.ndarray, DrawInfo]:
    """One image: uint8 [H, W, 3] plus where the character is.

    size: (H, W) output pixels; viewport: the frame region shown (default: the whole frame);
    background: a pre-rendered `render_background(scene, viewport, size)` to reuse across frames.
    """
    vp = viewport if viewport is not None else full_viewport(size)
    img = (background if background is not None else render_background(scene, vp, size)).copy()
    info = draw_character(img, character, state, vp)
    return img, info
