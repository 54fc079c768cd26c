"""Interleaved rANS for bulk 8-bit symbol streams (numba, static per-chunk models).

The bulk static-model coder of squeeze's shared coding layer (the constriction
adapter is far too slow for gigabytes: ~40 MB/s decode).  Eight rANS states
are interleaved (symbol ``i`` is coded by state ``i % 8``) so the decode loop
has eight independent dependency chains; the loops are unrolled by hand with
scalar states, branch-free renormalisation and one packed table load per
symbol.  Everything is integer except the encoder's exact division trick (see
``encode_core``), so streams are bit-identical on every machine.

Parameters: states in [2^15, 2^31) (31 bits keep the exact integer division
trick of ``build_enc`` within 64-bit products), 16-bit little-endian renormalisation
words, 12-bit probabilities (frequencies from
``frappe_cli.coding.quant.normalize_freqs``; the precision is a compile-time
constant so the hot loops shift by immediates).

Layout of one coded chunk (``encode_core`` / ``decode_core``)::

    u32 x[0..7]      final encoder states = initial decoder states (LE)
    u16 words[...]   renormalisation words in decoder read order (LE)

The decoder ends with every state back at 2^15 and every word consumed; any
other outcome is reported as corruption (a strong integrity check on top of
the container's).

Self-describing stream (``encode`` / ``decode``, used by codecs that want a
whole-stream API; written and read by ``chunked``, shared with ``huffman``)::

    u32 n            number of symbols
    u32 chunk        symbols per chunk (1..2^24); ceil(n / chunk) chunk records follow
    u8  pb           probability bits (always 12 in this version)
    per chunk:  u8 mode, u32 body length, body
      mode 0 RAW     the chunk's symbols as bytes
      mode 1 CONST   one byte: every symbol equals it
      mode 2 RANS    frequency table (``write_freqs``) + coded chunk
      mode 3 REUSE   coded chunk with the previous RANS chunk's table

Frequency table (``write_freqs``)::

    u8 lo, u8 hi     symbol range holding every present symbol (lo <= hi)
    bits, LSB first: per symbol lo..hi: 4 bits k = bit length of its frequency
                     (0 = absent), then the k-1 bits below the leading one
                     (zero-padded to a byte boundary)

A table is valid when at least two symbols are present, every frequency is
below 2^12 and they sum to exactly 2^12.
"""

from __future__ import annotations

import numpy as np

from frappe_cli.coding import nbutil
from frappe_cli.coding.nbutil import (  # noqa: F401 - re-exported
    get_u32, histogram, max_encoded_size, MAX_CHUNK, put_u32)
from frappe_cli.coding.quant import normalize_freqs_nb
from frappe_cli.jit import njit

NSTATES = 8
STATE_BYTES = 4 * NSTATES
RANS_L = 1 << 15
PROB_BITS = 12

# the record modes of the chunked stream (nbutil, shared with huffman)
MODE_RAW, MODE_CONST = nbutil.REC_RAW, nbutil.REC_CONST
MODE_RANS, MODE_REUSE = nbutil.REC_TABLE, nbutil.REC_REUSE

U = np.uint64
PB = np.uint64(PROB_BITS)
XSH = np.uint64(31 - PROB_BITS)  # x_max(f) = f << XSH
MASK = np.uint64((1 << PROB_BITS) - 1)


# ----------------------------------------------------------------------------------
# small helpers


@njit(cache=True, nogil=True)
def write_freqs(freq, buf, pos):
    """Serialise a frequency table (int[256]) at ``pos``; returns the end position."""
    lo, hi = nbutil.put_symbol_range(freq, buf, pos)
    pos += 2
    acc = np.int64(0)
    nb = 0
    for s in range(lo, hi + 1):
        f = np.int64(freq[s])
        k = 0
        while (f >> k) != 0:
            k += 1
        acc |= np.int64(k) << nb
        nb += 4
        if k > 1:
            acc |= (f & ((np.int64(1) << (k - 1)) - 1)) << nb
            nb += k - 1
        while nb >= 8:
            buf[pos] = np.uint8(acc & 0xFF)
            pos += 1
            acc >>= 8
            nb -= 8
    if nb > 0:
        buf[pos] = np.uint8(acc & 0xFF)
        pos += 1
    return pos


@njit(cache=True, nogil=True)
def read_freqs(buf, pos, end, freq):
    """Parse a table written by ``write_freqs`` into int[256] ``freq``.

    Returns the end position, or -1 when the table is truncated or invalid.
    """
    lo, hi = nbutil.read_symbol_range(buf, pos, end, freq)
    if hi < lo:
        return -1
    pos += 2
    acc = np.int64(0)
    nb = 0
    total = np.int64(0)
    present = 0
    for s in range(lo, hi + 1):
        while nb < 4 and pos < end:
            acc |= np.int64(buf[pos]) << nb
            pos += 1
            nb += 8
        if nb < 4:
            return -1
        k = acc & 15
        acc >>= 4
        nb -= 4
        if k > PROB_BITS:
            return -1
        f = np.int64(0)
        if k > 0:
            while nb < k - 1 and pos < end:
                acc |= np.int64(buf[pos]) << nb
                pos += 1
                nb += 8
            if nb < k - 1:
                return -1
            f = (np.int64(1) << (k - 1)) | (acc & ((np.int64(1) << (k - 1)) - 1))
            acc >>= k - 1
            nb -= k - 1
            present += 1
        freq[s] = f
        total += f
    # the bit reader never holds a whole unread byte (refills only below 12 bits)
    if present < 2 or total != (np.int64(1) << PROB_BITS):
        return -1
    return pos


@njit(cache=True, nogil=True)
def build_enc(freq, enc, rcp):
    """Encoder tables (uint64[256] each) for frequencies ``freq``.

    enc[s] = xmax | bias << 32 | shift << 45 | (2^12 - f) << 49 (xmax = f << 19:
    the renormalisation threshold, bias < 2^13) and rcp[s] such
    that q = ((x * rcp) >> 32) >> shift == x // f for every x < 2^31
    (Alverson's reciprocal, as in ryg_rans), and the coded state is
    x + bias + q * (2^12 - f) == (x // f) * 2^12 + x % f + cum.
    """
    M = np.int64(1) << PROB_BITS
    cum = np.int64(0)
    for s in range(256):
        f = np.int64(freq[s])
        if f == 0:
            enc[s] = 0
            rcp[s] = 0
            continue
        if f == 1:
            r = (np.int64(1) << 32) - 1
            sh = 0
            bias = cum + M - 1
        else:
            sh = 0
            while f > (np.int64(1) << sh):
                sh += 1
            r = ((np.int64(1) << (sh + 31)) + f - 1) // f
            sh -= 1
            bias = cum
        rcp[s] = U(r)
        enc[s] = U((f << (31 - PROB_BITS)) | (bias << 32) | (np.int64(sh) << 45)
                   | ((M - f) << 49))
        cum += f


@njit(cache=True, nogil=True)
def build_dec(freq, tab):
    """Decoder table (uint32[4096]): slot -> freq << 20 | (slot - cum) << 8 | symbol.

    Needs every frequency < 4096 (true for a valid table).
    """
    cum = 0
    for s in range(256):
        f = np.int64(freq[s])
        for j in range(f):
            tab[cum + j] = np.uint32((f << 20) | (j << 8) | s)
        cum += f


@njit(cache=True, nogil=True)
def read_table(buf, pos, end, freq, tab):
    """``read_freqs`` into ``freq``, then its decode table into ``tab``; the end or -1."""
    p = read_freqs(buf, pos, end, freq)
    if p >= 0:
        build_dec(freq, tab)
    return p


# ----------------------------------------------------------------------------------
# the coder


@njit(cache=True, nogil=True)
def _enc_step(x, s, enc, rcp, buf, wp):
    """Code symbol ``s`` on state ``x`` (branch-free renormalisation into ``buf[wp-2:wp]``).

    Returns (new state, new wp).  The two bytes are always written; ``wp``
    moves only when the state was renormalised.
    """
    t = enc[s]
    c = x >= (t & U(0xFFFFFFFF))
    buf[wp - U(2)] = np.uint8(x & U(0xFF))
    buf[wp - U(1)] = np.uint8((x >> U(8)) & U(0xFF))
    wp -= U(c) << U(1)
    y = x >> U(16)
    x = y if c else x
    q = ((x * rcp[s]) >> U(32)) >> ((t >> U(45)) & U(15))
    return x + ((t >> U(32)) & U(0x1FFF)) + q * (t >> U(49)), wp


@njit(cache=True, nogil=True)
def _dec_step(x, tab, buf, p, out, o):
    """Decode one symbol from state ``x`` into ``out[o]``, branch-free refill from ``buf[p]``.

    Needs ``buf[p:p+2]`` readable.  Returns (new state, new p).
    """
    e = U(tab[x & MASK])
    out[o] = np.uint8(e & U(0xFF))
    x = (e >> U(20)) * (x >> PB) + ((e >> U(8)) & U(0xFFF))
    w = U(buf[p]) | (U(buf[p + U(1)]) << U(8))
    c = x < U(RANS_L)
    y = (x << U(16)) | w
    x = y if c else x
    p += U(c) << U(1)
    return x, p


@njit(cache=True, nogil=True)
def encode_core(sym, enc, rcp, buf, wend):
    """rANS-code uint8 ``sym`` so that the chunk ends at ``buf[wend]``; returns its start.

    The chunk is built backwards; ``buf`` needs 2 * len(sym) + 34 bytes below
    ``wend``.  Every symbol must have a nonzero frequency in ``enc``.

    Division by the frequency uses Alverson's exact reciprocal for 31-bit
    dividends (see ``build_enc``): states stay below 2^31.

    Hot loops index with unsigned integers (numba adds no negative-index
    wrap-around then) and keep the eight states in scalars; ``_enc_step``
    (inlined by LLVM) codes one symbol.
    """
    n = U(sym.shape[0])
    n8 = n & ~U(7)
    wp = U(wend)
    xs = np.full(NSTATES, RANS_L, np.uint64)
    i = n
    while i > n8:
        i -= U(1)
        k = i & U(7)
        xs[k], wp = _enc_step(xs[k], sym[i], enc, rcp, buf, wp)
    x0, x1, x2, x3, x4, x5, x6, x7 = xs[0], xs[1], xs[2], xs[3], xs[4], xs[5], xs[6], xs[7]
    i = n8
    while i > U(0):
        i -= U(8)
        x7, wp = _enc_step(x7, sym[i + U(7)], enc, rcp, buf, wp)
        x6, wp = _enc_step(x6, sym[i + U(6)], enc, rcp, buf, wp)
        x5, wp = _enc_step(x5, sym[i + U(5)], enc, rcp, buf, wp)
        x4, wp = _enc_step(x4, sym[i + U(4)], enc, rcp, buf, wp)
        x3, wp = _enc_step(x3, sym[i + U(3)], enc, rcp, buf, wp)
        x2, wp = _enc_step(x2, sym[i + U(2)], enc, rcp, buf, wp)
        x1, wp = _enc_step(x1, sym[i + U(1)], enc, rcp, buf, wp)
        x0, wp = _enc_step(x0, sym[i], enc, rcp, buf, wp)
    xs[:] = (x0, x1, x2, x3, x4, x5, x6, x7)
    wp -= U(STATE_BYTES)
    for k in range(NSTATES):
        put_u32(buf, wp + U(4 * k), xs[k])
    return np.int64(wp)


@njit(cache=True, nogil=True)
def decode_core(buf, p, end, tab, out):
    """Decode ``len(out)`` symbols from ``buf[p:end]`` (one coded chunk).

    Returns 0, or -1 when the chunk is truncated, overlong or corrupt.  Never
    reads outside ``buf[p:end]`` nor writes outside ``out``.
    """
    n = U(out.shape[0])
    if end - p < STATE_BYTES:
        return -1
    p = U(p)
    end = U(end)
    xs = np.empty(NSTATES, np.uint64)
    for k in range(NSTATES):
        xs[k] = get_u32(buf, p + U(4 * k))
    p += U(STATE_BYTES)
    n8 = n & ~U(7)
    o = U(0)
    x0, x1, x2, x3, x4, x5, x6, x7 = xs[0], xs[1], xs[2], xs[3], xs[4], xs[5], xs[6], xs[7]
    # 8 symbols read at most 16 bytes: the fast loop needs no bounds checks
    while o < n8 and p + U(16) <= end:
        x0, p = _dec_step(x0, tab, buf, p, out, o)
        x1, p = _dec_step(x1, tab, buf, p, out, o + U(1))
        x2, p = _dec_step(x2, tab, buf, p, out, o + U(2))
        x3, p = _dec_step(x3, tab, buf, p, out, o + U(3))
        x4, p = _dec_step(x4, tab, buf, p, out, o + U(4))
        x5, p = _dec_step(x5, tab, buf, p, out, o + U(5))
        x6, p = _dec_step(x6, tab, buf, p, out, o + U(6))
        x7, p = _dec_step(x7, tab, buf, p, out, o + U(7))
        o += U(8)
    xs[:] = (x0, x1, x2, x3, x4, x5, x6, x7)
    while o < n:
        k = o & U(7)
        x = xs[k]
        e = U(tab[x & MASK])
        out[o] = np.uint8(e & U(0xFF))
        x = (e >> U(20)) * (x >> PB) + ((e >> U(8)) & U(0xFFF))
        if x < U(RANS_L):
            if p + U(2) > end:
                return -1
            x = (x << U(16)) | U(buf[p]) | (U(buf[p + U(1)]) << U(8))
            p += U(2)
        xs[k] = x
        o += U(1)
    if p != end:
        return -1
    for k in range(NSTATES):
        if xs[k] != U(RANS_L):
            return -1
    return 0


# ----------------------------------------------------------------------------------
# chunked stream (self-describing)


@njit(cache=True, nogil=True)
def encode_freqs(sym, freq, scratch):
    """rANS-code ``sym`` under ``freq`` so that it ends at the end of ``scratch``
    (2 * len(sym) + 34 bytes at least); returns its start."""
    enc = np.zeros(256, np.uint64)
    rcp = np.zeros(256, np.uint64)
    build_enc(freq, enc, rcp)
    return encode_core(sym, enc, rcp, scratch, scratch.shape[0])


@njit(cache=True, nogil=True)
def encode_chunk(sym, cost, prev, have_prev, out, pos, scratch):
    """Code one chunk record (mode byte, u32 length, body) at ``out[pos]``.

    ``cost`` is ``cost_table_nb(PROB_BITS)``; ``prev`` (int64[256]) is the table
    of the last RANS record; it is replaced when this chunk sends a new table.
    Returns (end position, have_prev).  ``out`` needs len(sym) + 5 bytes,
    ``scratch`` 2 * len(sym) + 40.
    """
    n = sym.shape[0]
    counts, present, last = nbutil.chunk_counts(sym)
    if present == 1:
        return nbutil.put_const_record(out, pos, last), have_prev
    # costs in 1/65536 bit
    freq = np.zeros(256, np.int64)
    tbl = np.zeros(600, np.uint8)
    tlen = 0
    new_cost = reuse_cost = nbutil.NO_COST
    if present > 1:
        normalize_freqs_nb(counts, PROB_BITS, freq)
        tlen = write_freqs(freq, tbl, 0)
        new_cost = nbutil.coded_cost(counts, freq, cost) + (tlen + STATE_BYTES + 2) * 8 * 65536
        if have_prev:
            reuse_cost = nbutil.coded_cost(counts, prev, cost) + (STATE_BYTES + 2) * 8 * 65536
    mode = nbutil.pick_mode(np.int64(n) * 8 * 65536, new_cost, reuse_cost)
    if mode != MODE_RAW:
        start = encode_freqs(sym, freq if mode == MODE_RANS else prev, scratch)
        hl = tlen if mode == MODE_RANS else 0
        if hl + scratch.shape[0] - start < n:
            return nbutil.put_coded_record(out, pos, mode, tbl[:hl], scratch[start:], prev, freq,
                                    have_prev)
    return nbutil.put_raw_record(out, pos, sym), have_prev


def encode(symbols, chunk: int = 1 << 16) -> bytes:
    """Code a uint8 array (or bytes) as a self-describing chunked rANS stream."""
    from frappe_cli.coding import chunked

    return chunked.encode(symbols, chunk, chunked.RANS)


def decode(blob, n: int | None = None, max_symbols: int = 1 << 30) -> np.ndarray:
    """Invert ``encode``; ``n`` (if given) must match the stored symbol count.

    Without ``n`` the stored count may not exceed ``max_symbols`` (the output
    is allocated from it).  Raises ``CorruptError`` on any inconsistency and
    never reads out of bounds.
    """
    from frappe_cli.coding import chunked

    return chunked.decode(blob, n, max_symbols, chunked.RANS)
