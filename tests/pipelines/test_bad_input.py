"""Bad input: a clear error naming the file / field, and no out.mp4 left behind (API and CLI)."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image
from pipeline_helpers import write_wav

KW = dict(prompt="w1", fps=24, height=32, width=32, num_inference_steps=1, progress=False, chunk_frames=17)


def _run(pipe, tmp_path, **over):
    args = dict(KW, image=over.pop("image", None), seconds=over.pop("seconds", 0.5),
                output_path=over.pop("output_path", tmp_path / "out.mp4"))
    args.update(over)
    return pipe(**args)


def _anchors(tmp_path, entry, make_image=True):
    d = tmp_path / "anc"
    d.mkdir(exist_ok=True)
    if make_image:
        Image.new("RGB", (32, 32)).save(d / "a.png")
    (d / "anchors.yaml").write_text(yaml.safe_dump({"anchors": [entry]}))
    return d / "anchors.yaml"


CASES = {
    "missing image": (lambda t, f: {"image": t / "nope.png"}, FileNotFoundError, "image not found"),
    "unreadable image": (lambda t, f: {"image": (t / "x.png").write_bytes(b"junk") and t / "x.png"}, ValueError,
                         "cannot read image"),
    "image mode": (lambda t, f: {"image": Image.new("L", (32, 32))}, ValueError, "mode 'L'"),
    "missing audio": (lambda t, f: {"image": f, "audio": t / "nope.wav"}, FileNotFoundError, "audio not found"),
    "unreadable audio": (lambda t, f: {"image": f, "audio": (t / "x.wav").write_bytes(b"junk") and t / "x.wav"},
                         ValueError, "cannot read audio"),
    "audio too short": (lambda t, f: {"image": f, "audio": write_wav(t / "s.wav", 0.3), "seconds": 1.0}, ValueError,
                        "shorter than the requested 1.000 s"),
    "anchor type": (lambda t, f: {"image": f, "anchors": _anchors(t, {"image": "a.png", "type": "pose"})}, ValueError,
                    "'type'"),
    "anchor category": (lambda t, f: {"image": f, "anchors": _anchors(
        t, {"image": "a.png", "type": "expression", "category": "bored"})}, ValueError, "unknown expression category"),
    "anchor image missing": (lambda t, f: {"image": f, "anchors": _anchors(
        t, {"image": "b.png", "type": "viewpoint", "category": "back"})}, FileNotFoundError, "image not found"),
    "size": (lambda t, f: {"image": f, "height": 40}, ValueError, "40x32 .* multiples of 16"),
    "seconds zero": (lambda t, f: {"image": f, "seconds": 0}, ValueError, "seconds must be > 0"),
    "seconds negative": (lambda t, f: {"image": f, "seconds": -2}, ValueError, "seconds must be > 0"),
    "output folder": (lambda t, f: {"image": f, "output_path": t / "no" / "out.mp4"}, FileNotFoundError,
                      "output folder does not exist"),
    "output under a file": (lambda t, f: {"image": f, "output_path": (t / "file").write_text("x") and t / "file" / "o.mp4"},
                            FileNotFoundError, "output folder does not exist"),
    "output not mp4": (lambda t, f: {"image": f, "output_path": t / "out.avi"}, ValueError, "must end in .mp4"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(pipe, tmp_path, first_frame, case):
    make, exc, msg = CASES[case]
    with pytest.raises(exc, match=msg):
        _run(pipe, tmp_path, **make(tmp_path, first_frame))
    assert not (tmp_path / "out.mp4").exists()
    assert not list(tmp_path.glob(".out.mp4*"))


def test_audio_array_needs_rate(pipe, tmp_path, first_frame):
    with pytest.raises(ValueError, match="audio_sample_rate"):
        _run(pipe, tmp_path, image=first_frame, audio=np.zeros(100, np.float32))


def test_cli_generate_and_errors(pipe, tmp_path, first_frame, capsys):
    from gloria.cli import main

    model = tmp_path / "model"
    pipe.save_pretrained(model)
    wav = write_wav(tmp_path / "a.wav", 0.5)
    out = tmp_path / "cli.mp4"
    base = ["generate", "--model", str(model), "--image", str(first_frame), "--prompt", "w1 w2", "--size", "32x32",
            "--steps", "1", "--chunk-frames", "17", "--out", str(out)]
    assert main(base + ["--audio", str(wav)]) == 0
    from gloria.pipelines.video_io import read_video_frames

    assert read_video_frames(out).shape[0] == 12  # 0.5 s of audio at 24 fps
    assert "12 frames" in capsys.readouterr().out
    first = read_video_frames(out)
    out.unlink()
    # a one-entry prompt schedule file is the same video as --prompt
    sched = tmp_path / "prompts.yaml"
    sched.write_text("- {start: 0, prompt: w1 w2}\n")
    i = base.index("--prompt")
    assert main(base[:i] + ["--prompt-schedule", str(sched)] + base[i + 2:] + ["--audio", str(wav)]) == 0
    np.testing.assert_array_equal(read_video_frames(out), first)
    out.unlink()
    capsys.readouterr()
    for text, msg in (("- {start: 1, prompt: a}\n", "must start at 0 s"), ("start: 0\n", "expected a list of"),
                      ("- {start: 0, prompt: a}\n- {start: 0, prompt: b}\n", "is not after the previous one")):
        sched.write_text(text)
        assert main(base[:i] + ["--prompt-schedule", str(sched)] + base[i + 2:] + ["--seconds", "1"]) == 2
        err = capsys.readouterr().err
        assert str(sched) in err and msg in err, err
        assert not out.exists()
    for extra, msg in ((["--seconds", "0"], "--seconds must be > 0"), (["--seconds", "1", "--size", "30x32"], "multiples of 16"),
                       (["--audio", str(tmp_path / "none.wav")], "audio not found")):
        assert main(base + extra) == 2
        assert msg in capsys.readouterr().err
        assert not out.exists()
