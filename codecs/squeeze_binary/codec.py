"""The squeeze executable codec (``exe``): bitwise context mixing for ELF / PE / Mach-O
and raw machine code, on the shared CM engine (``frappe_cli.coding.cm``).

Per block: ELF/PE structure found once by the encoder and sent as a short region
table, the x86 branch-target transform on code regions, then a CM model with
x86 instruction-state, region, record, sparse and order-n contexts, a match
model, a two-layer gated mixer network and SSE (SPEC.md section 4-6).  Any byte
string is accepted: input that does not parse is coded as one region.

This module is cheap to import: numpy/numba and the kernels load on first use.
"""

from __future__ import annotations

from frappe_cli.coding.cm.codec import METHOD_CM, METHOD_RAW, CMCodec

__all__ = ["METHOD_CM", "METHOD_RAW", "ExeCodec"]

_MACHO = {b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"}


class ExeCodec(CMCodec):
    codec_id = "exe"
    bitstream_version = 1
    description = ("context mixing for executables: x86 branch transform, ELF/PE regions, "
                   "x86 instruction-state, record, sparse and causal BPE-token contexts, "
                   "match model, 2-layer gated mixer network, SSE")
    buffers = 3  # a writable copy of the block, the label array, the coder's output
    subcommands = {"tokenizer": ("squeeze_binary.cli:tokenizer",
                                 "Binary BPE tokenizers (encode, decode, stats, export-hf)")}

    @classmethod
    def sniff(cls, head: bytes) -> tuple[int, str, str] | None:
        """--codec auto: ELF, PE and Mach-O executables."""
        import struct

        from frappe_cli.detect import FORMAT

        if head[:4] == b"\x7fELF":
            return FORMAT, "exe", "ELF executable"
        if head[:2] == b"MZ" and len(head) >= 0x40:
            (off,) = struct.unpack_from("<I", head, 0x3C)
            if off + 4 <= len(head) and head[off:off + 4] == b"PE\x00\x00":
                return FORMAT, "exe", "PE executable"
        if head[:4] in _MACHO or (head[:4] == b"\xca\xfe\xba\xbe" and len(head) > 8
                                  and head[7] < 20):  # fat Mach-O, not a Java class file
            return FORMAT, "exe", "Mach-O executable"
        return None

    def levels(self) -> dict[int, dict]:
        from squeeze_binary.exe_levels import LEVELS

        return LEVELS

    def compress_cm(self, data: bytes, lv: dict) -> bytes | None:
        from squeeze_binary import exe_block_coder

        return exe_block_coder.compress(bytes(data), lv)

    def decompress_cm(self, body, size: int, lv: dict):
        from squeeze_binary import exe_block_coder

        return memoryview(exe_block_coder.decompress(body, size, lv)).toreadonly()
