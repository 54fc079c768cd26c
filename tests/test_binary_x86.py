"""x86 branch transform and ELF/PE region detection."""

import lzma
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from squeeze_binary import regions, x86

from frappe_cli.testing import corpus_file

SYSTEM_FILES = ["/usr/bin/ls", "/usr/lib/x86_64-linux-gnu/libc.so.6",
                "/usr/lib/x86_64-linux-gnu/libz.so.1"]

branchy = st.lists(st.one_of(st.sampled_from([0xE8, 0xE9, 0x0F, 0x80, 0x85, 0x8F, 0, 0xFF]),
                             st.integers(0, 255)), max_size=300).map(bytes)


def system_file(path):
    p = Path(path)
    if not p.is_file():
        pytest.skip(f"{path} not on this machine")
    return p.read_bytes()


@settings(max_examples=400, deadline=None)
@given(branchy, st.integers(0, (1 << 64) - 1), st.booleans())
def test_roundtrip_arbitrary_bytes(data, base, jcc):
    fwd = x86.x86_forward(data, base, jcc)
    assert len(fwd) == len(data)
    assert x86.x86_inverse(fwd, base, jcc) == data
    # the transform is a bijection, so the inverse also inverts the forward direction
    assert x86.x86_forward(x86.x86_inverse(data, base, jcc), base, jcc) == data
    assert x86.transform_executable(x86.transform_executable(data, jcc=jcc), inverse=True,
                                    jcc=jcc) == data


def test_known_conversion():
    # call rel32 = +0x10 at address 0x1000: absolute target 0x1000 + 5 + 0x10
    code = b"\xe8" + struct.pack("<i", 0x10)
    out = x86.x86_forward(code, base=0x1000)
    assert out == b"\xe8" + struct.pack("<i", 0x1015)
    # a backward call keeps a sign-extended 25-bit value
    back = b"\x90\xe8" + struct.pack("<i", -0x20)
    assert x86.x86_forward(back, base=0)[2:] == struct.pack("<i", 6 - 0x20)
    # two calls of one target from different places get equal operands
    a = x86.x86_forward(b"\xe8" + struct.pack("<i", 0x100 - 5), 0)
    b = x86.x86_forward(b"\xe8" + struct.pack("<i", 0x100 - 0x45), 0x40)
    assert a == b
    # far displacements (top byte not 00/FF) and truncated instructions stay as they are
    far = b"\xe8\x00\x00\x00\x12"
    assert x86.x86_forward(far) == far
    for cut in range(1, 6):
        assert x86.x86_forward(b"\xe8\x10\x00\x00\x00"[:cut], 77) == b"\xe8\x10\x00\x00\x00"[:cut] \
            or cut == 5
    jcc = b"\x0f\x85" + struct.pack("<i", 0x40)
    assert x86.x86_forward(jcc, 0, jcc=False) == jcc
    assert x86.x86_forward(jcc, 0, jcc=True) == b"\x0f\x85" + struct.pack("<i", 0x46)


@pytest.mark.parametrize("path", SYSTEM_FILES)
def test_real_elf_roundtrip_and_blocks(path):
    data = system_file(path)
    t = x86.transform_executable(data)
    assert t != data and x86.transform_executable(t, inverse=True) == data
    # block-wise use with cuts anywhere (truncated instructions at every block end)
    rng = random.Random(len(data))
    cuts = sorted(rng.sample(range(1, len(data)), 20))
    buf = np.frombuffer(data, dtype=np.uint8).copy()
    pieces = list(zip([0] + cuts, cuts + [len(data)]))
    for a, b in pieces:
        x86.x86_inplace(buf, a, b, 0x400000 + a)
    for a, b in pieces:
        x86.x86_inplace(buf, a, b, 0x400000 + a, inverse=True)
    assert buf.tobytes() == data


def test_ooffice_transform_roundtrip_and_gain():
    data = corpus_file("silesia/ooffice").read_bytes()
    lay = regions.parse(data)
    assert lay.format == "pe" and lay.machine == "i386"
    code = sum(r.end - r.start for r in lay.code_regions())
    assert code > 0.8 * len(data)
    t = x86.transform_executable(data)
    assert x86.transform_executable(t, inverse=True) == data
    piece = slice(1 << 20, 2 << 20)
    plain = len(lzma.compress(data[piece], preset=6))
    ours = len(lzma.compress(t[piece], preset=6))
    assert ours < 0.9 * plain  # the transform pays on real code


def _check_cover(lay, n):
    pos = 0
    for r in lay.regions:
        assert r.start == pos and r.end > r.start
        pos = r.end
    assert pos == n


@pytest.mark.parametrize("path", SYSTEM_FILES)
def test_elf_regions(path):
    data = system_file(path)
    lay = regions.parse(data)
    assert lay.format == "elf" and lay.machine == "x86-64"
    _check_cover(lay, len(data))
    assert lay.regions[0].label == regions.HEADER and lay.regions[0].start == 0
    codes = lay.code_regions()
    assert codes and all(r.vaddr >= 0 for r in codes)
    assert sum(r.end - r.start for r in codes) > 0.2 * len(data)
    lab = regions.labels(data)
    assert len(lab) == len(data) and set(np.unique(lab)) >= {regions.HEADER, regions.CODE}
    # the layout only depends on header bytes: scrambling the code keeps it
    buf = bytearray(data)
    for r in codes:
        buf[r.start:r.end] = bytes(len(buf[r.start:r.end]))
    assert regions.parse(bytes(buf)).regions == lay.regions


def test_operand_mask():
    data = system_file("/usr/bin/ls")
    m = x86.operand_mask(data)
    assert m.shape == (len(data),)
    lab = regions.labels(data)
    assert (lab[m > 0] == regions.CODE).all()
    idx = np.flatnonzero(m == 1)
    assert len(idx) > 100 and set(np.frombuffer(data, np.uint8)[idx[::4] - 1]) <= {0xE8, 0xE9}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["elf32", "elf64", "pe"]), st.data())
def test_malformed_headers_never_raise(tail, kind, draw):
    if kind == "pe":
        head = bytearray(b"MZ" + bytes(62))
        lfanew = draw.draw(st.integers(64, 200))
        head[0x3C:0x40] = struct.pack("<I", lfanew)
        body = bytearray(tail) + bytes(max(0, lfanew + 4 - 64 - len(tail)))
        body[lfanew - 64:lfanew - 60] = b"PE\0\0"
        data = bytes(head + body)
    else:
        order = draw.draw(st.sampled_from([1, 2]))
        data = b"\x7fELF" + bytes([1 if kind == "elf32" else 2, order]) \
            + tail
    lay = regions.parse(data)
    _check_cover(lay, len(data))
    assert x86.transform_executable(x86.transform_executable(data), inverse=True) == data


def test_non_x86_and_raw():
    arm = (b"\x7fELF\x02\x01\x01" + bytes(11) + struct.pack("<H", 183) + bytes(200)
           + b"\xe8\x01\x00\x00\x00")
    assert regions.parse(arm).machine == "aarch64"
    assert x86.transform_executable(arm) == arm  # not x86: untouched
    raw = b"hello \xe8\x01\x00\x00\x00 world"
    assert regions.parse(raw).format == "raw"
    assert x86.transform_executable(raw) != raw
    assert x86.transform_executable(raw, whole_if_unknown=False) == raw
    assert regions.parse(b"").regions == []


# -- instruction length decoder ---------------------------------------------------------------

KNOWN = [  # (mode64, bytes of one instruction)
    (True, "c3"), (True, "4889e5"), (True, "e800000000"), (True, "48b80102030405060708"),
    (True, "b801000000"), (True, "66b80100"), (True, "0f1f440000"), (True, "0f8510000000"),
    (True, "f30f1efa"), (True, "488b0425e0ffffff"), (True, "c5f877"), (True, "c4e27d18c0"),
    (True, "62f1fe487f00"), (True, "f6c201"), (True, "f7c201000000"), (True, "f7d8"),
    (True, "660f3a0fc108"), (True, "c8100000"), (True, "a1" + "00" * 8), (True, "eb10"),
    (False, "a1" + "00" * 4), (False, "40"), (False, "6a01"), (False, "69c010270000"),
    (False, "9a112233445566"), (False, "678b4600"), (False, "66e80100"),
]


def test_decoder_known_lengths():
    for mode64, hx in KNOWN:
        ins = bytes.fromhex(hx)
        data = ins + b"\x90"
        starts, roles = x86.instruction_roles(data, mode64=mode64)
        assert starts.tolist() == [1] + [0] * (len(ins) - 1) + [1], hx
        assert roles[-1] == 2 and roles[0] in (1, 2), hx


def _objdump_starts(path, region):
    import re
    import shutil
    import subprocess

    if shutil.which("objdump") is None:
        pytest.skip("objdump not installed")
    out = subprocess.run(["objdump", "-d", "-w", "--no-show-raw-insn", path],
                         capture_output=True, text=True, check=False).stdout
    offs = set()
    for line in out.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\t", line)
        if m:
            off = int(m.group(1), 16) - region.vaddr + region.start
            if region.start <= off < region.end:
                offs.add(off)
    return offs


@pytest.mark.parametrize("path", ["/usr/bin/ls", "ooffice"])
def test_decoder_agrees_with_objdump(path):
    if path == "ooffice":
        path = str(corpus_file("silesia/ooffice"))
    data = system_file(path)
    lay = regions.parse(data)
    r = max(lay.code_regions(), key=lambda r: r.end - r.start)
    ref = _objdump_starts(path, r)
    starts, roles = x86.instruction_roles(data)
    ours = set((np.flatnonzero(starts[r.start:r.end]) + r.start).tolist())
    assert len(ref) > 1000
    assert len(ref & ours) >= 0.995 * len(ref)
    assert (roles[r.start:r.end] > 0).all()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_decoder_any_bytes(data, mode64):
    data = b"\x90" + data  # never an ELF/PE header: decoded whole as raw code
    starts, roles = x86.instruction_roles(data, mode64=mode64)
    assert len(starts) == len(roles) == len(data)
    if data:
        assert starts[0] == 1 and (roles > 0).all()
        gaps = np.diff(np.append(np.flatnonzero(starts), len(data)))
        assert gaps.min() >= 1 and gaps.max() <= 15 + 14
    # causality: decoding a prefix gives the same starts/roles on it
    cut = len(data) // 2
    s2, r2 = x86.instruction_roles(data[:cut], mode64=mode64)
    last = np.flatnonzero(starts[:cut])
    if len(last):
        k = int(last[-1])
        assert (s2[:k + 1] == starts[:k + 1]).all() and (r2[:k] == roles[:k]).all()
