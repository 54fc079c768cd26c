"""DFloat11 and ENEC weight packers: lossless, format-aware codecs for model weights.

``dfloat11`` (ratio first) and ``enec`` (speed first) share everything but
the coder of the exponent plane: the file is cut at tensor boundaries
(``split``), float tensors go to ``kernels.encode_float_block`` and
everything else (headers, padding, integer tensors) to zstd.  SPEC.md is the
normative description of the payloads.

This module imports only the standard library and the codec contract; numpy,
numba and the kernels load on the first block.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, ClassVar

from frappe_cli.codec import Codec, layout_ranges, read_exact
from frappe_cli.errors import CorruptError, InputError, OptionError
from squeeze_weights import formats as F

#: default (and maximum) elements per chunk: one table per chunk and plane
CHUNK = 1 << 16
#: tensors below this many elements share chunks with their neighbours
SMALL_SEGMENT = 4096
BLOCK_SIZE = 2 << 20

_BYTES_RAW, _BYTES_ZSTD = 0, 1


def _chunking(segs: tuple[int, ...], chunk: int) -> list[int]:
    """Chunk sizes for a block whose float data holds tensor segments ``segs``.

    Chunks never straddle a segment of SMALL_SEGMENT elements or more, so each
    large tensor gets its own tables; runs of small tensors are pooled.
    """
    out: list[int] = []
    pend = 0
    for m in segs:
        if m <= 0:
            continue
        if m < SMALL_SEGMENT:
            if pend + m > chunk:
                out.append(pend)
                pend = 0
            pend += m
            continue
        if pend:
            out.append(pend)
            pend = 0
        k = -(-m // chunk)
        q, r = divmod(m, k)
        out.extend(q + 1 if i < r else q for i in range(k))
    if pend:
        out.append(pend)
    return out


class _WeightsCodec(Codec):
    lossless = True
    process_memory = 100 << 20  # numba and the kernels (see Codec)
    fallback = "none"  # every block is checked against raw and zstd below (SPEC.md)
    options: ClassVar[dict[str, type]] = {"dtype": str}
    cli_options = ({"flag": "--dtype", "param": "dtype",
                    "help": "Weight codecs: element type of a raw array (bf16, f16, f32...)."},)
    coder = 0
    #: Set by ``--codec auto`` (and any caller that must compress whatever comes):
    #: a header that lies (malformed, or offsets past the end of a short file) is
    #: not an error; the bytes it fails to describe are coded as opaque byte blocks,
    #: which decode like any other (lossless, same payload format).  Not part of
    #: ``get_config``: the stream header does not record it.
    lenient_input: bool = False

    def __init__(self, level: int = 6, **params: Any):
        super().__init__(level, **params)
        dtype = self.params.get("dtype")
        if dtype is not None:
            if not isinstance(dtype, str):
                raise OptionError("dtype must be a string such as bf16, f16, f32")
            self._raw_kind = F.raw_kind(dtype)  # raises on unknown names
        else:
            self._raw_kind = 0

    # -- parameters ---------------------------------------------------------------
    def gain_q(self) -> int:
        """Minimum saving (in 1/65536 of a plane) for coding a plane instead of raw."""
        return 655

    @classmethod
    def describe(cls, path) -> list[dict]:
        """Per-dtype and per-tensor rows for ``squeeze list -v`` (the Codec hook)."""
        from squeeze_weights.listing import describe_sqz

        return describe_sqz(path)

    # -- numcodecs/zarr arrays (Codec hooks) -----------------------------------------
    #: ``array_params`` priority: ``codec="auto"`` picks the highest above 0
    array_priority: ClassVar[int] = 0

    @classmethod
    def array_params(cls, dtype: Any) -> tuple[int, dict] | None:
        """Little-endian float arrays (float16/32/64, ml_dtypes bfloat16/float8) are
        coded as their ``dtype``."""
        kind = F.array_kind(dtype)
        return None if kind is None else (cls.array_priority, {"dtype": kind})

    @classmethod
    def array_dtype(cls, params: dict) -> Any | None:
        """A float chunk comes back as its float dtype: float16/32/64; bfloat16 and
        float8 as ml_dtypes types when the program has imported ml_dtypes (it is
        never imported here), else as their bit patterns (uint16, uint8)."""
        kind = params.get("dtype")
        if not isinstance(kind, str):
            return None
        try:
            base, ml_name = F.NUMPY_DTYPES[F.canonical_dtype(kind)]
        except OptionError:
            return None
        if ml_name is not None and "ml_dtypes" in sys.modules:  # never import it ourselves
            return getattr(sys.modules["ml_dtypes"], ml_name)
        return base

    @classmethod
    def canonical_params(cls, params: dict) -> dict:
        """``dtype`` by its short name (``bfloat16`` -> ``bf16``)."""
        if "dtype" not in params:
            return params
        return {**params, "dtype": F.canonical_dtype(params["dtype"])}

    def block_size(self) -> int:
        return BLOCK_SIZE

    def memory_usage(self) -> int:
        # payload + planes + coder scratch per block, plus tables
        return 3 * BLOCK_SIZE + (1 << 20)

    # -- cutting ------------------------------------------------------------------
    def split(self, reader: BinaryIO, block_size: int) -> Iterator[tuple[bytes, Any]]:
        if block_size < 16:
            # too small for elements and headers: plain bytes blocks
            while True:
                piece = read_exact(reader, block_size)
                if not piece:
                    return
                yield piece, None
        bs = block_size - block_size % 8  # whole elements of every width per block
        if self._raw_kind:
            yield from _split_raw(reader, bs, self._raw_kind)
            return
        head = read_exact(reader, 12)
        if F.is_safetensors_head(head) or F.is_npy_head(head):
            pre = head
            try:
                if F.is_safetensors_head(head):
                    size = 8 + F.safetensors_header_size(head[:8])
                    what, parse = "safetensors file", F.parse_safetensors
                else:
                    size = F.npy_header_size(head)
                    what, parse = ".npy file", F.parse_npy
                if size > len(pre):
                    pre += read_exact(reader, size - len(pre))
                if len(pre) < size:
                    raise InputError(f"invalid {what}: the header is truncated")
                lay = parse(pre[:size])
            except InputError:
                if not self.lenient_input:
                    raise
                # the sniffed header lies: every byte is opaque (still lossless)
                yield from _split_bytes(_Source(reader, pre), bs)
                return
            yield from _split_layout(reader, bs, lay, pre, self.lenient_input)
            return
        # not a weight format and no --dtype: opaque bytes (zstd), never an error
        yield from _split_bytes(_Source(reader, head), bs)

    def split_ranges(self, read: Callable[[int, int], bytes], size: int,
                     block_size: int) -> Iterator[tuple[int, int, Any]] | None:
        """Cluster tasks: the cuts depend only on the file's header (safetensors JSON,
        .npy header; nothing with ``dtype``), so only the header is read."""
        if type(self).split is not _WeightsCodec.split:
            return None
        head = read(0, min(size, 12))
        plen = len(head)
        if self._raw_kind:
            plen = 0
        elif F.is_safetensors_head(head):
            plen = 8 + F.safetensors_header_size(head[:8])
        elif F.is_npy_head(head):
            plen = F.npy_header_size(head)
        prefix = read(0, min(size, plen)) if plen > len(head) else head[:plen]
        return layout_ranges(self, prefix, size, block_size)

    # -- blocks -------------------------------------------------------------------
    def encode_block(self, data: bytes, hint: Any = None) -> bytes:
        if hint is not None and hint[0] == "f":
            _, kind, segs = hint
            w = F.KIND_WIDTH[kind]
            if len(data) >= w:
                return self._encode_float(data, kind, segs)
        return self._encode_bytes(data)

    def _encode_bytes(self, data: bytes) -> bytes:
        from frappe_cli.zstd_store import zstd_compress

        z = zstd_compress(data, min(self.level, 3))
        if len(z) < len(data):
            return bytes([0, _BYTES_ZSTD]) + z
        return bytes([0, _BYTES_RAW]) + data

    def _encode_float(self, data: bytes, kind: int, segs) -> bytes:
        import numpy as np

        from squeeze_weights import kernels as K

        w = F.KIND_WIDTH[kind]
        n = len(data) // w
        if not segs or sum(segs) != n:
            segs = (n,)
        chunks = np.array(_chunking(tuple(segs), CHUNK), np.int64)
        x8 = np.frombuffer(data, np.uint8)
        views = _views(x8, n, w)
        out = np.empty(len(data) + 64 + len(chunks) * (4 + 5 * w), np.uint8)
        end = K.encode_float_block(x8, *views, kind, n, chunks, self.coder, self.gain_q(),
                                   K.COST12, out)
        payload = out[:end].tobytes()
        # never worse than zstd: weights that are not noise-like (constant runs,
        # repeated rows) can favour LZ; a cheap zstd-1 probe decides (SPEC.md)
        if self.level >= 9 or _zstd_probe(data, len(payload)):
            alt = self._encode_bytes(data)
            if len(alt) < len(payload):
                return alt
        return payload

    def decode_block(self, payload: bytes, size: int) -> bytes:
        if len(payload) < 2:
            raise CorruptError("Compressed data is corrupt (weights block too short)")
        tag = payload[0]
        if tag == 0:
            method = payload[1]
            if method == _BYTES_RAW:
                if len(payload) - 2 != size:
                    raise CorruptError("Compressed data is corrupt (raw block size mismatch)")
                return payload[2:]
            if method == _BYTES_ZSTD:
                return _zstd_exact(payload[2:], size)
            raise CorruptError(f"Compressed data is corrupt (unknown bytes method {method})")
        if tag == 1:
            return _decode_float(payload, size)
        raise CorruptError(f"Compressed data is corrupt (unknown weights block tag {tag})")


def _views(x8, n: int, w: int):
    import numpy as np

    e16 = np.empty(0, np.uint16)
    e32 = np.empty(0, np.uint32)
    e64 = np.empty(0, np.uint64)
    body = x8[: n * w]
    if w == 2:
        return body.view(np.uint16), e32, e64
    if w == 4:
        return e16, body.view(np.uint32), e64
    if w == 8:
        return e16, e32, body.view(np.uint64)
    return e16, e32, e64


def _decode_float(payload: bytes, size: int) -> memoryview:
    import numpy as np

    from squeeze_weights import kernels as K

    if len(payload) < 7:
        raise CorruptError("Compressed data is corrupt (float block header truncated)")
    kind = payload[1]
    if kind not in F.KIND_WIDTH:
        raise CorruptError(f"Compressed data is corrupt (unknown float kind {kind})")
    w = F.KIND_WIDTH[kind]
    (n,) = struct.unpack_from("<I", payload, 2)
    tail = payload[6]
    if tail >= w or n * w + tail != size or len(payload) < 7 + tail:
        raise CorruptError("Compressed data is corrupt (float block size mismatch)")
    # np.empty: no zero-fill under the GIL (every byte is written below); the
    # result is returned as a read-only bytes-like view of it
    x8 = np.empty(size, np.uint8)
    buf = np.frombuffer(payload, np.uint8)
    views = _views(x8, n, w)
    if n:
        rc = K.decode_float_block(buf, 7 + tail, x8, *views, kind, n)
        if rc != 0:
            what = {-1: "block structure", -2: "chunk table", -3: "plane data"}.get(rc, "block")
            raise CorruptError(f"Compressed data is corrupt (weights {what})")
    elif len(payload) != 7 + tail + 4 or payload[7 + tail:] != b"\0\0\0\0":
        raise CorruptError("Compressed data is corrupt (float block structure)")
    if tail:
        x8[n * w:] = np.frombuffer(payload, np.uint8, tail, 7)
    x8.flags.writeable = False
    return x8.data


def _zstd_exact(frame: bytes, size: int) -> bytes:
    """One zstd frame holding exactly ``size`` bytes and nothing after it."""
    import zstandard

    try:
        if zstandard.get_frame_parameters(frame).content_size != size:
            raise CorruptError("Compressed data is corrupt (zstd frame size mismatch)")
        d = zstandard.ZstdDecompressor(max_window_size=1 << 27).decompressobj()
        out = d.decompress(frame)
    except zstandard.ZstdError as exc:
        raise CorruptError(f"Compressed data is corrupt (zstd: {exc})") from None
    if len(out) != size or d.unused_data or not d.eof:
        raise CorruptError("Compressed data is corrupt (zstd frame)")
    return out


def _zstd_probe(data: bytes, coded: int) -> bool:
    """Whether zstd might beat ``coded`` bytes on this block (then the caller tries it).

    zstd -1 on a 64 KiB sample from the middle of the block: if it does not
    beat the coded size scaled to the sample, LZ finds nothing there, and on
    such noise-like float bytes higher zstd levels gain only a few percent,
    far from the entropy coder's margin.
    """
    from frappe_cli.zstd_store import zstd_compress

    n = len(data)
    if n <= 1 << 17 or coded * 4 < n:
        return True  # small, or so compressible that zstd is fast on it too
    a = (n // 2) & ~7
    sample = data[a:a + (1 << 16)]
    z = len(zstd_compress(sample, 0))
    return z * n < coded * len(sample)


def _split_raw(reader: BinaryIO, bs: int, kind: int) -> Iterator[tuple[bytes, Any]]:
    w = F.KIND_WIDTH[kind]
    while True:
        data = read_exact(reader, bs)
        if not data:
            return
        n = len(data) // w
        yield data, ("f", kind, (n,))
        if len(data) < bs:
            return


class _Source:
    """Exact reads from the bytes already read (``pre``) and then the reader."""

    def __init__(self, reader: BinaryIO, pre: bytes):
        self.reader = reader
        self.pre = pre
        self.off = 0

    def read(self, n: int) -> bytes:
        if self.off < len(self.pre):
            got = self.pre[self.off:self.off + n]
            self.off += len(got)
            if len(got) < n:
                got += read_exact(self.reader, n - len(got))
            return got
        return read_exact(self.reader, n)


def _split_bytes(src: _Source, bs: int) -> Iterator[tuple[bytes, Any]]:
    """Opaque blocks of ``bs`` bytes (the last one shorter) until the input ends."""
    while True:
        piece = src.read(bs)
        if not piece:
            return
        yield piece, None
        if len(piece) < bs:
            return


def _split_layout(reader: BinaryIO, bs: int, lay: F.Layout, pre: bytes, lenient: bool = False
                  ) -> Iterator[tuple[bytes, Any]]:
    """Blocks for a parsed layout; ``pre`` holds the bytes already read from the input.

    Consecutive regions of the same kind share a block up to ``bs`` bytes;
    a float region larger than a block is cut at element boundaries.  When the
    input ends inside a region the layout promised, this raises InputError, or
    with ``lenient`` codes the bytes that did come in the block under way (a
    float block takes a partial last element as its tail) and ends the stream.
    """
    src = _Source(reader, pre)
    cur: list[bytes] = []
    segs: list[int] = []
    state = {"kind": -1, "size": 0}

    def flush() -> tuple[bytes, Any]:
        data = b"".join(cur) if len(cur) > 1 else cur[0]
        kind = state["kind"]
        hint = ("f", kind, tuple(segs)) if kind else ("b",)
        cur.clear()
        segs.clear()
        state["size"] = 0
        return data, hint

    def room(kind: int, w: int) -> Iterator[tuple[bytes, Any]]:
        if cur and (state["kind"] != kind or bs - state["size"] < w):
            yield flush()
        state["kind"] = kind

    offset = 0
    for reg in lay.regions:
        kind = reg.kind
        w = F.KIND_WIDTH.get(kind, 1)
        left = reg.size
        while left > 0:
            yield from room(kind, w)
            free = bs - state["size"]
            n = min(left, free - free % w)
            piece = src.read(n)
            if len(piece) < n and lenient:
                if piece:
                    cur.append(piece)
                    state["size"] += len(piece)
                    if kind:
                        segs.append(len(piece) // w)
                if cur:
                    yield flush()
                return
            if len(piece) < n:
                what = f"tensor '{reg.name}'" if reg.name else f"the {reg.dtype}"
                raise InputError(f"invalid {lay.fmt} file: {what} ends at byte {reg.end} but the "
                                 f"file ends at byte {offset + len(piece)}")
            offset += n
            cur.append(piece)
            state["size"] += n
            if kind:
                segs.append(n // w)
            left -= n
    # bytes after the last tensor (not standard, kept losslessly)
    while True:
        yield from room(0, 1)
        piece = src.read(bs - state["size"])
        if not piece:
            break
        cur.append(piece)
        state["size"] += len(piece)
    if cur:
        yield flush()


class DFloat11Codec(_WeightsCodec):
    codec_id = "dfloat11"
    bitstream_version = 1
    description = ("model weights (safetensors/.npy/raw): exponents by per-chunk rANS "
                   "(Huffman at -0..-3), ratio first")

    @classmethod
    def sniff(cls, head: bytes) -> tuple[int, str, str] | None:
        """--codec auto: safetensors and .npy files (ENEC is only ever asked for)."""
        from frappe_cli.detect import FORMAT

        if F.is_npy_head(head):
            return FORMAT + 10, "weights", "NumPy array"
        if F.is_safetensors_head(head):
            return FORMAT + 10, "weights", "safetensors model weights"
        return None

    array_priority = 10  # numcodecs codec="auto": float arrays (ENEC only when named)

    @property
    def coder(self) -> int:  # type: ignore[override]
        return 2 if self.level <= 3 else 1

    def gain_q(self) -> int:
        # plane must save: -0..-3 3%, -4..-6 1%, -7..-8 0.5%, -9 0.1%
        return {0: 1966, 1: 1966, 2: 1966, 3: 1966, 4: 655, 5: 655, 6: 655, 7: 328, 8: 328,
                9: 66}[self.level]


class EnecCodec(_WeightsCodec):
    codec_id = "enec"
    bitstream_version = 1
    description = ("model weights (safetensors/.npy/raw): ENEC block fixed-length "
                   "exponents, speed first")
    coder = 3

    def gain_q(self) -> int:
        return 655
