"""The Python examples of README.md and docs/API.md run exactly as printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(path: Path) -> str:
    """Every ```python block of ``path``, in order, as one program."""
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)
    assert blocks, f"{path.name} has no python examples"
    return "\n".join(blocks)


@pytest.mark.parametrize("doc", ["README.md", "docs/API.md"])
def test_examples_run_as_printed(doc, tmp_path):
    code = python_blocks(ROOT / doc)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
