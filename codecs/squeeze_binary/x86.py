"""Reversible x86 / x86-64 branch-target transform.

Relative call/jump targets become absolute, so every call of one function
carries the same four bytes wherever it sits (the idea of xz's BCJ filter; this
is our own, simpler design, specified in SPEC.md):

* scan left to right; at an ``E8`` (call rel32) or ``E9`` (jmp rel32) whose
  four operand bytes fit in the block, and (with ``jcc``) at ``0F 80..8F``
  (Jcc rel32) whose operand fits, look at the operand's top byte;
  ``jcc`` is off by default: with LZMA it cost 0.5 % on held-out ELF and ooffice
  (docs/bench-binary.md), a CM model may want it back;
* if it is ``00`` or ``FF`` (a displacement within +-16 MiB: nearly every real
  branch), replace the operand by ``(rel + address of the next instruction) mod
  2**25``, sign-extended from 25 bits (its top byte is again ``00`` or ``FF``),
  and continue after the operand; otherwise continue at the next byte.

The opcode bytes are never changed and the 25-bit map is a bijection that keeps
"top byte is 00 or FF", so the inverse scan meets the same positions: the
transform is exactly invertible on every byte string, whatever its length or
content (a truncated instruction at the end stays as it is).

``address`` of byte ``i`` is ``base + i``; use the virtual address of a code
section for the best consistency between sections (``transform_executable``
does this for ELF and PE code sections found by ``regions.parse``).
"""

from __future__ import annotations

from squeeze_binary import regions as _regions


def _np():
    import numpy as np

    return np


def _kern():
    from squeeze_binary import x86_kernels

    return x86_kernels


def _buf(data):
    np = _np()
    return np.frombuffer(bytes(data), dtype=np.uint8).copy()


_EMPTY_MASK = None


def _no_mask():
    global _EMPTY_MASK
    if _EMPTY_MASK is None:
        _EMPTY_MASK = _np().zeros(0, dtype=_np().uint8)
    return _EMPTY_MASK


def x86_forward(data, base: int = 0, jcc: bool = False) -> bytes:
    """Relative -> absolute branch targets over the whole of ``data``."""
    buf = _buf(data)
    _kern().x86_kernel(buf, 0, len(buf), int(base) & 0x1FFFFFF, 1, jcc, _no_mask())
    return buf.tobytes()


def x86_inverse(data, base: int = 0, jcc: bool = False) -> bytes:
    """Exact inverse of ``x86_forward`` with the same ``base`` and ``jcc``."""
    buf = _buf(data)
    _kern().x86_kernel(buf, 0, len(buf), int(base) & 0x1FFFFFF, -1, jcc, _no_mask())
    return buf.tobytes()


def x86_inplace(buf, start: int, end: int, base: int, inverse: bool = False, jcc: bool = False,
                mask=None) -> int:
    """Transform the numpy uint8 array ``buf[start:end]`` in place; returns conversions.

    ``mask`` (uint8 array as long as ``buf``) gets 1 on E8/E9 operand bytes and 2 on
    Jcc operand bytes that were converted.
    """
    if not 0 <= start <= end <= len(buf):
        raise ValueError("bad range")
    m = _no_mask() if mask is None else mask
    if mask is not None and len(mask) != len(buf):
        raise ValueError("mask must be as long as buf")
    return int(_kern().x86_kernel(buf, start, end, int(base) & 0x1FFFFFF, -1 if inverse else 1,
                                  jcc, m))


def code_pieces(layout: _regions.ExeLayout) -> list[tuple[int, int, int]]:
    """(start, end, base) of the code regions a structure-aware transform touches."""
    out = []
    for r in layout.code_regions():
        base = r.vaddr if r.vaddr >= 0 else r.start
        out.append((r.start, r.end, base))
    return out


def transform_executable(data, inverse: bool = False, jcc: bool = False,
                         whole_if_unknown: bool = True) -> bytes:
    """Apply the transform to the code of an x86 / x86-64 ELF or PE file.

    * x86 ELF/PE: only CODE regions, each with its virtual address as base;
    * ELF/PE of another machine: unchanged;
    * anything else: the whole input (base 0) when ``whole_if_unknown``.

    The regions are found from header bytes only, which the transform never
    changes, so ``transform_executable(transform_executable(d), inverse=True) == d``
    for every input.
    """
    data = bytes(data)
    layout = _regions.parse(data)
    buf = _buf(data)
    if layout.format == "raw":
        if whole_if_unknown:
            x86_inplace(buf, 0, len(buf), 0, inverse, jcc)
        return buf.tobytes()
    if not layout.is_x86:
        return data
    for start, end, base in code_pieces(layout):
        x86_inplace(buf, start, end, base, inverse, jcc)
    return buf.tobytes()


def operand_mask(data, jcc: bool = False):
    """uint8 per byte of ``data`` (untransformed): 1 on converted E8/E9 operand bytes, 2 on
    Jcc operand bytes, over the code regions of x86 ELF/PE (the whole input if raw)."""
    np = _np()
    data = bytes(data)
    layout = _regions.parse(data)
    buf = _buf(data)
    mask = np.zeros(len(buf), dtype=np.uint8)
    if layout.format == "raw":
        x86_inplace(buf, 0, len(buf), 0, False, jcc, mask)
    elif layout.is_x86:
        for start, end, base in code_pieces(layout):
            x86_inplace(buf, start, end, base, False, jcc, mask)
    return mask


ROLE_NAMES = ["none", "prefix", "opcode", "modrm", "sib", "disp", "imm"]


def instruction_roles(data, mode64: bool | None = None):
    """Instruction boundaries and byte roles from a linear-sweep x86 length decoder.

    Returns ``(starts, roles)``, uint8 arrays as long as ``data``: ``starts`` is 1 on
    the first byte of every decoded instruction; ``roles`` is 0 outside decoded code,
    else 1 prefix, 2 opcode, 3 ModRM, 4 SIB, 5 displacement, 6 immediate/branch
    offset (``ROLE_NAMES``).  For x86 ELF/PE files only CODE regions are decoded
    (64-bit mode for x86-64); other ELF/PE give zeros; raw input is decoded whole in
    ``mode64`` (default 64-bit).

    Causality (for model contexts): ``starts[k]`` depends only on bytes before ``k``
    and ``roles[j]`` on the bytes of its instruction up to ``j``, so a decoder can
    rebuild both byte by byte.  Computed on branch-transformed code the result is the
    same for real code (operands change, lengths do not); inside data embedded in code
    it may differ, so compute it on the bytes the model actually sees.
    Agreement with ``objdump -d`` instruction starts: 100 % on /usr/bin/ls and i386
    coreutils, 99.85 % on libc.so.6, 99.96 % on ooffice (tests check >= 99.5 %).
    """
    np = _np()
    k = _kern()
    data = bytes(data)
    buf = np.frombuffer(data, dtype=np.uint8)
    starts = np.zeros(len(buf), dtype=np.uint8)
    roles = np.zeros(len(buf), dtype=np.uint8)
    layout = _regions.parse(data)
    if layout.format == "raw":
        pieces = [(0, len(buf))]
        m64 = True if mode64 is None else mode64
    elif layout.is_x86:
        pieces = [(r.start, r.end) for r in layout.code_regions()]
        m64 = (layout.machine == "x86-64") if mode64 is None else mode64
    else:
        pieces = []
        m64 = True
    for a, b in pieces:
        k.decode_kernel(buf, a, b, m64, starts, roles, k.MODRM1, k.IMM1, k.MODRM2, k.IMM2)
    return starts, roles
