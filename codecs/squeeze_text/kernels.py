"""numba kernel of the text codec: its model configuration on top of the shared CM engine.

Per byte, ``text_code`` computes the contexts a level selects from a fixed
catalogue (``H_*`` hashed contexts, ``D_*`` direct contexts, ``S_*`` mixer
selectors, ``A_*`` APM contexts; SPEC.md defines each one) and hands them to
the engine's ``code_byte``.  The catalogue is part of the bitstream; levels
pick subsets (``levels.py``).
"""

from __future__ import annotations

import numpy as np

from frappe_cli.coding.cm import engine as E
from frappe_cli.coding.cm.engine import code_byte, hash_combine
from frappe_cli.jit import njit

# hashed-context catalogue
H_O2, H_O3, H_O4, H_O5, H_O6, H_O7, H_O8, H_O12, H_O16, H_O24 = range(10)
H_WORD, H_WORD2, H_WORD3, H_WSKIP = 10, 11, 12, 13
H_SP23, H_SP34, H_SP13, H_COL, H_COLC1, H_CLASS, H_XML, H_WPOS = 14, 15, 16, 17, 18, 19, 20, 21
H_CLS4C1, H_CLS12, H_CLSW, H_CLS6C2 = 22, 23, 24, 25
H_IND1, H_IND2, H_LET, H_BRK, H_W1C = 26, 27, 28, 29, 30
N_HCAND = 31
# direct contexts (rows)
D_O0, D_O1, D_O2 = 0, 1, 2
D_ROWS = (1, 256, 65536)
# mixer selectors (sets)
S_NONE, S_C1, S_C2, S_CLASS2, S_COL, S_WLEN, S_CLASS3, S_C12H, S_BRK = range(9)
S_SETS = (1, 256, 256, 64, 16, 16, 512, 1024, 20)
# APM contexts (rows)
A_C0, A_C1, A_C2H, A_C3H, A_WORD = range(5)
A_ROWS = (1, 256, 1024, 1024, 1024)


@njit(cache=True, nogil=True)
def _char_class(c):
    """0 control, 1 white space, 2 lower, 3 upper, 4 digit, 5 .,;:!?, 6 other ASCII, 7 >= 128."""
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
def text_code(buf, n, out, inp, enc, M, ac, rec, hid, did, mid, fid, aid):
    """Encode ``buf[:n]`` into ``out`` (``enc`` 1) or decode ``inp`` into ``buf[:n]``.

    ``hid``/``did``/``mid``/``aid``: catalogue ids of the level's hashed contexts,
    direct contexts, layer-1 mixer selectors and APM contexts; ``fid`` the final
    mixer's selector.  Returns the encoder's byte count (-1: output overflow) or,
    decoding, 0 (clean end), -1 (the stream did not end where it should) or -2
    (it ran out of input early).
    """
    nh, nd, nm, na, ctx, need = E.context_slots(hid, did, mid, aid, N_HCAND)
    cls = np.zeros(256, dtype=np.int64)
    for c in range(256):
        cls[c] = _char_class(c)
    ind1 = np.zeros(256, dtype=np.int64)  # the two bytes that last followed each byte
    ind2 = np.zeros(65536 if need[H_IND2] else 1, dtype=np.int64)  # ... each byte pair
    bstack = np.zeros(16, dtype=np.int64)
    E.coder_start(ac, out, inp, enc)
    c4 = np.int64(0)  # last 4 bytes
    c8 = np.int64(0)  # the 4 before
    w0 = np.int64(0)  # hash of the current word (letters, lower case); 0 outside words
    w1 = np.int64(0)  # previous word
    w2 = np.int64(0)  # the one before
    wlen = 0
    line0 = 0  # start of the current line
    line1 = 0  # start of the previous line
    chash = np.int64(0)  # classes of the last bytes, 3 bits each
    xmlh = np.int64(0)  # hash of the last markup tag name
    lets = np.int64(0)  # the last 12 letters, 5 bits each
    brk = np.int64(0)  # innermost open bracket: 1 [, 2 {, 3 (, 4 <
    bdepth = 0
    for pos in range(n):
        c1 = c4 & 255
        c2 = (c4 >> 8) & 255
        c3 = (c4 >> 16) & 255
        col = pos - line0
        k = 0
        for i in range(nh):
            h = hid[i]
            if h <= H_O8:  # orders 2..8
                v = E.order_hash(h - H_O2 + 2, c4, c8)
            elif h <= H_O24:  # orders 12, 16, 24
                ln = 12 if h == H_O12 else (16 if h == H_O16 else 24)
                v = E.tail_hash(buf, pos, ln, ln)
            elif h == H_WORD:
                v = hash_combine(hash_combine(10, w0), c1 if w0 == 0 else 0)
            elif h == H_WORD2:
                v = hash_combine(hash_combine(11, w0), w1)
            elif h == H_WORD3:
                v = hash_combine(hash_combine(hash_combine(12, w0), w1), w2)
            elif h == H_WSKIP:
                v = hash_combine(hash_combine(13, w0), w2)
            elif h == H_SP23:
                v = hash_combine(14, (c4 >> 8) & 0xFFFF)
            elif h == H_SP34:
                v = hash_combine(15, (c4 >> 16) & 0xFFFF)
            elif h == H_SP13:
                v = hash_combine(16, c1 | (c3 << 8))
            elif h == H_COL or h == H_COLC1:
                above = np.int64(0)
                if line0 > 0 and line1 + col < line0:
                    above = np.int64(buf[line1 + col])
                if h == H_COL:
                    v = hash_combine(hash_combine(17, above), min(col, 256))
                else:
                    v = hash_combine(hash_combine(18, above), c1)
            elif h == H_CLASS:
                v = hash_combine(19, chash & 0xFFFFFF)
            elif h == H_XML:
                v = hash_combine(hash_combine(20, xmlh), c1)
            elif h == H_WPOS:
                v = hash_combine(hash_combine(21, w1), c1 | (wlen << 8))
            elif h == H_CLS4C1:
                v = hash_combine(hash_combine(22, chash & 0xFFF), c1)
            elif h == H_CLS12:
                v = hash_combine(23, chash & 0xFFFFFFFFF)
            elif h == H_CLSW:
                v = hash_combine(hash_combine(24, chash & 0x3FFFF), w0)
            elif h == H_CLS6C2:
                v = hash_combine(hash_combine(25, chash & 0x3FFFF), c4 & 0xFFFF)
            elif h == H_IND1:
                v = hash_combine(hash_combine(26, ind1[c1]), c1)
            elif h == H_IND2:
                v = hash_combine(hash_combine(27, ind2[c4 & 0xFFFF]), c4 & 0xFFFF)
            elif h == H_LET:
                v = hash_combine(28, lets)
            elif h == H_BRK:
                v = hash_combine(hash_combine(29, brk * 16 + min(bdepth, 15)), c4 & 0xFFFF)
            else:  # H_W1C
                v = hash_combine(hash_combine(30, w1), c4 & 0xFFFF)
            ctx[k] = v
            k += 1
        for i in range(nd):
            d = did[i]
            ctx[k] = 0 if d == D_O0 else (c1 if d == D_O1 else c4 & 0xFFFF)
            k += 1
        for i in range(nm + 1):
            s = mid[i] if i < nm else fid
            v = np.int64(0)
            if s == S_C1:
                v = c1
            elif s == S_C2:
                v = c2
            elif s == S_CLASS2:
                v = cls[c1] * 8 + cls[c2]
            elif s == S_COL:
                v = min(col, 15)
            elif s == S_WLEN:
                v = min(wlen, 15)
            elif s == S_CLASS3:
                v = (cls[c1] * 8 + cls[c2]) * 8 + cls[c3]
            elif s == S_C12H:
                v = ((c4 & 0xFFFF) * 0x9E3779B1 >> 16) & 1023
            elif s == S_BRK:
                v = brk * 4 + min(bdepth, 3)
            ctx[k] = v
            k += 1
        for i in range(na):
            a = aid[i]
            v = np.int64(0)
            if a == A_C1:
                v = c1
            elif a == A_C2H:
                v = ((c4 & 0xFFFF) * 0x9E3779B1 >> 18) & 1023
            elif a == A_C3H:
                v = ((c4 & 0xFFFFFF) * 0x9E3779B1 >> 18) & 1023
            elif a == A_WORD:
                v = ((w0 + c1) * 0x9E3779B1 >> 18) & 1023
            ctx[k] = v
            k += 1
        c = code_byte(M, ac, out, inp, buf, pos, ctx, enc, rec, pos * 8)
        if not enc and E.decoder_overran(ac, inp):
            return -2
        # ---- the configuration's own state
        ind1[c1] = ((ind1[c1] << 8) | c) & 0xFFFF
        if need[H_IND2]:
            ind2[c4 & 0xFFFF] = ((ind2[c4 & 0xFFFF] << 8) | c) & 0xFFFF
        c8 = ((c8 << 8) | (c4 >> 24)) & 0xFFFFFFFF
        c4 = ((c4 << 8) | c) & 0xFFFFFFFF
        chash = ((chash << 3) | cls[c]) & 0xFFFFFFFFFFFF
        lc = c + 32 if 65 <= c <= 90 else c
        if (97 <= lc <= 122) or c >= 128:
            w0 = hash_combine(w0, lc)
            wlen += 1
        elif w0 != 0:
            w2 = w1
            w1 = w0
            w0 = np.int64(0)
            wlen = 0
        if 97 <= lc <= 122:
            lets = ((lets << 5) | (lc - 96)) & 0xFFFFFFFFFFFFFFF
        if c == 91 or c == 123 or c == 40 or c == 60:  # [ { ( <
            if bdepth < 16:
                bstack[bdepth] = brk
            bdepth += 1
            brk = 1 if c == 91 else (2 if c == 123 else (3 if c == 40 else 4))
        elif (c == 93 or c == 125 or c == 41 or c == 62) and bdepth > 0:
            bdepth -= 1
            brk = bstack[bdepth] if bdepth < 16 else np.int64(0)
        if c == 10:
            line1 = line0
            line0 = pos + 1
        if c == 60:
            xmlh = np.int64(60)
        elif xmlh != 0 and (97 <= lc <= 122 or c == 47):
            xmlh = hash_combine(xmlh, c)
    return E.coder_finish(ac, out, inp, enc)
