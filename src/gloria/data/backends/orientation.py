"""Body orientation -> viewpoint (paper §3, §7.1).

Camera frame: OpenCV convention, x right, y down, z away from the camera. A person's *forward* is
the direction their chest faces. yaw = atan2(f_x, -f_z) in degrees: 0 when facing the camera
(forward = (0, 0, -1)), +-180 when facing away, +90 when facing image-right (the camera then sees
the person's RIGHT side: viewpoint "right"), -90 when facing image-left (viewpoint "left").

Two sources of forward:
* `forward_from_landmarks`: MediaPipe Pose image landmarks (x, y in [0, 1] of width/height,
  z in the units of x, smaller = closer): forward ~ (L_shoulder - R_shoulder) x (shoulder_mid - hip_mid).
* `forward_from_gvhmr`: GVHMR / SMPL `smpl_params_incam.global_orient` (axis-angle, camera frame);
  the SMPL root's local +Z is the body's forward, so forward = R(global_orient)[:, 2].
"""
from __future__ import annotations

import numpy as np

L_SHOULDER, R_SHOULDER, L_HIP, R_HIP = 11, 12, 23, 24
FACE_POINTS = (0, 2, 5, 7, 8)  # nose, eyes, ears


def forward_from_landmarks(lm: np.ndarray, width: int, height: int) -> np.ndarray:
    """lm: [33, >=3] MediaPipe Pose image landmarks (x, y, z[, visibility]) -> unit forward [3] (camera frame)."""
    p = np.asarray(lm, np.float64)[:, :3] * np.array([width, height, width], np.float64)
    across = p[L_SHOULDER] - p[R_SHOULDER]
    up = (p[L_SHOULDER] + p[R_SHOULDER]) / 2 - (p[L_HIP] + p[R_HIP]) / 2
    f = np.cross(across, up)
    n = np.linalg.norm(f)
    if n < 1e-9:
        raise ValueError("degenerate torso landmarks (shoulders and hips collinear)")
    return f / n


def forward_from_gvhmr(global_orient: np.ndarray) -> np.ndarray:
    """global_orient: axis-angle [..., 3] (SMPL root in OpenCV camera coords) -> forward [..., 3]."""
    from scipy.spatial.transform import Rotation

    go = np.asarray(global_orient, np.float64)
    R = Rotation.from_rotvec(go.reshape(-1, 3)).as_matrix()
    return R[:, :, 2].reshape(go.shape)


def yaw_deg(forward: np.ndarray) -> np.ndarray:
    """Angle between the person's forward and the direction towards the camera, signed (degrees, (-180, 180])."""
    f = np.asarray(forward, np.float64)
    return np.degrees(np.arctan2(f[..., 0], -f[..., 2]))


def classify_yaw(yaw: float, front_max_deg: float = 45.0, back_min_deg: float = 135.0) -> str:
    """front if |yaw| <= front_max_deg, back if |yaw| >= back_min_deg, else right (yaw > 0) / left."""
    a = abs(float(yaw))
    if a <= front_max_deg:
        return "front"
    if a >= back_min_deg:
        return "back"
    return "right" if yaw > 0 else "left"


def bin_confidence(yaw: float, category: str, front_max_deg: float = 45.0, back_min_deg: float = 135.0) -> float:
    """1 at the centre of the category's yaw bin (0, +-90, 180), falling linearly to 0 at its edge."""
    a = abs(float(yaw))
    if category == "front":
        return max(0.0, 1 - a / front_max_deg) if front_max_deg > 0 else 1.0
    if category == "back":
        return max(0.0, 1 - (180 - a) / (180 - back_min_deg)) if back_min_deg < 180 else 1.0
    half = max(90 - front_max_deg, back_min_deg - 90)
    return max(0.0, 1 - abs(a - 90) / half)


def viewpoint_from_landmarks(lm: np.ndarray, width: int, height: int, front_max_deg: float = 45.0,
                             back_min_deg: float = 135.0, max_face_visibility_back: float = 0.2
                             ) -> tuple[str, float, float]:
    """(category, yaw, confidence) from one frame's pose landmarks [33, 4].

    Monocular pose models tend to mirror a back view into a front one; when every face landmark
    (nose, eyes, ears) has visibility below `max_face_visibility_back` the yaw is flipped to the back.
    """
    yaw = float(yaw_deg(forward_from_landmarks(lm, width, height)))
    lm = np.asarray(lm)
    if lm.shape[1] >= 4 and abs(yaw) < 90 and float(lm[list(FACE_POINTS), 3].max()) < max_face_visibility_back:
        yaw = (180.0 - abs(yaw)) * (1 if yaw >= 0 else -1)
    cat = classify_yaw(yaw, front_max_deg, back_min_deg)
    return cat, yaw, bin_confidence(yaw, cat, front_max_deg, back_min_deg)
