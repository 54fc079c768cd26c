"""Small numba helpers shared by the bulk coders and the codecs' kernels.

Little-endian u32 access on uint8 buffers and a byte histogram; one copy for
``rans``, ``huffman`` and the weight packers (imports numba: load lazily).

The self-describing chunked stream of ``rans.encode`` and ``huffman.encode``
(``chunked`` writes and reads it, once for both coders; the helpers of its
records are here)::

    u32 n            number of symbols
    u32 chunk        symbols per chunk (1..2^24); ceil(n / chunk) chunk records follow
    u8  param        the coder's parameter (rANS: probability bits; Huffman: length limit)
    per chunk:  u8 mode, u32 body length, body
      mode 0 RAW     the chunk's symbols as bytes
      mode 1 CONST   one byte: every symbol equals it
      mode 2 TABLE   the coder's table + the coded symbols
      mode 3 REUSE   the coded symbols under the previous TABLE record's table
"""

from __future__ import annotations

import numpy as np

from frappe_cli.jit import njit


@njit(cache=True, nogil=True)
def put_u32(buf, pos, v):
    buf[pos] = np.uint8(v & 0xFF)
    buf[pos + 1] = np.uint8((v >> 8) & 0xFF)
    buf[pos + 2] = np.uint8((v >> 16) & 0xFF)
    buf[pos + 3] = np.uint8((v >> 24) & 0xFF)


@njit(cache=True, nogil=True)
def get_u32(buf, pos):
    return (np.int64(buf[pos]) | (np.int64(buf[pos + 1]) << 8)
            | (np.int64(buf[pos + 2]) << 16) | (np.int64(buf[pos + 3]) << 24))


@njit(cache=True, nogil=True)
def histogram(sym, counts):
    """Add the symbol counts of uint8 ``sym`` into int64[256] ``counts``.

    Four sub-histograms, so runs of one symbol do not serialise on one counter.
    """
    n = sym.shape[0]
    h = np.zeros((4, 256), np.int64)
    n4 = n & ~3
    for i in range(0, n4, 4):
        h[0, sym[i]] += 1
        h[1, sym[i + 1]] += 1
        h[2, sym[i + 2]] += 1
        h[3, sym[i + 3]] += 1
    for i in range(n4, n):
        h[0, sym[i]] += 1
    for s in range(256):
        counts[s] += h[0, s] + h[1, s] + h[2, s] + h[3, s]


# ---- chunk records of the bulk coders (rans, huffman): u8 mode, u32 body length, body.
REC = 5
REC_RAW, REC_CONST, REC_TABLE, REC_REUSE = 0, 1, 2, 3
STREAM_HEAD = 9  # u32 n, u32 chunk, u8 param
MAX_CHUNK = 1 << 24
NO_COST = np.int64(1) << 62  # the cost of a mode that cannot be used


@njit(cache=True, nogil=True)
def present_symbols(counts):
    """(number of symbols with a nonzero count, the last of them)."""
    present = 0
    last = 0
    for s in range(counts.shape[0]):
        if counts[s] > 0:
            present += 1
            last = s
    return present, last


@njit(cache=True, nogil=True)
def put_const_record(out, pos, s):
    """A CONST record (every symbol is ``s``) at ``out[pos]``; returns its end."""
    out[pos] = REC_CONST
    put_u32(out, pos + 1, 1)
    out[pos + REC] = np.uint8(s)
    return pos + REC + 1


@njit(cache=True, nogil=True)
def put_raw_record(out, pos, sym):
    """A RAW record holding ``sym`` at ``out[pos]``; returns its end."""
    n = sym.shape[0]
    out[pos] = REC_RAW
    put_u32(out, pos + 1, n)
    out[pos + REC:pos + REC + n] = sym
    return pos + REC + n


@njit(cache=True, nogil=True)
def open_record(buf, pos, end, out):
    """Read the head of the record at ``buf[pos]`` (``out``: its symbols, len = count).

    Returns (mode, body start, body end); body end is -1 when the head or a RAW /
    CONST body is inconsistent.  RAW and CONST records are decoded into ``out``
    here: the caller only handles its own coded modes.
    """
    n = out.shape[0]
    if pos + REC > end:
        return -1, 0, -1
    mode = np.int64(buf[pos])
    blen = get_u32(buf, pos + 1)
    body = pos + REC
    if blen > end - body:
        return mode, body, -1
    bend = body + blen
    if mode == REC_RAW:
        if blen != n:
            return mode, body, -1
        out[:] = buf[body:bend]
    elif mode == REC_CONST:
        if blen != 1:
            return mode, body, -1
        out[:] = buf[body]
    return mode, body, bend


@njit(cache=True, nogil=True)
def chunk_counts(sym):
    """(symbol counts int64[256], number of present symbols, the last of them) of ``sym``."""
    counts = np.zeros(256, np.int64)
    histogram(sym, counts)
    present, last = present_symbols(counts)
    return counts, present, last


@njit(cache=True, nogil=True)
def coded_cost(counts, table, cost):
    """Cost of ``counts`` coded with ``table`` (per symbol: frequency or code length):
    the sum of ``counts[s] * cost[table[s]]``, 2^60 when a counted symbol is absent."""
    bits = np.int64(0)
    for s in range(256):
        c = counts[s]
        if c > 0:
            if table[s] == 0:
                return np.int64(1) << 60
            bits += c * cost[table[s]]
    return bits


@njit(cache=True, nogil=True)
def pick_mode(raw_cost, table_cost, reuse_cost):
    """REC_RAW, REC_TABLE or REC_REUSE, the cheapest (a new table must beat raw; reuse
    wins ties).  ``NO_COST`` marks a mode that cannot be used."""
    mode = REC_RAW
    est = raw_cost
    if table_cost < est:
        mode = REC_TABLE
        est = table_cost
    if reuse_cost <= est:
        mode = REC_REUSE
    return mode


@njit(cache=True, nogil=True)
def put_coded_record(out, pos, mode, head, body, prev, table, have_prev):
    """A TABLE or REUSE record holding ``head`` then ``body`` at ``out[pos]``.

    A TABLE record's ``table`` becomes ``prev``, the one later REUSE records
    refer to.  Returns (end, have_prev).
    """
    h = head.shape[0]
    b = body.shape[0]
    out[pos] = mode
    put_u32(out, pos + 1, h + b)
    out[pos + REC:pos + REC + h] = head
    out[pos + REC + h:pos + REC + h + b] = body
    if mode == REC_TABLE:
        prev[:] = table
        have_prev = True
    return pos + REC + h + b, have_prev


@njit(cache=True, nogil=True)
def symbol_range(table):
    """(lo, hi): the first and last symbol with a nonzero entry (0, 0 when none)."""
    lo = 0
    while lo < 255 and table[lo] == 0:
        lo += 1
    hi = 255
    while hi > lo and table[hi] == 0:
        hi -= 1
    return lo, hi


@njit(cache=True, nogil=True)
def put_symbol_range(table, buf, pos):
    """Write a table's symbol range (u8 lo, u8 hi) at ``buf[pos]``; returns (lo, hi)."""
    lo, hi = symbol_range(table)
    buf[pos] = np.uint8(lo)
    buf[pos + 1] = np.uint8(hi)
    return lo, hi


@njit(cache=True, nogil=True)
def read_symbol_range(buf, pos, end, table):
    """Clear ``table`` and read the symbol range written by ``put_symbol_range``.

    Returns (lo, hi); hi < lo when it is truncated or invalid.
    """
    table[:] = 0
    if pos + 2 > end:
        return np.int64(1), np.int64(0)
    return np.int64(buf[pos]), np.int64(buf[pos + 1])


def max_encoded_size(n: int, chunk: int) -> int:
    """Upper bound of a stream's size for ``n`` symbols (every chunk RAW at worst)."""
    return STREAM_HEAD + n + REC * max(1, -(-n // chunk))
