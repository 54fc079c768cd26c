"""numba's on-disk cache is keyed by the kernel sources' *content*, never their path.

Two copies of the package in different folders share the compiled kernels; an
edit of a callee in another module recompiles its callers (stale-kernel
protection).  The kernels here are tiny ones of the test's own, placed in the
copies' ``frappe_cli/coding`` (a kernel package), so nothing big compiles.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = "import frappe_cli, os; print(os.environ.get('NUMBA_CACHE_DIR', ''))"

CALLEE = '''"""test callee"""
from frappe_cli.jit import njit


@njit(cache=True)
def bump(x):
    return x + 1
'''

KERNEL = '''"""test kernel: calls a function of another module"""
from frappe_cli.coding._t_callee import bump
from frappe_cli.jit import njit


@njit(cache=True)
def twice(x):
    return 2 * bump(x)
'''

PROBE = '''
import json, os, sys
from frappe_cli.coding._t_kernel import twice
v = twice(20)
s = twice.stats
loc = twice._cache._impl.locator
print(json.dumps({"value": int(v), "hits": sum(s.cache_hits.values()),
                  "misses": sum(s.cache_misses.values()), "path": s.cache_path,
                  "locator": type(loc).__name__, "dir": os.environ.get("NUMBA_CACHE_DIR")}))
'''


def _dir(env):
    env = dict(env, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "codecs")]))
    return subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env,
                          timeout=60).stdout.strip()


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env.update(extra)
    return env


def test_cache_dir_keyed_and_overridable(tmp_path):
    env = _env(tmp_path)
    d = _dir(env)
    assert d.startswith(str(tmp_path / "cache" / "squeeze" / "numba-")) and Path(d).is_dir()
    assert _dir(env) == d  # same sources, same folder
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "mine")
    assert _dir(env) == str(tmp_path / "mine")


def _clone(dst: Path) -> Path:
    """A copy of the frappe_cli package with the test kernels in its coding layer."""
    shutil.copytree(ROOT / "frappe_cli", dst / "frappe_cli",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (dst / "frappe_cli" / "coding" / "_t_callee.py").write_text(CALLEE)
    (dst / "frappe_cli" / "coding" / "_t_kernel.py").write_text(KERNEL)
    return dst


def _probe(checkout: Path, env: dict) -> dict:
    import json

    env = dict(env, PYTHONPATH=str(checkout))
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env,
                       cwd=checkout, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_clones_share_kernels_and_callee_edits_recompile(tmp_path):
    c1, c2 = _clone(tmp_path / "c1"), _clone(tmp_path / "c2")
    env = _env(tmp_path)
    first = _probe(c1, env)
    assert first == dict(first, value=42, hits=0, misses=1, locator="SqueezeCacheLocator")
    base = str(tmp_path / "cache" / "squeeze" / "numba-")
    assert first["path"].startswith(base) and first["path"].endswith("frappe_cli.coding")
    assert str(c1) not in first["path"]
    # the other clone (same content, another path) loads the compiled kernel
    second = _probe(c2, env)
    assert second == dict(first, hits=1, misses=0)
    # an edit of the callee's module (a comment is enough) is a new cache folder:
    # the caller, whose own file did not change, is compiled again
    callee = c2 / "frappe_cli" / "coding" / "_t_callee.py"
    callee.write_text(CALLEE + "# an edit\n")
    edited = _probe(c2, env)
    assert edited["misses"] == 1 and edited["hits"] == 0 and edited["value"] == 42
    assert edited["dir"] != first["dir"]
    callee.write_text(CALLEE.replace("x + 1", "x + 2"))  # a behaviour change is picked up
    assert _probe(c2, env)["value"] == 44
    # the first clone still finds its kernels
    assert _probe(c1, env) == dict(first, hits=1, misses=0)


def test_user_cache_dir_is_content_keyed_too(tmp_path):
    c1, c2 = _clone(tmp_path / "c1"), _clone(tmp_path / "c2")
    env = _env(tmp_path, NUMBA_CACHE_DIR=str(tmp_path / "mine"))
    first = _probe(c1, env)
    assert first["misses"] == 1 and first["dir"] == str(tmp_path / "mine")
    assert first["path"].startswith(str(tmp_path / "mine" / "numba-"))
    assert _probe(c2, env)["hits"] == 1
    (c2 / "frappe_cli" / "coding" / "_t_callee.py").write_text(CALLEE + "# edit\n")
    assert _probe(c2, env)["misses"] == 1


def test_source_digest_is_remembered_by_stat(tmp_path):
    """A start reads the memo file, not the sources, while their stat is unchanged."""
    c1 = _clone(tmp_path / "c1")
    env = _env(tmp_path, PYTHONPATH=str(c1))
    code = "import frappe_cli, os; print(os.environ['NUMBA_CACHE_DIR'])"

    def run():
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env, cwd=c1, timeout=60).stdout.strip()

    d = run()
    memos = list((tmp_path / "cache" / "squeeze" / "srcdigest").iterdir())
    assert len(memos) == 1
    line, _, stamp = memos[0].read_bytes().partition(b"\n")
    assert Path(d).name == "numba-" + line.decode()[:16]
    memos[0].write_bytes(b"f" * 64 + b"\n" + stamp)  # a planted digest is believed...
    assert Path(run()).name == "numba-" + "f" * 16
    callee = c1 / "frappe_cli" / "coding" / "_t_callee.py"
    st = callee.stat()
    os.utime(callee, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert run() == d  # ...until a stat changes: the sources are hashed again


def test_other_files_keep_numbas_locators(tmp_path):
    script = tmp_path / "mine.py"
    script.write_text("from frappe_cli.jit import njit\n\n@njit(cache=True)\ndef f(x):\n"
                      "    return x * 3\n\nprint(f(2), type(f._cache._impl.locator).__name__)\n")
    env = _env(tmp_path, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "codecs")]))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    value, locator = r.stdout.split()
    assert value == "6" and locator != "SqueezeCacheLocator"


def test_import_stays_cheap(tmp_path):
    """``import frappe_cli`` does not import numba, and the content key costs little."""
    env = _env(tmp_path, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "codecs")]))
    code = ("import sys, time\n"
            "import frappe_cli\n"
            "t = time.perf_counter()\n"
            "for _ in range(20):\n"
            "    frappe_cli._DIGEST = None\n"
            "    frappe_cli._sources_digest()\n"
            "print('numba' in sys.modules, 'numpy' in sys.modules,"
            " (time.perf_counter() - t) / 20)\n")
    subprocess.run([sys.executable, "-c", code], env=env, timeout=60, check=True,
                   capture_output=True)  # writes the memo
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60, check=True).stdout.split()
    assert time.perf_counter() - t0 < 30
    assert out[:2] == ["False", "False"]
    assert float(out[2]) < 0.02  # measured ~1.5 ms (walk + stat + one small read)
