"""Exact formula tests on fixed feature vectors (hand-computed values)."""
from __future__ import annotations

import numpy as np
import pytest

from gloria.evaluation.formulas import (
    ConsistencyAccumulator,
    GaussianStats,
    calc_pdist,
    consistency_scores,
    frechet_distance,
    pair_weighted_mean,
    sync_from_dists,
    umeyama,
)


def test_vbench_consistency_hand_computed():
    # cos(f0,f1)=0.6, cos(f1,f2)=0.8, cos(f0,f2)=0 ; f3 = -f2: cos(f2,f3)=-1 -> 0, cos(f0,f3)=0
    f = np.array([[1, 0], [0.6, 0.8], [0, 1], [0, -1]]) * np.array([[2], [5], [1], [3]])  # norms must not matter
    s = consistency_scores(f)
    np.testing.assert_allclose(s, [0.6, 0.4, 0.0], atol=1e-12)
    acc = ConsistencyAccumulator()
    acc.update(f[:1])
    acc.update(f[1:3])
    acc.update(f[3:])  # streamed in batches = the same
    assert acc.pairs == 3 and acc.frame_indices == [1, 2, 3]
    assert acc.value() == pytest.approx(1.0 / 3)
    one = ConsistencyAccumulator()
    one.update(f[:1])
    assert one.pairs == 0 and np.isnan(one.value())


def test_set_score_weighted_by_pairs_not_mean_of_means():
    # video A: 3 frames, s = [0.5, 0.5] (total 1.0, 2 pairs); video B: 2 frames, s = [0.9]
    assert pair_weighted_mean([1.0, 0.9], [2, 1]) == pytest.approx(1.9 / 3)
    assert pair_weighted_mean([1.0, 0.9], [2, 1]) != pytest.approx((0.5 + 0.9) / 2)
    assert np.isnan(pair_weighted_mean([], []))


def test_frechet_identical_sets_is_zero():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6))
    mu, sig = x.mean(0), np.cov(x, rowvar=False)
    assert frechet_distance(mu, sig, mu, sig) == pytest.approx(0.0, abs=1e-8)


def test_frechet_shifted_means_closed_form():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 5))
    sig = np.cov(x, rowvar=False)
    d = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    assert frechet_distance(x.mean(0), sig, x.mean(0) + d, sig) == pytest.approx(float(d @ d), rel=1e-7)
    # diagonal covariances: Σ (√a − √b)² + ‖Δμ‖²
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expect = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + 2.0**2
    assert frechet_distance(np.zeros(3), np.diag(a), np.array([0, 2.0, 0]), np.diag(b)) == pytest.approx(expect, rel=1e-9)
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


def test_streaming_gaussian_stats_match_numpy():
    rng = np.random.default_rng(2)
    x = rng.normal(loc=100.0, size=(57, 4))
    st = GaussianStats()
    for i in range(0, 57, 10):
        st.update(x[i : i + 10])
    assert st.n == 57
    np.testing.assert_allclose(st.mu, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(st.sigma, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-12)
    one = GaussianStats()
    one.update(x[:1])
    with pytest.raises(ValueError, match="at least 2"):
        one.sigma


def test_calc_pdist_matches_reference_padding():
    fv = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    fa = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    d = calc_pdist(fv, fa, vshift=1)  # columns: audio t-1, t, t+1 (zero-padded)
    assert d.shape == (3, 3)
    eps = 1e-6
    # row 0: audio[-1]=0 -> ‖(1,0)+eps‖, audio[0] -> ‖eps‖, audio[1]=(0,1) -> ‖(1,-1)+eps‖
    np.testing.assert_allclose(d[0], [np.hypot(1 + eps, eps), np.hypot(eps, eps), np.hypot(1 + eps, -1 + eps)], rtol=1e-12)
    assert d[:, 1].max() < 1e-5  # aligned windows coincide


def test_calc_pdist_equals_syncnet_reference_code():
    import torch

    rng = np.random.default_rng(4)
    fv, fa = rng.normal(size=(9, 16)), rng.normal(size=(9, 16))
    vshift = 3
    # syncnet_python SyncNetInstance.calc_pdist, verbatim
    feat1, feat2 = torch.from_numpy(fv), torch.from_numpy(fa)
    win_size = vshift * 2 + 1
    feat2p = torch.nn.functional.pad(feat2, (0, 0, vshift, vshift))
    ref = [torch.nn.functional.pairwise_distance(feat1[[i], :].repeat(win_size, 1), feat2p[i : i + win_size, :]) for i in range(len(feat1))]
    np.testing.assert_allclose(calc_pdist(fv, fa, vshift), torch.stack(ref).numpy(), rtol=1e-12)
    mdist = torch.mean(torch.stack(ref, 1), 1)
    minval, minidx = torch.min(mdist, 0)
    r = sync_from_dists(calc_pdist(fv, fa, vshift), vshift)
    assert r.offset == vshift - int(minidx)
    assert r.lse_d == pytest.approx(float(minval))
    assert r.lse_c == pytest.approx(float(torch.median(mdist) - minval))


def test_sync_from_known_distance_matrix():
    vshift = 15
    mdist = np.linspace(12.0, 9.0, 31)  # decreasing ... then set a clear minimum at column 18
    mdist[18] = 5.0
    dists = np.tile(mdist, (4, 1)) + np.array([[0.5], [-0.5], [0.25], [-0.25]])  # row noise averages out
    r = sync_from_dists(dists, vshift)
    assert r.offset == 15 - 18 == -3
    assert r.lse_d == pytest.approx(5.0)
    median = np.sort(mdist)[15]  # torch.median of 31 values: the 16th smallest
    assert r.lse_c == pytest.approx(median - 5.0)
    with pytest.raises(ValueError, match=r"\[T>0, 31\]"):
        sync_from_dists(np.zeros((3, 30)), vshift)


def test_torch_median_convention_even_length():
    # with an even count torch.median returns the lower middle value (not the average)
    r = sync_from_dists(np.array([[4.0, 1.0, 3.0]]), vshift=1)
    assert r.lse_c == pytest.approx(3.0 - 1.0)
    assert r.offset == 1 - 1 == 0


def test_umeyama_recovers_a_similarity_transform():
    src = np.array([[10.0, 20.0], [50.0, 22.0], [30.0, 40.0], [15.0, 60.0], [45.0, 61.0]])
    ang, s, t = 0.3, 1.7, np.array([5.0, -3.0])
    r = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = s * src @ r.T + t
    m = umeyama(src, dst)
    np.testing.assert_allclose(m[:, :2], s * r, atol=1e-10)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-9)
    with pytest.raises(ValueError):
        umeyama(src[:1], dst[:1])


def test_umeyama_equals_skimage():
    transform = pytest.importorskip("skimage.transform")
    rng = np.random.default_rng(3)
    src = rng.uniform(0, 200, size=(5, 2))
    dst = rng.uniform(0, 112, size=(5, 2))
    tf = transform.SimilarityTransform()
    tf.estimate(src, dst)
    np.testing.assert_allclose(umeyama(src, dst), tf.params[:2], atol=1e-9)
