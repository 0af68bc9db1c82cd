"""Checkpoints in the original Wan repository's key naming -> Gloria / diffusers naming.

The key mapping itself is diffusers' (`convert_wan_transformer_to_diffusers`, the one its
`from_single_file` uses); this module adds file handling (one file, a shard directory, .pth) and
strict loading into a `GloriaTransformer3DModel` of a given geometry.
"""
from __future__ import annotations

from pathlib import Path

import torch
from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
from safetensors.torch import load_file

from gloria.models.transformer_gloria import is_audio_key



def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a `.safetensors` / `.pth` / `.pt` file, or every `*.safetensors` shard in a directory."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"{path}: no *.safetensors files in this directory")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"{path}: no such checkpoint file or directory")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        if f.suffix == ".safetensors":
            state.update(load_file(str(f)))
        elif f.suffix in (".pth", ".pt", ".bin"):
            obj = torch.load(f, map_location="cpu", weights_only=True)
            state.update(obj.get("state_dict", obj) if isinstance(obj, dict) else obj)
        else:
            raise ValueError(f"{f}: unsupported checkpoint format {f.suffix!r} (expected .safetensors, .pth, .pt)")
    return state


def is_original_wan(state: dict[str, torch.Tensor]) -> bool:
    """True if the keys use the original Wan naming (`self_attn.q`, `head.head`, ...)."""
    return any(".self_attn." in k or k.startswith(("head.", "model.diffusion_model.")) for k in state)


def convert_original_wan(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename original-Wan keys to diffusers/Gloria keys (Gloria's own audio keys pass unchanged)."""
    own = {k: v for k, v in state.items() if is_audio_key(k)}
    wan = {k: v for k, v in state.items() if not is_audio_key(k)}
    return {**convert_wan_transformer_to_diffusers(wan), **own}


def load_original_wan(path: str | Path, config: dict):
    """Build a `GloriaTransformer3DModel(**config)` and load an original-naming Wan checkpoint into it.

    Every Wan weight must be present with the right shape; the audio branch (absent from Wan) keeps
    its paper initialisation (zero value projections).
    """
    from gloria.models.transformer_gloria import GloriaTransformer3DModel

    state = read_state_dict(path)
    if is_original_wan(state):
        state = convert_original_wan(state)
    model = GloriaTransformer3DModel(**config)
    expected = model.state_dict()
    unexpected = sorted(set(state) - set(expected))
    missing = sorted(k for k in set(expected) - set(state) if not is_audio_key(k))
    wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if unexpected or missing or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}")
        if wrong:
            parts.append(
                "shape mismatch " + ", ".join(f"{k}: {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in wrong[:3])
            )
        raise ValueError(f"{path}: checkpoint does not fit the model config ({'; '.join(parts)})")
    model.load_state_dict(state, strict=False)
    return model
