"""Structure of executables: which bytes of an ELF or PE file are header, code, data...

``parse(data)`` returns an ``ExeLayout``: the format, machine, and a list of
``Region(start, end, label, vaddr)`` covering the file without overlap (file
offsets, ``end`` exclusive; ``vaddr`` is the virtual address of ``start`` for
mapped regions, else -1).  ``labels(data)`` gives one label per byte (uint8).

Robust by construction: every offset, size and count read from the file is
clipped to the file; a malformed or foreign file gives the regions that can be
trusted (at worst one UNKNOWN region), never an exception.

Only header bytes are read to find the regions, and those bytes are always
labelled HEADER.  A transform that changes only CODE bytes therefore leaves the
layout unchanged, so a decoder can re-derive the regions from the transformed
file (``x86.transform_executable`` relies on this).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

UNKNOWN, HEADER, CODE, DATA, RODATA, SYMBOLS, RELOC, DEBUG, RESOURCE = range(9)
LABEL_NAMES = ["unknown", "header", "code", "data", "rodata", "symbols", "reloc", "debug",
               "resource"]

ELF_X86 = {3: "i386", 62: "x86-64"}
PE_X86 = {0x14C: "i386", 0x8664: "x86-64"}
_ELF_MACHINES = {3: "i386", 62: "x86-64", 183: "aarch64", 40: "arm", 8: "mips", 20: "ppc",
                 21: "ppc64", 22: "s390", 243: "riscv", 2: "sparc", 43: "sparcv9"}
_PE_MACHINES = {0x14C: "i386", 0x8664: "x86-64", 0xAA64: "arm64", 0x1C0: "arm", 0x1C4: "armnt"}


@dataclass(frozen=True)
class Region:
    start: int
    end: int
    label: int
    vaddr: int = -1

    @property
    def name(self) -> str:
        return LABEL_NAMES[self.label]


@dataclass
class ExeLayout:
    format: str  # "elf", "pe" or "raw"
    machine: str  # "x86-64", "i386", "aarch64", ... or "" when unknown
    size: int
    regions: list[Region] = field(default_factory=list)

    @property
    def is_x86(self) -> bool:
        return self.machine in ("x86-64", "i386")

    def code_regions(self) -> list[Region]:
        return [r for r in self.regions if r.label == CODE]


class _Painter:
    """Paints labelled file ranges; later paints win.  Tracks vaddr of code ranges."""

    def __init__(self, size: int):
        self.size = size
        self.ops: list[tuple[int, int, int, int]] = []  # start, end, label, vaddr of start

    def paint(self, start: int, length: int, label: int, vaddr: int = -1) -> None:
        if start < 0 or length <= 0 or start >= self.size:
            return
        end = min(self.size, start + length)
        self.ops.append((start, end, label, vaddr))

    def regions(self) -> list[Region]:
        import bisect

        import numpy as np

        cuts = sorted({0, self.size} | {s for s, _, _, _ in self.ops}
                      | {e for _, e, _, _ in self.ops})
        owner = np.full(max(len(cuts) - 1, 0), -1, dtype=np.int64)
        for k, (s, e, _, _) in enumerate(self.ops):  # later paints win
            owner[bisect.bisect_left(cuts, s):bisect.bisect_left(cuts, e)] = k
        out: list[Region] = []
        for j, (a, b) in enumerate(zip(cuts, cuts[1:])):
            k = int(owner[j])
            if k < 0:
                label, vaddr = UNKNOWN, -1
            else:
                s, _, label, va = self.ops[k]
                vaddr = va + (a - s) if va >= 0 else -1
            last = out[-1] if out else None
            if last is not None and last.label == label and (
                    (vaddr < 0 and last.vaddr < 0)
                    or (vaddr >= 0 and last.vaddr >= 0 and vaddr == last.vaddr + (a - last.start))):
                out[-1] = Region(last.start, b, label, last.vaddr)
            else:
                out.append(Region(a, b, label, vaddr))
        return out


def _u(data: bytes, off: int, n: int, little: bool) -> int:
    if off < 0 or off + n > len(data):
        return 0
    return int.from_bytes(data[off:off + n], "little" if little else "big")


def parse(data) -> ExeLayout:
    data = bytes(data) if not isinstance(data, bytes) else data
    try:
        if data[:4] == b"\x7fELF":
            return _parse_elf(data)
        if data[:2] == b"MZ":
            lay = _parse_pe(data)
            if lay is not None:
                return lay
    except (struct.error, ValueError, IndexError, OverflowError):  # pragma: no cover - defensive
        pass
    return ExeLayout("raw", "", len(data), [Region(0, len(data), UNKNOWN)] if data else [])


def labels(data):
    """uint8 array: the region label of every byte."""
    import numpy as np

    lay = parse(data)
    out = np.zeros(len(data), dtype=np.uint8)
    for r in lay.regions:
        out[r.start:r.end] = r.label
    return out


# ------------------------------------------------------------------------------------------
# ELF

SHT_NOBITS, SHT_PROGBITS = 8, 1
_SYM_TYPES = {2, 3, 5, 6, 11, 0x6FFFFFF6, 0x6FFFFFFF, 0x6FFFFFFE, 0x6FFFFFFD, 18}
_REL_TYPES = {4, 9, 19}
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4


def _parse_elf(d: bytes) -> ExeLayout:
    n = len(d)
    cls64 = len(d) > 4 and d[4] == 2
    little = not (len(d) > 5 and d[5] == 2)
    p = _Painter(n)
    machine_id = _u(d, 18, 2, little)
    machine = _ELF_MACHINES.get(machine_id, str(machine_id))
    if cls64:
        phoff, shoff = _u(d, 32, 8, little), _u(d, 40, 8, little)
        ehsize, phentsize, phnum = _u(d, 52, 2, little), _u(d, 54, 2, little), _u(d, 56, 2, little)
        shentsize, shnum = _u(d, 58, 2, little), _u(d, 60, 2, little)
        hdr = 64
    else:
        phoff, shoff = _u(d, 28, 4, little), _u(d, 32, 4, little)
        ehsize, phentsize, phnum = _u(d, 40, 2, little), _u(d, 42, 2, little), _u(d, 44, 2, little)
        shentsize, shnum = _u(d, 46, 2, little), _u(d, 48, 2, little)
        hdr = 52
    min_sh, min_ph = (64, 56) if cls64 else (40, 32)
    headers = [(0, max(hdr, min(ehsize, 4096)))]
    # program headers
    segs = []
    if phoff and phentsize >= min_ph and phoff < n:
        phnum = min(phnum, (n - phoff) // phentsize)
        headers.append((phoff, phnum * phentsize))
        for k in range(phnum):
            o = phoff + k * phentsize
            if cls64:
                ptype, flags = _u(d, o, 4, little), _u(d, o + 4, 4, little)
                off, vaddr, filesz = _u(d, o + 8, 8, little), _u(d, o + 16, 8, little), \
                    _u(d, o + 32, 8, little)
            else:
                ptype, off, vaddr = _u(d, o, 4, little), _u(d, o + 4, 4, little), \
                    _u(d, o + 8, 4, little)
                filesz, flags = _u(d, o + 16, 4, little), _u(d, o + 24, 4, little)
            if ptype == 1:  # PT_LOAD
                segs.append((off, filesz, vaddr, flags))
    # section headers
    secs = []
    if shoff and shentsize >= min_sh and shoff < n:
        if shnum == 0:  # extended numbering: the count is section 0's sh_size
            shnum = _u(d, shoff + (32 if cls64 else 20), 8 if cls64 else 4, little)
            headers.append((shoff, shentsize))  # section 0 was read: keep it unchanged
        shnum = min(shnum, (n - shoff) // shentsize, 1 << 20)
        headers.append((shoff, shnum * shentsize))
        for k in range(1, shnum):
            o = shoff + k * shentsize
            stype = _u(d, o + 4, 4, little)
            if cls64:
                flags, addr = _u(d, o + 8, 8, little), _u(d, o + 16, 8, little)
                off, size = _u(d, o + 24, 8, little), _u(d, o + 32, 8, little)
            else:
                flags, addr = _u(d, o + 8, 4, little), _u(d, o + 12, 4, little)
                off, size = _u(d, o + 16, 4, little), _u(d, o + 20, 4, little)
            if stype == SHT_NOBITS or stype == 0 or size == 0:
                continue
            secs.append((off, size, addr, flags, stype))
    if secs:
        for off, size, addr, flags, stype in sorted(secs, key=lambda s: s[0]):
            alloc = bool(flags & SHF_ALLOC)
            if flags & SHF_EXECINSTR:
                label = CODE
            elif stype in _REL_TYPES:
                label = RELOC
            elif stype in _SYM_TYPES:
                label = SYMBOLS
            elif not alloc:
                label = DEBUG if stype == SHT_PROGBITS else SYMBOLS
            elif flags & SHF_WRITE:
                label = DATA
            else:
                label = RODATA
            p.paint(off, size, label, addr if alloc else -1)
    else:
        for off, filesz, vaddr, flags in segs:
            label = CODE if flags & 1 else DATA if flags & 2 else RODATA
            p.paint(off, filesz, label, vaddr)
    for off, length in headers:
        p.paint(off, length, HEADER)
    return ExeLayout("elf", machine, n, p.regions())


# ------------------------------------------------------------------------------------------
# PE

SCN_CODE, SCN_EXEC, SCN_WRITE = 0x20, 0x20000000, 0x80000000


def _parse_pe(d: bytes) -> ExeLayout | None:
    n = len(d)
    lfanew = _u(d, 0x3C, 4, True)
    if lfanew < 0x40 or lfanew + 24 > n or d[lfanew:lfanew + 4] != b"PE\0\0":
        return None
    machine_id = _u(d, lfanew + 4, 2, True)
    nsec = _u(d, lfanew + 6, 2, True)
    optsize = _u(d, lfanew + 20, 2, True)
    opt = lfanew + 24
    sec_off = opt + optsize
    nsec = max(0, min(nsec, (n - sec_off) // 40 if sec_off < n else 0, 4096))
    header_end = min(n, sec_off + 40 * nsec)
    h = d[:sec_off]  # the optional header is read only from header bytes
    magic = _u(h, opt, 2, True)
    pe64 = magic == 0x20B
    image_base = _u(h, opt + 24, 8, True) if pe64 else _u(h, opt + 28, 4, True)
    ndir_off = opt + (108 if pe64 else 92)
    dirs_off = opt + (112 if pe64 else 96)
    p = _Painter(n)
    sections = []
    for k in range(nsec):
        o = sec_off + 40 * k
        name = d[o:o + 8].rstrip(b"\0")
        vsize, va = _u(d, o + 8, 4, True), _u(d, o + 12, 4, True)
        rawsize, rawptr = _u(d, o + 16, 4, True), _u(d, o + 20, 4, True)
        ch = _u(d, o + 36, 4, True)
        if rawsize == 0 or rawptr >= n:
            continue
        sections.append((rawptr, rawsize, va, vsize))
        if name.startswith(b".debug") or name.startswith(b"/") or name == b".stab" \
                or name == b".stabstr":
            label = DEBUG
        elif name == b".rsrc":
            label = RESOURCE
        elif name == b".reloc":
            label = RELOC
        elif ch & (SCN_CODE | SCN_EXEC):
            label = CODE
        elif ch & SCN_WRITE:
            label = DATA
        else:
            label = RODATA
        p.paint(rawptr, rawsize, label, image_base + va)

    def rva_to_off(rva: int) -> int:
        for rawptr, rawsize, va, vsize in sections:
            if va <= rva < va + max(rawsize, vsize) and rva - va < rawsize:
                return rawptr + (rva - va)
        return -1

    ndirs = min(_u(h, ndir_off, 4, True), 16)
    dir_labels = {0: SYMBOLS, 1: SYMBOLS, 2: RESOURCE, 5: RELOC, 6: DEBUG, 12: SYMBOLS,
                  13: SYMBOLS}
    for k in range(ndirs):
        o = dirs_off + 8 * k
        if o + 8 > len(h):
            break
        rva, size = _u(h, o, 4, True), _u(h, o + 4, 4, True)
        if size == 0 or rva == 0:
            continue
        if k == 4:  # certificate table: a file offset, not an RVA
            p.paint(rva, size, SYMBOLS)
            continue
        if k in dir_labels:
            off = rva_to_off(rva)
            if off >= 0:
                p.paint(off, size, dir_labels[k], image_base + rva)
    p.paint(0, max(header_end, 64), HEADER)
    machine = _PE_MACHINES.get(machine_id, hex(machine_id))
    return ExeLayout("pe", machine, n, p.regions())
