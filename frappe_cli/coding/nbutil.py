"""Small numba helpers shared by the bulk coders and the codecs' kernels.

Little-endian u32 access on uint8 buffers and a byte histogram; one copy for
``rans``, ``huffman`` and the weight packers (imports numba: load lazily).
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
# Modes 0 (RAW: the symbols as bytes) and 1 (CONST: one byte) mean the same in both.
REC = 5
REC_RAW, REC_CONST = 0, 1


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
