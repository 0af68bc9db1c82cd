import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("GLOG_minloglevel", "2")

pytest.importorskip("mediapipe", reason="data extra not installed: pip install -e '.[data]'")
