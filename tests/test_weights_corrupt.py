"""Hostile payloads and damaged archives: clean errors, never a crash or wrong output."""

import io
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from squeeze_weights import formats as F
from squeeze_weights import kernels as K
from weights_util import mixed_safetensors, weight_bits

from frappe_cli import container, registry
from frappe_cli.errors import CorruptError, SqueezeError

RNG = np.random.default_rng(77)


def _payloads(cid, level=6):
    """(payload, size) of every block of a small mixed file."""
    codec = registry.make(cid, level)
    data = mixed_safetensors(np.random.default_rng(3), big=7000)
    return codec, [(codec.encode_block(d, h), len(d))
                   for d, h in codec.split(io.BytesIO(data), 1 << 14)]


CODECS = {c: _payloads(*c) for c in [("dfloat11", 6), ("dfloat11", 2), ("enec", 6)]}


def _decode_or_clean_error(codec, payload, size):
    try:
        out = codec.decode_block(payload, size)
    except CorruptError:
        return None
    assert len(out) == size
    return out


@pytest.mark.parametrize("key", list(CODECS))
def test_truncated_payloads(key):
    codec, blocks = CODECS[key]
    for p, size in blocks:
        for cut in sorted({0, 1, 2, 5, 7, 8, 11, 20, len(p) // 2, len(p) - 1}):
            if cut < len(p):
                with pytest.raises(CorruptError):
                    codec.decode_block(p[:cut], size)
        with pytest.raises(CorruptError):
            codec.decode_block(p + b"\0", size)


@pytest.mark.parametrize("key", list(CODECS))
def test_wrong_sizes(key):
    codec, blocks = CODECS[key]
    for p, size in blocks:
        if p[0] == 1:
            for s in (size - 1, size + 1, 0, size * 2):
                with pytest.raises(CorruptError):
                    codec.decode_block(p, s)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(list(CODECS)), st.integers(0, 10**9), st.integers(0, 7),
       st.integers(0, 10**6))
def test_bit_flips_in_payloads(key, pos_seed, bit, which):
    codec, blocks = CODECS[key]
    floats = [b for b in blocks if b[0][0] == 1]
    p, size = floats[which % len(floats)]
    bad = bytearray(p)
    pos = pos_seed % len(bad)
    bad[pos] ^= 1 << bit
    _decode_or_clean_error(codec, bytes(bad), size)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 6), st.integers(0, 5000), st.binary(min_size=0, max_size=600))
def test_random_float_payloads(kind, n, junk):
    w = F.KIND_WIDTH[kind]
    p = bytes([1, kind]) + struct.pack("<I", n) + b"\0" + junk
    codec = registry.make("dfloat11")
    _decode_or_clean_error(codec, p, n * w)


def _float_payload(n=9000, kind=F.BF16, cid="dfloat11", level=6):
    codec = registry.make(cid, level)
    dt = {F.BF16: "BF16", F.F32: "F32"}[kind]
    data = weight_bits(dt, n, RNG).tobytes()
    return codec, bytearray(codec.encode_block(data, ("f", kind, (n,)))), len(data)


def test_hostile_structures():
    codec, p, size = _float_payload()
    pos = 7  # no tail: chunk count
    (nch,) = struct.unpack_from("<I", p, pos)
    assert nch == 1
    cases = []
    q = bytearray(p)
    struct.pack_into("<I", q, pos, 2**31)  # absurd chunk count
    cases.append(q)
    q = bytearray(p)
    struct.pack_into("<I", q, pos + 4, 2**21)  # chunk above the maximum
    cases.append(q)
    q = bytearray(p)
    struct.pack_into("<I", q, pos + 4, 8999)  # counts do not add up to n
    cases.append(q)
    q = bytearray(p)
    q[pos + 8] = 99  # unknown plane mode
    cases.append(q)
    q = bytearray(p)
    struct.pack_into("<I", q, pos + 9, 2**32 - 1)  # body length beyond the payload
    cases.append(q)
    q = bytearray(p)
    q[pos + 13] = K.P_RANS_REUSE  # reuse with no table yet (exponent plane)
    cases.append(q)
    q = bytearray(p)
    q[pos + 8] = K.P_CONST  # RAW body of m bytes declared CONST
    cases.append(q)
    for bad in cases:
        with pytest.raises(CorruptError):
            codec.decode_block(bytes(bad), size)
    # header-level lies
    for bad in (b"\x01\x09" + bytes(10), b"\x01\x01" + struct.pack("<I", 5) + b"\x05",
                b"\x02\x00", b"\x00\x07abc", b"\x00\x00abc"):
        with pytest.raises(CorruptError):
            codec.decode_block(bad, 10)


def test_hostile_enec_planes():
    codec, p, size = _float_payload(cid="enec")
    pos = 7 + 4 + 4
    modes = [p[pos + 5 * k] for k in range(2)]
    assert modes[1] == K.P_ENEC
    body = pos + 10 + struct.unpack_from("<I", p, pos + 1)[0]
    for off, val in ((1, 8), (2, 0x99), (2, 0xF0)):  # s > 7, widths > 8
        q = bytearray(p)
        q[body + off] = val
        with pytest.raises(CorruptError):
            codec.decode_block(bytes(q), size)


@pytest.fixture(scope="module")
def sqz():
    data = mixed_safetensors(np.random.default_rng(8), big=3000)
    return data, container.compress(data, "dfloat11", block_size=1 << 13)


def test_truncated_archive(sqz):
    _, blob = sqz
    for cut in range(0, len(blob), max(1, len(blob) // 97)):
        with pytest.raises(SqueezeError):
            container.decompress(blob[:cut])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10**9), st.integers(0, 7))
def test_bit_flips_in_archive(sqz, pos_seed, bit):
    data, blob = sqz
    bad = bytearray(blob)
    bad[pos_seed % len(bad)] ^= 1 << bit
    try:
        out = container.decompress(bytes(bad))
    except SqueezeError:
        return
    assert out == data  # a flip the checks cannot see must not change the output
