"""The context-mixing engine: one byte coded bit by bit from a model configuration's contexts.

See README.md beside this file for the API a model configuration uses.  In short:
a configuration builds a ``Model`` once (``new_model(spec)``), and its own
top-level ``@njit`` loop computes, for every byte, an int64 context array
``ctx`` (layout below) and calls ``code_byte``.  Everything that adapts --
bit-history states, state->probability maps, the match model, the two-layer
gated mixer, the APM/SSE stages and the arithmetic coder -- lives here, once.

``ctx`` layout for one byte (``spec`` fixes the counts):

* ``ctx[0:nh]``          hashed contexts: any int64 per context (the
                          configuration mixes the context's identity in, e.g.
                          ``hash(order, bytes)``); the engine hashes it again with
                          the partial byte at each nibble.
* ``ctx[nh:nh+nd]``      direct contexts: an index in ``[0, rows_j)``; the state
                          lives at ``rows_j x 256`` in a direct table.
* ``ctx[nh+nd:+nm]``     layer-1 mixer selectors: an index in ``[0, sets_m)``
                          (combined with the bit-level part the spec names).
* next 1                 the final mixer's selector.
* next ``na``            APM contexts: an index in ``[0, rows_a)``; the engine
                          adds the partial byte.

All indices are clamped into range, so a configuration bug can never write out
of bounds (it only costs compression).  Every quantity that feeds a
probability is an integer: the decoder reproduces the encoder exactly.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from frappe_cli.coding.binary_ac import (
    FINAL_OVERRUN,
    OVERFLOW,
    POS,
    STATE_SIZE,
    decode_bit,
    encode_bit,
    flush,
    init_decoder,
    init_encoder,
)
from frappe_cli.coding.cm import tables

# ---- spec / cfg layout (int64 array) ---------------------------------------------
C_NH = 0  # hashed contexts
C_HBITS = 1  # log2 of the hashed table's 16-byte slots
C_ND = 2  # direct contexts
C_NM = 3  # layer-1 mixers
C_NA = 4  # APMs
C_NI = 5  # mixer inputs (derived)
C_SMLIMIT = 6  # state-map count limit (adaptation rate floor 1/(limit+1.5))
C_MMBITS = 7  # match-model hash table bits (0: no match model)
C_MMMIN = 8  # match model minimum length
C_LR = 9  # initial mixer learning rate
C_LRMIN = 10  # final mixer learning rate
C_LRHALF = 11  # bytes after which the rate is halfway between the two
C_FLR = 12  # final-mixer learning rate
C_APMRATE = 13  # APM update shift
C_WMIX = 14  # weight of the mixer output in the final average (of 16)
C_PMIN = 15  # clamp of the final probability (16-bit units)
C_FSETS = 16  # final mixer selector sets
C_FBITS = 17  # final mixer selector bit-level kind
C_NCTX = 18  # length of the ctx array (derived)
C_NX = 19  # extra inputs per hashed context (0, 1, 2)
C_RUN = 20  # 1: byte-run model per hashed context (one more input each)
CFG_SIZE = 24

# ---- registers (int64 array) -----------------------------------------------------
R_MPTR = 0
R_MLEN = 1
R_NBYTES = 2
R_LR = 3
R_MISS = 4
REG_SIZE = 8

# bit-level selector kinds for mixers
SEL_NONE, SEL_C0, SEL_BITPOS, SEL_MATCH, SEL_HITS = 0, 1, 2, 3, 4
SEL_MULT = (1, 256, 8, 16, 16)

Model = namedtuple(
    "Model",
    [
        "cfg",  # int64 [CFG_SIZE]
        "reg",  # int64 [REG_SIZE]
        "ht",  # uint8 [64 << hbits] hashed lines (see LINE)
        "rsm",  # int32 [nh, 64] run model maps: count bucket * 2 + expected bit
        "dt",  # uint8 [sum rows * 256] direct state tables
        "dinfo",  # int64 [nd, 2]: offset, rows
        "sm",  # int32 [nh + nd, 256] state -> p22 << 9 | count
        "mmsm",  # int32 [64] match state map
        "mmtab",  # int32 [1 << mmbits] last position of each hashed context
        "w",  # int32 [total sets, ni] layer-1 weights (16.16)
        "minfo",  # int64 [nm, 3]: offset, sets, bit-level kind
        "wf",  # int32 [fsets, nm + 1] final-layer weights
        "apm",  # uint16 [total rows * 256 * 33] 16-bit probabilities
        "ainfo",  # int64 [na, 3]: offset, rows, final weight (of 16)
        "nex",  # uint8 [256, 2] state transitions
        "prio",  # int32 [256]
        "det",  # int32 [256] 1 for deterministic states (only one bit value seen)
        "stretch",  # int32 [4096]
        "squash",  # int32 [8191]
        "rec",  # int32 [65536] reciprocal table for state maps
        "x",  # int32 [ni] inputs of the current bit
        "sidx",  # int64 [nh + nd] where each context's state byte lives
        "sst",  # int64 [nh + nd] the state read
        "slot",  # int64 [nh] slot base offset for the current nibble
        "slot0",  # int64 [nh] the byte's first-nibble slot (run model)
        "rinfo",  # int64 [nh] run byte | count << 8 for this byte
        "rctx",  # int64 [nh] run-map entry in use (-1: none)
        "dots",  # int64 [nm + 1] mixer outputs (stretch domain)
        "sel",  # int64 [nm + 1] weight rows in use
        "aidx",  # int64 [na] APM entries in use
    ],
)


def _aligned_zeros(nbytes: int, align: int = 64) -> np.ndarray:
    raw = np.zeros(nbytes + align, dtype=np.uint8)
    off = (-raw.ctypes.data) % align
    return raw[off : off + nbytes]


def model_memory(spec: dict) -> int:
    """Bytes a model built from ``spec`` allocates (tables dominate)."""
    nh = len(spec["hashed"]) if isinstance(spec["hashed"], (list, tuple)) else spec["hashed"]
    ni = nh * (1 + spec.get("extra_inputs", 0) + spec.get("run", 0)) + len(spec["direct"]) + 3
    total = (LINE << spec["hash_bits"]) + 256 * sum(spec["direct"])
    total += 4 * ((1 << spec["match_bits"]) if spec["match_bits"] else 1)
    total += 4 * ni * sum(s * SEL_MULT[k] for s, k in spec["mixers"])
    total += 2 * 33 * 256 * sum(r for r, _ in spec["apms"])
    return total + (1 << 20)


def new_model(spec: dict) -> Model:
    """Allocate a fresh model for ``spec`` (a dict; see README.md)."""
    st = tables.state_tables()
    nh = int(spec["hashed"])
    direct = [int(r) for r in spec["direct"]]
    nd = len(direct)
    mixers = [(int(s), int(k)) for s, k in spec["mixers"]]
    nm = len(mixers)
    apms = [(int(r), int(wt)) for r, wt in spec["apms"]]
    na = len(apms)
    nx = int(spec.get("extra_inputs", 0))
    run = int(spec.get("run", 0))
    ni = nh * (1 + nx + run) + nd + 3
    cfg = np.zeros(CFG_SIZE, dtype=np.int64)
    cfg[C_NH] = nh
    cfg[C_HBITS] = int(spec["hash_bits"])
    cfg[C_ND] = nd
    cfg[C_NM] = nm
    cfg[C_NA] = na
    cfg[C_NI] = ni
    cfg[C_SMLIMIT] = min(int(spec.get("sm_limit", 255)), 511)
    cfg[C_MMBITS] = int(spec["match_bits"])
    cfg[C_MMMIN] = int(spec.get("match_min", 7))
    cfg[C_LR] = int(spec.get("lr", 2000))
    cfg[C_LRMIN] = int(spec.get("lr_min", 300))
    cfg[C_LRHALF] = int(spec.get("lr_half", 1 << 16))
    cfg[C_FLR] = int(spec.get("final_lr", 500))
    cfg[C_APMRATE] = int(spec.get("apm_rate", 7))
    wmix = 16 - sum(wt for _, wt in apms)
    if wmix < 0:
        raise ValueError("APM weights exceed 16")
    cfg[C_WMIX] = wmix
    cfg[C_PMIN] = int(spec.get("p_min", 1))
    fsets, fkind = spec.get("final", (1, SEL_NONE))
    cfg[C_FSETS] = int(fsets)
    cfg[C_FBITS] = int(fkind)
    cfg[C_NCTX] = nh + nd + nm + 1 + na
    cfg[C_NX] = nx
    cfg[C_RUN] = run
    if not (10 <= cfg[C_HBITS] <= 30) or nm < 1 or nh < 0:
        raise ValueError("bad CM spec")

    ht = _aligned_zeros(LINE << int(cfg[C_HBITS]))
    rsm = np.empty((max(nh, 1), 64), dtype=np.int32)
    for c in range(64):
        bucket, eb = c >> 1, c & 1
        conf = min(bucket, 15)
        p = (1 << 21) + ((1 << 21) - (1 << 21) // (conf + 2)) * (1 if eb else -1)
        rsm[:, c] = p << 9
    dinfo = np.zeros((max(nd, 1), 2), dtype=np.int64)
    off = 0
    for j, rows in enumerate(direct):
        dinfo[j] = (off, rows)
        off += rows * 256
    dt = np.zeros(max(off, 1), dtype=np.uint8)
    init = (st["init_p"].astype(np.int64) << 9).astype(np.int32)
    sm = np.tile(init, (max(nh + nd, 1), 1))
    # match state map: context = length bucket * 2 + expected bit
    mmsm = np.empty(64, dtype=np.int32)
    for c in range(64):
        bucket, eb = c >> 1, c & 1
        conf = min(bucket, 15)
        p = (1 << 21) + ((1 << 21) - (1 << 21) // (conf + 2)) * (1 if eb else -1)
        mmsm[c] = p << 9
    mmtab = np.zeros((1 << int(cfg[C_MMBITS])) if cfg[C_MMBITS] else 1, dtype=np.int32)
    minfo = np.zeros((nm, 3), dtype=np.int64)
    off = 0
    for m, (sets, kind) in enumerate(mixers):
        total = sets * SEL_MULT[kind]
        minfo[m] = (off, total, kind)
        off += total
    w = np.zeros((off, ni), dtype=np.int32)
    w[:, : ni - 1] = int(spec.get("w_init", 16384))
    wf = np.zeros((int(fsets) * SEL_MULT[int(fkind)], nm + 1), dtype=np.int32)
    wf[:, :nm] = 65536 // nm
    ainfo = np.zeros((max(na, 1), 3), dtype=np.int64)
    off = 0
    for a, (rows, wt) in enumerate(apms):
        ainfo[a] = (off, rows, wt)
        off += rows * 256 * 33
    sq = tables.squash_table()
    apm = np.empty(max(off, 33), dtype=np.uint16)
    base = np.array([sq[4095 + (k - 16) * 128] for k in range(33)], dtype=np.uint16)
    apm[:] = np.tile(base, len(apm) // 33)
    rec = np.array([(1 << 16) * 2 // (2 * n + 3) for n in range(1024)], dtype=np.int32)
    reg = np.zeros(REG_SIZE, dtype=np.int64)
    nsel = max(nh + nd, 1)
    return Model(
        cfg=cfg,
        reg=reg,
        ht=ht,
        rsm=rsm,
        dt=dt,
        dinfo=dinfo,
        sm=sm,
        mmsm=mmsm,
        mmtab=mmtab,
        w=w,
        minfo=minfo,
        wf=wf,
        apm=apm,
        ainfo=ainfo,
        nex=st["next"],
        prio=st["priority"],
        det=((st["n0"] == 0) != (st["n1"] == 0)).astype(np.int32),
        stretch=tables.stretch_table(),
        squash=sq,
        rec=rec,
        x=np.zeros(ni, dtype=np.int32),
        sidx=np.zeros(nsel, dtype=np.int64),
        sst=np.zeros(nsel, dtype=np.int64),
        slot=np.zeros(max(nh, 1), dtype=np.int64),
        slot0=np.zeros(max(nh, 1), dtype=np.int64),
        rinfo=np.zeros(max(nh, 1), dtype=np.int64),
        rctx=np.zeros(max(nh, 1), dtype=np.int64),
        dots=np.zeros(nm + 1, dtype=np.int64),
        sel=np.zeros(nm + 1, dtype=np.int64),
        aidx=np.zeros(max(na, 1), dtype=np.int64),
    )


# ---- hashing ---------------------------------------------------------------------
K_MUL = 0x9E3779B97F4A7C15 - (1 << 64)  # as signed int64
LINE = 64  # bytes per hash-table line: 3 slots of 16 + run info + check extensions
RUN_OFF = 48  # run info (last byte, count) of slot k at RUN_OFF + 2k
CHK_OFF = 54  # high check byte of slot k at CHK_OFF + k


@njit(cache=True, nogil=True, inline="always")
def hash_combine(h, v):
    """Mix ``v`` into hash ``h`` (int64 in, int64 out; wraps)."""
    return (h + v + 1) * K_MUL + ((h >> 29) & 0x7FFFFFFFF)


@njit(cache=True, nogil=True, inline="always")
def _find_slot(ht, prio, h, hbits):
    """Offset of the 16-byte slot for context hash ``h`` (16-bit check).

    The line is chosen by the hash's top bits; of its 3 slots the one with the
    matching check is used, else the one whose first state has the lowest
    priority (fewest bits seen) is cleared and taken.
    """
    v = h * K_MUL
    line = ((v >> (64 - hbits)) & ((1 << hbits) - 1)) * LINE
    chk = (v >> (48 - hbits)) & 0xFFFF
    lo = chk & 255
    hi = chk >> 8
    for k in range(3):
        if ht[line + 16 * k] == lo and ht[line + CHK_OFF + k] == hi:
            return line + 16 * k
    best = 0
    bp = prio[ht[line + 1]]
    for k in range(1, 3):
        pk = prio[ht[line + 16 * k + 1]]
        if pk < bp:
            bp = pk
            best = k
    s = line + 16 * best
    for j in range(16):
        ht[s + j] = 0
    ht[s] = lo
    ht[line + CHK_OFF + best] = hi
    ht[line + RUN_OFF + 2 * best] = 0
    ht[line + RUN_OFF + 2 * best + 1] = 0
    return s


@njit(cache=True, nogil=True, inline="always")
def _run_offset(s):
    return (s & ~(LINE - 1)) + RUN_OFF + 2 * ((s & (LINE - 1)) >> 4)


@njit(cache=True, nogil=True, inline="always")
def _len_bucket(n):
    if n < 16:
        return n
    if n < 32:
        return 16 + ((n - 16) >> 2)
    if n < 64:
        return 20 + ((n - 32) >> 3)
    if n < 512:
        return 24 + ((n - 64) >> 6)
    return 31


# ---- match model -----------------------------------------------------------------
@njit(cache=True, nogil=True, _nrt=False)
def match_update(M, buf, pos):
    """Find or extend the longest-repeat prediction for the byte at ``pos`` (buf[:pos] known).

    Returns the predicted byte (or -1) and keeps length/pointer in the registers.
    """
    cfg = M.cfg
    reg = M.reg
    mbits = cfg[C_MMBITS]
    if mbits == 0:
        return -1
    mmin = cfg[C_MMMIN]
    mlen = reg[R_MLEN]
    mptr = reg[R_MPTR]
    if pos > 0 and mlen > 0:
        if buf[mptr] == buf[pos - 1]:
            mlen += 1
            mptr += 1
            if mlen > 65535:
                mlen = 65535
        else:
            mlen = 0
    if pos >= mmin:
        h = 0
        for k in range(1, mmin + 1):
            h = (h + buf[pos - k] + 1) * K_MUL
        hi = (h >> (64 - mbits)) & ((1 << mbits) - 1)
        if mlen == 0:
            cand = M.mmtab[hi]
            if cand > 0:
                n = 0
                while n < 400 and cand - 1 - n >= 0 and buf[cand - 1 - n] == buf[pos - 1 - n]:
                    n += 1
                if n >= mmin:
                    mlen = n
                    mptr = cand
        M.mmtab[hi] = pos
    reg[R_MLEN] = mlen
    reg[R_MPTR] = mptr
    if mlen > 0:
        return np.int64(buf[mptr])
    return -1


# ---- one byte --------------------------------------------------------------------
@njit(cache=True, nogil=True, _nrt=False)
def code_byte(M, ac, out, inp, buf, pos, ctx, enc, rec, nrec):
    """Code the byte ``buf[pos]`` (encoding) or decode it into ``buf[pos]``; returns it.

    ``ac`` is the binary coder's state, ``out`` its output (encoder), ``inp`` its
    input (decoder).  ``rec``: when its length is > 0, the probability of every bit
    is written to ``rec[nrec + k]`` (tests compare encoder and decoder).
    """
    cfg = M.cfg
    nh = cfg[C_NH]
    nd = cfg[C_ND]
    nm = cfg[C_NM]
    na = cfg[C_NA]
    ni = cfg[C_NI]
    nx = cfg[C_NX]
    hbits = cfg[C_HBITS]
    ht = M.ht
    dt = M.dt
    sm = M.sm
    nex = M.nex
    strt = M.stretch
    sq = M.squash
    x = M.x
    w = M.w
    wf = M.wf
    sidx = M.sidx
    sst = M.sst
    slot = M.slot
    apm = M.apm
    reg = M.reg
    rect = M.rec
    minfo = M.minfo
    ainfo = M.ainfo
    dinfo = M.dinfo
    dots = M.dots
    msl = M.sel
    mmsm = M.mmsm
    aidx = M.aidx
    prio = M.prio
    det = M.det
    rctxs = M.rctx
    smlim = cfg[C_SMLIMIT]
    lr = reg[R_LR]
    if reg[R_NBYTES] == 0 or (reg[R_NBYTES] & 255) == 0:
        half = cfg[C_LRHALF]
        lr = cfg[C_LRMIN] + ((cfg[C_LR] - cfg[C_LRMIN]) * half) // (half + reg[R_NBYTES])
        reg[R_LR] = lr
    flr = cfg[C_FLR]
    arate = cfg[C_APMRATE]
    wmix = cfg[C_WMIX]
    pmin = cfg[C_PMIN]
    byte = np.int64(buf[pos]) if enc else np.int64(0)

    mpred = match_update(M, buf, pos)
    mlen = reg[R_MLEN]
    mbucket = _len_bucket(mlen) if mpred >= 0 else 0
    msel = 0
    if mpred >= 0:
        msel = 1 + (mbucket >> 1) if mbucket < 30 else 15

    rsm = M.rsm
    slot0 = M.slot0
    rinfo = M.rinfo
    run = cfg[C_RUN]
    for i in range(nh):
        sl = _find_slot(ht, prio, ctx[i], hbits)
        slot[i] = sl
        if run:
            ro = _run_offset(sl)
            slot0[i] = ro
            rinfo[i] = np.int64(ht[ro]) | (np.int64(ht[ro + 1]) << 8)
    dbase = nh  # ctx offset of the direct contexts
    for j in range(nd):
        rows = dinfo[j, 1]
        r = ctx[dbase + j]
        if r < 0:
            r = 0
        if r >= rows:
            r = rows - 1
        sidx[nh + j] = dinfo[j, 0] + r * 256
    mbase = nh + nd
    fbase = mbase + nm
    abase = fbase + 1

    c0 = 1
    node = 1
    for b in range(8):
        # ---- predict
        k = 0
        hits = 0
        for i in range(nh):
            p_i = slot[i] + node
            s = np.int64(ht[p_i])
            if s != 0:
                hits += 1
            sidx[i] = p_i
            sst[i] = s
            pv = sm[i, s] >> 19
            st = strt[pv]
            x[k] = st
            k += 1
            if nx >= 1:
                # deterministic histories (one bit value only) get their own weight
                x[k] = st if det[s] else 0
                k += 1
            if nx >= 2:
                x[k] = 0 if s == 0 else (pv - 2048) >> 1
                k += 1
            if run:
                ri = rinfo[i]
                rc = ri >> 8
                if rc > 0 and (((ri & 255) | 256) >> (8 - b)) == c0:
                    reb = ((ri & 255) >> (7 - b)) & 1
                    rctx = (_len_bucket(rc) if rc < 64 else 31) * 2 + reb
                    x[k] = strt[rsm[i, rctx] >> 19]
                    rctxs[i] = rctx
                else:
                    x[k] = 0
                    rctxs[i] = -1
                k += 1
        for j in range(nd):
            d = nh + j
            s = np.int64(dt[sidx[d] + c0])
            sst[d] = s
            x[k] = strt[sm[d, s] >> 19]
            k += 1
        mctx = -1
        eb = 0
        if mpred >= 0 and ((mpred | 256) >> (8 - b)) == c0:
            eb = (mpred >> (7 - b)) & 1
            mctx = mbucket * 2 + eb
            x[k] = strt[mmsm[mctx] >> 19]
            lb = mbucket if mbucket < 24 else 24
            x[k + 1] = (lb * 64) if eb else -(lb * 64)
        else:
            x[k] = 0
            x[k + 1] = 0
        k += 2
        x[k] = 256  # bias
        # ---- layer-1 mixers
        for m in range(nm):
            kind = minfo[m, 2]
            v = ctx[mbase + m]
            if kind == 1:
                v = v * 256 + c0
            elif kind == 2:
                v = v * 8 + b
            elif kind == 3:
                v = v * 16 + msel
            elif kind == 4:
                v = v * 16 + (hits if hits < 15 else 15)
            if v < 0:
                v = 0
            if v >= minfo[m, 1]:
                v = minfo[m, 1] - 1
            row = minfo[m, 0] + v
            msl[m] = row
            dot = 0
            for q in range(ni):
                dot += np.int64(x[q]) * w[row, q]
            dot >>= 16
            if dot > 2047:
                dot = 2047
            if dot < -2047:
                dot = -2047
            dots[m] = dot
        # ---- final mixer
        if nm > 1:
            fk = cfg[C_FBITS]
            v = ctx[fbase]
            if fk == 1:
                v = v * 256 + c0
            elif fk == 2:
                v = v * 8 + b
            elif fk == 3:
                v = v * 16 + msel
            elif fk == 4:
                v = v * 16 + (hits if hits < 15 else 15)
            if v < 0:
                v = 0
            if v >= wf.shape[0]:
                v = wf.shape[0] - 1
            msl[nm] = v
            dot = 0
            for m in range(nm):
                dot += dots[m] * wf[v, m]
            dot += 256 * np.int64(wf[v, nm])
            dot >>= 16
        else:
            dot = dots[0]
        if dot > 4095:
            dot = 4095
        if dot < -4095:
            dot = -4095
        pmix = np.int64(sq[dot + 4095])
        # ---- APM / SSE
        sdot = dot
        if sdot > 2047:
            sdot = 2047
        if sdot < -2047:
            sdot = -2047
        psum = pmix * wmix
        for a in range(na):
            rows = ainfo[a, 1]
            r = ctx[abase + a]
            if r < 0:
                r = 0
            if r >= rows:
                r = rows - 1
            t0 = ainfo[a, 0] + (r * 256 + c0) * 33
            pos12 = (sdot + 2048) * 32
            jj = pos12 >> 12
            wt = pos12 & 4095
            pa = (np.int64(apm[t0 + jj]) * (4096 - wt) + np.int64(apm[t0 + jj + 1]) * wt) >> 12
            aidx[a] = t0 + jj + (wt >> 11)
            psum += pa * ainfo[a, 2]
        p = psum >> 4
        if p < pmin:
            p = pmin
        if p > 65536 - pmin:
            p = 65536 - pmin
        if p < 1:
            p = 1
        if p > 65535:
            p = 65535
        if rec.shape[0] > 0:
            ri = nrec + b
            if ri < rec.shape[0]:
                rec[ri] = p
        # ---- code
        if enc:
            y = (byte >> (7 - b)) & 1
            encode_bit(ac, out, p, y)
        else:
            y = decode_bit(ac, inp, p)
        # ---- update
        for i in range(nh):
            s = sst[i]
            ht[sidx[i]] = nex[s, y]
            v = np.int64(sm[i, s])
            n = v & 511
            pv = v >> 9
            pv += (((y << 22) - pv) * rect[n]) >> 16
            if n < smlim:
                n += 1
            sm[i, s] = (pv << 9) | n
        if run:
            for i in range(nh):
                rc = rctxs[i]
                if rc >= 0:
                    v = np.int64(rsm[i, rc])
                    n = v & 511
                    pv = v >> 9
                    pv += (((y << 22) - pv) * rect[n]) >> 16
                    if n < 255:
                        n += 1
                    rsm[i, rc] = (pv << 9) | n
        for j in range(nd):
            d = nh + j
            s = sst[d]
            dt[sidx[d] + c0] = nex[s, y]
            v = np.int64(sm[d, s])
            n = v & 511
            pv = v >> 9
            pv += (((y << 22) - pv) * rect[n]) >> 16
            if n < smlim:
                n += 1
            sm[d, s] = (pv << 9) | n
        if mctx >= 0:
            v = np.int64(mmsm[mctx])
            n = v & 511
            pv = v >> 9
            pv += (((y << 22) - pv) * rect[n]) >> 16
            if n < 255:
                n += 1
            mmsm[mctx] = (pv << 9) | n
            if y != eb:
                mpred = -1
        # layer-1 mixers
        for m in range(nm):
            row = msl[m]
            pm = np.int64(sq[dots[m] + 4095])
            err = (((y << 16) - pm) * lr) >> 6
            for q in range(ni):
                wv = np.int64(w[row, q]) + ((np.int64(x[q]) * err + (1 << 17)) >> 18)
                if wv > 0x7FFFFF:
                    wv = 0x7FFFFF
                if wv < -0x7FFFFF:
                    wv = -0x7FFFFF
                w[row, q] = wv
        if nm > 1:
            v = msl[nm]
            err = (((y << 16) - pmix) * flr) >> 6
            for m in range(nm):
                wv = np.int64(wf[v, m]) + ((dots[m] * err + (1 << 17)) >> 18)
                if wv > 0x7FFFFF:
                    wv = 0x7FFFFF
                if wv < -0x7FFFFF:
                    wv = -0x7FFFFF
                wf[v, m] = wv
            wf[v, nm] += (256 * err + (1 << 17)) >> 18
        for a in range(na):
            ai = aidx[a]
            av = np.int64(apm[ai])
            apm[ai] = av + (((y << 16) - av) >> arate)
        c0 = (c0 << 1) | y
        node = (node << 1) | y
        if b == 3:
            node = 1
            for i in range(nh):
                slot[i] = _find_slot(ht, prio, hash_combine(ctx[i], c0), hbits)
    byte = c0 & 255
    if run:
        for i in range(nh):
            ri = rinfo[i]
            r0 = slot0[i]
            if (ri >> 8) > 0 and (ri & 255) == byte:
                if (ri >> 8) < 255:
                    ht[r0 + 1] = (ri >> 8) + 1
            else:
                ht[r0] = byte
                ht[r0 + 1] = 1
    if not enc:
        buf[pos] = byte
    reg[R_NBYTES] += 1
    return byte


@njit(cache=True, nogil=True)
def coder_start(ac, out, inp, enc):
    if enc:
        init_encoder(ac)
    else:
        init_decoder(ac, inp)


@njit(cache=True, nogil=True)
def coder_finish(ac, out, inp, enc):
    """Encoder: flush, return bytes written (-1 on overflow).  Decoder: 0 when the
    stream ended exactly where it should, else -1 (corrupt)."""
    if enc:
        n = flush(ac, out)
        if ac[OVERFLOW]:
            return -1
        return n
    if ac[POS] - inp.shape[0] != FINAL_OVERRUN:
        return -1
    return 0


def new_coder() -> np.ndarray:
    return np.zeros(STATE_SIZE, dtype=np.int64)
