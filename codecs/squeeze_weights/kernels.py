"""numba kernels of the weight packers (imported on first use; see SPEC.md).

A float block is cut into chunks (tensor boundaries, at most ``chunk``
elements); each element is rotated left by one bit (the sign moves to bit 0,
so the top byte is the exponent, or for FP16 / FP8 the exponent and the top
mantissa bits) and split into byte *planes* (plane k = byte k, little
endian).  Every plane of every chunk is stored with the cheapest of:

* RAW     the bytes as they are;
* CONST   one byte (every element has it);
* RANS    interleaved rANS with a new frequency table (``frappe_cli.coding.rans``);
* RANS_REUSE  rANS with the table of the previous RANS chunk of that plane;
* HUF / HUF_REUSE  the same with canonical Huffman (``frappe_cli.coding.huffman``);
* ENEC    ENEC's block fixed-length code (below).

dfloat11 offers rANS (levels 4-9) or Huffman (0-3); enec offers ENEC.  A
coded mode is used only when it saves at least ``gain`` of the plane's bytes
(level dependent), so near-incompressible mantissa planes stay raw and decode
at memory speed.

ENEC plane (after ENEC, arXiv 2604.03298): the byte's top 8 - s bits f are
mapped to r = ((base - f) mod 2^(8-s)) << s | (low s bits) (ENEC's
"(b - e) mod 2^n" transform; base is chosen per chunk); per tile of 32
elements the width w = bit length of the tile's largest r (4 bits per tile);
every r is stored in w bits; tiles are byte aligned, so tile offsets are a
prefix sum of 4 * w and tiles decode independently.  Inside a tile the w
bits are stored as w bit planes of 32 bits, so one multiply spreads a plane
byte over 8 elements (decode) or gathers it (encode): no bit cursor, no
branches, no table.
"""

from __future__ import annotations

import numpy as np

from frappe_cli.coding import huffman as HF
from frappe_cli.coding import rans as R
from frappe_cli.coding.nbutil import chunk_counts, coded_cost, get_u32, put_u32
from frappe_cli.coding.quant import cost_table_nb, normalize_freqs_nb
from frappe_cli.jit import njit

U = np.uint64

P_RAW, P_CONST, P_RANS, P_RANS_REUSE, P_HUF, P_HUF_REUSE, P_ENEC = 0, 1, 2, 3, 4, 5, 6
N_MODES = 7
C_RANS, C_HUF, C_ENEC = 1, 2, 3

TAG_BYTES, TAG_FLOAT = 0, 1
MAX_CHUNK = 1 << 20
ENEC_TILE = 32
Q16 = 65536

#: symbol cost table of 12-bit frequencies (built once: 0.1 ms)
COST12 = cost_table_nb(12)

# per float kind (index = formats kind): element width, enec low raw bits
KIND_WIDTH = np.array([0, 2, 2, 4, 8, 1, 1], np.int64)
KIND_ENEC_S = np.array([0, 0, 3, 0, 0, 4, 3], np.int64)


# ----------------------------------------------------------------------------------
# element <-> planes


@njit(cache=True, nogil=True)
def split(x, a, b, planes, w):
    """Rotate the w-byte elements x[a:b] left by 1 and split them into planes[0..w)
    (low byte first).  Call it with a constant ``w``: inlined by LLVM, the byte loop
    unrolls and the element loop vectorises as the hand-written per-width copies
    did (measured: same CPU time)."""
    top = U(8 * w - 1)
    for i in range(U(b - a)):
        v = U(x[U(a) + i])
        v = (v << U(1)) | (v >> top)  # the bits above 8 w are never read
        for k in range(w):
            planes[k, i] = np.uint8((v >> U(8 * k)) & U(0xFF))


@njit(cache=True, nogil=True)
def merge2(lo, hi, out, a, n):
    """out[a:a+n] = rotr1(hi << 8 | lo) (uint16)."""
    for i in range(U(n)):
        v = (U(hi[i]) << U(8)) | U(lo[i])
        out[U(a) + i] = np.uint16((v >> U(1)) | ((v & U(1)) << U(15)))


@njit(cache=True, nogil=True)
def merge(planes, out, a, n, w):
    """out[a:a+n] = the w-byte elements of planes[0..w) rotated right by 1 (``split``'s
    inverse; a constant ``w``, as for ``split``)."""
    top = U(8 * w - 1)
    for i in range(U(n)):
        v = U(0)
        for k in range(w):
            v |= U(planes[k, i]) << U(8 * k)
        out[U(a) + i] = (v >> U(1)) | ((v & U(1)) << top)


@njit(cache=True, nogil=True)
def merge1(p, out, a, n):
    for i in range(U(n)):
        v = U(p[i])
        out[U(a) + i] = np.uint8(((v >> U(1)) | (v << U(7))) & U(0xFF))


# ----------------------------------------------------------------------------------
# ENEC planes


@njit(cache=True, nogil=True)
def _tile_minmax(sym, nfull, tmin, tmax):
    for t in range(nfull):
        lo = np.uint8(255)
        hi = np.uint8(0)
        a = t * ENEC_TILE
        for i in range(ENEC_TILE):
            v = sym[a + i]
            lo = min(lo, v)
            hi = max(hi, v)
        tmin[t] = lo
        tmax[t] = hi


@njit(cache=True, nogil=True)
def enec_base(sym, s):
    """Choose ENEC's base for a plane (field f = top 8 - s bits): minimise the tile widths.

    For base b a tile costs s + bitlen(b - min f) bits per element when no f
    exceeds b, else the full 8 (exact widths are computed when packing).  The
    tiles are summarised by a histogram of their (min f, max f) pairs, so each
    candidate b in [mode, mode + 24] costs one pass over the used pairs; the
    mode is taken from every 8th element.
    """
    n = sym.shape[0]
    k = 8 - s
    nf = 1 << k
    nt = (n + ENEC_TILE - 1) // ENEC_TILE
    nfull = n // ENEC_TILE
    tmin = np.empty(nt, np.uint8)
    tmax = np.empty(nt, np.uint8)
    _tile_minmax(sym, nfull, tmin, tmax)
    if nfull < nt:
        lo = np.uint8(255)
        hi = np.uint8(0)
        for i in range(nfull * ENEC_TILE, n):
            lo = min(lo, sym[i])
            hi = max(hi, sym[i])
        tmin[nfull] = lo
        tmax[nfull] = hi
    fmin = nf
    fmax = 0
    for t in range(nt):
        fmin = min(fmin, np.int64(tmin[t]) >> s)
        fmax = max(fmax, np.int64(tmax[t]) >> s)
    r = fmax - fmin + 1
    pair = np.zeros((r, r), np.int64)  # pair[min - fmin, max - fmin]
    for t in range(nt):
        pair[(np.int64(tmin[t]) >> s) - fmin, (np.int64(tmax[t]) >> s) - fmin] += 1
    counts = np.zeros(256, np.int64)
    for i in range(0, n, 8):
        counts[np.int64(sym[i]) >> s] += 1
    mode = 0
    for f in range(nf):
        if counts[f] > counts[mode]:
            mode = f
    bl = np.zeros(257, np.int64)
    for d in range(1, 257):
        bl[d] = bl[d >> 1] + 1
    best = mode
    best_cost = np.int64(1) << 62
    for b in range(mode, min(nf - 1, mode + 24) + 1):
        cost = np.int64(0)
        for lo in range(r):
            for hi in range(lo, r):
                c = pair[lo, hi]
                if c:
                    if hi + fmin > b:
                        cost += c * 8
                    else:
                        d = b - lo - fmin
                        cost += c * (bl[d] + s if d > 0 else s)
        if cost < best_cost:
            best_cost = cost
            best = b
    return best


SPREAD = np.uint64(0x8040201008040201)   # byte -> 8 bytes (bit 7-i -> byte i, via & HIGH >> 7)
HIGH = np.uint64(0x8080808080808080)
LOWB = np.uint64(0x0101010101010101)


@njit(cache=True, nogil=True)
def enec_encode(sym, s, base, out, pos):
    """ENEC body at out[pos]: u8 base, u8 s, 4-bit tile widths, tiles; returns the end.

    Tile layout (32 elements, width w): w bit planes of 4 bytes; bit 7 - i of
    byte q of plane j is bit j of r[8 q + i].
    """
    n = sym.shape[0]
    nt = (n + ENEC_TILE - 1) // ENEC_TILE
    out[pos] = np.uint8(base)
    out[pos + 1] = np.uint8(s)
    wpos = pos + 2
    for i in range((nt + 1) // 2):
        out[wpos + i] = 0
    p = wpos + (nt + 1) // 2
    # r for the whole chunk (vectorisable), zero padded to whole tiles
    r = np.zeros(nt * ENEC_TILE, np.uint8)
    # deliberate copy of enec_decode's r -> byte pass (the map is its own inverse; numba:
    # one shared helper cost ENEC decode +5 % CPU with inline="always", +50 % as a call)
    ub = U(base)
    if s == 0:
        for i in range(U(n)):
            r[i] = np.uint8((ub - U(sym[i])) & U(0xFF))
    else:
        sh = U(s)
        fm = (U(1) << (U(8) - sh)) - U(1)
        smask = (U(1) << sh) - U(1)
        for i in range(U(n)):
            v = U(sym[i])
            r[i] = np.uint8((((ub - (v >> sh)) & fm) << sh) | (v & smask))
    r64 = r.view(np.uint64)
    up = U(p)
    for t in range(nt):
        g0 = r64[4 * t]
        g1 = r64[4 * t + 1]
        g2 = r64[4 * t + 2]
        g3 = r64[4 * t + 3]
        m = g0 | g1 | g2 | g3
        m |= m >> U(32)
        m |= m >> U(16)
        m |= m >> U(8)
        m &= U(0xFF)
        w = 0
        while (m >> U(w)) != U(0):
            w += 1
        out[wpos + (t >> 1)] |= np.uint8(w << (4 * (t & 1)))
        for j in range(w):
            q = up + U(4 * j)
            jj = U(j)
            out[q] = np.uint8((((g0 >> jj) & LOWB) * SPREAD) >> U(56))
            out[q + U(1)] = np.uint8((((g1 >> jj) & LOWB) * SPREAD) >> U(56))
            out[q + U(2)] = np.uint8((((g2 >> jj) & LOWB) * SPREAD) >> U(56))
            out[q + U(3)] = np.uint8((((g3 >> jj) & LOWB) * SPREAD) >> U(56))
        up += U(4 * w)
    return np.int64(up)


@njit(cache=True, nogil=True)
def enec_decode(buf, pos, end, row, n):
    """Decode an ENEC body buf[pos:end] of n elements into row[:n]; 0 or -1.

    ``row`` is a uint8 array of at least ceil(n / 32) * 32 bytes whose
    length is a multiple of 8 (whole tiles are written as 64-bit words).
    Reads only buf[pos:end]; writes only row.
    """
    if end - pos < 2:
        return -1
    s = np.int64(buf[pos + 1])
    if s > 7:
        return -1
    nt = (n + ENEC_TILE - 1) // ENEC_TILE
    if nt * ENEC_TILE > row.shape[0] or row.shape[0] % 8:
        return -1
    wpos = pos + 2
    p = wpos + (nt + 1) // 2
    if p > end:
        return -1
    total = 0
    for t in range(nt):
        w = (np.int64(buf[wpos + (t >> 1)]) >> (4 * (t & 1))) & 15
        if w > 8:
            return -1
        total += 4 * w
    if (nt & 1) and (np.int64(buf[wpos + (nt >> 1)]) >> 4) != 0:
        return -1
    if total != end - p:
        return -1
    d64 = row.view(np.uint64)
    up = U(p)
    for t in range(nt):
        w = U((np.int64(buf[wpos + (t >> 1)]) >> (4 * (t & 1))) & 15)
        o = U(4 * t)
        a0 = U(0)
        a1 = U(0)
        a2 = U(0)
        a3 = U(0)
        for j in range(w):
            q = up + U(4) * U(j)
            sh = U(7) - U(j)
            a0 |= ((U(buf[q]) * SPREAD) & HIGH) >> sh
            a1 |= ((U(buf[q + U(1)]) * SPREAD) & HIGH) >> sh
            a2 |= ((U(buf[q + U(2)]) * SPREAD) & HIGH) >> sh
            a3 |= ((U(buf[q + U(3)]) * SPREAD) & HIGH) >> sh
        d64[o] = a0
        d64[o + U(1)] = a1
        d64[o + U(2)] = a2
        d64[o + U(3)] = a3
        up += U(4) * w
    # r -> byte (vectorisable pass, in place): deliberate copy of enec_encode's byte -> r
    # pass (the map is its own inverse; numba: a shared helper cost this decode 5-50 % CPU)
    base = U(buf[pos])
    if s == 0:
        for i in range(U(n)):
            row[i] = np.uint8((base - U(row[i])) & U(0xFF))
    else:
        sh = U(s)
        fm = (U(1) << (U(8) - sh)) - U(1)
        smask = (U(1) << sh) - U(1)
        for i in range(U(n)):
            r = U(row[i])
            row[i] = np.uint8((((base - (r >> sh)) & fm) << sh) | (r & smask))
    return 0


# ----------------------------------------------------------------------------------
# one plane of one chunk


@njit(cache=True, nogil=True)
def _sample_may_pay(sym, gain_q, cost):
    """Whether coding might save the required gain, judged on every 8th byte.

    Skips the full histogram of planes that are clearly noise (raw mantissa
    bytes); the sample entropy is corrected for its small-sample bias.
    Constant planes always pass.  Integer arithmetic only (deterministic).
    """
    n = sym.shape[0]
    counts = np.zeros(256, np.int64)
    m = 0
    for i in range(0, n, 8):
        counts[sym[i]] += 1
        m += 1
    freq = np.zeros(256, np.int64)
    present = normalize_freqs_nb(counts, 12, freq)
    # the sample's empirical entropy is low by ~(present - 1) / (2 ln 2) bits in all
    bits = coded_cost(counts, freq, cost) // Q16 + (present - 1) * 3 // 4
    limit = m * 8 - (m * 8 * gain_q) // Q16
    return bits < limit


@njit(cache=True, nogil=True)
def encode_plane(sym, coder, gain_q, cost, k, prevf, prevl, hp, out, pos, scratch):
    """Code plane ``k`` of a chunk at out[pos]; returns (mode, end position).

    ``prevf``/``prevl`` (int64[w, 256]) hold the last rANS table / Huffman code
    of each plane, ``hp`` (int64[w, 2]) whether they are set.  A coded mode
    must save ``gain_q``/65536 of the raw size, else the plane stays RAW.
    """
    n = sym.shape[0]
    if n >= 16384 and not _sample_may_pay(sym, gain_q, cost):
        return P_RAW, -1
    counts, present, last = chunk_counts(sym)
    if present == 1:
        out[pos] = np.uint8(last)
        return P_CONST, pos + 1
    if present == 0:
        return P_RAW, pos
    raw_bits = np.int64(n) * 8
    # coded size must be below limit (bits)
    limit = raw_bits - (raw_bits * gain_q) // Q16
    if coder == C_RANS:
        freq = np.zeros(256, np.int64)
        normalize_freqs_nb(counts, 12, freq)
        tbl = np.zeros(600, np.uint8)
        tl = R.write_freqs(freq, tbl, 0)
        c_new = (coded_cost(counts, freq, cost) + Q16 - 1) // Q16 + (tl + R.STATE_BYTES) * 8
        mode = P_RANS
        best = c_new
        if hp[k, 0]:
            pf = prevf[k]
            c_re = (coded_cost(counts, pf, cost) + Q16 - 1) // Q16 + R.STATE_BYTES * 8
            if c_re <= best + (best >> 12):  # reuse within 0.025%: one table build less
                best = c_re
                mode = P_RANS_REUSE
        if best >= limit:
            return P_RAW, -1
        start = R.encode_freqs(sym, freq if mode == P_RANS else prevf[k], scratch)
        clen = scratch.shape[0] - start
        hl = tl if mode == P_RANS else 0
        if (hl + clen) * 8 >= limit:
            return P_RAW, -1
        if mode == P_RANS:
            out[pos:pos + tl] = tbl[:tl]
            prevf[k, :] = freq
            hp[k, 0] = 1
        out[pos + hl:pos + hl + clen] = scratch[start:]
        return mode, pos + hl + clen
    if coder == C_HUF:
        lens = np.zeros(256, np.int64)
        HF.code_lengths(counts, HF.MAX_LEN, lens)
        c_new = HF.coded_bits(counts, lens) + (HF.table_bytes(lens) + 12 + 4) * 8
        mode = P_HUF
        best = c_new
        if hp[k, 1]:
            pl = prevl[k]
            c_re = HF.coded_bits(counts, pl) + (12 + 4) * 8
            if c_re <= best + (best >> 10):  # reuse within 0.1%: one table build less
                best = c_re
                mode = P_HUF_REUSE
        if best >= limit:
            return P_RAW, -1
        use = lens if mode == P_HUF else prevl[k]
        enc = np.zeros(256, np.uint64)
        HF.build_enc(use, enc)
        clen = HF.encode_body(sym, use, enc, mode == P_HUF, scratch, 0)
        if clen * 8 >= limit:
            return P_RAW, -1
        out[pos:pos + clen] = scratch[:clen]
        if mode == P_HUF:
            prevl[k, :] = lens
            hp[k, 1] = 1
        return mode, pos + clen
    return P_RAW, -1


@njit(cache=True, nogil=True)
def encode_plane_enec(sym, s, gain_q, out, pos, scratch):
    """ENEC-code a plane (top 8 - s bits transformed); (P_RAW, -1) unless it saves ``gain``."""
    n = sym.shape[0]
    raw_bits = np.int64(n) * 8
    limit = raw_bits - (raw_bits * gain_q) // Q16
    base = enec_base(sym, s)
    clen = enec_encode(sym, s, base, scratch, 0)
    if clen * 8 >= limit:
        return P_RAW, -1
    out[pos:pos + clen] = scratch[:clen]
    return P_ENEC, pos + clen


@njit(cache=True, nogil=True)
def encode_plane_const(sym, out, pos):
    """CONST when every byte is equal, else RAW (enec's mantissa planes)."""
    n = sym.shape[0]
    if n == 0:
        return P_RAW, -1
    v = sym[0]
    for i in range(n):
        if sym[i] != v:
            return P_RAW, -1
    out[pos] = v
    return P_CONST, pos + 1


@njit(cache=True, nogil=True)
def decode_plane(buf, pos, end, mode, k, prevf, prevl, hp, tabs, t1s, htabs, row, n):
    """Decode plane k of a chunk (mode not RAW) from buf[pos:end] into row[:n]; 0 or -1."""
    dst = row[:n]
    if mode == P_CONST:
        if end - pos != 1:
            return -1
        dst[:] = buf[pos]
        return 0
    rans = mode == P_RANS or mode == P_RANS_REUSE
    if not rans and mode != P_HUF and mode != P_HUF_REUSE:
        return enec_decode(buf, pos, end, row, n) if mode == P_ENEC else -1
    j = 0 if rans else 1  # hp[k, j]: plane k has a table of this coder
    if mode == P_RANS or mode == P_HUF:
        if rans:
            pos = R.read_table(buf, pos, end, prevf[k], tabs[k])
        else:
            pos = HF.read_table(buf, pos, end, prevl[k], t1s[k], htabs[k])
        hp[k, j] = 1 if pos >= 0 else 0
        if pos < 0:
            return -1
    elif not hp[k, j]:
        return -1
    if rans:
        return R.decode_core(buf, pos, end, tabs[k], dst)
    return HF.decode_body(buf, pos, end, t1s[k], htabs[k], dst)


# ----------------------------------------------------------------------------------
# float blocks


@njit(cache=True, nogil=True)
def encode_float_block(x8, x16, x32, x64, kind, n, chunks, coder, gain_q, cost, out):
    """Code a float block into ``out`` (sized by ``float_block_bound``); returns its length.

    x8 is the whole block (n elements of width w, then 0..w-1 tail bytes);
    x16/x32/x64 are the element views matching the kind (the others unused);
    ``cost`` is ``quant.cost_table(12)`` (``COST12``).
    """
    w = KIND_WIDTH[kind]
    tail = x8.shape[0] - n * w
    out[0] = TAG_FLOAT
    out[1] = np.uint8(kind)
    put_u32(out, 2, n)
    out[6] = np.uint8(tail)
    pos = 7
    for i in range(tail):
        out[pos + i] = x8[n * w + i]
    pos += tail
    nch = chunks.shape[0]
    put_u32(out, pos, nch)
    pos += 4
    maxc = 1
    for c in range(nch):
        put_u32(out, pos + 4 * c, chunks[c])
        maxc = max(maxc, chunks[c])
    pos += 4 * nch
    dpos = pos
    pos += 5 * w * nch
    planes = np.empty((w, maxc), np.uint8)
    scratch = np.empty(2 * maxc + 1024, np.uint8)
    prevf = np.zeros((w, 256), np.int64)
    prevl = np.zeros((w, 256), np.int64)
    hp = np.zeros((w, 2), np.int64)
    es = KIND_ENEC_S[kind]
    a = 0
    for c in range(nch):
        m = chunks[c]
        b = a + m
        if w == 2:
            split(x16, a, b, planes, 2)
        elif w == 4:
            split(x32, a, b, planes, 4)
        elif w == 8:
            split(x64, a, b, planes, 8)
        else:
            split(x8, a, b, planes, 1)
        for k in range(w):
            sym = planes[k, :m]
            if coder == C_ENEC:
                if k == w - 1:
                    mode, end = encode_plane_enec(sym, es, gain_q, out, pos, scratch)
                else:
                    mode, end = encode_plane_const(sym, out, pos)
            else:
                mode, end = encode_plane(sym, coder, gain_q, cost, k, prevf, prevl, hp, out,
                                         pos, scratch)
            if end < 0:
                mode = P_RAW
                out[pos:pos + m] = sym
                end = pos + m
            out[dpos] = np.uint8(mode)
            put_u32(out, dpos + 1, end - pos)
            dpos += 5
            pos = end
        a = b
    return pos


@njit(cache=True, nogil=True)
def decode_float_block(buf, pos, x8, x16, x32, x64, kind, n):
    """Decode a float block whose chunk table starts at buf[pos] into x8 (+ views).

    The caller has checked the tag, kind, n and the tail.  Returns 0 or a
    negative code: -1 structure, -2 chunk sizes, -3 plane data.
    """
    end = buf.shape[0]
    w = KIND_WIDTH[kind]
    if pos + 4 > end:
        return -1
    nch = get_u32(buf, pos)
    pos += 4
    if nch > n or (n > 0 and nch == 0):
        return -2
    if pos + nch * (4 + 5 * w) > end:
        return -1
    chunks = np.empty(nch, np.int64)
    tot = 0
    maxc = 1
    for c in range(nch):
        m = get_u32(buf, pos + 4 * c)
        if m < 1 or m > MAX_CHUNK:
            return -2
        chunks[c] = m
        tot += m
        maxc = max(maxc, m)
    if tot != n:
        return -2
    pos += 4 * nch
    dpos = pos
    pos += 5 * w * nch
    body = pos
    for i in range(nch * w):
        mode = buf[dpos + 5 * i]
        ln = get_u32(buf, dpos + 5 * i + 1)
        if mode >= N_MODES:
            return -1
        body += ln
        if body > end:
            return -1
    if body != end:
        return -1
    planes = np.empty((w, (maxc + ENEC_TILE - 1) // ENEC_TILE * ENEC_TILE), np.uint8)
    prevf = np.zeros((w, 256), np.int64)
    prevl = np.zeros((w, 256), np.int64)
    hp = np.zeros((w, 2), np.int64)
    tabs = np.zeros((w, 4096), np.uint32)
    t1s = np.zeros((w, HF.TAB_SIZE), np.uint16)
    htabs = np.zeros((w, HF.TAB_SIZE), np.uint32)
    offs = np.empty(8, np.int64)
    modes = np.empty(8, np.int64)
    a = 0
    for c in range(nch):
        m = chunks[c]
        for k in range(w):
            mode = np.int64(buf[dpos])
            ln = get_u32(buf, dpos + 1)
            dpos += 5
            modes[k] = mode
            offs[k] = pos
            if mode == P_RAW:
                if ln != m:
                    return -3
            elif decode_plane(buf, pos, pos + ln, mode, k, prevf, prevl, hp, tabs, t1s, htabs,
                              planes[k], m) != 0:
                return -3
            pos += ln
        if w == 2:
            r0 = modes[0] == P_RAW
            r1 = modes[1] == P_RAW
            if r0 and not r1:
                merge2(buf[offs[0]:offs[0] + m], planes[1], x16, a, m)
            elif r0 and r1:
                merge2(buf[offs[0]:offs[0] + m], buf[offs[1]:offs[1] + m], x16, a, m)
            elif r1:
                merge2(planes[0], buf[offs[1]:offs[1] + m], x16, a, m)
            else:
                merge2(planes[0], planes[1], x16, a, m)
        elif w == 1:
            if modes[0] == P_RAW:
                merge1(buf[offs[0]:offs[0] + m], x8, a, m)
            else:
                merge1(planes[0], x8, a, m)
        else:
            for k in range(w):
                if modes[k] == P_RAW:
                    planes[k, :m] = buf[offs[k]:offs[k] + m]
            if w == 4:
                merge(planes, x32, a, m, 4)
            else:
                merge(planes, x64, a, m, 8)
        a += m
    return 0
