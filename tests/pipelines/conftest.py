"""Fixtures for GloriaPipeline tests (tiny random components, built once per session)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from pipeline_helpers import make_pipe, rgb_image


@pytest.fixture(scope="session")
def pipe():
    return make_pipe("i2v", audio=True)


@pytest.fixture
def first_frame(tmp_path):
    p = tmp_path / "first.png"
    rgb_image().save(p)
    return p
