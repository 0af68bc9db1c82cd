"""Streaming VAE decode = one-shot decode; anchor image rules; segment + mux round trip."""
from fractions import Fraction

import numpy as np
import pytest
import torch
from PIL import Image

from gloria.pipelines.anchor_set import AnchorSet, cover_crop, denormalize_latents, fit_crop, load_rgb_image
from gloria.pipelines.video_io import StreamingVAEDecoder, assemble_mp4, read_video_frames, write_segment


@pytest.fixture(scope="module")
def vae():
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    return AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                            temperal_downsample=[False, True, True]).eval()


@pytest.mark.parametrize("tiled", [False, True])
def test_streaming_decode_equals_full_decode(vae, tiled):
    torch.manual_seed(1)
    z = torch.randn(1, 16, 5, 4, 6)
    if tiled:  # 2 x 3 tiles of 3x3 latents, stride 2
        vae.enable_tiling(tile_sample_min_height=24, tile_sample_min_width=24, tile_sample_stride_height=16,
                          tile_sample_stride_width=16)
    try:
        with torch.no_grad():
            full = vae.decode(denormalize_latents(vae, z)).sample
            dec = StreamingVAEDecoder(vae)
            parts = [dec.decode(z[:, :, a:b]) for a, b in ((0, 2), (2, 3), (3, 5))]
    finally:
        vae.disable_tiling()
    assert [p.shape[2] for p in parts] == [5, 4, 8]  # 1 + 4, 4, 4*2 -> 17 = 4*(5-1)+1
    torch.testing.assert_close(torch.cat(parts, 2), full, rtol=0, atol=1e-5)


def test_image_rules(tmp_path):
    im = Image.new("RGB", (100, 50), (10, 20, 30))
    assert cover_crop(im, 32, 48).size == (48, 32)
    assert fit_crop(im, (48, 48), 16).size == (48, 16)  # 48x24 fitted, height 24 -> 16
    tall = Image.new("RGB", (30, 90))
    assert fit_crop(tall, (64, 64), 16).size == (16, 64)  # 21x64 -> width 16
    gray = tmp_path / "g.png"
    Image.new("L", (8, 8)).save(gray)
    with pytest.raises(ValueError, match="mode 'L'"):
        load_rgb_image(gray)
    rgba = Image.new("RGBA", (8, 8), (1, 2, 3, 255))
    assert load_rgb_image(rgba).mode == "RGB"
    with pytest.raises(ValueError, match="transparent"):
        load_rgb_image(Image.new("RGBA", (8, 8), (1, 2, 3, 0)))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read image"):
        load_rgb_image(bad)
    with pytest.raises(FileNotFoundError, match="image not found"):
        load_rgb_image(tmp_path / "missing.png")


def test_anchor_set_rules():
    s = AnchorSet().add(Image.new("RGB", (64, 64)), "viewpoint", "back")
    with pytest.raises(ValueError, match="duplicate viewpoint"):
        s.add(Image.new("RGB", (64, 64)), "viewpoint", "back")
    with pytest.raises(ValueError, match="unknown viewpoint category"):
        s.add(Image.new("RGB", (64, 64)), "viewpoint", "up")
    s.add(Image.new("RGB", (40, 80)), "expression", "happy").add(Image.new("RGB", (10, 10)), "global")
    sizes = [(a.type, im.size) for a, im in s.prepared(32, 64, 16, expression_size=(32, 32))]
    assert sizes == [("viewpoint", (32, 32)), ("expression", (16, 32)), ("global", (64, 32))]
    with pytest.raises(ValueError, match="smaller than 16 px"):
        s.prepared(32, 64, 16)  # default expression box 16x16: the 40x80 face would be 8 px wide


def test_segments_mux_exact_frames_and_audio(tmp_path):
    from gloria.pipelines.audio import AudioInput

    rng = np.random.default_rng(0)
    segs = [write_segment(tmp_path / f"s{k}.mp4", rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8), Fraction(24))
            for k, n in enumerate([9, 8, 3])]
    wave = np.sin(np.arange(20000) / 7).astype(np.float32)
    out = assemble_mp4(segs, tmp_path / "o.mp4", Fraction(24), 20, AudioInput(wave, 16000, None, wave, 16000))
    assert read_video_frames(out).shape == (20, 32, 32, 3)
    import av

    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        assert a.codec_context.name == "aac"
        # trimmed to the video's 20/24 s = 13334 samples (AAC frames are 1024 samples; the MP4 edit list
        # records the exact length up to the muxer's rounding)
        assert abs(a.duration * a.time_base * 16000 - 13334) < 32, a.duration
    assert not list(tmp_path.glob(".o.mp4*"))


@pytest.mark.parametrize("n, window", [(1, 7), (5, 7), (23, 7), (30, 64)])
def test_streaming_vae_round_trip_equals_whole_video_encode(n, window):
    """vae_round_trip (windows, causal caches carried over) = diffusers' encode of the whole video + the decoder."""
    from pipeline_helpers import tiny_components

    from gloria.pipelines.anchor_set import normalize_latents
    from gloria.pipelines.video_io import StreamingVAEDecoder, to_uint8_frames, vae_round_trip

    vae = tiny_components("i2v", audio=False)["vae"]
    frames = np.random.default_rng(n).integers(0, 255, (n, 32, 32, 3), dtype=np.uint8)
    got = np.concatenate(list(vae_round_trip(vae, frames, window=window)))
    g = -(-(n - 1) // 4) + 1
    padded = np.concatenate([frames, np.repeat(frames[-1:], 4 * (g - 1) + 1 - n, 0)])
    with torch.no_grad():
        z = vae.encode(torch.from_numpy(padded).permute(3, 0, 1, 2)[None].float() / 127.5 - 1).latent_dist.mode()
        ref = to_uint8_frames(StreamingVAEDecoder(vae).decode(normalize_latents(vae, z.float())))[:n]
    assert got.shape == frames.shape and np.array_equal(got, ref)
