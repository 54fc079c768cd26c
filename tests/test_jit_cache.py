"""numba's cache folder is keyed by the kernel sources (stale-kernel protection)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = "import frappe_cli, os; print(os.environ.get('NUMBA_CACHE_DIR', ''))"


def _dir(env):
    env = dict(env, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "codecs")]))
    return subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env,
                          timeout=60).stdout.strip()


def test_cache_dir_keyed_and_overridable(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    d = _dir(env)
    assert d.startswith(str(tmp_path / "squeeze" / "numba-")) and Path(d).is_dir()
    assert _dir(env) == d  # same sources, same folder
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "mine")
    assert _dir(env) == str(tmp_path / "mine")
