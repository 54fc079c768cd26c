"""The .sqz container: header, independent checked blocks, index, footer.

docs/FORMAT.md is the normative specification; this module implements it.

* Streaming: compression and decompression hold at most ``2 * threads`` blocks
  in memory, whatever the input length (stdin included).
* ``threads`` never changes the output bytes: blocks are cut, coded and written
  in input order whatever the parallelism.
* Every decode failure is a ``SqueezeError`` with a specific message; a block
  is written out only after its check has passed.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Iterator

from frappe_cli import varint
from frappe_cli.codec import Codec
from frappe_cli.errors import (
    CorruptError,
    FormatError,
    MemoryLimitError,
    OptionError,
    SqueezeError,
    TruncatedError,
    UnsupportedError,
)

MAGIC = b"\x89SQZ\r\n\x1a\n"
FOOTER_MAGIC = b"SQZe"
FORMAT_VERSION = 1

CHECK_NONE, CHECK_CRC32, CHECK_XXH64 = 0, 1, 2
CHECK_NAMES = {"none": CHECK_NONE, "crc32": CHECK_CRC32, "xxh64": CHECK_XXH64}
#: header flags bit 2: the block checks cover the payloads (lossy codecs; FORMAT.md
#: section 2).  ``StreamHeader.check`` holds flags bits 0-2: the check type, plus
#: this bit; every function taking a check accepts both forms.
CHECK_PAYLOAD = 0x04
CHECK_TYPE_MASK = 0x03
CHECK_SIZES = {CHECK_NONE: 0, CHECK_CRC32: 4, CHECK_XXH64: 8}
CHECK_SIZES.update({CHECK_PAYLOAD | t: n for t, n in list(CHECK_SIZES.items())})
#: ``compress_stream(check_covers=...)``: what a lossy codec's block check covers
COVERS = ("payload", "output")

KIND_CODEC, KIND_ZSTD, KIND_STORED = 0, 1, 2
KIND_INDEX = 0xFF
KIND_NAMES = {KIND_CODEC: "codec", KIND_ZSTD: "zstd", KIND_STORED: "stored"}

#: format maximum of one block's uncompressed size (decompression-bomb bound)
MAX_BLOCK_SIZE = 1 << 30
MAX_PARAMS_SIZE = (1 << 16) - 1
MAX_CODEC_ID = 64
FOOTER_SIZE = 12
_BLOCK_HEAD = struct.Struct("<BII")  # kind, usize, csize (+ crc32 of these 9 bytes)
_FOOTER = struct.Struct("<I")  # index size
_READ_PIECE = 1 << 24


def canonical_json(obj: Any) -> bytes:
    """The one serialisation of codec parameters used in headers."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def _crc(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def check_name(check: int) -> str:
    """The check type's name (``none``, ``crc32``, ``xxh64``) of a header's check."""
    return {v: k for k, v in CHECK_NAMES.items()}[check & CHECK_TYPE_MASK]


def compute_check(check: int, data: bytes) -> bytes:
    check &= CHECK_TYPE_MASK
    if check == CHECK_NONE:
        return b""
    if check == CHECK_CRC32:
        return struct.pack("<I", _crc(data))
    import xxhash

    return struct.pack("<Q", xxhash.xxh64_intdigest(data))


# ------------------------------------------------------------------------------------
# header


@dataclass
class StreamHeader:
    codec_id: str
    codec_version: int
    check: int  # header flags bits 0-2: check type | CHECK_PAYLOAD
    max_block_size: int
    params: dict
    size: int = 0  # bytes on disk

    def encode(self) -> bytes:
        cid = self.codec_id.encode("ascii")
        # the codec id is a header field: the stored parameters omit it
        params = canonical_json({k: v for k, v in self.params.items() if k != "id"})
        if not 1 <= len(cid) <= MAX_CODEC_ID or len(params) > MAX_PARAMS_SIZE:
            raise OptionError("codec id or parameters too long for the header")
        body = (
            MAGIC
            + bytes([FORMAT_VERSION, self.check])
            + bytes([len(cid)])
            + cid
            + struct.pack("<HIH", self.codec_version, self.max_block_size, len(params))
            + params
        )
        return body + struct.pack("<I", _crc(body))


class _Reader:
    """Reads exact byte counts from a stream; short reads become TruncatedError."""

    def __init__(self, f: BinaryIO):
        self.f = f
        self.pos = 0
        self._peek = b""
        self.seek_min = _READ_PIECE  # _skip: seek over payloads at least this long

    def read(self, n: int, what: str = "") -> bytes:
        parts = []
        if self._peek:
            take = self._peek[:n]
            self._peek = self._peek[n:]
            parts.append(take)
            n -= len(take)
        while n > 0:
            piece = self.f.read(min(n, _READ_PIECE))
            if not piece:
                raise TruncatedError("Unexpected end of input" + (f" (in {what})" if what else ""))
            parts.append(piece)
            n -= len(piece)
        data = b"".join(parts)
        self.pos += len(data)
        return data

    def at_eof(self) -> bool:
        if self._peek:
            return False
        self._peek = self.f.read(1)
        return not self._peek


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


def read_header(r: _Reader, first: bool = True) -> StreamHeader:
    start = r.pos
    try:
        magic = r.read(len(MAGIC), "header")
    except TruncatedError:
        if first:
            raise FormatError("File format not recognized") from None
        raise CorruptError(
            "Compressed data is corrupt (trailing garbage after the stream)") from None
    if magic != MAGIC:
        if first:
            raise FormatError("File format not recognized")
        raise CorruptError("Compressed data is corrupt (trailing garbage after the stream)")
    version, flags, idlen = r.read(3, "header")
    cid = r.read(idlen, "header") if idlen else b""
    cver, mbs, plen = struct.unpack("<HIH", r.read(8, "header"))
    params = r.read(plen, "header")
    (crc,) = struct.unpack("<I", r.read(4, "header"))
    body = (MAGIC + bytes([version, flags, idlen]) + cid + struct.pack("<HIH", cver, mbs, plen)
            + params)
    if crc != _crc(body):
        raise CorruptError("Compressed data is corrupt (header check failed)")
    # the header is intact: from here on, problems are "unsupported", not "corrupt"
    if version != FORMAT_VERSION:
        raise UnsupportedError(f"Unsupported options: .sqz format version {version}")
    if flags & ~0x07 or (flags & CHECK_TYPE_MASK) == 3:
        raise UnsupportedError(f"Unsupported options: header flags {flags:#04x}")
    if not cid or not all(c in b"abcdefghijklmnopqrstuvwxyz0123456789-_." for c in cid):
        raise UnsupportedError("Unsupported options: invalid codec id")
    if not 1 <= mbs <= MAX_BLOCK_SIZE:
        raise MemoryLimitError(
            f"Memory usage limit reached (block size {mbs} exceeds the format maximum)"
        )
    try:
        p = json.loads(params.decode("ascii"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise UnsupportedError("Unsupported options: header parameters are not JSON") from None
    if not isinstance(p, dict) or "id" in p:
        raise UnsupportedError("Unsupported options: header parameters are not a valid object")
    p["id"] = cid.decode("ascii")
    return StreamHeader(cid.decode("ascii"), cver, flags & 0x07, mbs, p, r.pos - start)


# ------------------------------------------------------------------------------------
# compression


@dataclass
class StreamStats:
    codec_id: str = ""
    uncompressed: int = 0
    compressed: int = 0
    blocks: int = 0
    kinds: dict = field(default_factory=lambda: {"codec": 0, "zstd": 0, "stored": 0})


def _encode_one(codec: Codec, data: bytes, hint: Any, check: int) -> tuple[int, bytes, int, bytes]:
    """Code one block; returns (kind, payload, uncompressed size, check bytes)."""
    recon = None
    if not codec.lossless and not check & CHECK_PAYLOAD:
        # the check covers the reconstruction (or there is none, and its size is
        # needed): the codec hands it back with the payload
        payload, recon = codec.encode_lossy(data, hint)
    else:
        payload = codec.encode_block(data, hint)
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(f"{codec.codec_id}.encode_block returned {type(payload).__name__}")
    payload = bytes(payload)
    if not codec.lossless:
        if check & CHECK_PAYLOAD:
            # the check covers the payload: the decoder network does not run here,
            # the codec states the reconstruction's size from the payload
            usize = codec.reconstruction_size(data, payload)
            if usize is None:
                usize = len(codec.reconstruction(data, payload))
            chk = compute_check(check, payload)
        else:
            usize, chk = len(recon), compute_check(check, recon)
        if not 0 < usize <= MAX_BLOCK_SIZE:
            raise OptionError("reconstruction too large for one block")
        return KIND_CODEC, payload, usize, chk
    kind = KIND_CODEC
    if codec.fallback == "zstd" and codec.codec_id != "zstd":
        from frappe_cli.zstd_store import zstd_compress

        z = zstd_compress(data, codec.level)
        if len(z) < len(payload):
            kind, payload = KIND_ZSTD, z
    if len(data) <= len(payload) and codec.codec_id != "store":
        kind, payload = KIND_STORED, bytes(data)
    return kind, payload, len(data), compute_check(check, data)


def _block_head(kind: int, usize: int, csize: int) -> bytes:
    head = _BLOCK_HEAD.pack(kind, usize, csize)
    return head + struct.pack("<I", _crc(head))


def _block_record(kind: int, usize: int, payload: bytes, chk: bytes) -> bytes:
    return _block_head(kind, usize, len(payload)) + payload + chk


def compress_stream(
    src: BinaryIO,
    dst: BinaryIO,
    codec: Codec,
    *,
    check: str = "xxh64",
    threads: int = 1,
    block_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    check_covers: str | None = None,
) -> StreamStats:
    """Write one .sqz stream holding everything read from ``src``.

    ``check_covers`` (lossy codecs only): ``"payload"`` - each block check covers
    the payload (header flags bit 2; nothing is decoded at encode time);
    ``"output"`` - it covers the reconstruction (the decoder network runs for every
    block); None - the codec's default (``Codec.check_payload``).
    """
    if check not in CHECK_NAMES:
        raise OptionError(f"unknown check type '{check}' (none, crc32, xxh64)")
    if check_covers not in (None,) + COVERS:
        raise OptionError(f"check_covers must be one of {', '.join(COVERS)}, not "
                          f"{check_covers!r}")
    chk = CHECK_NAMES[check]
    if not codec.lossless and chk != CHECK_NONE and (
            check_covers == "payload" or (check_covers is None and codec.check_payload)):
        chk |= CHECK_PAYLOAD
    bs = block_size or codec.block_size()
    codec.threads = max(1, threads)  # the codec's own threads (Codec.threads)
    if not 1 <= bs <= MAX_BLOCK_SIZE:
        raise OptionError(f"block size must be 1..{MAX_BLOCK_SIZE}")
    header = StreamHeader(codec.codec_id, codec.bitstream_version, chk, bs, codec.get_config())
    stats = StreamStats(codec_id=codec.codec_id)
    index: list[tuple[int, int]] = []

    def emit(res: tuple[int, bytes, int, bytes]) -> None:
        kind, payload, usize, cbytes = res
        head = _block_head(kind, usize, len(payload))
        # three writes instead of one concatenation: no extra copy of the payload
        dst.write(head)
        dst.write(payload)
        dst.write(cbytes)
        index.append((usize, len(payload)))
        stats.blocks += 1
        stats.uncompressed += usize
        stats.compressed += len(head) + len(payload) + len(cbytes)
        stats.kinds[KIND_NAMES[kind]] += 1

    def start(max_block: int) -> None:
        header.max_block_size = max_block
        hbytes = header.encode()
        dst.write(hbytes)
        stats.compressed += len(hbytes)

    blocks = _checked_blocks(codec.split(src, bs), bs, codec.codec_id)
    bound = None if codec.lossless else codec.max_reconstruction_size(bs)
    if bound is not None and not 1 <= bound <= MAX_BLOCK_SIZE:
        raise OptionError("reconstruction too large for one block")
    if not codec.lossless and bound is None:
        # a lossy codec's reconstruction can be larger than what it read (a PNG
        # decodes to raw pixels): its whole-image blocks are coded before the
        # header is written, so the header states their true maximum size
        results = [_encode_one(codec, data, hint, chk) for data, hint in blocks]
        start(max([r[2] for r in results], default=1))
        for res in results:
            emit(res)
    else:
        # blocks are coded on worker threads even for threads=1, so that the main
        # thread only waits and sees Ctrl-C at once (the kernels release the GIL);
        # at most 2 * threads blocks are in flight, output order is input order.
        # (A lossy codec that bounds its reconstructions up front streams the same
        # way: a frame stream from a pipe.)
        start(bs if bound is None else bound)
        pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="sqz-enc")
        pending: deque[tuple[Future, int]] = deque()

        def emit_oldest() -> None:
            fut, n = pending.popleft()
            res = wait_result(fut)
            if bound is not None and res[2] > bound:
                raise OptionError(f"codec {codec.codec_id} made a block larger "
                                  "than it announced")
            emit(res)
            if progress:
                progress(n)

        try:
            for data, hint in blocks:
                pending.append((pool.submit(_encode_one, codec, data, hint, chk), len(data)))
                while len(pending) >= 2 * max(1, threads):
                    emit_oldest()
            while pending:
                emit_oldest()
        finally:
            # on an error or an interrupt, do not wait for blocks still being coded
            pool.shutdown(wait=False, cancel_futures=True)
    tail = _index_and_footer(index)
    dst.write(tail)
    stats.compressed += len(tail)
    return stats


def wait_result(fut: Future):
    """``fut.result()`` in short waits, so that the waiting thread handles signals."""
    while True:
        try:
            return fut.result(timeout=0.1)
        except FuturesTimeout:
            continue


def _checked_blocks(blocks: Iterator[tuple[bytes, Any]], bs: int,
                    codec_id: str) -> Iterator[tuple[bytes, Any]]:
    for data, hint in blocks:
        if not data:
            continue
        if len(data) > bs:
            raise OptionError(f"codec {codec_id} cut a block larger than {bs} bytes")
        yield data, hint


_varint = varint.encode  # unsigned LEB128 (frappe_cli/varint.py)


def _read_varint(r: _Reader, raw: bytearray, limit: int = 1 << 32) -> int:
    """Read one minimal LEB128 value below ``limit``, appending its bytes to ``raw``."""
    n = shift = 0
    while True:
        b = r.read(1, "index")[0]
        raw.append(b)
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
        if shift > 35:
            raise CorruptError("Compressed data is corrupt (index value too long)")
    if n >= limit or (shift > 7 and b == 0):  # value out of range, or not minimal
        raise CorruptError("Compressed data is corrupt (bad index value)")
    return n


def framing_size(codec: Codec, payload_len: int, usize: int, check: str = "xxh64") -> int:
    """Bytes a one-block stream of ``codec`` adds around a payload of ``payload_len``
    bytes that decodes to ``usize`` bytes: header (with the codec's parameters),
    block head, block check, index and footer.  Rate-controlled codecs subtract it
    from their budget (the file size is what a user's --bpp is measured on)."""
    chk = CHECK_NAMES[check]
    header = StreamHeader(codec.codec_id, codec.bitstream_version, chk, max(usize, 1),
                          codec.get_config())
    return (len(header.encode()) + len(_block_head(KIND_CODEC, usize, payload_len))
            + CHECK_SIZES[chk] + len(_index_and_footer([(usize, payload_len)])))


def _index_and_footer(index: list[tuple[int, int]]) -> bytes:
    body = bytes([KIND_INDEX]) + _varint(len(index))
    body += b"".join(_varint(u) + _varint(c) for u, c in index)
    body += struct.pack("<I", _crc(body))
    foot = _FOOTER.pack(len(body))
    return body + foot + struct.pack("<I", _crc(foot)) + FOOTER_MAGIC


# ------------------------------------------------------------------------------------
# decompression


@dataclass
class BlockInfo:
    kind: int
    usize: int
    csize: int
    #: where the block's payload starts in the scanned file (``scan_streams``), else -1
    offset: int = -1


@dataclass
class StreamInfo:
    header: StreamHeader
    blocks: list[BlockInfo]
    uncompressed: int
    compressed: int


def _read_block_head(r: _Reader, header: StreamHeader) -> BlockInfo | None:
    kind = r.read(1, "block header")[0]
    if kind == KIND_INDEX:
        return None
    rest = r.read(_BLOCK_HEAD.size - 1 + 4, "block header")
    head = bytes([kind]) + rest[:8]
    (crc,) = struct.unpack("<I", rest[8:])
    if crc != _crc(head):
        raise CorruptError("Compressed data is corrupt (block header check failed)")
    _, usize, csize = _BLOCK_HEAD.unpack(head)
    if kind not in KIND_NAMES:
        raise UnsupportedError(f"Unsupported options: block kind {kind}")
    if usize == 0:
        raise CorruptError("Compressed data is corrupt (empty block)")
    if usize > header.max_block_size:
        raise CorruptError("Compressed data is corrupt (block larger than the stream's block size)")
    if kind == KIND_STORED and csize != usize:
        raise CorruptError("Compressed data is corrupt (stored block size mismatch)")
    if csize > MAX_BLOCK_SIZE + (MAX_BLOCK_SIZE >> 2):
        raise CorruptError("Compressed data is corrupt (block too large)")
    return BlockInfo(kind, usize, csize)


def _decode_one(codec: Codec, info: BlockInfo, payload: bytes, chk_type: int, chk: bytes) -> bytes:
    """Decode one block and verify it (``chk_type``: the header's check, flags bits 0-2)."""
    covers_payload = bool(chk_type & CHECK_PAYLOAD)
    if covers_payload and (chk_type & CHECK_TYPE_MASK) != CHECK_NONE \
            and compute_check(chk_type, payload) != chk:
        # checked before decoding: a damaged payload never reaches the decoder
        raise CorruptError("Compressed data is corrupt (block check failed)")
    try:
        if info.kind == KIND_STORED:
            out = payload
        elif info.kind == KIND_ZSTD:
            from frappe_cli.zstd_store import zstd_decompress

            out = zstd_decompress(payload, info.usize)
        else:
            out = codec.decode_block(payload, info.usize)
    except SqueezeError:
        raise
    except MemoryError:
        raise MemoryLimitError("Memory usage limit reached (cannot allocate)") from None
    except Exception as exc:  # a decoder met data it could not parse
        raise CorruptError(f"Compressed data is corrupt ({type(exc).__name__} in "
                           f"{codec.codec_id} decoder)") from exc
    if isinstance(out, memoryview) and (out.format != "B" or out.ndim != 1):
        out = out.cast("B")
    if len(out) != info.usize:
        raise CorruptError("Compressed data is corrupt (block size mismatch)")
    if not covers_payload and chk_type != CHECK_NONE and compute_check(chk_type, out) != chk:
        raise CorruptError("Compressed data is corrupt (block check failed)")
    return out


def _memory_check(codec: Codec, header: StreamHeader, threads: int,
                  memlimit: int | None) -> int:
    """The thread count that fits ``memlimit`` (lowered first; refused below one)."""
    if memlimit is None:
        return threads
    per = codec.memory_usage() + 3 * header.max_block_size
    fit = min(max(1, threads), max(0, memlimit - codec.process_memory) // per)
    if fit < 1:
        raise MemoryLimitError(
            f"Memory usage limit reached ({_mib(per + codec.process_memory)} needed, limit "
            f"{_mib(memlimit)})"
        )
    return fit


def _mib(n: int) -> str:
    return f"{(n + (1 << 20) - 1) >> 20} MiB"


def iter_decompress(
    src: BinaryIO,
    *,
    threads: int = 1,
    memlimit: int | None = None,
    progress: Callable[[int], None] | None = None,
    finish: bool = True,
    max_output: int | None = None,
    max_block: int | None = None,
) -> Iterator[bytes]:
    """Yield the decoded output of every stream in ``src`` (concatenated .sqz files).

    Each piece is yielded only after its block check passed.  ``progress`` gets
    the number of compressed bytes consumed.  ``max_output`` bounds the total
    output: a block that would pass it is refused before it is decoded
    (``MemoryLimitError``), so a decompression bomb costs no memory.
    """
    r = _Reader(src)
    first = True
    budget = [max_output]
    while True:
        if not first and (_skip_padding(r) or r.at_eof()):
            return
        header = read_header(r, first=first)
        first = False
        codec = codec_for(header)
        fit = _memory_check(codec, header, threads, memlimit)
        codec.threads = max(1, fit)
        yield from _decode_stream(r, header, codec, fit, progress, finish, budget, max_block)


def _skip_padding(r: _Reader) -> bool:
    """Skip stream padding after a stream: zero bytes in groups of four (xz's rule).
    Returns True at the end of the input."""
    while not r.at_eof() and r._peek == b"\0":
        try:
            group = r.read(4, "stream padding")
        except TruncatedError:
            group = b""
        if group != b"\0\0\0\0":
            raise CorruptError("Compressed data is corrupt (stream padding is not a multiple "
                               "of four zero bytes)")
    return r.at_eof()


def codec_for(header: StreamHeader) -> Codec:
    """The codec that decodes the stream ``header`` describes (or UnsupportedError)."""
    from frappe_cli import registry

    codec_cls = registry.get_class(header.codec_id)
    if not codec_cls.decodes_version(header.codec_version):
        raise UnsupportedError(
            f"Unsupported options: {header.codec_id} bitstream version {header.codec_version}"
        )
    level = header.params.get("level")
    if type(level) is not int or not 0 <= level <= 9:  # FORMAT.md: {"level": N}; not a bool
        raise UnsupportedError("Unsupported options: header parameters have no valid level")
    codec = registry.from_config(header.params)
    if codec.codec_id != header.codec_id:
        raise UnsupportedError("Unsupported options: header codec id mismatch")
    if header.check & CHECK_PAYLOAD and codec.lossless:
        # a lossless stream's check always covers the data itself
        raise UnsupportedError(f"Unsupported options: header flags {header.check:#04x} on "
                               f"the lossless codec {codec.codec_id}")
    return codec


def _spend(budget: list, n: int) -> None:
    """Take ``n`` bytes from the output budget ``[remaining or None]``."""
    if budget[0] is None:
        return
    if n > budget[0]:
        raise MemoryLimitError("Memory usage limit reached (the output would exceed "
                               "max_output)")
    budget[0] -= n


def check_block_limit(usize: int, max_block: int | None) -> None:
    """The default decode limit (``max_block``, None: none), judged on a block's real
    size from its header or the index, before its payload is read.  Not on the
    stream header's declared maximum, which is only a bound: streams of the first
    image codec declared 1 GiB for pictures of a few kilobytes."""
    if max_block is not None and usize > max_block:
        raise MemoryLimitError(
            f"Memory usage limit reached (a block of {_mib(usize)} exceeds the default "
            f"limit of {_mib(max_block)} for decoding; raise it with -M/--memlimit)")


def _stream_blocks(r: _Reader, header: StreamHeader,
                   progress: Callable[[int], None] | None,
                   max_block: int | None = None) -> Iterator[tuple[BlockInfo, bytes, bytes]]:
    csize = CHECK_SIZES[header.check]
    while True:
        before = r.pos
        info = _read_block_head(r, header)
        if info is None:
            return
        check_block_limit(info.usize, max_block)
        payload = r.read(info.csize, "block")
        chk = r.read(csize, "block check")
        if progress:
            progress(r.pos - before)
        yield info, payload, chk


def _decode_stream(r: _Reader, header: StreamHeader, codec: Codec, threads: int,
                   progress: Callable[[int], None] | None, finish: bool,
                   budget: list | None = None,
                   max_block: int | None = None) -> Iterator[bytes]:
    seen: list[tuple[int, int]] = []
    budget = budget if budget is not None else [None]
    exact = codec.lossless or not finish  # output size == block size: check before decoding

    def deliver(info: BlockInfo, out: bytes) -> bytes:
        seen.append((info.usize, info.csize))
        if not exact:
            out = codec.finish_output(out)
            _spend(budget, len(out))
            return out
        return codec.finish_output(out) if finish else out

    def budgeted(blocks):
        for item in blocks:
            if exact:
                _spend(budget, item[0].usize)
            yield item

    blocks = budgeted(_stream_blocks(r, header, progress, max_block))
    pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="sqz-dec")
    try:
        pending: deque[tuple[BlockInfo, Future]] = deque()
        for info, payload, chk in blocks:
            pending.append(
                (info, pool.submit(_decode_one, codec, info, payload, header.check, chk))
            )
            while len(pending) >= 2 * max(1, threads):
                i, fut = pending.popleft()
                yield deliver(i, wait_result(fut))
        while pending:
            i, fut = pending.popleft()
            yield deliver(i, wait_result(fut))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    _read_index_and_footer(r, seen)


def _read_index_and_footer(r: _Reader, seen: list[tuple[int, int]]) -> None:
    raw = bytearray([KIND_INDEX])  # the 0xFF was consumed by _read_block_head
    count = _read_varint(r, raw)
    if count != len(seen):
        raise CorruptError("Compressed data is corrupt (index does not match the blocks)")
    got = [(_read_varint(r, raw), _read_varint(r, raw)) for _ in range(count)]
    (crc,) = struct.unpack("<I", r.read(4, "index"))
    if crc != _crc(bytes(raw)):
        raise CorruptError("Compressed data is corrupt (index check failed)")
    if got != seen:
        raise CorruptError("Compressed data is corrupt (index does not match the blocks)")
    foot = r.read(FOOTER_SIZE, "footer")
    (isize,) = _FOOTER.unpack(foot[:4])
    (fcrc,) = struct.unpack("<I", foot[4:8])
    if foot[8:] != FOOTER_MAGIC or fcrc != _crc(foot[:4]):
        raise CorruptError("Compressed data is corrupt (footer check failed)")
    if isize != len(raw) + 4:
        raise CorruptError("Compressed data is corrupt (footer does not match the index)")


def decompress_stream(
    src: BinaryIO,
    dst: BinaryIO | None,
    *,
    threads: int = 1,
    memlimit: int | None = None,
    progress: Callable[[int], None] | None = None,
    max_output: int | None = None,
    max_block: int | None = None,
) -> int:
    """Decode every stream in ``src`` to ``dst`` (None: test only); returns bytes out."""
    n = 0
    for piece in iter_decompress(src, threads=threads, memlimit=memlimit, progress=progress,
                                 finish=dst is not None, max_output=max_output,
                                 max_block=max_block):
        if dst is not None:
            dst.write(piece)
        n += len(piece)
    return n


# ------------------------------------------------------------------------------------
# listing


def scan_streams(src: BinaryIO, *, seek_min: int = _READ_PIECE) -> list[StreamInfo]:
    """Walk every stream's headers (payloads are skipped, not decoded, not checked).

    Each ``BlockInfo.offset`` is where the block's payload starts, counted from
    the position ``src`` had when the scan began.  On a seekable file, payloads
    of at least ``seek_min`` bytes are skipped with a seek instead of a read.
    """
    r = _Reader(src)
    r.seek_min = seek_min
    out = []
    first = True
    while True:
        if not first and (_skip_padding(r) or r.at_eof()):
            return out
        start = r.pos
        header = read_header(r, first=first)
        first = False
        blocks: list[BlockInfo] = []
        total = 0
        while True:
            info = _read_block_head(r, header)
            if info is None:
                break
            info.offset = r.pos
            _skip(r, info.csize + CHECK_SIZES[header.check])
            blocks.append(info)
            total += info.usize
        _read_index_and_footer(r, [(b.usize, b.csize) for b in blocks])
        out.append(StreamInfo(header, blocks, total, r.pos - start))


def read_block(f: BinaryIO, base: int, codec: Codec, header: StreamHeader,
               info: BlockInfo, *, finish: bool = True) -> bytes:
    """Decode one block of a scanned stream (random access on a seekable file).

    ``base`` is the file position the scan started from; the payload is read at
    ``base + info.offset`` and checked as in a sequential decode.
    """
    f.seek(base + info.offset)
    r = _Reader(f)
    payload = r.read(info.csize, "block")
    chk = r.read(CHECK_SIZES[header.check], "block check")
    out = _decode_one(codec, info, payload, header.check, chk)
    return codec.finish_output(out) if finish else out


def _skip(r: _Reader, n: int) -> None:
    f = r.f
    if not r._peek and n >= r.seek_min and getattr(f, "seekable", lambda: False)():
        cur = f.tell()
        end = f.seek(0, 2)
        if cur + n > end:
            raise TruncatedError("Unexpected end of input (in block)")
        f.seek(cur + n)
        r.pos += n
        return
    while n > 0:
        k = min(n, _READ_PIECE)
        r.read(k, "block")
        n -= k


# ------------------------------------------------------------------------------------
# in-memory helpers (library use, tests, bench)


def compress(data: bytes, codec: Codec | str = "zstd", *, level: int | None = None,
             check: str = "xxh64", threads: int = 1, block_size: int | None = None,
             check_covers: str | None = None, **params: Any) -> bytes:
    import io

    from frappe_cli import registry

    if isinstance(codec, str):
        codec = registry.make(codec, level, **params)
    out = io.BytesIO()
    compress_stream(io.BytesIO(data), out, codec, check=check, threads=threads,
                    block_size=block_size, check_covers=check_covers)
    return out.getvalue()


def decompress(data: bytes, *, threads: int = 1, memlimit: int | None = None,
               finish: bool = True, max_output: int | None = None) -> bytes:
    import io

    return b"".join(iter_decompress(io.BytesIO(data), threads=threads, memlimit=memlimit,
                                    finish=finish, max_output=max_output))
