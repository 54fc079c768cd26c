"""numba kernels of the x86 branch-target transform (see x86.py for the design)."""

from __future__ import annotations

import numpy as np

from frappe_cli.jit import njit

MASK25 = (1 << 25) - 1
SIGN25 = 1 << 24


@njit(cache=True, nogil=True, inline="always")
def _convertible(buf, k):
    """The rel32 at buf[k:k+4] is a 25-bit signed value (its top byte is 00 or FF)."""
    top = buf[k + 3]
    return top == 0 or top == 255


@njit(cache=True, nogil=True, inline="always")
def _convert(buf, k, nxt, sign):
    """rel32 <-> absolute target, modulo 2**25, sign-extended (a bijection of 25-bit values)."""
    v = np.int64(buf[k]) | (np.int64(buf[k + 1]) << 8) | (np.int64(buf[k + 2]) << 16) \
        | (np.int64(buf[k + 3]) << 24)
    v = (v + sign * nxt) & MASK25
    if v & SIGN25:
        v |= np.int64(0xFE000000)
    buf[k] = v & 255
    buf[k + 1] = (v >> 8) & 255
    buf[k + 2] = (v >> 16) & 255
    buf[k + 3] = (v >> 24) & 255


@njit(cache=True, nogil=True)
def x86_kernel(buf, start, end, base, sign, jcc, mask):
    """Transform buf[start:end] in place (sign +1 forward, -1 inverse).

    ``base`` is the address of buf[start].  When ``mask`` has a length, the bytes of
    every converted operand are flagged in it (1 = E8/E9 operand, 2 = Jcc operand).
    Returns the number of converted operands.
    """
    i = start
    n = 0
    flag = mask.shape[0] > 0
    while i < end:
        c = buf[i]
        if c == 0xE8 or c == 0xE9:
            # deliberate copy of the Jcc branch below with other offsets (numba: one
            # loop for both opcodes, or an inlined helper, cost the transform 11-20 % CPU)
            if i + 5 > end:
                break
            if _convertible(buf, i + 1):
                _convert(buf, i + 1, base + (i - start) + 5, sign)
                if flag:
                    for j in range(i + 1, i + 5):
                        mask[j] = 1
                n += 1
                i += 5
            else:
                # the decision read byte i+4: no operand may cover it, so the next
                # candidate opcode is i+4 (the inverse then sees the same byte)
                i += 4
            continue
        if jcc and c == 0x0F and i + 1 < end and (buf[i + 1] & 0xF0) == 0x80:
            # deliberate copy of the E8/E9 branch above with other offsets (see there)
            if i + 6 > end:
                break
            if _convertible(buf, i + 2):
                _convert(buf, i + 2, base + (i - start) + 6, sign)
                if flag:
                    for j in range(i + 2, i + 6):
                        mask[j] = 2
                n += 1
                i += 6
            else:
                i += 5  # byte i+5 was read: same reasoning
            continue
        i += 1
    return n


# --------------------------------------------------------------------------------------
# x86 instruction length decoder (linear sweep), for model contexts

ROLE_NONE, ROLE_PREFIX, ROLE_OPCODE, ROLE_MODRM, ROLE_SIB, ROLE_DISP, ROLE_IMM = range(7)


def _tables():
    """(modrm[256], imm[256]) for one-byte opcodes; imm codes: 0 none, 1 imm8, 2 imm16,
    3 immz (2/4 by operand size), 4 immz-or-imm64 (B8-BF with REX.W), 5 moffs (address
    size), 6 imm16+imm8 (ENTER), 7 F6/F7 group (imm only for /0 and /1; 8 or z),
    8 far pointer (z + 2)."""
    modrm = np.zeros(256, np.uint8)
    imm = np.zeros(256, np.uint8)
    for base in range(0, 0x40, 8):
        for k in range(4):
            modrm[base + k] = 1
        imm[base + 4] = 1
        imm[base + 5] = 3
    modrm[[0x62, 0x63, 0x69, 0x6B, 0xC4, 0xC5, 0xC6, 0xC7, 0xC0, 0xC1, 0xD0, 0xD1, 0xD2, 0xD3,
           0xF6, 0xF7, 0xFE, 0xFF]] = 1
    modrm[0x80:0x90] = 1
    modrm[0xD8:0xE0] = 1
    imm[[0x6A, 0x6B, 0x80, 0x82, 0x83, 0xA8, 0xC0, 0xC1, 0xC6, 0xCD, 0xD4, 0xD5, 0xE0, 0xE1, 0xE2,
         0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xEB]] = 1
    imm[0x70:0x80] = 1
    imm[0xB0:0xB8] = 1
    imm[[0x68, 0x69, 0x81, 0xA9, 0xC7, 0xE8, 0xE9]] = 3
    imm[0xB8:0xC0] = 4
    imm[0xA0:0xA4] = 5
    imm[0xC2] = 2
    imm[0xCA] = 2
    imm[0xC8] = 6
    imm[0xF6] = 7
    imm[0xF7] = 7
    imm[0x9A] = 8
    imm[0xEA] = 8
    # two-byte map 0F xx: ModRM for all but these; imm8 for a few
    modrm2 = np.ones(256, np.uint8)
    modrm2[[0x05, 0x06, 0x07, 0x08, 0x09, 0x0B, 0x0E, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x37,
            0x77, 0xA0, 0xA1, 0xA2, 0xA8, 0xA9, 0xAA]] = 0
    modrm2[0x80:0x90] = 0
    modrm2[0xC8:0xD0] = 0
    imm2 = np.zeros(256, np.uint8)
    imm2[[0x70, 0x71, 0x72, 0x73, 0xA4, 0xAC, 0xBA, 0xC2, 0xC4, 0xC5, 0xC6, 0x0F]] = 1
    imm2[0x80:0x90] = 3
    return modrm, imm, modrm2, imm2


MODRM1, IMM1, MODRM2, IMM2 = _tables()


@njit(cache=True, nogil=True)
def imm_length(immk, op, mode64, opsize16, rexw, addr_small):
    """Bytes of the immediate of an instruction whose opcode has immediate kind ``immk``.

    Kinds: 0/7 none (7 = F6/F7 without TEST), 1 imm8, 2 imm16, 3 imm16/32 (rel32
    for E8/E9/0F jumps in 64-bit mode), 4 imm16/32/64 (REX.W MOV), 5 moffs
    (address size), 6 imm16+imm8 (ENTER), 8 ptr16:16/32 (far).  Shared by the
    linear-sweep decoder below and the exe codec's byte-at-a-time decoder.
    """
    zsize = 2 if opsize16 else 4
    if immk == 1:
        return 1
    if immk == 2:
        return 2
    if immk == 3:
        return 4 if (mode64 and (op == 0xE8 or op == 0xE9 or op == 0x0F)) else zsize
    if immk == 4:
        return 8 if rexw else zsize
    if immk == 5:
        return (4 if addr_small else 8) if mode64 else (2 if addr_small else 4)
    if immk == 6:
        return 3
    if immk == 8:
        return zsize + 2
    return 0


@njit(cache=True, nogil=True)
def disp_length(mod, rm, addr16):
    """Displacement bytes of a ModRM byte (mod, rm), a SIB's aside (``sib_disp_length``).

    ``addr16``: 16-bit addressing (32-bit mode with the 0x67 prefix); otherwise
    rm 4 with mod != 3 means a SIB byte follows.  Shared by the linear-sweep decoder
    below and the exe codec's byte-at-a-time decoder.
    """
    if mod == 1:
        return 1
    if mod == 2:
        return 2 if addr16 else 4
    if mod == 0:
        if addr16:
            return 2 if rm == 6 else 0
        return 4 if rm == 5 else 0
    return 0


@njit(cache=True, nogil=True)
def sib_disp_length(mod, sib):
    """Displacement bytes of a ModRM byte with mode ``mod`` followed by SIB byte ``sib``."""
    if mod == 0 and (sib & 7) == 5:
        return 4
    return disp_length(mod, 4, False)


@njit(cache=True, nogil=True)
def group3_immk(op, m):
    """The immediate kind of F6/F7 (kind 7) with ModRM ``m``: only TEST (/0, /1) has one."""
    if ((m >> 3) & 7) < 2:
        return 1 if op == 0xF6 else 3
    return 0


@njit(cache=True, nogil=True)
def decode_kernel(buf, start, end, mode64, starts, roles, modrm1, imm1, modrm2, imm2):
    """Linear-sweep length decoding of buf[start:end]; fills starts (1 at the first byte of
    every instruction) and roles (ROLE_*).  Undecodable bytes count as one-byte
    instructions.  Returns the number of instructions."""
    i = start
    count = 0
    while i < end:
        j = i
        opsize16 = False
        addr_small = False
        rexw = False
        npre = 0
        # legacy prefixes, then REX (64-bit mode)
        while j < end and npre < 14:
            c = buf[j]
            if c == 0x66:
                opsize16 = True
            elif c == 0x67:
                addr_small = True
            elif c == 0xF0 or c == 0xF2 or c == 0xF3 or c == 0x2E or c == 0x36 or c == 0x3E \
                    or c == 0x26 or c == 0x64 or c == 0x65:
                pass
            elif mode64 and (c & 0xF0) == 0x40:
                rexw = (c & 8) != 0
            else:
                break
            j += 1
            npre += 1
        if j >= end:
            for k in range(i, end):
                roles[k] = ROLE_PREFIX
            starts[i] = 1
            count += 1
            break
        op = buf[j]
        has_modrm = False
        immk = 0  # imm code (see _tables); for maps: 1 imm8, 3 immz
        op_end = j + 1
        if op == 0x0F:
            if j + 1 >= end:
                op_end = end
            else:
                op2 = buf[j + 1]
                if op2 == 0x38:
                    has_modrm = True
                    op_end = j + 3
                elif op2 == 0x3A:
                    has_modrm = True
                    immk = 1
                    op_end = j + 3
                else:
                    has_modrm = modrm2[op2] != 0
                    immk = imm2[op2]
                    op_end = j + 2
        elif (op == 0xC4 or op == 0xC5 or op == 0x62) and j + 1 < end and \
                (mode64 or (buf[j + 1] & 0xC0) == 0xC0):
            has_modrm = True
            if op == 0xC5:
                op_end = j + 3
                if j + 2 < end:
                    immk = imm2[buf[j + 2]] if imm2[buf[j + 2]] == 1 else 0
                    has_modrm = buf[j + 2] != 0x77  # vzeroupper/vzeroall: no ModRM
            else:
                nb = 4 if op == 0xC4 else 5  # prefix bytes incl. opcode
                op_end = j + nb
                mm = buf[j + 1] & (0x1F if op == 0xC4 else 0x07)
                if mm == 3:
                    immk = 1
                elif mm == 1 and j + nb - 1 < end:
                    o2 = buf[j + nb - 1]
                    immk = 1 if imm2[o2] == 1 else 0
                    if op == 0xC4 and o2 == 0x77:
                        has_modrm = False
        else:
            has_modrm = modrm1[op] != 0
            immk = imm1[op]
        op_end = min(op_end, end)
        k = op_end
        # ModRM / SIB / displacement
        modrm_pos = -1
        sib_pos = -1
        disp_start = k
        disp_len = 0
        if has_modrm and k < end:
            m = buf[k]
            modrm_pos = k
            k += 1
            mod = m >> 6
            rm = m & 7
            addr16 = not mode64 and addr_small
            if not addr16 and mod != 3 and rm == 4 and k < end:
                sib_pos = k
                disp_len = sib_disp_length(mod, buf[k])
                k += 1
            else:
                disp_len = disp_length(mod, rm, addr16)
            disp_start = k
            k += disp_len
            if immk == 7:
                immk = group3_immk(op, m)
        elif immk == 7:
            immk = 0
        ilen = imm_length(immk, op, mode64, opsize16, rexw, addr_small)
        imm_start = k
        k += ilen
        k = min(k, end)
        # roles
        for t in range(i, min(j, end)):
            roles[t] = ROLE_PREFIX
        for t in range(j, min(op_end, k)):
            roles[t] = ROLE_OPCODE
        if modrm_pos >= 0 and modrm_pos < k:
            roles[modrm_pos] = ROLE_MODRM
        if sib_pos >= 0 and sib_pos < k:
            roles[sib_pos] = ROLE_SIB
        for t in range(disp_start, min(disp_start + disp_len, k)):
            roles[t] = ROLE_DISP
        for t in range(imm_start, min(imm_start + ilen, k)):
            roles[t] = ROLE_IMM
        starts[i] = 1
        count += 1
        i = k
    return count
