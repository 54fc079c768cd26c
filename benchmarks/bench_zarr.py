"""zarr 3 arrays of real weights: squeeze_dfloat11 and squeeze_enec against zarr's
default compressor (zstd) and Blosc with byte shuffle.

Run from the repository root (after ``make`` or ``pip install -e ".[test]"``)::

    .venv/bin/python -c "from benchmarks.suites.weights import prepare_files; \\
        prepare_files('.bench/weights')"
    nice .venv/bin/python benchmarks/bench_zarr.py [--runs 5] [--chunk-mib 1]

Arrays: the largest 2-D tensor of ``minilm-f32.safetensors`` (FP32) and the same
tensor from ``minilm-bf16-rne-from-fp32.safetensors`` (BF16, stored as uint16 bit
patterns: zarr 3.1 has no bfloat16 data type).  Each array is written once per
codec into a LocalStore (a temporary folder) with row chunks of about
``--chunk-mib`` MiB; then the whole array is read back (``a[:]``, which decodes
every chunk through zarr's own thread pool) ``--runs`` times.  Reported: stored
chunk bytes, the median write wall time of 3 writes (after a warm-up write),
and the median read throughput in MB/s of
uncompressed data per wall second and per CPU second (all threads of the
process; chunk files come from the page cache).  Every read is checked bit for
bit against the source tensor.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / ".bench" / "weights"
F32_FILE = "minilm-f32.safetensors"
BF16_FILE = "minilm-bf16-rne-from-fp32.safetensors"


def load_largest_2d(path: Path, want: str | None = None) -> tuple[str, np.ndarray]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    if want is None:
        two_d = {k: v for k, v in header.items() if len(v["shape"]) == 2}
        want = max(two_d, key=lambda k: two_d[k]["data_offsets"][1] - two_d[k]["data_offsets"][0])
    info = header[want]
    np_dtype = {"F32": "<f4", "BF16": "<u2", "F16": "<f2"}[info["dtype"]]
    b, e = info["data_offsets"]
    arr = np.frombuffer(raw, np_dtype, count=(e - b) // np.dtype(np_dtype).itemsize,
                        offset=8 + n + b).reshape(info["shape"])
    return want, arr


def codecs_for(kind: str):
    import zarr
    from zarr.codecs import BloscCodec

    from squeeze_weights.numcodecs_codec import ZarrDFloat11, ZarrEnec

    dt = {"bf16": {"dtype": "bf16"}, "f32": {}}[kind]
    return [
        ("squeeze_dfloat11 (level 6)", {"serializer": ZarrDFloat11(level=6, **dt),
                                        "compressors": None}),
        ("squeeze_enec (level 6)", {"serializer": ZarrEnec(level=6, **dt),
                                    "compressors": None}),
        ("zarr default: zstd (level 0 = zstd 3)", {"compressors": "auto"}),
        ("Blosc zstd clevel 5, byte shuffle", {"compressors": [
            BloscCodec(cname="zstd", clevel=5, shuffle="shuffle")]}),
        ("Blosc lz4 clevel 5, byte shuffle", {"compressors": [
            BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")]}),
    ], zarr


def stored_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path / "c").rglob("*") if p.is_file())


def bench_array(label: str, arr: np.ndarray, kind: str, runs: int, chunk_mib: float,
                tmp: Path) -> list[dict]:
    cases, zarr = codecs_for(kind)
    row_bytes = arr.shape[1] * arr.itemsize
    rows = max(1, int(chunk_mib * (1 << 20)) // row_bytes)
    chunks = (rows, arr.shape[1])
    nchunks = -(-arr.shape[0] // rows)
    bits = arr.view(np.uint16 if arr.itemsize == 2 else np.uint32)
    out = []
    for name, kwargs in cases:
        path = tmp / f"{kind}-{len(out)}.zarr"
        a = zarr.create_array(store=zarr.storage.LocalStore(path), shape=arr.shape,
                              chunks=chunks, dtype=arr.dtype, **kwargs)
        a[:] = arr  # warm-up write (kernels load from numba's cache)
        wts = []
        for _ in range(3):
            t = time.perf_counter()
            a[:] = arr
            wts.append(time.perf_counter() - t)
        write_s = statistics.median(wts)
        r = zarr.open_array(zarr.storage.LocalStore(path, read_only=True), mode="r")
        back = r[:]  # warm-up (numba kernels load from the cache)
        assert np.array_equal(back.view(bits.dtype), bits), name
        walls, cpus = [], []
        for _ in range(runs):
            c0, w0 = time.process_time(), time.perf_counter()
            back = r[:]
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
            assert np.array_equal(back.view(bits.dtype), bits), name
        size = stored_bytes(path)
        mb = arr.nbytes / 1e6
        out.append({
            "array": label, "codec": name, "raw": arr.nbytes, "stored": size,
            "ratio": size / arr.nbytes, "write_s": write_s,
            "read_wall_mbs": mb / statistics.median(walls),
            "read_cpu_mbs": mb / statistics.median(cpus),
            "chunks": f"{nchunks} x {chunks[0]}x{chunks[1]}",
        })
        shutil.rmtree(path)
        print(f"  {label:34s} {name:38s} {size:>12,d} {size / arr.nbytes:7.2%}", file=sys.stderr)
    return out


def table(rows: list[dict]) -> str:
    lines = ["| array | codec | stored bytes | % of raw | write s (wall) | "
             "read MB/s (wall) | read MB/s (CPU) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['array']} | {r['codec']} | {r['stored']:,} | {r['ratio']:.2%} | "
                     f"{r['write_s']:.2f} | {r['read_wall_mbs']:.0f} | "
                     f"{r['read_cpu_mbs']:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", type=Path, default=WEIGHTS)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--chunk-mib", type=float, default=1.0)
    args = ap.parse_args(argv)
    f32p, bf16p = args.weights / F32_FILE, args.weights / BF16_FILE
    if not f32p.is_file() or not bf16p.is_file():
        print(f"missing {f32p} / {bf16p}: run benchmarks.suites.weights.prepare_files first",
              file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr")
    import numcodecs
    import zarr

    name, f32 = load_largest_2d(f32p)
    _, bf16 = load_largest_2d(bf16p, name)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-zarr-") as tmp:
        for label, arr, kind in [(f"{name} BF16 {bf16.shape[0]}x{bf16.shape[1]}", bf16, "bf16"),
                                 (f"{name} FP32 {f32.shape[0]}x{f32.shape[1]}", f32, "f32")]:
            rows += bench_array(label, np.ascontiguousarray(arr), kind, args.runs,
                                args.chunk_mib, Path(tmp))
    print(f"zarr {zarr.__version__}, numcodecs {numcodecs.__version__}, numpy "
          f"{np.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
          f"chunks: " + "; ".join(sorted({f"{r['array'].split()[1]} {r['chunks']}"
                                          for r in rows})))
    print(f"runs: {args.runs} (median), raw sizes: BF16 {bf16.nbytes:,} B, FP32 {f32.nbytes:,} B")
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
