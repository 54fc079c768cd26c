"""The context-mixing engine: bytes coded bit by bit from a configuration's contexts.

README.md beside this file is the API reference for configuration authors.  In
short: a configuration builds a ``Model`` once (``new_model(spec)``) and its own
top-level ``@njit`` loop computes, for every byte, an int64 context array
``ctx`` and calls ``code_byte``.  Everything that adapts -- bit-history states,
state->probability maps, run and match models, the two-layer gated mixer
network, the APM/SSE stages and the arithmetic coder -- lives here, once.

``ctx`` layout for one byte (the spec fixes the counts, ``spec.n_ctx`` the length):

* ``ctx[0:nh]``       hashed contexts: any int64 per context (the configuration
                       mixes the context's identity in, e.g. ``hash(order, bytes)``);
                       the engine hashes it again with the partial byte per nibble;
* ``ctx[nh:nh+nd]``   direct contexts: a row in ``[0, rows_j)``;
* next ``nm``         layer-1 mixer selectors: a set in ``[0, sets_m)``;
* next 1              the final mixer's selector: a set in ``[0, sets_f)``;
* next ``na``         APM contexts: a row in ``[0, rows_a)``.

Out-of-range values are clamped, so a configuration bug can never touch memory
out of bounds (it only costs compression).  Every quantity that feeds a
probability is an integer, so the decoder reproduces the encoder exactly on any
machine.  Functions are compiled with ``_nrt=False`` (no reference counting) and
take the model as a namedtuple of arrays, so a call per byte costs nothing.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from llvmlite import ir
from numba.core import cgutils
from numba.extending import intrinsic

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
from frappe_cli.coding.cm.spec import (
    APM_BUCKETS,
    LINE,
    SEL_BITPOS,
    SEL_C0,
    SEL_HITS,
    SEL_MATCH,
    SEL_MULT,
    SEL_NONE,
    n_ctx,
    n_inputs,
    normalize,
)
from frappe_cli.jit import njit, types

__all__ = ["Model", "new_model", "new_coder", "code_byte", "coder_start", "coder_finish",
           "decoder_overran", "hash_combine", "tail_hash", "C_NCTX", "SEL_NONE", "SEL_C0",
           "SEL_BITPOS", "SEL_MATCH", "SEL_HITS"]

# ---- cfg layout (int64 array) ------------------------------------------------------
C_NH, C_HBITS, C_ND, C_NM, C_NA, C_NI, C_SMLIMIT, C_MMBITS, C_MMMIN = range(9)
C_LR, C_LRMIN, C_LRHALF, C_FLR, C_APMRATE, C_WMIX, C_PMIN, C_FSETS, C_FKIND = range(9, 18)
C_NCTX, C_NX, C_RUN = 18, 19, 20
CFG_SIZE = 24

# ---- registers (int64 array) ---------------------------------------------------------
R_MPTR, R_MLEN, R_NBYTES, R_LR, R_MHASH = 0, 1, 2, 3, 4
REG_SIZE = 8

# hash-table line: 3 slots of 16 bytes (check byte + 15 bit-history states), then
# the run model of each slot (last byte, repeat count), then each slot's high check byte
RUN_OFF = 48
CHK_OFF = 54
B = APM_BUCKETS

Model = namedtuple(
    "Model",
    [
        "cfg",  # int64 [CFG_SIZE] shape and rates
        "reg",  # int64 [REG_SIZE] match pointer/length, bytes coded, learning rate
        "ht",  # uint8 [64 << hash_bits] hashed contexts (lines, see above)
        "dt",  # uint8 [sum rows * 256] direct contexts' states
        "dinfo",  # int64 [2 nd] offset, rows of each direct context
        "sm",  # int32 [(nh + nd) * 256] state -> p22 << 9 | count
        "rsm",  # int32 [nh * 64] run maps: count bucket * 2 + expected bit
        "mmsm",  # int32 [64] match map: length bucket * 2 + expected bit
        "mmtab",  # int32 [1 << match_bits] last position after each hashed context
        "w",  # int32 [sets * ni] layer-1 weights, 16.16
        "minfo",  # int64 [3 nm] offset (in sets), sets, bit-level kind
        "wf",  # int32 [fsets * (nm + 1)] final-layer weights, 16.16
        "apm",  # uint16 [sum rows * 256 * B] interpolated SSE tables
        "ainfo",  # int64 [3 na] offset, rows, weight (of 16)
        "nex",  # uint8 [512] state transitions: nex[2 s + y]
        "prio",  # uint8 [256] replacement priority of a state
        "det",  # uint8 [256] 1 for states that saw one bit value only
        "stretch",  # int32 [4096]
        "squash",  # int32 [8191] index x + 4095
        "rec",  # int32 [512] 65536 / (n + 1.5)
        "x",  # int32 [ni] inputs of the current bit
        "sidx",  # int64 [nh + nd] where each context's state lives (this bit)
        "sst",  # int64 [nh + nd] the state read
        "slot",  # int64 [nh] slot offset for the current nibble
        "roff",  # int64 [nh] run-info offset of the byte's first-nibble slot
        "rinfo",  # int64 [nh] run byte | count << 8 for this byte
        "rctx",  # int64 [nh] run-map entry in use this bit (-1: none)
        "mrow",  # int64 [nm + 1] byte-level weight set of each mixer
        "dots",  # int64 [nm + 1] mixer outputs (stretch domain)
        "sel",  # int64 [nm + 1] weight offsets in use this bit
        "arow",  # int64 [na] byte-level APM row offsets
        "aidx",  # int64 [na] APM entries in use this bit
    ],
)


def _aligned_zeros(nbytes: int, align: int = 64) -> np.ndarray:
    raw = np.zeros(nbytes + align, dtype=np.uint8)
    off = (-raw.ctypes.data) % align
    return raw[off: off + nbytes]


def _expect_map(n: int) -> np.ndarray:
    """Initial maps for (length bucket, expected bit) contexts: confident with length."""
    out = np.empty(n, dtype=np.int32)
    for c in range(n):
        conf = min(c >> 1, 15)
        p = (1 << 21) + ((1 << 21) - (1 << 21) // (conf + 2)) * (1 if c & 1 else -1)
        out[c] = p << 9
    return out


def new_model(spec: dict) -> Model:
    """Allocate a fresh model for ``spec`` (see ``spec.normalize`` and README.md)."""
    s = normalize(spec)
    st = tables.state_tables()
    nh, nd = s["hashed"], len(s["direct"])
    nm, na = len(s["mixers"]), len(s["apms"])
    ni = n_inputs(s)
    cfg = np.zeros(CFG_SIZE, dtype=np.int64)
    cfg[C_NH], cfg[C_HBITS], cfg[C_ND], cfg[C_NM], cfg[C_NA], cfg[C_NI] = (
        nh, s["hash_bits"], nd, nm, na, ni)
    cfg[C_SMLIMIT] = s["sm_limit"]
    cfg[C_MMBITS], cfg[C_MMMIN] = s["match_bits"], s["match_min"]
    cfg[C_LR], cfg[C_LRMIN], cfg[C_LRHALF], cfg[C_FLR] = (
        s["lr"], s["lr_min"], s["lr_half"], s["final_lr"])
    cfg[C_APMRATE] = s["apm_rate"]
    cfg[C_WMIX] = 16 - sum(w for _, w in s["apms"])
    cfg[C_PMIN] = s["p_min"]
    cfg[C_FSETS] = s["final"][0] * SEL_MULT[s["final"][1]]
    cfg[C_FKIND] = s["final"][1]
    cfg[C_NCTX] = n_ctx(s)
    cfg[C_NX], cfg[C_RUN] = s["extra_inputs"], s["run"]

    dinfo = np.zeros(2 * max(nd, 1), dtype=np.int64)
    off = 0
    for j, rows in enumerate(s["direct"]):
        dinfo[2 * j], dinfo[2 * j + 1] = off, rows
        off += rows * 256
    dt = np.zeros(max(off, 1), dtype=np.uint8)
    init = (st["init_p"].astype(np.int64) << 9).astype(np.int32)
    sm = np.tile(init, max(nh + nd, 1))
    rsm = np.tile(_expect_map(64), max(nh, 1))
    minfo = np.zeros(3 * nm, dtype=np.int64)
    off = 0
    for m, (sets, kind) in enumerate(s["mixers"]):
        total = sets * SEL_MULT[kind]
        minfo[3 * m], minfo[3 * m + 1], minfo[3 * m + 2] = off, total, kind
        off += total
    w = np.zeros((off, ni), dtype=np.int32)
    w[:, : ni - 1] = s["w_init"]
    wf = np.zeros((int(cfg[C_FSETS]), nm + 1), dtype=np.int32)
    wf[:, :nm] = 65536 // nm
    ainfo = np.zeros(3 * max(na, 1), dtype=np.int64)
    off = 0
    for a, (rows, wt) in enumerate(s["apms"]):
        ainfo[3 * a], ainfo[3 * a + 1], ainfo[3 * a + 2] = off, rows, wt
        off += rows * 256 * B
    sq = tables.squash_table()
    step = 4096 // (B - 1)
    base = np.array([sq[4095 + (k - (B - 1) // 2) * step] for k in range(B)], dtype=np.uint16)
    apm = np.tile(base, max(off, B) // B)
    nsel = max(nh + nd, 1)
    return Model(
        cfg=cfg,
        reg=np.zeros(REG_SIZE, dtype=np.int64),
        ht=_aligned_zeros(LINE << s["hash_bits"]),
        dt=dt,
        dinfo=dinfo,
        sm=sm,
        rsm=rsm,
        mmsm=_expect_map(64),
        mmtab=np.zeros((1 << s["match_bits"]) if s["match_bits"] else 1, dtype=np.int32),
        w=w.reshape(-1),
        minfo=minfo,
        wf=wf.reshape(-1),
        apm=apm,
        ainfo=ainfo,
        nex=st["next"].reshape(-1).copy(),
        prio=np.minimum(st["priority"], 255).astype(np.uint8),
        det=((st["n0"] == 0) != (st["n1"] == 0)).astype(np.uint8),
        stretch=tables.stretch_table(),
        squash=sq,
        rec=np.array([(1 << 17) // (2 * n + 3) for n in range(512)], dtype=np.int32),
        x=np.zeros(ni, dtype=np.int32),
        sidx=np.zeros(nsel, dtype=np.int64),
        sst=np.zeros(nsel, dtype=np.int64),
        slot=np.zeros(max(nh, 1), dtype=np.int64),
        roff=np.zeros(max(nh, 1), dtype=np.int64),
        rinfo=np.zeros(max(nh, 1), dtype=np.int64),
        rctx=np.zeros(max(nh, 1), dtype=np.int64),
        mrow=np.zeros(nm + 1, dtype=np.int64),
        dots=np.zeros(nm + 1, dtype=np.int64),
        sel=np.zeros(nm + 1, dtype=np.int64),
        arow=np.zeros(max(na, 1), dtype=np.int64),
        aidx=np.zeros(max(na, 1), dtype=np.int64),
    )


#: slot after the coder's own state: the position of the byte being coded, written by
#: ``code_byte`` so that another thread can show progress inside a block
PROGRESS = STATE_SIZE


def new_coder() -> np.ndarray:
    """State array of the binary arithmetic coder (one per stream) + the progress slot."""
    return np.zeros(STATE_SIZE + 1, dtype=np.int64)


# ---- small helpers ------------------------------------------------------------------
K_MUL = 0x9E3779B97F4A7C15 - (1 << 64)  # as signed int64


@intrinsic
def prefetch(typingctx, arr, idx):
    """Hint the CPU to load ``arr[idx]``'s cache line (no effect on results)."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True)
def U(i):
    """Index as unsigned: numba then skips its negative-index wraparound code."""
    return np.uint64(i)


@njit(cache=True, nogil=True)
def hash_combine(h, v):
    """Mix ``v`` into hash ``h`` (int64 in, int64 out; wraps)."""
    return (h + v + 1) * K_MUL + ((h >> 29) & 0x7FFFFFFFF)


T_MUL = 0x2127599BF4325C37


@njit(cache=True, nogil=True)
def tail_hash(buf, pos, length, salt):
    """Hash of ``buf[pos - length: pos]`` (fewer bytes at the start), seeded with ``salt``:
    the long order-n contexts of the configurations (part of their bitstreams)."""
    h = np.int64(salt)
    for k in range(max(pos - length, 0), pos):
        h = (h + buf[k] + 1) * T_MUL
    return h


@njit(cache=True, nogil=True)
def order_hash(k, c4, c8):
    """The order-``k`` context hash (k = 1..8) of the configurations: ``c4`` holds the
    last 4 bytes, ``c8`` the 4 before them (both below 2^32); salted with ``k``
    (part of their bitstreams)."""
    if k <= 4:
        return hash_combine(k, c4 & ((np.int64(1) << (8 * k)) - 1))
    return hash_combine(hash_combine(k, c4), c8 & ((np.int64(1) << (8 * (k - 4))) - 1))


@njit(cache=True, nogil=True)
def context_slots(hid, did, mid, aid, ncand):
    """A configuration kernel's per-block set-up from its level's catalogue ids.

    Returns (nh, nd, nm, na, ctx, need): the numbers of hashed contexts, direct
    contexts, layer-1 mixers and APMs, the zeroed ``ctx`` array ``code_byte`` reads
    (``nh + nd + nm + 1 + na`` entries: ..., the final mixer's selector, the APM
    rows) and ``need[id]``, whether the level uses hashed candidate ``id`` of the
    ``ncand`` in its catalogue.
    """
    nh = hid.shape[0]
    nd = did.shape[0]
    nm = mid.shape[0]
    na = aid.shape[0]
    ctx = np.zeros(nh + nd + nm + 1 + na, dtype=np.int64)
    need = np.zeros(ncand, dtype=np.bool_)
    for i in range(nh):
        need[hid[i]] = True
    return nh, nd, nm, na, ctx, need


@njit(cache=True, nogil=True)
def _line_of(h, hbits):
    return (((h * K_MUL) >> (64 - hbits)) & ((1 << hbits) - 1)) * LINE


@njit(cache=True, nogil=True)
def _find_slot(ht, prio, h, hbits):
    """Offset of the 16-byte slot for context hash ``h`` (16-bit check).

    The line comes from the hash's top bits; of its 3 slots the one with the
    matching check is used, else the one whose first state has the lowest
    priority (fewest bits seen) is cleared and taken.
    """
    v = h * K_MUL
    line = ((v >> (64 - hbits)) & ((1 << hbits) - 1)) * LINE
    chk = (v >> (48 - hbits)) & 0xFFFF
    lo = chk & 255
    hi = chk >> 8
    for k in range(3):
        if ht[U(line + 16 * k)] == lo and ht[U(line + CHK_OFF + k)] == hi:
            return line + 16 * k
    best = 0
    bp = prio[ht[U(line + 1)]]
    for k in range(1, 3):
        pk = prio[ht[U(line + 16 * k + 1)]]
        if pk < bp:
            bp = pk
            best = k
    s = line + 16 * best
    for j in range(16):
        ht[U(s + j)] = 0
    ht[U(s)] = lo
    ht[U(line + CHK_OFF + best)] = hi
    ht[U(line + RUN_OFF + 2 * best)] = 0
    ht[U(line + RUN_OFF + 2 * best + 1)] = 0
    return s


@njit(cache=True, nogil=True)
def _len_bucket(n):
    """0..31 bucket of a repeat length (exact below 16, then coarser)."""
    if n < 16:
        return n
    if n < 32:
        return 16 + ((n - 16) >> 2)
    if n < 64:
        return 20 + ((n - 32) >> 3)
    if n < 512:
        return 24 + ((n - 64) >> 6)
    return 31


@njit(cache=True, nogil=True)
def _sm_update(t, i, y, rect, limit):
    """Adaptive-rate update of a p22 << 9 | count map entry toward bit ``y``."""
    v = np.int64(t[U(i)])
    n = v & 511
    p = v >> 9
    p += (((y << 22) - p) * rect[U(n)]) >> 16
    if n < limit:
        n += 1
    t[U(i)] = (p << 9) | n


# ---- match model ----------------------------------------------------------------------
@njit(cache=True, nogil=True, _nrt=False)
def match_update(M, buf, pos):
    """Find or extend the longest repeat predicting the byte at ``pos`` (``buf[:pos]`` known).

    Returns the predicted byte or -1; keeps pointer and length in the registers.
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
        hi = reg[R_MHASH]  # hash of buf[pos - mmin: pos], computed after the last byte
        mmtab = M.mmtab
        if mlen == 0:
            cand = np.int64(mmtab[hi])
            if cand > 0:
                n = 0
                while n < 400 and cand - 1 - n >= 0 and buf[cand - 1 - n] == buf[pos - 1 - n]:
                    n += 1
                if n >= mmin:
                    mlen = n
                    mptr = cand
        mmtab[hi] = pos
    reg[R_MLEN] = mlen
    reg[R_MPTR] = mptr
    if mlen > 0:
        return np.int64(buf[mptr])
    return -1


# ---- one byte ---------------------------------------------------------------------------
@njit(cache=True, nogil=True, _nrt=False)
def code_byte(M, ac, out, inp, buf, pos, ctx, enc, rec, nrec):
    """Code the byte ``buf[pos]`` (``enc`` 1) or decode it into ``buf[pos]`` (0); returns it.

    ``ac`` is the arithmetic coder's state, ``out`` its output (encoder) and
    ``inp`` its input (decoder).  When ``rec`` is not empty the probability of
    every bit is stored at ``rec[nrec + bit]`` (tests compare both directions).
    """
    ac[PROGRESS] = pos  # read by frappe_cli.progress (no effect on the coding)
    cfg = M.cfg
    nh = cfg[C_NH]
    nd = cfg[C_ND]
    nm = cfg[C_NM]
    na = cfg[C_NA]
    ni = cfg[C_NI]
    nx = cfg[C_NX]
    run = cfg[C_RUN]
    hbits = cfg[C_HBITS]
    smlim = cfg[C_SMLIMIT]
    flr = cfg[C_FLR]
    arate = cfg[C_APMRATE]
    wmix = cfg[C_WMIX]
    pmin = cfg[C_PMIN]
    fkind = cfg[C_FKIND]
    fsets = cfg[C_FSETS]
    ht = M.ht
    dt = M.dt
    sm = M.sm
    rsm = M.rsm
    mmsm = M.mmsm
    nex = M.nex
    prio = M.prio
    det = M.det
    strt = M.stretch
    sq = M.squash
    rect = M.rec
    x = M.x
    w = M.w
    wf = M.wf
    apm = M.apm
    reg = M.reg
    minfo = M.minfo
    ainfo = M.ainfo
    dinfo = M.dinfo
    sidx = M.sidx
    sst = M.sst
    slot = M.slot
    roff = M.roff
    rinfo = M.rinfo
    rctx = M.rctx
    mrow = M.mrow
    dots = M.dots
    sel = M.sel
    arow = M.arow
    aidx = M.aidx

    nbytes = reg[R_NBYTES]
    if (nbytes & 255) == 0:
        half = cfg[C_LRHALF]
        reg[R_LR] = cfg[C_LRMIN] + ((cfg[C_LR] - cfg[C_LRMIN]) * half) // (half + nbytes)
    lr = reg[R_LR]
    byte = np.int64(buf[pos]) if enc else np.int64(0)

    # ---- byte-level setup
    mpred = match_update(M, buf, pos)
    mbucket = 0
    msel = 0
    if mpred >= 0:
        mbucket = _len_bucket(reg[R_MLEN])
        msel = 1 + (mbucket >> 1) if mbucket < 30 else 15
    for i in range(nh):
        prefetch(ht, _line_of(ctx[i], hbits))
    for i in range(nh):
        sl = _find_slot(ht, prio, ctx[i], hbits)
        slot[i] = sl
        if run:
            ro = (sl & ~(LINE - 1)) + RUN_OFF + 2 * ((sl & (LINE - 1)) >> 4)
            roff[i] = ro
            rinfo[i] = np.int64(ht[U(ro)]) | (np.int64(ht[U(ro + 1)]) << 8)
    k = nh
    for j in range(nd):
        rows = dinfo[2 * j + 1]
        r = min(max(ctx[k], 0), rows - 1)
        sidx[nh + j] = dinfo[2 * j] + r * 256
        k += 1
    for m in range(nm):
        total = minfo[3 * m + 1] // SEL_MULT[minfo[3 * m + 2]]
        r = min(max(ctx[k], 0), total - 1)
        mrow[m] = minfo[3 * m] + r * SEL_MULT[minfo[3 * m + 2]]
        k += 1
    r = min(max(ctx[k], 0), fsets // SEL_MULT[fkind] - 1)
    mrow[nm] = r * SEL_MULT[fkind]
    k += 1
    for a in range(na):
        rows = ainfo[3 * a + 1]
        r = min(max(ctx[k], 0), rows - 1)
        arow[a] = ainfo[3 * a] + r * 256 * B
        k += 1

    c0 = 1
    node = 1
    for b in range(8):
        # ---- inputs
        k = 0
        hits = 0
        for i in range(nh):
            p_i = slot[i] + node
            s = np.int64(ht[U(p_i)])
            if s != 0:
                hits += 1
            sidx[i] = p_i
            sst[i] = s
            st = strt[U(sm[U(i * 256 + s)] >> 19)]
            x[U(k)] = st
            k += 1
            if nx:
                x[U(k)] = st if det[U(s)] else 0
                k += 1
            if run:
                ri = rinfo[i]
                rc = ri >> 8
                if rc > 0 and (((ri & 255) | 256) >> (8 - b)) == c0:
                    rb = ((ri & 255) >> (7 - b)) & 1
                    rcx = i * 64 + _len_bucket(rc) * 2 + rb
                    x[U(k)] = strt[U(rsm[U(rcx)] >> 19)]
                    rctx[i] = rcx
                else:
                    x[U(k)] = 0
                    rctx[i] = -1
                k += 1
        for j in range(nd):
            d = nh + j
            s = np.int64(dt[U(sidx[d] + c0)])
            sst[d] = s
            x[U(k)] = strt[U(sm[U(d * 256 + s)] >> 19)]
            k += 1
        mctx = -1
        eb = 0
        if mpred >= 0 and ((mpred | 256) >> (8 - b)) == c0:
            eb = (mpred >> (7 - b)) & 1
            mctx = mbucket * 2 + eb
            x[U(k)] = strt[U(mmsm[U(mctx)] >> 19)]
            lb = min(mbucket, 24) * 64
            x[U(k + 1)] = lb if eb else -lb
        else:
            x[U(k)] = 0
            x[U(k + 1)] = 0
        x[U(k + 2)] = 256  # bias
        hsel = min(hits, 15)

        # ---- layer-1 mixers
        # each mixer's row: the configuration's selector + a bit-level part (SEL_*); alike
        # in shape to the configurations' selector switches (exe_kernels.exe_code's S_*),
        # not a copy: other inputs, other values
        for m in range(nm + 1):
            kind = minfo[3 * m + 2] if m < nm else fkind
            part = 0
            if kind == SEL_C0:
                part = c0
            elif kind == SEL_BITPOS:
                part = b
            elif kind == SEL_MATCH:
                part = msel
            elif kind == SEL_HITS:
                part = hsel
            sel[m] = mrow[m] + part
        for m in range(nm):
            row = sel[m] * ni
            dot = np.int64(0)
            for q in range(ni):
                dot += np.int64(x[q]) * w[U(row + q)]
            dots[m] = min(max(dot >> 16, -2047), 2047)
        # ---- final mixer
        if nm > 1:
            row = sel[nm] * (nm + 1)
            dot = np.int64(0)
            for m in range(nm):
                dot += dots[m] * wf[U(row + m)]
            dot += 256 * np.int64(wf[U(row + nm)])
            dot >>= 16
        else:
            dot = dots[0]
        dot = min(max(dot, -4095), 4095)
        pmix = np.int64(sq[U(dot + 4095)])
        # ---- APM / SSE
        pos12 = (min(max(dot, -2047), 2047) + 2048) * (B - 1)
        jj = pos12 >> 12
        wt = pos12 & 4095
        psum = pmix * wmix
        for a in range(na):
            t0 = arow[a] + c0 * B + jj
            pa = (np.int64(apm[U(t0)]) * (4096 - wt) + np.int64(apm[U(t0 + 1)]) * wt) >> 12
            aidx[a] = t0
            psum += pa * ainfo[3 * a + 2]
        p = psum >> 4
        p = min(max(p, pmin), 65536 - pmin)
        p = min(max(p, 1), 65535)
        if rec.shape[0] > 0:
            ri = nrec + b
            if ri < rec.shape[0]:
                rec[ri] = p
        # ---- code the bit
        if enc:
            y = (byte >> (7 - b)) & 1
            encode_bit(ac, out, p, y)
        else:
            y = decode_bit(ac, inp, p)
        # ---- update
        for i in range(nh):
            s = sst[i]
            ht[U(sidx[i])] = nex[U(2 * s + y)]
            _sm_update(sm, i * 256 + s, y, rect, smlim)
        if run:
            for i in range(nh):
                rcx = rctx[i]
                if rcx >= 0:
                    _sm_update(rsm, rcx, y, rect, 255)
        for j in range(nd):
            d = nh + j
            s = sst[d]
            dt[U(sidx[d] + c0)] = nex[U(2 * s + y)]
            _sm_update(sm, d * 256 + s, y, rect, smlim)
        if mctx >= 0:
            _sm_update(mmsm, mctx, y, rect, 255)
            if y != eb:
                mpred = -1
        for m in range(nm):
            row = sel[m] * ni
            err = (((y << 16) - np.int64(sq[U(dots[m] + 4095)])) * lr) >> 6
            for q in range(ni):
                v = np.int64(w[U(row + q)]) + ((np.int64(x[q]) * err + (1 << 17)) >> 18)
                w[U(row + q)] = min(max(v, -0x7FFFFF), 0x7FFFFF)
        if nm > 1:
            row = sel[nm] * (nm + 1)
            err = (((y << 16) - pmix) * flr) >> 6
            for m in range(nm):
                v = np.int64(wf[U(row + m)]) + ((dots[m] * err + (1 << 17)) >> 18)
                wf[U(row + m)] = min(max(v, -0x7FFFFF), 0x7FFFFF)
            v = np.int64(wf[U(row + nm)]) + ((256 * err + (1 << 17)) >> 18)
            wf[U(row + nm)] = min(max(v, -0x7FFFFF), 0x7FFFFF)
        for a in range(na):
            ai = aidx[a]
            av = np.int64(apm[U(ai)])
            apm[U(ai)] = av + ((((y << 16) - av) * (4096 - wt)) >> (arate + 12))
            av = np.int64(apm[U(ai + 1)])
            apm[U(ai + 1)] = av + ((((y << 16) - av) * wt) >> (arate + 12))
        c0 = (c0 << 1) | y
        node = (node << 1) | y
        if b == 2:
            # both possible second-nibble lines, fetched while bit 3 is coded
            for i in range(nh):
                prefetch(ht, _line_of(hash_combine(ctx[i], 2 * c0), hbits))
                prefetch(ht, _line_of(hash_combine(ctx[i], 2 * c0 + 1), hbits))
        elif b == 3:
            node = 1
            for i in range(nh):
                slot[i] = _find_slot(ht, prio, hash_combine(ctx[i], c0), hbits)
        if b < 7:
            for a in range(na):
                t0 = arow[a] + c0 * B
                prefetch(apm, t0)
                prefetch(apm, t0 + B - 1)
    byte = c0 & 255
    if run:
        for i in range(nh):
            ri = rinfo[i]
            ro = roff[i]
            if (ri >> 8) > 0 and (ri & 255) == byte:
                if (ri >> 8) < 255:
                    ht[U(ro + 1)] = (ri >> 8) + 1
            else:
                ht[U(ro)] = byte
                ht[U(ro + 1)] = 1
    if not enc:
        buf[pos] = byte
    reg[R_NBYTES] = nbytes + 1
    mbits = cfg[C_MMBITS]
    mmin = cfg[C_MMMIN]
    if mbits > 0 and pos + 1 >= mmin:
        h = np.int64(0)
        for k in range(mmin):
            h = (h + buf[pos - k] + 1) * K_MUL
        hi = (h >> (64 - mbits)) & ((1 << mbits) - 1)
        reg[R_MHASH] = hi
        prefetch(M.mmtab, hi)
    return byte


@njit(cache=True, nogil=True)
def coder_start(ac, out, inp, enc):
    if enc:
        init_encoder(ac)
    else:
        init_decoder(ac, inp)


@njit(cache=True, nogil=True)
def coder_finish(ac, out, inp, enc):
    """Encoder: flush; returns the bytes written, or -1 when ``out`` overflowed.

    Decoder: 0 when the stream ended exactly where a sound one does, else -1.
    """
    if enc:
        n = flush(ac, out)
        if ac[OVERFLOW]:
            return -1
        return n
    if ac[POS] - inp.shape[0] != FINAL_OVERRUN:
        return -1
    return 0


@njit(cache=True, nogil=True)
def decoder_overran(ac, inp):
    """True once the decoder read more than a sound stream's lookahead past the end."""
    return ac[POS] - inp.shape[0] > FINAL_OVERRUN
