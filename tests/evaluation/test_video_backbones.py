"""Streaming video/audio I/O and the transformers backbones (tiny random models of the reference classes)."""
from __future__ import annotations

import numpy as np
import pytest

from gloria.evaluation.backbones import PREPROCESS, ImageEncoder
from gloria.evaluation.video import iter_batches, iter_frames, load_audio, probe, write_wav


def test_batches_cover_every_frame_once(make_video):
    p = make_video(n=23, fps=25)
    info = probe(p)
    assert info.fps == 25 and info.n_frames == 23 and (info.width, info.height) == (96, 64)
    batches = list(iter_batches(p, batch_size=5))
    assert [len(b.indices) for b in batches] == [5, 5, 5, 5, 3]
    assert [i for b in batches for i in b.indices] == list(range(23))
    assert batches[0].frames.shape == (5, 64, 96, 3) and batches[0].frames.dtype == np.uint8
    np.testing.assert_allclose(batches[1].times, [i / 25 for i in range(5, 10)], atol=1e-6)
    assert [b.indices for b in iter_batches(p, batch_size=4, stride=3)][0] == [0, 3, 6, 9]


def test_resampling_to_25fps(make_video):
    p = make_video(n=30, fps=30)  # 1 s at 30 fps -> 25 frames at 25 fps
    got = list(iter_frames(p, fps=25))
    assert [k for k, _, _ in got] == list(range(25))
    p2 = make_video(name="slow.mp4", n=10, fps=10)  # 1 s at 10 fps -> 25 frames, repeated
    got2 = list(iter_frames(p2, fps=25))
    assert len(got2) == 25
    assert np.array_equal(got2[0][2], got2[1][2])  # frame 0 shown at t=0 and t=0.04


def test_unreadable_and_missing_files(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(ValueError, match="bad.mp4"):
        probe(bad)
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        list(iter_frames(tmp_path / "nope.mp4"))


def test_audio_loading_int16_range(tmp_path):
    t = np.arange(16000) / 16000
    x = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    write_wav(tmp_path / "a.wav", x)
    y = load_audio(tmp_path / "a.wav")
    assert len(y) == 16000
    np.testing.assert_array_equal(y, x.astype(np.float64))  # 16 kHz mono s16 passes through exactly
    write_wav(tmp_path / "b.wav", x, sample_rate=8000)
    assert abs(len(load_audio(tmp_path / "b.wav")) - 32000) <= 64  # resampled to 16 kHz


def test_preprocess_reference_geometry():
    frames = np.random.default_rng(0).integers(0, 256, size=(2, 100, 200, 3), dtype=np.uint8)
    assert tuple(PREPROCESS["subject"](frames).shape) == (2, 3, 224, 448)  # shorter side 224, no crop
    assert tuple(PREPROCESS["background"](frames).shape) == (2, 3, 224, 224)
    assert tuple(PREPROCESS["dino-i"](frames).shape) == (2, 3, 224, 224)
    tall = np.zeros((1, 300, 150, 3), dtype=np.uint8)
    assert tuple(PREPROCESS["subject"](tall).shape) == (1, 3, 448, 224)
    # already at size: exactly /255 then ImageNet mean/std
    x = np.full((1, 224, 224, 3), 51, dtype=np.uint8)
    y = PREPROCESS["subject"](x)
    np.testing.assert_allclose(y[0, :, 0, 0].numpy(), (0.2 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]), rtol=1e-5)


def test_tiny_backbones_load_and_encode(tiny_vit_dir, tiny_clip_dir):
    frames = np.random.default_rng(1).integers(0, 256, size=(3, 64, 96, 3), dtype=np.uint8)
    dino = ImageEncoder.load("subject", tiny_vit_dir)
    f = dino.encode(frames)
    assert f.shape == (3, 32) and np.isfinite(f).all()
    import torch

    with torch.inference_mode():  # the CLS token of the last layer (after the final layernorm)
        ref = dino.model(pixel_values=PREPROCESS["subject"](frames), interpolate_pos_encoding=True).last_hidden_state[:, 0]
    np.testing.assert_allclose(f, ref.numpy(), rtol=1e-5)
    clip = ImageEncoder.load("background", tiny_clip_dir)
    assert clip.encode(frames).shape == (3, 16)  # projected image embedding
    info = clip.info()
    assert info["class"] == "CLIPVisionModelWithProjection" and info["source"] == tiny_clip_dir


def test_missing_backbone_says_how_to_provide(tmp_path):
    with pytest.raises(FileNotFoundError, match="--dino"):
        ImageEncoder.load("subject", str(tmp_path / "no_such_model"))
    with pytest.raises(FileNotFoundError, match="--clip-i"):
        ImageEncoder.load("clip-i", str(tmp_path / "no_such_model"))
