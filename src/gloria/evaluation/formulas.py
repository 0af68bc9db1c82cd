"""Exact metric formulas on feature vectors (no models): the parts every reference implementation shares.

Everything here works on plain arrays so that it can be tested against hand-computed values:

* VBench subject / background consistency: per-frame scores `s_i` and the pair-weighted aggregation.
* DreamBooth-style CLIP-I / DINO-I and identity cosines.
* SyncNet LSE-C / LSE-D / AV offset from embedding distances over offsets -vshift..+vshift.
* The Fréchet distance (FID / FVD) and streaming mean/covariance accumulation.
* Umeyama's least-squares similarity transform (ArcFace 5-point alignment).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# --------------------------------------------------------------------------------------------- cosines


def l2_normalize(x: np.ndarray, axis: int = -1, eps: float = 1e-12) -> np.ndarray:
    """Rows of `x` scaled to unit L2 norm (like `torch.nn.functional.normalize`, eps 1e-12)."""
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), eps)


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarities `[len(a), len(b)]` between the rows of `a` `[N, D]` and `b` `[M, D]`."""
    return l2_normalize(np.atleast_2d(a)) @ l2_normalize(np.atleast_2d(b)).T


# ----------------------------------------------------------------------------- VBench consistency


class ConsistencyAccumulator:
    """VBench subject/background consistency, streamed over frame batches.

    For frames i >= 1: s_i = ½[max(0, cos(f_{i-1}, f_i)) + max(0, cos(f_0, f_i))]. Only f_0 and the
    previous feature are kept, so memory does not grow with the video. `scores[k]` is s_i of frame
    `frame_indices[k]` (frame 0 has no score). Video score = Σ s_i / (N − 1).
    """

    def __init__(self) -> None:
        self.first: np.ndarray | None = None
        self.prev: np.ndarray | None = None
        self.scores: list[float] = []
        self.frame_indices: list[int] = []
        self._n_seen = 0

    def update(self, feats: np.ndarray, frame_indices: list[int] | None = None) -> None:
        """Add features `[B, D]` of the next B frames (in order)."""
        feats = l2_normalize(np.asarray(feats, dtype=np.float64))
        if frame_indices is None:
            frame_indices = list(range(self._n_seen, self._n_seen + len(feats)))
        for f, idx in zip(feats, frame_indices):
            if self.first is None:
                self.first = f
            else:
                s_prev = max(0.0, float(self.prev @ f))
                s_first = max(0.0, float(self.first @ f))
                self.scores.append(0.5 * (s_prev + s_first))
                self.frame_indices.append(int(idx))
            self.prev = f
        self._n_seen += len(feats)

    @property
    def pairs(self) -> int:
        return len(self.scores)

    @property
    def total(self) -> float:
        return float(sum(self.scores))

    def value(self) -> float:
        """Σ s_i / (N − 1); NaN when the video has fewer than 2 frames."""
        return self.total / self.pairs if self.pairs else float("nan")


def consistency_scores(feats: np.ndarray) -> np.ndarray:
    """All s_i (i = 1..N-1) of one video's features `[N, D]` (see ConsistencyAccumulator)."""
    acc = ConsistencyAccumulator()
    acc.update(feats)
    return np.asarray(acc.scores)


def pair_weighted_mean(totals: list[float], pairs: list[int]) -> float:
    """VBench's set aggregation: Σ_videos Σ_i s_i / Σ_videos pairs (not a mean of video means)."""
    n = int(sum(pairs))
    return float(sum(totals)) / n if n else float("nan")


# ------------------------------------------------------------------------------------------ SyncNet


def calc_pdist(feat_v: np.ndarray, feat_a: np.ndarray, vshift: int = 15) -> np.ndarray:
    """SyncNet's `calc_pdist`: distances `[T, 2*vshift+1]` between video window t and audio window t+k.

    Audio features are zero-padded by `vshift` rows on both sides (as the reference does), and the
    distance is `torch.nn.functional.pairwise_distance` (‖v − a + 1e-6‖₂).
    """
    feat_v = np.asarray(feat_v, dtype=np.float64)
    feat_a = np.asarray(feat_a, dtype=np.float64)
    win = 2 * vshift + 1
    pad = np.pad(feat_a, ((vshift, vshift), (0, 0)))
    out = np.empty((len(feat_v), win))
    for i in range(len(feat_v)):
        out[i] = np.linalg.norm(feat_v[i][None, :] - pad[i : i + win] + 1e-6, axis=1)
    return out


@dataclass
class SyncResult:
    """LSE-D (min mean distance, lower is better), LSE-C (median − min, higher is better), AV offset (frames)."""

    lse_d: float
    lse_c: float
    offset: int
    mean_dists: list[float] = field(default_factory=list)


def sync_from_dists(dists: np.ndarray, vshift: int = 15) -> SyncResult:
    """Reduce a distance matrix `[T, 2*vshift+1]` (rows: video windows, columns: offsets) as SyncNet does.

    mdist = mean over windows per offset; LSE-D = min(mdist); LSE-C = median(mdist) − min(mdist);
    offset = vshift − argmin(mdist). The median is torch's (the lower of the two middle values).
    """
    dists = np.asarray(dists, dtype=np.float64)
    if dists.ndim != 2 or dists.shape[1] != 2 * vshift + 1 or len(dists) == 0:
        raise ValueError(f"distance matrix must be [T>0, {2 * vshift + 1}], got {dists.shape}")
    mdist = dists.mean(axis=0)
    minidx = int(np.argmin(mdist))
    minval = float(mdist[minidx])
    median = float(np.sort(mdist)[(len(mdist) - 1) // 2])  # torch.median: lower middle value
    return SyncResult(lse_d=minval, lse_c=median - minval, offset=vshift - minidx, mean_dists=mdist.tolist())


# ------------------------------------------------------------------------------------------ Fréchet


class GaussianStats:
    """Streaming mean and (unbiased, N−1) covariance of feature rows; memory O(D²), not O(N)."""

    def __init__(self) -> None:
        self.n = 0
        self._sum: np.ndarray | None = None
        self._outer: np.ndarray | None = None
        self._shift: np.ndarray | None = None  # first row, subtracted for numerical stability

    def update(self, feats: np.ndarray) -> None:
        feats = np.atleast_2d(np.asarray(feats, dtype=np.float64))
        if len(feats) == 0:
            return
        if self._shift is None:
            self._shift = feats[0].copy()
            d = feats.shape[1]
            self._sum = np.zeros(d)
            self._outer = np.zeros((d, d))
        x = feats - self._shift
        self._sum += x.sum(0)
        self._outer += x.T @ x
        self.n += len(feats)

    @property
    def mu(self) -> np.ndarray:
        if self.n == 0:
            raise ValueError("no features accumulated")
        return self._shift + self._sum / self.n

    @property
    def sigma(self) -> np.ndarray:
        if self.n < 2:
            raise ValueError(f"a covariance needs at least 2 feature rows, got {self.n}")
        m = self._sum / self.n
        return (self._outer - self.n * np.outer(m, m)) / (self.n - 1)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6) -> float:
    """‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½), as pytorch-fid / StyleGAN-V compute it.

    If the product's square root is not finite, `eps·I` is added to both covariances (pytorch-fid's
    fallback); a small imaginary part from numerical error is dropped.
    """
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(mu1)) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag))} in the covariance square root")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


# ------------------------------------------------------------------------------- similarity transform


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) mapping `src` to `dst`.

    Umeyama (1991), as `skimage.transform.SimilarityTransform.estimate` (used by insightface's
    `norm_crop`). Points are `[K, 2]` (x, y). Returns the 2×3 matrix `M` with dst ≈ M @ [x, y, 1].
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need matching point sets [K>=2, 2], got {src.shape} and {dst.shape}")
    n, dim = src.shape
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    a = dst_c.T @ src_c / n
    d = np.ones(dim)
    if np.linalg.det(a) < 0:
        d[dim - 1] = -1
    u, s, vt = np.linalg.svd(a)
    rank = np.linalg.matrix_rank(a)
    if rank == 0:
        raise ValueError("degenerate point set (all points coincide)")
    t = np.eye(dim + 1)
    if rank == dim - 1:
        if np.linalg.det(u) * np.linalg.det(vt) > 0:
            t[:dim, :dim] = u @ vt
        else:
            s_ = d[dim - 1]
            d[dim - 1] = -1
            t[:dim, :dim] = u @ np.diag(d) @ vt
            d[dim - 1] = s_
    else:
        t[:dim, :dim] = u @ np.diag(d) @ vt
    scale = 1.0 / src_c.var(axis=0).sum() * (s @ d)
    t[:dim, dim] = dst_mean - scale * (t[:dim, :dim] @ src_mean)
    t[:dim, :dim] *= scale
    return t[:2]


def nan_reason(reason: str) -> dict:
    """A metric value that could not be computed: JSON `null` plus the reason (documented as NaN)."""
    return {"value": None, "reason": reason}


def finite_or_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)
