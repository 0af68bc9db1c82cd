"""The whole evaluation with tiny models: every metric, metrics.json, report + plots, CLI errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from .eval_helpers import FakeFaces, synth_frames, tiny_frame_features
from gloria.evaluation.metrics import EvalOptions, Models, chunk_curve, evaluate, parse_metrics
from gloria.evaluation.report import write_report


class FakeQAlign:
    """Stands in for one-align's `score(videos, task_, input_)` -> tensor of [1, 5] scores."""

    def __init__(self):
        self.calls = []

    def score(self, videos, task_, input_):
        import torch

        self.calls.append((len(videos[0]), task_, input_))
        return torch.tensor([3.0 if task_ == "quality" else 2.0])


def _tiny_i3d(path):
    import torch

    class TinyI3D(torch.nn.Module):
        def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = True):
            # [B, 3, 16, 224, 224] -> [B, 6]: per-channel mean and std
            return torch.cat([x.mean(dim=(2, 3, 4)), x.std(dim=(2, 3, 4))], 1)

    torch.jit.script(TinyI3D()).save(str(path))
    return torch.jit.load(str(path))


@pytest.fixture
def anchors_yaml(tmp_path):
    from PIL import Image

    frames = list(synth_frames(3, seed=5))
    d = tmp_path / "anchors"
    d.mkdir()
    for name, fr in zip(["global.png", "view_back.png", "expr_happy.png"], frames):
        Image.fromarray(fr).save(d / name)
    (d / "anchors.yaml").write_text(
        "anchors:\n  - {image: global.png, type: global}\n  - {image: view_back.png, type: viewpoint, category: back}\n"
        "  - {image: expr_happy.png, type: expression, category: happy}\n"
    )
    return d / "anchors.yaml"


def test_parse_metrics():
    assert parse_metrics("subject, clip-i,subject") == ("subject", "clip-i")
    assert len(parse_metrics("all")) == 11
    with pytest.raises(ValueError, match="unknown metric 'lpips'.*subject, background"):
        parse_metrics("subject,lpips")


def test_chunk_curve():
    c = chunk_curve([0.0, 0.5, 1.0, 1.5, 2.1], [1.0, 3.0, float("nan"), float("nan"), 5.0], 1.0)
    assert [x["value"] for x in c] == [2.0, None, 5.0]
    assert [x["n"] for x in c] == [2, 0, 1] and [x["n_frames"] for x in c] == [2, 2, 1]


def test_all_metrics_tiny_models(tmp_path, make_video, tiny_vit_dir, tiny_clip_dir, anchors_yaml):
    import torch

    from gloria.evaluation.backbones import ImageEncoder
    from gloria.evaluation.identity import ArcFaceEmbedder, build_iresnet
    from gloria.evaluation.syncnet import build_syncnet
    from gloria.evaluation.video import write_wav

    torch.manual_seed(0)
    sr = 16000
    speech = (np.sin(np.arange(sr * 2) / sr * 2 * np.pi * 220) * 6000 * (np.arange(sr * 2) % 4000 < 2000)).astype(np.int16)
    v1 = make_video("a.mp4", n=40, fps=25, audio=speech[: 40 * 640])
    v2 = make_video("b.mp4", n=34, fps=25, seed=1, drift=0.5, audio=speech[: 34 * 640])
    refs = tmp_path / "real"
    refs.mkdir()
    from gloria.evaluation.video import write_video

    write_video(refs / "r1.mp4", synth_frames(33, seed=3), fps=25)
    write_video(refs / "r2.mp4", synth_frames(32, seed=4), fps=25)
    short_wav = tmp_path / "short.wav"
    write_wav(short_wav, speech[: sr // 2 + 3200])  # 0.7 s < 1.6 s video
    torch.save(build_iresnet([1, 1, 1, 1], 16, 8).state_dict(), tmp_path / "arc.pth")
    models = Models(
        encoders={r: ImageEncoder.load(r, tiny_vit_dir if r in ("subject", "dino-i") else tiny_clip_dir) for r in ("subject", "background", "dino-i", "clip-i")},
        faces=FakeFaces(), identity=ArcFaceEmbedder.load(tmp_path / "arc.pth"), syncnet=build_syncnet().eval(),
        i3d=_tiny_i3d(tmp_path / "i3d.pt"), inception=tiny_frame_features(), qalign=FakeQAlign(),
    )
    opts = EvalOptions(metrics=parse_metrics("all"), anchors=str(anchors_yaml), reference_videos=str(refs),
                       chunk_seconds=0.5, batch_size=7, progress=False)
    doc = evaluate([v1, v2], opts, models)
    a, b = doc["videos"]
    assert a["frames_scored"] == 40 and b["frames_scored"] == 34
    # VBench: 39 pairs, per-chunk curve over 0.5 s chunks; set = pair-weighted
    assert a["metrics"]["subject"]["pairs"] == 39 and len(a["metrics"]["subject"]["chunks"]) == 4
    assert sum(c["n"] for c in a["metrics"]["subject"]["chunks"]) == 39
    tot = a["metrics"]["subject"]["total"] + b["metrics"]["subject"]["total"]
    assert doc["summary"]["subject"]["value"] == pytest.approx(tot / (39 + 33))
    for m in ("subject", "background"):  # VBench clips negative cosines at 0
        assert 0.0 <= a["metrics"][m]["value"] <= 1.0 + 1e-9, m
    for m in ("clip-i", "dino-i", "identity", "exp"):  # raw cosines
        assert -1.0 - 1e-9 <= a["metrics"][m]["value"] <= 1.0 + 1e-9, m
    # a fixed face on a fixed background region -> identity per frame is the cosine of near-identical crops
    assert a["metrics"]["identity"]["no_face_frames"] == 0 and a["metrics"]["identity"]["n"] == 40
    assert a["metrics"]["clip-i"]["references"] == ["global", "viewpoint:back"]
    assert a["metrics"]["exp"]["references"] == ["expression:happy"]
    s = a["metrics"]["sync"]
    assert s["windows"] == 40 - 5 and -15 <= s["offset"] <= 15 and s["lse_d"] > 0 and s["lse_c"] >= 0
    assert "warning" not in s
    assert a["metrics"]["iqa"]["value"] == 3.0 and a["metrics"]["aes"]["value"] == 2.0
    assert a["metrics"]["iqa"]["scale"] == "[1, 5]"
    assert [c["n"] for c in a["metrics"]["iqa"]["chunks"]] == [1, 1]  # 1 fps frames at t=0 and t=1
    f = doc["summary"]["fvd"]
    assert f["generated_clips"] == 2 + 2 and f["reference_clips"] == 2 + 2 and f["value"] is not None and f["value"] >= 0
    f = doc["summary"]["fid"]  # every frame of both sets (one decode of each reference video feeds fvd and fid)
    assert f["generated_frames"] == 40 + 34 and f["reference_frames"] == 33 + 32 and f["value"] >= 0
    # the report
    paths = write_report(doc, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert data["backbones"]["subject"]["source"] == tiny_vit_dir
    assert data["backbones"]["identity"]["backbone"] == "arcface-iresnet"
    md = paths["report"].read_text()
    assert "| video | Sub. ↑ | Back. ↑ | Arcf. ↑ | DINO-I ↑ | CLIP-I ↑ | Exp. ↑ | IQA ↑ | AES ↑ | Sync-C ↑ | Sync-D ↓ |" in md
    assert "| a |" in md and "| b |" in md and "| **set** |" in md and "**FVD**" in md and "**FID**" in md
    for m in ("subject", "identity", "sync"):
        png = paths[f"plot_{m}"]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"({png.name})" in md
    # audio shorter than the video: scored on the overlap, with a warning
    doc2 = evaluate([v1], EvalOptions(metrics=("sync",), audio=str(short_wav), progress=False), models)
    s2 = doc2["videos"][0]["metrics"]["sync"]
    assert "shorter than the video" in s2["warning"] and s2["windows"] == (sr // 2 + 3200) // 640 - 5


def test_identical_sets_give_fvd_zero(tmp_path, make_video):
    models = Models(i3d=_tiny_i3d(tmp_path / "i3d.pt"))
    refs = tmp_path / "refs"
    refs.mkdir()
    v = make_video("g.mp4", n=48)
    (refs / "g.mp4").write_bytes(v.read_bytes())
    doc = evaluate([v], EvalOptions(metrics=("fvd",), reference_videos=str(refs), progress=False), models)
    assert doc["summary"]["fvd"]["generated_clips"] == 3
    assert doc["summary"]["fvd"]["value"] == pytest.approx(0.0, abs=1e-6)
    short = make_video("s.mp4", n=20)
    doc = evaluate([short], EvalOptions(metrics=("fvd",), reference_videos=str(refs), progress=False), models)
    assert doc["summary"]["fvd"]["value"] is None and ">= 2 clips" in doc["summary"]["fvd"]["reason"]


def test_no_face_anywhere_is_null_with_reason(tmp_path, make_video):
    import torch

    from gloria.evaluation.identity import ArcFaceEmbedder, build_iresnet
    from gloria.evaluation.syncnet import build_syncnet

    torch.save(build_iresnet([1, 1, 1, 1], 16, 8).state_dict(), tmp_path / "arc.pth")
    v = make_video(n=12, audio=np.zeros(12 * 640, dtype=np.int16))
    models = Models(faces=FakeFaces(min_mean=255), identity=ArcFaceEmbedder.load(tmp_path / "arc.pth"), syncnet=build_syncnet().eval())
    doc = evaluate([v], EvalOptions(metrics=("identity", "sync"), progress=False), models)
    r = doc["videos"][0]["metrics"]
    assert r["identity"]["value"] is None and r["identity"]["no_face_share"] == 1.0
    assert r["sync"]["value"] is None and r["sync"]["reason"] == "no face found in any frame"
    assert doc["summary"]["identity"]["reason"] == "no video could be scored"
    paths = write_report(doc, tmp_path / "o")
    assert "not computed — no face in the video's first frame" in paths["report"].read_text()
    v_silent = make_video("silent.mp4", n=12)
    doc = evaluate([v_silent], EvalOptions(metrics=("sync",), progress=False), Models(faces=FakeFaces(), syncnet=build_syncnet().eval()))
    assert "give --audio" in doc["videos"][0]["metrics"]["sync"]["reason"]


def test_cli_end_to_end_and_errors(tmp_path, make_video, tiny_vit_dir, tiny_clip_dir, capsys):
    from gloria.cli import main

    v = make_video(n=15)
    out = tmp_path / "res"
    rc = main(["eval", str(v), "--metrics", "subject,background", "--dino", tiny_vit_dir, "--clip", tiny_clip_dir, "--out", str(out), "--quiet", "--chunk-seconds", "0.2"])
    assert rc == 0
    data = json.loads((out / "metrics.json").read_text())
    assert data["videos"][0]["metrics"]["subject"]["pairs"] == 14 and len(data["videos"][0]["metrics"]["subject"]["chunks"]) == 3
    assert (out / "report.md").is_file() and (out / "drift_background.png").is_file()

    def err(args):
        assert main(["eval", *args, "--quiet"]) == 2
        return capsys.readouterr().err

    assert "unknown metric 'lpips'" in err([str(v), "--metrics", "subject,lpips"])
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    assert "cannot read video" in err([str(bad), "--metrics", "subject", "--dino", tiny_vit_dir])
    assert "video not found" in err([str(tmp_path / "none.mp4")])
    assert "--dino" in err([str(v), "--metrics", "subject", "--dino", str(tmp_path / "missing_model")])
    assert "--syncnet-weights" in err([str(v), "--metrics", "sync"])
    msg = err([str(v), "--metrics", "identity"])  # without the eval extra the face detector is reported first
    assert "--arcface-weights" in msg or "pip install 'gloria[eval]'" in msg
    assert "need reference images: give --anchors" in err([str(v), "--metrics", "clip-i"])
    assert "--reference-videos" in err([str(v), "--metrics", "fvd"])
    assert "--i3d-weights" in err([str(v), "--metrics", "fvd", "--reference-videos", str(tmp_path)])  # tmp has .mp4 files
    assert "--qalign" in err([str(v), "--metrics", "iqa"])
