"""numba kernels of the text codec: its model configuration on top of the shared CM engine.

Per byte, ``text_code`` computes a catalogue of candidate contexts (orders,
words, sparse, column, ...; see ``H_*`` ids below) and hands the ones a level
selects (``hid``, ``did``, ``mid``, ``aid`` arrays) to the engine's
``code_byte``.  The catalogue is fixed by the bitstream version; levels pick
subsets.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from frappe_cli.coding.cm.engine import (
    code_byte,
    coder_finish,
    coder_start,
    decoder_overran,
    hash_combine,
)

# hashed-context candidates
H_O2, H_O3, H_O4, H_O5, H_O6, H_O7, H_O8, H_O12, H_O16, H_O24 = range(10)
H_WORD, H_WORD2, H_WORD3, H_WSKIP = 10, 11, 12, 13
H_SP23, H_SP34, H_SP13, H_COL, H_COLC1, H_CLASS, H_XML, H_WPOS = 14, 15, 16, 17, 18, 19, 20, 21
H_CLS4C1, H_CLS12, H_CLSW, H_CLS6C2 = 22, 23, 24, 25
N_HCAND = 32
# direct-context candidates (rows)
D_O0, D_O1, D_O2 = 0, 1, 2
D_ROWS = (1, 256, 65536)
# mixer-selector candidates (sets)
S_NONE, S_C1, S_C2, S_CLASS2, S_COL, S_WLEN, S_CLASS3 = 0, 1, 2, 3, 4, 5, 6
S_SETS = (1, 256, 256, 64, 16, 16, 512)
# APM-context candidates (rows)
A_C0, A_C1, A_C2H, A_C3H, A_WORD = 0, 1, 2, 3, 4
A_ROWS = (1, 256, 1024, 1024, 1024)


@njit(cache=True, nogil=True)
def _char_class(c):
    if c == 32 or c == 10 or c == 13 or c == 9:
        return 1
    if 97 <= c <= 122:
        return 2
    if 65 <= c <= 90:
        return 3
    if 48 <= c <= 57:
        return 4
    if c == 46 or c == 44 or c == 59 or c == 58 or c == 33 or c == 63:
        return 5
    if c >= 128:
        return 7
    if c < 32:
        return 0
    return 6


@njit(cache=True, nogil=True)
def _tail_hash(buf, pos, length, salt):
    h = np.int64(salt)
    start = pos - length
    if start < 0:
        start = 0
    for k in range(start, pos):
        h = (h + buf[k] + 1) * 0x2127599BF4325C37
    return h


@njit(cache=True, nogil=True)
def text_code(buf, n, out, inp, enc, M, ac, rec, hid, did, mid, fid, aid):
    """Encode ``buf[:n]`` into ``out`` or decode ``inp`` into ``buf[:n]``.

    Returns the encoder's byte count (-1: output overflow) or, decoding, 0 / -1
    (the stream did not end where it should) / -2 (it ran out of input early).
    """
    nh = hid.shape[0]
    nd = did.shape[0]
    nm = mid.shape[0]
    na = aid.shape[0]
    ctx = np.zeros(nh + nd + nm + 1 + na + 1, dtype=np.int64)
    hc = np.zeros(N_HCAND, dtype=np.int64)
    need = np.zeros(N_HCAND, dtype=np.bool_)
    for i in range(nh):
        need[hid[i]] = True
    cls = np.zeros(256, dtype=np.int64)
    for c in range(256):
        cls[c] = _char_class(c)
    coder_start(ac, out, inp, enc)
    c4 = np.int64(0)
    c8 = np.int64(0)
    w0 = np.int64(0)
    w1 = np.int64(0)
    w2 = np.int64(0)
    wlen = 0
    line0 = 0  # start of the current line
    line1 = 0  # start of the previous line
    chash = np.int64(0)  # classes of the last bytes
    xmlh = np.int64(0)  # hash of the current/last markup tag name
    for pos in range(n):
        c1 = c4 & 255
        c2 = (c4 >> 8) & 255
        c3 = (c4 >> 16) & 255
        col = pos - line0
        above = np.int64(0)
        if line0 > 0 and line1 + col < line0:
            above = np.int64(buf[line1 + col])
        hc[H_O2] = hash_combine(2, c4 & 0xFFFF)
        hc[H_O3] = hash_combine(3, c4 & 0xFFFFFF)
        hc[H_O4] = hash_combine(4, c4)
        hc[H_O5] = hash_combine(hash_combine(5, c4), c8 & 0xFF)
        hc[H_O6] = hash_combine(hash_combine(6, c4), c8 & 0xFFFF)
        hc[H_O7] = hash_combine(hash_combine(7, c4), c8 & 0xFFFFFF)
        hc[H_O8] = hash_combine(hash_combine(8, c4), c8)
        if need[H_O12]:
            hc[H_O12] = _tail_hash(buf, pos, 12, 12)
        if need[H_O16]:
            hc[H_O16] = _tail_hash(buf, pos, 16, 16)
        if need[H_O24]:
            hc[H_O24] = _tail_hash(buf, pos, 24, 24)
        hc[H_WORD] = hash_combine(hash_combine(10, w0), c1 if w0 == 0 else 0)
        hc[H_WORD2] = hash_combine(hash_combine(11, w0), w1)
        hc[H_WORD3] = hash_combine(hash_combine(hash_combine(12, w0), w1), w2)
        hc[H_WSKIP] = hash_combine(hash_combine(13, w0), w2)
        hc[H_SP23] = hash_combine(14, (c4 >> 8) & 0xFFFF)
        hc[H_SP34] = hash_combine(15, (c4 >> 16) & 0xFFFF)
        hc[H_SP13] = hash_combine(16, c1 | (c3 << 8))
        hc[H_COL] = hash_combine(hash_combine(17, above), col if col < 256 else 256)
        hc[H_COLC1] = hash_combine(hash_combine(18, above), c1)
        hc[H_CLASS] = hash_combine(19, chash & 0xFFFFFF)
        hc[H_XML] = hash_combine(hash_combine(20, xmlh), c1)
        hc[H_WPOS] = hash_combine(hash_combine(21, w1), c1 | (wlen << 8))
        hc[H_CLS4C1] = hash_combine(hash_combine(22, chash & 0xFFF), c1)
        hc[H_CLS12] = hash_combine(23, chash & 0xFFFFFFFFF)
        hc[H_CLSW] = hash_combine(hash_combine(24, chash & 0x3FFFF), w0)
        hc[H_CLS6C2] = hash_combine(hash_combine(25, chash & 0x3FFFF), c4 & 0xFFFF)
        k = 0
        for i in range(nh):
            ctx[k] = hc[hid[i]]
            k += 1
        for i in range(nd):
            d = did[i]
            if d == 0:
                ctx[k] = 0
            elif d == 1:
                ctx[k] = c1
            else:
                ctx[k] = c4 & 0xFFFF
            k += 1
        for i in range(nm + 1):
            s = mid[i] if i < nm else fid
            v = np.int64(0)
            if s == 1:
                v = c1
            elif s == 2:
                v = c2
            elif s == 3:
                v = cls[c1] * 8 + cls[c2]
            elif s == 4:
                v = col if col < 15 else 15
            elif s == 5:
                v = wlen if wlen < 15 else 15
            elif s == 6:
                v = (cls[c1] * 8 + cls[c2]) * 8 + cls[c3]
            ctx[k] = v
            k += 1
        for i in range(na):
            a = aid[i]
            v = np.int64(0)
            if a == 1:
                v = c1
            elif a == 2:
                v = ((c4 & 0xFFFF) * 0x9E3779B1 >> 18) & 1023
            elif a == 3:
                v = ((c4 & 0xFFFFFF) * 0x9E3779B1 >> 18) & 1023
            elif a == 4:
                v = ((w0 + c1) * 0x9E3779B1 >> 18) & 1023
            ctx[k] = v
            k += 1
        c = code_byte(M, ac, out, inp, buf, pos, ctx, enc, rec, pos * 8)
        if not enc and decoder_overran(ac, inp):
            return -2
        # ---- update the configuration's own state
        c8 = ((c8 << 8) | (c4 >> 24)) & 0xFFFFFFFF
        c4 = ((c4 << 8) | c) & 0xFFFFFFFF
        chash = (chash << 3) | cls[c]
        lc = c
        if 65 <= c <= 90:
            lc = c + 32
        if (97 <= lc <= 122) or c >= 128:
            w0 = hash_combine(w0, lc)
            wlen += 1
        elif w0 != 0:
            w2 = w1
            w1 = w0
            w0 = 0
            wlen = 0
        if c == 10:
            line1 = line0
            line0 = pos + 1
        if c == 60:  # '<' starts a tag name
            xmlh = 60
        elif xmlh != 0 and (97 <= lc <= 122 or c == 47):
            xmlh = hash_combine(xmlh, c)
        elif c == 62 or c == 32:
            pass
    return coder_finish(ac, out, inp, enc)
