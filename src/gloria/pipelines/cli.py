"""`gloria generate`: a long character video from a first frame + text (+ audio, + anchors), streamed to MP4."""
from __future__ import annotations

import argparse


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HxW, e.g. 480x832; got {text!r}") from None
    return h, w


def load_prompt_schedule(path: str) -> list[tuple[float, str]]:
    """A prompt-schedule YAML file (`- {start: 0, prompt: "..."}` entries) -> `[(start_s, text), ...]`, checked."""
    from pathlib import Path

    from gloria.cli import UserError
    from gloria.pipelines.pipeline_gloria import prompt_schedule
    from gloria.yaml_file import read_yaml

    p = Path(path)
    data = read_yaml(p, "prompt schedule", UserError)
    if not isinstance(data, list) or not all(isinstance(e, dict) and set(e) == {"start", "prompt"} for e in data):
        raise UserError(f"{p}: expected a list of {{start: seconds, prompt: text}} entries")
    try:
        return prompt_schedule([(e["start"], e["prompt"]) for e in data])
    except ValueError as err:
        raise UserError(f"{p}: {err}") from None


def register(sub) -> None:
    p = sub.add_parser("generate", help="generate a long video (chunk-wise, streamed to MP4, resumable)",
                       description=__doc__)
    p.add_argument("--model", required=True, help="GloriaPipeline folder (save_pretrained) or a diffusers Wan I2V/TI2V folder")
    p.add_argument("--wav2vec2", default=None, help="wav2vec2 folder, when --model is a plain Wan checkpoint")
    p.add_argument("--image", required=True, help="first frame (RGB); also the global anchor unless anchors give one")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--prompt", help="one text for the whole video")
    what.add_argument("--prompt-schedule", metavar="FILE",
                      help="YAML list of {start: seconds, prompt: text}; each chunk uses the entry active at its first frame")
    p.add_argument("--negative-prompt", default=None, help="default: Wan's negative prompt")
    p.add_argument("--audio", default=None, help="speech / music file; its length is the default duration")
    p.add_argument("--anchors", default=None, help="anchors.yaml (see docs/generate.md)")
    p.add_argument("--seconds", type=float, default=None, help="duration (default: the audio's length)")
    p.add_argument("--fps", type=float, default=24.0)
    p.add_argument("--size", type=_size, default=(480, 832), help="HxW, multiples of VAE factor x patch (16 for Wan2.1)")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--guidance", type=float, default=3.5, help="text CFG scale (paper: 3.5)")
    p.add_argument("--audio-guidance", type=float, default=None, help="audio CFG scale (default: --guidance)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk-frames", type=int, default=81, help="video frames per chunk, 4k+1")
    p.add_argument("--viewpoint-size", type=_size, default=None, help="box HxW viewpoint anchors are fitted into (default: video size)")
    p.add_argument("--expression-size", type=_size, default=None, help="box HxW for expression anchors (default: min(H,W)/2 square)")
    p.add_argument("--no-global-from-first-frame", action="store_true", help="do not use the first frame as global anchor")
    p.add_argument("--out", default="out.mp4")
    p.add_argument("--resume", action="store_true", help="continue a crashed run from <out>.gloria-state/")
    p.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32", help="transformer / text encoder dtype")
    p.add_argument("--device", default=None, help="cuda, cpu, ... (default: cuda if available)")
    p.add_argument("--offload", action="store_true", help="model CPU offload (diffusers hooks)")
    p.add_argument("--vae-tiling", action="store_true", help="spatially tiled VAE decoding")
    p.add_argument("--sequential-cfg", action="store_true", help="one forward per CFG branch (less memory)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from gloria.cli import UserError

    model = Path(args.model)
    if not model.is_dir():
        raise FileNotFoundError(f"model folder not found: {model}")
    index = model / "model_index.json"
    if not index.is_file():
        raise UserError(f"{model} has no model_index.json (expected a GloriaPipeline or diffusers Wan folder)")
    if args.seconds is not None and not args.seconds > 0:
        raise UserError(f"--seconds must be > 0, got {args.seconds}")
    if args.seconds is None and args.audio is None:
        raise UserError("give --seconds, or --audio to take the duration from")
    # Cheap checks before loading the model.
    from gloria.pipelines.anchor_set import load_rgb_image

    load_rgb_image(args.image, what="image")
    prompt = args.prompt if args.prompt_schedule is None else load_prompt_schedule(args.prompt_schedule)
    if args.audio is not None and not Path(args.audio).is_file():
        raise FileNotFoundError(f"audio not found: {args.audio}")
    out = Path(args.out)
    if not out.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {out.parent}")

    import torch

    from gloria.pipelines.pipeline_gloria import GloriaPipeline

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    # a saved GloriaPipeline, or a Wan folder (converted on the fly): GloriaPipeline.from_pretrained decides
    extra = {} if args.wav2vec2 is None else {"wav2vec2_path": args.wav2vec2}
    pipe = GloriaPipeline.from_pretrained(model, torch_dtype=dtype, **extra)
    if dtype != torch.float32:  # Wan keeps the VAE and CLIP in fp32
        pipe.vae.to(torch.float32)
        if pipe.image_encoder is not None:
            pipe.image_encoder.to(torch.float32)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.offload:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    if args.vae_tiling:
        pipe.vae.enable_tiling()
    pipe.set_progress_bar_config(disable=True)
    h, w = args.size
    res = pipe(
        image=args.image, prompt=prompt,
        **({} if args.negative_prompt is None else {"negative_prompt": args.negative_prompt}),
        audio=args.audio, anchors=args.anchors, seconds=args.seconds, fps=args.fps, height=h, width=w,
        num_inference_steps=args.steps, guidance_scale=args.guidance, audio_guidance_scale=args.audio_guidance,
        seed=args.seed, chunk_frames=args.chunk_frames, output_path=args.out, resume=args.resume,
        first_frame_as_global=not args.no_global_from_first_frame, batch_cfg=not args.sequential_cfg,
        viewpoint_size=args.viewpoint_size, expression_size=args.expression_size, progress=True,
    )
    per = res.elapsed_s / res.seconds if res.seconds else float("nan")
    print(f"wrote {res.path}: {res.num_frames} frames, {res.seconds:.2f} s at {res.fps:g} fps, {res.num_chunks} chunks, "
          f"{res.elapsed_s:.1f} s total, {per:.2f} s per generated second")
    return 0
