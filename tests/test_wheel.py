"""The wheel is self-contained: built from the checkout, installed into a fresh
virtual environment outside it, every codec runs through the CLI and the Python API.

The fresh environment gets the wheel with ``pip install --no-deps``; its
third-party dependencies (numpy, numba, ...) come from the test run's own
environment through a plain path line in a ``.pth`` file, which adds that
``site-packages`` folder to ``sys.path`` without running its ``.pth`` files:
the editable install of the checkout and ``squeeze-src.pth`` stay inactive, so
no source tree is importable (the script asserts it).  Nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r'''
import io, json, os, struct, subprocess, sys
from pathlib import Path

checkout = Path(sys.argv[1]).resolve()
work = Path(sys.argv[2])
import frappe_cli, squeeze_text, squeeze_binary, squeeze_weights, squeeze_image
for mod in (frappe_cli, squeeze_text, squeeze_binary, squeeze_weights, squeeze_image):
    f = Path(mod.__file__).resolve()
    assert sys.prefix in str(f), f"{mod.__name__} imported from {f}, not the fresh venv"
    assert checkout not in f.parents, f"{mod.__name__} imported from the checkout"
for p in sys.path:  # no source root of the checkout (its .venv may hold the dependencies)
    assert not p or Path(p).resolve() not in (checkout, checkout / "codecs"), p
# the numba cache is keyed by the kernels' content: the installed copy of the same code
# uses the checkout's cache folder (no recompilation after pip install)
cache = os.environ["NUMBA_CACHE_DIR"]
assert cache == os.environ["SQZ_TEST_CHECKOUT_CACHE"], (cache,
                                                       os.environ["SQZ_TEST_CHECKOUT_CACHE"])

import numpy as np
rng = np.random.default_rng(1)
text = (b"The wheel carries every codec and its models. " * 300
        + bytes(rng.integers(97, 123, 4000, dtype=np.uint8)))
elf = Path("/bin/ls").read_bytes()[:65536]
w = rng.standard_normal(20000).astype(np.float32)
hdr = json.dumps({"w": {"dtype": "F32", "shape": [20000], "data_offsets": [0, w.nbytes]}})
hdr = hdr.encode() + b" " * (-len(hdr) % 8)
st = struct.pack("<Q", len(hdr)) + hdr + w.tobytes()
from PIL import Image
yy, xx = np.mgrid[0:96, 0:128]
img = np.stack([(xx * 2) % 256, (yy * 2) % 256, (xx + yy) % 256], -1).astype(np.uint8)
png = io.BytesIO(); Image.fromarray(img).save(png, "PNG"); png = png.getvalue()

cases = [("text", "text", text), ("exe", "exe", elf), ("dfloat11", "dfloat11", st),
         ("enec", "enec", st), ("zstd", "zstd", text), ("store", "store", text),
         ("auto-text", "auto", text), ("auto-weights", "auto", st)]
report = {}
squeeze = str(Path(sys.executable).parent / "squeeze")
for name, codec, data in cases:
    src = work / f"{name}.bin"
    src.write_bytes(data)
    r = subprocess.run([squeeze, "-q", "--codec", codec, str(src)], capture_output=True)
    assert r.returncode == 0, (name, r.stderr)
    blob = (work / f"{name}.bin.sqz").read_bytes()
    src.unlink()
    r = subprocess.run([squeeze, "-d", str(work / f"{name}.bin.sqz")], capture_output=True)
    assert r.returncode == 0, (name, r.stderr)
    assert src.read_bytes() == data, name
    api = frappe_cli.compress(data, codec=codec)
    assert api == blob, f"{name}: API bytes differ from the CLI's"
    assert frappe_cli.decompress(api) == data, name
    report[name] = len(blob)
# the lossy image codec: CLI and API, model found as package data
(work / "img.png").write_bytes(png)
r = subprocess.run([squeeze, "-q", "--codec", "frappe", "--bpp", "0.5", str(work / "img.png")],
                   capture_output=True)
assert r.returncode == 0, r.stderr
blob = (work / "img.png.sqz").read_bytes()
out = frappe_cli.decompress(blob)
assert Image.open(io.BytesIO(out)).size == (128, 96)
assert frappe_cli.compress(png, codec="frappe", bpp=0.5) == blob
report["frappe"] = len(blob)
with frappe_cli.open(work / "t.sqz", "wb", codec="zstd") as f:
    f.write(text)
with frappe_cli.open(work / "t.sqz") as f:
    f.seek(1000)
    assert f.read(10) == text[1000:1010]
# `squeeze bench` ships (the harness and its lossless suite); the codec families' suites are
# tooling of the source checkout: the installed command says so in one line
r = subprocess.run([squeeze, "bench", str(work / "text.bin"), "--codec", "zstd", "--peers",
                    "gzip-9", "--repeat", "1"], capture_output=True, text=True)
assert r.returncode == 0 and "sqz-zstd" in r.stdout, r.stderr
r = subprocess.run([squeeze, "bench", "--suite", "image", str(work / "img.png")],
                   capture_output=True, text=True)
assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
assert "suite 'image' is not installed" in r.stderr, r.stderr
# the tokenizer subcommand the exe codec contributes (training is not in the wheel)
r = subprocess.run([squeeze, "tokenizer", "stats", "-V", "4096", str(work / "exe.bin")],
                   capture_output=True, text=True)
assert r.returncode == 0 and "bytes/token" in r.stderr, r.stderr
print(json.dumps(report))
'''


def _site_packages(python: Path) -> str:
    return subprocess.run([str(python), "-c", "import sysconfig; "
                           "print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()


def _tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("the wheel test needs git to list the checkout's files")
    return [f for f in out.splitlines() if f and (ROOT / f).is_file()]


def _check_runtime_only(wheel: Path, names: list[str]) -> None:
    """No bench suite, bench driver or trainer in the wheel (they live in benchmarks/ and
    models/); the harness of ``squeeze bench`` (frappe_cli/bench) ships and names no codec
    package; the suites the wheel's entry points declare are outside it."""
    import ast
    import configparser

    modules = [n for n in names if n.endswith(".py")]
    assert any(n.startswith("frappe_cli/bench/") for n in modules)
    stems = {n: n.rsplit("/", 1)[1][:-3] for n in modules}
    assert not [n for n, stem in stems.items() if n.startswith("squeeze_")
                and ("bench" in stem or stem.startswith("train"))]
    zf = zipfile.ZipFile(wheel)
    for n in modules:
        tree = ast.parse(zf.read(n), n)
        trainers = [f.name for f in tree.body if isinstance(f, ast.FunctionDef)
                    and f.name.startswith("train")]
        assert not trainers, (n, trainers)
        if n.startswith("frappe_cli/bench/"):
            imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                        for a in node.names}
            imported |= {node.module for node in ast.walk(tree)
                         if isinstance(node, ast.ImportFrom) and node.module}
            bad = {m for m in imported if m.split(".")[0].startswith("squeeze_")
                   or m.split(".")[0] == "benchmarks"}
            assert not bad, (n, bad)
    (ep,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    cp = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    cp.read_string(zf.read(ep).decode())
    suites = dict(cp.items("squeeze.bench_suites"))
    assert suites and all(t.strip().startswith("benchmarks.suites.") for t in suites.values())
    assert not any(n.startswith("benchmarks/") for n in names)


def test_wheel_in_fresh_venv(tmp_path):
    pytest.importorskip("setuptools")
    # a copy of the checkout's files: building in place would leave build/ behind
    src = tmp_path / "src"
    for rel in _tracked_files():
        if rel.split("/")[0] in ("frappe_cli", "codecs") or rel in ("pyproject.toml",
                                                                     "README.md"):
            dst = src / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dst)
    dist = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                        "--no-build-isolation", "-w", str(dist), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (wheel,) = dist.glob("squeeze_codecs-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("squeeze_image/models/MANIFEST.json", "squeeze_binary/models/MANIFEST.json"):
        assert needed in names
    assert any(n.startswith("squeeze_image/models/frappe-image-") for n in names)
    assert any(n.startswith("squeeze_binary/models/binary-bpe-64k-") for n in names)
    assert not any(n.startswith(("tests/", "models/", "benchmarks/", "corpora/")) for n in names)
    _check_runtime_only(wheel, names)
    size = wheel.stat().st_size
    print(f"\nwheel {wheel.name}: {size:,} bytes")
    # every model that ever shipped stays (its streams must decode), so the wheel grows
    # by one model file per model: the guard is on what is not a model.  The model files
    # in the wheel are exactly the manifests' entries (name, size), each under the
    # issue's 20 MB; everything else (code, manifests, metadata) stays under 2 MiB
    # (0.3 MB when this guard was written), which is what catches a stray artefact.
    zf = zipfile.ZipFile(wheel)
    model_bytes = 0
    for pkg in ("squeeze_image", "squeeze_binary"):
        man = json.loads(zf.read(f"{pkg}/models/MANIFEST.json"))
        listed = {f"{pkg}/models/{e['file']}": e["size"] for e in man}
        shipped = {i.filename: i for i in zf.infolist()
                   if i.filename.startswith(f"{pkg}/models/")
                   and not i.filename.endswith("/MANIFEST.json")}
        assert set(shipped) == set(listed), (pkg, set(shipped) ^ set(listed))
        for n, info in shipped.items():
            assert info.file_size == listed[n] < 20_000_000, n
            model_bytes += info.compress_size
    assert size - model_bytes < 2 << 20, (size, model_bytes)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                        "--no-deps", "--no-index", str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    # dependencies from this environment: a path line, not a site dir (its .pth files,
    # the editable install among them, are not run)
    deps = sysconfig.get_paths()["purelib"]
    Path(_site_packages(py), "zz-test-deps.pth").write_text(deps + "\n")

    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR", "SQUEEZE_MODELS", "PYTHONHOME")}
    # the checkout's own cache folder, as a process without NUMBA_CACHE_DIR computes it
    probe = subprocess.run([sys.executable, "-c", "import frappe_cli, os; "
                            "print(os.environ['NUMBA_CACHE_DIR'])"],
                           capture_output=True, text=True, check=True,
                           env=dict(env, PYTHONPATH=os.pathsep.join([str(ROOT),
                                                                     str(ROOT / "codecs")])))
    env["SQZ_TEST_CHECKOUT_CACHE"] = probe.stdout.strip()
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    r = subprocess.run([str(py), "-c", SCRIPT, str(ROOT), str(work)], cwd=work, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    sizes = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(sizes) >= {"text", "exe", "dfloat11", "enec", "zstd", "store", "frappe"}

    # the README's Python examples run as printed from the installed wheel
    import re

    code = "\n".join(re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(),
                                flags=re.S))
    guard = ("import sys, pathlib\nimport frappe_cli\n"
             "assert sys.prefix in str(pathlib.Path(frappe_cli.__file__).resolve())\n")
    readme = tmp_path / "readme"
    readme.mkdir()
    r = subprocess.run([str(py), "-c", guard + code], cwd=readme, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
