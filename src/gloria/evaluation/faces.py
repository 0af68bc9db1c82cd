"""A small shared face detector (dlib) for evaluation and, if wanted, the data pipeline.

`DlibFaces` finds faces with dlib's HOG detector (or the CNN "mmod" detector) and predicts landmarks
with the models shipped by the `face_recognition_models` package (install: `pip install
'gloria[eval]'`, which brings `dlib-bin` and `face_recognition_models`; nothing is downloaded at
run time). Licences: dlib and its HOG/mmod detectors, the 5-point predictor and the 128-d ResNet
are free for any use; the 68-point predictor was trained on iBUG 300-W data (non-commercial).

`Face.five` is always in ArcFace/insightface order: left eye centre, right eye centre, nose tip,
left mouth corner, right mouth corner (image left/right; x, y pixels).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Face:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 pixels
    score: float
    five: np.ndarray | None = None  # [5, 2] ArcFace-order keypoints (needs the 68-point predictor)
    shape5: object | None = None  # dlib full_object_detection from the 5-point predictor (dlib embedding)

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


def five_from_68(pts68: np.ndarray) -> np.ndarray:
    """ArcFace 5 keypoints from the iBUG 68 landmarks: eye centres (36–41, 42–47), nose tip 30, mouth corners 48, 54."""
    p = np.asarray(pts68, dtype=np.float64)
    if p.shape != (68, 2):
        raise ValueError(f"expected [68, 2] landmarks, got {p.shape}")
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])


def models_dir() -> Path:
    """Folder of the dlib model files shipped by `face_recognition_models` (no import: it needs pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the dlib face models are not installed: `pip install 'gloria[eval]'` "
            "(or `pip install dlib-bin face_recognition_models`)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def import_dlib():
    try:
        import dlib
    except ImportError as err:
        raise ImportError("dlib is not installed: `pip install 'gloria[eval]'` (or `pip install dlib-bin`)") from err
    return dlib


class DlibFaces:
    """dlib face detection + landmarks. `detect(rgb)` -> faces, most confident first.

    detector: "hog" (fast, frontal faces) or "cnn" (mmod, slower, more poses). upsample: dlib's
    upsampling count (1 finds faces down to ~40 px). landmarks68: also compute ArcFace keypoints.
    """

    def __init__(self, detector: str = "hog", upsample: int = 1, landmarks68: bool = True, landmarks5: bool = True) -> None:
        dlib = import_dlib()
        d = models_dir()
        if detector == "hog":
            self._det = dlib.get_frontal_face_detector()
            self._cnn = False
        elif detector == "cnn":
            self._det = dlib.cnn_face_detection_model_v1(str(d / "mmod_human_face_detector.dat"))
            self._cnn = True
        else:
            raise ValueError(f"unknown face detector {detector!r}; expected 'hog' or 'cnn'")
        self.detector = detector
        self.upsample = int(upsample)
        self._sp68 = dlib.shape_predictor(str(d / "shape_predictor_68_face_landmarks.dat")) if landmarks68 else None
        self._sp5 = dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat")) if landmarks5 else None
        self._dlib = dlib

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an RGB uint8 `[H, W, 3]` image, most confident first."""
        img = np.ascontiguousarray(rgb, dtype=np.uint8)
        faces: list[Face] = []
        if self._cnn:
            rects = [(d.rect, float(d.confidence)) for d in self._det(img, self.upsample)]
        else:
            dets, scores, _ = self._det.run(img, self.upsample, 0.0)
            rects = list(zip(dets, [float(s) for s in scores]))
        for r, score in rects:
            face = Face((float(r.left()), float(r.top()), float(r.right() + 1), float(r.bottom() + 1)), score)
            if self._sp68 is not None:
                s = self._sp68(img, r)
                face.five = five_from_68(np.array([[s.part(i).x, s.part(i).y] for i in range(68)], dtype=np.float64))
            if self._sp5 is not None:
                face.shape5 = self._sp5(img, r)
            faces.append(face)
        faces.sort(key=lambda f: -f.score)  # most confident first (HOG false positives score low)
        return faces

    def info(self) -> dict:
        return {"library": "dlib", "version": self._dlib.__version__, "detector": self.detector, "upsample": self.upsample}


def detect_scaled(detector, rgb: np.ndarray, max_side: int | None = 640) -> list[Face]:
    """Run `detector.detect` on a copy downscaled so its longer side is <= max_side; boxes, keypoints and
    dlib shapes are mapped back to `rgb`'s pixel coordinates (detection cost stays bounded on HD video)."""
    h, w = rgb.shape[:2]
    scale = 1.0 if not max_side or max(h, w) <= max_side else max_side / max(h, w)
    if scale == 1.0:
        return detector.detect(rgb)
    from PIL import Image

    small = np.asarray(Image.fromarray(rgb).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR))
    faces = detector.detect(small)
    inv = 1.0 / scale
    for f in faces:
        f.box = tuple(float(v) * inv for v in f.box)
        if f.five is not None:
            f.five = f.five * inv
        if f.shape5 is not None:
            f.shape5 = _scale_shape(f.shape5, inv)
    return faces


def _scale_shape(shape, k: float):
    dlib = import_dlib()
    r = shape.rect
    rect = dlib.rectangle(int(round(r.left() * k)), int(round(r.top() * k)), int(round(r.right() * k)), int(round(r.bottom() * k)))
    pts = dlib.points()
    for i in range(shape.num_parts):
        p = shape.part(i)
        pts.append(dlib.point(int(round(p.x * k)), int(round(p.y * k))))
    return dlib.full_object_detection(rect, pts)
