"""Interleaved rANS and frequency quantisation (frappe_cli.coding.rans / quant)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frappe_cli.coding import quant, rans
from frappe_cli.errors import CorruptError

RNG = np.random.default_rng(1234)


def _geo(n, p=0.3, rng=RNG):
    return np.minimum(rng.geometric(p, n), 255).astype(np.uint8)


def exponent_stream(n=300_000):
    """A weight-like exponent stream: bfloat16 exponents of Gaussian weights."""
    w = RNG.normal(0, 0.05, n).astype(np.float32)
    return ((w.view(np.uint32) >> 23) & 0xFF).astype(np.uint8)


# ----------------------------------------------------------------------------------
# quantisation


@pytest.mark.parametrize("bits", [1, 8, 12, 15])
def test_normalize_sums_and_keeps_symbols(bits):
    for _ in range(50):
        k = int(RNG.integers(1, 256))
        counts = np.zeros(256, np.int64)
        idx = RNG.choice(256, size=min(k, 1 << bits), replace=False)
        counts[idx] = RNG.integers(1, 10 ** int(RNG.integers(1, 9)), len(idx))
        f = quant.normalize_freqs(counts, bits)
        assert f.sum() == 1 << bits
        assert (f[counts > 0] >= 1).all() and (f[counts == 0] == 0).all()


def test_normalize_is_close_to_proportional_and_deterministic():
    counts = np.array([1_000_000, 500_000, 250_000, 1, 1, 1] + [0] * 250, np.int64)
    f = quant.normalize_freqs(counts, 12)
    assert abs(f[0] / f[1] - 2) < 0.01 and abs(f[1] / f[2] - 2) < 0.01
    assert (f[3:6] == 1).all()
    assert np.array_equal(f, quant.normalize_freqs(counts.copy(), 12))


def test_normalize_edge_cases():
    assert quant.normalize_freqs(np.zeros(256, np.int64), 12).sum() == 0
    one = np.zeros(256, np.int64)
    one[9] = 5
    assert quant.normalize_freqs(one, 12)[9] == 4096
    huge = np.full(256, 1 << 50, np.int64)
    assert (quant.normalize_freqs(huge, 12) == 16).all()
    with pytest.raises(ValueError):
        quant.normalize_freqs(np.ones(300, np.int64), 8)
    with pytest.raises(ValueError):
        quant.normalize_freqs(np.array([-1, 2]), 8)


def test_log2_fixed_and_cost_table():
    import math

    for x in [1, 2, 3, 7, 100, 4095, 4096, 65535, 1 << 40]:
        assert abs(quant.log2_fixed(x) / 65536 - math.log2(x)) < 2 / 65536
    t = quant.cost_table(12)
    assert t[4096] == 0 and t[2048] == 65536 and t[1] == 12 * 65536


# ----------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("n", [0, 1, 2, 7, 8, 9, 15, 16, 17, 100, 4095, 65536, 65537, 200_001])
@pytest.mark.parametrize("kind", ["geo", "uniform", "const", "rare", "skew"])
def test_roundtrip_shapes(n, kind):
    if kind == "geo":
        s = _geo(n)
    elif kind == "uniform":
        s = RNG.integers(0, 256, n).astype(np.uint8)
    elif kind == "const":
        s = np.full(n, 200, np.uint8)
    elif kind == "rare":
        s = (RNG.random(n) < 0.0005).astype(np.uint8) * 77
    else:
        s = _geo(n, 0.02)
    for chunk in (1, 3, 1000, 1 << 16):
        if n > 5000 and chunk < 1000:
            continue
        blob = rans.encode(s, chunk=chunk)
        assert np.array_equal(rans.decode(blob, n), s)
        assert len(blob) <= rans.max_encoded_size(n, chunk)


def test_all_256_values_and_bytes_input():
    s = np.arange(256, dtype=np.uint8).repeat(37)
    RNG.shuffle(s)
    assert np.array_equal(rans.decode(rans.encode(s)), s)
    assert np.array_equal(rans.decode(rans.encode(s.tobytes())), s)


def test_ratio_close_to_entropy():
    s = exponent_stream()
    c = np.bincount(s, minlength=256)
    p = c[c > 0] / len(s)
    h = -(p * np.log2(p)).sum() * len(s) / 8
    blob = rans.encode(s, chunk=1 << 16)
    assert len(blob) < h * 1.004 + 200
    assert np.array_equal(rans.decode(blob, len(s)), s)


def test_division_trick_is_exact():
    # Alverson reciprocals in build_enc: the coded state equals
    # (x // f) * 4096 + x % f + cum for x < 2^31 (boundary values of every quotient)
    freq = np.zeros(256, np.int64)
    for f in [1, 2, 3, 5, 7, 255, 1000, 2047, 2048, 2049, 3000, 4094, 4095]:
        freq[:] = 0
        freq[0] = f
        freq[1] = 4096 - f
        enc = np.zeros(256, np.uint64)
        rcp = np.zeros(256, np.uint64)
        rans.build_enc(freq, enc, rcp)
        for s_, ff, cum in ((0, f, 0), (1, 4096 - f, f)):
            e = int(enc[s_])
            sh, bias, cmpl, r = (e >> 45) & 15, (e >> 32) & 0x1FFF, e >> 49, int(rcp[s_])
            assert e & 0xFFFFFFFF == ff << 19
            for q in [0, 1, 2, 1000, (ff << 19) // ff - 1]:
                for x in (q * ff - 1, q * ff, q * ff + ff - 1):
                    if 1 <= x < ff << 19:
                        qq = ((x * r) >> 32) >> sh
                        assert x + bias + qq * cmpl == (x // ff) * 4096 + x % ff + cum


# ----------------------------------------------------------------------------------
# hostile input


def test_truncated_and_garbage_streams_fail_cleanly():
    s = exponent_stream(100_000)
    blob = rans.encode(s, chunk=30_000)
    for cut in [0, 1, 8, 9, 14, 50, len(blob) // 2, len(blob) - 1]:
        with pytest.raises(CorruptError):
            rans.decode(blob[:cut], len(s))
    with pytest.raises(CorruptError):
        rans.decode(blob + b"\0", len(s))
    with pytest.raises(CorruptError):
        rans.decode(blob, len(s) + 1)
    with pytest.raises(CorruptError):
        rans.decode(b"\xff" * 9)  # count 2^32-1 > max_symbols


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**9), st.integers(0, 7))
def test_bit_flips_never_crash(pos_seed, bit):
    s = exponent_stream(20_000)
    blob = bytearray(rans.encode(s, chunk=7000))
    pos = pos_seed % len(blob)
    blob[pos] ^= 1 << bit
    try:
        out = rans.decode(bytes(blob), len(s))
    except CorruptError:
        return
    assert out.shape == s.shape


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=400))
def test_random_payloads_fail_cleanly(junk):
    head = rans.encode(_geo(1000), chunk=500)[:9]
    try:
        out = rans.decode(head + junk, 1000)
    except CorruptError:
        return
    assert out.shape == (1000,)


def test_kernels_are_fast():
    """Smoke check that the kernels are compiled and fast (loose bound, shared machine)."""
    import time

    s = exponent_stream(1 << 20)
    rans.decode(rans.encode(s), len(s))
    t = time.process_time()
    blob = rans.encode(s)
    te = time.process_time() - t
    t = time.process_time()
    rans.decode(blob, len(s))
    td = time.process_time() - t
    assert len(s) / te > 50e6 and len(s) / td > 100e6
