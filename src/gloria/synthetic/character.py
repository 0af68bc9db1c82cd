"""Seeded synthetic characters and scenes (parameters only; drawing lives in `render.py`).

A character is a cartoon figure (big spherical head, cylindrical torso, two legs) whose torso carries
four *different* side textures: the front, right, back and left quarters of the cylinder each have
their own base colour and their own marking (a "logo", as on the clothing in the paper's Fig. 7),
so one view says nothing about the others. The head has a skin/hair palette and a face whose
geometry depends on the expression (see `EXPRESSION_PARAMS`).

Angles on the body ("body angle" theta, degrees) are measured from the front centre towards the
character's own right: front 0, right +90, back 180, left -90. Sides are stored in that order,
`SIDE_ORDER = ("front", "right", "back", "left")`, and named with `gloria.models.anchors.VIEWPOINTS`.
"""
from __future__ import annotations

import colorsys
from dataclasses import asdict, dataclass, field

import numpy as np

from gloria.models.anchors import EXPRESSIONS, VIEWPOINTS

# Body-angle order of the four torso quarters (index k covers theta in [90k - 45, 90k + 45)).
SIDE_ORDER: tuple[str, ...] = ("front", "right", "back", "left")
assert set(SIDE_ORDER) == set(VIEWPOINTS)
SIDE_CENTRE_DEG: dict[str, float] = {"front": 0.0, "right": 90.0, "back": 180.0, "left": -90.0}

MARKINGS: tuple[str, ...] = (
    "disk", "ring", "square", "diamond", "hstripes", "vstripes", "cross", "triangle", "checker", "xmark",
)

# Character geometry in character units (character height = 1, y down from the top of the head,
# x from the body axis). Shared by all characters except the torso radius.
HEAD_CY = 0.17
HEAD_R = 0.16
TORSO_TOP = 0.32
TORSO_BOTTOM = 0.73
LEG_HALF_W = 0.06
LEG_SPREAD = 0.085
SHOE_TOP = 0.94


@dataclass(frozen=True)
class ExpressionParams:
    """Face geometry of one expression, in head-sphere angles (degrees; latitude positive = down).

    brow_y: brow latitude at the outer end; brow_tilt: inner end minus outer end (+ = inner lowered,
    angry; - = inner raised, sad/fear); brow_asym: extra lift of the character's left brow.
    eye_open: eye half-height (deg); mouth_curve: corner lift (+ = smile, - = frown);
    mouth_asym: lift of the character's left corner (contempt); mouth_w: half-width (deg);
    mouth_base_open: mouth opening without speech (0..1); tint: RGB the skin is mixed towards;
    tint_amount: mix weight; blush: pink cheeks; tear: a blue drop under the eyes.
    """

    brow_y: float
    brow_tilt: float
    brow_asym: float
    eye_open: float
    mouth_curve: float
    mouth_asym: float
    mouth_w: float
    mouth_base_open: float
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    tint_amount: float = 0.0
    blush: bool = False
    tear: bool = False


EXPRESSION_PARAMS: dict[str, ExpressionParams] = {
    "surprise": ExpressionParams(-38, 0, 0, 9.0, 0, 0, 13, 0.75, (1.0, 1.0, 0.85), 0.15),
    "angry": ExpressionParams(-24, 12, 0, 3.5, -8, 0, 20, 0.0, (1.0, 0.25, 0.2), 0.35),
    "disgust": ExpressionParams(-26, 6, -8, 3.0, -4, -10, 20, 0.2, (0.45, 0.8, 0.3), 0.35),
    "fear": ExpressionParams(-36, -10, 0, 8.0, -3, 0, 26, 0.35, (0.85, 0.9, 1.0), 0.35),
    "contempt": ExpressionParams(-27, 0, 8, 3.0, 0, 14, 20, 0.0, (0.9, 0.75, 1.0), 0.25),
    "sad": ExpressionParams(-27, -12, 0, 4.0, -12, 0, 20, 0.0, (0.35, 0.5, 1.0), 0.35, tear=True),
    "neutral": ExpressionParams(-28, 0, 0, 5.5, 0, 0, 20, 0.0),
    "happy": ExpressionParams(-30, 0, 0, 2.5, 13, 0, 24, 0.1, (1.0, 0.85, 0.4), 0.15, blush=True),
}
assert tuple(EXPRESSION_PARAMS) == EXPRESSIONS, "EXPRESSION_PARAMS must follow anchors.EXPRESSIONS"


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


@dataclass(frozen=True)
class Side:
    """One torso quarter: base colour, marking type/colour and marking placement (side-local units)."""

    base: tuple[int, int, int]
    marking: str
    mark_color: tuple[int, int, int]
    mark_cx: float  # horizontal centre in [-1, 1] (side-local angle / 45 deg)
    mark_cy: float  # vertical centre in [0, 1] (torso height)
    mark_size: float  # radius in side-local units


@dataclass(frozen=True)
class Character:
    """All appearance parameters of one character (RGB colours as 0..255 ints)."""

    seed: int
    sides: tuple[Side, Side, Side, Side]  # SIDE_ORDER: front, right, back, left
    torso_r: float  # torso cylinder radius, character units
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    hair_side_deg: float  # hair covers |theta| > this on the head
    hair_top_deg: float  # ... and latitudes above -this
    eye: tuple[int, int, int]
    lips: tuple[int, int, int]
    pants: tuple[int, int, int]
    shoes: tuple[int, int, int]

    def side(self, name: str) -> Side:
        return self.sides[SIDE_ORDER.index(name)]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def random(cls, seed: int) -> "Character":
        """A character drawn from `seed` (same seed -> same character, bit for bit)."""
        rng = np.random.default_rng([int(seed), 0xC4A2])
        h0 = rng.random()
        # Four hues 90 degrees apart (+-12 deg jitter), shuffled over the sides: the sides never share a colour.
        hues = (h0 + np.arange(4) / 4 + rng.uniform(-1 / 30, 1 / 30, 4)) % 1.0
        rng.shuffle(hues)
        markings = rng.choice(len(MARKINGS), size=4, replace=False)
        sides = []
        for k in range(4):
            sat, val = rng.uniform(0.55, 0.95), rng.uniform(0.55, 0.95)
            base = _hsv(hues[k], sat, val)
            # Marking colour: complementary-ish hue, contrasting value.
            mval = 0.15 + 0.1 * rng.random() if val > 0.7 else 0.9 + 0.1 * rng.random()
            mark = _hsv(hues[k] + 0.5 + rng.uniform(-0.1, 0.1), rng.uniform(0.3, 1.0), mval)
            sides.append(
                Side(
                    base=base,
                    marking=MARKINGS[int(markings[k])],
                    mark_color=mark,
                    mark_cx=float(rng.uniform(-0.15, 0.15)),
                    mark_cy=float(rng.uniform(0.4, 0.55)),
                    mark_size=float(rng.uniform(0.5, 0.7)),
                )
            )
        skins = [(241, 194, 160), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172), (180, 220, 160)]
        skin = skins[int(rng.integers(len(skins)))]
        hair = _hsv(rng.random(), rng.uniform(0.2, 0.9), rng.uniform(0.1, 0.6))
        return cls(
            seed=int(seed),
            sides=tuple(sides),  # type: ignore[arg-type]
            torso_r=float(rng.uniform(0.17, 0.21)),
            skin=skin,
            hair=hair,
            hair_side_deg=float(rng.uniform(95, 125)),
            hair_top_deg=float(rng.uniform(40, 60)),
            eye=_hsv(rng.random(), rng.uniform(0.3, 0.9), rng.uniform(0.05, 0.35)),
            lips=_hsv(0.98 + rng.uniform(-0.03, 0.03), rng.uniform(0.4, 0.8), rng.uniform(0.45, 0.7)),
            pants=_hsv(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.6)),
            shoes=_hsv(rng.random(), rng.uniform(0.0, 0.5), rng.uniform(0.05, 0.3)),
        )


@dataclass(frozen=True)
class SceneShape:
    kind: str  # "rect" | "disk" | "window"
    x0: float
    y0: float
    x1: float
    y1: float
    color: tuple[int, int, int]


@dataclass(frozen=True)
class Scene:
    """A static backdrop: a wall (vertical gradient + value noise + shapes) above a perspective checker floor.

    Coordinates are frame units: y in [0, 1] from the top, x in [0, 2] (frame height = 1), so any
    aspect ratio up to 2:1 is covered and crops of the scene are consistent with full frames.
    """

    seed: int
    wall_top: tuple[int, int, int]
    wall_bottom: tuple[int, int, int]
    horizon: float
    floor_a: tuple[int, int, int]
    floor_b: tuple[int, int, int]
    tile: float
    noise: np.ndarray = field(repr=False, compare=False)  # [16, 32] float32 in [-1, 1]
    shapes: tuple[SceneShape, ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("noise")
        return d

    @classmethod
    def random(cls, seed: int) -> "Scene":
        rng = np.random.default_rng([int(seed), 0x5CE7E])
        h = rng.random()
        wall_top = _hsv(h, rng.uniform(0.1, 0.5), rng.uniform(0.6, 0.95))
        wall_bottom = _hsv(h + rng.uniform(-0.08, 0.08), rng.uniform(0.1, 0.6), rng.uniform(0.4, 0.8))
        fh = rng.random()
        floor_a = _hsv(fh, rng.uniform(0.1, 0.6), rng.uniform(0.3, 0.7))
        floor_b = _hsv(fh + rng.uniform(-0.1, 0.1), rng.uniform(0.1, 0.6), rng.uniform(0.2, 0.5))
        horizon = float(rng.uniform(0.55, 0.72))
        shapes = []
        for _ in range(int(rng.integers(4, 9))):
            kind = ("rect", "disk", "window")[int(rng.integers(3))]
            w, hh = rng.uniform(0.08, 0.4), rng.uniform(0.08, 0.35)
            x0, y0 = rng.uniform(-0.1, 1.9), rng.uniform(0.02, horizon - 0.08)
            shapes.append(
                SceneShape(kind, float(x0), float(y0), float(x0 + w), float(min(y0 + hh, horizon)),
                           _hsv(rng.random(), rng.uniform(0.2, 0.9), rng.uniform(0.25, 0.95)))
            )
        noise = rng.uniform(-1, 1, size=(16, 32)).astype(np.float32)
        return cls(int(seed), wall_top, wall_bottom, horizon, floor_a, floor_b,
                   float(rng.uniform(0.12, 0.3)), noise, tuple(shapes))
