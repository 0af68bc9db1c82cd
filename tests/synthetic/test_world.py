"""Video-level ground truth: frame counts, script -> yaw/viewpoint/expression, audio-driven mouth, MP4 + manifest."""
from __future__ import annotations

import json

import av
import numpy as np
import pytest

from gloria.models.anchors import EXPRESSIONS
from gloria.synthetic import (
    Action, Character, Scene, Script, State, frame_rms, random_script, render_frame, render_video, turn_around_script,
)
from gloria.synthetic.render import head_viewport


@pytest.mark.parametrize("seconds,fps,expected", [(3.0, 16, 48), (2.5, 24, 60), (1.0, 25, 25), (2.0, 12.5, 25)])
def test_frame_and_sample_counts_are_exact(seconds, fps, expected):
    v = render_video(Character.random(0), Scene.random(0), Script(seconds=seconds), fps=fps, size=(32, 48))
    assert v.frames.shape == (expected, 32, 48, 3)
    assert v.audio.shape == (int(round(seconds * 16000)),) and v.audio.dtype == np.float32
    for k in ("yaw", "mouth", "bbox", "head_bbox", "talking", "viewpoint", "expression"):
        assert len(v.gt[k]) == expected, k


def test_ground_truth_follows_the_turn_around_script():
    T, fps = 12.0, 10
    v = render_video(Character.random(4), Scene.random(4), turn_around_script(T), fps=fps, size=64, seed=4)
    t = np.arange(len(v.frames)) / fps
    yaw, view = v.gt["yaw"], np.array(v.gt["viewpoint"])
    before, back, after = t < T / 3, (t >= T / 3 + 1.5) & (t < 2 * T / 3), t >= 2 * T / 3 + 1.5
    assert np.all(yaw[before] == 0) and np.all(view[before] == "front")
    assert np.all(yaw[back] == 180) and np.all(view[back] == "back")
    assert np.allclose(yaw[after], 0, atol=1e-6) and np.all(view[after] == "front")
    # The first turn goes 0 -> 180 through +90 ("right"), monotonically.
    turn = (t > T / 3) & (t < T / 3 + 1.5)
    assert np.all(np.diff(yaw[turn]) > 0) and "right" in set(view[turn])
    expr = np.array(v.gt["expression"])
    assert np.all(expr[t < 2 * T / 3 + 1.5] == "neutral") and np.all(expr[after] == "happy")
    # Bounding boxes are inside the frame and contain the head box.
    b, h = v.gt["bbox"], v.gt["head_bbox"]
    assert np.all(b[:, 2] > b[:, 0]) and np.all(b[:, 3] > b[:, 1]) and b.min() >= 0 and b.max() <= 64
    assert np.all((h[:, 0] >= b[:, 0]) & (h[:, 1] >= b[:, 1]) & (h[:, 2] <= b[:, 2]) & (h[:, 3] <= b[:, 3]))
    # The text matches.
    assert "turns around to show its back" in v.script.describe()


def test_explicit_actions_give_exact_states():
    s = Script(seconds=6, actions=[Action("turn", 1.0, 2.0, -90.0), Action("expression", 3.0, 3.0, "angry"),
                                   Action("move", 4.0, 5.0, 0.25)])
    st = s.states(np.array([0.5, 1.5, 2.5, 3.5, 5.5]))
    assert np.allclose(st["yaw"], [0, -45, -90, -90, -90])
    assert [EXPRESSIONS[i] for i in st["expression"]] == ["neutral", "neutral", "neutral", "angry", "angry"]
    assert np.allclose(st["x_frac"], [0.5, 0.5, 0.5, 0.5, 0.25])
    with pytest.raises(ValueError, match="expression action value 'grumpy'"):
        Action("expression", 0, 0, "grumpy")
    with pytest.raises(ValueError, match="action kind 'jump'"):
        Action("jump", 0, 1)
    assert Script.from_dict(json.loads(json.dumps(s.to_dict()))).to_dict() == s.to_dict()


def test_mouth_follows_the_audio_envelope():
    v = render_video(Character.random(9), Scene.random(9), random_script(9, 30), fps=16, size=64, seed=9)
    rms = frame_rms(v.audio, v.sample_rate, v.fps, len(v.frames))
    mouth = v.gt["mouth"]
    assert mouth.std() > 0.05 and np.corrcoef(rms, mouth)[0, 1] > 0.9
    # Silence (exact zeros, closed mouth) wherever the script does not talk.
    assert np.all(mouth[~v.gt["talking"]] == 0)
    talk = np.zeros(len(v.audio), bool)
    for a, b in v.script.talk_segments():
        talk[int(round(a * 16000)):int(round(b * 16000))] = True
    assert np.all(v.audio[~talk] == 0) and np.abs(v.audio[talk]).max() > 0.1
    # The rendered mouth opening grows with the mouth value (dark mouth-interior pixels in a head crop).
    ch, sc = Character.random(9), Scene.random(9)
    dark = []
    for m in (0.0, 0.3, 0.6, 1.0):
        st = State(mouth=m)
        img, _ = render_frame(ch, sc, st, (64, 64), viewport=head_viewport(st))
        dark.append(int((np.abs(img.astype(int) - (35, 12, 20)).max(-1) <= 2).sum()))
    assert dark[0] == 0 and all(a < b for a, b in zip(dark, dark[1:])), dark


def _streams(path):
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        return (float(v.duration * v.time_base), float(a.duration * a.time_base), a.sample_rate, a.channels,
                np.stack(frames))


def test_dataset_writes_mp4_ground_truth_anchors_and_manifest(tmp_path):
    from gloria.data.anchor_yaml import load_anchor_yaml
    from gloria.data.schema import read_anchors, read_clips
    from gloria.synthetic.dataset import write_dataset

    s = write_dataset(tmp_path, n_characters=1, videos_per_character=2, seconds=4, fps=16, size=64, crop=32,
                      clip_frames=24, seed=3, progress=False)
    assert s["videos"] == 2 and s["clips"] == 2 * (64 // 24)
    vid = "syn3_c0000_v00"
    vdur, adur, sr, ch, frames = _streams(tmp_path / "videos" / f"{vid}.mp4")
    assert abs(vdur - 4.0) < 1e-6 and abs(adur - 4.0) < 0.07 and sr == 16000 and ch == 1
    assert frames.shape == (64, 64, 64, 3) and frames.std(0).mean() > 1.0  # not constant
    gt = np.load(tmp_path / "gt" / f"{vid}.npz")
    assert gt["yaw"].shape == (64,) and gt["audio"].shape == (64000,)
    meta = json.loads((tmp_path / "gt" / f"{vid}.json").read_text())
    assert meta["n_frames"] == 64 and len(meta["frames"]["viewpoint"]) == 64
    # Decoded video matches the rendered frames up to H.264 loss.
    from gloria.synthetic import Character, Scene, random_script, render_video

    cseed = 3 * 100003
    ref = render_video(Character.random(cseed), Scene.random(cseed * 101), random_script(cseed * 101, 4), 16, None, 64,
                       seed=cseed * 101)
    mse = ((frames.astype(float) - ref.frames) ** 2).mean()
    assert 10 * np.log10(255**2 / mse) > 28
    anchors = load_anchor_yaml(tmp_path / "anchor_sets" / vid / "anchors.yaml")
    assert [a["type"] for a in anchors].count("viewpoint") == 4 and [a["type"] for a in anchors].count("expression") == 8
    clips, table = read_clips(tmp_path), read_anchors(tmp_path)
    assert list(clips["num_frames"]) == [24] * 4 and set(clips["source_video_id"]) == {vid, "syn3_c0000_v01"}
    c0 = clips.iloc[0]
    _, cadur, _, _, cframes = _streams(tmp_path / c0["video_path"])
    assert len(cframes) == 24 and abs(cadur - 1.5) < 0.07 and c0["caption"].startswith("A cartoon character")
    assert (table["timestamp_s"] < 4.0).all() and (table["type"] == "global").sum() == 4
    assert all((tmp_path / p).is_file() for p in table["image_path"])
    # Anchor rows carry their frame's truth: each viewpoint anchor's frame has that viewpoint.
    for _, r in table[table["type"] == "viewpoint"].iterrows():
        g = np.load(tmp_path / "gt" / f"{r['source_video_id']}.npz")
        i = int(round(r["timestamp_s"] * 16))
        from gloria.models.anchors import VIEWPOINTS

        assert VIEWPOINTS[int(g["viewpoint"][i])] == r["category"]


def test_cli_render_and_bad_input(tmp_path, capsys):
    from gloria.cli import main

    assert main(["synthetic", "render", "--seed", "2", "--seconds", "2", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "videos" / "syn2.mp4").is_file() and (tmp_path / "anchor_sets" / "syn2" / "anchors.yaml").is_file()
    assert (tmp_path / "gt" / "syn2.json").is_file()
    assert main(["synthetic", "render", "--seconds", "2", "--size", "50", "--out", str(tmp_path)]) == 2
    assert "--size must be a positive multiple of 16" in capsys.readouterr().err
