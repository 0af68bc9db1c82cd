"""Per-frame detectors on the CPU, offline: MediaPipe 0.10.14 (weights inside its wheel) and OpenCV.

`MediaPipeVision`: full-range face detection (boxes), Pose (model_complexity=1, the one bundled
model) for 33 landmarks with visibility, FaceMesh (468 points) for mouth opening.
`OpenCVVision`: HOG people detector + Haar frontal-face cascade (both bundled with OpenCV).
Both count people with `count_people`: faces, plus a body whose box holds no detected face.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 pixels


@dataclass
class FrameObservation:
    """What the detectors saw in one RGB frame."""

    faces: list[tuple[Box, float]]  # (box, score)
    bodies: list[tuple[Box, float]]  # (box, score) of bodies (pose or HOG)
    pose: np.ndarray | None = None  # [33, 4] x, y (0..1), z, visibility (MediaPipe only)

    @property
    def num_people(self) -> int:
        return count_people(self.faces, self.bodies)


def _inside(pt: tuple[float, float], box: Box) -> bool:
    return box[0] <= pt[0] <= box[2] and box[1] <= pt[1] <= box[3]


def count_people(faces: list[tuple[Box, float]], bodies: list[tuple[Box, float]]) -> int:
    """Each face is a person; each body box containing no face centre adds one (a back view)."""
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b, _ in faces]
    extra = sum(1 for b, _ in bodies if not any(_inside(c, b) for c in centres))
    return len(faces) + extra


def clip_box(box, width: int, height: int, margin: float = 0.0) -> Box:
    x0, y0, x1, y1 = box
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    b = (int(max(0, np.floor(x0 - mx))), int(max(0, np.floor(y0 - my))),
         int(min(width, np.ceil(x1 + mx))), int(min(height, np.ceil(y1 + my))))
    if b[2] <= b[0] or b[3] <= b[1]:
        raise ValueError(f"empty box {box} in a {width}x{height} frame")
    return b


class MediaPipeVision:
    name = "mediapipe"

    def __init__(self, min_face_score: float = 0.6, pose: bool = True, mesh: bool = False):
        import mediapipe as mp

        self._mp = mp
        self.face = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_face_score)
        # model_complexity=1 is the only Pose model inside the 0.10.14 wheel (0 and 2 are downloaded)
        self.pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) if pose else None
        self.mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1) if mesh else None

    def observe(self, rgb: np.ndarray) -> FrameObservation:
        h, w = rgb.shape[:2]
        rgb = np.ascontiguousarray(rgb)
        faces = []
        res = self.face.process(rgb)
        for d in res.detections or []:
            bb = d.location_data.relative_bounding_box
            box = (bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h)
            try:
                faces.append((clip_box(box, w, h), float(d.score[0])))
            except ValueError:
                continue
        bodies, pose = [], None
        if self.pose is not None:
            r = self.pose.process(rgb)
            if r.pose_landmarks is not None:
                pose = np.array([[p.x, p.y, p.z, p.visibility] for p in r.pose_landmarks.landmark], np.float32)
                vis = pose[:, 3] > 0.5
                if vis[[11, 12]].all():
                    pts = pose[vis, :2] * np.array([w, h])
                    try:
                        box = clip_box((*pts.min(0), *pts.max(0)), w, h, margin=0.1)
                        bodies.append((box, float(pose[[11, 12], 3].mean())))
                    except ValueError:
                        pass
        return FrameObservation(faces, bodies, pose)

    def mouth_opening(self, rgb: np.ndarray) -> float:
        """Inner-lip gap (landmarks 13-14) / face height (10-152); NaN without a face."""
        r = self.mesh.process(np.ascontiguousarray(rgb))
        if not r.multi_face_landmarks:
            return float("nan")
        lm = r.multi_face_landmarks[0].landmark
        h, w = rgb.shape[:2]
        p = lambda i: np.array([lm[i].x * w, lm[i].y * h])  # noqa: E731
        face_h = np.linalg.norm(p(10) - p(152))
        return float(np.linalg.norm(p(13) - p(14)) / face_h) if face_h > 0 else float("nan")

    def close(self) -> None:
        for m in (self.face, self.pose, self.mesh):
            if m is not None:
                m.close()


class OpenCVVision:
    name = "opencv"

    def __init__(self, hog_min_weight: float = 1.0):
        import cv2

        self.cv2 = cv2
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.haar = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        self.min_weight = hog_min_weight

    def observe(self, rgb: np.ndarray) -> FrameObservation:
        h, w = rgb.shape[:2]
        gray = self.cv2.cvtColor(rgb, self.cv2.COLOR_RGB2GRAY)
        faces = [((int(x), int(y), int(x + fw), int(y + fh)), 1.0)
                 for x, y, fw, fh in self.haar.detectMultiScale(gray, 1.1, 5, minSize=(24, 24))]
        rects, weights = self.hog.detectMultiScale(gray, winStride=(8, 8))
        bodies = [((int(x), int(y), int(min(w, x + bw)), int(min(h, y + bh))), float(s))
                  for (x, y, bw, bh), s in zip(rects, np.ravel(weights)) if s >= self.min_weight]
        return FrameObservation(faces, bodies, None)

    def close(self) -> None:
        pass
