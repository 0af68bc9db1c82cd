"""The fixed log-mel audio encoder of the demo model: wav2vec2 geometry, real spectral content, loading."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gloria.models.logmel import LogMelAudioEncoder


def test_frame_count_and_tone_lands_in_its_band():
    enc = LogMelAudioEncoder()
    sr = 16000
    t = np.arange(sr) / sr
    for f0, other in [(300.0, 3000.0), (3000.0, 300.0)]:
        x = torch.from_numpy(np.sin(2 * np.pi * f0 * t).astype(np.float32))[None]
        h = enc(x).hidden_states[-1][0]  # [J, 41]
        assert h.shape == ((sr - 400) // 320 + 1, 41)
        centres = enc.mel.argmax(0).float() * (sr / 2) / (enc.mel.shape[0] - 1)  # Hz per band
        band = int(h[:, :40].mean(0).argmax())
        assert abs(centres[band] - f0) < 0.15 * f0 + 60, (f0, centres[band])
        assert abs(centres[band] - other) > 0.3 * other


def test_save_load_through_the_audio_loader(tmp_path):
    from gloria.pipelines.audio import _conv_geometry, load_audio_encoder
    from gloria.synthetic.demo_model import write_audio_encoder

    write_audio_encoder(tmp_path / "a")
    enc, fe = load_audio_encoder(tmp_path / "a")
    assert isinstance(enc, LogMelAudioEncoder) and fe.sampling_rate == 16000 and fe.do_normalize
    assert _conv_geometry(enc.config) == (320, 400) and enc.config.hidden_size == 41
    x = torch.randn(1, 8000)
    torch.testing.assert_close(enc(x).last_hidden_state, LogMelAudioEncoder()(x).last_hidden_state)


def test_bad_config_and_input():
    with pytest.raises(ValueError, match="hidden_size"):
        LogMelAudioEncoder(hidden_size=1)
    with pytest.raises(ValueError, match="batch, samples"):
        LogMelAudioEncoder()(torch.randn(16000))
