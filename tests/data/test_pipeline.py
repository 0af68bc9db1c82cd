"""End-to-end and real-model tests (real MediaPipe / mini-Xception weights, real and synthetic media)."""
import json
import shutil

import av
import numpy as np
import pytest

from media import astronaut, carphone_path, corrupt_file, no_people, scene_video, two_people, write_video

from gloria.cli import main
from gloria.data import schema
from gloria.data.anchor_yaml import load_anchor_yaml
from gloria.data.build import build_dataset
from gloria.data.config import load_config
from gloria.data.video import ProbeError, probe, write_clip

FAST = {"probe": {"min_duration_s": 2.0}, "expression": {"min_height": 256}, "viewpoint": {"sample_fps": 1.0},
        "person": {"sample_fps": 1.0}}


def _frames(path):
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("build")
    src = root / "in"
    src.mkdir()
    a = astronaut()
    # cuts at frames 150, 300, 450 (25 fps): one person 6 s | nobody 6 s | two people 6 s | one person 11 s
    scene_video(src / "multi.mp4", [(a, 150), (no_people(), 150), (two_people(), 150), (a[:, ::-1], 275)])
    write_video(src / "short.mp4", (np.full((300, 300, 3), i % 255, np.uint8) for i in range(25)))  # 1 s
    corrupt_file(src / "broken.mp4", src / "multi.mp4")
    (src / "notes.txt").write_text("not a video")
    cfg = load_config(overrides=FAST)
    summary = build_dataset(str(src), root / "ds", cfg, workers=2, progress=False)
    return root, cfg, summary


def test_probe_errors(tmp_path):
    with pytest.raises(ProbeError) as e:
        probe(corrupt_file(tmp_path / "x.mp4", carphone_path()))
    assert e.value.reason in ("unreadable", "no_frames")


def test_write_clip_exact_length_and_audio_sync(tmp_path):
    sr, fps = 16000, 25
    audio = np.zeros(sr * 8, np.float32)
    audio[int(3.0 * sr):int(3.2 * sr)] = 0.5  # a 200 ms burst at t = 3.0 s, silence elsewhere
    src = write_video(tmp_path / "s.mp4", (np.full((64, 96, 3), (i * 3) % 255, np.uint8) for i in range(8 * fps)), fps, audio, sr)
    from gloria.data.video import read_audio

    x, r = read_audio(src)
    w, h = write_clip(src, tmp_path / "c.mp4", 1.5, 120, 24.0, (x, r))
    assert (w, h) == (96, 64)
    with av.open(str(tmp_path / "c.mp4")) as c:
        v = c.streams.video[0]
        assert float(v.average_rate) == 24.0
        frames = [f for f in c.decode(video=0)]
    assert len(frames) == 120
    y, _ = read_audio(tmp_path / "c.mp4")
    env = np.abs(y[0])
    onset = np.argmax(env > 0.2) / sr
    assert abs(onset - 1.5) < 0.05  # the burst at 3.0 s in the source is at 1.5 s in the clip
    assert abs(y.shape[1] / sr - 5.0) < 0.1


def test_real_models_on_real_media():
    from gloria.data.backends.expression import FerClassifier
    from gloria.data.backends.orientation import viewpoint_from_landmarks
    from gloria.data.backends.vision import MediaPipeVision
    from gloria.models.anchors import EXPRESSIONS

    m = MediaPipeVision()
    img = astronaut()
    obs = m.observe(img)
    assert obs.num_people == 1 and m.observe(two_people()).num_people == 2 and m.observe(no_people()).num_people == 0
    x0, y0, x1, y1 = obs.faces[0][0]
    probs = FerClassifier().predict([img[y0:y1, x0:x1]])[0]
    assert EXPRESSIONS[int(probs.argmax())] == "happy" and probs.max() > 0.9  # she is smiling
    assert probs[EXPRESSIONS.index("contempt")] == 0.0  # FER2013 has no contempt class
    assert viewpoint_from_landmarks(obs.pose, 512, 512)[0] == "front"
    with av.open(str(carphone_path())) as c:  # the real talking-person clip: one person throughout
        counts = [m.observe(f.to_ndarray(format="rgb24")).num_people for i, f in enumerate(c.decode(video=0)) if i % 20 == 0]
    assert counts == [1] * 6


def test_build_end_to_end(built):
    root, cfg, s = built
    ds = root / "ds"
    clips, anchors = schema.read_clips(ds), schema.read_anchors(ds)
    fails = schema.read_table(ds / "failures.parquet", "failures")
    assert s["videos"] == 3 and s["shots_detected"] == 4 and s["long_shots_kept"] == 2
    # cuts found at the synthetic cut frames (150, 300, 450 at 25 fps -> 6, 12, 18 s)
    vid = clips["source_video_id"].str[:16].iloc[0]
    assert sorted(clips["source_video_id"].unique()) == [f"{vid}_s000", f"{vid}_s003"]
    assert list(clips["start_s"]) == pytest.approx([0.0, 18.0, 23.0], abs=1e-6)  # 6 s shot -> 1 clip, 11 s -> 2
    assert (clips["num_frames"] == 120).all() and (clips["end_s"] - clips["start_s"]).tolist() == pytest.approx([5.0] * 3)
    for p in clips["video_path"]:
        assert _frames(ds / p) == 120
    reasons = set(zip(fails["stage"], fails["reason"]))
    assert {("person", "no_person"), ("person", "multi_person"), ("probe", "too_short")} <= reasons
    assert any(st == "probe" and r in ("unreadable", "no_frames") for st, r in reasons)  # corrupt: recorded, not fatal
    assert fails.loc[fails["reason"] == "multi_person", "shot_index"].tolist() == [2]
    # anchors: 10 global per kept shot, inside and outside the clips; a frontal viewpoint; expression by the >= 2 rule
    g = anchors[anchors["type"] == "global"]
    assert len(g) == 20
    s3 = g[g["source_video_id"] == f"{vid}_s003"]["timestamp_s"]
    assert ((s3 >= 18) & (s3 < 28)).any() and (s3 >= 28).any()
    assert set(anchors.loc[anchors["type"] == "viewpoint", "category"]) == {"front"}
    assert (anchors["type"] == "expression").sum() == 0  # only "happy" is seen: no clip has 2 distinct expressions
    assert s["counters"]["expression_clips_dropped_lt_min_distinct"] == 3
    for p in anchors["image_path"]:
        assert (ds / p).is_file()
    assert s["anchors_per_category"]["global/global"] == 20
    assert json.loads((ds / "summary.json").read_text())["clips"] == 3


def test_resume_skips_finished_work(built):
    root, cfg, first = built
    ds = root / "ds"
    s = build_dataset(str(root / "in"), ds, cfg, workers=1, progress=False)
    assert s["videos_skipped_resume"] == 3 and s["videos_processed"] == 0 and s["clips"] == first["clips"]
    work = sorted((ds / "work").glob("*.json"))
    assert len(work) == 3  # the corrupt file has a content hash too
    biggest = max(work, key=lambda p: p.stat().st_size)
    biggest.unlink()
    s = build_dataset(str(root / "in"), ds, cfg, workers=1, progress=False)
    assert s["videos_skipped_resume"] == 2 and s["videos_processed"] == 1 and s["clips"] == 3


def test_expression_anchor_with_min_distinct_one(tmp_path):
    scene_video(tmp_path / "in.mp4", [(astronaut(), 130)])
    cfg = load_config(overrides={**FAST, "expression": {"min_height": 256, "min_distinct": 1}, "clips": {"max_height": 128}})
    s = build_dataset(str(tmp_path / "in.mp4"), tmp_path / "ds", cfg, workers=1, progress=False)
    a = schema.read_anchors(tmp_path / "ds")
    assert s["clips"] == 1 and list(a.loc[a["type"] == "expression", "category"]) == ["happy"]
    assert schema.read_clips(tmp_path / "ds")["height"].tolist() == [128]


def test_cli_anchors_extract_and_errors(tmp_path, capsys):
    out = tmp_path / "set"
    assert main(["anchors", "extract", str(carphone_path()), "--out", str(out)]) == 0
    entries = load_anchor_yaml(out / "anchors.yaml")
    types = [e["type"] for e in entries]
    assert types[0] == "global" and "viewpoint" in types and "expression" in types
    assert main(["anchors", "extract", str(tmp_path / "nope.mp4"), "--out", str(out)]) == 2
    assert "video not found" in capsys.readouterr().err
    assert main(["data", "build", "--videos", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    bad = tmp_path / "c.yaml"
    bad.write_text("shots: {detector: magic}\n")
    assert main(["data", "build", "--videos", str(carphone_path()), "--out", str(tmp_path / "o"), "--config", str(bad)]) == 2
    assert "shots.detector" in capsys.readouterr().err
    bad.write_text("clips: {fps: fast}\n")
    assert main(["data", "build", "--videos", str(carphone_path()), "--out", str(tmp_path / "o"), "--config", str(bad)]) == 2
    assert "clips.fps" in capsys.readouterr().err


def test_cli_build_small(tmp_path, capsys):
    shutil.copy(carphone_path(), tmp_path / "c.mp4")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("probe: {min_duration_s: 1.0, min_width: 100, min_height: 100}\nshots: {min_shot_s: 3.0}\n"
                   "clips: {seconds: 3.0}\nexpression: {enabled: false}\n")
    assert main(["data", "build", "--videos", str(tmp_path / "*.mp4"), "--out", str(tmp_path / "ds"),
                 "--workers", "1", "--config", str(cfg), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "clips: 1" in out and "source-s/s" in out
    c = schema.read_clips(tmp_path / "ds")
    assert c["num_frames"].tolist() == [72]  # 3 s at 24 fps from the real 4 s clip
