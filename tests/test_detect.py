"""--codec auto: content sniffing; never a lossy codec."""

import os
import struct

from frappe_cli import detect, registry


def test_kinds():
    assert detect.sniff(b"Hello world, plain text.\n" * 100)[0] == "text"
    assert detect.sniff(b"\x7fELF\x02\x01\x01" + b"\x00" * 100)[0] == "exe"
    pe = bytearray(b"MZ" + b"\x00" * 200)
    struct.pack_into("<I", pe, 0x3C, 0x80)
    pe[0x80:0x84] = b"PE\x00\x00"
    assert detect.sniff(bytes(pe))[0] == "exe"
    assert detect.sniff(b"\xcf\xfa\xed\xfe" + b"\x00" * 60)[0] == "exe"
    hdr = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    assert detect.sniff(struct.pack("<Q", len(hdr)) + hdr + b"\x00" * 8)[0] == "weights"
    assert detect.sniff(b"\x93NUMPY\x01\x00" + b" " * 100)[0] == "weights"
    assert detect.sniff(b"\x1f\x8b\x08" + os.urandom(100))[0] == "compressed"
    assert detect.sniff(b"\x89PNG\r\n\x1a\n" + os.urandom(100))[0] == "compressed"
    assert detect.sniff(os.urandom(65536))[0] == "compressed"
    assert detect.sniff(bytes(range(256)) * 2 + b"\x00" * 3000)[0] == "binary"
    assert detect.sniff(b"")[0] == "text"


def test_auto_never_picks_lossy():
    samples = [b"\x89PNG\r\n\x1a\n" + os.urandom(1000), b"P6\n4 4\n255\n" + os.urandom(48),
               b"text " * 100, os.urandom(70000), b"\xff\xd8\xff\xe0" + os.urandom(500)]
    for s in samples:
        cid, _ = detect.choose_codec(s)
        assert registry.get_class(cid).lossless
