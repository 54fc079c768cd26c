"""First-use cost of each codec: numba compiling its kernels into the on-disk cache.

    python benchmarks/cold_start.py [--checkout DIR] [--clone DIR] [--codecs text,exe,...]

For each codec, in a fresh ``XDG_CACHE_HOME`` (so nothing is compiled yet),
runs ``squeeze`` (``python -m frappe_cli`` from ``--checkout``, default this
checkout) to compress and then decompress a small input, and reports the CPU
seconds (user + system, all threads) of each child process; then the same two
commands again (warm: kernels load from the cache).  With ``--clone DIR`` the
warm runs use that other checkout (with the same cache home): a content-keyed
cache makes them as cheap as in the first checkout.

Inputs are tiny (a few KB to a few hundred KB), so the cold numbers are almost
all compilation.  Not shipped in the wheel (``benchmarks/`` is outside the
packages).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODECS = ("text", "exe", "dfloat11", "enec", "frappe")


def _inputs(tmp: Path) -> dict[str, tuple[Path, list[str]]]:
    import numpy as np

    rng = np.random.default_rng(1)
    text = tmp / "sample.txt"
    text.write_bytes(((ROOT / "docs" / "FORMAT.md").read_bytes() * 2)[:60_000])
    exe = tmp / "sample.exe"
    exe.write_bytes(Path(sys.executable).resolve().read_bytes()[:200_000])
    st = tmp / "sample.safetensors"
    w = rng.normal(0, 0.05, 100_000).astype(np.float32).view(np.uint32)
    bf16 = ((w + (((w >> 16) & 1) + 0x7FFF)) >> 16).astype(np.uint16).tobytes()
    header = json.dumps({"w": {"dtype": "BF16", "shape": [100_000],
                               "data_offsets": [0, len(bf16)]}}).encode()
    header += b" " * (-len(header) % 8)
    st.write_bytes(len(header).to_bytes(8, "little") + header + bf16)
    png = tmp / "sample.png"
    from PIL import Image

    y, x = np.mgrid[0:96, 0:128]
    img = np.stack([(x * 2) % 256, (y * 3) % 256, (x + y) % 256], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    png.write_bytes(buf.getvalue())
    return {"text": (text, []), "exe": (exe, []), "dfloat11": (st, []), "enec": (st, []),
            "frappe": (png, ["--bpp", "0.4"])}


def _cpu(cmd: list[str], env: dict, cwd: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.decode()[-500:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _env(checkout: Path, cache: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(cache)
    env["PYTHONPATH"] = os.pathsep.join([str(checkout), str(checkout / "codecs")])
    return env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkout", type=Path, default=ROOT)
    ap.add_argument("--clone", type=Path, default=None,
                    help="another checkout for the warm runs (same cache home)")
    ap.add_argument("--codecs", default=",".join(CODECS))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs = _inputs(tmp)
        for codec in args.codecs.split(","):
            src, extra = inputs[codec]
            cache = tmp / f"cache-{codec}"
            sqz = tmp / f"{codec}.sqz"
            out = tmp / f"{codec}.out"
            comp = [sys.executable, "-m", "frappe_cli", "-q", "-f", "--no-progress", "--codec",
                    codec, *extra, "-o", str(sqz), str(src)]
            dec = [sys.executable, "-m", "frappe_cli", "-q", "-f", "-d", "-o", str(out), str(sqz)]
            env = _env(args.checkout, cache)
            row = {"codec": codec, "bytes": src.stat().st_size,
                   "cold_c": _cpu(comp, env, args.checkout),
                   "cold_d": _cpu(dec, env, args.checkout)}
            warm = args.clone or args.checkout
            wenv = _env(warm, cache)
            row["warm_c"] = _cpu(comp, wenv, warm)
            row["warm_d"] = _cpu(dec, wenv, warm)
            rows.append(row)
            print(f"{codec:9s} {row['bytes']:>8,} B  cold: compress {row['cold_c']:6.2f} s"
                  f"  decompress {row['cold_d']:6.2f} s   warm{' (clone)' if args.clone else ''}:"
                  f" compress {row['warm_c']:5.2f} s  decompress {row['warm_d']:5.2f} s"
                  f"  (CPU s)", flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
