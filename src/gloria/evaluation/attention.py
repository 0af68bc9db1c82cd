"""Where the video tokens look: self-attention mass from video queries to the prefix and to each content anchor.

`AnchorAttentionProbe` attaches to any `GloriaTransformer3DModel` (the 4.5 M demo model or the 17 B one) and,
for every forward, measures in each block's self-attention the softmax probability mass that the video
queries of each latent frame put on each key group: the video tokens, the prefix tokens, and each anchor
(named `global`, `viewpoint:back`, `expression:happy`, ...). It reads the block's own q/k (outputs of
`attn1.norm_q` / `norm_k`, rotated with the block's RoPE tables exactly as Wan's processor does), so the
model's output is untouched; probabilities are computed for the first row of the batch (the conditional
CFG row) in query blocks, so memory stays `heads x query_block x S` (no `[S, S]` matrix).

    with AnchorAttentionProbe(pipe.transformer) as probe:
        pipe(...)
    probe.records  # one per forward: {"segments": [...], "timestep": t, "mass": [blocks, frames, segments]}

This is the measurement behind the paper's Fig. 9/10 (attention to the anchors, and to the back anchor
while the character turns); `gloria analyze attention` runs it on the demo world and plots it.
"""
from __future__ import annotations

import numpy as np
import torch


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE on `[S, H, D]` with Wan's interleaved layout (cos/sin `[S, 1, D]`), in float32."""
    x = x.float()
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    c, s = cos[..., 0::2].float(), sin[..., 1::2].float()
    return torch.stack([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1).flatten(-2)


def token_segments(config, hidden_shape, prefix, anchors) -> list[tuple[str, int, int]]:
    """(name, start, stop) of the token groups of one sample: video, prefix, then anchors (the model's order)."""
    p_t, p_h, p_w = config.patch_size
    _, _, f, h, w = hidden_shape
    n_video = (f // p_t) * (h // p_h) * (w // p_w)
    segs, pos = [("video", 0, n_video)], n_video
    items = [] if prefix is None else [("prefix", prefix)]
    for a in anchors or []:
        items.append((a.type if a.type == "global" else f"{a.type}:{a.category}", a.latent))
    for name, lat in items:
        n = (lat.shape[-3] // p_t) * (lat.shape[-2] // p_h) * (lat.shape[-1] // p_w)
        segs.append((name, pos, pos + n))
        pos += n
    return segs


class AnchorAttentionProbe:
    """Context manager recording per-block, per-latent-frame attention mass to each token group (see module doc).

    Args:
        transformer: a `GloriaTransformer3DModel`.
        blocks: block indices to probe (default all).
        query_block: video queries per probability block (memory: heads x query_block x S floats).
    """

    def __init__(self, transformer, blocks: list[int] | None = None, query_block: int = 1024):
        self.model = transformer
        self.blocks = list(range(len(transformer.blocks))) if blocks is None else list(blocks)
        self.query_block = int(query_block)
        self.records: list[dict] = []
        self._handles: list = []
        self._layout: dict | None = None
        self._current: list[np.ndarray | None] = []

    # -- hooks
    def _on_model(self, module, args, kwargs):
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        prefix = kwargs.get("prefix_latents")
        if prefix is not None:
            prefix = prefix[0] if not torch.is_tensor(prefix) else prefix[0]
        anchors = kwargs.get("anchors")
        t = kwargs.get("timestep", args[1] if len(args) > 1 else None)
        p_t, p_h, p_w = self.model.config.patch_size
        self._layout = {
            "segments": token_segments(self.model.config, hidden.shape, prefix, None if anchors is None else anchors[0]),
            "frames": hidden.shape[2] // p_t, "per_frame": (hidden.shape[3] // p_h) * (hidden.shape[4] // p_w),
            "timestep": None if t is None else float(t[0].max()),
        }
        self._current = [None] * len(self.blocks)

    def _on_model_done(self, module, args, output):
        if self._layout is None:
            return
        lay = self._layout
        mass = np.stack([m if m is not None else np.full((lay["frames"], len(lay["segments"])), np.nan)
                         for m in self._current])
        self.records.append({"segments": [s[0] for s in lay["segments"]], "timestep": lay["timestep"], "mass": mass})
        self._layout = None

    def _block_hooks(self, j: int, attn):
        store: dict = {}

        def pre(module, args):
            store["mask"] = args[2] if len(args) > 2 else None
            store["rope"] = args[3] if len(args) > 3 else None

        def q_hook(module, args, out):
            store["q"] = out

        def k_hook(module, args, out):
            store["k"] = out

        def done(module, args, out):
            if self._layout is not None and "q" in store:
                self._current[j] = self._mass(store)
            store.clear()

        return [attn.register_forward_pre_hook(pre), attn.norm_q.register_forward_hook(q_hook),
                attn.norm_k.register_forward_hook(k_hook), attn.register_forward_hook(done)]

    def _qk(self, store: dict) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Sample 0's rotated queries and keys `[S, H, D]` (float32) and its own key count."""
        heads = self.model.config.num_attention_heads
        q = store["q"][0].unflatten(-1, (heads, -1))
        k = store["k"][0].unflatten(-1, (heads, -1))
        if store["rope"] is not None:
            cos, sin = store["rope"]
            q, k = _rotate(q, cos[0], sin[0]), _rotate(k, cos[0], sin[0])
        n_keys = self._layout["segments"][-1][2]  # sample 0's own tokens; padding beyond belongs to other rows
        return q.float(), k.float()[:n_keys], n_keys

    def probabilities(self, store: dict, start: int, stop: int) -> torch.Tensor:
        """`[H, stop - start, keys]` softmax attention probabilities of sample 0's queries start..stop."""
        q, k, n_keys = self._qk(store)
        logits = torch.einsum("qhd,khd->hqk", q[start:stop], k) * q.shape[-1] ** -0.5
        mask = store["mask"]
        if mask is not None:
            logits = logits.masked_fill(~mask[0, 0, 0, :n_keys].to(logits.device), float("-inf"))
        return logits.softmax(-1)

    @torch.no_grad()
    def _mass(self, store: dict) -> np.ndarray:
        """`[frames, segments]` mean (over heads and the frame's queries) attention mass of sample 0."""
        lay = self._layout
        n_video = lay["segments"][0][2]
        sums = torch.zeros(n_video, len(lay["segments"]))
        for a in range(0, n_video, self.query_block):
            p = self.probabilities(store, a, min(n_video, a + self.query_block)).mean(0)  # [q, keys]
            sums[a: a + p.shape[0]] = torch.stack([p[:, s0:s1].sum(-1) for _, s0, s1 in lay["segments"]], -1).cpu()
        return sums.view(lay["frames"], lay["per_frame"], -1).mean(1).numpy()

    # -- context manager
    def __enter__(self) -> "AnchorAttentionProbe":
        self._handles.append(self.model.register_forward_pre_hook(self._on_model, with_kwargs=True))
        self._handles.append(self.model.register_forward_hook(self._on_model_done))
        for j, b in enumerate(self.blocks):
            self._handles += self._block_hooks(j, self.model.blocks[b].attn1)
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()


__all__ = ["AnchorAttentionProbe", "token_segments"]
