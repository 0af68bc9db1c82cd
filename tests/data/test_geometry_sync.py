import math
import random

import numpy as np
import pytest
import torch

from gloria.data.backends.orientation import (classify_yaw, forward_from_gvhmr, forward_from_landmarks,
                                              viewpoint_from_landmarks, yaw_deg)
from gloria.data.backends.sync import INT16_SCALE, audio_envelope, envelope_sync, syncnet_sync
from gloria.data.pipeline import Sample, clip_starts, global_anchor_times, select_expression_candidates
from gloria.evaluation.syncnet import (SyncNet, audio_features, mfcc, n_windows_for, sync_metrics,
                                      video_features)
from gloria.models.anchors import EXPRESSIONS


def _rot_y(deg):
    a = math.radians(deg)
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


@pytest.mark.parametrize("yaw,cat", [(0, "front"), (30, "front"), (-44, "front"), (60, "right"), (90, "right"),
                                     (-90, "left"), (-120, "left"), (150, "back"), (180, "back"), (-170, "back")])
def test_gvhmr_convention(yaw, cat):
    from scipy.spatial.transform import Rotation

    # upright person facing the camera in OpenCV camera coords = 180 deg about x; then turn about the vertical axis
    R = Rotation.from_matrix(_rot_y(-yaw)) * Rotation.from_rotvec([math.pi, 0, 0])
    f = forward_from_gvhmr(R.as_rotvec())
    assert np.allclose(f, [math.sin(math.radians(yaw)), 0, -math.cos(math.radians(yaw))], atol=1e-9)
    assert yaw_deg(f) == pytest.approx(yaw if yaw != -170 else -170, abs=1e-6) or abs(abs(yaw_deg(f)) - 180) < 1e-6
    assert classify_yaw(float(yaw_deg(f))) == cat


def test_turning_right_shows_right_side():
    # facing image-right (+x): the person's left shoulder points away from the camera (+z)
    from scipy.spatial.transform import Rotation

    R = Rotation.from_matrix(_rot_y(-90)) * Rotation.from_rotvec([math.pi, 0, 0])
    left_axis = R.as_matrix()[:, 0]  # SMPL +x is the body's left
    assert left_axis[2] > 0.99 and classify_yaw(float(yaw_deg(forward_from_gvhmr(R.as_rotvec())))) == "right"


@pytest.mark.parametrize("yaw,cat", [(0, "front"), (40, "front"), (70, "right"), (-70, "left"), (160, "back"), (-140, "back")])
def test_landmark_geometry_from_known_rotation(yaw, cat):
    # a canonical torso facing the camera in camera coords (x right, y down, z away), person's left at +x
    body = {11: (0.2, -0.5, 0), 12: (-0.2, -0.5, 0), 23: (0.15, 0.0, 0), 24: (-0.15, 0.0, 0)}
    R = _rot_y(-yaw)  # turning by +yaw about the (downward) y axis is a rotation by -yaw
    lm = np.zeros((33, 4))
    lm[:, 3] = 1.0
    W, H = 640, 480
    for i, p in body.items():
        x, y, z = R @ np.array(p)
        lm[i, :3] = (0.5 + x * 0.4, 0.5 + y * 0.4 * W / H, z * 0.4)  # normalised image coords, z in x units
    f = forward_from_landmarks(lm, W, H)
    assert yaw_deg(f) == pytest.approx(yaw, abs=1e-6)
    c, y, conf = viewpoint_from_landmarks(lm, W, H)
    assert c == cat and 0 <= conf <= 1
    lm[[0, 2, 5, 7, 8], 3] = 0.05  # no face visible: a "front" estimate is a mirrored back view
    if cat == "front":
        assert viewpoint_from_landmarks(lm, W, H)[0] == "back"


def test_classify_thresholds_configurable():
    assert classify_yaw(50, 60, 120) == "front" and classify_yaw(50) == "right"
    assert classify_yaw(-125, 60, 120) == "back" and classify_yaw(-125) == "left"


def test_clip_counts_and_global_times():
    assert len(clip_starts(0.0, 12.0, 5.0)) == 2 and clip_starts(2.0, 17.0, 5.0) == [2.0, 7.0, 12.0]
    assert len(clip_starts(0.0, 4.99, 5.0)) == 0 and len(clip_starts(0, 100, 5, max_clips=3)) == 3
    rng = random.Random(0)
    clips = [(0.0, 5.0), (5.0, 10.0)]
    for _ in range(20):
        ts = global_anchor_times(0.0, 12.0, clips, 10, rng)
        assert len(ts) == 10 and all(0 <= t < 12 for t in ts)
        assert any(t >= 10 for t in ts) and any(t < 10 for t in ts)  # inside and outside the clips (§7.1)


def _s(t, label, p=0.9):
    e = np.full(8, (1 - p) / 7, np.float32)
    e[EXPRESSIONS.index(label)] = p
    return Sample(t, 100, 100, 1, 1, face_box=(0, 0, 10, 10), expr=e)


def test_expression_two_distinct_rule():
    samples = [_s(0.5, "happy"), _s(1.5, "happy", 0.95), _s(2.5, "sad"),  # clip 0: happy + sad -> kept
               _s(5.5, "angry"), _s(6.5, "angry", 0.99), _s(7.0, "fear", 0.3)]  # clip 1: only angry (fear below min)
    best, kept, dropped = select_expression_candidates(samples, [(0, 5), (5, 10)], 0.5, 2)
    assert (kept, dropped) == (1, 1) and set(best) == {"happy", "sad"} and best["happy"].t == 1.5
    best, kept, dropped = select_expression_candidates(samples, [(0, 5), (5, 10)], 0.5, 1)
    assert (kept, dropped) == (2, 0) and best["angry"].t == 6.5


def test_envelope_sync_recovers_offset():
    rng = np.random.default_rng(0)
    T, fps, sr = 200, 25, 16000
    mouth = np.convolve(rng.random(T + 40), np.ones(4) / 4, "same")[20:20 + T]
    for lag in (0, 5, -8):
        env_frames = np.roll(mouth, lag)  # audio lags video by `lag` frames
        audio = np.repeat(env_frames, sr // fps) * rng.choice([-1, 1], T * sr // fps)
        env = audio_envelope(audio, sr, fps, 0.0, T)
        assert np.allclose(env, env_frames, atol=1e-9)
        off, conf, corr = envelope_sync(mouth, env, 15)
        assert off == lag and conf > 0.5 and corr.shape == (31,)
    off, conf, _ = envelope_sync(mouth, rng.random(T), 15)  # unrelated audio: low confidence
    assert conf < 0.3


def test_lse_scores_and_syncnet_shapes():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(40, 16, generator=g)
    a = torch.roll(v, shifts=3, dims=0)  # audio embedding of frame t equals video embedding of t - 3
    scores, _ = sync_metrics(v.numpy(), a.numpy(), vshift=15)
    off, conf, dist = scores["offset"], scores["lse_c"], scores["lse_d"]
    assert off == -3 and conf > 0 and dist < 1.0
    c = mfcc(np.random.default_rng(0).standard_normal(16000), 16000)
    assert c.shape == (99, 13)  # python_speech_features: 1 + ceil((16000 - 400) / 160) frames
    net = SyncNet().eval()
    with torch.no_grad():
        assert net.forward_aud(torch.randn(2, 1, 13, 20)).shape == (2, 1024)
        assert net.forward_lip(torch.randn(1, 3, 5, 224, 224)).shape == (1, 1024)


class _TinySyncNet(torch.nn.Module):
    """A random-weight stand-in with SyncNet's interface: lips [N, 3, 5, 224, 224], MFCC [N, 1, 13, 20] -> [N, 8]."""

    def __init__(self) -> None:
        super().__init__()
        self.lip = torch.nn.Linear(3 * 5 * 4 * 4, 8)
        self.aud = torch.nn.Linear(13 * 20, 8)

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        return self.lip(torch.nn.functional.adaptive_avg_pool3d(x / 255, (5, 4, 4)).flatten(1))

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        return self.aud(x.flatten(1) / 100)


def test_data_backend_scores_like_the_evaluation_metric():
    """syncnet_sync (RGB crops, audio in [-1, 1]) == the metric's steps (BGR crops, int16 audio), as evaluate_sync runs them."""
    torch.manual_seed(0)
    net = _TinySyncNet().eval()
    rng = np.random.default_rng(0)
    T = 30
    rgb = rng.integers(0, 256, size=(T, 224, 224, 3), dtype=np.uint8)
    audio_int16 = np.round(rng.normal(size=T * 640 + 300) * 3000).clip(-32768, 32767)  # not a multiple of 640
    nwin = n_windows_for(T, len(audio_int16))
    fv = video_features(net, iter(rgb[..., ::-1]), nwin)
    fa = audio_features(net, mfcc(audio_int16, 16000).T, nwin)
    metric, _ = sync_metrics(fv, fa, 15)
    offset, conf, dist = syncnet_sync(net, rgb, audio_int16 / INT16_SCALE, 15)
    assert metric["windows"] == T - 5
    assert offset == metric["offset"]
    assert conf == pytest.approx(metric["lse_c"], rel=1e-12) and dist == pytest.approx(metric["lse_d"], rel=1e-12)
    assert conf > 0
    with pytest.raises(ValueError, match="at least 6 frames"):
        syncnet_sync(net, rgb[:5], audio_int16 / INT16_SCALE)
