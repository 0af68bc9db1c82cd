import pandas as pd
import pytest

from gloria.data import schema
from gloria.data.anchor_yaml import load_anchor_yaml, write_anchor_yaml


def _clip(**kw):
    row = {"clip_id": "v_s000_c000", "source_video_id": "v_s000", "start_s": 1.0, "end_s": 6.0, "fps": 24.0,
           "num_frames": 120, "width": 64, "height": 48, "caption": "", "video_path": "clips/v/a.mp4", "has_audio": False}
    row.update(kw)
    return row


def _anchor(**kw):
    row = {"anchor_id": "a", "source_video_id": "v_s000", "type": "viewpoint", "category": "back", "timestamp_s": 7.5,
           "x0": 0, "y0": 0, "x1": 10, "y1": 20, "image_path": "anchors/a.png", "score": 0.9, "backend": "mediapipe-pose"}
    row.update(kw)
    return row


def test_roundtrip_and_inside_outside(tmp_path):
    schema.write_clips(pd.DataFrame([_clip()]), tmp_path)
    schema.write_anchors(pd.DataFrame([_anchor(), _anchor(anchor_id="b", timestamp_s=2.0)]), tmp_path)
    clips, anchors = schema.read_clips(tmp_path), schema.read_anchors(tmp_path)
    assert clips.loc[0, "num_frames"] == 120 and clips["audio_path"].isna().all() and clips["shard"].isna().all()
    inside, outside = schema.anchors_for_clip(anchors, clips.iloc[0])
    assert list(inside["anchor_id"]) == ["b"] and list(outside["anchor_id"]) == ["a"]
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write left no temp file


def test_errors_name_file_and_column(tmp_path):
    with pytest.raises(schema.ManifestError, match="missing required column"):
        schema.write_clips(pd.DataFrame([{k: v for k, v in _clip().items() if k != "fps"}]), tmp_path)
    with pytest.raises(schema.ManifestError, match="category.*'sideways'"):
        schema.write_anchors(pd.DataFrame([_anchor(category="sideways")]), tmp_path)
    with pytest.raises(schema.ManifestError, match="empty crop box"):
        schema.write_anchors(pd.DataFrame([_anchor(x1=0)]), tmp_path)
    bad = tmp_path / "clips.parquet"
    pd.DataFrame([{k: v for k, v in _clip().items() if k != "end_s"}]).to_parquet(bad)
    with pytest.raises(schema.ManifestError, match=r"clips.parquet.*'end_s'"):
        schema.read_clips(tmp_path)
    with pytest.raises(FileNotFoundError, match="anchors manifest not found"):
        schema.read_anchors(tmp_path)


def test_anchor_yaml_roundtrip_and_errors(tmp_path):
    for n in ("global.png", "view_back.png", "expr_happy.png"):
        (tmp_path / n).write_bytes(b"x")
    p = write_anchor_yaml(tmp_path / "anchors.yaml", [
        {"image": str(tmp_path / "global.png"), "type": "global", "category": None},
        {"image": "view_back.png", "type": "viewpoint", "category": "back", "timestamp_s": 1.23456},
        {"image": "expr_happy.png", "type": "expression", "category": "happy"}])
    text = p.read_text()
    assert "{image: global.png, type: global}" in text and "category: back" in text
    got = load_anchor_yaml(p)
    assert [(e["type"], e["category"]) for e in got] == [("global", None), ("viewpoint", "back"), ("expression", "happy")]
    assert got[0]["image"] == str((tmp_path / "global.png").resolve()) and got[1]["timestamp_s"] == 1.2346

    def bad(doc, match, exc=ValueError):
        f = tmp_path / "bad.yaml"
        f.write_text(doc)
        with pytest.raises(exc, match=match):
            load_anchor_yaml(f)

    bad("anchors:\n  - {image: view_back.png, type: viewpoint, category: up}\n", r"anchors\[0\]: 'category'.*'up'")
    bad("anchors:\n  - {image: view_back.png, type: pose}\n", r"anchors\[0\]: 'type'")
    bad("anchors:\n  - {image: nope.png, type: global}\n", "image not found", FileNotFoundError)
    bad("anchors:\n  - {image: global.png, type: global, colour: red}\n", "unknown key")
    bad("foo: 1\n", "list under 'anchors'")
    bad("anchors:\n  - {image: expr_happy.png, type: expression, category: happy}\n"
        "  - {image: expr_happy.png, type: expression, category: happy}\n", "duplicate expression")
    with pytest.raises(ValueError, match="category"):
        write_anchor_yaml(tmp_path / "x.yaml", [{"image": "global.png", "type": "viewpoint", "category": "top"}])
    assert not (tmp_path / "x.yaml").exists()
