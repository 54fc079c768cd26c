"""Length-limited canonical Huffman for bulk 8-bit symbol streams (numba).

The fast static-model coder of squeeze's shared coding layer:

* **code lengths** by package-merge (optimal under the length limit
  ``MAX_LEN`` = 11), computed in O(n * MAX_LEN) for the n present symbols;
* **canonical codes**, bit-reversed so the stream is read LSB first: the
  decoder peeks ``bitbuf & 2047``;
* a **multi-symbol decode table**: each of the 2048 entries of the 11-bit
  window holds up to three whole symbols, their count and their total length
  (uint32: s0 | s1 << 8 | s2 << 16 | count << 24 | bits << 28), so one lookup
  emits ~3 symbols of a typical weight-exponent stream;
* **four interleaved streams** per chunk (quarters of the chunk, as huff0's
  X4): four independent dependency chains in one loop;
* branch-free 64-bit refills (read 8 bytes, advance by the whole bytes used)
  on the hot path; a careful byte-wise path near the ends of the buffers, so a
  hostile stream never makes the decoder read or write out of bounds.

Chunk body (``encode_chunk_body`` / ``decode_chunk_body``)::

    u8 lo, u8 hi        symbol range of the code (lo <= hi)
    ceil((hi-lo+1)/2) B 4-bit code lengths of symbols lo..hi, low nibble first
                        (0 = absent); they must form a complete prefix code
                        with lengths <= 11 and at least two symbols
    u32 len0, len1, len2  byte lengths of streams 0..2 (stream 3 takes the rest)
    streams 0..3        stream k codes symbols [k*q, (k+1)*q) (q = ceil(n/4),
                        the last stream takes the remainder), LSB first, each
                        padded with zero bits to a byte boundary

The self-describing chunked stream of ``encode``/``decode`` is the one of
``frappe_cli.coding.rans`` (written by ``nbutil``: u32 n, u32 chunk, u8 11; per
chunk mode, u32 length, body; modes 0 RAW, 1 CONST, 2 HUFFMAN (chunk body with
its code lengths), 3 REUSE = chunk body without them, under the previous
HUFFMAN chunk's code).
"""

from __future__ import annotations

import numpy as np

from frappe_cli.coding import nbutil
from frappe_cli.coding.nbutil import (  # noqa: F401 - re-exported
    get_u32, histogram, max_encoded_size, MAX_CHUNK, put_u32)
from frappe_cli.jit import njit

MAX_LEN = 11
TAB_BITS = 11
TAB_SIZE = 1 << TAB_BITS
NSTREAMS = 4

# the record modes of the chunked stream (nbutil, shared with rans)
MODE_RAW, MODE_CONST = nbutil.REC_RAW, nbutil.REC_CONST
MODE_HUF, MODE_REUSE = nbutil.REC_TABLE, nbutil.REC_REUSE
BIT_COST = np.arange(MAX_LEN + 1, dtype=np.int64)  # coded_cost of a code length: itself

U = np.uint64
TMASK = np.uint64(TAB_SIZE - 1)


# ----------------------------------------------------------------------------------
# code construction


@njit(cache=True, nogil=True)
def code_lengths(counts, maxlen, lens):
    """Optimal length-limited code lengths (package-merge) into int64[256] ``lens``.

    Returns the number of present symbols (0 and 1 give no code: a single
    symbol gets length 1).  Needs 2^maxlen >= present symbols.  Deterministic:
    ties are broken by symbol index and leaves before packages.
    """
    for s in range(256):
        lens[s] = 0
    syms = np.empty(256, np.int64)
    n = 0
    for s in range(256):
        if counts[s] > 0:
            syms[n] = s
            n += 1
    if n == 0:
        return 0
    if n == 1:
        lens[syms[0]] = 1
        return 1
    # sort present symbols by (count, symbol): insertion sort, n <= 256
    for i in range(1, n):
        v = syms[i]
        j = i - 1
        while j >= 0 and (counts[syms[j]] > counts[v]
                          or (counts[syms[j]] == counts[v] and syms[j] > v)):
            syms[j + 1] = syms[j]
            j -= 1
        syms[j + 1] = v
    w = np.empty(n, np.int64)
    for i in range(n):
        w[i] = counts[syms[i]]
    m2 = 2 * n
    wts = np.empty((maxlen, m2), np.int64)
    leaf = np.zeros((maxlen, m2), np.bool_)
    size = np.zeros(maxlen, np.int64)
    for i in range(n):
        wts[0, i] = w[i]
        leaf[0, i] = True
    size[0] = n
    for j in range(1, maxlen):
        npk = size[j - 1] // 2
        a = 0  # leaves
        b = 0  # packages
        k = 0
        while a < n or b < npk:
            if b >= npk or (a < n and w[a] <= wts[j - 1, 2 * b] + wts[j - 1, 2 * b + 1]):
                wts[j, k] = w[a]
                leaf[j, k] = True
                a += 1
            else:
                wts[j, k] = wts[j - 1, 2 * b] + wts[j - 1, 2 * b + 1]
                leaf[j, k] = False
                b += 1
            k += 1
        size[j] = k
    sel = 2 * n - 2
    for j in range(maxlen - 1, -1, -1):
        c = 0
        for k in range(sel):
            if leaf[j, k]:
                c += 1
        for i in range(c):
            lens[syms[i]] += 1
        sel = 2 * (sel - c)
    return n


@njit(cache=True, nogil=True)
def canonical_codes(lens, codes):
    """Canonical (deflate-order) codes, bit-reversed for LSB-first output."""
    bl = np.zeros(MAX_LEN + 2, np.int64)
    for s in range(256):
        bl[lens[s]] += 1
    bl[0] = 0
    nxt = np.zeros(MAX_LEN + 2, np.int64)
    code = 0
    for ln in range(1, MAX_LEN + 1):
        code = (code + bl[ln - 1]) << 1
        nxt[ln] = code
    for s in range(256):
        ln = lens[s]
        codes[s] = 0
        if ln:
            c = nxt[ln]
            nxt[ln] += 1
            r = 0
            for _ in range(ln):
                r = (r << 1) | (c & 1)
                c >>= 1
            codes[s] = r


@njit(cache=True, nogil=True)
def build_enc(lens, enc):
    """enc[s] = reversed code | length << 16 (uint64[256])."""
    codes = np.zeros(256, np.int64)
    canonical_codes(lens, codes)
    for s in range(256):
        enc[s] = U(codes[s] | (lens[s] << 16))


@njit(cache=True, nogil=True)
def build_dec(lens, t1, tab):
    """Single-symbol (t1: sym | len << 8) and multi-symbol (tab) decode tables.

    ``lens`` must be a complete code (checked by ``read_lengths``).
    """
    codes = np.zeros(256, np.int64)
    canonical_codes(lens, codes)
    for s in range(256):
        ln = lens[s]
        if ln:
            step = 1 << ln
            e = s | (ln << 8)
            for idx in range(codes[s], TAB_SIZE, step):
                t1[idx] = e
    for w in range(TAB_SIZE):
        bits = 0
        cnt = 0
        ent = 0
        v = w
        while cnt < 3:  # up to three whole symbols in the window (the first always fits)
            e = t1[v]
            ln = e >> 8
            if bits + ln > TAB_BITS:
                break
            ent |= (e & 0xFF) << (8 * cnt)
            bits += ln
            cnt += 1
            v >>= ln
        tab[w] = np.uint32(ent | (cnt << 24) | (bits << 28))


@njit(cache=True, nogil=True)
def write_lengths(lens, buf, pos):
    """Serialise code lengths at ``buf[pos]`` (``table_bytes(lens)`` bytes); returns the end."""
    lo, hi = nbutil.put_symbol_range(lens, buf, pos)
    pos += 2
    s = lo
    while s <= hi:
        v = lens[s]
        if s + 1 <= hi:
            v |= lens[s + 1] << 4
        buf[pos] = np.uint8(v)
        pos += 1
        s += 2
    return pos


@njit(cache=True, nogil=True)
def table_bytes(lens):
    """Size of ``write_lengths``'s serialisation of ``lens``."""
    lo, hi = nbutil.symbol_range(lens)
    return 2 + (hi - lo + 2) // 2


@njit(cache=True, nogil=True)
def read_lengths(buf, pos, end, lens):
    """Parse code lengths; returns the end position or -1 (truncated / not a complete code)."""
    lo, hi = nbutil.read_symbol_range(buf, pos, end, lens)
    if hi < lo:
        return -1
    pos += 2
    nb = (hi - lo + 2) // 2
    if pos + nb > end:
        return -1
    kraft = 0
    present = 0
    for i in range(hi - lo + 1):
        b = np.int64(buf[pos + (i >> 1)])
        ln = (b >> (4 * (i & 1))) & 15
        if ln > MAX_LEN:
            return -1
        if ln:
            lens[lo + i] = ln
            kraft += 1 << (MAX_LEN - ln)
            present += 1
    if (hi - lo + 1) & 1 and (np.int64(buf[pos + nb - 1]) >> 4) != 0:
        return -1
    if present < 2 or kraft != (1 << MAX_LEN):
        return -1
    return pos + nb


@njit(cache=True, nogil=True)
def read_table(buf, pos, end, lens, t1, tab):
    """``read_lengths`` into ``lens``, then its decode tables into ``t1``/``tab``; the end or -1."""
    p = read_lengths(buf, pos, end, lens)
    if p >= 0:
        build_dec(lens, t1, tab)
    return p


# ----------------------------------------------------------------------------------
# bit streams


@njit(cache=True, nogil=True)
def encode_core(sym, enc, buf, pos):
    """Append the codes of ``sym`` at ``buf[pos]``, LSB first; returns the end position.

    ``buf`` needs ceil(11 * len(sym) / 8) + 8 bytes from ``pos``.
    """
    n = U(sym.shape[0])
    p = U(pos)
    acc = U(0)
    cnt = U(0)
    n4 = n & ~U(3)
    i = U(0)
    while i < n4:
        e = enc[sym[i]]
        acc |= (e & U(0xFFFF)) << cnt
        cnt += e >> U(16)
        e = enc[sym[i + U(1)]]
        acc |= (e & U(0xFFFF)) << cnt
        cnt += e >> U(16)
        e = enc[sym[i + U(2)]]
        acc |= (e & U(0xFFFF)) << cnt
        cnt += e >> U(16)
        e = enc[sym[i + U(3)]]
        acc |= (e & U(0xFFFF)) << cnt
        cnt += e >> U(16)
        buf[p] = np.uint8(acc & U(0xFF))
        buf[p + U(1)] = np.uint8((acc >> U(8)) & U(0xFF))
        buf[p + U(2)] = np.uint8((acc >> U(16)) & U(0xFF))
        buf[p + U(3)] = np.uint8((acc >> U(24)) & U(0xFF))
        buf[p + U(4)] = np.uint8((acc >> U(32)) & U(0xFF))
        buf[p + U(5)] = np.uint8((acc >> U(40)) & U(0xFF))
        buf[p + U(6)] = np.uint8((acc >> U(48)) & U(0xFF))
        buf[p + U(7)] = np.uint8((acc >> U(56)) & U(0xFF))
        adv = cnt >> U(3)
        p += adv
        acc >>= adv << U(3)
        cnt &= U(7)
        i += U(4)
    while i < n:
        e = enc[sym[i]]
        acc |= (e & U(0xFFFF)) << cnt
        cnt += e >> U(16)
        while cnt >= U(8):
            buf[p] = np.uint8(acc & U(0xFF))
            p += U(1)
            acc >>= U(8)
            cnt -= U(8)
        i += U(1)
    if cnt > U(0):
        buf[p] = np.uint8(acc & U(0xFF))
        p += U(1)
    return np.int64(p)


@njit(cache=True, nogil=True)
def _decode_tail(buf, pos, end, acc, cnt, t1, out, o, oend):
    """Careful one-symbol-at-a-time decode of out[o:oend]; returns (pos, acc, cnt, ok)."""
    while o < oend:
        while cnt <= U(56) and pos < end:
            acc |= U(buf[pos]) << cnt
            pos += U(1)
            cnt += U(8)
        e = U(t1[acc & TMASK])
        ln = e >> U(8)
        if ln > cnt:
            return pos, acc, cnt, False
        out[o] = np.uint8(e & U(0xFF))
        acc >>= ln
        cnt -= ln
        o += U(1)
    return pos, acc, cnt, True


@njit(cache=True, nogil=True)
def _refill(buf, p, acc, cnt):
    """Branch-free refill: 8 bytes from ``buf[p]`` above the ``cnt`` bits held.

    Needs ``buf[p:p+8]`` readable; advances ``p`` by the whole bytes that fit.
    Returns (p, acc, cnt) with cnt >= 56.
    """
    acc |= (U(buf[p]) | (U(buf[p + U(1)]) << U(8)) | (U(buf[p + U(2)]) << U(16))
            | (U(buf[p + U(3)]) << U(24)) | (U(buf[p + U(4)]) << U(32))
            | (U(buf[p + U(5)]) << U(40)) | (U(buf[p + U(6)]) << U(48))
            | (U(buf[p + U(7)]) << U(56))) << cnt
    return p + ((U(63) - cnt) >> U(3)), acc, cnt | U(56)


@njit(cache=True, nogil=True)
def _lookup(tab, acc, cnt, out, o):
    """One multi-symbol table lookup: writes 3 bytes at ``out[o]`` (1 to 3 of them
    symbols).  Returns (acc, cnt, o) after the symbols it decoded."""
    e = U(tab[acc & TMASK])
    out[o] = np.uint8(e & U(0xFF))
    out[o + U(1)] = np.uint8((e >> U(8)) & U(0xFF))
    out[o + U(2)] = np.uint8((e >> U(16)) & U(0xFF))
    o += (e >> U(24)) & U(3)
    b = e >> U(28)
    return acc >> b, cnt - b, o


@njit(cache=True, nogil=True)
def decode_streams(buf, starts, ends, t1, tab, out):
    """Decode the four streams ``buf[starts[k]:ends[k]]`` into their quarters of ``out``.

    Returns 0 or -1 (a stream ran out of bits, or did not end exactly at its
    last byte).  Reads stay inside each stream and writes inside ``out``.
    The four streams' states are scalars (four independent dependency chains);
    ``_refill`` and ``_lookup`` are inlined by LLVM.
    """
    n = U(out.shape[0])
    q = (n + U(3)) >> U(2)
    o0, o1, o2, o3 = U(0), min(q, n), min(U(2) * q, n), min(U(3) * q, n)
    e0, e1, e2, e3 = o1, o2, o3, n
    p0, p1, p2, p3 = U(starts[0]), U(starts[1]), U(starts[2]), U(starts[3])
    z0, z1, z2, z3 = U(ends[0]), U(ends[1]), U(ends[2]), U(ends[3])
    a0 = a1 = a2 = a3 = U(0)
    c0 = c1 = c2 = c3 = U(0)
    # hot loop: 4 lookups per stream per refill (4 * 11 <= 56 bits), each writes
    # 3 bytes and moves at most 3, so 13 bytes of room are kept per stream
    while (p0 + U(8) <= z0 and p1 + U(8) <= z1 and p2 + U(8) <= z2 and p3 + U(8) <= z3
           and o0 + U(13) <= e0 and o1 + U(13) <= e1 and o2 + U(13) <= e2
           and o3 + U(13) <= e3):
        p0, a0, c0 = _refill(buf, p0, a0, c0)
        p1, a1, c1 = _refill(buf, p1, a1, c1)
        p2, a2, c2 = _refill(buf, p2, a2, c2)
        p3, a3, c3 = _refill(buf, p3, a3, c3)
        for _ in range(4):
            a0, c0, o0 = _lookup(tab, a0, c0, out, o0)
            a1, c1, o1 = _lookup(tab, a1, c1, out, o1)
            a2, c2, o2 = _lookup(tab, a2, c2, out, o2)
            a3, c3, o3 = _lookup(tab, a3, c3, out, o3)
    # the bits above cnt in each accumulator are the stream's next bits (or 0 past
    # its end), so the careful path can continue from here byte by byte
    # (measured: this loop over tuples, _decode_tail's 4-tuple and _lookup's order of
    # operations keep the hot loop's register allocation; other spellings cost 3-6 %)
    ps, zs, accs, cnts = (p0, p1, p2, p3), (z0, z1, z2, z3), (a0, a1, a2, a3), (c0, c1, c2, c3)
    opos, oend = (o0, o1, o2, o3), (e0, e1, e2, e3)
    for k in range(NSTREAMS):
        p, a, c, ok = _decode_tail(buf, ps[k], zs[k], accs[k], cnts[k], t1, out, opos[k], oend[k])
        if not ok or p != zs[k] or c >= U(8):
            return -1
    return 0


# ----------------------------------------------------------------------------------
# chunks


@njit(cache=True, nogil=True)
def encode_body(sym, lens, enc, with_table, buf, pos):
    """Chunk body at ``buf[pos]`` (lengths if ``with_table``, 3 stream sizes, 4 streams)."""
    n = sym.shape[0]
    if with_table:
        pos = write_lengths(lens, buf, pos)
    hdr = pos
    pos += 12
    q = (n + 3) // 4
    for k in range(NSTREAMS):
        a = min(k * q, n)
        b = min(a + q, n) if k < NSTREAMS - 1 else n
        start = pos
        pos = encode_core(sym[a:b], enc, buf, pos)
        if k < NSTREAMS - 1:
            put_u32(buf, hdr + 4 * k, pos - start)
    return pos


@njit(cache=True, nogil=True)
def decode_body(buf, pos, end, t1, tab, out):
    """Decode the stream part of a chunk body (sizes + streams) in ``buf[pos:end]``."""
    if pos + 12 > end:
        return -1
    starts = np.empty(NSTREAMS, np.int64)
    ends = np.empty(NSTREAMS, np.int64)
    p = pos + 12
    for k in range(NSTREAMS):
        starts[k] = p
        if k < NSTREAMS - 1:
            ln = get_u32(buf, pos + 4 * k)
            if ln > end - p:
                return -1
            p += ln
        else:
            p = end
        ends[k] = p
    return decode_streams(buf, starts, ends, t1, tab, out)


@njit(cache=True, nogil=True)
def body_bound(n):
    """Upper bound of a chunk body for n symbols (table + sizes + streams)."""
    return 2 + 128 + 12 + (MAX_LEN * n + 7) // 8 + 4 * 9


@njit(cache=True, nogil=True)
def coded_bits(counts, lens):
    """Bits of ``counts`` coded with code lengths ``lens`` (2^60 when one is missing)."""
    return nbutil.coded_cost(counts, lens, BIT_COST)


@njit(cache=True, nogil=True)
def encode_chunk(sym, prev, have_prev, out, pos, scratch):
    """One chunk record (mode, u32 length, body) at ``out[pos]``; see ``rans.encode_chunk``.

    ``prev`` (int64[256]) holds the code lengths of the last HUFFMAN record.
    ``out`` needs len(sym) + 5 bytes, ``scratch`` body_bound(len(sym)).
    """
    n = sym.shape[0]
    counts, present, last = nbutil.chunk_counts(sym)
    if present == 1:
        return nbutil.put_const_record(out, pos, last), have_prev
    # costs in bits
    lens = np.zeros(256, np.int64)
    new_cost = reuse_cost = nbutil.NO_COST
    if present > 1:
        code_lengths(counts, MAX_LEN, lens)
        new_cost = coded_bits(counts, lens) + (table_bytes(lens) + 12 + 4) * 8
        if have_prev:
            reuse_cost = coded_bits(counts, prev) + (12 + 4) * 8
    mode = nbutil.pick_mode(np.int64(n) * 8, new_cost, reuse_cost)
    if mode != MODE_RAW:
        use = lens if mode == MODE_HUF else prev
        enc = np.zeros(256, np.uint64)
        build_enc(use, enc)
        clen = encode_body(sym, use, enc, mode == MODE_HUF, scratch, 0)
        if clen < n:
            return nbutil.put_coded_record(out, pos, mode, scratch[:0], scratch[:clen], prev, lens,
                                    have_prev)
    return nbutil.put_raw_record(out, pos, sym), have_prev


def lengths(counts, maxlen: int = MAX_LEN) -> np.ndarray:
    """Optimal length-limited Huffman code lengths for 256 symbol counts."""
    c = np.ascontiguousarray(counts, dtype=np.int64)
    if c.shape != (256,) or (c < 0).any():
        raise ValueError("counts must be 256 non-negative integers")
    if not 1 <= maxlen <= MAX_LEN:
        raise ValueError(f"maxlen must be 1..{MAX_LEN}")
    if int((c > 0).sum()) > 1 << maxlen:
        raise ValueError("too many symbols for the length limit")
    out = np.zeros(256, np.int64)
    code_lengths(c, maxlen, out)
    return out


def encode(symbols, chunk: int = 1 << 16) -> bytes:
    """Code a uint8 array (or bytes) as a self-describing chunked Huffman stream."""
    from frappe_cli.coding import chunked

    return chunked.encode(symbols, chunk, chunked.HUFFMAN)


def decode(blob, n: int | None = None, max_symbols: int = 1 << 30) -> np.ndarray:
    """Invert ``encode`` (see ``frappe_cli.coding.rans.decode`` for the checks)."""
    from frappe_cli.coding import chunked

    return chunked.decode(blob, n, max_symbols, chunked.HUFFMAN)
