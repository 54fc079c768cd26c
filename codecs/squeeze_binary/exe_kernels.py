"""numba kernel of the executable codec: its model configuration on the shared CM engine.

Per byte, ``exe_code`` computes the contexts a level selects from a fixed
catalogue (``H_*`` hashed contexts, ``D_*`` direct contexts, ``S_*`` mixer
selectors, ``A_*`` APM rows; SPEC.md section 5 defines each one) and hands them
to the engine's ``code_byte``.  Everything is computed from the bytes already
coded (``buf[:pos]``), the per-byte region labels sent in the block header, and
constant tables, so the decoder rebuilds the same contexts.

Structure the model tracks as it goes:

* an incremental x86 / x86-64 instruction decoder (``x86_step``) over CODE
  regions: the *phase* of the next byte (instruction start, after a prefix,
  second/third opcode byte, VEX payload, ModRM, SIB, displacement, immediate),
  the current opcode (with its map), ModRM byte, the offset inside an operand,
  and the opcodes of the previous instructions.  It follows the same length
  rules as ``x86_kernels.decode_kernel`` (tests check they agree), but consumes
  one byte at a time, so the state before a byte never depends on that byte;
* a record-length detector (repeating distances between equal bytes) for
  tables;
* the longest Binary BPE vocabulary token that ends at the previous byte
  (a reversed trie walked back from ``pos - 1``) and the token being extended
  by a left-to-right longest-match walk (causal: no look-ahead).
"""

from __future__ import annotations

import numpy as np

from frappe_cli.coding.cm import engine as E
from frappe_cli.coding.cm.engine import code_byte, hash_combine
from frappe_cli.jit import njit
from squeeze_binary.x86_kernels import disp_length, group3_immk, imm_length, sib_disp_length

# ---- region labels (regions.py) and the label array's flag bit ------------------------
L_UNKNOWN, L_HEADER, L_CODE, L_DATA, L_RODATA, L_SYMBOLS, L_RELOC, L_DEBUG, L_RESOURCE = range(9)
N_LABELS = 9
LAB_START = 16  # set on the first byte of every region (restarts the x86 decoder)

# ---- hashed-context catalogue ----------------------------------------------------------
H_O1, H_O2, H_O3, H_O4, H_O5, H_O6, H_O8, H_O12 = range(8)
H_SP2, H_SP3, H_SP4, H_SP23, H_SP13, H_SP24, H_SP34, H_SP8 = range(8, 16)
H_W4, H_W4B, H_W8 = 16, 17, 18
H_REC1, H_REC2 = 19, 20
H_XA, H_XB, H_XC, H_XD, H_XE, H_XF = 21, 22, 23, 24, 25, 26
H_LO2, H_LO3, H_WORD = 27, 28, 29
H_TOK, H_TOKC, H_TOKP = 30, 31, 32
H_XG, H_XH = 33, 34
N_HCAND = 35
# direct contexts (rows)
D_O0, D_O1, D_O2, D_LO1, D_XS, D_A4, D_XO1 = range(7)
D_ROWS = (1, 256, 65536, N_LABELS * 256, 1 << 16, 1024, 1 << 16)
# mixer selectors (sets)
S_NONE, S_C1, S_LAB, S_XPH, S_LABXPH, S_OP, S_TOKL, S_A4, S_C2 = range(9)
S_SETS = (1, 256, N_LABELS, 16, N_LABELS * 16, 1024, 64, 4 * N_LABELS, 256)
# APM rows
A_C0, A_C1, A_C2H, A_XS, A_LO1 = range(5)
A_ROWS = (1, 256, 1024, 4096, N_LABELS * 256)

# ---- x86 decoder state -----------------------------------------------------------------
# phases of the next byte
P_NONE, P_START, P_PREFIX, P_OP2, P_OP3, P_VCHK, P_VEX, P_VOP = range(8)
P_MODRM, P_SIB, P_DISP, P_IMM = 8, 9, 10, 11
# xs[] layout
X_PH, X_NPRE, X_FL, X_OP, X_OPB, X_IMMK, X_MODRM, X_REM, X_OFF = range(9)
X_LEN, X_POP1, X_POP2, X_POP3, X_MM, X_ISTART, X_MOD, X_PMOD = range(9, 17)
X_SIZE = 17
F_OPS16, F_ADDR16, F_REXW, F_REX = 1, 2, 4, 8


@njit(cache=True, nogil=True)
def _is_prefix(c, mode64):
    if c == 0x66 or c == 0x67 or c == 0xF0 or c == 0xF2 or c == 0xF3 or c == 0x2E \
            or c == 0x36 or c == 0x3E or c == 0x26 or c == 0x64 or c == 0x65:
        return True
    return mode64 and (c & 0xF0) == 0x40


@njit(cache=True, nogil=True)
def _finish(xs):
    """The instruction is complete: the next byte starts a new one."""
    xs[X_POP3] = xs[X_POP2]
    xs[X_POP2] = xs[X_POP1]
    xs[X_POP1] = xs[X_OP]
    xs[X_PMOD] = xs[X_MODRM]
    xs[X_PH] = P_START


@njit(cache=True, nogil=True)
def _enter(xs, ph, ln):
    """The next ``ln`` bytes are an operand of phase ``ph`` (displacement or immediate)."""
    xs[X_PH] = ph
    xs[X_REM] = ln
    xs[X_LEN] = ln
    xs[X_OFF] = 0


@njit(cache=True, nogil=True)
def _go_imm(xs, mode64):
    """After the opcode/ModRM/SIB/displacement: the immediate, if any."""
    immk = xs[X_IMMK]
    fl = xs[X_FL]
    ilen = imm_length(immk, xs[X_OPB], mode64, (fl & F_OPS16) != 0, (fl & F_REXW) != 0,
                      (fl & F_ADDR16) != 0)
    if ilen > 0:
        _enter(xs, P_IMM, ilen)
    else:
        _finish(xs)


@njit(cache=True, nogil=True)
def _go_disp(xs, dl, mode64):
    if dl > 0:
        _enter(xs, P_DISP, dl)
    else:
        _go_imm(xs, mode64)


@njit(cache=True, nogil=True)
def _after_opcode(xs, has_modrm, immk, mode64):
    xs[X_IMMK] = immk
    if has_modrm:
        xs[X_PH] = P_MODRM
    else:
        if immk == 7:
            xs[X_IMMK] = 0
        _go_imm(xs, mode64)


@njit(cache=True, nogil=True)
def _modrm(xs, m, mode64):
    xs[X_MODRM] = m
    mod = m >> 6
    rm = m & 7
    xs[X_MOD] = mod
    if xs[X_IMMK] == 7:  # F6/F7 group: TEST (/0, /1) has an immediate
        xs[X_IMMK] = group3_immk(xs[X_OPB], m)
    addr16 = not mode64 and (xs[X_FL] & F_ADDR16) != 0
    if not addr16 and mod != 3 and rm == 4:
        xs[X_PH] = P_SIB
        return
    _go_disp(xs, disp_length(mod, rm, addr16), mode64)


@njit(cache=True, nogil=True)
def _start_vex(xs, opb):
    xs[X_PH] = P_VEX
    xs[X_REM] = 1 if opb == 0xC5 else (2 if opb == 0xC4 else 3)
    xs[X_OFF] = 0
    xs[X_MM] = 1


@njit(cache=True, nogil=True)
def _vex_byte(xs, c):
    """One VEX/EVEX payload byte (the first one carries the opcode map)."""
    if xs[X_OFF] == 0 and xs[X_OPB] != 0xC5:
        xs[X_MM] = c & (0x1F if xs[X_OPB] == 0xC4 else 0x07)
    xs[X_OFF] += 1
    xs[X_REM] -= 1
    if xs[X_REM] == 0:
        xs[X_PH] = P_VOP


@njit(cache=True, nogil=True)
def x86_step(xs, c, pos, mode64, modrm1, imm1, modrm2, imm2):
    """Advance the decoder state ``xs`` over byte ``c`` (at ``pos``)."""
    ph = xs[X_PH]
    if ph == P_START or ph == P_PREFIX:
        if ph == P_START:
            xs[X_NPRE] = 0
            xs[X_FL] = 0
            xs[X_ISTART] = pos
            xs[X_MODRM] = -1
            xs[X_MOD] = 0
        npre = xs[X_NPRE]
        if npre < 14 and _is_prefix(c, mode64):
            fl = xs[X_FL]
            if c == 0x66:
                fl |= F_OPS16
            elif c == 0x67:
                fl |= F_ADDR16
            elif mode64 and (c & 0xF0) == 0x40:
                fl |= F_REX
                if c & 8:
                    fl |= F_REXW
                else:
                    fl &= ~F_REXW
            xs[X_FL] = fl
            xs[X_NPRE] = npre + 1
            xs[X_PH] = P_PREFIX
            return
        xs[X_OPB] = c
        if c == 0x0F:
            xs[X_OP] = 0x100
            xs[X_PH] = P_OP2
            return
        if c == 0xC4 or c == 0xC5 or c == 0x62:
            xs[X_OP] = c
            if mode64:
                _start_vex(xs, c)
            else:
                xs[X_PH] = P_VCHK
            return
        xs[X_OP] = c
        _after_opcode(xs, modrm1[c] != 0, np.int64(imm1[c]), mode64)
    elif ph == P_OP2:
        if c == 0x38:
            xs[X_OP] = 0x200
            xs[X_IMMK] = 0
            xs[X_PH] = P_OP3
        elif c == 0x3A:
            xs[X_OP] = 0x300
            xs[X_IMMK] = 1
            xs[X_PH] = P_OP3
        else:
            xs[X_OP] = 0x100 | c
            _after_opcode(xs, modrm2[c] != 0, np.int64(imm2[c]), mode64)
    elif ph == P_OP3:
        xs[X_OP] = (xs[X_OP] & 0x300) | c
        _after_opcode(xs, True, xs[X_IMMK], mode64)
    elif ph == P_VCHK:
        opb = xs[X_OPB]
        if (c & 0xC0) == 0xC0:
            _start_vex(xs, opb)
            _vex_byte(xs, c)
        else:  # LES / LDS / BOUND: this byte is the ModRM
            xs[X_IMMK] = imm1[opb]
            _modrm(xs, c, mode64)
    elif ph == P_VEX:
        _vex_byte(xs, c)
    elif ph == P_VOP:
        opb = xs[X_OPB]
        mm = xs[X_MM]
        has_modrm = True
        immk = 0
        if opb == 0xC5:
            immk = 1 if imm2[c] == 1 else 0
            has_modrm = c != 0x77
        elif mm == 3:
            immk = 1
        elif mm == 1:
            immk = 1 if imm2[c] == 1 else 0
            if opb == 0xC4 and c == 0x77:
                has_modrm = False
        xs[X_OP] = 0x400 | ((mm & 3) << 8) | c
        _after_opcode(xs, has_modrm, immk, mode64)
    elif ph == P_MODRM:
        _modrm(xs, c, mode64)
    elif ph == P_SIB:
        _go_disp(xs, sib_disp_length(xs[X_MOD], c), mode64)
    elif ph == P_DISP or ph == P_IMM:
        xs[X_OFF] += 1
        xs[X_REM] -= 1
        if xs[X_REM] == 0:
            if ph == P_DISP:
                _go_imm(xs, mode64)
            else:
                _finish(xs)


@njit(cache=True, nogil=True)
def x86_reset(xs, code):
    """Start of a region: CODE starts a fresh instruction, anything else stops decoding."""
    xs[X_PH] = P_START if code else P_NONE
    xs[X_POP1] = 0
    xs[X_POP2] = 0
    xs[X_POP3] = 0
    xs[X_PMOD] = -1
    xs[X_MODRM] = -1
    xs[X_OP] = 0


@njit(cache=True, nogil=True)
def x86_phases(buf, lab, mode64, modrm1, imm1, modrm2, imm2):
    """Phase of every byte (tests: agreement with ``x86_kernels.decode_kernel``)."""
    n = buf.shape[0]
    out = np.zeros(n, dtype=np.uint8)
    xs = np.zeros(X_SIZE, dtype=np.int64)
    for pos in range(n):
        if lab[pos] & LAB_START:
            x86_reset(xs, (lab[pos] & 15) == L_CODE)
        out[pos] = xs[X_PH]
        if xs[X_PH] != P_NONE:
            x86_step(xs, np.int64(buf[pos]), pos, mode64, modrm1, imm1, modrm2, imm2)
    return out


# ---- Binary BPE vocabulary walks -------------------------------------------------------
@njit(cache=True, nogil=True)
def _trie_child(keys, vals, node, b):
    """Child of ``node`` by byte ``b`` in an open-addressing table, or -1."""
    key = node * 256 + b + 1
    mask = keys.shape[0] - 1
    i = ((key * 0x9E3779B97F4A7C15) >> 40) & mask
    while True:
        k = keys[i]
        if k == key:
            return np.int64(vals[i])
        if k == 0:
            return np.int64(-1)
        i = (i + 1) & mask


@njit(cache=True, nogil=True)
def build_trie(off, blob, vocab, reverse):
    """Trie of the vocabulary's token byte strings (reversed ones if ``reverse``).

    Returns (keys int64, vals int32, tok int32 per node: token id ending there or -1).
    """
    total = 0
    for t in range(vocab):
        total += off[t + 1] - off[t]
    cap = 1
    while cap < 2 * (total + 16):
        cap *= 2
    keys = np.zeros(cap, dtype=np.int64)
    vals = np.zeros(cap, dtype=np.int32)
    tok = np.full(total + 1, -1, dtype=np.int32)
    mask = cap - 1
    nodes = 1
    for t in range(vocab):
        a = off[t]
        ln = off[t + 1] - a
        node = np.int64(0)
        for j in range(ln):
            b = np.int64(blob[a + ln - 1 - j]) if reverse else np.int64(blob[a + j])
            key = node * 256 + b + 1
            i = ((key * 0x9E3779B97F4A7C15) >> 40) & mask
            while keys[i] != 0 and keys[i] != key:
                i = (i + 1) & mask
            if keys[i] == 0:
                keys[i] = key
                vals[i] = nodes
                nodes += 1
            node = np.int64(vals[i])
        tok[node] = t
    return keys, vals, tok[:nodes].copy()


@njit(cache=True, nogil=True)
def pair_table(keys, vals):
    """Node of a trie after two steps ``b1`` then ``b2``, at ``b1 * 256 + b2`` (-1: none)."""
    out = np.full(65536, -1, dtype=np.int32)
    if keys.shape[0] == 0:
        return out
    for b1 in range(256):
        n1 = _trie_child(keys, vals, np.int64(0), np.int64(b1))
        if n1 < 0:
            continue
        for b2 in range(256):
            out[b1 * 256 + b2] = _trie_child(keys, vals, n1, np.int64(b2))
    return out


# ---- the model -------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def exe_code(buf, n, out, inp, enc, M, ac, rec, hid, did, mid, fid, aid, lab, mode64,
             modrm1, imm1, modrm2, imm2, rkeys, rvals, rtok, rpair, fkeys, fvals, ftok):
    """Encode ``buf[:n]`` into ``out`` (``enc`` 1) or decode ``inp`` into ``buf[:n]``.

    ``hid``/``did``/``mid``/``aid``: catalogue ids of the level's hashed contexts,
    direct contexts, layer-1 mixer selectors and APM rows, ``fid`` the final
    mixer's selector (the CM runtime's calling convention, ``cm.runtime``);
    ``lab``: region label of every byte (| LAB_START on a region's first byte);
    ``mode64``: x86-64 (1) or 32-bit (0) instruction decoding in CODE regions;
    ``modrm1``..``imm2``: the x86 length tables; ``r*``/``f*``:
    reversed and forward vocabulary tries (empty when the level uses no token
    context); ``rpair``: the reversed trie's node after two steps, by
    ``last byte * 256 + the byte before`` (-1: none; ``pair_table``).  Returns the
    encoder's byte count (-1: output overflow) or, decoding, 0 (clean end), -1 (the
    stream did not end where it should), -2 (input ran out).
    """
    nh, nd, nm, na, ctx, need = E.context_slots(hid, did, mid, aid, N_HCAND)
    use_rtok = rkeys.shape[0] > 0 and (need[H_TOK] or need[H_TOKC])
    use_ftok = fkeys.shape[0] > 0 and need[H_TOKP]
    xs = np.zeros(X_SIZE, dtype=np.int64)
    x86_reset(xs, False)
    cpos = np.zeros(4 * 256, dtype=np.int64)  # last 4 positions of each byte value
    E.coder_start(ac, out, inp, enc)
    c4 = np.int64(0)
    c8 = np.int64(0)
    w0 = np.int64(0)  # hash of the current identifier-like run
    rlen = 0  # detected record length
    rcand = 0
    rcnt = 0
    tok = np.int64(0)  # longest token ending before pos, and its length
    tlen = 0
    fnode = np.int64(0)  # forward walk: the token being extended
    flen = 0
    cur = 0
    for pos in range(n):
        lb = np.int64(lab[pos])
        if lb & LAB_START:
            x86_reset(xs, (lb & 15) == L_CODE)
        lb &= 15
        c1 = c4 & 255
        c2 = (c4 >> 8) & 255
        c3 = (c4 >> 16) & 255
        ph = xs[X_PH]
        op = xs[X_OP]
        # compact x86 state of the next byte: phase, operand offset, ModRM (when known)
        xoff = xs[X_OFF] if (ph == P_DISP or ph == P_IMM or ph == P_VEX) else 0
        xst = ph * 16 + min(xoff, 7) * 2 + (1 if ph == P_IMM else 0)
        mrm = xs[X_MODRM] if (ph == P_SIB or ph == P_DISP or ph == P_IMM) else -1
        if use_rtok:
            tok = np.int64(c1)
            tlen = 1
            if pos >= 2:
                # the first two steps of the backward walk from a direct table
                node = np.int64(rpair[c1 * 256 + c2])
                if node >= 0:
                    t = rtok[node]
                    if t >= 0:
                        tok = np.int64(t)
                        tlen = 2
                    for k in range(3, min(pos, 16) + 1):
                        node = _trie_child(rkeys, rvals, node, np.int64(buf[pos - k]))
                        if node < 0:
                            break
                        t = rtok[node]
                        if t >= 0:
                            tok = np.int64(t)
                            tlen = k
        r1 = np.int64(0)
        r2 = np.int64(0)
        if rlen > 0 and pos >= 2 * rlen:
            r1 = np.int64(buf[pos - rlen])
            r2 = np.int64(buf[pos - 2 * rlen])
        k = 0
        for i in range(nh):
            h = hid[i]
            if h <= H_O6:  # orders 1..6
                v = E.order_hash(h - H_O1 + 1, c4, c8)
            elif h == H_O8:
                v = E.order_hash(8, c4, c8)
            elif h == H_O12:
                v = E.tail_hash(buf, pos, 12, 12)
            elif h == H_SP2:
                v = hash_combine(9, c2)
            elif h == H_SP3:
                v = hash_combine(10, c3)
            elif h == H_SP4:
                v = hash_combine(11, c4 >> 24)
            elif h == H_SP23:
                v = hash_combine(12, (c4 >> 8) & 0xFFFF)
            elif h == H_SP13:
                v = hash_combine(13, c1 | (c3 << 8))
            elif h == H_SP24:
                v = hash_combine(14, c2 | ((c4 >> 16) & 0xFF00))
            elif h == H_SP34:
                v = hash_combine(15, (c4 >> 16) & 0xFFFF)
            elif h == H_SP8:
                v = hash_combine(hash_combine(16, c8 >> 24), c1)
            elif h == H_W4:
                v = hash_combine(hash_combine(17, pos & 3), c4 & 0xFFFF)
            elif h == H_W4B:
                v = hash_combine(hash_combine(18, pos & 3), (c4 >> 24) | (c1 << 8))
            elif h == H_W8:
                v = hash_combine(hash_combine(19, pos & 7), c4 & 0xFFFF)
            elif h == H_REC1:
                v = hash_combine(hash_combine(20, rlen), r1 | (r2 << 8))
            elif h == H_REC2:
                v = hash_combine(hash_combine(21, rlen), r1 | (c1 << 8))
            elif h == H_XA:
                v = hash_combine(hash_combine(22, xst), op | (mrm << 12))
            elif h == H_XB:
                v = hash_combine(hash_combine(hash_combine(23, xst), op | (mrm << 12)), c1)
            elif h == H_XC:
                v = hash_combine(hash_combine(24, xst), op | (xs[X_POP1] << 12))
            elif h == H_XD:
                v = hash_combine(hash_combine(25, xst), op | (xs[X_POP1] << 12)
                                 | (xs[X_POP2] << 24))
            elif h == H_XE:
                v = hash_combine(hash_combine(26, xst), op | (c4 & 0xFFFF) << 12)
            elif h == H_XF:
                v = hash_combine(hash_combine(27, xst), op | (xs[X_PMOD] << 12)
                                 | (xs[X_POP1] << 24))
            elif h == H_XG:
                v = hash_combine(hash_combine(34, xst), op | (xs[X_POP1] << 12)
                                 | (xs[X_POP2] << 24) | (xs[X_POP3] << 36))
            elif h == H_XH:
                v = hash_combine(hash_combine(35, xst), (c4 & 0xFFFFFF) | (mrm << 24))
            elif h == H_LO2:
                v = hash_combine(hash_combine(28, lb), c4 & 0xFFFF)
            elif h == H_LO3:
                v = hash_combine(hash_combine(29, lb), c4 & 0xFFFFFF)
            elif h == H_WORD:
                v = hash_combine(hash_combine(30, w0), c1 if w0 == 0 else 0)
            elif h == H_TOK:
                v = hash_combine(hash_combine(31, tok), tlen)
            elif h == H_TOKC:
                v = hash_combine(hash_combine(32, tok), (c8 << 32 | c4) >> (8 * tlen)
                                 & 0xFFFF if tlen < 8 else 0)
            else:  # H_TOKP
                v = hash_combine(hash_combine(33, fnode), flen)
            ctx[k] = v
            k += 1
        for i in range(nd):
            d = did[i]
            if d == D_O0:
                v = 0
            elif d == D_O1:
                v = c1
            elif d == D_O2:
                v = c4 & 0xFFFF
            elif d == D_LO1:
                v = lb * 256 + c1
            elif d == D_XS:
                v = ((xst & 0xFF) << 8) | (op & 0xFF) if ph != P_NONE else c1
            elif d == D_A4:
                v = (pos & 3) * 256 + c1
            else:  # D_XO1
                v = ((op & 0xFF) << 8 | c1) if ph != P_NONE else 0
            ctx[k] = v
            k += 1
        # mixer selectors (S_*): alike in shape to engine.code_byte's switch over the
        # bit-level part of a mixer's row (SEL_*), not a copy: other inputs, other values
        for i in range(nm + 1):
            s = mid[i] if i < nm else fid
            v = 0
            if s == S_C1:
                v = c1
            elif s == S_LAB:
                v = lb
            elif s == S_XPH:
                v = ph
            elif s == S_LABXPH:
                v = lb * 16 + ph
            elif s == S_OP:
                v = (op & 0x3FF) if ph != P_NONE else c1
            elif s == S_TOKL:
                v = min(tlen, 15) * 4 + min(flen, 3)
            elif s == S_A4:
                v = lb * 4 + (pos & 3)
            elif s == S_C2:
                v = c2
            ctx[k] = v
            k += 1
        for i in range(na):
            a = aid[i]
            v = 0
            if a == A_C1:
                v = c1
            elif a == A_C2H:
                v = ((c4 & 0xFFFF) * 0x9E3779B1 >> 18) & 1023
            elif a == A_XS:
                v = (xst * 16 + (op & 15)) & 4095 if ph != P_NONE else 4000 + lb
            elif a == A_LO1:
                v = lb * 256 + c1
            ctx[k] = v
            k += 1
        c = code_byte(M, ac, out, inp, buf, pos, ctx, enc, rec, pos * 8)
        if not enc and E.decoder_overran(ac, inp):
            return -2
        cur = c
        # ---- the model's own state
        if ph != P_NONE:
            x86_step(xs, np.int64(cur), pos, mode64, modrm1, imm1, modrm2, imm2)
        c8 = ((c8 << 8) | (c4 >> 24)) & 0xFFFFFFFF
        c4 = ((c4 << 8) | cur) & 0xFFFFFFFF
        if (48 <= cur <= 57) or (65 <= cur <= 90) or (97 <= cur <= 122) or cur == 95:
            w0 = hash_combine(w0, cur)
        else:
            w0 = np.int64(0)
        # record length: the same byte value at three equal distances
        p1 = cpos[cur]
        p2 = cpos[256 + cur]
        p3 = cpos[512 + cur]
        r = pos - p1
        if r > 1 and r <= 4096 and r == p1 - p2 and r == p2 - p3:
            if r == rcand:
                rcnt += 1
                if rcnt >= 2 and r != rlen:
                    rlen = r
            else:
                rcand = r
                rcnt = 1
        cpos[768 + cur] = p3
        cpos[512 + cur] = p2
        cpos[256 + cur] = p1
        cpos[cur] = pos
        if use_ftok:
            nx = _trie_child(fkeys, fvals, fnode, np.int64(cur)) if flen < 16 else -1
            if nx < 0:
                fnode = _trie_child(fkeys, fvals, np.int64(0), np.int64(cur))
                flen = 1
            else:
                fnode = nx
                flen += 1
    return E.coder_finish(ac, out, inp, enc)
