"""Ray Data engine gives the same manifest as the local engine (slow: starts a local Ray instance)."""
import pytest

from media import astronaut, scene_video

from gloria.data import schema
from gloria.data.build import build_dataset
from gloria.data.config import load_config

pytest.importorskip("ray", reason="Ray not installed: pip install 'ray[data]'")


@pytest.mark.slow
def test_ray_matches_local(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    scene_video(src / "a.mp4", [(astronaut(), 140)])
    scene_video(src / "b.mp4", [(astronaut()[:, ::-1], 140), (astronaut(), 130)])
    cfg = load_config(overrides={"probe": {"min_duration_s": 2.0}, "expression": {"enabled": False}})
    s_local = build_dataset(str(src), tmp_path / "local", cfg, engine="local", workers=2, progress=False)
    s_ray = build_dataset(str(src), tmp_path / "ray", cfg, engine="ray", workers=2, progress=False)
    assert s_ray["throughput"]["engine"] == "ray" and s_ray["videos_processed"] == 2
    for t in ("clips", "anchors"):
        a = schema.read_table(tmp_path / "local" / schema.FILENAMES[t], t)
        b = schema.read_table(tmp_path / "ray" / schema.FILENAMES[t], t)
        assert len(a) > 0 and a.equals(b), t
    assert s_local["clips"] == s_ray["clips"] == 3
