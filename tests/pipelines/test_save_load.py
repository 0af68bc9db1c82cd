"""Save / load as a user does it: `save_pretrained` here, then a fresh Python process (nothing of gloria imported
beforehand) loads it with `GloriaPipeline.from_pretrained` or `gloria generate --model DIR`; the MP4 frames are
the in-memory pipeline's. Plain Wan folders are converted on the fly; other folders get one clear sentence."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pipeline_helpers import rgb_image, write_wav

from gloria.pipelines.pipeline_gloria import GloriaPipeline
from gloria.pipelines.video_io import read_video_frames

GLORIA = str(Path(sys.executable).with_name("gloria"))
# the call both sides make (the CLI's defaults where it has no flag: Wan's negative prompt, batched CFG)
CALL = dict(prompt="w1 w2 w3", seconds=1.5, fps=16, height=32, width=32, num_inference_steps=2, guidance_scale=3.5,
            seed=5, chunk_frames=17)


def _fresh(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def saved_pipe(tmp_path_factory):
    """A tiny I2V pipeline with audio, saved; its in-memory MP4; the first frame and the audio files."""
    root = tmp_path_factory.mktemp("saveload")
    from pipeline_helpers import tiny_components

    pipe = GloriaPipeline(**tiny_components("i2v", audio=True), max_sequence_length=16)
    pipe.set_progress_bar_config(disable=True)
    pipe.save_pretrained(root / "model")
    rgb_image().save(root / "first.png")
    write_wav(root / "speech.wav", 2.0)
    pipe(image=str(root / "first.png"), audio=str(root / "speech.wav"), output_path=str(root / "memory.mp4"),
         progress=False, **CALL)
    return root


def test_from_pretrained_in_a_fresh_process(saved_pipe):
    r = saved_pipe
    code = (
        "from gloria import GloriaPipeline\n"
        f"p = GloriaPipeline.from_pretrained({str(r / 'model')!r})\n"
        "assert type(p.transformer).__name__ == 'GloriaTransformer3DModel', type(p.transformer)\n"
        "assert p.config.max_sequence_length == 16, p.config.max_sequence_length\n"
        f"p(image={str(r / 'first.png')!r}, audio={str(r / 'speech.wav')!r}, output_path={str(r / 'fresh.mp4')!r}, "
        f"progress=False, **{CALL!r})\n"
    )
    res = _fresh(code)
    assert res.returncode == 0, res.stderr[-3000:]
    a, b = read_video_frames(r / "memory.mp4"), read_video_frames(r / "fresh.mp4")
    assert a.shape == (24, 32, 32, 3) and np.array_equal(a, b)


def test_gloria_generate_cli_in_a_fresh_process(saved_pipe):
    r = saved_pipe
    res = subprocess.run(
        [GLORIA, "generate", "--model", str(r / "model"), "--image", str(r / "first.png"), "--prompt", CALL["prompt"],
         "--audio", str(r / "speech.wav"), "--seconds", "1.5", "--fps", "16", "--size", "32x32", "--steps", "2",
         "--guidance", "3.5", "--seed", "5", "--chunk-frames", "17", "--device", "cpu", "--out", str(r / "cli.mp4")],
        capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert np.array_equal(read_video_frames(r / "memory.mp4"), read_video_frames(r / "cli.mp4"))


def _wan_folder(root: Path) -> Path:
    from diffusers import WanImageToVideoPipeline, WanTransformer3DModel

    from gloria.models.presets import get_preset
    from pipeline_helpers import tiny_components

    c = tiny_components("i2v", audio=False)
    cfg = {k: v for k, v in get_preset("tiny").items() if not k.startswith("audio")}
    wan = WanImageToVideoPipeline(tokenizer=c["tokenizer"], text_encoder=c["text_encoder"], vae=c["vae"],
                                  scheduler=c["scheduler"], image_processor=c["image_processor"],
                                  image_encoder=c["image_encoder"], transformer=WanTransformer3DModel(**cfg))
    wan.save_pretrained(root / "wan")
    return root / "wan"


def test_plain_wan_folder_is_converted_on_the_fly(tmp_path):
    wan = _wan_folder(tmp_path)
    rgb_image().save(tmp_path / "first.png")
    code = (
        "from gloria import GloriaPipeline\n"
        f"p = GloriaPipeline.from_pretrained({str(wan)!r})\n"
        "assert type(p.transformer).__name__ == 'GloriaTransformer3DModel' and p.transformer.is_i2v\n"
        f"r = p(image={str(tmp_path / 'first.png')!r}, prompt='w1', num_frames=17, fps=16, height=32, width=32, "
        "num_inference_steps=1, chunk_frames=17, output_path=None, return_frames=True, progress=False)\n"
        "assert r.frames.shape == (17, 32, 32, 3)\n"
    )
    res = _fresh(code)
    assert res.returncode == 0, res.stderr[-3000:]


def test_other_folders_get_one_clear_sentence(tmp_path):
    (tmp_path / "sd").mkdir()
    (tmp_path / "sd" / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(ValueError, match="holds a StableDiffusionPipeline pipeline.*GloriaPipeline.from_wan"):
        GloriaPipeline.from_pretrained(tmp_path / "sd")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no model_index.json"):
        GloriaPipeline.from_pretrained(tmp_path / "empty")
