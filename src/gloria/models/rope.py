"""3D RoPE at arbitrary positions: "RoPE as weak condition" (paper Eq. 1).

diffusers' `WanRotaryPosEmbed` only yields the grid 0..F-1 x 0..H-1 x 0..W-1. Gloria needs the same
tables gathered at any (t, h, w): anchors sit at temporal position `o_type + so_category + k` with
spatial positions from 0. We gather rows of the very same float64 tables, so video tokens get
bit-identical rotations to diffusers'.
"""
from __future__ import annotations

import torch
from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed


def grid_positions(frames: int, height: int, width: int, t0: int = 0, device=None) -> torch.Tensor:
    """Positions of a `frames x height x width` token grid (row-major, as patchify flattens it).

    Returns: `[frames*height*width, 3]` long tensor of (t, h, w); t starts at `t0`, h and w at 0.
    """
    t = torch.arange(t0, t0 + frames, device=device)
    h = torch.arange(height, device=device)
    w = torch.arange(width, device=device)
    grid = torch.stack(torch.meshgrid(t, h, w, indexing="ij"), dim=-1)
    return grid.reshape(-1, 3)


def gather_rotary(rope: WanRotaryPosEmbed, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables of `rope` at `positions`.

    Args:
        rope: the model's `WanRotaryPosEmbed` (its float64 buffers `freqs_cos`/`freqs_sin`).
        positions: `[S, 3]` or `[B, S, 3]` (t, h, w) long tensor.

    Returns:
        (cos, sin), each `[1 or B, S, 1, head_dim]`, the layout Wan's attention processor expects.
    """
    max_pos = int(positions.max()) if positions.numel() else 0
    if max_pos >= rope.max_seq_len or (positions.numel() and int(positions.min()) < 0):
        raise ValueError(
            f"RoPE position {max_pos} is outside the model's table (0..{rope.max_seq_len - 1}); "
            f"raise `rope_max_seq_len` in the config or lower the anchor offsets / number of frames"
        )
    if positions.ndim == 2:
        positions = positions.unsqueeze(0)
    split = [rope.t_dim, rope.h_dim, rope.w_dim]
    pos = positions.to(rope.freqs_cos.device)
    out = []
    for table in (rope.freqs_cos, rope.freqs_sin):
        parts = table.split(split, dim=1)
        rows = [parts[axis][pos[..., axis]] for axis in range(3)]  # each [B, S, d_axis]
        out.append(torch.cat(rows, dim=-1).unsqueeze(2))  # [B, S, 1, head_dim]
    return out[0], out[1]
