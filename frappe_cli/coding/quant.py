"""Probability / frequency quantisation: the one place every static-model coder uses.

Coders that transmit their model (rANS frequency tables, Huffman code lengths)
build it here from symbol counts, so every codec quantises the same way:

* ``normalize_freqs(counts, total_bits)`` -> integer frequencies, each present
  symbol > 0, absent symbols 0, summing to exactly ``2**total_bits``.
  Integer arithmetic only (largest-remainder apportionment, then a greedy
  integer fix-up), so the result is identical on every machine and thread.
* ``cost_table(total_bits)`` -> the cost ``-log2(f / 2**total_bits)`` of a
  symbol of frequency ``f`` in 1/65536 bit, computed with integer arithmetic
  only (no libm), for encoders that compare coding choices exactly.
* ``log2_fixed(x)`` -> ``log2(x)`` in Q16 fixed point (integer only).

The ``*_nb`` functions are numba kernels (``nogil``, cached) for callers that
quantise inside their own kernels (one table per 64 K-symbol chunk must not
cost a Python round trip).  This module imports numba: codecs import it (and
the coders built on it) lazily, on their first block.
"""

from __future__ import annotations

import numpy as np

from frappe_cli.jit import njit

#: fixed-point scale of ``log2_fixed`` and ``cost_table`` (1/65536 bit)
COST_ONE = 1 << 16


@njit(cache=True, nogil=True)
def log2_fixed_nb(x):
    """floor(log2(x) * 65536) for an integer x >= 1 (integer only, exact)."""
    # integer part
    ip = 0
    v = x
    while v >= 2:
        v >>= 1
        ip += 1
    # mantissa m = x / 2^ip in [1, 2) as Q61; 16 squarings give 16 fraction bits
    shift = 61 - ip
    if shift >= 0:
        m = np.int64(x) << shift
    else:
        m = np.int64(x) >> (-shift)
    frac = 0
    two = np.int64(1) << 62
    for _ in range(16):
        m = (m >> 30) * (m >> 31)  # Q61 * Q61 -> Q61, < 2^63
        frac <<= 1
        if m >= two:
            m >>= 1
            frac |= 1
    return np.int64(ip) * 65536 + frac


@njit(cache=True, nogil=True)
def normalize_freqs_nb(counts, total_bits, out):
    """Quantise ``counts`` (int64[k]) to ``out`` (int32/int64[k]) summing to 2^total_bits.

    Returns the number of present symbols, or -1 if more symbols are present
    than the table has slots (2^total_bits).  Deterministic: integers only,
    ties broken towards the lower symbol index.
    """
    k = counts.shape[0]
    M = np.int64(1) << total_bits
    present = 0
    n = np.int64(0)
    for s in range(k):
        out[s] = 0
        if counts[s] > 0:
            present += 1
            n += counts[s]
    if present == 0:
        return 0
    if present > M:
        return -1
    # keep counts*M inside int64: scale huge totals down first (present symbols stay > 0)
    sh = 0
    while (n >> sh) >= (np.int64(1) << 40):
        sh += 1
    if sh:
        n = 0
        for s in range(k):
            if counts[s] > 0:
                c = counts[s] >> sh
                if c == 0:
                    c = 1
                n += c
    total = np.int64(0)
    rem = np.empty(k, np.int64)
    for s in range(k):
        c = counts[s]
        if c <= 0:
            rem[s] = -(np.int64(1) << 62)
            continue
        if sh:
            c = c >> sh
            if c == 0:
                c = 1
        f = (c * M) // n
        r = c * M - f * n  # remainder in [0, n)
        if f == 0:
            f = 1
            r = -(np.int64(1) << 61)  # already rounded up: lowest priority
        out[s] = f
        rem[s] = r
        total += f
    diff = M - total
    # too little: largest remainders get one more (diff <= present)
    while diff > 0:
        best = -1
        for s in range(k):
            if counts[s] > 0 and (best < 0 or rem[s] > rem[best]):
                best = s
        out[best] += 1
        rem[best] -= n  # not chosen again before all others
        diff -= 1
    # too much (symbols bumped to 1): take from the symbol that loses least,
    # loss ~ c / (f - 1/2): pick the minimum c*2/(2f-1) among f > 1
    while diff < 0:
        best = -1
        for s in range(k):
            f = np.int64(out[s])
            if f > 1:
                if best < 0:
                    best = s
                else:
                    fb = np.int64(out[best])
                    # counts[s]/(2f-1) < counts[best]/(2fb-1)
                    if counts[s] * (2 * fb - 1) < counts[best] * (2 * f - 1):
                        best = s
        out[best] -= 1
        diff += 1
    return present


@njit(cache=True, nogil=True)
def cost_table_nb(total_bits):
    """int64[2^tb + 1]: cost[f] = -log2(f / 2^tb) in 1/65536 bit (cost[0] = huge)."""
    M = 1 << total_bits
    t = np.empty(M + 1, np.int64)
    t[0] = np.int64(1) << 40
    base = np.int64(total_bits) * 65536
    for f in range(1, M + 1):
        t[f] = base - log2_fixed_nb(f)
    return t


def normalize_freqs(counts, total_bits: int) -> np.ndarray:
    """Integer frequencies for ``counts`` summing to exactly ``2**total_bits``.

    Every symbol with a positive count gets a frequency >= 1; absent symbols
    get 0.  All zero counts give all zeros.  Raises ValueError when more
    symbols are present than ``2**total_bits``.
    """
    c = np.ascontiguousarray(counts, dtype=np.int64)
    if c.ndim != 1:
        raise ValueError("counts must be one-dimensional")
    if (c < 0).any():
        raise ValueError("counts must be non-negative")
    if not 1 <= total_bits <= 30:
        raise ValueError("total_bits must be 1..30")
    out = np.zeros(c.shape[0], np.int64)
    if normalize_freqs_nb(c, total_bits, out) < 0:
        raise ValueError(f"{int((c > 0).sum())} symbols do not fit a 2^{total_bits} table")
    return out


def cost_table(total_bits: int) -> np.ndarray:
    return cost_table_nb(total_bits)


def log2_fixed(x: int) -> int:
    if x < 1:
        raise ValueError("log2 of a non-positive number")
    return int(log2_fixed_nb(x))
