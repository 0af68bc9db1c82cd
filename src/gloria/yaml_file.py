"""Reading a user's YAML file with the project's two clear errors (missing file, invalid YAML)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def read_yaml(path: str | os.PathLike, what: str, error: type[Exception] = ValueError) -> Any:
    """`yaml.safe_load` of the file at `path`; FileNotFoundError "<what> not found: <path>" if it is not a file,
    `error` "<path>: not valid YAML (...)" if it does not parse. Returns the parsed document (None if empty)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} not found: {p}")
    try:
        return yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        raise error(f"{p}: not valid YAML ({err})") from err
