"""-T1 vs -T2 through the streaming container on a large safetensors file.

    python -m squeeze_weights.threads_bench [--src F] [--reps 10] [--codec dfloat11] [--repeat 5]

Builds an in-memory safetensors file from ``--src`` with every tensor repeated
``--reps`` times (a file large enough that start-up does not matter), then times
``compress_stream`` and ``decompress_stream`` into a null sink with 1 and 2
threads, interleaved, and prints wall-clock medians and the speed-up.  Wall time
is the point here: run it on a quiet machine (compare ``uptime`` before/after).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import struct
import time


class _Null:
    def write(self, b) -> int:
        return len(b)

    def flush(self) -> None:
        pass


def tiled_safetensors(src: bytes, reps: int) -> bytes:
    hl = struct.unpack("<Q", src[:8])[0]
    hdr = json.loads(src[8:8 + hl])
    body = src[8 + hl:]
    new, off = {}, 0
    for r in range(reps):
        for k, v in hdr.items():
            if k == "__metadata__":
                continue
            a, b = v["data_offsets"]
            new[f"{k}.{r}"] = dict(v, data_offsets=[off + a, off + b])
        off += len(body)
    h = json.dumps(new).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + body * reps


def main() -> int:
    from frappe_cli import container, registry

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=".bench/weights/minilm-bf16-rne-from-fp32.safetensors",
                    help="a safetensors file (make bench-weights prepares this one)")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--codec", default="dfloat11")
    ap.add_argument("--level", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    with open(a.src, "rb") as f:
        blob = tiled_safetensors(f.read(), a.reps)
    codec = registry.make(a.codec, a.level)
    out = io.BytesIO()
    container.compress_stream(io.BytesIO(blob), out, codec, threads=2)
    sqz = out.getvalue()
    res: dict[tuple[str, int], list[float]] = {}
    for t in (1, 2) * a.repeat:
        w = time.perf_counter()
        container.compress_stream(io.BytesIO(blob), _Null(), codec, threads=t)
        res.setdefault(("compress", t), []).append(time.perf_counter() - w)
        w = time.perf_counter()
        container.decompress_stream(io.BytesIO(sqz), _Null(), threads=t)
        res.setdefault(("decompress", t), []).append(time.perf_counter() - w)
    print(f"{a.codec} -{a.level}: {len(blob) / 1e6:.1f} MB in, {len(sqz) / 1e6:.1f} MB out; "
          f"wall medians of {a.repeat}")
    for d in ("compress", "decompress"):
        m1, m2 = statistics.median(res[(d, 1)]), statistics.median(res[(d, 2)])
        print(f"  {d:<10} -T1 {len(blob) / m1 / 1e6:6.0f} MB/s  -T2 {len(blob) / m2 / 1e6:6.0f} "
              f"MB/s  speed-up {m1 / m2:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
