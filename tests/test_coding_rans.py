"""Interleaved rANS and frequency quantisation (frappe_cli.coding.rans / quant).

The stream checks shared with Huffman (round trips, corruption, speed) are in
test_coding_streams.py."""

import numpy as np
import pytest

from frappe_cli.coding import quant, rans
from frappe_cli.errors import CorruptError

RNG = np.random.default_rng(1234)


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
# the encoder's exact division


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


def test_stream_size_checks():
    s = exponent_stream(100_000)
    blob = rans.encode(s, chunk=30_000)
    with pytest.raises(CorruptError):
        rans.decode(blob, len(s) + 1)
    with pytest.raises(CorruptError):
        rans.decode(b"\xff" * 9)  # count 2^32-1 > max_symbols
