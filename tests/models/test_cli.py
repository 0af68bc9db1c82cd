import json

import pytest
import torch

from gloria.cli import main
from gloria.models.presets import build_model


def _info(capsys, *argv):
    assert main(["info", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_counts_parameters_exactly_and_tokens(capsys):
    out = _info(capsys, "--preset", "tiny", "--frames", "9", "--height", "32", "--width", "48",
                "--anchors", "global:1,viewpoint:2,expression:1", "--viewpoint-size", "32x16", "--expression-size", "16x16")
    real = build_model("tiny")
    assert out["parameters"] == sum(p.numel() for p in real.parameters())
    assert out["blocks"] == 2 and out["audio_blocks"] == 1 and out["dim"] == 24
    # 9 frames -> 3 latent frames; 32x48 px -> 4x6 latent -> 2x3 tokens per frame
    assert out["tokens"]["video"] == 3 * 2 * 3
    # global 2x3 + 2 viewpoint crops 2x1 + one expression 1x1
    assert out["tokens"]["anchors"] == 6 + 2 * 2 + 1
    assert out["tokens"]["total"] == 18 + 11


def test_info_large_preset_on_meta(capsys):
    out = _info(capsys, "--preset", "gloria-17b", "--anchors", "global:1,viewpoint:4,expression:8")
    assert out["blocks"] == 40 and out["audio_blocks"] == 20 and out["dim"] == 5120
    assert 18.0e9 < out["parameters"] < 19.0e9  # Wan2.1-I2V-14B (16.39B with its CLIP branch) + 2.13B audio
    assert out["tokens"]["video"] == 21 * 30 * 52


@pytest.mark.parametrize("argv, msg", [
    (["--anchors", "pose:1"], "unknown anchor type"),
    (["--anchors", "viewpoint:5"], "at most 4"),
    (["--height", "479"], "multiple of 16"),
])
def test_info_bad_input(capsys, argv, msg):
    assert main(["info", "--preset", "tiny", *argv]) == 2
    assert msg in capsys.readouterr().err
