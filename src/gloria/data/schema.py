"""The training manifest: two Parquet tables written by `gloria data build` and read by the trainer.

A dataset directory holds::

    DATASET/
      clips.parquet      one row per 5 s training clip (CLIPS_SCHEMA)
      anchors.parquet    one row per anchor frame of a long-shot source video (ANCHORS_SCHEMA)
      failures.parquet   one row per input video or shot that was dropped, with the reason (FAILURES_SCHEMA)
      summary.json       counts per filter and anchors per category
      clips/ anchors/    the media files

`source_video_id` is the id of a *long shot* (one continuous camera take cut from an input file):
its clips and its anchors share it, so a trainer can pick, for one clip, anchors from inside the clip
(`start_s <= timestamp_s < end_s`) and from outside it (Superset Content Anchoring, paper §4.1).
All times are seconds on the timeline of the original input file; all paths are relative to the
dataset directory (use `resolve_path`). Pixel boxes are in the coordinates of the source frame.

The tables are validated on read: a missing column, a wrong type, a null in a required column or an
unknown anchor type/category raises `ManifestError` naming the file and the column.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gloria.models.anchors import ANCHOR_TYPES, CATEGORIES

SCHEMA_VERSION = "1"

CLIPS_SCHEMA = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),  # "<source_video_id>_c<k>"
        pa.field("source_video_id", pa.string(), nullable=False),  # the long shot the clip was cut from
        pa.field("start_s", pa.float64(), nullable=False),  # clip start on the input file's timeline
        pa.field("end_s", pa.float64(), nullable=False),  # = start_s + num_frames / fps
        pa.field("fps", pa.float64(), nullable=False),  # frames per second of the clip file (24)
        pa.field("num_frames", pa.int32(), nullable=False),  # 120 for 5 s at 24 fps
        pa.field("width", pa.int32(), nullable=False),  # pixels of the clip file
        pa.field("height", pa.int32(), nullable=False),
        pa.field("caption", pa.string(), nullable=False),  # "" when no captioner was run
        pa.field("video_path", pa.string(), nullable=False),  # relative to the dataset dir; mp4 with audio if any
        pa.field("has_audio", pa.bool_(), nullable=False),  # the clip file holds an audio stream in sync
        pa.field("audio_path", pa.string(), nullable=True),  # optional separate audio file (else in video_path)
        pa.field("shard", pa.string(), nullable=True),  # WebDataset shard holding the clip, if written
    ],
    metadata={"gloria.table": "clips", "gloria.schema_version": SCHEMA_VERSION},
)

ANCHORS_SCHEMA = pa.schema(
    [
        pa.field("anchor_id", pa.string(), nullable=False),
        pa.field("source_video_id", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),  # gloria.models.anchors.ANCHOR_TYPES
        pa.field("category", pa.string(), nullable=False),  # "global" | a viewpoint | an expression
        pa.field("timestamp_s", pa.float64(), nullable=False),  # frame time on the input file's timeline
        pa.field("x0", pa.int32(), nullable=False),  # crop box in source-frame pixels, [x0, x1) x [y0, y1)
        pa.field("y0", pa.int32(), nullable=False),
        pa.field("x1", pa.int32(), nullable=False),
        pa.field("y1", pa.int32(), nullable=False),
        pa.field("image_path", pa.string(), nullable=False),  # relative to the dataset dir (PNG of the crop)
        pa.field("score", pa.float64(), nullable=False),  # backend confidence in [0, 1]
        pa.field("backend", pa.string(), nullable=False),  # e.g. "random", "mediapipe-pose", "fer+judge"
    ],
    metadata={"gloria.table": "anchors", "gloria.schema_version": SCHEMA_VERSION},
)

FAILURES_SCHEMA = pa.schema(
    [
        pa.field("video_path", pa.string(), nullable=False),  # the input file as given
        pa.field("video_id", pa.string(), nullable=True),  # content hash prefix (null if unreadable)
        pa.field("shot_index", pa.int32(), nullable=True),  # null for a whole-video failure
        pa.field("stage", pa.string(), nullable=False),  # probe | quality | shots | person | sync | clips | error
        pa.field("reason", pa.string(), nullable=False),  # machine-readable key, e.g. "too_short"
        pa.field("detail", pa.string(), nullable=False),  # human-readable message with the measured value
    ],
    metadata={"gloria.table": "failures", "gloria.schema_version": SCHEMA_VERSION},
)

SCHEMAS = {"clips": CLIPS_SCHEMA, "anchors": ANCHORS_SCHEMA, "failures": FAILURES_SCHEMA}
FILENAMES = {"clips": "clips.parquet", "anchors": "anchors.parquet", "failures": "failures.parquet"}


class ManifestError(ValueError):
    """A manifest table is malformed; the message names the file and the column."""


def empty_frame(table: str) -> pd.DataFrame:
    """An empty DataFrame with the columns and dtypes of `table` ("clips" | "anchors" | "failures")."""
    return SCHEMAS[table].empty_table().to_pandas()


def _to_table(df: pd.DataFrame, schema: pa.Schema, where: str) -> pa.Table:
    missing = [f.name for f in schema if f.name not in df.columns and not f.nullable]
    if missing:
        raise ManifestError(f"{where}: missing required column(s) {missing}")
    df = df.copy()
    for f in schema:
        if f.name not in df.columns:
            df[f.name] = None
    try:
        return pa.Table.from_pandas(df[[f.name for f in schema]], schema=schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError) as err:
        raise ManifestError(f"{where}: {err}") from err


def write_table(df: pd.DataFrame, path: str | os.PathLike, table: str) -> Path:
    """Validate `df` against the `table` schema and write it to `path` atomically (temp file + rename)."""
    path = Path(path)
    schema = SCHEMAS[table]
    pa_table = _to_table(df, schema, f"{path} ({table})")
    validate_table(pa_table.to_pandas(), table, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    pq.write_table(pa_table, tmp)
    os.replace(tmp, path)
    return path


def read_table(path: str | os.PathLike, table: str) -> pd.DataFrame:
    """Read and validate a manifest table; raises FileNotFoundError or ManifestError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{table} manifest not found: {path}")
    schema = SCHEMAS[table]
    try:
        got = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise ManifestError(f"{path}: not a readable Parquet file ({err})") from err
    for f in schema:
        if f.name not in got.column_names:
            if f.nullable:
                continue
            raise ManifestError(f"{path}: missing column {f.name!r} of the {table} table")
        have = got.schema.field(f.name).type
        if have != f.type and not (pa.types.is_null(have) and f.nullable):
            try:
                got = got.set_column(got.column_names.index(f.name), f.name, got.column(f.name).cast(f.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                raise ManifestError(f"{path}: column {f.name!r} has type {have}, expected {f.type}") from err
    df = _to_table(got.to_pandas(), schema, str(path)).to_pandas()
    validate_table(df, table, str(path))
    return df


def validate_table(df: pd.DataFrame, table: str, where: str = "<table>") -> None:
    """Check nulls in required columns and the values the trainer relies on."""
    for f in SCHEMAS[table]:
        if not f.nullable and df[f.name].isna().any():
            row = int(df[f.name].isna().to_numpy().nonzero()[0][0])
            raise ManifestError(f"{where}: column {f.name!r} is null in row {row}")
    if table == "clips" and len(df):
        bad = df.index[(df["end_s"] <= df["start_s"]) | (df["num_frames"] <= 0) | (df["fps"] <= 0)]
        if len(bad):
            raise ManifestError(f"{where}: column 'end_s'/'num_frames'/'fps' invalid in row {int(bad[0])}")
        dup = df["clip_id"].duplicated()
        if dup.any():
            raise ManifestError(f"{where}: column 'clip_id' has duplicate {df['clip_id'][dup].iloc[0]!r}")
    if table == "anchors":
        for i, (t, c) in enumerate(zip(df["type"], df["category"])):
            if t not in ANCHOR_TYPES:
                raise ManifestError(f"{where}: column 'type' row {i}: unknown anchor type {t!r}; expected one of {list(ANCHOR_TYPES)}")
            if c not in CATEGORIES[t]:
                raise ManifestError(f"{where}: column 'category' row {i}: unknown {t} category {c!r}; expected one of {list(CATEGORIES[t])}")
        bad = df.index[(df["x1"] <= df["x0"]) | (df["y1"] <= df["y0"])]
        if len(bad):
            raise ManifestError(f"{where}: column 'x0'/'x1'/'y0'/'y1' give an empty crop box in row {int(bad[0])}")


def write_clips(df: pd.DataFrame, dataset_dir: str | os.PathLike) -> Path:
    return write_table(df, Path(dataset_dir) / FILENAMES["clips"], "clips")


def write_anchors(df: pd.DataFrame, dataset_dir: str | os.PathLike) -> Path:
    return write_table(df, Path(dataset_dir) / FILENAMES["anchors"], "anchors")


def read_clips(dataset_dir: str | os.PathLike) -> pd.DataFrame:
    """clips.parquet of a dataset directory (or a path to the file itself)."""
    p = Path(dataset_dir)
    return read_table(p if p.suffix == ".parquet" else p / FILENAMES["clips"], "clips")


def read_anchors(dataset_dir: str | os.PathLike) -> pd.DataFrame:
    """anchors.parquet of a dataset directory (or a path to the file itself)."""
    p = Path(dataset_dir)
    return read_table(p if p.suffix == ".parquet" else p / FILENAMES["anchors"], "anchors")


def resolve_path(dataset_dir: str | os.PathLike, rel: str) -> Path:
    """Absolute path of a `video_path` / `image_path` / `audio_path` value."""
    return (Path(dataset_dir) / rel).resolve()


def anchors_for_clip(anchors: pd.DataFrame, clip: pd.Series | dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the anchors of a clip's source video into (inside the clip, outside the clip) by timestamp."""
    a = anchors[anchors["source_video_id"] == clip["source_video_id"]]
    inside = (a["timestamp_s"] >= clip["start_s"]) & (a["timestamp_s"] < clip["end_s"])
    return a[inside], a[~inside]
