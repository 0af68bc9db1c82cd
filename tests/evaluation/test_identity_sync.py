"""ArcFace alignment + IResNet plumbing, dlib identity on real faces, SyncNet architecture/MFCC/crop."""
from __future__ import annotations

import numpy as np
import pytest

from gloria.evaluation.identity import ARCFACE_TEMPLATE, ArcFaceEmbedder, align_face, alignment_matrix, build_iresnet, infer_iresnet_layers, warp_affine
from gloria.evaluation.syncnet import build_syncnet, crop_face, load_syncnet, mfcc, n_windows_for, smooth_track


def test_alignment_maps_keypoints_onto_template():
    five = ARCFACE_TEMPLATE * 2.0 + np.array([30.0, 10.0])  # a face twice the template size
    m = alignment_matrix(five)
    np.testing.assert_allclose(m, [[0.5, 0, -15.0], [0, 0.5, -5.0]], atol=1e-9)
    assert np.allclose(alignment_matrix(ARCFACE_TEMPLATE), [[1, 0, 0], [0, 1, 0]])


def test_warp_affine_identity_and_translation():
    img = np.random.default_rng(0).integers(0, 256, size=(120, 130, 3), dtype=np.uint8)
    out = warp_affine(img, np.array([[1.0, 0, 0], [0, 1.0, 0]]), 112)
    np.testing.assert_array_equal(out, img[:112, :112])
    out = warp_affine(img, np.array([[1.0, 0, -5], [0, 1.0, -7]]), 112)  # dst = src - (5, 7)
    np.testing.assert_array_equal(out, img[7:119, 5:117])
    out = warp_affine(img, np.array([[1.0, 0, 100], [0, 1.0, 0]]), 112)
    assert (out[:, :99] == 0).all()  # outside the image: border 0, like cv2.warpAffine
    assert align_face(img, ARCFACE_TEMPLATE).shape == (112, 112, 3)


def test_iresnet_state_dict_roundtrip(tmp_path):
    import torch

    model = build_iresnet([1, 2, 1, 1], num_features=32, width=8).eval()
    assert infer_iresnet_layers(model.state_dict()) == [1, 2, 1, 1]
    torch.save(model.state_dict(), tmp_path / "backbone.pth")
    emb = ArcFaceEmbedder.load(tmp_path / "backbone.pth")
    assert emb.layers == [1, 2, 1, 1]
    from gloria.evaluation.faces import Face

    img = np.random.default_rng(1).integers(0, 256, size=(150, 150, 3), dtype=np.uint8)
    face = Face((0, 0, 150, 150), 1.0, five=ARCFACE_TEMPLATE + 10)
    (e,) = emb.embed([(img, face)])
    assert e.shape == (32,)
    x = (torch.from_numpy(align_face(img, face.five)).permute(2, 0, 1)[None].float() - 127.5) / 127.5
    with torch.inference_mode():
        np.testing.assert_allclose(e, model(x)[0].numpy(), rtol=1e-5, atol=1e-6)
    assert emb.info()["sha256"] and "non-commercial" in emb.info()["licence"]


def test_arcface_missing_weights_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="--arcface-weights.*--identity-backend dlib"):
        ArcFaceEmbedder.load(None)
    (tmp_path / "x.pth").write_bytes(b"junk")
    with pytest.raises(ValueError, match="x.pth"):
        ArcFaceEmbedder.load(tmp_path / "x.pth")


def test_syncnet_shapes_and_weights_roundtrip(tmp_path):
    import torch

    torch.manual_seed(0)
    model = build_syncnet().eval()
    with torch.inference_mode():
        assert model.forward_aud(torch.randn(2, 1, 13, 20)).shape == (2, 1024)
        assert model.forward_lip(torch.rand(1, 3, 5, 224, 224) * 255).shape == (1, 1024)
    torch.save(model.state_dict(), tmp_path / "syncnet_v2.model")
    loaded = load_syncnet(tmp_path / "syncnet_v2.model")
    assert torch.equal(loaded.state_dict()["netfclip.3.weight"], model.state_dict()["netfclip.3.weight"])
    with pytest.raises(FileNotFoundError, match="--syncnet-weights"):
        load_syncnet(None)
    torch.save({"foo": torch.zeros(1)}, tmp_path / "wrong.model")
    with pytest.raises(ValueError, match="not a SyncNet state dict"):
        load_syncnet(tmp_path / "wrong.model")


def test_syncnet_loader_accepts_every_weight_layout(tmp_path):
    import torch

    from gloria.data.backends.sync import SyncNet

    torch.manual_seed(1)
    model = build_syncnet().eval()
    state = model.state_dict()
    torch.save({f"__S__.{k}": v for k, v in state.items()}, tmp_path / "instance.model")  # a saved SyncNetInstance
    torch.save({**state, "extra": torch.zeros(1)}, tmp_path / "extra.model")
    torch.save(model, tmp_path / "module.pt")  # a whole pickled module
    for name in ("instance.model", "extra.model", "module.pt"):
        loaded = load_syncnet(tmp_path / name)
        assert torch.equal(loaded.state_dict()["netcnnlip.0.weight"], state["netcnnlip.0.weight"]) and not loaded.training
    assert isinstance(SyncNet.from_file(str(tmp_path / "instance.model")), type(model))  # the data pipeline's entry
    (tmp_path / "junk.model").write_bytes(b"junk")
    with pytest.raises(ValueError, match="cannot read SyncNet weights .*junk.model"):
        load_syncnet(tmp_path / "junk.model")
    torch.save({**state, "netfcaud.3.weight": torch.zeros(4, 512)}, tmp_path / "shape.model")
    with pytest.raises(ValueError, match="shape.model: not a SyncNet state dict"):
        load_syncnet(tmp_path / "shape.model")
    torch.save([1, 2], tmp_path / "list.model")
    with pytest.raises(ValueError, match="list.model: not a SyncNet state dict"):
        load_syncnet(tmp_path / "list.model")


def test_mfcc_equals_python_speech_features():
    psf = pytest.importorskip("python_speech_features")
    rng = np.random.default_rng(2)
    x = (rng.normal(size=16000 + 321) * 3000).astype(np.int16).astype(np.float64)
    ref = psf.mfcc(x, 16000)
    got = mfcc(x, 16000)
    assert got.shape == ref.shape == (101, 13)  # 100 Hz
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


def test_mfcc_rate_and_window_count():
    assert mfcc(np.ones(16000 * 2) * 100).shape == (199, 13)
    assert n_windows_for(50, 32000) == 45  # min(frames, samples/640) - 5, as the reference
    assert n_windows_for(50, 16000) == 20
    assert n_windows_for(5, 16000) == 0


def test_crop_geometry_matches_reference():
    # image whose pixel value encodes its column; face box half-size bs = 20 centred at (60, 50)
    h, w = 120, 160
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[..., 0] = (np.arange(w) % 256)[None, :]  # R channel = column index
    crop = crop_face(img, s=20.0, cx=60.0, cy=50.0)
    assert crop.shape == (224, 224, 3)
    # BGR output: the column ramp ends up in channel 2; crop spans cols cx-1.4bs..cx+1.4bs = 32..88
    ramp = crop[100, :, 2].astype(float)
    assert abs(ramp[0] - 32) <= 1.5 and abs(ramp[-1] - 87) <= 1.5
    # a face near the top edge: padded rows have value 110
    crop2 = crop_face(np.zeros((120, 160, 3), np.uint8), s=20.0, cx=60.0, cy=5.0)
    assert (crop2[0] == 110).all() and (crop2[-1] == 0).all()


def test_smooth_track_interpolates_and_median_filters():
    boxes = [(10.0, 10.0, 30.0, 30.0)] * 5 + [None] * 3 + [(20.0, 10.0, 40.0, 30.0)] * 5
    s, cx, cy = smooth_track(boxes)
    assert len(s) == 13 and np.allclose(s, 10.0) and np.allclose(cy, 20.0)
    assert cx[0] <= cx[6] <= cx[12]
    with pytest.raises(ValueError, match="no face"):
        smooth_track([None, None])


def _dlib_available():
    try:
        import dlib  # noqa: F401

        from gloria.evaluation.faces import models_dir

        return models_dir().is_dir()
    except ImportError:
        return False


@pytest.mark.skipif(not _dlib_available(), reason="needs the eval extra (dlib-bin, face_recognition_models)")
def test_real_identity_dlib(tmp_path):
    """Real faces: a video of one person scores high against itself and lower against another person."""
    skimage_data = pytest.importorskip("skimage.data")
    import matplotlib.cbook as cbook
    from PIL import Image

    from gloria.evaluation.metrics import EvalOptions, Models, evaluate
    from gloria.evaluation.faces import DlibFaces
    from gloria.evaluation.identity import DlibEmbedder
    from gloria.evaluation.video import write_video

    astro = skimage_data.astronaut()
    frames = []
    for k in range(6):  # small moves and zooms of the same portrait
        s = 1.0 + 0.04 * k
        im = Image.fromarray(astro).resize((int(512 * s), int(512 * s)))
        frames.append(np.asarray(im)[8 * k : 8 * k + 384, 16 : 16 + 384])
    write_video(tmp_path / "astro.mp4", frames, fps=25, crf=12)
    hopper = tmp_path / "hopper.png"
    Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB").save(hopper)
    models = Models(faces=DlibFaces("hog", landmarks68=False, landmarks5=True), identity=DlibEmbedder())
    same = evaluate([tmp_path / "astro.mp4"], EvalOptions(metrics=("identity",), progress=False), models)
    other = evaluate([tmp_path / "astro.mp4"], EvalOptions(metrics=("identity",), first_frame=str(hopper), progress=False), models)
    r_same, r_other = same["videos"][0]["metrics"]["identity"], other["videos"][0]["metrics"]["identity"]
    assert r_same["no_face_frames"] == 0 and r_same["n"] == 6
    assert r_same["value"] > 0.97
    assert r_other["value"] < 0.93
    assert "NOT ArcFace" in same["backbones"]["identity"]["backbone"]
    # a cat has no human face: the reference frame has none -> explicit null with a reason
    write_video(tmp_path / "cat.mp4", [skimage_data.chelsea()[:288, :448]] * 3, fps=25)
    cat = evaluate([tmp_path / "cat.mp4"], EvalOptions(metrics=("identity",), progress=False), models)
    r = cat["videos"][0]["metrics"]["identity"]
    assert r["value"] is None and r["reason"] == "no face in the video's first frame" and r["no_face_share"] == 1.0
