"""Side-by-side benchmark of the weight packers against ZipNN and zstd.

    PYTHONPATH=.:codecs python -m squeeze_weights.benchrun [--dir D] [--repeat N]
        [--threads] [--json out.json] [FILE ...]

Without files it prepares the bench inputs (``bench.prepare_files``) in
``--dir`` (default /tmp/squeeze-bench-weights).  For every file and codec it
prints the ratio, compress / decompress throughput in MB/s of original bytes
per CPU-second (``time.process_time``, median of ``--repeat`` runs) through
the in-memory container API, the streaming container API (null sink; xxh64
checks included) and for the codec alone (``encode_block`` / ``decode_block``
over the same blocks), the per-chunk and
per-tensor entropy bounds, and with ``--threads`` the wall-clock -T1 / -T2
times.  Every round trip is verified.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path


def _median_cpu(fn, repeat: int) -> tuple[float, object]:
    res = None
    ts = []
    for _ in range(repeat):
        t = time.process_time()
        res = fn()
        ts.append(time.process_time() - t)
    return statistics.median(ts), res


def _median_wall(fn, repeat: int) -> float:
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def entropy_bounds(data: bytes) -> dict:
    """Bounds in bytes: top byte (exponent) at its empirical entropy, other bytes raw.

    ``chunk``: entropy per chunk as the codec cuts them; ``tensor``: per float
    region of the split; ``planes``: every byte plane at its per-chunk entropy.
    Non-float blocks count at their zstd size as the codec stores them.
    """
    import numpy as np

    from squeeze_weights import codec as C
    from squeeze_weights import formats as F

    def h(x):
        if len(x) == 0:
            return 0.0
        c = np.bincount(x, minlength=256)
        p = c[c > 0] / len(x)
        return float(-(p * np.log2(p)).sum()) * len(x) / 8

    codec = C.DFloat11Codec()
    out = {"chunk": 0.0, "tensor": 0.0, "planes": 0.0}
    for block, hint in codec.split(io.BytesIO(data), codec.block_size()):
        if hint is None or hint[0] != "f":
            z = len(codec.encode_block(block, hint))
            for k in out:
                out[k] += min(z, len(block))
            continue
        _, kind, segs = hint
        w = F.KIND_WIDTH[kind]
        n = len(block) // w
        x = np.frombuffer(block[: n * w], np.uint8).reshape(n, w).astype(np.uint64)
        v = np.zeros(n, np.uint64)
        for k in range(w):
            v |= x[:, k] << np.uint64(8 * k)
        bits = np.uint64(8 * w)
        v = ((v << np.uint64(1)) | (v >> (bits - np.uint64(1)))) & np.uint64((1 << (8 * w)) - 1)
        planes = [((v >> np.uint64(8 * k)) & np.uint64(255)).astype(np.uint8) for k in range(w)]
        tail = len(block) - n * w
        a = 0
        for m in C._chunking(tuple(segs), C.CHUNK):
            out["chunk"] += h(planes[w - 1][a:a + m]) + m * (w - 1)
            out["planes"] += sum(min(h(p[a:a + m]), m) for p in planes)
            a += m
        a = 0
        for m in segs:
            out["tensor"] += h(planes[w - 1][a:a + m]) + m * (w - 1)
            a += m
        for k in out:
            out[k] += tail
    return out


class _Null:
    def write(self, b) -> int:
        return len(b)


def run_codec(data: bytes, codec_id: str, level: int, repeat: int, threads: bool) -> dict:
    """Three views of the same work: codec only (encode_block / decode_block over the
    blocks of ``split``), the streaming container (``compress_stream`` /
    ``decompress_stream`` to a null sink, xxh64 checks included: what the CLI
    does minus file I/O) and the in-memory API (``container.compress`` /
    ``decompress``, which add BytesIO growth and a final join)."""
    from frappe_cli import container, registry

    codec = registry.make(codec_id, level)
    tc, blob = _median_cpu(lambda: container.compress(data, codec), repeat)
    td, out = _median_cpu(lambda: container.decompress(blob), repeat)
    if out != data:
        raise SystemExit(f"{codec_id}: round trip failed")
    sc, _ = _median_cpu(lambda: container.compress_stream(io.BytesIO(data), _Null(), codec),
                        repeat)
    sd, n = _median_cpu(lambda: container.decompress_stream(io.BytesIO(blob), _Null()), repeat)
    assert n == len(data)
    blocks = list(codec.split(io.BytesIO(data), codec.block_size()))
    kc, payloads = _median_cpu(lambda: [codec.encode_block(b, h) for b, h in blocks], repeat)
    sizes = [len(b) for b, _ in blocks]
    kd, outs = _median_cpu(lambda: [codec.decode_block(p, n) for p, n in zip(payloads, sizes)],
                           repeat)
    if b"".join(bytes(o) for o in outs) != data:
        raise SystemExit(f"{codec_id}: block round trip failed")
    mb = len(data) / 1e6
    res = {"size": len(blob), "ratio": len(data) / len(blob),
           "comp_MBps": mb / tc, "decomp_MBps": mb / td,
           "stream_comp_MBps": mb / sc, "stream_decomp_MBps": mb / sd,
           "kernel_comp_MBps": mb / kc, "kernel_decomp_MBps": mb / kd,
           "blocks": len(blocks)}
    if threads:
        for t in (1, 2):
            res[f"wall_comp_T{t}"] = _median_wall(
                lambda t=t: container.compress_stream(io.BytesIO(data), _Null(), codec,
                                                      threads=t), repeat)
            res[f"wall_decomp_T{t}"] = _median_wall(
                lambda t=t: container.decompress_stream(io.BytesIO(blob), _Null(), threads=t),
                repeat)
    return res


def run_peer(data: bytes, name: str, repeat: int) -> dict:
    from squeeze_weights.bench import PEERS

    peer = PEERS[name]
    tc, blob = _median_cpu(lambda: peer.compress(data), repeat)
    td, out = _median_cpu(lambda: peer.decompress(blob), repeat)
    if out != data:
        raise SystemExit(f"{name}: round trip failed")
    return {"size": len(blob), "ratio": len(data) / len(blob),
            "comp_MBps": len(data) / tc / 1e6, "decomp_MBps": len(data) / td / 1e6}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--dir", default="/tmp/squeeze-bench-weights")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", action="store_true", help="also time -T1/-T2 (wall clock)")
    ap.add_argument("--codecs", default="dfloat11:6,dfloat11:2,dfloat11:9,enec:6")
    ap.add_argument("--peers", default="zipnn,zstd-3-planes")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    if a.files:
        files = [Path(f) for f in a.files]
    else:
        from squeeze_weights.bench import prepare_files

        files = prepare_files(a.dir)
    results = {}
    for f in files:
        data = f.read_bytes()
        b = entropy_bounds(data)
        row = {"bytes": len(data), "bound_chunk": len(data) / b["chunk"],
               "bound_tensor": len(data) / b["tensor"], "bound_planes": len(data) / b["planes"]}
        print(f"\n{f.name}: {len(data):,} B; entropy bound per chunk {row['bound_chunk']:.4f}x, "
              f"per tensor {row['bound_tensor']:.4f}x, all planes per chunk "
              f"{row['bound_planes']:.4f}x", flush=True)
        print(f"  {'codec':16s} {'ratio':>8s} {'comp':>7s} {'decomp':>7s} {'s.comp':>7s} "
              f"{'s.dec':>7s} {'k.comp':>7s} {'k.dec':>7s}  (MB/s per CPU-s, median of "
              f"{a.repeat}; s. = stream API, k. = codec only)")
        for spec in a.codecs.split(","):
            cid, _, lvl = spec.partition(":")
            r = run_codec(data, cid, int(lvl or 6), a.repeat, a.threads)
            row[spec] = r
            extra = ""
            if a.threads:
                extra = (f"  wall T1/T2 comp {r['wall_comp_T1']:.3f}/{r['wall_comp_T2']:.3f} s "
                         f"({r['wall_comp_T1'] / r['wall_comp_T2']:.2f}x), decomp "
                         f"{r['wall_decomp_T1']:.3f}/{r['wall_decomp_T2']:.3f} s "
                         f"({r['wall_decomp_T1'] / r['wall_decomp_T2']:.2f}x)")
            print(f"  {spec:16s} {r['ratio']:8.4f} {r['comp_MBps']:7.0f} {r['decomp_MBps']:7.0f} "
                  f"{r['stream_comp_MBps']:7.0f} {r['stream_decomp_MBps']:7.0f} "
                  f"{r['kernel_comp_MBps']:7.0f} {r['kernel_decomp_MBps']:7.0f}{extra}", flush=True)
        for name in a.peers.split(","):
            if not name:
                continue
            try:
                r = run_peer(data, name, a.repeat)
            except ImportError as exc:
                print(f"  {name:16s} skipped ({exc})")
                continue
            row[name] = r
            print(f"  {name:16s} {r['ratio']:8.4f} {r['comp_MBps']:7.0f} {r['decomp_MBps']:7.0f}",
                  flush=True)
        results[f.name] = row
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
