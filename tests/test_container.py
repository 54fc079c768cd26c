"""The .sqz container: framing, checks, streaming, threads, concatenation, errors."""

import io
import os
import struct
import zlib

import pytest

from frappe_cli import container, registry
from frappe_cli.codec import Codec
from frappe_cli.errors import (
    CorruptError,
    FormatError,
    MemoryLimitError,
    SqueezeError,
    TruncatedError,
    UnsupportedError,
)
from frappe_cli.testing import check_config_roundtrip, check_golden, check_roundtrip

TEXT = b"".join(b"line %d: the quick brown fox jumps over the lazy dog\n" % i for i in range(4000))


@pytest.mark.parametrize("cid", ["zstd", "store"])
@pytest.mark.parametrize("data", [b"", b"x", os.urandom(5000), TEXT])
def test_roundtrip_small_blocks_and_threads(cid, data):
    codec = registry.make(cid, 3)
    check_config_roundtrip(codec)
    for bs in (1, 100, 4096, None):
        if bs == 1 and len(data) > 5000:
            continue
        check_roundtrip(codec, data, block_size=bs, threads=1)
        check_roundtrip(codec, data, block_size=bs, threads=3)


def test_threads_never_change_output():
    one = container.compress(TEXT * 3, "zstd", level=5, block_size=10000, threads=1)
    for t in (2, 3, 8):
        assert container.compress(TEXT * 3, "zstd", level=5, block_size=10000, threads=t) == one


def test_levels_all_valid_and_monotone_enough():
    sizes = [len(container.compress(TEXT, "zstd", level=lv)) for lv in range(10)]
    assert sizes[9] <= sizes[0]


def test_empty_input_is_a_valid_stream():
    blob = container.compress(b"", "zstd")
    assert blob.startswith(container.MAGIC)
    assert container.decompress(blob) == b""
    (info,) = container.scan_streams(io.BytesIO(blob))
    assert info.blocks == [] and info.uncompressed == 0


def test_concatenated_streams_decode_to_concatenation():
    a = container.compress(b"first part\n" * 100, "zstd")
    b = container.compress(b"", "store")
    c = container.compress(os.urandom(3000), "store", block_size=1000)
    out = container.decompress(a + b + c)
    assert out == b"first part\n" * 100 + container.decompress(c)
    assert len(container.scan_streams(io.BytesIO(a + b + c))) == 3


def test_trailing_garbage_is_an_error():
    blob = container.compress(TEXT, "zstd")
    for tail in (b"garbage", b"\x00" * 4 + b"x", container.MAGIC[:5]):
        with pytest.raises(CorruptError, match="trailing garbage"):
            container.decompress(blob + tail)
    for tail in (b"\x00", b"\x00" * 6, b"\x00\x00\x00\x01"):
        with pytest.raises(CorruptError, match="stream padding"):
            container.decompress(blob + tail)


def test_zero_stream_padding_is_accepted():
    """xz's rule: zero bytes in groups of four between and after streams."""
    blob = container.compress(TEXT, "zstd")
    assert container.decompress(blob + b"\x00" * 4) == TEXT
    assert container.decompress(blob + b"\x00" * 8 + blob + b"\x00" * 4) == TEXT + TEXT
    assert len(container.scan_streams(io.BytesIO(blob + b"\x00" * 12 + blob))) == 2
    with pytest.raises(FormatError):  # not before the first stream
        container.decompress(b"\x00" * 4 + blob)


def test_foreign_input_is_not_recognized():
    for data in (b"", b"hello", b"\xfd7zXZ\x00" + b"\x00" * 40, os.urandom(100)):
        with pytest.raises(FormatError, match="File format not recognized"):
            container.decompress(data)


def test_every_truncation_is_a_clean_error():
    blob = container.compress(TEXT[:20000], "zstd", block_size=5000)
    for cut in range(len(container.MAGIC), len(blob)):
        with pytest.raises(SqueezeError):
            container.decompress(blob[:cut])
    with pytest.raises(TruncatedError):
        container.decompress(blob[:-3])


def test_every_bit_flip_is_detected():
    blob = container.compress(TEXT[:3000], "zstd", block_size=1000)
    original = container.decompress(blob)
    for pos in range(len(blob)):
        for bit in (0, 5):
            bad = bytearray(blob)
            bad[pos] ^= 1 << bit
            try:
                out = container.decompress(bytes(bad))
            except SqueezeError:
                continue
            # a flip that still decodes must give exactly the original (impossible here,
            # but the property is what matters: never wrong output)
            assert out == original, f"flip at {pos}:{bit} gave wrong output"


def _header_bytes(codec_id="zstd", version=1, flags=2, mbs=1 << 20, params=None, fmt=1):
    params = params if params is not None else {"level": 6}
    cid = codec_id.encode()
    p = container.canonical_json(params)
    body = (container.MAGIC + bytes([fmt, flags, len(cid)]) + cid
            + struct.pack("<HIH", version, mbs, len(p)) + p)
    return body + struct.pack("<I", zlib.crc32(body))


def _empty_tail():
    return container._index_and_footer([])


def test_unknown_codec_is_unsupported_not_corrupt():
    blob = _header_bytes("no-such-codec", params={}) + _empty_tail()
    with pytest.raises(UnsupportedError, match="unknown codec 'no-such-codec'"):
        container.decompress(blob)


def test_newer_versions_are_unsupported():
    with pytest.raises(UnsupportedError, match="format version 2"):
        container.decompress(_header_bytes(fmt=2) + _empty_tail())
    with pytest.raises(UnsupportedError, match="bitstream version 9"):
        container.decompress(_header_bytes(version=9) + _empty_tail())
    with pytest.raises(UnsupportedError, match="flags"):
        container.decompress(_header_bytes(flags=0x82) + _empty_tail())
    with pytest.raises(UnsupportedError, match="flags"):
        container.decompress(_header_bytes(flags=3) + _empty_tail())


def test_damaged_header_is_corrupt():
    blob = bytearray(container.compress(TEXT, "zstd"))
    blob[12] ^= 0xFF
    with pytest.raises(CorruptError, match="header check failed"):
        container.decompress(bytes(blob))


def test_oversize_block_size_is_refused():
    with pytest.raises(MemoryLimitError):
        container.decompress(_header_bytes(mbs=(1 << 30) + 1) + _empty_tail())
    blob = container.compress(TEXT, "zstd", block_size=1 << 20)
    with pytest.raises(MemoryLimitError):
        container.decompress(blob, memlimit=1 << 20)
    assert container.decompress(blob, memlimit=64 << 20) == TEXT


def test_block_larger_than_declared_is_corrupt():
    # a block header claiming more than the stream's maximum block size
    head = struct.pack("<BII", 2, 2000, 2000)
    block = head + struct.pack("<I", zlib.crc32(head)) + b"a" * 2000
    blob = _header_bytes(mbs=1000) + block
    with pytest.raises(CorruptError, match="larger than the stream's block size"):
        container.decompress(blob)


def test_bad_block_check_is_corrupt():
    blob = bytearray(container.compress(b"abc" * 1000, "store", check="crc32"))
    pos = blob.index(b"abcabc")
    blob[pos] ^= 1
    with pytest.raises(CorruptError, match="block check failed"):
        container.decompress(bytes(blob))


def test_index_mismatch_is_corrupt():
    blob = container.compress(b"abc" * 1000, "store", block_size=1000)
    # drop the last block record but keep the index: the index no longer matches
    body = _header_bytes("store", params={"level": 6}, mbs=1000)
    rec = container._block_record(2, 1000, b"abc" * 333 + b"a", container.compute_check(
        2, b"abc" * 333 + b"a"))
    fake = body + rec + container._index_and_footer([(1000, 1000), (1000, 1000)])
    with pytest.raises(CorruptError, match="index"):
        container.decompress(fake)
    assert container.decompress(blob) == b"abc" * 1000


@pytest.mark.parametrize("check", ["none", "crc32", "xxh64"])
def test_check_types(check):
    blob = container.compress(TEXT, "zstd", check=check)
    (info,) = container.scan_streams(io.BytesIO(blob))
    assert info.header.check == container.CHECK_NAMES[check]
    assert container.decompress(blob) == TEXT


class Expander(Codec):
    """A deliberately bad codec: its payload is larger than the input."""

    codec_id = "test-expander"
    description = "test codec that doubles its input"

    def encode_block(self, data, hint=None):
        return bytes(data) * 2

    def decode_block(self, payload, size):
        if len(payload) != 2 * size:
            raise CorruptError("bad expander payload")
        return payload[:size]


def test_fallback_keeps_the_smallest_per_block():
    registry.register(Expander)
    try:
        codec = Expander()
        stats = container.compress_stream(io.BytesIO(TEXT), io.BytesIO(), codec, block_size=20000)
        assert stats.kinds["codec"] == 0 and stats.kinds["zstd"] == stats.blocks
        rnd = os.urandom(30000)
        out = io.BytesIO()
        stats = container.compress_stream(io.BytesIO(rnd), out, codec, block_size=10000)
        assert stats.kinds["stored"] == stats.blocks == 3
        assert container.decompress(out.getvalue()) == rnd
        # never worse than zstd at the same level, block by block
        z = container.compress(TEXT, "zstd", level=6, block_size=20000)
        assert len(check_roundtrip(codec, TEXT, block_size=20000)) <= len(z) + 32
    finally:
        registry.unregister("test-expander")


class Lossy(Codec):
    """Keeps every other byte; reconstructs by repeating them (tests lossy framing)."""

    codec_id = "test-lossy"
    lossless = False

    def encode_block(self, data, hint=None):
        return bytes(data[::2])

    def decode_block(self, payload, size):
        out = bytes(b for b in payload for _ in (0, 1))
        if len(out) != size:
            raise CorruptError("size")
        return out

    def reconstruction(self, data, payload):
        return self.decode_block(payload, 2 * len(payload))


def test_lossy_check_covers_the_reconstruction():
    registry.register(Lossy)
    try:
        data = bytes(range(256)) * 10 + b"x"
        blob = container.compress(data, Lossy(), block_size=1 << 20)
        out = container.decompress(blob)
        assert out == Lossy().reconstruction(data, data[::2])
        (info,) = container.scan_streams(io.BytesIO(blob))
        assert info.header.max_block_size == len(out)
    finally:
        registry.unregister("test-lossy")


def test_header_params_are_canonical_json():
    blob = container.compress(b"abc", "zstd", level=4)
    (info,) = container.scan_streams(io.BytesIO(blob))
    assert info.header.params == {"id": "zstd", "level": 4}
    # the id is a header field of its own: the stored JSON omits it
    assert b'{"level":4}' in blob and b'"id"' not in blob


def test_index_varints_and_footer():
    assert container._varint(0) == b"\x00" and container._varint(300) == b"\xac\x02"
    sizes = [(1, 1), (127, 128), (1 << 20, 5), ((1 << 30), (1 << 31) + 7)]
    tail = container._index_and_footer(sizes)
    r = container._Reader(io.BytesIO(tail[1:]))
    container._read_index_and_footer(r, sizes)
    # a non-minimal varint (0x80 0x00 for 0) is refused
    bad = bytes([0xFF, 0x81, 0x00, 0x01, 0x01])
    bad += struct.pack("<I", zlib.crc32(bad))
    with pytest.raises(CorruptError):
        container._read_index_and_footer(container._Reader(io.BytesIO(bad[1:])), [(1, 1)])


def test_header_params_with_id_are_refused():
    blob = _header_bytes(params={"id": "zstd", "level": 6}) + _empty_tail()
    with pytest.raises(UnsupportedError):
        container.decompress(blob)


class Chunky(io.RawIOBase):
    """A pipe-like reader returning at most 7 bytes per read."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def readable(self):
        return True

    def read(self, n=-1):
        n = 7 if n is None or n < 0 else min(n, 7)
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out


def test_short_reads_like_pipes():
    blob = container.compress(TEXT, "zstd", block_size=3000)
    out = io.BytesIO()
    container.decompress_stream(Chunky(blob), out)
    assert out.getvalue() == TEXT
    out = io.BytesIO()
    container.compress_stream(Chunky(TEXT), out, registry.make("zstd", 3), block_size=3000)
    assert out.getvalue() == container.compress(TEXT, "zstd", level=3, block_size=3000)


@pytest.mark.parametrize("name", ["zstd-v1-text", "store-v1-binary", "zstd-v1-multi"])
def test_golden_files_decode(name):
    check_golden(name)


@pytest.mark.parametrize("n", [1, 127, 128, 5000, 70000])
def test_framing_size_matches_a_one_block_stream(n):
    codec = registry.make("store", 6)
    blob = container.compress(bytes(n), codec)
    assert len(blob) == n + container.framing_size(codec, n, n)
