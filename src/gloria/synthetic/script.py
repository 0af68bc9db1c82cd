"""Scripts: timed actions ("turn around", "face left", "talk", expression changes, walking) -> per-frame states.

An `Action` is `(kind, start, end, value)` with times in seconds:
- "turn": ease (smoothstep) from the current yaw to `value` (degrees, *unwrapped*: 0 -> 180 turns
  through +90, i.e. via the right side; 0 -> -180 via the left side) over [start, end];
- "talk": speak over [start, end] (the audio and the mouth follow; `value` unused);
- "expression": switch to expression `value` at `start` (held until the next one; `end` = start);
- "move": walk (with a small bob) from the current position to `value` (feet x as a fraction of
  the frame width) over [start, end].
Every script starts from `init_yaw`, `init_x`, "neutral" (frame 0 is the global anchor's state).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from gloria.models.anchors import EXPRESSIONS

from .character import SIDE_CENTRE_DEG

KINDS = ("turn", "talk", "expression", "move")


@dataclass(frozen=True)
class Action:
    kind: str
    start: float
    end: float
    value: float | str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"action kind {self.kind!r} is not one of {list(KINDS)}")
        if not (0 <= self.start <= self.end):
            raise ValueError(f"{self.kind} action needs 0 <= start <= end; got start={self.start}, end={self.end}")
        if self.kind == "expression" and self.value not in EXPRESSIONS:
            raise ValueError(f"expression action value {self.value!r} is not one of {list(EXPRESSIONS)}")
        if self.kind in ("turn", "move") and not isinstance(self.value, (int, float)):
            raise ValueError(f"{self.kind} action needs a numeric value; got {self.value!r}")


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


@dataclass
class Script:
    """Timed actions plus the character's placement (height and ground in frame-height units)."""

    seconds: float
    actions: list[Action] = field(default_factory=list)
    init_yaw: float = 0.0
    init_x: float = 0.5  # feet centre, fraction of the frame width
    height: float = 0.78
    ground: float = 0.93

    def __post_init__(self) -> None:
        if self.seconds <= 0:
            raise ValueError(f"script seconds must be > 0, got {self.seconds}")
        self.actions = sorted(self.actions, key=lambda a: (a.start, KINDS.index(a.kind)))

    # -- per-frame states -------------------------------------------------------------------------
    def states(self, times: np.ndarray) -> dict[str, np.ndarray]:
        """States at `times` (seconds, [T]): yaw (unwrapped deg), expression (index into EXPRESSIONS),
        x_frac, bob (frame units, <= 0 = up), talking (bool)."""
        t = np.asarray(times, dtype=np.float64)
        yaw = np.full(t.shape, float(self.init_yaw))
        x = np.full(t.shape, float(self.init_x))
        expr = np.full(t.shape, EXPRESSIONS.index("neutral"), dtype=np.int64)
        talking = np.zeros(t.shape, bool)
        moving = np.zeros(t.shape, bool)
        for a in self.actions:
            after = t >= a.start
            if a.kind == "turn":
                frm = yaw.copy()  # yaw reached so far (constant after the previous turns ended)
                p = _smoothstep((t - a.start) / max(a.end - a.start, 1e-9))
                yaw = np.where(after, frm + (float(a.value) - frm) * p, yaw)
            elif a.kind == "move":
                frm = x.copy()
                p = _smoothstep((t - a.start) / max(a.end - a.start, 1e-9))
                x = np.where(after, frm + (float(a.value) - frm) * p, x)
                moving |= (t >= a.start) & (t < a.end)
            elif a.kind == "expression":
                expr = np.where(after, EXPRESSIONS.index(str(a.value)), expr)
            elif a.kind == "talk":
                talking |= (t >= a.start) & (t < a.end)
        bob = np.where(moving, -0.012 * np.abs(np.sin(2 * np.pi * 2.0 * t)), 0.0)
        return {"yaw": yaw, "expression": expr, "x_frac": x, "bob": bob, "talking": talking}

    def talk_segments(self) -> list[tuple[float, float]]:
        return [(a.start, min(a.end, self.seconds)) for a in self.actions if a.kind == "talk" and a.start < self.seconds]

    # -- text -------------------------------------------------------------------------------------
    def describe(self, t0: float = 0.0, t1: float | None = None) -> str:
        """A caption of what happens in [t0, t1) (e.g. for a training clip's text prompt)."""
        t1 = self.seconds if t1 is None else t1
        st = self.states(np.array([t0]))
        from .render import viewpoint_of_yaw

        parts = [f"A cartoon character seen from the {viewpoint_of_yaw(st['yaw'][0])}"
                 f" with a {EXPRESSIONS[int(st['expression'][0])]} expression"]
        for a in self.actions:
            if a.start >= t1 or (a.end <= t0 if a.kind != "expression" else a.start < t0):
                continue
            if a.kind == "turn":
                frm = float(self.states(np.array([a.start]))["yaw"][0])
                target = viewpoint_of_yaw(float(a.value))
                if abs(abs(float(a.value) - frm) - 180) < 30:
                    parts.append(f"turns around to show its {target}")
                else:
                    parts.append(f"turns to face {target}")
            elif a.kind == "talk":
                parts.append("talks")
            elif a.kind == "expression":
                parts.append(f"becomes {a.value}")
            elif a.kind == "move":
                parts.append("walks")
        return parts[0] + (", then " + ", ".join(parts[1:]) if len(parts) > 1 else "") + "."

    # -- (de)serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["actions"] = [asdict(a) for a in self.actions]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Script":
        return cls(**{**d, "actions": [Action(**a) for a in d.get("actions", [])]})


# Camera framings: "full" shows the whole character (height 0.65-0.82 of the frame, feet inside);
# "medium" a closer camera, head and torso filling the frame (height 1.25-1.45, legs below the frame,
# as in a talking-person shot): the character's views, face and mouth cover far more pixels.
FRAMINGS = ("full", "medium")
MEDIUM_HEIGHT, MEDIUM_HEAD_MARGIN = 1.35, 0.06  # turn-around medium shot: height, gap above the head


def turn_around_script(seconds: float = 12.0, talk: bool = True, framing: str = "full") -> Script:
    """The demo script: front, talk; turn around (show the back); turn back; happy at the end.

    Time is split in thirds: [0, T/3) facing front (talking), turn to 180 over 1.5 s, back view,
    turn back to 360 (= front) at 2T/3, then "happy". Works for any length >= 6 s.
    """
    _check_framing(framing)
    if seconds < 6:
        raise ValueError(f"turn_around_script needs seconds >= 6, got {seconds}")
    T = float(seconds)
    acts = [
        Action("turn", T / 3, T / 3 + 1.5, 180.0),
        Action("turn", 2 * T / 3, 2 * T / 3 + 1.5, 360.0),
        Action("expression", 2 * T / 3 + 1.5, 2 * T / 3 + 1.5, "happy"),
    ]
    if talk:
        acts += [Action("talk", 0.3, T / 3 - 0.2), Action("talk", 2 * T / 3 + 1.6, T - 0.3)]
    if framing == "medium":
        return Script(seconds=T, actions=acts, height=MEDIUM_HEIGHT, ground=MEDIUM_HEIGHT + MEDIUM_HEAD_MARGIN)
    return Script(seconds=T, actions=acts)


def _check_framing(framing: str) -> None:
    if framing not in FRAMINGS:
        raise ValueError(f"framing must be one of {list(FRAMINGS)}, got {framing!r}")


def random_script(seed: int, seconds: float, framing: str = "full") -> Script:
    """A random script: turns to random views every 1.5-5 s, expression changes every 2-6 s,
    talking about half the time, occasional walks (full shots only); placement (size, position) drawn too."""
    _check_framing(framing)
    rng = np.random.default_rng([int(seed), 0x5C41])
    T = float(seconds)
    acts: list[Action] = []
    # Turns (each to a view centre +-20 deg, via the shortest way round).
    t, yaw = float(rng.uniform(0.5, 2.0)), 0.0
    while t < T - 0.5:
        view = ("front", "back", "left", "right")[int(rng.integers(4))]
        target = SIDE_CENTRE_DEG[view] + float(rng.uniform(-20, 20))
        delta = (target - yaw + 180) % 360 - 180
        if abs(delta) > 10:
            dur = float(rng.uniform(0.6, 1.6)) * (0.5 + abs(delta) / 180)
            acts.append(Action("turn", t, min(t + dur, T), yaw + delta))
            yaw += delta
            t += dur
        t += float(rng.uniform(1.5, 5.0))
    # Expressions.
    t = float(rng.uniform(0.5, 3.0))
    while t < T:
        acts.append(Action("expression", t, t, EXPRESSIONS[int(rng.integers(len(EXPRESSIONS)))]))
        t += float(rng.uniform(2.0, 6.0))
    # Talking: alternate talk / silence.
    t = float(rng.uniform(0.0, 1.0))
    while t < T - 0.3:
        dur = float(rng.uniform(1.0, 4.0))
        acts.append(Action("talk", t, min(t + dur, T)))
        t += dur + float(rng.uniform(0.5, 3.0))
    # Walks.
    x = float(rng.uniform(0.3, 0.7))
    init_x = x
    t = float(rng.uniform(1.0, 6.0))
    while t < T - 1.0:
        dur = float(rng.uniform(1.0, 3.0))
        x = float(rng.uniform(0.25, 0.75))
        acts.append(Action("move", t, min(t + dur, T), x))
        t += dur + float(rng.uniform(3.0, 10.0))
    height = float(rng.uniform(0.65, 0.82))
    ground = float(rng.uniform(height + 0.08, 0.97))
    if framing == "medium":  # the same actions and draws, then: no walks, a close camera
        acts = [a for a in acts if a.kind != "move"]
        init_x = 0.5 + (init_x - 0.5) * 0.4  # 0.42..0.58: the wide body stays inside the frame
        height = MEDIUM_HEIGHT + (height - 0.735) * 1.2  # 1.25..1.45
        ground = height + float(rng.uniform(0.03, 0.09))
    return Script(seconds=T, actions=acts, init_x=init_x, height=height, ground=ground)
