"""FID: pytorch-fid's Inception-v3 in plain PyTorch (names, shapes, strict loading), frame sampling, eval plumbing.

The network is built with random weights (no reference weights here); a weights file in pytorch-fid's
layout (our state dict + the unused 1008-way `fc`) is written once per session (~95 MB in tmp).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from .eval_helpers import synth_frames, tiny_frame_features
from gloria.evaluation.fid import (
    WEIGHTS_ENV,
    WEIGHTS_FILE,
    WEIGHTS_URL,
    FIDInceptionV3,
    FrameFeatureStream,
    inception_features,
    load_fid_inception,
    resolve_weights,
)
from gloria.evaluation.metrics import EvalOptions, Models, evaluate

# pytorch-fid's fid_inception_v3() is torchvision's Inception3(num_classes=1008, aux_logits=False) with the
# FIDInceptionA/C/E blocks: 94 BasicConv2d, each conv.weight + bn.{weight, bias, running_mean, running_var,
# num_batches_tracked}; its weights file adds fc.weight [1008, 2048] and fc.bias [1008], which we drop.
EXPECTED_KEYS = 94 * 6
EXPECTED_PARAMS = 21_785_568  # torchvision inception_v3: 27,161,264 − fc (2,049,000) − AuxLogits (3,326,696)
KNOWN_SHAPES = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_1a_3x3.bn.running_var": (32,),
    "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_5d.branch5x5_2.conv.weight": (64, 48, 5, 5),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
    "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
    "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
    "Mixed_7b.branch3x3dbl_1.conv.weight": (448, 1280, 1, 1),
    "Mixed_7c.branch3x3_2b.conv.weight": (384, 384, 3, 1),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
}
TOP_LEVEL = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3", "Mixed_5b", "Mixed_5c",
             "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]


@pytest.fixture(scope="session")
def net():
    """A random FIDInceptionV3 with non-trivial BatchNorm statistics."""
    torch.manual_seed(0)
    m = FIDInceptionV3()
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.1, 0.1)
    return m


@pytest.fixture(scope="session")
def weights_file(net, tmp_path_factory):
    """`net` saved in pytorch-fid's file layout (plus the unused fc of the 1008-class logits)."""
    state = dict(net.state_dict())
    state["fc.weight"] = torch.zeros(1008, 2048)
    state["fc.bias"] = torch.zeros(1008)
    path = tmp_path_factory.mktemp("fid") / WEIGHTS_FILE
    torch.save(state, path)
    return path


def _frames(n=2, size=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def test_state_dict_matches_pytorch_fid(net):
    sd = net.state_dict()
    assert len(sd) == EXPECTED_KEYS
    assert len(list(net.parameters())) == 94 * 3 and sum(p.numel() for p in net.parameters()) == EXPECTED_PARAMS
    for k, shape in KNOWN_SHAPES.items():
        assert tuple(sd[k].shape) == shape, k
    assert sorted({k.split(".")[0] for k in sd}) == sorted(TOP_LEVEL)  # no fc, no AuxLogits
    assert not any(k.startswith(("fc.", "AuxLogits.")) for k in sd)
    assert all(not p.requires_grad for p in net.parameters()) and not net.training
    bn = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bn) == 94 and all(m.eps == 1e-3 for m in bn)


def test_features_resize_and_scale(net):
    frames = _frames(2, 64)
    f = inception_features(net, frames)
    assert f.shape == (2, 2048) and f.dtype == np.float64 and np.isfinite(f).all() and (f >= 0).all()
    # the input pipeline: /255, bilinear 299×299 (align_corners=False, no antialias), then 2x − 1 inside the net
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    x = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    net.resize_input = False
    try:
        with torch.inference_mode():
            ref = net(x).double().numpy()
    finally:
        net.resize_input = True
    np.testing.assert_allclose(f, ref, rtol=1e-5, atol=1e-6)


def test_weights_load_strictly_and_round_trip(net, weights_file):
    loaded = load_fid_inception(weights_file)
    sd, ref = loaded.state_dict(), net.state_dict()
    assert sd.keys() == ref.keys() and all(torch.equal(sd[k], ref[k]) for k in ref)
    frames = _frames(2, 64, seed=1)
    np.testing.assert_array_equal(inception_features(loaded, frames), inception_features(net, frames))
    # a file written before BatchNorm had num_batches_tracked loads strictly too
    old = {k: v for k, v in ref.items() if not k.endswith("num_batches_tracked")}
    FIDInceptionV3().load_state_dict(old, strict=True)


def test_missing_or_bad_weights_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    with pytest.raises(FileNotFoundError) as e:
        load_fid_inception(None)
    assert "--fid-weights" in str(e.value) and WEIGHTS_ENV in str(e.value) and WEIGHTS_URL in str(e.value)
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_fid_inception(tmp_path / "nope.pth")
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "env_missing.pth"))
    with pytest.raises(FileNotFoundError, match=f"env_missing.pth.*{WEIGHTS_ENV}"):
        load_fid_inception(None)
    bad = tmp_path / "corrupt.pth"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match="corrupt.pth"):
        load_fid_inception(bad)
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, other)
    with pytest.raises(ValueError, match=r"other.pth does not match pytorch-fid's FID Inception-v3.*Missing key"):
        load_fid_inception(other)


def test_weights_from_environment(weights_file, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(weights_file))
    assert resolve_weights(None) == weights_file
    assert resolve_weights(str(weights_file)) == weights_file


def test_frame_stream_samples_every_kth_frame():
    seen = []

    class Recorder(torch.nn.Module):
        def forward(self, x):
            seen.append(len(x))
            return tiny_frame_features()(x)

    s = FrameFeatureStream(Recorder(), frame_step=3, batch_size=2)
    frames = np.stack(list(synth_frames(10, h=16, w=16)))
    s.update(frames[:4], list(range(4)))  # 0, 3
    s.update(frames[4:], list(range(4, 10)))  # 6, 9
    s.end_video()
    assert s.stats.n == 4 and seen == [2, 2]
    with pytest.raises(ValueError):
        FrameFeatureStream(Recorder(), frame_step=0)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift(tmp_path, make_video):
    from gloria.evaluation.video import write_video

    models = Models(inception=tiny_frame_features())
    v = make_video("g.mp4", n=20)
    same, shifted = tmp_path / "same", tmp_path / "shifted"
    same.mkdir()
    shifted.mkdir()
    (same / "g.mp4").write_bytes(v.read_bytes())
    write_video(shifted / "g.mp4", (np.clip(f.astype(int) + 40, 0, 255).astype(np.uint8) for f in synth_frames(20)), fps=25)

    def fid(refs, **kw):
        doc = evaluate([v], EvalOptions(metrics=("fid",), reference_videos=str(refs), progress=False, batch_size=4, **kw), models)
        return doc["summary"]["fid"]

    shift = fid(shifted)
    assert shift["value"] > 0 and shift["generated_frames"] == 20 and shift["reference_frames"] == 20
    zero = fid(same)
    assert abs(zero["value"]) <= 1e-6 * shift["value"]
    stepped = fid(same, fid_frame_step=3)  # frames 0, 3, ..., 18
    assert stepped["generated_frames"] == 7 and stepped["reference_frames"] == 7 and stepped["frame_step"] == 3
    assert "warning" not in stepped  # 7 frames > 6 feature dimensions
    with pytest.raises(ValueError, match="--fid-frame-step"):
        evaluate([v], EvalOptions(metrics=("fid",), reference_videos=str(same), stride=2, progress=False), models)
    with pytest.raises(ValueError, match="fid needs real videos"):
        evaluate([v], EvalOptions(metrics=("fid",), progress=False), models)


def test_eval_cli_with_a_weights_file(tmp_path, make_video, weights_file, monkeypatch, capsys):
    """The whole path: --fid-weights -> strict load -> features of every K-th frame -> metrics.json / report.md.

    One reference frame keeps the Fréchet step (a 2048×2048 matrix square root, ~30 s on one core) out
    of this fast test: the summary is then null with its reason. The value is checked in the slow test below.
    """
    from gloria.cli import main
    from gloria.evaluation.backbones import file_sha256
    from gloria.evaluation.video import write_video

    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    v = make_video("gen.mp4", n=3)
    refs = tmp_path / "refs"
    refs.mkdir()
    write_video(refs / "real.mp4", synth_frames(2, seed=3), fps=25)
    out = tmp_path / "res"
    args = ["eval", str(v), "--metrics", "fid", "--reference-videos", str(refs), "--out", str(out), "--quiet"]
    assert main([*args, "--fid-weights", str(weights_file), "--fid-frame-step", "2"]) == 0
    data = json.loads((out / "metrics.json").read_text())
    f = data["summary"]["fid"]
    assert (f["generated_frames"], f["reference_frames"], f["reference_videos"], f["frame_step"]) == (2, 1, 1, 2)
    assert f["value"] is None and "FID needs >= 2 frames" in f["reason"]
    assert data["options"]["fid_weights"] == str(weights_file) and data["options"]["fid_frame_step"] == 2
    b = data["backbones"]["inception"]
    assert b["class"] == "FIDInceptionV3" and b["weights"] == str(weights_file) and b["sha256"] == file_sha256(weights_file)
    assert "**FID** ↓" in (out / "report.md").read_text()
    capsys.readouterr()

    def err(extra):
        assert main([*args, *extra]) == 2
        return capsys.readouterr().err

    msg = err([])
    assert "--fid-weights" in msg and WEIGHTS_ENV in msg and WEIGHTS_FILE in msg
    assert str(tmp_path / "missing.pth") in err(["--fid-weights", str(tmp_path / "missing.pth")])
    assert "--fid-frame-step" in err(["--fid-weights", str(weights_file), "--stride", "2"])


@pytest.mark.slow
def test_fid_value_with_the_full_network(net):
    """2048-d statistics of 4 frames (rank-3 covariances): a set against itself gives 0 (relative to the trace
    terms), a brightness shift gives > 0. Slow: each Fréchet distance takes a 2048×2048 sqrtm (~30 s on one core)."""
    from gloria.evaluation.fid import fid_from_stats
    from gloria.evaluation.formulas import GaussianStats

    frames = np.stack(list(synth_frames(4, h=64, w=64)))
    gen, ref = GaussianStats(), GaussianStats()
    gen.update(inception_features(net, frames))
    ref.update(inception_features(net, np.clip(frames.astype(int) + 40, 0, 255).astype(np.uint8)))
    scale = 2 * np.trace(gen.sigma)
    assert abs(fid_from_stats(gen, gen)) <= 1e-6 * scale
    assert fid_from_stats(gen, ref) > 1e-3 * scale
