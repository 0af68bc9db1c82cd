"""`gloria data build`: run `process_video` over many inputs (local process pool or Ray Data), then write
the manifest (clips/anchors/failures Parquet), optional WebDataset shards and summary.json."""
from __future__ import annotations

import glob
import json
import os
import tarfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable

import multiprocessing as mp_
import pandas as pd

from gloria.data import schema
from gloria.data.config import DataConfig
from gloria.data.pipeline import VIDEO_EXTENSIONS, VideoResult, process_video


def list_videos(spec: str) -> list[str]:
    """A directory (searched recursively for video extensions), a glob pattern, or one file."""
    p = Path(spec)
    if p.is_dir():
        files = [str(f) for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS]
    elif p.is_file():
        files = [str(p)]
    else:
        files = sorted(f for f in glob.glob(spec, recursive=True) if Path(f).is_file())
        if not files and not any(c in spec for c in "*?["):
            raise FileNotFoundError(f"--videos: no such file or directory: {spec}")
    if not files:
        raise FileNotFoundError(f"--videos: no video files found in {spec}")
    return files


def _judge_for(cfg: DataConfig, out: str):
    if not cfg.judge.enabled:
        return None
    from gloria.data.judge import ExpressionJudge

    return ExpressionJudge.from_config(cfg.judge, default_cache=str(Path(out) / "judge_cache.jsonl"))


_WORKER: dict[str, Any] = {}


def _worker_init(cfg_dict: dict, out: str) -> None:
    import warnings

    from gloria.data.config import load_config

    warnings.filterwarnings("ignore")
    os.environ.setdefault("GLOG_minloglevel", "2")
    import torch

    torch.set_num_threads(1)
    cfg = load_config(overrides=cfg_dict)
    _WORKER.update(cfg=cfg, out=out, judge=_judge_for(cfg, out))


def _worker_run(path: str) -> dict:
    return process_video(path, _WORKER["out"], _WORKER["cfg"], _WORKER["judge"]).to_json()


def run_local(paths: list[str], out: str, cfg: DataConfig, workers: int, on_result: Callable[[VideoResult], None]) -> None:
    if workers <= 1:
        _worker_init(cfg.to_dict(), out)
        for p in paths:
            on_result(VideoResult(**_worker_run(p)))
        return
    ctx = mp_.get_context("spawn")  # MediaPipe/torch state does not survive fork()
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init, initargs=(cfg.to_dict(), out)) as ex:
        futs = {ex.submit(_worker_run, p): p for p in paths}
        for f in as_completed(futs):
            try:
                on_result(VideoResult(**f.result()))
            except Exception as err:  # a crashed worker (e.g. a decoder segfault) is a failure row, not a crash
                r = VideoResult(video_path=futs[f], video_id=None)
                r.failures.append({"video_path": futs[f], "video_id": None, "shot_index": None, "stage": "error",
                                   "reason": type(err).__name__, "detail": str(err)[:500]})
                on_result(r)


def run_ray(paths: list[str], out: str, cfg: DataConfig, workers: int, on_result: Callable[[VideoResult], None]) -> None:
    """Ray Data: one row per input video, `map` in `workers` actor-free tasks; connects to RAY_ADDRESS if set."""
    try:
        import ray
    except ImportError as err:
        raise ImportError("--engine ray needs Ray: pip install 'ray[data]'") from err
    started = False
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS"), num_cpus=None if os.environ.get("RAY_ADDRESS") else max(1, workers),
                 include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        started = True
    cfg_dict, out_abs = cfg.to_dict(), str(Path(out).resolve())

    class _Fn:
        def __init__(self):
            _worker_init(cfg_dict, out_abs)

        def __call__(self, row: dict) -> dict:
            return {"result": json.dumps(_worker_run(row["path"]))}

    try:
        ds = ray.data.from_items([{"path": str(Path(p).resolve())} for p in paths], override_num_blocks=len(paths))
        ds = ds.map(_Fn, concurrency=max(1, workers), num_cpus=1)
        for row in ds.iter_rows():
            on_result(VideoResult(**json.loads(row["result"])))
    finally:
        if started:
            ray.shutdown()


def write_shards(out: Path, clips: pd.DataFrame, shard_size: int) -> pd.DataFrame:
    """Pack clips into WebDataset tars `shards/{i:05d}.tar` ({clip_id}.mp4 + {clip_id}.json); sets `shard`."""
    clips = clips.sort_values("clip_id").reset_index(drop=True)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    for i in range(0, len(clips), shard_size):
        name = f"shards/{i // shard_size:05d}.tar"
        tmp = out / f"{name}.tmp"
        with tarfile.open(tmp, "w") as tar:
            for _, row in clips.iloc[i:i + shard_size].iterrows():
                tar.add(out / row["video_path"], arcname=f"{row['clip_id']}.mp4")
                meta = json.dumps({k: (None if pd.isna(v) else v) for k, v in row.items() if k != "shard"}, default=str).encode()
                ti = tarfile.TarInfo(f"{row['clip_id']}.json")
                ti.size = len(meta)
                import io

                tar.addfile(ti, io.BytesIO(meta))
        os.replace(tmp, out / name)
        clips.loc[i:i + shard_size - 1, "shard"] = name
    return clips


def build_dataset(videos: str | list[str], out: str | os.PathLike, cfg: DataConfig, engine: str = "local",
                  workers: int | None = None, progress: bool = True) -> dict:
    """Process every input; returns the summary dict (also written to OUT/summary.json)."""
    from tqdm import tqdm

    paths = list_videos(videos) if isinstance(videos, str) else list(videos)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    if engine not in ("local", "ray"):
        raise ValueError(f"--engine must be 'local' or 'ray', got {engine!r}")
    results: list[VideoResult] = []
    t0 = time.perf_counter()
    bar = tqdm(total=len(paths), unit="video", desc="gloria data build", disable=not progress, dynamic_ncols=True)

    def on_result(r: VideoResult) -> None:
        results.append(r)
        src = sum(x.duration_s for x in results if not x.skipped)
        el = time.perf_counter() - t0
        bar.set_postfix(clips=sum(len(x.clips) for x in results), src_s_per_s=f"{src / max(el, 1e-9):.2f}",
                        skipped=sum(x.skipped for x in results))
        bar.update(1)

    (run_ray if engine == "ray" else run_local)(paths, str(out), cfg, workers, on_result)
    bar.close()
    wall = time.perf_counter() - t0
    results.sort(key=lambda r: r.video_path)
    clips = pd.DataFrame([c for r in results for c in r.clips]) if any(r.clips for r in results) else schema.empty_frame("clips")
    anchors = pd.DataFrame([a for r in results for a in r.anchors]) if any(r.anchors for r in results) else schema.empty_frame("anchors")
    fails = pd.DataFrame([f for r in results for f in r.failures]) if any(r.failures for r in results) else schema.empty_frame("failures")
    if cfg.clips.webdataset and len(clips):
        clips = write_shards(out, clips, cfg.clips.shard_size)
    schema.write_table(clips, out / schema.FILENAMES["clips"], "clips")
    schema.write_table(anchors, out / schema.FILENAMES["anchors"], "anchors")
    schema.write_table(fails, out / schema.FILENAMES["failures"], "failures")
    summary = summarize(results, wall, engine, workers)
    tmp = out / ".summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    os.replace(tmp, out / "summary.json")
    return summary


def summarize(results: list[VideoResult], wall_s: float, engine: str, workers: int) -> dict:
    counters: Counter = Counter()
    for r in results:
        counters.update(r.counters)
    processed = [r for r in results if not r.skipped]
    src = sum(r.duration_s for r in processed)
    per_cat = Counter(f"{a['type']}/{a['category']}" for r in results for a in r.anchors)
    dropped = Counter(f"{f['stage']}/{f['reason']}" for r in results for f in r.failures)
    return {
        "videos": len(results),
        "videos_processed": len(processed),
        "videos_skipped_resume": len(results) - len(processed),
        "videos_failed": sum(1 for r in results if any(f["shot_index"] is None for f in r.failures)),
        "clips": sum(len(r.clips) for r in results),
        "clip_seconds": sum(c["end_s"] - c["start_s"] for r in results for c in r.clips),
        "long_shots_kept": counters.get("shots_kept", 0),
        "shots_detected": counters.get("shots_detected", 0),
        "dropped": dict(sorted(dropped.items())),
        "anchors_per_category": dict(sorted(per_cat.items())),
        "counters": dict(sorted(counters.items())),
        "throughput": {
            "engine": engine, "workers": workers, "wall_s": round(wall_s, 3),
            "source_seconds": round(src, 3),
            "videos_per_s": round(len(processed) / wall_s, 4) if wall_s > 0 else None,
            "source_s_per_wall_s": round(src / wall_s, 4) if wall_s > 0 else None,
            "source_s_per_wall_s_per_worker": round(src / wall_s / workers, 4) if wall_s > 0 else None,
        },
    }
