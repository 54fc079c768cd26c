"""The public Python API (frappe_cli): one shot, incremental, file objects.

Written for squeeze after what the stdlib's lzma tests cover: partial reads,
read1, readline, iteration, seek/tell, context manager, use after close,
concatenated members, max_length, unused_data, writing in many small pieces;
plus the index-based random-access seek that lzma does not have.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import frappe_cli as sq
from frappe_cli import container
from frappe_cli.errors import (CorruptError, FormatError, MemoryLimitError, OptionError,
                               SqueezeError, TruncatedError)

DATA = b"".join(b"line %05d: the quick brown fox jumps over the lazy dog\n" % i
                for i in range(3000))  # 168 KB of text lines
BS = 4096  # small blocks: many of them


@pytest.fixture(scope="module")
def blob():
    return sq.compress(DATA, codec="zstd", block_size=BS)


# -- one shot ----------------------------------------------------------------------------


def test_exports_and_cheap_import():
    for name in ("compress", "decompress", "Compressor", "Decompressor", "open",
                 "SqueezeFile", "SqueezeError", "CorruptError", "FormatError"):
        assert name in dir(sq) and getattr(sq, name) is not None
    code = ("import sys, frappe_cli; print('frappe_cli.api' in sys.modules, "
            "'numpy' in sys.modules, 'zstandard' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=dict(os.environ, PYTHONPATH=":".join(sys.path)))
    assert out.stdout.split() == ["False", "False", "False"]


def test_one_shot_matches_cli_bytes(tmp_path):
    src = tmp_path / "a.txt"
    src.write_bytes(DATA[:20000])
    subprocess.run([sys.executable, "-m", "frappe_cli", "-q", "--codec", "zstd", "-B", "4KiB",
                    str(src)], check=True, env=dict(os.environ, PYTHONPATH=":".join(sys.path)))
    assert (tmp_path / "a.txt.sqz").read_bytes() == sq.compress(DATA[:20000], "zstd",
                                                                block_size=4096)


@pytest.mark.parametrize("codec", ["zstd", "store"])
def test_one_shot_roundtrip(codec):
    for data in (b"", b"x", DATA):
        blob = sq.compress(data, codec=codec, level=3, block_size=BS)
        assert sq.decompress(blob) == data
        assert sq.decompress(blob, threads=2) == data


def test_bytes_like_inputs():
    import numpy as np

    a = np.arange(1000, dtype=np.float32).reshape(10, 100)
    blob = sq.compress(a, codec="zstd")
    assert sq.decompress(blob) == a.tobytes()
    assert sq.decompress(memoryview(blob)) == a.tobytes()
    assert sq.compress(bytearray(b"abc"), "zstd") == sq.compress(b"abc", "zstd")
    with pytest.raises(TypeError):
        sq.compress("text", "zstd")


def test_threads_never_change_bytes():
    assert sq.compress(DATA, "zstd", threads=2, block_size=BS) == sq.compress(DATA, "zstd",
                                                                               block_size=BS)


def test_concatenated_streams(blob):
    other = sq.compress(b"tail", codec="store")
    assert sq.decompress(blob + other) == DATA + b"tail"


def test_max_output_guards_against_bombs(blob):
    assert sq.decompress(blob, max_output=len(DATA)) == DATA
    with pytest.raises(MemoryLimitError):
        sq.decompress(blob, max_output=len(DATA) - 1)
    with pytest.raises(OptionError):
        sq.decompress(blob, max_output=-1)


def test_auto_falls_back_to_zstd_on_malformed_weights():
    # looks like safetensors (8-byte length, then '{') but the header lies
    bad = (40).to_bytes(8, "little") + b'{"w": {"dtype": "F32", "shape": [9999999999]}}'
    bad += b"\0" * 500
    blob = sq.compress(bad)
    assert container.scan_streams(io.BytesIO(blob))[0].header.codec_id == "zstd"
    assert sq.decompress(blob) == bad
    c = sq.Compressor()
    assert c.compress(bad) + c.flush() == blob


def test_errors_are_squeeze_errors(blob):
    with pytest.raises(FormatError):
        sq.decompress(b"not a squeeze file at all")
    with pytest.raises(FormatError):
        sq.decompress(b"")
    with pytest.raises(TruncatedError):
        sq.decompress(blob[:-3])
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 0x40
    with pytest.raises(CorruptError):
        sq.decompress(bytes(bad))
    with pytest.raises(CorruptError):
        sq.decompress(blob + b"junk")
    with pytest.raises(OptionError):
        sq.compress(b"x", codec="zstd", level=12)
    with pytest.raises(SqueezeError):
        sq.compress(b"x", codec="no-such-codec")
    with pytest.raises(OptionError):
        sq.compress(b"x", codec="zstd", bogus=1)


# -- incremental -------------------------------------------------------------------------


@pytest.mark.parametrize("piece", [1, 7, 4096, 10**6])
def test_compressor_many_small_pieces(piece):
    data = DATA[:40000] if piece == 1 else DATA
    c = sq.Compressor("zstd", level=2, block_size=BS)
    out = [c.compress(data[i:i + piece]) for i in range(0, len(data), piece)]
    out.append(c.flush())
    assert b"".join(out) == sq.compress(data, "zstd", level=2, block_size=BS)


def test_compressor_auto_and_threads():
    c = sq.Compressor(block_size=BS, threads=2, codec="auto", level=1)
    out = c.compress(DATA[:30000]) + c.compress(DATA[30000:60000]) + c.flush()
    assert out == sq.compress(DATA[:60000], level=1, block_size=BS)


def test_compressor_misuse():
    c = sq.Compressor("zstd")
    c.compress(b"abc")
    c.flush()
    with pytest.raises(ValueError):
        c.compress(b"more")
    with pytest.raises(ValueError):
        c.flush()
    with pytest.raises(OptionError):
        sq.Compressor("zstd", bogus=True)
    with pytest.raises(OptionError):
        sq.Compressor("zstd", block_size=0)
    empty = sq.Compressor("zstd")
    assert empty.flush() == sq.compress(b"", "zstd")


def test_compressor_abandoned_does_not_hang():
    import threading

    before = threading.active_count()
    for _ in range(5):
        c = sq.Compressor("zstd")
        c.compress(b"x" * 1000)
        del c
    import gc
    import time

    gc.collect()
    deadline = time.time() + 5
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before


def test_decompressor_max_length_and_needs_input(blob):
    d = sq.Decompressor()
    out = d.decompress(blob[:100], max_length=10)
    assert out == b"" and d.needs_input and not d.eof  # header only: no block yet
    got = [out]
    pos = 100
    while not d.eof:
        if d.needs_input:
            chunk, pos = blob[pos:pos + 333], pos + 333
        else:
            chunk = b""
        piece = d.decompress(chunk, max_length=1000)
        assert len(piece) <= 1000
        got.append(piece)
    assert b"".join(got) == DATA
    assert d.unused_data == b"" and not d.needs_input
    with pytest.raises(EOFError):
        d.decompress(b"x")


def test_decompressor_unused_data_after_end(blob):
    d = sq.Decompressor()
    second = sq.compress(b"second", "store")
    assert d.decompress(blob + second) == DATA
    assert d.eof and d.unused_data == second
    d2 = sq.Decompressor()
    assert d2.decompress(d.unused_data) == b"second"


def test_decompressor_max_length_zero_and_unbounded(blob):
    d = sq.Decompressor()
    assert d.decompress(blob, max_length=0) == b""
    assert not d.needs_input  # blocks are waiting to be decoded
    assert d.decompress(b"") == DATA and d.eof


def test_decompressor_errors(blob):
    with pytest.raises(FormatError):
        sq.Decompressor().decompress(b"PK\x03\x04 zip")
    d = sq.Decompressor()
    bad = bytearray(blob)
    bad[200] ^= 1
    with pytest.raises(CorruptError):
        d.decompress(bytes(bad))
    with pytest.raises(CorruptError):  # the error sticks
        d.decompress(b"")
    d = sq.Decompressor()
    d.decompress(blob[:-1])
    assert not d.eof and d.needs_input  # truncated: waits for more, as lzma does


SMALL = sq.compress(DATA[:9000], "zstd", block_size=2048)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_decoders(data):
    """Mutated and cut streams: one SqueezeError (or a correct result), in every tier."""
    buf = bytearray(SMALL)
    for _ in range(data.draw(st.integers(0, 4))):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(buf)))
    mutated = bytes(buf[:cut])
    try:
        out = sq.decompress(mutated, max_output=1 << 20)
        assert out == DATA[:9000]
    except SqueezeError:
        pass
    d = sq.Decompressor()
    try:
        out = d.decompress(mutated)
        assert DATA[:9000].startswith(out)
    except SqueezeError:
        pass
    try:
        with sq.open(io.BytesIO(mutated)) as f:
            f.seek(data.draw(st.integers(0, 10000)))
            f.read(100)
    except SqueezeError:
        pass


# -- file objects ------------------------------------------------------------------------


def test_open_read_partial_read1_peek(blob):
    with sq.open(io.BytesIO(blob)) as f:
        assert isinstance(f, io.BufferedIOBase) and f.readable() and not f.writable()
        assert f.read(10) == DATA[:10]
        assert f.peek(5).startswith(DATA[10:15])
        r1 = f.read1(100000)
        assert 0 < len(r1) <= BS and DATA[10:].startswith(r1)
        assert f.tell() == 10 + len(r1)
        rest = f.read()
        assert DATA == DATA[:10] + r1 + rest
        assert f.read() == b"" and f.read(10) == b"" and f.read1() == b""


def test_readline_iteration_readinto(blob):
    lines = DATA.splitlines(True)
    with sq.open(io.BytesIO(blob)) as f:
        assert f.readline() == lines[0]
        assert f.readline(5) == lines[1][:5]
        assert f.readline() == lines[1][5:]
        assert list(f) == lines[2:]
    with sq.open(io.BytesIO(blob)) as f:
        b = bytearray(1000)
        assert f.readinto(b) == 1000 and bytes(b) == DATA[:1000]


def test_random_access_seek_decodes_one_block(blob, monkeypatch):
    calls = []
    real = container._decode_one

    def counting(codec, info, payload, chk_type, chk):
        calls.append(info.usize)
        return real(codec, info, payload, chk_type, chk)

    monkeypatch.setattr(container, "_decode_one", counting)
    with sq.open(io.BytesIO(blob)) as f:
        assert f.seekable()
        assert f.seek(100_000) == 100_000
        assert f.read(50) == DATA[100_000:100_050]
        assert len(calls) == 1  # only the block holding offset 100000
        f.seek(5)
        assert f.read(10) == DATA[5:15] and len(calls) == 2
        assert f.seek(-20, io.SEEK_END) == len(DATA) - 20
        assert f.read() == DATA[-20:]
        f.seek(BS * 3 - 2)
        assert f.read(4) == DATA[BS * 3 - 2:BS * 3 + 2]  # across a block boundary
        f.seek(10, io.SEEK_CUR)
        assert f.tell() == BS * 3 + 12 and f.read(3) == DATA[BS * 3 + 12:BS * 3 + 15]
        assert f.seek(len(DATA) + 100) == len(DATA) and f.read() == b""
        with pytest.raises(ValueError):
            f.seek(-1)


def test_seek_a_corrupt_block_elsewhere_does_not_matter(blob):
    # corrupt the payload of the first block: a seek far away still reads fine
    s = container.scan_streams(io.BytesIO(blob), seek_min=0)[0]
    bad = bytearray(blob)
    bad[s.blocks[0].offset + 5] ^= 0xFF
    with sq.open(io.BytesIO(bytes(bad))) as f:
        f.seek(50_000)
        assert f.read(100) == DATA[50_000:50_100]
        with pytest.raises(CorruptError):  # the seek decodes the damaged block
            f.seek(0)
            f.read(10)


def test_seek_across_concatenated_streams_and_file_offset(tmp_path):
    a = sq.compress(DATA[:10000], "zstd", block_size=1000)
    b = sq.compress(DATA[10000:20000], "store", block_size=3000)
    raw = io.BytesIO(b"PREFIX" + a + b)
    raw.seek(6)  # a file object positioned at the stream's start
    with sq.SqueezeFile(raw) as f:
        f.seek(12345)
        assert f.read(2000) == DATA[12345:14345]
        f.seek(9990)
        assert f.read(20) == DATA[9990:10010]


def test_seek_on_non_seekable_input(blob):
    class Pipe(io.RawIOBase):
        def __init__(self, data):
            self.b = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buf):
            n = self.b.readinto(memoryview(buf)[:777])
            return n

    with sq.open(Pipe(blob)) as f:
        assert not f.seekable()
        f.seek(5000)
        assert f.read(10) == DATA[5000:5010]
        with pytest.raises(io.UnsupportedOperation):
            f.seek(0)


def test_write_modes_and_text(tmp_path):
    p = tmp_path / "t.sqz"
    with sq.open(p, "wb", codec="zstd", block_size=BS) as f:
        for i in range(0, len(DATA), 333):
            assert f.write(DATA[i:i + 333]) == len(DATA[i:i + 333])
        assert f.tell() == len(DATA)
    assert p.read_bytes() == sq.compress(DATA, "zstd", block_size=BS)
    with pytest.raises(FileExistsError):
        sq.open(p, "xb")
    with sq.open(p, "ab", codec="store") as f:
        f.write(b"appended")
    assert sq.decompress(p.read_bytes()) == DATA + b"appended"
    with sq.open(p, "wt", codec="zstd", encoding="utf-8", newline="\n") as f:
        f.write("grüße\n" * 100)
    with sq.open(p, "rt", encoding="utf-8") as f:
        assert f.readline() == "grüße\n"
        assert f.read() == "grüße\n" * 99
    with sq.open(tmp_path / "new.sqz", "xt", codec="store") as f:
        f.write("x")
    with sq.open(str(tmp_path / "new.sqz"), "at", codec="store") as f:
        f.write("y")
    assert sq.open(tmp_path / "new.sqz", "rt").read() == "xy"


def test_use_after_close_and_bad_arguments(blob, tmp_path):
    f = sq.open(io.BytesIO(blob))
    f.close()
    f.close()  # twice is fine
    assert f.closed
    for call in (lambda: f.read(), lambda: f.seek(0), lambda: f.tell(), lambda: f.readline(),
                 lambda: f.peek()):
        with pytest.raises(ValueError):
            call()
    w = sq.open(io.BytesIO(), "wb", codec="zstd")
    with pytest.raises(io.UnsupportedOperation):
        w.read()
    w.close()
    with pytest.raises(ValueError):
        w.write(b"x")
    with pytest.raises(ValueError):
        sq.open(io.BytesIO(blob), "rb", encoding="utf-8")
    with pytest.raises(ValueError):
        sq.open(io.BytesIO(blob), "rtb")
    with pytest.raises(ValueError):
        sq.open(io.BytesIO(blob), "r+")
    with pytest.raises(TypeError):
        sq.open(1234.5)
    with pytest.raises(ValueError):
        sq.open(io.BytesIO(blob), "rb", codec="zstd")  # compression options when reading


def test_open_closes_what_it_opened_only(blob, tmp_path):
    raw = io.BytesIO(blob)
    with sq.open(raw) as f:
        f.read(10)
    assert not raw.closed
    p = tmp_path / "x.sqz"
    p.write_bytes(blob)
    f = sq.open(p)
    inner = f._fp
    f.close()
    assert inner.closed


def test_lossy_stream_reads_as_the_image(tmp_path):
    """Streams of a lossy codec read as what `squeeze -d` writes (the PNG)."""
    import numpy as np
    from PIL import Image

    img = (np.indices((48, 64)).sum(0) % 256).astype(np.uint8)
    png = io.BytesIO()
    Image.fromarray(np.stack([img] * 3, -1)).save(png, "PNG")
    blob = sq.compress(png.getvalue(), codec="frappe", bpp=0.5)
    out = sq.decompress(blob)
    assert out.startswith(b"\x89PNG")
    with sq.open(io.BytesIO(blob)) as f:
        f.seek(8)
        assert f.read() == out[8:]
