"""The executable codec's block coder: one block through its structure, transform and
numba CM kernel (imports numpy/numba; loaded lazily).

A block is coded as (SPEC.md section 4):

1. the encoder finds the block's structure once (``regions.parse``: ELF/PE
   sections; a block that does not parse is one region, treated as x86 code when
   it looks like it), simplifies it into a short region table (label and, for
   x86 code, the branch-transform base of each region) and writes that table
   into the payload, so the decoder never parses anything;
2. the x86 branch transform runs on every CODE region of an x86 block;
3. the CM kernel codes the transformed bytes with the region labels as context;
4. the decoder decodes, then undoes the transform region by region.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from frappe_cli import varint
from frappe_cli.coding.cm import runtime
from frappe_cli.errors import CorruptError
from squeeze_binary import exe_kernels as ek
from squeeze_binary import regions as rg
from squeeze_binary import x86_kernels as xk

_NOTRIE = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32))
_NOPAIR = np.full(65536, -1, dtype=np.int32)

FLAG_X86, FLAG_MODE64 = 1, 2
MAX_DELTA = (1 << 25) - 1
GAP_ABSORB = 64  # UNKNOWN gaps shorter than this join the region before them


# ---- structure --------------------------------------------------------------------------
class Plan:
    """What the block header stores: flags and the region table."""

    __slots__ = ("flags", "regions")

    def __init__(self, flags: int, regions: list[tuple[int, int, int]]):
        self.flags = flags
        self.regions = regions  # (length, label, delta = base - start mod 2^25)

    @property
    def x86(self) -> bool:
        return bool(self.flags & FLAG_X86)

    @property
    def mode64(self) -> bool:
        return bool(self.flags & FLAG_MODE64)


def _looks_like_x86(buf) -> tuple[bool, bool]:
    """(x86 code?, 64-bit?) for a block whose format is unknown."""
    n = buf.shape[0]
    if n < 256:
        return False, False
    tmp = buf.copy()
    conv = xk.x86_kernel(tmp, 0, n, 0, 1, False, np.zeros(0, dtype=np.uint8))
    if conv < 16 or conv * 1000 < n:
        return False, False
    rexw = int(np.count_nonzero(buf == 0x48))
    return True, rexw * 100 >= n


def plan_block(data: bytes, buf) -> Plan:
    """The region table of a block (encoder only; the decoder reads it from the payload)."""
    n = len(data)
    lay = rg.parse(data)
    if lay.format == "raw":
        x86, m64 = _looks_like_x86(buf)
        label = rg.CODE if x86 else rg.UNKNOWN
        return Plan((FLAG_X86 if x86 else 0) | (FLAG_MODE64 if m64 else 0),
                    [(n, label, 0)] if n else [])
    x86 = lay.is_x86
    flags = (FLAG_X86 if x86 else 0) | (FLAG_MODE64 if lay.machine == "x86-64" else 0)
    merged: list[list[int]] = []  # [start, end, label, delta]
    for r in lay.regions:
        delta = ((r.vaddr if r.vaddr >= 0 else r.start) - r.start) & MAX_DELTA \
            if r.label == rg.CODE and x86 else 0
        if merged and r.label == rg.UNKNOWN and r.end - r.start < GAP_ABSORB:
            merged[-1][1] = r.end
            continue
        if merged and merged[-1][2] == r.label and merged[-1][3] == delta:
            merged[-1][1] = r.end
            continue
        merged.append([r.start, r.end, r.label, delta])
    return Plan(flags, [(e - s, lab, d) for s, e, lab, d in merged])


def _read_varint(buf, pos: int, limit: int) -> tuple[int, int]:
    return varint.decode(buf, pos, limit, "exe block header")


def header_bytes(plan: Plan) -> bytes:
    out = bytearray([plan.flags])
    out += varint.encode(len(plan.regions))
    for length, label, delta in plan.regions:
        out += varint.encode(length << 4 | label)
        if plan.x86 and label == rg.CODE:
            out += varint.encode(delta)
    return bytes(out)


def parse_header(payload, n: int) -> tuple[Plan, int]:
    """(plan, offset of the CM stream) from a CM payload body; validates everything."""
    if len(payload) < 1:
        raise CorruptError("Compressed data is corrupt (exe block header ends early)")
    flags = payload[0]
    if flags & ~(FLAG_X86 | FLAG_MODE64):
        raise CorruptError(f"Compressed data is corrupt (exe block flags {flags:#x})")
    nreg, pos = _read_varint(payload, 1, n)
    if n > 0 and nreg == 0:
        raise CorruptError("Compressed data is corrupt (exe block without regions)")
    regions = []
    total = 0
    for _ in range(nreg):
        v, pos = _read_varint(payload, pos, (n << 4) | 15)
        length, label = v >> 4, v & 15
        if length == 0 or label >= ek.N_LABELS:
            raise CorruptError("Compressed data is corrupt (exe region table)")
        delta = 0
        if flags & FLAG_X86 and label == rg.CODE:
            delta, pos = _read_varint(payload, pos, MAX_DELTA)
        total += length
        if total > n:
            raise CorruptError("Compressed data is corrupt (exe regions exceed the block)")
        regions.append((length, label, delta))
    if total != n:
        raise CorruptError("Compressed data is corrupt (exe regions do not cover the block)")
    return Plan(flags, regions), pos


def label_array(plan: Plan, n: int):
    lab = np.zeros(n, dtype=np.uint8)
    pos = 0
    for length, label, _ in plan.regions:
        lab[pos:pos + length] = label
        lab[pos] |= ek.LAB_START
        pos += length
    return lab


def transform(buf, plan: Plan, inverse: bool) -> None:
    """x86 branch transform (or its inverse) on the CODE regions of an x86 block, in place."""
    if not plan.x86:
        return
    pos = 0
    nomask = np.zeros(0, dtype=np.uint8)
    for length, label, delta in plan.regions:
        if label == rg.CODE:
            base = (pos + delta) & MAX_DELTA
            xk.x86_kernel(buf, pos, pos + length, base, -1 if inverse else 1, False, nomask)
        pos += length


# ---- tokens -------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def tries(vocab: int):
    """(reversed trie, its two-step table, forward trie) of the shipped Binary BPE
    vocabulary cut to ``vocab``."""
    if vocab == 0:
        return _NOTRIE, _NOPAIR, _NOTRIE
    from squeeze_binary.tokenizer import BinaryBPE

    tok = BinaryBPE.shipped(vocab)
    off, blob = tok._table()
    rev = ek.build_trie(off, blob, vocab, True)
    return rev, ek.pair_table(rev[0], rev[1]), ek.build_trie(off, blob, vocab, False)


# ---- model ---------------------------------------------------------------------------------
def _extra(lv: dict, plan: Plan, n: int) -> tuple:
    """What ``exe_code`` takes after the level's ids: labels, mode, x86 tables, tries."""
    (rk, rv, rt), rpair, (fk, fv, ft) = tries(lv.get("vocab", 0))
    return (label_array(plan, n), plan.mode64, xk.MODRM1, xk.IMM1, xk.MODRM2, xk.IMM2,
            rk, rv, rt, rpair, fk, fv, ft)


def _prepare(data: bytes):
    """(transformed copy of the block, its plan) for the encoder."""
    buf = np.frombuffer(data, dtype=np.uint8).copy()
    plan = plan_block(data, buf)
    transform(buf, plan, False)
    return buf, plan


def compress(data: bytes, lv: dict) -> bytes | None:
    """Header + CM stream of ``data``, or None if the stream would not fit in ``n + n/8``."""
    buf, plan = _prepare(data)
    out = runtime.encode(ek.exe_code, buf, lv, _extra(lv, plan, len(data)))
    if out is None:
        return None
    return header_bytes(plan) + out.tobytes()


def decompress(payload, size: int, lv: dict):
    plan, off = parse_header(payload, size)
    buf = runtime.decode(ek.exe_code, memoryview(payload)[off:], size, lv, "exe",
                         _extra(lv, plan, size))
    transform(buf, plan, True)
    return buf


def probabilities(data: bytes, lv: dict):
    """Per-bit P(1) seen by the encoder and by the decoder (tests): (enc, dec, decoded)."""
    buf, plan = _prepare(data)
    rec_e, rec_d, dec = runtime.probabilities(ek.exe_code, buf, lv, _extra(lv, plan, len(data)))
    transform(dec, plan, True)
    return rec_e, rec_d, dec.tobytes()
