"""Superset Content Anchoring, mixed-ratio batches and category balancing (fixed seeds, exact or 3-sigma bounds)."""
import numpy as np
import pandas as pd
import pytest

from gloria.models.anchors import EXPRESSIONS, VIEWPOINTS
from gloria.training.sampler import AnchorPool, AnchorSampler, BatchPlan, sample_rng
from gloria.training.testing import write_synthetic_cache


def _tables(cache):
    return pd.read_parquet(cache / "clips.parquet"), pd.read_parquet(cache / "anchors.parquet")


def _draw_many(sampler, plan, steps):
    out = []
    for step in range(steps):
        for key in plan.keys(step):
            out.append((key, sampler.draw(sample_rng(0, step, key.slot, 2), key.clip, key.mode, key.primary)))
    return out


def _is_outside(clips, anchors, key, a):
    c, t = clips.iloc[key.clip], anchors.iloc[a.row]
    return not (c.start_s <= t.timestamp_s < c.end_s)


@pytest.mark.parametrize("share", [0.3, 0.7])
def test_outside_share_matches_config(synth_cache, share):
    clips, anchors = _tables(synth_cache)
    s = AnchorSampler(clips, AnchorPool(anchors), outside_share=share)
    plan = BatchPlan(s, "mixed", 8, seed=0)
    drawn = [(k, a) for k, aa in _draw_many(s, plan, 250) for a in aa]
    n = len(drawn)
    got = np.mean([a.outside for _, a in drawn])
    assert abs(got - share) < 3 * np.sqrt(share * (1 - share) / n) + 1e-3, (got, n)
    # the flag agrees with the timestamps, and every anchor comes from the clip's own source video
    for k, a in drawn[:500]:
        assert a.outside == _is_outside(clips, anchors, k, a)
        assert anchors.iloc[a.row].source_video_id == clips.iloc[k.clip].source_video_id


def test_inside_only_never_outside(synth_cache):
    clips, anchors = _tables(synth_cache)
    s = AnchorSampler(clips, AnchorPool(anchors), superset=False, outside_share=1.0)
    plan = BatchPlan(s, "mixed", 8, seed=1)
    drawn = [(k, a) for k, aa in _draw_many(s, plan, 100) for a in aa]
    assert drawn and not any(a.outside or _is_outside(clips, anchors, k, a) for k, a in drawn)


def test_global_anchor_always_present_and_counts_within_limits(synth_cache):
    clips, anchors = _tables(synth_cache)
    s = AnchorSampler(clips, AnchorPool(anchors))
    for mode in ("global", "mixed", "both"):
        plan = BatchPlan(s, mode, 4, seed=2)
        for key, aa in _draw_many(s, plan, 30):
            types = [a.type for a in aa]
            assert types.count("global") == 1
            assert types.count("viewpoint") <= 4 and types.count("expression") <= 8
            if mode == "global":
                assert types == ["global"]
            if mode == "both":
                assert "viewpoint" in types and "expression" in types
            if key.mode in ("viewpoint", "expression"):
                assert set(types) == {"global", key.mode} and key.primary in [a.category for a in aa]
    plan = BatchPlan(s, "none", 4, seed=2)
    assert all(aa == [] for _, aa in _draw_many(s, plan, 5))


@pytest.mark.parametrize("ratio,batch", [(0.5, 8), (0.25, 8), (0.75, 4)])
def test_every_batch_mixes_at_the_configured_ratio(synth_cache, ratio, batch):
    clips, anchors = _tables(synth_cache)
    plan = BatchPlan(AnchorSampler(clips, AnchorPool(anchors)), "mixed", batch, seed=3, viewpoint_ratio=ratio)
    for step in range(20):
        modes = [k.mode for k in plan.keys(step)]
        assert modes.count("viewpoint") == round(ratio * batch)
        assert modes.count("expression") == batch - round(ratio * batch)


def test_categories_balanced_on_a_skewed_pool(tmp_path):
    # 'front' in every video, 'back' in 1 of 10; 'happy' everywhere, 'fear' in 1 of 10, ...
    rare = {"back", "fear", "contempt"}
    cache = write_synthetic_cache(tmp_path / "c", videos=10, clips_per_video=1, latent_channels=4,
                                  anchor_video_filter=lambda v, t, c: c not in rare or v == 0)
    clips, anchors = _tables(cache)
    s = AnchorSampler(clips, AnchorPool(anchors))
    plan = BatchPlan(s, "mixed", 8, seed=4)
    prim = [k.primary for step in range(500) for k in plan.keys(step)]
    for cats in (VIEWPOINTS, EXPRESSIONS):
        counts = np.array([prim.count(c) for c in cats])
        n, p = counts.sum(), 1 / len(cats)
        assert np.all(np.abs(counts / n - p) < 3 * np.sqrt(p * (1 - p) / n)), dict(zip(cats, counts))
    # without balancing (primary drawn uniformly over clips) 'back' would be ~1/40 of viewpoint samples
    assert prim.count("back") / max(1, sum(prim.count(c) for c in VIEWPOINTS)) > 0.2


def test_configured_category_weights(synth_cache):
    clips, anchors = _tables(synth_cache)
    w = {"front": 3.0, "back": 1.0, "left": 0.0, "right": 0.0}
    plan = BatchPlan(AnchorSampler(clips, AnchorPool(anchors)), "viewpoint", 8, seed=5, category_weights=w)
    prim = [k.primary for step in range(300) for k in plan.keys(step)]
    assert set(prim) == {"front", "back"}
    assert abs(prim.count("front") / len(prim) - 0.75) < 0.05


def test_plan_is_deterministic_and_split_invariant(synth_cache):
    clips, anchors = _tables(synth_cache)
    s = AnchorSampler(clips, AnchorPool(anchors))
    a, b = BatchPlan(s, "mixed", 8, seed=6), BatchPlan(s, "mixed", 8, seed=6)
    assert [a.keys(i) for i in range(5)] == [b.keys(i) for i in range(5)]
    assert a.keys(3) != BatchPlan(s, "mixed", 8, seed=7).keys(3)
    # epoch permutation: in mode none every clip appears once per epoch
    plan = BatchPlan(s, "none", 2, seed=0)
    seen = [k.clip for step in range(2) for k in plan.keys(step)]
    assert sorted(seen) == list(range(len(clips)))


def test_errors_when_no_clip_fits(tmp_path):
    cache = write_synthetic_cache(tmp_path / "c", videos=1, clips_per_video=1, latent_channels=4,
                                  categories={"global": ["global"], "viewpoint": ["front"]})
    clips, anchors = _tables(cache)
    s = AnchorSampler(clips, AnchorPool(anchors))
    with pytest.raises(ValueError, match="no clip has a usable expression anchor"):
        BatchPlan(s, "mixed", 2, seed=0)
    with pytest.raises(ValueError, match="no clip has both viewpoint and expression"):
        BatchPlan(s, "both", 2, seed=0)
    BatchPlan(s, "viewpoint", 2, seed=0)  # fine
