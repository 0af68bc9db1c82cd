"""Frame / chunk / audio arithmetic (pure integer math, hand-computed expectations)."""
from fractions import Fraction

import pytest
import torch

from gloria.pipelines.chunking import (
    blend_overlap, frame_start_sample, frames_for_samples, frames_for_seconds, latent_frames_for, plan_chunks,
    video_frames_of_latents,
)


def test_frames_for_seconds_and_latents():
    assert frames_for_seconds(10, 24) == 240
    assert frames_for_seconds(600, 24) == 14400
    assert frames_for_seconds(1.0, 23.976) == 24  # 23.976 rounds half up
    assert frames_for_samples(16000 * 5, 16000, 24) == 120
    assert frames_for_samples(16000 * 5 - 1, 16000, 24) == 119  # last frame not fully covered
    assert latent_frames_for(1) == 1 and latent_frames_for(81) == 21 and latent_frames_for(82) == 22
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="seconds must be > 0"):
            frames_for_seconds(bad, 24)


def test_plan_10s_at_24fps_chunks_81():
    plan = plan_chunks(240, chunk_frames=81)
    # G = ceil(239/4)+1 = 61 latent frames; chunks of 21 with 4 overlap: starts 0, 17, 34, 51 (last has 10)
    assert plan.latent_frames == 61 and plan.decoded_frames == 241
    assert [(c.start, c.frames, c.overlap) for c in plan.chunks] == [(0, 21, 0), (17, 21, 4), (34, 21, 4), (51, 10, 4)]
    assert [c.final_end for c in plan.chunks] == [17, 34, 51, 61]
    # every latent frame is final exactly once, in order
    ends = [0] + [c.final_end for c in plan.chunks]
    assert all(c.start == e for c, e in zip(plan.chunks, ends))
    # decoded frames of the final ranges tile [0, 241)
    spans = [video_frames_of_latents(a, b) for a, b in zip(ends, ends[1:])]
    assert spans[0] == (0, 65) and spans[-1] == (201, 241)
    assert all(s[1] == t[0] for s, t in zip(spans, spans[1:]))
    assert [c.first_video_frame for c in plan.chunks] == [0, 68, 136, 204]
    assert all(c.video_frames == 4 * (c.frames - 1) + 1 for c in plan.chunks)


@pytest.mark.parametrize("n", [1, 2, 5, 17, 21, 22, 31, 100, 14400])
@pytest.mark.parametrize("chunk", [17, 21, 81])
def test_plan_invariants(n, chunk):
    plan = plan_chunks(n, chunk)
    assert plan.decoded_frames - 3 <= n <= plan.decoded_frames
    assert plan.chunks[-1].end == plan.latent_frames
    for a, b in zip(plan.chunks, plan.chunks[1:]):
        assert b.start == a.end - 4 and a.frames == plan.chunk_latent_frames and b.frames >= 5


def test_plan_bad_chunk_frames():
    with pytest.raises(ValueError, match="4\\*k \\+ 1"):
        plan_chunks(100, 80)
    with pytest.raises(ValueError, match="at least 5"):
        plan_chunks(100, 13)


def test_audio_windows_10_minutes_no_drift():
    fps, sr = 24, 16000
    n = frames_for_seconds(600, fps)
    plan = plan_chunks(n, 81)
    assert len(plan) == 212  # G = 3601 = 21 + 17*211 -> 212 chunks
    for c in plan.chunks:
        g0 = c.first_video_frame
        exact = Fraction(g0, fps) * sr
        start = frame_start_sample(g0, fps, sr)
        assert abs(start - exact) < 1
        end = frame_start_sample(g0 + c.video_frames, fps, sr)
        assert abs(end - Fraction(g0 + c.video_frames, fps) * sr) < 1
    # NTSC rate: exact as well
    for g in (0, 1, 1001, 14385):
        s = frame_start_sample(g, Fraction(24000, 1001), 48000)
        assert 0 <= Fraction(g * 1001, 24000) * 48000 - s < 1


def test_blend_overlap_weights():
    prev = torch.full((1, 2, 4, 1, 1), 10.0)
    nxt = torch.zeros(1, 2, 4, 1, 1)
    out = blend_overlap(prev, nxt)
    assert out[0, 0, :, 0, 0].tolist() == pytest.approx([10.0, 6.7, 3.3, 0.0])
