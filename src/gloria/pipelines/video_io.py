"""Streaming VAE decoding and MP4 output (PyAV).

* `StreamingVAEDecoder` decodes the video's latent frames in order, a few at a time, keeping the Wan
  VAE decoder's causal-convolution caches between calls. This is exactly what `AutoencoderKLWan.decode`
  does inside one call (it also decodes latent frame by latent frame with the same caches), so the frames
  equal decoding the whole latent video at once (tested), with memory independent of its length.
  With `vae.enable_tiling()` each spatial tile keeps its own caches, as in `tiled_decode`.
* Each chunk's final frames are encoded right away into their own H.264 segment (a fresh encoder per
  segment, so a segment's bytes depend only on its frames: this is what makes `--resume` reproduce an
  uninterrupted run byte for byte). `assemble_mp4` remuxes the segments (no re-encoding) into one MP4,
  encodes the audio to AAC and interleaves it, writing to a temporary name that is renamed at the end.
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from gloria.pipelines.anchor_set import denormalize_latents


class StreamingVAEDecoder:
    """Decode `[1, C, n, h, w]` normalised latent frames incrementally (first call starts the video)."""

    def __init__(self, vae):
        self.vae = vae
        self.frames_done = 0           # latent frames decoded so far
        self.caches: dict = {}         # tile key -> list of cached features (WanCausalConv3d feat_cache)

    def state_dict(self) -> dict:
        return {"frames_done": self.frames_done, "caches": self.caches}

    def load_state_dict(self, state: dict) -> None:
        self.frames_done = int(state["frames_done"])
        self.caches = state["caches"]

    def _cache(self, key):
        if key not in self.caches:
            self.caches[key] = [None] * self.vae._cached_conv_counts["decoder"]
        return self.caches[key]

    def _decode_frames(self, x: torch.Tensor, key) -> torch.Tensor:
        cache = self._cache(key)
        out = []
        for i in range(x.shape[2]):
            first = self.frames_done + i == 0
            z = self.vae.post_quant_conv(x[:, :, i: i + 1])
            out.append(self.vae.decoder(z, feat_cache=cache, feat_idx=[0], first_chunk=first))
        return torch.cat(out, dim=2)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents `[1, C, n, h, w]` (the next n latent frames) -> video `[1, 3, frames, H, W]` in [-1, 1]."""
        from diffusers.models.autoencoders.autoencoder_kl_wan import unpatchify
        from diffusers.utils.torch_utils import get_module_execution_device

        vae = self.vae
        hook = getattr(vae, "_hf_hook", None)
        if hook is not None and hasattr(hook, "pre_forward"):
            hook.pre_forward(vae)  # model CPU offload: bring the VAE onto the execution device
        device = get_module_execution_device(vae)
        x = denormalize_latents(vae, latents.to(device, vae.dtype))
        _, _, n, h, w = x.shape
        tmin_h = vae.tile_sample_min_height // vae.spatial_compression_ratio
        tmin_w = vae.tile_sample_min_width // vae.spatial_compression_ratio
        if vae.use_tiling and (w > tmin_w or h > tmin_h):
            video = self._decode_tiled(x)
        else:
            video = self._decode_frames(x, "full")
            if vae.config.patch_size is not None:
                video = unpatchify(video, patch_size=vae.config.patch_size)
        self.frames_done += n
        return video.clamp(-1.0, 1.0)

    def _decode_tiled(self, z: torch.Tensor) -> torch.Tensor:
        """Same tiling and blending as `AutoencoderKLWan.tiled_decode`, with per-tile caches kept across calls."""
        from diffusers.models.autoencoders.autoencoder_kl_wan import unpatchify

        vae = self.vae
        _, _, _, height, width = z.shape
        r = vae.spatial_compression_ratio
        sample_h, sample_w = height * r, width * r
        tmin_h, tmin_w = vae.tile_sample_min_height // r, vae.tile_sample_min_width // r
        tstride_h, tstride_w = vae.tile_sample_stride_height // r, vae.tile_sample_stride_width // r
        s_stride_h, s_stride_w = vae.tile_sample_stride_height, vae.tile_sample_stride_width
        p = vae.config.patch_size
        if p is not None:
            sample_h, sample_w = sample_h // p, sample_w // p
            s_stride_h, s_stride_w = s_stride_h // p, s_stride_w // p
            blend_h = vae.tile_sample_min_height // p - s_stride_h
            blend_w = vae.tile_sample_min_width // p - s_stride_w
        else:
            blend_h = vae.tile_sample_min_height - s_stride_h
            blend_w = vae.tile_sample_min_width - s_stride_w
        rows = []
        for i in range(0, height, tstride_h):
            row = []
            for j in range(0, width, tstride_w):
                tile = z[:, :, :, i: i + tmin_h, j: j + tmin_w]
                row.append(self._decode_frames(tile, (i, j)))
            rows.append(row)
        result_rows = []
        for i, row in enumerate(rows):
            result_row = []
            for j, tile in enumerate(row):
                if i > 0:
                    tile = vae.blend_v(rows[i - 1][j], tile, blend_h)
                if j > 0:
                    tile = vae.blend_h(row[j - 1], tile, blend_w)
                result_row.append(tile[:, :, :, :s_stride_h, :s_stride_w])
            result_rows.append(torch.cat(result_row, dim=-1))
        dec = torch.cat(result_rows, dim=3)[:, :, :, :sample_h, :sample_w]
        if p is not None:
            dec = unpatchify(dec, patch_size=p)
        return dec


class StreamingVAEEncoder:
    """Encode a video a few frames at a time, with Wan's causal encoder caches carried over: the latents are
    those of `AutoencoderKLWan.encode` on the whole video (frame 0 alone, then groups of 4), posterior mode,
    normalised. Frames that do not complete a latent frame wait for the next call (or `flush`)."""

    def __init__(self, vae):
        if vae.use_tiling:
            raise ValueError("StreamingVAEEncoder does not tile; call vae.disable_tiling() for the round trip")
        self.vae = vae
        self.cache = [None] * vae._cached_conv_counts["encoder"]
        self.frames_done = 0
        self.pending: torch.Tensor | None = None  # [1, 3, <4, H, W] frames waiting for their latent frame

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor | None:
        """`[1, 3, n, H, W]` in [-1, 1] (the next n frames) -> normalised latents `[1, C, g, h, w]` (None if g = 0)."""
        from diffusers.models.autoencoders.autoencoder_kl_wan import patchify
        from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

        from gloria.pipelines.anchor_set import normalize_latents

        vae = self.vae
        x = video.to(next(vae.parameters()).device, vae.dtype)
        if self.pending is not None:
            x = torch.cat([self.pending, x], dim=2)
        if vae.config.patch_size is not None:
            x = patchify(x, patch_size=vae.config.patch_size)
        groups, i = [], 0
        while i < x.shape[2]:
            size = 1 if self.frames_done == 0 else 4
            if x.shape[2] - i < size:
                break
            groups.append(vae.encoder(x[:, :, i: i + size], feat_cache=self.cache, feat_idx=[0]))
            self.frames_done += size
            i += size
        rest = x[:, :, i:]
        if vae.config.patch_size is not None and rest.shape[2]:
            from diffusers.models.autoencoders.autoencoder_kl_wan import unpatchify

            rest = unpatchify(rest, patch_size=vae.config.patch_size)
        self.pending = rest if rest.shape[2] else None
        if not groups:
            return None
        z = DiagonalGaussianDistribution(vae.quant_conv(torch.cat(groups, dim=2))).mode()
        return normalize_latents(vae, z.float())

    def flush(self) -> torch.Tensor | None:
        """Encode the waiting frames, the last one repeated to fill their latent frame."""
        if self.pending is None:
            return None
        p, self.pending = self.pending, None
        return self.encode(torch.cat([p, p[:, :, -1:].expand(-1, -1, 4 - p.shape[2], -1, -1)], dim=2))


def vae_round_trip(vae, frames, num_frames: int | None = None, window: int = 64):
    """The VAE ceiling: true frames -> encode -> decode exactly as the pipeline does (`StreamingVAEDecoder`).

    A model whose video goes through this VAE cannot score above these frames. `frames` is `[N, H, W, 3]`
    uint8, or a function `(a, b) -> frames a..b-1` with `num_frames` = N. Yields `[t, H, W, 3]` uint8 windows in
    order (N frames in all), so memory stays flat in the video length; the last frame is repeated to fill
    the last latent frame."""
    n = len(frames) if num_frames is None else int(num_frames)
    get = frames if callable(frames) else (lambda a, b: frames[a:b])
    enc, dec = StreamingVAEEncoder(vae), StreamingVAEDecoder(vae)
    done = 0
    with torch.no_grad():
        for a in range(0, n, window):
            x = torch.from_numpy(np.ascontiguousarray(get(a, min(n, a + window)))).permute(3, 0, 1, 2)[None]
            z = enc.encode(x.float() / 127.5 - 1.0)
            if a + window >= n:
                tail = enc.flush()
                z = tail if z is None else z if tail is None else torch.cat([z, tail], dim=2)
            if z is not None:
                out = to_uint8_frames(dec.decode(z))[: n - done]
                done += len(out)
                yield out


def to_uint8_frames(video: torch.Tensor) -> np.ndarray:
    """`[1, 3, n, H, W]` in [-1, 1] -> `[n, H, W, 3]` uint8 (round to nearest)."""
    x = ((video[0].float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    return x.permute(1, 2, 3, 0).contiguous().cpu().numpy()


# x264's macroblock-tree rate control is not run-to-run deterministic inside a long-lived process (measured: the
# same 20 frames gave 3758-3822 bytes across five pipeline runs); without it a resumed video is byte-identical
# to an uninterrupted one, at ~15% more bytes for the same CRF.
VIDEO_OPTIONS = {"crf": "18", "preset": "medium", "x264-params": "mbtree=0"}


def write_segment(path: str | os.PathLike, frames: np.ndarray, fps: Fraction, options: dict | None = None) -> Path:
    """Encode `[n, H, W, 3]` uint8 frames into a video-only H.264 MP4 (fresh encoder), temp-name-then-rename."""
    import av

    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    n, h, w, _ = frames.shape
    with av.open(str(tmp), mode="w", format="mp4") as c:
        s = c.add_stream("libx264", rate=fps, options=dict(options or VIDEO_OPTIONS))
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.codec_context.time_base = Fraction(1) / fps
        for k in range(n):
            frame = av.VideoFrame.from_ndarray(frames[k], format="rgb24")
            frame.pts = k
            frame.time_base = Fraction(1) / fps
            for pkt in s.encode(frame):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)
    os.replace(tmp, path)
    return path


def _audio_frames(audio, rate: int, layout: str, total_samples: int):
    """Yield (float32 [channels, n]) blocks of the output audio, exactly `total_samples` long (zero-padded)."""
    from gloria.pipelines.audio import decode_audio, resample_array

    left = total_samples
    channels = 1 if layout == "mono" else 2
    if audio.source is not None:
        blocks = decode_audio(audio.source, rate, layout)
    else:
        arr = audio.source_array if audio.source_array is not None else audio.waveform
        src_rate = audio.source_rate or audio.sample_rate
        if src_rate != rate:
            arr = resample_array(arr, src_rate, rate)
        blocks = (arr[None, i: i + rate] for i in range(0, len(arr), rate))
    for b in blocks:
        if left <= 0:
            break
        b = b[:, :left]
        left -= b.shape[1]
        yield np.ascontiguousarray(b, dtype=np.float32)
    while left > 0:
        n = min(left, rate)
        left -= n
        yield np.zeros((channels, n), np.float32)


def _audio_layout(audio) -> tuple[int, str]:
    """Output sample rate and layout: the source file's (stereo at most), else the array's rate, mono."""
    if audio.source is not None:
        import av

        with av.open(audio.source) as c:
            st = c.streams.audio[0]
            rate = st.codec_context.sample_rate or st.rate
            layout = "mono" if (st.codec_context.channels or 1) == 1 else "stereo"
        return int(rate), layout
    return int(audio.source_rate or audio.sample_rate), "mono"


def assemble_mp4(segments: list[Path], out: str | os.PathLike, fps: Fraction, num_frames: int, audio=None) -> Path:
    """Remux H.264 segments (in order) into `out` (+ AAC audio trimmed/padded to num_frames / fps seconds).

    Written to `out`'s folder under a temporary name and renamed when complete.
    """
    import av

    out = Path(out)
    tmp = out.with_name(f".{out.name}.part{os.getpid()}.mp4")
    try:
        with av.open(str(tmp), mode="w", format="mp4") as oc:
            first = av.open(str(segments[0]))
            vin = first.streams.video[0]
            vout = oc.add_stream_from_template(vin)
            first.close()
            aout = None
            if audio is not None:
                rate, layout = _audio_layout(audio)
                aout = oc.add_stream("aac", rate=rate, layout=layout)
                aout.codec_context.time_base = Fraction(1, rate)
                total = -((-num_frames * rate * fps.denominator) // fps.numerator)
                fifo = av.AudioFifo()
                ablocks = _audio_frames(audio, rate, layout, total)
                apts = 0
                afinished = False

            def push_audio(until_s: float | None):
                nonlocal apts, afinished
                if aout is None or afinished:
                    return
                frame_size = aout.codec_context.frame_size or 1024
                while until_s is None or apts / rate < until_s:
                    while fifo.samples < frame_size:
                        blk = next(ablocks, None)
                        if blk is None:
                            break
                        f = av.AudioFrame.from_ndarray(blk, format="fltp", layout=layout)
                        f.sample_rate = rate
                        f.pts = None
                        fifo.write(f)
                    if fifo.samples == 0:
                        afinished = True
                        for pkt in aout.encode(None):
                            oc.mux(pkt)
                        return
                    f = fifo.read(min(frame_size, fifo.samples))
                    f.pts = apts
                    f.time_base = Fraction(1, rate)
                    apts += f.samples
                    for pkt in aout.encode(f):
                        oc.mux(pkt)

            offset = 0  # frames written so far
            for seg in segments:
                with av.open(str(seg)) as ic:
                    st = ic.streams.video[0]
                    tb = st.time_base
                    shift = int(round(Fraction(offset) / fps / tb))
                    count = st.frames
                    for pkt in ic.demux(st):
                        if pkt.size == 0:
                            continue
                        pkt.pts = None if pkt.pts is None else pkt.pts + shift
                        pkt.dts = None if pkt.dts is None else pkt.dts + shift
                        pkt.stream = vout
                        push_audio(float(pkt.dts * tb) if pkt.dts is not None else None)
                        oc.mux(pkt)
                    offset += count
            push_audio(None)
        if offset != num_frames:
            raise RuntimeError(f"internal error: segments hold {offset} frames, expected {num_frames}")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def read_video_frames(path: str | os.PathLike) -> np.ndarray:
    """All frames of a video as `[n, H, W, 3]` uint8 (tests, small files)."""
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
