"""Identity embeddings: ArcFace (5-point alignment to 112×112, 512-d) or dlib's 128-d ResNet (a different backbone).

ArcFace: landmarks -> Umeyama similarity transform onto insightface's 112×112 template -> bilinear
warp (border 0, like `cv2.warpAffine`) -> RGB, (x − 127.5)/127.5 -> IResNet -> 512-d. The IResNet
here is insightface's `arcface_torch` architecture (r18/r34/r50/r100), loading its `backbone.pth`
weights from a path you give (`--arcface-weights`). insightface's released models (buffalo_l's
w600k_r50, arcface_torch MS1MV3/Glint360K models) are for non-commercial research only.

dlib: `dlib_face_recognition_resnet_model_v1` (shipped by face_recognition_models, public domain),
5-point dlib alignment to a 150×150 chip, 128-d. Its cosines are NOT comparable to ArcFace numbers;
reports name the backbone used.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .faces import Face, import_dlib, models_dir
from .formulas import umeyama

ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def alignment_matrix(five: np.ndarray, size: int = 112) -> np.ndarray:
    """2×3 similarity transform mapping the 5 keypoints onto the ArcFace template (scaled for `size`)."""
    dst = ARCFACE_TEMPLATE * (size / 112.0)
    return umeyama(np.asarray(five, dtype=np.float64), dst)


def warp_affine(img: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """`cv2.warpAffine(img, m, (size, size), borderValue=0)` with bilinear interpolation, in scipy.

    img: uint8 `[H, W, C]`. Output pixel (x, y) samples the input at M⁻¹·(x, y, 1).
    """
    from scipy import ndimage

    a = np.vstack([m, [0, 0, 1]])
    inv = np.linalg.inv(a)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    src_x = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    src_y = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    out = np.empty((size, size, img.shape[2]), dtype=np.float64)
    for c in range(img.shape[2]):
        out[..., c] = ndimage.map_coordinates(img[..., c].astype(np.float64), [src_y, src_x], order=1, mode="constant", cval=0.0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def align_face(img: np.ndarray, five: np.ndarray, size: int = 112) -> np.ndarray:
    """insightface `norm_crop`: the 112×112 aligned RGB face."""
    return warp_affine(img, alignment_matrix(five, size), size)


# --------------------------------------------------------------------------------- IResNet (arcface_torch)

IRESNET_LAYERS = {"r18": [2, 2, 2, 2], "r34": [3, 4, 6, 3], "r50": [3, 4, 14, 3], "r100": [3, 13, 30, 3]}


def build_iresnet(layers: list[int], num_features: int = 512, width: int = 64):
    """insightface `arcface_torch/backbones/iresnet.py` IResNet (state-dict compatible). `width` 64 = reference."""
    import torch
    from torch import nn

    class IBasicBlock(nn.Module):
        def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None) -> None:
            super().__init__()
            self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-05)
            self.conv1 = nn.Conv2d(inplanes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes, eps=1e-05)
            self.prelu = nn.PReLU(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes, eps=1e-05)
            self.downsample = downsample

        def forward(self, x):
            out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
            return out + (self.downsample(x) if self.downsample is not None else x)

    class IResNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = width
            self.inplanes = w
            self.conv1 = nn.Conv2d(3, w, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(w, eps=1e-05)
            self.prelu = nn.PReLU(w)
            self.layer1 = self._make_layer(w, layers[0])
            self.layer2 = self._make_layer(2 * w, layers[1])
            self.layer3 = self._make_layer(4 * w, layers[2])
            self.layer4 = self._make_layer(8 * w, layers[3])
            self.bn2 = nn.BatchNorm2d(8 * w, eps=1e-05)
            self.dropout = nn.Dropout(p=0.0)
            self.fc = nn.Linear(8 * w * 7 * 7, num_features)
            self.features = nn.BatchNorm1d(num_features, eps=1e-05)

        def _make_layer(self, planes: int, blocks: int):
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, 2, bias=False), nn.BatchNorm2d(planes, eps=1e-05))
            mods = [IBasicBlock(self.inplanes, planes, 2, down)]
            self.inplanes = planes
            mods += [IBasicBlock(planes, planes) for _ in range(1, blocks)]
            return nn.Sequential(*mods)

        def forward(self, x):
            x = self.prelu(self.bn1(self.conv1(x)))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            x = torch.flatten(self.bn2(x), 1)
            return self.features(self.fc(self.dropout(x)))

    return IResNet()


def infer_iresnet_layers(state: dict) -> list[int]:
    """Block counts per stage from an arcface_torch state dict (keys `layerK.N.conv1.weight`)."""
    counts = []
    for k in range(1, 5):
        idx = {int(key.split(".")[1]) for key in state if key.startswith(f"layer{k}.") and key.endswith(".conv1.weight")}
        if not idx:
            raise ValueError(f"not an arcface_torch IResNet state dict: no layer{k}.*.conv1.weight")
        counts.append(max(idx) + 1)
    return counts


class ArcFaceEmbedder:
    """512-d ArcFace embeddings of aligned 112×112 faces (IResNet weights from `backbone.pth`)."""

    name = "arcface"

    def __init__(self, model, source: str, device: str = "cpu") -> None:
        self.model = model.eval().to(device)
        self.device = device
        self.source = source

    @classmethod
    def load(cls, weights: str | Path | None, device: str = "cpu") -> "ArcFaceEmbedder":
        import torch

        if weights is None:
            raise FileNotFoundError(
                "the ArcFace identity backbone needs weights: pass --arcface-weights PATH to an insightface "
                "arcface_torch `backbone.pth` (IResNet r50/r100; non-commercial licence), or use "
                "--identity-backend dlib (permissive, ships with `pip install 'gloria[eval]'`, different backbone)"
            )
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"ArcFace weights not found: {path}")
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(f"cannot read ArcFace weights {path}: {err}") from err
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        layers = infer_iresnet_layers(state)
        width = int(state["conv1.weight"].shape[0])
        num_features = int(state["fc.weight"].shape[0])
        model = build_iresnet(layers, num_features, width)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"{path}: not an IResNet state dict (missing {missing[:3]}, unexpected {unexpected[:3]})")
        obj = cls(model, str(path), device)
        obj.layers = layers
        return obj

    def embed(self, items: list[tuple[np.ndarray, Face]]) -> list[np.ndarray]:
        """One embedding per (rgb image, face with `five`)."""
        import torch

        if not items:
            return []
        crops = []
        for img, face in items:
            if face.five is None:
                raise ValueError("ArcFace alignment needs 5 keypoints (use a detector with landmarks)")
            crops.append(align_face(img, face.five, 112))
        x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float()
        x = ((x - 127.5) / 127.5).to(self.device)
        with torch.inference_mode():
            out = self.model(x).float().cpu().numpy()
        return [o.astype(np.float64) for o in out]

    def info(self) -> dict:
        from .backbones import file_sha256

        p = Path(self.source)
        return {
            "backbone": "arcface-iresnet",
            "layers": getattr(self, "layers", None),
            "weights": self.source,
            "sha256": file_sha256(p) if p.is_file() else None,
            "dim": 512,
            "alignment": "umeyama 5-point -> insightface 112x112 template",
            "licence": "insightface models: non-commercial research only",
        }


class DlibEmbedder:
    """dlib's 128-d face ResNet (public domain weights from face_recognition_models); needs `face.shape5`."""

    name = "dlib"

    def __init__(self, num_jitters: int = 0) -> None:
        dlib = import_dlib()
        self._path = models_dir() / "dlib_face_recognition_resnet_model_v1.dat"
        self._net = dlib.face_recognition_model_v1(str(self._path))
        self._dlib = dlib
        self.num_jitters = num_jitters

    def embed(self, items: list[tuple[np.ndarray, Face]]) -> list[np.ndarray]:
        out = []
        for img, face in items:
            if face.shape5 is None:
                raise ValueError("the dlib embedding needs dlib's 5-point shape (DlibFaces(landmarks5=True))")
            d = self._net.compute_face_descriptor(np.ascontiguousarray(img), face.shape5, self.num_jitters)
            out.append(np.asarray(d, dtype=np.float64))
        return out

    def info(self) -> dict:
        return {
            "backbone": "dlib-resnet-128 (NOT ArcFace; scores are not comparable with the paper's Arcface column)",
            "weights": str(self._path),
            "dlib": self._dlib.__version__,
            "dim": 128,
            "alignment": "dlib 5-point face chip 150x150",
            "licence": "dlib model: public domain (CC0)",
        }
