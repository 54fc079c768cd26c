"""Lazy tensor reads and whole-model loads from a compressed safetensors file.

    python benchmarks/bench_safetensors.py [--runs 3] [--reps 10] [--out FILE.md]

Builds a ~450 MB BF16 safetensors file (the MiniLM model that ``make
bench-weights`` prepares, every tensor repeated ``--reps`` times, as
``benchmarks.suites.weights.tiled_safetensors`` does), compresses it with
``dfloat11 -6`` and measures, each in a fresh subprocess (so that peak RSS is
that one operation's; imports and the numba kernels are loaded before the
clock starts):

(a) one ~1.2 MB tensor: ``squeeze_weights.safe_open(...).get_tensor`` against
    decoding the whole .sqz in memory and cutting the tensor out of it (and
    safetensors' own ``safe_open`` on the uncompressed file, for scale);
(b) the whole model: ``squeeze_weights.load_file`` against
    ``safetensors.numpy.load_file`` on the uncompressed file (page cache warm)
    and against ZipNN's decompress (the ``squeeze bench`` peer, one thread) when ``zipnn``
    is importable.

Reported: medians over ``--runs`` of wall seconds, CPU seconds (all threads of
the process) and peak RSS (``VmHWM``) of the child, and its RSS before the
operation.  BF16 numpy arrays need ``ml_dtypes`` (``pip install ml_dtypes``):
without it neither squeeze nor safetensors can return them.  Not shipped in the
wheel (``benchmarks/`` is outside the packages).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "codecs"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

SRC_NAME = "minilm-bf16-rne-from-fp32.safetensors"
TENSOR = "encoder.layer.3.intermediate.dense.weight.5"  # [1536, 384] BF16 = 1.18 MB


# ------------------------------------------------------------------------------------
# child: one measurement


def _status_mb(field: str) -> float:
    """VmRSS / VmHWM of this process (VmHWM, unlike ru_maxrss, starts afresh at exec:
    ru_maxrss keeps the forking parent's peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _warm() -> None:
    """Load the imports and the numba kernels (from their cache) before timing."""
    import numpy as np

    import frappe_cli
    from squeeze_weights import formats as F

    x = np.arange(4096, dtype=np.uint16).tobytes()
    st = F.write_safetensors([("w", "BF16", [4096], x)])
    assert frappe_cli.decompress(frappe_cli.compress(st, "dfloat11")) == st


def _digest(arrays) -> str:
    import hashlib

    h = hashlib.sha256()
    for a in arrays:
        h.update(memoryview(a.reshape(-1).view("u1")))
    return h.hexdigest()[:16]


def child(mode: str, paths: dict, tensor: str) -> dict:
    import ml_dtypes  # noqa: F401  (numpy bfloat16 for both libraries)
    import numpy as np

    _warm()
    import safetensors.numpy

    import frappe_cli
    import squeeze_weights

    if mode == "load-zipnn":
        from benchmarks.suites.weights import ZipNNPeer
    rss0 = _status_mb("VmRSS")
    c0, w0 = time.process_time(), time.perf_counter()
    if mode == "tensor-sqz":
        with squeeze_weights.safe_open(paths["sqz"]) as f:
            out = [f.get_tensor(tensor)]
    elif mode == "tensor-whole":
        with open(paths["sqz"], "rb") as fh:
            raw = frappe_cli.decompress(fh.read())
        n = struct.unpack("<Q", raw[:8])[0]
        info = json.loads(raw[8:8 + n])[tensor]
        a, b = info["data_offsets"]
        out = [np.frombuffer(raw, ml_dtypes.bfloat16, (b - a) // 2, 8 + n + a)
               .reshape(info["shape"]).copy()]
        del raw
    elif mode == "tensor-raw":
        from safetensors import safe_open

        with safe_open(paths["raw"], framework="np") as f:
            out = [f.get_tensor(tensor)]
    elif mode == "load-sqz":
        out = list(squeeze_weights.load_file(paths["sqz"]).values())
    elif mode == "load-raw":
        out = list(safetensors.numpy.load_file(paths["raw"]).values())
    elif mode == "load-zipnn":
        with open(paths["znn"], "rb") as fh:
            raw = ZipNNPeer().decompress(fh.read())  # the peer `squeeze bench` uses
        # safetensors.numpy.load(bytes) has no BF16: cut the arrays out as load_file does
        n = struct.unpack("<Q", raw[:8])[0]
        hdr = json.loads(raw[8:8 + n])
        hdr.pop("__metadata__", None)
        dts = {"BF16": ml_dtypes.bfloat16, "F16": np.float16, "F32": np.float32,
               "I64": np.int64, "I32": np.int32}
        out = []
        for v in hdr.values():
            a, b = v["data_offsets"]
            dt = np.dtype(dts[v["dtype"]])
            out.append(np.frombuffer(raw, dt, (b - a) // dt.itemsize, 8 + n + a)
                       .reshape(v["shape"]).copy())
        del raw
    else:
        raise SystemExit(f"unknown mode {mode}")
    w1, c1 = time.perf_counter(), time.process_time()
    peak = _status_mb("VmHWM")
    nbytes = sum(a.nbytes for a in out)
    if mode.startswith("load"):
        out.sort(key=lambda a: (a.nbytes, a.shape))
    return {"mode": mode, "wall": w1 - w0, "cpu": c1 - c0, "peak_mb": peak, "rss0_mb": rss0,
            "bytes": nbytes, "count": len(out), "digest": _digest(out)}


# ------------------------------------------------------------------------------------
# parent


def prepare(workdir: Path, reps: int, level: int) -> dict:
    from benchmarks.suites.weights import prepare_files, tiled_safetensors

    from frappe_cli import container, registry

    src = ROOT / ".bench" / "weights" / SRC_NAME
    if not src.exists():
        prepare_files(src.parent)
    if not src.exists():
        raise SystemExit(f"{src} is missing (make bench-weights needs the model packages)")
    workdir.mkdir(parents=True, exist_ok=True)
    raw_p = workdir / f"minilm-bf16-x{reps}.safetensors"
    blob = tiled_safetensors(src.read_bytes(), reps)
    if not raw_p.exists() or raw_p.stat().st_size != len(blob):
        raw_p.write_bytes(blob)
    sqz_p = workdir / f"minilm-bf16-x{reps}.safetensors.sqz"
    info = {"raw": str(raw_p), "sqz": str(sqz_p), "raw_size": len(blob)}
    if not sqz_p.exists() or sqz_p.stat().st_mtime < raw_p.stat().st_mtime:
        t = time.perf_counter()
        with open(raw_p, "rb") as src_f, open(sqz_p, "wb") as dst:
            container.compress_stream(src_f, dst, registry.make("dfloat11", level), threads=2)
        info["compress_wall"] = time.perf_counter() - t
    info["sqz_size"] = sqz_p.stat().st_size
    del blob
    try:
        import zipnn  # noqa: F401
    except ImportError:
        info["zipnn"] = None
    else:
        from benchmarks.suites.weights import ZipNNPeer

        znn_p = workdir / f"minilm-bf16-x{reps}.safetensors.znn"
        if not znn_p.exists() or znn_p.stat().st_mtime < raw_p.stat().st_mtime:
            znn_p.write_bytes(ZipNNPeer().compress(raw_p.read_bytes()))
        info["znn"] = str(znn_p)
        info["zipnn"] = znn_p.stat().st_size
    return info


def run_child(mode: str, info: dict, tensor: str) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--paths", json.dumps(info),
           "--tensor", tensor]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _machine() -> str:
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Linux {platform.release()}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default=str(ROOT / ".bench" / "safetensors"))
    ap.add_argument("--reps", type=int, default=10, help="copies of the model (10: ~450 MB)")
    ap.add_argument("--runs", type=int, default=3, help="measurements per row (median)")
    ap.add_argument("--level", type=int, default=6)
    ap.add_argument("--tensor", default=TENSOR)
    ap.add_argument("--out", help="write the results as markdown to this file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--paths", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, json.loads(a.paths), a.tensor)))
        return 0
    try:
        import ml_dtypes  # noqa: F401
    except ImportError:
        raise SystemExit("BF16 numpy arrays need ml_dtypes: pip install ml_dtypes") from None
    info = prepare(Path(a.workdir), a.reps, a.level)
    modes = ["tensor-sqz", "tensor-whole", "tensor-raw", "load-sqz", "load-raw"]
    if info["zipnn"] is not None:
        modes.append("load-zipnn")
    with open(info["raw"], "rb") as f:  # page cache warm for the uncompressed reads
        while f.read(1 << 24):
            pass
    res: dict[str, list[dict]] = {m: [] for m in modes}
    for _ in range(a.runs):
        for m in modes:  # interleaved: load changes on a shared machine hit all rows alike
            r = run_child(m, info, a.tensor)
            res[m].append(r)
            print(f"  {m:<13} wall {r['wall']:7.3f} s  cpu {r['cpu']:7.3f} s  "
                  f"peak {r['peak_mb']:7.1f} MB  (before {r['rss0_mb']:.1f})", file=sys.stderr)
    for group in (["tensor-sqz", "tensor-whole", "tensor-raw"],
                  [m for m in modes if m.startswith("load")]):
        digests = {res[m][0]["digest"] for m in group}
        if len(digests) != 1:
            raise SystemExit(f"results differ between {group}: {digests}")
    label = {
        "tensor-sqz": "squeeze_weights.safe_open(.sqz).get_tensor",
        "tensor-whole": "decode the whole .sqz in memory, cut the tensor out",
        "tensor-raw": "safetensors safe_open(uncompressed).get_tensor (for scale)",
        "load-sqz": "squeeze_weights.load_file(.sqz)",
        "load-raw": "safetensors.numpy.load_file(uncompressed, page cache warm)",
        "load-zipnn": "ZipNN decompress + safetensors.numpy.load",
    }

    def med(m: str, k: str) -> float:
        return statistics.median(r[k] for r in res[m])

    lines = []
    lines.append(f"Input: MiniLM-L6 BF16 x{a.reps} = {info['raw_size'] / 1e6:.1f} MB "
                 f"uncompressed, {info['sqz_size'] / 1e6:.1f} MB as dfloat11 -{a.level} .sqz "
                 f"(ratio {info['raw_size'] / info['sqz_size']:.3f})"
                 + (f"; ZipNN {info['zipnn'] / 1e6:.1f} MB" if info["zipnn"] else "") + ".")
    t0 = res["tensor-sqz"][0]
    lines.append(f"Tensor: `{a.tensor}` ({t0['bytes'] / 1e6:.2f} MB).  Medians of {a.runs} "
                 "runs, each in a fresh process; peak RSS includes the interpreter, numpy "
                 "and the numba kernels (the 'before' column).")
    lines.append("")
    lines.append("| operation | wall s | CPU s | peak RSS MB | RSS before MB |")
    lines.append("|---|---:|---:|---:|---:|")
    for m in modes:
        lines.append(f"| {label[m]} | {med(m, 'wall'):.3f} | {med(m, 'cpu'):.3f} | "
                     f"{med(m, 'peak_mb'):.0f} | {med(m, 'rss0_mb'):.0f} |")
    if info["zipnn"] is None:
        lines.append("")
        lines.append("ZipNN: not importable here (`zipnn` is in the `bench` extra); column "
                     "skipped.")
    table = "\n".join(lines)
    print(table)
    if a.out:
        import ml_dtypes
        import numpy
        import safetensors

        cmd = "nice " + " ".join(["python", "benchmarks/bench_safetensors.py"] + sys.argv[1:])
        text = (f"# safe_open / load_file on a compressed safetensors file\n\n"
                f"Command: `{cmd}`\n\n"
                f"Date: {datetime.date.today().isoformat()}.  Machine: {_machine()} "
                f"(shared with other jobs).  Python {platform.python_version()}, numpy "
                f"{numpy.__version__}, safetensors {safetensors.__version__}, ml_dtypes "
                f"{ml_dtypes.__version__}.\n\n"
                + table + "\n")
        Path(a.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
