"""Inputs of the executable codec's tests: system binaries (skipped when absent) and
deterministic synthetic x86-64 code and ELF files."""

import struct
from pathlib import Path

import pytest


def system_file(path):
    p = Path(path)
    if not p.is_file():
        pytest.skip(f"{path} not on this machine")
    return p.read_bytes()


def synthetic_code(n: int, seed: int) -> bytes:
    """Deterministic x86-64-like code: prologues, calls, jumps, moves, returns."""
    x = seed
    out = bytearray()
    while len(out) < n:
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        r = x >> 33
        k = r % 9
        if k == 0:
            out += b"\x55\x48\x89\xe5"  # push rbp; mov rbp, rsp
        elif k == 1:  # call to one of 16 functions (absolute target -> relative)
            tgt = 0x401000 + 64 * ((r >> 8) % 16)
            out += b"\xe8" + struct.pack("<i", tgt - (0x401000 + len(out) + 5))
        elif k == 2:
            out += b"\x48\x8b\x45" + bytes([(r >> 10) & 0xF8])  # mov rax, [rbp+d8]
        elif k == 3:
            out += b"\x0f\x84" + struct.pack("<i", (r >> 12) % 200 - 100)  # je rel32
        elif k == 4:
            out += b"\x48\x8d\x05" + struct.pack("<i", (r >> 5) % 5000)  # lea rax, [rip+d]
        elif k == 5:
            out += b"\x5d\xc3"  # pop rbp; ret
        elif k == 6:
            out += b"\xb8" + struct.pack("<I", (r >> 16) % 300)  # mov eax, imm32
        elif k == 7:
            out += b"\x89\x7d" + bytes([256 - 4 * (1 + (r >> 9) % 8)])  # mov [rbp-d], edi
        else:
            out += b"\xe9" + struct.pack("<i", (r >> 11) % 400 - 200)  # jmp rel32
    return bytes(out[:n])


def synthetic_elf(code_size: int = 6000, seed: int = 1) -> bytes:
    """A small well-formed ELF64 x86-64 file: header, .text, .rodata, .shstrtab, sections."""
    code = synthetic_code(code_size, seed)
    rodata = b"".join(b"message %d: value=%%d\x00" % i for i in range(60))
    shstr = b"\x00.text\x00.rodata\x00.shstrtab\x00"
    off_text = 64
    off_ro = off_text + len(code)
    off_str = off_ro + len(rodata)
    shoff = (off_str + len(shstr) + 7) & ~7
    ident = b"\x7fELF\x02\x01\x01" + bytes(9)
    hdr = ident + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0x401000, 0, shoff, 0, 64, 0, 0,
                              64, 4, 3)

    def sh(name, typ, flags, addr, off, size):
        return struct.pack("<IIQQQQIIQQ", name, typ, flags, addr, off, size, 0, 0, 16, 0)

    body = hdr + code + rodata + shstr
    body += bytes(shoff - len(body))
    body += sh(0, 0, 0, 0, 0, 0)
    body += sh(1, 1, 6, 0x401000, off_text, len(code))  # ALLOC | EXECINSTR
    body += sh(7, 1, 2, 0x401000 + len(code), off_ro, len(rodata))  # ALLOC
    body += sh(15, 3, 0, 0, off_str, len(shstr))
    return body
