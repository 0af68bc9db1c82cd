"""Ground-truth metrics for generated synthetic videos: perfect on the truth, and each failure mode
(never turning, a wrong back, drifting background, unsynced mouth, bad inputs) moves its own number."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from gloria.synthetic import Character, Scene, Script, anchors, random_script, render_video, turn_around_script
from gloria.synthetic.metrics import PSNR_CAP_DB, anchor_classes, score_against_truth, summarize

FPS, SIZE, SECONDS = 16, 64, 8


@pytest.fixture(scope="module")
def world():
    ch, sc = Character.random(3), Scene.random(3)
    truth = render_video(ch, sc, turn_around_script(SECONDS), fps=FPS, size=SIZE, seed=3)
    return ch, sc, truth


def test_truth_scores_perfectly_and_is_json(world):
    ch, sc, truth = world
    a = anchors(ch, sc, SIZE, 32, truth.initial_state)
    d = score_against_truth(truth.frames, truth, ch, sc, a, chunk_seconds=2)
    json.dumps(d, allow_nan=False)
    for v in ("front", "back", "left", "right", "overall"):  # turns to 180 via the right, back via the left
        assert d["appearance"][v]["psnr_db"] == PSNR_CAP_DB and d["appearance"][v]["hist_dist"] == 0
        assert d["appearance"][v]["n_frames"] > 0
    assert len(d["drift"]["t_start_s"]) == 4 and set(d["drift"]["psnr_frame_db"]) == {PSNR_CAP_DB}
    assert d["drift"]["slope_db_per_min"] == {"frame": 0.0, "background": 0.0, "character": 0.0}
    s = summarize(d)
    assert s["yaw_mae"] < 3 and s["view_acc"] >= 0.95
    assert s["copy_paste"] == 0 and s["pose_stuck"] == 0 and s["copy_first"] == 0
    assert s["lipsync_corr"] > 0.8 and s["lipsync_corr_audio"] > 0.8
    assert d["lip_sync"]["corr_mouth"] == d["lip_sync"]["corr_mouth_truth"]


@pytest.mark.parametrize("seed", [0, 4])
def test_truth_of_random_scripts_scores_near_perfectly(seed):
    # random scripts turn to all views, walk, change expression and talk while turning
    ch, sc = Character.random(seed), Scene.random(seed)
    truth = render_video(ch, sc, random_script(seed, 10), fps=FPS, size=SIZE, seed=seed)
    s = summarize(score_against_truth(truth.frames, truth, ch, sc))
    assert s["psnr_all"] == PSNR_CAP_DB and s["yaw_mae"] < 3 and s["view_acc"] >= 0.95
    assert s["copy_paste"] <= 0.05 and s["pose_stuck"] == 0 and s["lipsync_corr"] > 0.75


def test_truth_prefix_is_scored_on_its_own_frames(world):
    ch, sc, truth = world
    d = score_against_truth(truth.frames[:40], truth, ch, sc)
    assert d["n_frames"] == 40 and d["appearance"]["back"]["n_frames"] == 0
    assert d["yaw"]["view_acc"] == 1.0 and len(d["yaw"]["estimated_deg"]) == 40


@pytest.mark.parametrize("kind", ["frame0_repeated", "rendered_without_turns"])
def test_a_character_that_never_turns_is_caught(world, kind):
    ch, sc, truth = world
    if kind == "frame0_repeated":
        frames = np.repeat(truth.frames[:1], len(truth.frames), axis=0)
    else:  # same talking and expressions, true background, but always facing the camera
        still = Script(SECONDS, [a for a in truth.script.actions if a.kind != "turn"])
        frames = render_video(ch, sc, still, fps=FPS, size=SIZE, seed=3).frames
    d = score_against_truth(frames, truth, ch, sc)
    s = summarize(d)
    assert s["psnr_back"] < 25 and s["hist_back"] > 0.3
    not_front = np.mean(np.array(truth.gt["viewpoint"]) != "front")
    assert s["copy_paste"] > 0.9 * not_front and not_front > 0.3
    assert s["pose_stuck"] > 0.9 * d["copy_paste"]["turned_frac"] and d["copy_paste"]["turned_frac"] > 0.3
    assert s["copy_first"] > 0.9  # stays at the first frame's view wherever the truth shows another
    assert s["view_acc"] < 0.7
    if kind == "rendered_without_turns":  # the front is right (but at the ends of the turns), and so is the mouth
        assert d["appearance"]["front"]["psnr_db"] > 60 and s["lipsync_corr"] > 0.8


def test_copy_paste_only_counts_classes_the_model_had_anchors_for(world):
    ch, sc, truth = world
    back = np.flatnonzero(np.array(truth.gt["viewpoint"]) == "back")[len(truth.frames) // 10]
    frames = np.repeat(truth.frames[back:back + 1], len(truth.frames), axis=0)  # stuck on the back
    a = anchors(ch, sc, SIZE, 32, truth.initial_state)
    with_back = score_against_truth(frames, truth, ch, sc, {"global": a["global"], "view_back": a["view_back"]})
    without = score_against_truth(frames, truth, ch, sc, {"global": a["global"], "expr_happy": a["expr_happy"]})
    assert with_back["copy_paste"]["anchor_classes"] == ["front", "back"]
    assert without["copy_paste"]["anchor_classes"] == ["front"]
    assert with_back["copy_paste"]["value"] > 0.5 and without["copy_paste"]["value"] == 0
    # copy_first does not depend on the anchor set: stuck on the back is not a copy of the first frame
    assert with_back["copy_paste"]["first_view"] == without["copy_paste"]["first_view"] < 0.1
    assert anchor_classes(None, "front") == ["front", "back", "left", "right"]


def test_a_wrong_back_texture_lowers_only_the_back(world):
    ch, sc, truth = world
    k = 2  # SIDE_ORDER index of "back"
    wrong = replace(ch, sides=tuple(replace(s, base=(255 - s.base[0], s.base[2], s.base[1])) if i == k else s
                                    for i, s in enumerate(ch.sides)))
    frames = render_video(wrong, sc, truth.script, fps=FPS, size=SIZE, seed=3).frames
    app = score_against_truth(frames, truth, ch, sc)["appearance"]
    assert app["front"]["psnr_db"] == PSNR_CAP_DB and app["back"]["psnr_db"] < 30
    assert app["back"]["hist_dist"] > 0.1 and app["front"]["hist_dist"] == 0


def test_background_drift_has_a_negative_slope_and_the_character_none(world):
    ch, sc, truth = world
    T, H, W, _ = truth.frames.shape
    rng = np.random.default_rng(0)
    sigma = np.linspace(0, 40, T)[:, None, None, None]
    noisy = np.clip(truth.frames + rng.normal(0, 1, truth.frames.shape) * sigma, 0, 255).astype(np.uint8)
    ys, xs = np.arange(H)[None, :, None], np.arange(W)[None, None, :]
    b = truth.gt["bbox"][:, :, None, None]
    inside = (xs >= b[:, 0]) & (xs < b[:, 2]) & (ys >= b[:, 1]) & (ys < b[:, 3])
    frames = np.where(inside[..., None], truth.frames, noisy)
    drift = score_against_truth(frames, truth, ch, sc, chunk_seconds=2)["drift"]
    bg = drift["psnr_background_db"]
    assert all(a > b for a, b in zip(bg, bg[1:]))
    assert drift["slope_db_per_min"]["background"] < -50 and drift["slope_db_per_min"]["frame"] < -50
    assert drift["slope_db_per_min"]["character"] == 0 and set(drift["psnr_character_db"]) == {PSNR_CAP_DB}


def test_lip_sync_is_about_zero_without_a_synced_mouth(world):
    ch, sc, truth = world
    shuffled = truth.frames[np.random.default_rng(1).permutation(len(truth.frames))]
    corr = score_against_truth(shuffled, truth, ch, sc)["lip_sync"]["corr_mouth"]
    assert corr is None or abs(corr) < 0.3
    noisy = truth.frames.copy()
    rng = np.random.default_rng(2)
    for i, (x0, y0, x1, y1) in enumerate(truth.gt["head_bbox"]):  # lower half of the head -> noise
        cy = (y0 + y1) // 2
        noisy[i, cy:y1, x0:x1] = rng.integers(0, 256, (y1 - cy, x1 - x0, 3), dtype=np.uint8)
    lip = score_against_truth(noisy, truth, ch, sc)["lip_sync"]
    assert lip["corr_mouth"] is None or abs(lip["corr_mouth"]) < 0.3
    assert lip["corr_mouth_truth"] > 0.8


def test_bad_inputs_raise_naming_the_argument(world):
    ch, sc, truth = world
    f = truth.frames
    for bad, name in [(f.astype(np.float32), "frames"), (f[:, :32], "frames"), (f[0], "frames"),
                      (np.concatenate([f, f[:1]]), "frames"), (f[:0], "frames")]:
        with pytest.raises(ValueError, match=name):
            score_against_truth(bad, truth, ch, sc)
    with pytest.raises(ValueError, match="truth"):
        score_against_truth(f, {"frames": f}, ch, sc)
    with pytest.raises(ValueError, match="character"):
        score_against_truth(f, truth, "ch", sc)
    with pytest.raises(ValueError, match="truth was not rendered from this character"):
        score_against_truth(f, truth, Character.random(4), sc)
    with pytest.raises(ValueError, match="anchor_images"):
        score_against_truth(f, truth, ch, sc, {"view_top": f[0]})
    with pytest.raises(ValueError, match="chunk_seconds"):
        score_against_truth(f, truth, ch, sc, chunk_seconds=0)
