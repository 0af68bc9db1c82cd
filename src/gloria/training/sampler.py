"""Which clips go into a batch and which anchors each clip gets.

* `AnchorPool` indexes the anchors table (`gloria.data.schema.ANCHORS_SCHEMA`) per source video, type
  and category, with timestamps sorted so "inside clip [start_s, end_s)" is a binary search.
* `AnchorSampler.draw` implements **Superset Content Anchoring** (§4.1): each anchor of a sample comes
  from outside the clip's time range with probability `outside_share` (when the category has anchors on
  both sides), from the whole source video's pool. `superset=False` draws only from inside the clip
  (the paper's ×SCA ablation).
* `BatchPlan` decides, for every global step, the clips of the global batch and each sample's anchor
  *mode*: in mixed mode (stage III, §7.2) a fixed share `viewpoint_ratio` of every batch are
  viewpoint-anchor samples and the rest expression-anchor samples; each sample first draws a *primary
  category* (balanced over categories, or by configured weights) and then a clip whose pool has it,
  which balances the categories whatever their frequency in the data. The plan is a pure function of
  (seed, step, slot), so a run resumed at step k, or split over any number of processes, sees exactly
  the same samples.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gloria.models.anchors import CATEGORIES, EXPRESSIONS, VIEWPOINTS


@dataclass(frozen=True)
class SampleKey:
    """One slot of a global batch: everything random about the sample derives from (seed, step, slot)."""

    step: int
    slot: int
    clip: int  # row of the clips table
    mode: str  # none | global | viewpoint | expression | both
    primary: str | None = None  # category the sample was chosen for (viewpoint/expression modes)


CLIP_FRAME = -1  # DrawnAnchor.row of a global anchor taken from the training clip's own latent frames


@dataclass
class DrawnAnchor:
    row: int  # row of the anchors table, or CLIP_FRAME (a latent frame of the clip itself)
    type: str
    category: str
    outside: bool  # timestamp outside the clip's [start_s, end_s)


def sample_rng(seed: int, step: int, slot: int, stream: int = 0) -> np.random.Generator:
    """Independent, reproducible generator for one sample (and one purpose `stream`)."""
    return np.random.default_rng([int(seed), int(step), int(slot), int(stream)])


class AnchorPool:
    """Anchors of every source video, by (type, category), timestamps sorted."""

    def __init__(self, anchors: pd.DataFrame):
        self.table = anchors.reset_index(drop=True)
        self._by: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}
        if len(self.table):
            for (vid, typ, cat), g in self.table.groupby(["source_video_id", "type", "category"], sort=False):
                order = np.argsort(g["timestamp_s"].to_numpy(), kind="stable")
                self._by[(vid, typ, cat)] = (g["timestamp_s"].to_numpy()[order], g.index.to_numpy()[order])

    def split(self, video: str, typ: str, cat: str, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        """Rows of (video, type, category) anchors (inside [start, end), outside it)."""
        got = self._by.get((video, typ, cat))
        if got is None:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        ts, rows = got
        lo, hi = np.searchsorted(ts, start, "left"), np.searchsorted(ts, end, "left")
        return rows[lo:hi], np.concatenate([rows[:lo], rows[hi:]])


class AnchorSampler:
    """Draws the anchor set of one clip (Superset Content Anchoring)."""

    def __init__(self, clips: pd.DataFrame, pool: AnchorPool, *, superset: bool = True, outside_share: float = 0.5,
                 global_anchor: bool = True, max_viewpoint: int = 4, max_expression: int = 8,
                 category_weights: dict[str, float] | None = None, global_from_clip: bool = False):
        self.clips = clips.reset_index(drop=True)
        self.global_from_clip = bool(global_from_clip)  # the global anchor is a frame of the clip (CLIP_FRAME)
        self.pool = pool
        self.superset = superset
        self.outside_share = float(outside_share)
        self.global_anchor = global_anchor
        self.max = {"viewpoint": max_viewpoint, "expression": max_expression}
        self.weights = category_weights or {}
        self._vid = self.clips["source_video_id"].to_numpy()
        self._start = self.clips["start_s"].to_numpy(dtype=float)
        self._end = self.clips["end_s"].to_numpy(dtype=float)

    def candidates(self, clip: int, typ: str, cat: str) -> tuple[np.ndarray, np.ndarray]:
        """(inside, outside) anchor rows usable for `clip`; outside is empty when superset is off."""
        inside, outside = self.pool.split(self._vid[clip], typ, cat, self._start[clip], self._end[clip])
        if not self.superset:
            outside = outside[:0]
        return inside, outside

    def available(self, clip: int, typ: str) -> list[str]:
        if typ == "global" and self.global_from_clip:
            return ["global"]
        return [c for c in CATEGORIES[typ] if sum(len(x) for x in self.candidates(clip, typ, c))]

    def _pick(self, rng: np.random.Generator, clip: int, typ: str, cat: str) -> DrawnAnchor:
        if typ == "global" and self.global_from_clip:
            return DrawnAnchor(CLIP_FRAME, typ, cat, False)
        inside, outside = self.candidates(clip, typ, cat)
        if len(outside) and (not len(inside) or rng.random() < self.outside_share):
            return DrawnAnchor(int(rng.choice(outside)), typ, cat, True)
        if not len(inside):
            raise LookupError(f"clip row {clip} has no {typ} anchor {cat!r}")
        return DrawnAnchor(int(rng.choice(inside)), typ, cat, False)

    def _categories(self, rng: np.random.Generator, clip: int, typ: str, primary: str | None) -> list[str]:
        avail = self.available(clip, typ)
        if not avail:
            raise LookupError(f"clip row {clip} has no {typ} anchors")
        if primary is not None and primary not in avail:
            raise LookupError(f"clip row {clip} has no {typ} anchor {primary!r}")
        k = int(rng.integers(1, min(self.max[typ], len(avail)) + 1))
        chosen = [primary] if primary is not None else []
        rest = [c for c in avail if c not in chosen]
        need = k - len(chosen)
        if need > 0:
            w = np.array([float(self.weights.get(c, 1.0)) for c in rest])
            w = w / w.sum() if w.sum() > 0 else np.full(len(rest), 1.0 / len(rest))
            chosen += [rest[i] for i in rng.choice(len(rest), size=need, replace=False, p=w)]
        # Keep the vocabulary order: the model does not care, but it makes sets comparable.
        return [c for c in CATEGORIES[typ] if c in chosen]

    def draw(self, rng: np.random.Generator, clip: int, mode: str, primary: str | None = None) -> list[DrawnAnchor]:
        """Anchors for `clip` in `mode` (none | global | viewpoint | expression | both)."""
        if mode == "none":
            return []
        out: list[DrawnAnchor] = []
        if self.global_anchor:
            out.append(self._pick(rng, clip, "global", "global"))
        types = {"global": [], "viewpoint": ["viewpoint"], "expression": ["expression"],
                 "both": ["viewpoint", "expression"]}[mode]
        for typ in types:
            prim = primary if primary in CATEGORIES[typ] else None
            out += [self._pick(rng, clip, typ, c) for c in self._categories(rng, clip, typ, prim)]
        return out


class BatchPlan:
    """Deterministic global batches: `keys(step)` -> the `global_batch_size` SampleKeys of that step."""

    def __init__(self, sampler: AnchorSampler, mode: str, global_batch_size: int, seed: int,
                 viewpoint_ratio: float = 0.5, category_weights: dict[str, float] | None = None):
        self.sampler = sampler
        self.mode = mode
        self.batch = int(global_batch_size)
        self.seed = int(seed)
        self.ratio = float(viewpoint_ratio)
        n = len(sampler.clips)
        if n == 0:
            raise ValueError("the clips table is empty")
        need_global = mode != "none" and sampler.global_anchor
        has_global = np.array([bool(sampler.available(i, "global")) for i in range(n)]) if need_global else np.ones(n, bool)
        self.n_without_global = int((~has_global).sum())
        self.eligible: dict[str, np.ndarray] = {}  # category -> clip rows (viewpoint/expression modes)
        if mode in ("none", "global"):
            self.clips = np.nonzero(has_global)[0]
            if not len(self.clips):
                raise ValueError(f"no clip has a global anchor ({'inside the clip' if not sampler.superset else 'in its source video'}); anchors.mode={mode!r} needs one")
        elif mode == "both":
            both = [i for i in np.nonzero(has_global)[0]
                    if sampler.available(i, "viewpoint") and sampler.available(i, "expression")]
            self.clips = np.array(both, dtype=np.int64)
            if not len(self.clips):
                raise ValueError("anchors.mode='both' but no clip has both viewpoint and expression anchors")
        else:
            types = ["viewpoint", "expression"] if mode == "mixed" else [mode]
            for typ in types:
                for cat in CATEGORIES[typ]:
                    rows = [i for i in np.nonzero(has_global)[0] if cat in sampler.available(i, typ)]
                    if rows:
                        self.eligible[cat] = np.array(rows, dtype=np.int64)
            for typ in types:
                if not any(c in self.eligible for c in CATEGORIES[typ]):
                    raise ValueError(f"anchors.mode={mode!r} but no clip has a usable {typ} anchor")
            self.clips = np.unique(np.concatenate(list(self.eligible.values())))
        weights = category_weights or {}
        self.cat_p = {}
        for typ, cats in (("viewpoint", VIEWPOINTS), ("expression", EXPRESSIONS)):
            present = [c for c in cats if c in self.eligible]
            if present:
                w = np.array([float(weights.get(c, 1.0)) for c in present])
                if (w < 0).any() or w.sum() <= 0:
                    raise ValueError(f"anchors.category_weights for {typ} must be >= 0 with a positive sum")
                self.cat_p[typ] = (present, w / w.sum())

    def slot_mode(self, slot: int) -> str:
        """Mixed mode: the first round(ratio*B) slots of every batch are viewpoint samples."""
        if self.mode != "mixed":
            return self.mode
        n_view = int(round(self.ratio * self.batch))
        return "viewpoint" if slot < n_view else "expression"

    def keys(self, step: int) -> list[SampleKey]:
        out = []
        if self.mode in ("none", "global", "both"):
            # Without replacement within an epoch: a fresh permutation per epoch of the eligible clips.
            n = len(self.clips)
            for slot in range(self.batch):
                pos = step * self.batch + slot
                epoch, off = divmod(pos, n)
                perm = np.random.default_rng([self.seed, epoch, 7]).permutation(n)
                out.append(SampleKey(step, slot, int(self.clips[perm[off]]), self.mode))
            return out
        for slot in range(self.batch):
            mode = self.slot_mode(slot)
            rng = sample_rng(self.seed, step, slot, stream=1)
            cats, p = self.cat_p[mode]
            cat = cats[int(rng.choice(len(cats), p=p))]
            rows = self.eligible[cat]
            out.append(SampleKey(step, slot, int(rows[int(rng.integers(len(rows)))]), mode, cat))
        return out

    def replacement(self, key: SampleKey, attempt: int) -> SampleKey:
        """Another clip for the same slot when `key`'s sample is corrupt or missing (attempt = 1, 2, ...)."""
        rng = sample_rng(self.seed, key.step, key.slot, stream=100 + attempt)
        rows = self.eligible[key.primary] if key.primary is not None else self.clips
        return SampleKey(key.step, key.slot, int(rows[int(rng.integers(len(rows)))]), key.mode, key.primary)
