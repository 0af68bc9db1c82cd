"""Shared fixtures: synthetic latent caches and tiny recipes (CPU, no network)."""
from __future__ import annotations

from pathlib import Path

import pytest

from gloria.training.config import load_config
from gloria.training.testing import write_synthetic_cache

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "tiny"


@pytest.fixture(scope="session")
def synth_cache(tmp_path_factory) -> Path:
    """2 source videos x 2 clips, every anchor category inside and outside every clip; tiny I2V geometry."""
    return write_synthetic_cache(tmp_path_factory.mktemp("cache") / "c", videos=2, clips_per_video=2)


def tiny_cfg(stage: str, cache: Path, out: Path, **overrides):
    """configs/tiny/<stage>.yaml with data.cache / run.output_dir set and dotted overrides applied."""
    sets = {"data.cache": str(cache), "run.output_dir": str(out), **overrides}
    return load_config(TINY / f"{stage}.yaml", sets)


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """The test machine is shared: one intra-op thread is faster than two contended ones."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
