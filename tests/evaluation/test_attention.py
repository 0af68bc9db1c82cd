"""AnchorAttentionProbe: its probabilities reproduce the block's own attention output (SDPA), masses sum to 1."""
import numpy as np
import pytest
import torch

from gloria.evaluation.attention import AnchorAttentionProbe
from gloria.models.anchors import AnchorLatent
from gloria.models.presets import get_preset
from gloria.models.transformer_gloria import GloriaTransformer3DModel


class _Keep(AnchorAttentionProbe):
    """Also keeps the full probabilities of the last block call (for the check against the real output)."""

    def _mass(self, store):
        n_video = self._layout["segments"][0][2]
        self.kept = self.probabilities(store, 0, n_video)
        return super()._mass(store)


@pytest.mark.parametrize("preset", ["tiny", "tiny-ti2v"])
def test_probabilities_reproduce_the_attention_output(preset):
    torch.manual_seed(0)
    m = GloriaTransformer3DModel(**get_preset(preset)).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    c = m.config.in_channels
    z = m.config.out_channels or c
    x = torch.randn(2, c, 3, 4, 4)
    anchors = [[AnchorLatent(torch.randn(z, 1, 4, 4), "global"), AnchorLatent(torch.randn(z, 1, 2, 2), "viewpoint", "back")],
               [AnchorLatent(torch.randn(z, 1, 4, 4), "global")]]  # row 1 shorter: padding and a key mask
    prefix = [torch.randn(z, 1, 4, 4), None]
    t = torch.tensor([500.0, 300.0])
    text = torch.randn(2, 8, m.config.text_dim)
    kw = dict(hidden_states=x, timestep=t, encoder_hidden_states=text, anchors=anchors, prefix_latents=prefix)
    if m.config.image_dim is not None:
        kw["encoder_hidden_states_image"] = torch.randn(2, 4, m.config.image_dim)
    attn = m.blocks[1].attn1
    got = {}
    hooks = [attn.to_v.register_forward_hook(lambda mod, a, o: got.__setitem__("v", o)),
             attn.to_out[0].register_forward_pre_hook(lambda mod, a: got.__setitem__("o", a[0]))]
    probe = _Keep(m, blocks=[1], query_block=5)
    with torch.no_grad(), probe:
        ref = m(**kw).sample
    for h in hooks:
        h.remove()
    with torch.no_grad():
        assert torch.equal(ref, m(**kw).sample)  # the probe changes nothing
    rec = probe.records[-1]
    assert rec["segments"] == ["video", "prefix", "global", "viewpoint:back"]
    assert rec["mass"].shape == (1, 3, 4)
    np.testing.assert_allclose(rec["mass"].sum(-1), 1.0, atol=1e-5)
    heads = m.config.num_attention_heads
    n_video = 3 * 2 * 2
    n_keys = n_video + 4 + 4 + 1
    v = got["v"][0, :n_keys].unflatten(-1, (heads, -1)).float()  # [keys, H, D]
    out = torch.einsum("hqk,khd->qhd", probe.kept, v).flatten(1)
    torch.testing.assert_close(out, got["o"][0, :n_video].float(), rtol=1e-4, atol=1e-5)
