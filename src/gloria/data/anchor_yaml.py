"""The anchor-set file that `gloria anchors extract` writes and `gloria generate --anchors` reads.

`anchors.yaml` sits next to its images; image paths are relative to the YAML file's folder::

    anchors:
      - {image: global.png, type: global}
      - {image: view_back.png, type: viewpoint, category: back}
      - {image: expr_happy.png, type: expression, category: happy}

Optional keys per entry: `timestamp_s` (where the frame came from), `score`. Types and categories
come from `gloria.models.anchors`; at most 1 global, 4 viewpoint and 8 expression anchors.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from gloria.models.anchors import CATEGORIES, check_anchor_counts, validate_type
from gloria.yaml_file import read_yaml

_KEYS = {"image", "type", "category", "timestamp_s", "score"}


def load_anchor_yaml(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read and validate an anchors.yaml.

    Returns a list of dicts {"image": absolute path str, "type": str, "category": str | None, ...extra keys}.
    Raises FileNotFoundError (file or an image missing) or ValueError naming the file, entry and key.
    """
    path = Path(path)
    doc = read_yaml(path, "anchors file")
    if not isinstance(doc, dict) or not isinstance(doc.get("anchors"), list):
        raise ValueError(f"{path}: expected a mapping with a list under 'anchors'")
    out = []
    for i, e in enumerate(doc["anchors"]):
        where = f"{path}: anchors[{i}]"
        if not isinstance(e, dict):
            raise ValueError(f"{where}: expected a mapping, got {type(e).__name__}")
        unknown = set(e) - _KEYS
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed {sorted(_KEYS)}")
        for key in ("image", "type"):
            if not isinstance(e.get(key), str) or not e[key]:
                raise ValueError(f"{where}: missing or empty '{key}'")
        try:
            validate_type(e["type"])
        except ValueError as err:
            raise ValueError(f"{where}: 'type': {err}") from None
        cat = e.get("category")
        if e["type"] == "global":
            if cat not in (None, "global"):
                raise ValueError(f"{where}: 'category': a global anchor has no category, got {cat!r}")
            cat = None
        elif cat not in CATEGORIES[e["type"]]:
            raise ValueError(f"{where}: 'category': unknown {e['type']} category {cat!r}; expected one of {list(CATEGORIES[e['type']])}")
        img = (path.parent / e["image"]).resolve()
        if not img.is_file():
            raise FileNotFoundError(f"{where}: image not found: {img}")
        out.append({**e, "image": str(img), "type": e["type"], "category": cat})
    try:
        check_anchor_counts([e["type"] for e in out])
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    seen = set()
    for i, e in enumerate(out):
        key = (e["type"], e["category"])
        if key in seen:
            raise ValueError(f"{path}: anchors[{i}]: duplicate {e['type']} anchor {e['category'] or 'global'!r}")
        seen.add(key)
    return out


def write_anchor_yaml(path: str | os.PathLike, entries: list[dict[str, Any]]) -> Path:
    """Write entries ({"image", "type", "category"?, "timestamp_s"?, "score"?}) atomically.

    Image paths are stored relative to the YAML's folder (they must lie inside it). The written file
    is re-read with `load_anchor_yaml`, so an invalid set never lands under `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, e in enumerate(entries):
        img = Path(e["image"])
        if img.is_absolute():
            try:
                img = img.resolve().relative_to(path.parent.resolve())
            except ValueError:
                raise ValueError(f"entry {i}: image {e['image']} is not inside {path.parent}") from None
        row: dict[str, Any] = {"image": img.as_posix(), "type": e["type"]}
        if e["type"] != "global":
            row["category"] = e.get("category")
        for k in ("timestamp_s", "score"):
            if e.get(k) is not None:
                row[k] = round(float(e[k]), 4)
        rows.append(row)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(yaml.safe_dump({"anchors": rows}, sort_keys=False, default_flow_style=None))
    try:
        load_anchor_yaml(tmp)
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return path
